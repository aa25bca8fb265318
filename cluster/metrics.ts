// Metrics seam of the transport. The names follow Fabric's cluster_comm_* metrics so a
// Prometheus implementation can map them one to one; the counting implementation keeps
// plain objects, enough for tests and for a later registry to read from.
import type { MessageKind } from './types';

export interface ClusterMetrics {
  /** A message was not sent: full queue, failed stream, unknown destination or too large (cluster_comm_msg_dropped_count). */
  messageDropped(host: string, channel: string, kind: MessageKind): void;
  /** An incoming Step stream opened (+1) or ended (-1) (cluster_comm_ingress_stream_count). */
  ingressStreamsChanged(delta: 1 | -1): void;
  /** An outgoing Step stream opened (+1) or ended (-1) (cluster_comm_egress_stream_count). */
  egressStreamsChanged(channel: string, delta: 1 | -1): void;
  /** An incoming stream stopped reading because its chain is full (+1) or resumed (-1). */
  ingressPaused(delta: 1 | -1): void;
  /** An outgoing TLS connection opened (+1) or closed (-1) (cluster_comm_egress_tls_connection_count). */
  tlsConnectionsChanged(delta: 1 | -1): void;
  /**
   * An egress queue (one per destination, channel and message kind) was created: one more
   * worker (cluster_comm_egress_queue_workers), and its capacity. The recorder it returns is
   * bound to its labels once, so reporting its length costs no label lookup.
   */
  egressQueueOpened(host: string, channel: string, kind: MessageKind, capacity: number): EgressQueueRecorder;
  /** An incoming Step call started (grpc_server_stream_* with service orderer_Cluster, method Step). */
  stepCallStarted(): StepCallRecorder;
}

export interface StepCallRecorder {
  messageReceived(): void;
  messageSent(): void;
  /** The call ended with gRPC status `code`; called once. */
  done(code: number): void;
}

const NO_STEP_CALL: StepCallRecorder = { messageReceived: () => undefined, messageSent: () => undefined, done: () => undefined };

export interface EgressQueueRecorder {
  /** Messages queued now (cluster_comm_egress_queue_length). */
  length(queued: number): void;
  /** gRPC took one message written `seconds` after it was handed to the stream (cluster_comm_msg_send_time). */
  sent(seconds: number): void;
  /** The queue closed: one worker less, its gauges removed. */
  closed(): void;
}

const NO_QUEUE: EgressQueueRecorder = { length: () => undefined, sent: () => undefined, closed: () => undefined };

export const NO_METRICS: ClusterMetrics = {
  messageDropped: () => undefined,
  ingressStreamsChanged: () => undefined,
  egressStreamsChanged: () => undefined,
  ingressPaused: () => undefined,
  tlsConnectionsChanged: () => undefined,
  egressQueueOpened: () => NO_QUEUE,
  stepCallStarted: () => NO_STEP_CALL,
};

export class CountingClusterMetrics implements ClusterMetrics {
  /** dropped[host][channel] = messages dropped towards that host on that channel. */
  readonly dropped: Record<string, Record<string, number>> = {};
  ingressStreams = 0;
  /** egressStreams[channel] = outgoing streams currently open. */
  readonly egressStreams: Record<string, number> = {};

  messageDropped(host: string, channel: string): void {
    const perChannel = (this.dropped[host] ??= {});
    perChannel[channel] = (perChannel[channel] ?? 0) + 1;
  }

  ingressStreamsChanged(delta: 1 | -1): void {
    this.ingressStreams += delta;
  }

  egressStreamsChanged(channel: string, delta: 1 | -1): void {
    this.egressStreams[channel] = (this.egressStreams[channel] ?? 0) + delta;
  }

  /** Incoming streams paused right now, and how many pauses there were in all. */
  ingressPausedNow = 0;
  ingressPausesTotal = 0;

  ingressPaused(delta: 1 | -1): void {
    this.ingressPausedNow += delta;
    if (delta === 1) this.ingressPausesTotal += 1;
  }

  tlsConnectionsChanged(): void {}
  egressQueueOpened(): EgressQueueRecorder {
    return NO_QUEUE;
  }

  stepCallStarted(): StepCallRecorder {
    return NO_STEP_CALL;
  }

  droppedTotal(): number {
    let total = 0;
    for (const perChannel of Object.values(this.dropped)) {
      for (const n of Object.values(perChannel)) total += n;
    }
    return total;
  }
}
