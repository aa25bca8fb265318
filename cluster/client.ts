// Outgoing side of the cluster: the chain hands a Raft message or a forwarded envelope for a
// node id; we find that node's address in the channel's membership and queue the encoded
// StepRequest on the stream for (channel, destination, kind).
//
// Streams per (channel, destination, kind), as Fabric keeps them: a busy channel cannot
// starve another's heartbeats, submits waiting for room never hold up Raft traffic, and the
// sender id in the stream's header is per channel. All streams to one endpoint share one
// HTTP/2 connection (ConnectionPool), spoken to by our own gRPC client (step-transport.ts) unless
// TLS is given only as grpc-js credentials or ORDERER_DIAL_VIA=grpc-js.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { orderer, raftpb } from '../protos';
import type { BackoffOptions } from './backoff';
import { DEFAULT_MAX_SUBMIT_BATCH_BYTES, EgressStream, endpoint, type AckHandle, type OutgoingMessage } from './egress';
import { ClusterError, MessageTooLargeError, StreamClosedError, SubmitFateUnknownError, UnknownDestinationError } from './errors';
import { ConnectionPool } from './connections';
import { Fifo } from './fifo';
import { DirectStepConnection, GrpcJsStepConnection, type ClusterDialTls, type StepConnection } from './step-transport';
import { encodeConsensusStepGathered, encodedLength, submitStepSize } from './wire';
import { ClusterMembership } from './membership';
import { NO_METRICS, type ClusterMetrics } from './metrics';
import {
  DEFAULT_DIAL_TIMEOUT_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_RECONNECT_BACKOFF_MS,
  DEFAULT_MIN_RECONNECT_BACKOFF_MS,
  DEFAULT_RPC_TIMEOUT_MS,
  DEFAULT_SEND_BUFFER_SIZE,
  NO_NODE,
  type ChannelMembership,
  type ClusterMember,
  type ClusterTransport,
  type ForwardedEnvelope,
  type MessageKind,
  type NodeId,
  type SubmitAck,
  type SubmitAnswerHandle,
} from './types';

/** Fabric's client keepalive (General.Keepalive ClientInterval / ClientTimeout). */
const KEEPALIVE_INTERVAL_MS = 60_000;
const KEEPALIVE_TIMEOUT_MS = 20_000;


/** How often unanswered forwards are checked against the RPC timeout. */
const ACK_SWEEP_MS = 250;


/** An answer the deadline sweep watches. */
interface TrackedAck extends AckHandle {
  deadlineMs: number;
  settled: boolean;
  readonly channel: string;
  readonly toId: NodeId;
}

/**
 * A forward waiting for the leader's answer, given to its sender's handle (submitAcked; for
 * sendSubmitAcked the handle is a promise's resolvers): the handle the egress stream settles it
 * through and its entry in the deadline sweep, in one object; the first answer wins. Per forward
 * this was an async function's state, a deadline record, a handle with two closures and a second
 * promise: at thousands of forwards a second, garbage the follower's young generation had to copy.
 */
class HandleAck implements TrackedAck {
  deadlineMs = 0;
  settled = false;

  constructor(
    readonly channel: string,
    readonly toId: NodeId,
    private readonly handle: SubmitAnswerHandle,
  ) {}

  resolve(ack: SubmitAck): void {
    if (this.settled) return;
    this.settled = true;
    this.handle.resolve(ack);
  }

  reject(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.handle.reject(err);
  }
}
export interface ClusterClientOptions {
  readonly logger: Logger;
  /** Shared with the server side's authenticator; a fresh one when absent. */
  readonly membership?: ClusterMembership;
  /** Messages queued per (channel, destination, kind) before consensus messages are dropped (General.Cluster.SendBufferSize). */
  readonly sendBufferSize?: number;
  /** How long a submit waits for queue room; also how long a full queue may stand still before its stream is reopened (General.Cluster.RPCTimeout). */
  readonly rpcTimeoutMs?: number;
  /** How long one connection attempt may take (General.Cluster.DialTimeout). */
  readonly dialTimeoutMs?: number;
  readonly minReconnectBackoffMs?: number;
  readonly maxReconnectBackoffMs?: number;
  readonly maxSendMessageBytes?: number;
  readonly maxRecvMessageBytes?: number;
  /** Plaintext when absent. */
  readonly tls?: grpc.ChannelCredentials;
  /**
   * Credentials for dialing one member, used instead of `tls` when given: how the orderer pins a
   * destination's server certificate (its consenter server_tls_cert) as Fabric does.
   */
  readonly tlsFor?: (member: ClusterMember) => grpc.ChannelCredentials;
  /**
   * The same TLS as `tls`/`tlsFor` (roots, client pair, pin) as material, for our own client
   * (step-transport.ts). Without it, a cluster given grpc-js credentials dials through grpc-js.
   */
  readonly dialTlsFor?: (member: ClusterMember) => ClusterDialTls;
  readonly metrics?: ClusterMetrics;
  /**
   * A consensus message to `nodeId` was dropped or may have been lost: the chain should call
   * raft.reportUnreachable. Called from a microtask, never from inside sendConsensus, and
   * at most once per (channel, node) per microtask turn.
   */
  readonly onUnreachable?: (channel: string, nodeId: NodeId) => void;
  /** Like onUnreachable, when a lost message was a MsgSnap: the chain reports the snapshot failed. */
  readonly onSnapshotFailed?: (channel: string, nodeId: NodeId) => void;
  /** How long a new submit stream waits for the peer to show it acknowledges envelopes (DEFAULT_ACK_HANDSHAKE_MS). */
  readonly ackHandshakeMs?: number;
  /**
   * Offer the leader batches of forwarded envelopes (SUBMIT_BATCH_HEADER); used only when it
   * answers. Default true; false sends one SubmitRequest per envelope, as to a Fabric orderer.
   */
  readonly batchSubmits?: boolean;
}

interface PendingLoss {
  readonly channel: string;
  readonly nodeId: NodeId;
  snapshot: boolean;
}

export class ClusterClient implements ClusterTransport {
  readonly membership: ClusterMembership;
  private readonly logger: Logger;
  private readonly metrics: ClusterMetrics;
  private readonly pool: ConnectionPool;
  private readonly sendBufferSize: number;
  private readonly rpcTimeoutMs: number;
  private readonly dialTimeoutMs: number;
  private readonly maxSendMessageBytes: number;
  private readonly backoff: BackoffOptions;
  /** channel → "destination/kind" → stream */
  private readonly streams = new Map<string, Map<string, EgressStream>>();
  private readonly pendingLosses = new Map<string, PendingLoss>();
  private lossFlushScheduled = false;
  private closed = false;
  /** Forwards waiting for the leader's answer, oldest first (all share one timeout, so deadline order). */
  private readonly ackDeadlines = new Fifo<TrackedAck>();
  private ackSweep: NodeJS.Timeout | undefined;

  constructor(private readonly options: ClusterClientOptions) {
    this.logger = options.logger.child({ component: 'cluster-egress', logger: 'cluster.egress' });
    this.membership = options.membership ?? new ClusterMembership();
    this.metrics = options.metrics ?? NO_METRICS;
    this.sendBufferSize = positive('sendBufferSize', options.sendBufferSize ?? DEFAULT_SEND_BUFFER_SIZE);
    this.rpcTimeoutMs = positive('rpcTimeoutMs', options.rpcTimeoutMs ?? DEFAULT_RPC_TIMEOUT_MS);
    this.dialTimeoutMs = positive('dialTimeoutMs', options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS);
    this.maxSendMessageBytes = positive('maxSendMessageBytes', options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    this.backoff = {
      minDelayMs: positive('minReconnectBackoffMs', options.minReconnectBackoffMs ?? DEFAULT_MIN_RECONNECT_BACKOFF_MS),
      maxDelayMs: positive('maxReconnectBackoffMs', options.maxReconnectBackoffMs ?? DEFAULT_MAX_RECONNECT_BACKOFF_MS),
    };
    const maxRecvMessageBytes = options.maxRecvMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const grpcTls = options.tls !== undefined || options.tlsFor !== undefined;
    const viaGrpcJs = process.env.ORDERER_DIAL_VIA === 'grpc-js' || (grpcTls && options.dialTlsFor === undefined);
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_send_message_length': this.maxSendMessageBytes,
      'grpc.max_receive_message_length': maxRecvMessageBytes,
      // grpc-js reconnects a broken connection itself; by default it may wait up to 120 s,
      // far longer than a Raft election. Keep its waits within our own backoff bounds.
      'grpc.initial_reconnect_backoff_ms': this.backoff.minDelayMs,
      'grpc.max_reconnect_backoff_ms': this.backoff.maxDelayMs,
      'grpc.keepalive_time_ms': KEEPALIVE_INTERVAL_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      // Each ClusterClient is one orderer; in-process clusters (tests, simulations) must not
      // share connections between orderers.
      'grpc.use_local_subchannel_pool': 1,
    };
    const open = (member: ClusterMember): StepConnection => {
      if (viaGrpcJs) {
        const credentials = options.tlsFor?.(member) ?? options.tls ?? grpc.credentials.createInsecure();
        return new GrpcJsStepConnection(new grpc.Client(endpoint(member), credentials, channelOptions));
      }
      const tls = options.dialTlsFor?.(member);
      return new DirectStepConnection({
        host: member.host,
        port: member.port,
        ...(tls !== undefined ? { tls } : {}),
        maxSendMessageBytes: this.maxSendMessageBytes,
        maxReceiveMessageBytes: maxRecvMessageBytes,
        keepaliveIntervalMs: KEEPALIVE_INTERVAL_MS,
        keepaliveTimeoutMs: KEEPALIVE_TIMEOUT_MS,
        reconnectBackoff: this.backoff,
      });
    };
    this.pool = new ConnectionPool({
      open,
      // Only TLS connections count (cluster_comm_egress_tls_connection_count); a plaintext test cluster has none.
      ...(grpcTls || options.dialTlsFor !== undefined ? { onConnectionsChanged: (delta: 1 | -1) => this.metrics.tlsConnectionsChanged(delta) } : {}),
    });
  }

  /**
   * Sets the channel's members (from its etcdraft consenter set) and our own id on it.
   * Streams to nodes that left, moved to another endpoint, or were opened under a different
   * own id are closed; new streams open lazily on the first message.
   */
  configure(channel: string, membership: ChannelMembership): void {
    this.assertOpen();
    this.membership.set(channel, membership); // validates before anything changes
    const streams = this.streams.get(channel);
    if (streams === undefined) return;
    for (const [key, stream] of streams) {
      const now = this.membership.member(channel, stream.member.id);
      let reason: string | undefined;
      if (now === undefined) reason = 'node is no longer a member';
      else if (endpoint(now) !== endpoint(stream.member)) reason = `node moved to ${endpoint(now)}`;
      else if (!sameBytes(now.serverTlsCert, stream.member.serverTlsCert)) reason = 'node has a new server TLS certificate';
      else if (membership.selfId !== stream.selfId) reason = `own id changed to ${membership.selfId}`;
      if (reason !== undefined) this.dropStream(streams, key, stream, reason);
    }
    this.logger.info({ channel, selfId: membership.selfId, members: membership.members.map(endpointOf) }, 'cluster membership configured');
  }

  /** Forgets the channel: its streams close, waiting submits fail. */
  removeChannel(channel: string): void {
    this.membership.remove(channel);
    const streams = this.streams.get(channel);
    if (streams === undefined) return;
    for (const [key, stream] of streams) this.dropStream(streams, key, stream, 'channel removed');
    this.streams.delete(channel);
  }

  sendConsensus(channel: string, toId: NodeId, msg: raftpb.MessageInit, metadata?: Uint8Array): boolean {
    if (this.closed || toId === NO_NODE) return false; // Raft's "nobody": nothing to send, nothing to report
    const isSnapshot = msg.type === raftpb.MessageType.MsgSnap;
    const member = this.membership.member(channel, toId);
    if (member === undefined) {
      this.logger.debug({ channel, to: toId }, 'consensus message for an unknown node dropped');
      this.reportLoss(channel, toId, isSnapshot);
      return false;
    }
    const stream = this.streamFor(channel, member, 'consensus');
    // Check room before encoding: under a backlog most messages are dropped, don't pay for them.
    if (!stream.hasRoom()) {
      stream.refuse();
      this.reportLoss(channel, toId, isSnapshot);
      return false;
    }
    // A block entry is not copied into the message: the leader sends the same block to every follower.
    const bytes = encodeConsensusStepGathered(channel, msg, metadata);
    const sizeBytes = encodedLength(bytes);
    if (sizeBytes > this.maxSendMessageBytes) {
      this.logger.warn({ channel, to: toId, sizeBytes, maxBytes: this.maxSendMessageBytes }, 'consensus message too large, dropped');
      this.metrics.messageDropped(member.host, channel, 'consensus');
      this.reportLoss(channel, toId, isSnapshot);
      return false;
    }
    if (!stream.offer({ bytes, isSnapshot })) {
      this.reportLoss(channel, toId, isSnapshot);
      return false;
    }
    return true;
  }

  async sendSubmit(channel: string, toId: NodeId, req: orderer.SubmitRequestInit): Promise<void> {
    if (this.closed) throw new StreamClosedError(channel, toId, 'submit', 'cluster client closed');
    const member = toId === NO_NODE ? undefined : this.membership.member(channel, toId);
    if (member === undefined) throw new UnknownDestinationError(channel, toId);
    // The request's own channel field is what the receiver routes by; it must match.
    const bytes = orderer.StepRequest.encode({ submitRequest: { ...req, channel } });
    if (bytes.length > this.maxSendMessageBytes) {
      this.metrics.messageDropped(member.host, channel, 'submit');
      throw new MessageTooLargeError(channel, toId, bytes.length, this.maxSendMessageBytes);
    }
    const message: OutgoingMessage = { bytes, isSnapshot: false };
    await this.streamFor(channel, member, 'submit').put(message, this.rpcTimeoutMs);
  }

  /**
   * Forwards an envelope and resolves with the leader's answer (our extension; see
   * SUBMIT_ACK_HEADER), or 'unacknowledged' once written when the leader does not speak it.
   * Rejects with SubmitFateUnknownError when the stream failed after the hand-over or no answer
   * came within the RPC timeout (the envelope may have arrived), with the errors of sendSubmit
   * when it never left (no room in time, too large, closed).
   */
  sendSubmitAcked(channel: string, toId: NodeId, forward: ForwardedEnvelope): Promise<SubmitAck> {
    return new Promise<SubmitAck>((resolve, reject) => this.submitWith(channel, toId, forward, new HandleAck(channel, toId, { resolve, reject })));
  }

  submitAcked(channel: string, toId: NodeId, forward: ForwardedEnvelope, handle: SubmitAnswerHandle): void {
    this.submitWith(channel, toId, forward, new HandleAck(channel, toId, handle));
  }

  /** Queues a forward whose answer `ack` takes; every failure, now or later, goes to `ack` too. */
  private submitWith(channel: string, toId: NodeId, forward: ForwardedEnvelope, ack: TrackedAck): void {
    try {
      if (this.closed) throw new StreamClosedError(channel, toId, 'submit', 'cluster client closed');
      const member = toId === NO_NODE ? undefined : this.membership.member(channel, toId);
      if (member === undefined) throw new UnknownDestinationError(channel, toId);
      // Encoded when written (alone, or in a batch): checked against the limit now, while it can still be refused.
      const sizeBytes = submitStepSize(channel, forward);
      if (sizeBytes > this.maxSendMessageBytes) {
        this.metrics.messageDropped(member.host, channel, 'submit');
        throw new MessageTooLargeError(channel, toId, sizeBytes, this.maxSendMessageBytes);
      }
      const message: OutgoingMessage = { forward, isSnapshot: false, ack };
      const stream = this.streamFor(channel, member, 'submit');
      // Room on the stream (the usual case): queued now, no promise to wait on.
      if (stream.tryPut(message)) {
        this.watchDeadline(ack);
        return;
      }
      stream.put(message, this.rpcTimeoutMs).then(
        () => this.watchDeadline(ack),
        (err: unknown) => ack.reject(err instanceof Error ? err : new Error(String(err))),
      );
    } catch (err) {
      ack.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * One deadline sweep for all answers instead of a timer and a race per envelope: at thousands
   * of forwards a second those cost more than the forwarding itself.
   */
  private watchDeadline(pending: TrackedAck): void {
    if (pending.settled) return;
    pending.deadlineMs = Date.now() + this.rpcTimeoutMs;
    this.ackDeadlines.push(pending);
    this.armAckSweep();
  }

  /** Forwards not answered within the RPC timeout reject with SubmitFateUnknownError (their slot on the stream stays). */
  private armAckSweep(): void {
    if (this.ackSweep !== undefined || this.closed) return;
    this.ackSweep = setTimeout(() => {
      this.ackSweep = undefined;
      const now = Date.now();
      for (;;) {
        const head = this.ackDeadlines.peek();
        if (head === undefined || (!head.settled && head.deadlineMs > now)) break;
        this.ackDeadlines.shift();
        if (head.settled) continue;
        head.reject(new SubmitFateUnknownError(head.channel, head.toId, `no answer within ${this.rpcTimeoutMs} ms`));
      }
      if (this.ackDeadlines.length > 0) this.armAckSweep();
    }, ACK_SWEEP_MS);
    this.ackSweep.unref();
  }

  /** Messages waiting in our queue to `toId` (cluster_comm_egress_queue_length). */
  queuedMessages(channel: string, toId: NodeId, kind: MessageKind): number {
    return this.streams.get(channel)?.get(streamKey(toId, kind))?.queuedCount ?? 0;
  }

  /** Closes every stream and connection; queued messages are dropped, waiting submits fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ackSweep !== undefined) clearTimeout(this.ackSweep);
    this.ackSweep = undefined;
    for (const streams of this.streams.values()) {
      for (const stream of streams.values()) stream.close('cluster client closed');
    }
    this.streams.clear();
    this.pendingLosses.clear();
    this.pool.closeAll();
  }

  private streamFor(channel: string, member: ClusterMember, kind: MessageKind): EgressStream {
    let streams = this.streams.get(channel);
    if (streams === undefined) {
      streams = new Map();
      this.streams.set(channel, streams);
    }
    const key = streamKey(member.id, kind);
    const existing = streams.get(key);
    if (existing !== undefined) return existing;
    const selfId = this.membership.get(channel)?.selfId ?? NO_NODE; // member() found the channel, so it is set
    const stream = new EgressStream({
      channel,
      member,
      kind,
      selfId,
      connection: this.pool.acquire(member),
      sendBufferSize: this.sendBufferSize,
      dialTimeoutMs: this.dialTimeoutMs,
      stallTimeoutMs: this.rpcTimeoutMs,
      backoff: this.backoff,
      logger: this.logger,
      metrics: this.metrics,
      onLoss: (snapshot) => this.reportLoss(channel, member.id, snapshot),
      requestAcks: kind === 'submit',
      requestBatches: kind === 'submit' && this.options.batchSubmits !== false,
      maxBatchBytes: Math.min(DEFAULT_MAX_SUBMIT_BATCH_BYTES, this.maxSendMessageBytes),
      ...(this.options.ackHandshakeMs !== undefined ? { ackHandshakeMs: this.options.ackHandshakeMs } : {}),
    });
    streams.set(key, stream);
    return stream;
  }

  private dropStream(streams: Map<string, EgressStream>, key: string, stream: EgressStream, reason: string): void {
    streams.delete(key);
    stream.close(reason);
    this.pool.release(stream.member);
  }

  /** Coalesces loss reports and delivers them after the current synchronous code, never re-entering the caller. */
  private reportLoss(channel: string, nodeId: NodeId, snapshot: boolean): void {
    const key = `${channel}\u0000${nodeId}`;
    const pending = this.pendingLosses.get(key);
    if (pending !== undefined) pending.snapshot ||= snapshot;
    else this.pendingLosses.set(key, { channel, nodeId, snapshot });
    if (this.lossFlushScheduled) return;
    this.lossFlushScheduled = true;
    queueMicrotask(() => this.flushLosses());
  }

  private flushLosses(): void {
    this.lossFlushScheduled = false;
    const losses = [...this.pendingLosses.values()];
    this.pendingLosses.clear();
    for (const { channel, nodeId, snapshot } of losses) {
      // A throwing callback must not take the transport down with it, nor skip the other reports.
      try {
        this.options.onUnreachable?.(channel, nodeId);
        if (snapshot) this.options.onSnapshotFailed?.(channel, nodeId);
      } catch (err) {
        this.logger.error({ channel, nodeId, err }, 'unreachable callback threw');
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new ClusterError('cluster client is closed');
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function streamKey(nodeId: NodeId, kind: MessageKind): string {
  return `${nodeId}/${kind}`;
}

function endpointOf(member: ClusterMember): string {
  return `${member.id}@${endpoint(member)}`;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}
