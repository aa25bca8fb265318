// The cluster as one orderer uses it: one membership per channel shared by the outgoing
// client and the incoming sender check, one dispatcher routing incoming traffic to chains.
import type * as grpc from '@grpc/grpc-js';
import { HeaderSenderAuthenticator, TlsCertSenderAuthenticator, type SenderAuthenticator } from './auth';
import { ClusterClient, type ClusterClientOptions } from './client';
import { ClusterDispatcher, registerClusterService } from './dispatcher';
import { ClusterMembership } from './membership';
import type { ChannelMembership, ClusterTransport, ForwardedEnvelope, MessageReceiver, NodeId, SubmitAck, SubmitAnswerHandle } from './types';
import type { orderer, raftpb } from '../protos';

/** How incoming senders are identified: the plaintext header check, or the TLS client certificate. */
export type SenderIdentification = 'header' | 'tls-certificate';

export interface CommOptions extends Omit<ClusterClientOptions, 'membership'> {
  /**
   * Identifies incoming senders; when absent, `senderIdentification` picks one of ours over
   * this Comm's membership.
   */
  readonly authenticator?: SenderAuthenticator;
  /** 'header' (default) for a plaintext cluster; 'tls-certificate' once the listener is mutual TLS. */
  readonly senderIdentification?: SenderIdentification;
  /** Take SubmitBatches from followers that offer them (default true; false answers as an orderer of ours from before batches). */
  readonly acceptSubmitBatches?: boolean;
}

export class Comm implements ClusterTransport {
  readonly membership = new ClusterMembership();
  readonly client: ClusterClient;
  readonly dispatcher: ClusterDispatcher;

  constructor(options: CommOptions) {
    this.client = new ClusterClient({ ...options, membership: this.membership });
    this.dispatcher = new ClusterDispatcher({
      logger: options.logger,
      authenticator:
        options.authenticator ??
        (options.senderIdentification === 'tls-certificate' ? new TlsCertSenderAuthenticator(this.membership) : new HeaderSenderAuthenticator(this.membership)),
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
      ...(options.acceptSubmitBatches !== undefined ? { acceptSubmitBatches: options.acceptSubmitBatches } : {}),
      // One setting for both sides, as Fabric's General.MaxRecvMsgSize.
      ...(options.maxRecvMessageBytes !== undefined ? { maxRecvMessageBytes: options.maxRecvMessageBytes } : {}),
    });
  }

  /** Serves incoming Step streams on `server` (which may also serve AtomicBroadcast). */
  registerOn(server: grpc.Server): void {
    registerClusterService(server, this.dispatcher);
  }

  /** Members and own id of a channel: where its messages go and whom it accepts messages from. */
  configure(channel: string, membership: ChannelMembership): void {
    this.client.configure(channel, membership);
  }

  /** Starts routing the channel's incoming traffic to its chain. */
  register(channel: string, receiver: MessageReceiver): void {
    this.dispatcher.register(channel, receiver);
  }

  /** The channel is gone from this orderer: no more traffic either way. */
  removeChannel(channel: string): void {
    this.dispatcher.unregister(channel);
    this.client.removeChannel(channel);
  }

  sendConsensus(channel: string, toId: NodeId, msg: raftpb.MessageInit, metadata?: Uint8Array): boolean {
    return this.client.sendConsensus(channel, toId, msg, metadata);
  }

  sendSubmit(channel: string, toId: NodeId, req: orderer.SubmitRequestInit): Promise<void> {
    return this.client.sendSubmit(channel, toId, req);
  }

  sendSubmitAcked(channel: string, toId: NodeId, forward: ForwardedEnvelope): Promise<SubmitAck> {
    return this.client.sendSubmitAcked(channel, toId, forward);
  }

  submitAcked(channel: string, toId: NodeId, forward: ForwardedEnvelope, handle: SubmitAnswerHandle): void {
    this.client.submitAcked(channel, toId, forward, handle);
  }

  /** Outgoing side only; the gRPC server belongs to whoever created it. */
  close(): void {
    this.client.close();
  }
}
