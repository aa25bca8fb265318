// One outgoing Step stream: to one node, on one channel, for one kind of message. It owns a
// bounded queue, opens its gRPC stream lazily, writes as fast as HTTP/2 flow control allows,
// and after a failure reopens with bounded exponential backoff while anything is waiting.
//
// States: idle (no stream, nothing to send) → dialing (waiting for the connection) → open
// (stream up, pumping) → waiting (backoff after a failure) → dialing ... ; closed is final.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from './backoff';
import { StreamClosedError, SubmitTimeoutError } from './errors';
import { Fifo } from './fifo';
import type { ClusterMetrics } from './metrics';
import { asBuffer, CLUSTER_STEP_PATH, NODE_ID_HEADER } from './service';
import type { ClusterMember, MessageKind, NodeId } from './types';

/** An encoded StepRequest waiting to be written. */
export interface OutgoingMessage {
  readonly bytes: Uint8Array;
  /** A raft MsgSnap: its loss must also be reported as a failed snapshot. */
  readonly isSnapshot: boolean;
}

export interface EgressStreamOptions {
  readonly channel: string;
  readonly member: ClusterMember;
  readonly kind: MessageKind;
  readonly selfId: NodeId;
  /** The gRPC client (one HTTP/2 connection) to the member's endpoint, shared with other streams. */
  readonly client: grpc.Client;
  readonly sendBufferSize: number;
  readonly dialTimeoutMs: number;
  /**
   * A full queue that has not moved for this long means the stream is stuck (peer gone
   * without closing the connection): it is torn down and reopened.
   */
  readonly stallTimeoutMs: number;
  readonly backoff: BackoffOptions;
  readonly logger: Logger;
  readonly metrics: ClusterMetrics;
  /** Messages may have been lost (stream failed, connection refused); `snapshot` when one was a MsgSnap. */
  readonly onLoss: (snapshot: boolean) => void;
}

interface Waiter {
  readonly message: OutgoingMessage;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  settled: boolean;
}

type State = 'idle' | 'dialing' | 'open' | 'waiting' | 'closed';
type StepClientCall = grpc.ClientDuplexStream<Uint8Array, Uint8Array>;

const passThrough = (bytes: Buffer): Uint8Array => bytes;
const ignore = (): void => undefined;

export class EgressStream {
  private readonly queue = new Fifo<OutgoingMessage>();
  private readonly waiters = new Fifo<Waiter>();
  private readonly backoff: Backoff;
  private readonly logger: Logger;
  private state: State = 'idle';
  private call: StepClientCall | undefined;
  /** False while the gRPC stream's buffer is above its high-water mark (waiting for 'drain'). */
  private writable = false;
  /**
   * Messages handed to gRPC whose write has not completed. They count against
   * sendBufferSize, so the bound covers everything this stream holds, not just our queue.
   */
  private inFlight = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private openedAtMs = 0;
  private lastProgressAtMs = 0;
  private snapshotsOnCall = 0;
  /** Drops since the last successful enqueue; only the first of a run is logged as a warning. */
  private dropRun = 0;

  constructor(private readonly options: EgressStreamOptions) {
    this.backoff = new Backoff(options.backoff);
    this.logger = options.logger.child({ channel: options.channel, to: options.member.id, kind: options.kind });
  }

  get member(): ClusterMember {
    return this.options.member;
  }

  get selfId(): NodeId {
    return this.options.selfId;
  }

  /** Messages held by this stream: queued, or handed to gRPC and not yet written (waiting submits not included). */
  get queuedCount(): number {
    return this.queue.length + this.inFlight;
  }

  hasRoom(): boolean {
    return this.state !== 'closed' && this.waiters.length === 0 && this.queuedCount < this.options.sendBufferSize;
  }

  /** Queues without waiting. False when the queue is full or the stream closed: the message is dropped. */
  offer(message: OutgoingMessage): boolean {
    if (!this.hasRoom()) {
      this.refuse();
      return false;
    }
    this.dropRun = 0;
    this.queue.push(message);
    this.kick();
    return true;
  }

  /** Records a message dropped for want of room (the caller saw hasRoom() false and did not encode it). */
  refuse(): void {
    this.noteDrop();
    this.restartIfStalled();
  }

  /** Queues, waiting up to timeoutMs for room; FIFO among waiters so order is kept. */
  put(message: OutgoingMessage, timeoutMs: number): Promise<void> {
    if (this.state === 'closed') {
      return Promise.reject(this.closedError('stream closed'));
    }
    if (this.hasRoom()) {
      this.queue.push(message);
      this.kick();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        message,
        resolve,
        reject,
        settled: false,
        timer: setTimeout(() => {
          if (waiter.settled) return;
          waiter.settled = true; // skipped when its turn comes
          this.noteDrop();
          reject(new SubmitTimeoutError(this.options.channel, this.options.member.id, timeoutMs));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
      this.restartIfStalled();
      this.kick();
    });
  }

  /** Final: drops what is queued, fails waiting submits, cancels the gRPC stream. */
  close(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.endCall();
    for (let i = this.queue.drain().length; i > 0; i--) {
      this.options.metrics.messageDropped(this.options.member.host, this.options.channel, this.options.kind);
    }
    for (let w = this.waiters.shift(); w !== undefined; w = this.waiters.shift()) {
      if (w.settled) continue;
      w.settled = true;
      clearTimeout(w.timer);
      w.reject(this.closedError(reason));
    }
    this.logger.debug({ reason }, 'egress stream closed');
  }

  private kick(): void {
    if (this.state === 'idle') this.dial();
    else if (this.state === 'open') this.pump();
  }

  private dial(): void {
    this.state = 'dialing';
    const { client, dialTimeoutMs } = this.options;
    client.waitForReady(Date.now() + dialTimeoutMs, (err) => {
      if (this.state !== 'dialing') return; // closed meanwhile
      if (err !== undefined) {
        this.logger.debug({ err: err.message }, 'connection not ready');
        this.failed(`no connection to ${endpoint(this.options.member)} within ${dialTimeoutMs} ms`, false);
        return;
      }
      this.openCall();
    });
  }

  private openCall(): void {
    const metadata = new grpc.Metadata();
    metadata.set(NODE_ID_HEADER, String(this.options.selfId));
    const call = this.options.client.makeBidiStreamRequest(CLUSTER_STEP_PATH, asBuffer, passThrough, metadata, {});
    this.call = call;
    this.state = 'open';
    this.writable = true;
    this.inFlight = 0;
    this.openedAtMs = Date.now();
    this.lastProgressAtMs = this.openedAtMs;
    this.snapshotsOnCall = 0;
    this.options.metrics.egressStreamsChanged(this.options.channel, 1);
    this.logger.debug('egress stream opened');

    // Fabric 2.5 never answers on Step; reading anyway keeps the response side from stalling.
    call.on('data', ignore);
    call.on('drain', () => {
      if (this.call !== call) return;
      this.writable = true;
      this.pump();
    });
    // The 'status' event below carries the same information; an unheard 'error' would throw.
    call.on('error', ignore);
    call.on('status', (status: grpc.StatusObject) => {
      if (this.call !== call) return;
      this.endCall();
      const ok = status.code === grpc.status.OK;
      this.failed(
        ok ? 'peer ended the stream' : `stream failed: ${grpc.status[status.code]}: ${status.details}`,
        this.snapshotsOnCall > 0,
        !ok,
      );
    });
    this.pump();
  }

  /** Writes queued messages until flow control pushes back, letting waiting submits in as room frees. */
  private pump(): void {
    for (;;) {
      this.admitWaiters();
      const call = this.call;
      if (this.state !== 'open' || call === undefined || !this.writable) return;
      const message = this.queue.shift();
      if (message === undefined) return;
      this.lastProgressAtMs = Date.now();
      if (message.isSnapshot) this.snapshotsOnCall += 1;
      this.inFlight += 1;
      // write() returning false is gRPC's backpressure: stop until 'drain'.
      this.writable = call.write(message.bytes, () => this.written(call));
    }
  }

  private written(call: StepClientCall): void {
    if (this.call !== call) return; // an earlier stream's write; inFlight was reset with it
    this.inFlight -= 1;
    this.lastProgressAtMs = Date.now();
    this.pump();
  }

  private admitWaiters(): void {
    while (this.queuedCount < this.options.sendBufferSize) {
      const waiter = this.waiters.shift();
      if (waiter === undefined) return;
      if (waiter.settled) continue; // timed out while waiting
      waiter.settled = true;
      clearTimeout(waiter.timer);
      this.queue.push(waiter.message);
      waiter.resolve();
    }
  }

  /** After a dial or stream failure: report possible loss, then retry after backoff if anything waits. */
  private failed(reason: string, snapshotLost: boolean, warn = true): void {
    const livedMs = this.openedAtMs > 0 ? Date.now() - this.openedAtMs : 0; // 0 after a failed dial
    // A stream that stayed up for a while was healthy: start the next series of retries small.
    if (livedMs >= this.backoff.maxDelayMs) this.backoff.reset();
    this.openedAtMs = 0;
    const delayMs = this.backoff.nextDelayMs();
    const log = { reason, retryInMs: delayMs, queued: this.queue.length };
    if (warn) this.logger.warn(log, 'cluster stream down');
    else this.logger.info(log, 'cluster stream ended');
    if (this.options.kind === 'consensus') this.options.onLoss(snapshotLost);
    this.state = 'waiting';
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state !== 'waiting') return;
      // Lazy: with nothing to send, reconnect only when the next message comes.
      if (this.queue.length === 0 && this.waiters.length === 0) this.state = 'idle';
      else this.dial();
    }, delayMs);
    this.retryTimer.unref();
  }

  /**
   * A full queue on an open stream that has not written anything for stallTimeoutMs: the
   * peer stopped reading without closing. Tear the stream down so the next one can be tried.
   */
  private restartIfStalled(): void {
    if (this.state !== 'open' || this.call === undefined) return;
    const stalledMs = Date.now() - this.lastProgressAtMs;
    if (stalledMs < this.options.stallTimeoutMs) return;
    const snapshotLost = this.snapshotsOnCall > 0;
    this.endCall();
    this.failed(`no progress for ${stalledMs} ms with a full queue`, snapshotLost);
  }

  private endCall(): void {
    const call = this.call;
    if (call === undefined) return;
    this.call = undefined;
    this.writable = false;
    this.inFlight = 0; // lost with the stream: gRPC may or may not have sent them
    this.options.metrics.egressStreamsChanged(this.options.channel, -1);
    call.cancel();
  }

  private noteDrop(): void {
    this.options.metrics.messageDropped(this.options.member.host, this.options.channel, this.options.kind);
    this.dropRun += 1;
    const log = { state: this.state, queued: this.queue.length, dropped: this.dropRun };
    if (this.dropRun === 1) this.logger.warn(log, 'send queue full, dropping message');
    else this.logger.debug(log, 'send queue full, dropping message');
  }

  private closedError(reason: string): StreamClosedError {
    return new StreamClosedError(this.options.channel, this.options.member.id, this.options.kind, reason);
  }
}

export function endpoint(member: ClusterMember): string {
  return `${member.host}:${member.port}`;
}
