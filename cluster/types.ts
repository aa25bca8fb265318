// Shared vocabulary of the cluster transport: who the members of a channel are, what a
// receiving chain must implement, and the limits (named, with units) that bound every queue.
import type { common, orderer, raftpb } from '../protos';

/** A Raft node id, scoped to one channel (the same orderer may have different ids on different channels). */
export type NodeId = number;

/** Id 0 means "nobody" in Raft; messages addressed to it are never sent. */
export const NO_NODE: NodeId = 0;

/** One consenter of a channel, as listed in its etcdraft configuration. */
export interface ClusterMember {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
  /**
   * DER of the certificate the node presents when it dials us (its consenter client_tls_cert).
   * With TLS, it is how an incoming stream is told to come from this node; absent on a
   * plaintext cluster.
   */
  readonly clientTlsCert?: Uint8Array;
  /** DER of the certificate the node serves the cluster with (server_tls_cert): pinned when we dial it. */
  readonly serverTlsCert?: Uint8Array;
}

/** The membership of one channel as seen from this orderer. */
export interface ChannelMembership {
  /** Our own id on this channel: outgoing streams present it so the receiver can tell who is talking. */
  readonly selfId: NodeId;
  readonly members: readonly ClusterMember[];
}

/** Two kinds of traffic, kept on separate streams so a backlog of one never stalls the other. */
export type MessageKind = 'consensus' | 'submit';

/**
 * What a channel's chain implements to receive cluster traffic. Called synchronously from the
 * gRPC stream handler; an exception thrown here ends the sender's stream with an error.
 */
/** What a chain made of a forwarded envelope, told to a follower that asked (SUBMIT_ACK_HEADER). */
export interface SubmitOutcome {
  /** SUCCESS: the chain holds the envelope (it will be ordered unless this node dies); anything else: not taken. */
  readonly status: common.Status;
  readonly info: string;
}

/** How a forwarded envelope fared, as far as the follower can know. */
export type SubmitAck =
  /** The leader answered: it holds the envelope (SUCCESS) or refused it (the status says why). */
  | { readonly kind: 'acked'; readonly status: common.Status; readonly info: string }
  /** The leader does not speak the extension (a Fabric orderer): the envelope was written to its stream. */
  | { readonly kind: 'unacknowledged' };

/** A forwarded envelope as the follower holds it: marshaled as the client sent it, and the config sequence it was checked against. */
export interface ForwardedEnvelope {
  readonly lastValidationSeq: number;
  readonly envelope: Uint8Array;
}

/** Several forwarded envelopes in one message (our SubmitBatch extension), all checked against one config sequence. */
export interface ForwardedBatch {
  readonly lastValidationSeq: number;
  readonly envelopes: readonly Uint8Array[];
}

export interface MessageReceiver {
  onConsensus(fromNodeId: NodeId, msg: raftpb.Message, metadata: Uint8Array): void;
  /**
   * Takes a forwarded envelope. `acked` is true when the sender asked for acknowledgements
   * (SUBMIT_ACK_HEADER): the outcome (now or later) is then written back to it, in the order the
   * requests came; returning nothing means taken (SUCCESS). A sender that did not ask (a Fabric
   * orderer) hears nothing, so the receiver need not build an outcome for it. Throwing ends the
   * sender's stream with an error.
   */
  onSubmit(fromNodeId: NodeId, req: orderer.SubmitRequest, acked: boolean): void | SubmitOutcome | Promise<SubmitOutcome>;
  /**
   * Takes the envelopes of a SubmitBatch (our extension; only from a sender that asked for
   * acknowledgements and batches): one outcome per envelope, in order, now or later. Without
   * it the dispatcher hands each envelope to onSubmit.
   */
  onSubmitBatch?(fromNodeId: NodeId, batch: ForwardedBatch): SubmitOutcome[] | Promise<SubmitOutcome[]>;
  /**
   * Asked after every message handed over: a promise means "my queue is full". The stream that
   * carried the message then reads nothing more until the promise resolves, so HTTP/2 flow
   * control holds the sender back (its bounded queue then fills and drops or waits, as for a
   * slow network) instead of this process buffering without bound. Undefined: keep reading.
   */
  receiveBackpressure?(): Promise<void> | undefined;
}

/** Outgoing side as the chain uses it; ClusterClient is the gRPC implementation, tests may fake it. */
export interface ClusterTransport {
  /**
   * Queues a Raft message for `toId` and returns at once. True when queued; false when dropped
   * (unknown destination, full queue, too large, closed); the drop is also reported through
   * the unreachable callback.
   */
  sendConsensus(channel: string, toId: NodeId, msg: raftpb.MessageInit, metadata?: Uint8Array): boolean;
  /** Resolves once the request is queued; waits for room up to the RPC timeout, then rejects. */
  sendSubmit(channel: string, toId: NodeId, req: orderer.SubmitRequestInit): Promise<void>;
  /**
   * Like sendSubmit, but resolves only when the leader has said what it did with the envelope
   * (or, for a leader without the extension, once it is written to the stream). Rejects with
   * SubmitFateUnknownError when the stream failed after the envelope was handed to gRPC, or no
   * answer came within the RPC timeout: the envelope may or may not have reached the leader.
   * The envelope goes as marshaled; envelopes queued together may go in one SubmitBatch when the
   * leader takes them (SUBMIT_BATCH_HEADER).
   */
  sendSubmitAcked?(channel: string, toId: NodeId, forward: ForwardedEnvelope): Promise<SubmitAck>;
  /**
   * sendSubmitAcked answering through `handle` instead of a promise (with the same answers and
   * errors, exactly one of them, possibly before this returns): a follower forwards thousands of
   * envelopes a second, and the promise, its reactions and closures were each a forward's garbage.
   */
  submitAcked?(channel: string, toId: NodeId, forward: ForwardedEnvelope, handle: SubmitAnswerHandle): void;
}

/** Where a forward's answer goes (ClusterTransport.submitAcked). */
export interface SubmitAnswerHandle {
  /** The leader's answer (or, for a leader without the extension, that it was written). */
  resolve(ack: SubmitAck): void;
  /** As sendSubmitAcked's rejections: SubmitFateUnknownError when it may have arrived. */
  reject(err: Error): void;
}

/** Fabric's General.Cluster.SendBufferSize default. */
export const DEFAULT_SEND_BUFFER_SIZE = 100;
/** Fabric's General.Cluster.RPCTimeout default. */
export const DEFAULT_RPC_TIMEOUT_MS = 7_000;
/** Fabric's General.Cluster.DialTimeout default. */
export const DEFAULT_DIAL_TIMEOUT_MS = 5_000;
/** Fabric's General.MaxRecvMsgSize / MaxSendMsgSize default (100 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 100 * 1024 * 1024;
export const DEFAULT_MIN_RECONNECT_BACKOFF_MS = 100;
export const DEFAULT_MAX_RECONNECT_BACKOFF_MS = 5_000;
