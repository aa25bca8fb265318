// One outgoing Step stream: to one node, on one channel, for one kind of message. It owns a
// bounded queue, opens its gRPC stream lazily (on a pooled connection, step-transport.ts), writes as fast as HTTP/2 flow control allows,
// and after a failure reopens with bounded exponential backoff while anything is waiting.
//
// States: idle (no stream, nothing to send) → dialing (waiting for the connection) → open
// (stream up, pumping) → waiting (backoff after a failure) → dialing ... ; closed is final.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from './backoff';
import { StreamClosedError, SubmitFateUnknownError, SubmitTimeoutError } from './errors';
import { Fifo } from './fifo';
import type { ClusterMetrics, EgressQueueRecorder } from './metrics';
import { orderer } from '../protos';
import type { StepCall, StepConnection } from './step-transport';
import {
  NODE_ID_HEADER,
  SUBMIT_ACK_HEADER,
  SUBMIT_ACK_VERSION,
  SUBMIT_BATCH_HEADER,
  SUBMIT_BATCH_MAX_BYTES_HEADER,
  SUBMIT_BATCH_VERSION,
} from './service';
import type { ClusterMember, ForwardedEnvelope, MessageKind, NodeId, SubmitAck } from './types';
import { encodeSubmitBatchStep, encodeSubmitStep, SUBMIT_BATCH_BASE_BYTES, SUBMIT_BATCH_PER_ENVELOPE_BYTES, type Gathered } from './wire';

/** Where a forwarded envelope's answer goes (submit streams that ask for acknowledgements). */
export interface AckHandle {
  resolve(ack: SubmitAck): void;
  reject(err: Error): void;
}

interface MessageBase {
  /** A raft MsgSnap: its loss must also be reported as a failed snapshot. */
  readonly isSnapshot: boolean;
  /** A submit whose sender waits for the leader's answer. */
  readonly ack?: AckHandle;
}

/** A StepRequest waiting to be written: encoded, or a forwarded envelope encoded when it is written. */
export type OutgoingMessage = MessageBase &
  (
    | { readonly bytes: Uint8Array | Gathered; readonly forward?: undefined }
    | {
        /**
         * A forwarded envelope (submit streams): written as a SubmitRequest, or with the forwards
         * queued behind it in one SubmitBatch when the peer takes batches (SUBMIT_BATCH_HEADER).
         */
        readonly forward: ForwardedEnvelope;
        readonly bytes?: undefined;
      }
  );

export interface EgressStreamOptions {
  readonly channel: string;
  readonly member: ClusterMember;
  readonly kind: MessageKind;
  readonly selfId: NodeId;
  /** The connection (one HTTP/2 connection) to the member's endpoint, shared with other streams. */
  readonly connection: StepConnection;
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
  /**
   * Submit streams: ask the leader to acknowledge each envelope (SUBMIT_ACK_HEADER). A peer that
   * has not answered the header within ackHandshakeMs of the stream opening is taken for one
   * without the extension (a Fabric orderer).
   */
  readonly requestAcks?: boolean;
  readonly ackHandshakeMs?: number;
  /** Submit streams that ask for acknowledgements: also offer batches (SUBMIT_BATCH_HEADER). */
  readonly requestBatches?: boolean;
  /** Largest SubmitBatch to write, in encoded bytes (DEFAULT_MAX_SUBMIT_BATCH_BYTES; never above the peer's message limit). */
  readonly maxBatchBytes?: number;
}

/**
 * A SubmitBatch holds at most this many encoded bytes. Large enough that a batch costs few
 * messages at any rate, small enough that one batch does not hold the stream (and the consensus
 * stream sharing its connection) for long.
 */
export const DEFAULT_MAX_SUBMIT_BATCH_BYTES = 1024 * 1024;

/** How long a new submit stream waits for the peer to show it acknowledges submits. */
export const DEFAULT_ACK_HANDSHAKE_MS = 1_000;

interface Waiter {
  readonly message: OutgoingMessage;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  /** When it gives up (Date.now()); put() time plus its timeout. */
  readonly deadlineMs: number;
  readonly timeoutMs: number;
  settled: boolean;
}

type State = 'idle' | 'dialing' | 'open' | 'waiting' | 'closed';

export class EgressStream {
  private readonly queue = new Fifo<OutgoingMessage>();
  private readonly waiters = new Fifo<Waiter>();
  private readonly backoff: Backoff;
  private readonly logger: Logger;
  private state: State = 'idle';
  private call: StepCall | undefined;
  /** False while the gRPC stream's buffer is above its high-water mark (waiting for 'drain'). */
  private writable = false;
  /**
   * Messages handed to gRPC whose write has not completed. They count against
   * sendBufferSize, so the bound covers everything this stream holds, not just our queue.
   */
  private inFlight = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /**
   * One timer for the waiting submits, set for the first one's deadline, instead of a timer per
   * waiter: under load most forwards wait for room a moment, thousands a second.
   */
  private waiterSweep: NodeJS.Timeout | undefined;
  private openedAtMs = 0;
  private lastProgressAtMs = 0;
  private snapshotsOnCall = 0;
  /** Drops since the last successful enqueue; only the first of a run is logged as a warning. */
  private dropRun = 0;
  /** Does the peer on the current call answer submits? Decided by its response header. */
  private peerAcks: 'unknown' | 'yes' | 'no' = 'unknown';
  /** Does the peer on the current call take SubmitBatches? Decided by its response header, with peerAcks. */
  private peerBatches = false;
  /**
   * With a peer that takes batches, forwards are written at the end of the event-loop turn that
   * queued them, so that those of one turn go in one message.
   */
  private pumpSoon: NodeJS.Immediate | undefined;
  /** Our own bound on a batch (our send limit), and the one in force on the current call (the leader's receive limit too). */
  private readonly maxBatchBytes: number;
  private callMaxBatchBytes = 0;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Ack handles of messages handed to gRPC, in write order (undefined: a submit nobody waits on). */
  private readonly inFlightAcks = new Fifo<AckHandle | undefined>();
  /** Ack handles of written submits whose answer has not come yet, in write order. */
  private readonly awaitingAcks = new Fifo<AckHandle | undefined>();

  /** When each message handed to gRPC and not yet written was handed over (cluster_comm_msg_send_time). */
  private readonly writeStartedMs = new Fifo<number>();
  /** The queue's metrics, bound to its labels once. */
  private readonly queueMetrics: EgressQueueRecorder;

  constructor(private readonly options: EgressStreamOptions) {
    this.backoff = new Backoff(options.backoff);
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_SUBMIT_BATCH_BYTES;
    this.queueMetrics = options.metrics.egressQueueOpened(options.member.host, options.channel, options.kind, options.sendBufferSize);
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

  /** put() when there is room now: queued, true. False (nothing queued, nothing recorded) when put() would wait or fail. */
  tryPut(message: OutgoingMessage): boolean {
    if (!this.hasRoom()) return false;
    this.queue.push(message);
    this.kick();
    return true;
  }

  /** Queues without waiting. False when the queue is full or the stream closed: the message is dropped. */
  offer(message: OutgoingMessage): boolean {
    if (!this.hasRoom()) {
      this.refuse();
      return false;
    }
    this.dropRun = 0;
    this.queue.push(message);
    this.queueMetrics.length(this.queue.length);
    this.kick();
    return true;
  }

  /** Records a message dropped for want of room (the caller saw hasRoom() false and did not encode it). */
  refuse(): void {
    this.noteDrop();
    this.restartIfStalled();
  }

  /**
   * Queues, waiting up to timeoutMs for room; FIFO among waiters so order is kept. Waiters give up
   * in FIFO order too: each at its deadline when the callers use one timeout per stream, as the
   * cluster client does (its RPC timeout).
   */
  put(message: OutgoingMessage, timeoutMs: number): Promise<void> {
    if (this.state === 'closed') {
      return Promise.reject(this.closedError('stream closed'));
    }
    if (this.tryPut(message)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ message, resolve, reject, deadlineMs: Date.now() + timeoutMs, timeoutMs, settled: false });
      this.armWaiterSweep();
      this.restartIfStalled();
      this.kick();
    });
  }

  /** The first waiter still waiting, dropping those already settled from the head. */
  private firstOpenWaiter(): Waiter | undefined {
    for (let w = this.waiters.peek(); w !== undefined && w.settled; w = this.waiters.peek()) this.waiters.shift();
    return this.waiters.peek();
  }

  private armWaiterSweep(): void {
    if (this.waiterSweep !== undefined || this.state === 'closed') return;
    const first = this.firstOpenWaiter();
    if (first === undefined) return;
    this.waiterSweep = setTimeout(() => {
      this.waiterSweep = undefined;
      this.expireWaiters();
    }, Math.max(0, first.deadlineMs - Date.now()));
  }

  /** Waiters past their deadline give up (SubmitTimeoutError): the message was never queued. */
  private expireWaiters(): void {
    const now = Date.now();
    for (let w = this.firstOpenWaiter(); w !== undefined && w.deadlineMs <= now; w = this.firstOpenWaiter()) {
      this.waiters.shift();
      w.settled = true;
      this.noteDrop();
      w.reject(new SubmitTimeoutError(this.options.channel, this.options.member.id, w.timeoutMs));
    }
    this.armWaiterSweep();
  }

  /** Final: drops what is queued, fails waiting submits, cancels the gRPC stream. */
  close(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.queueMetrics.closed();
    if (this.pumpSoon !== undefined) clearImmediate(this.pumpSoon);
    this.pumpSoon = undefined;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.endCall();
    for (const message of this.queue.drain()) {
      this.options.metrics.messageDropped(this.options.member.host, this.options.channel, this.options.kind);
      message.ack?.reject(this.closedError(reason)); // never handed to gRPC: not sent
    }
    if (this.waiterSweep !== undefined) clearTimeout(this.waiterSweep);
    this.waiterSweep = undefined;
    for (let w = this.waiters.shift(); w !== undefined; w = this.waiters.shift()) {
      if (w.settled) continue;
      w.settled = true;
      w.reject(this.closedError(reason));
    }
    this.logger.debug({ reason }, 'egress stream closed');
  }

  private kick(): void {
    if (this.state === 'idle') this.dial();
    else if (this.state !== 'open') return;
    else if (!this.peerBatches) this.pump();
    else if (this.pumpSoon === undefined) {
      this.pumpSoon = setImmediate(() => {
        this.pumpSoon = undefined;
        this.pump();
      });
    }
  }

  private dial(): void {
    this.state = 'dialing';
    const { connection, dialTimeoutMs } = this.options;
    connection.waitForReady(Date.now() + dialTimeoutMs, (err) => {
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
    const headers: Record<string, string> = { [NODE_ID_HEADER]: String(this.options.selfId) };
    const requestAcks = this.options.requestAcks === true;
    if (requestAcks) {
      headers[SUBMIT_ACK_HEADER] = SUBMIT_ACK_VERSION;
      if (this.options.requestBatches === true) headers[SUBMIT_BATCH_HEADER] = SUBMIT_BATCH_VERSION;
    }
    this.peerAcks = requestAcks ? 'unknown' : 'no';
    // The call's events come on later turns, after this.call is set; a call that is no longer
    // this.call (ended, replaced) tells nothing more (StepCall's contract).
    const call = this.options.connection.openStep(headers, {
      headers: (get) => {
        if (this.call !== call || this.peerAcks !== 'unknown') return;
        const acks = get(SUBMIT_ACK_HEADER) !== undefined;
        const peerMaxBytes = Number(get(SUBMIT_BATCH_MAX_BYTES_HEADER) ?? NaN);
        this.callMaxBatchBytes = Number.isSafeInteger(peerMaxBytes) && peerMaxBytes > 0 ? Math.min(this.maxBatchBytes, peerMaxBytes) : 0;
        this.peerBatches = acks && this.options.requestBatches === true && get(SUBMIT_BATCH_HEADER) !== undefined && this.callMaxBatchBytes > 0;
        this.decideAcks(acks ? 'yes' : 'no');
      },
      // Fabric 2.5 never answers on Step; a consensus stream's answers are read and dropped, which
      // keeps the response side from stalling.
      message: (bytes) => {
        if (this.call === call && requestAcks) this.answerArrived(bytes);
      },
      drain: () => {
        if (this.call !== call) return;
        this.writable = true;
        this.pump();
      },
      status: (code, details) => {
        if (this.call !== call) return;
        this.endCall();
        const ok = code === grpc.status.OK;
        this.failed(ok ? 'peer ended the stream' : `stream failed: ${grpc.status[code]}: ${details}`, this.snapshotsOnCall > 0, !ok);
      },
    });
    this.call = call;
    this.state = 'open';
    this.writable = true;
    this.inFlight = 0;
    this.peerBatches = false;
    this.writeStartedMs.drain();
    this.openedAtMs = Date.now();
    this.lastProgressAtMs = this.openedAtMs;
    this.snapshotsOnCall = 0;
    this.options.metrics.egressStreamsChanged(this.options.channel, 1);
    this.logger.debug('egress stream opened');
    if (requestAcks) {
      this.handshakeTimer = setTimeout(() => {
        this.handshakeTimer = undefined;
        if (this.call === call && this.peerAcks === 'unknown') this.decideAcks('no');
      }, this.options.ackHandshakeMs ?? DEFAULT_ACK_HANDSHAKE_MS);
      this.handshakeTimer.unref();
    }
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
      if (this.options.kind === 'submit') this.inFlightAcks.push(message.ack);
      let bytes: Uint8Array | Gathered;
      let count = 1;
      if (message.forward === undefined) bytes = message.bytes;
      else if (!this.peerBatches) bytes = encodeSubmitStep(this.options.channel, message.forward);
      else {
        const batch = this.takeBatch(message.forward);
        for (const m of batch.followers) this.inFlightAcks.push(m.ack);
        count += batch.followers.length;
        // Even one envelope goes as a batch: the leader then takes its bytes as they are, where a
        // SubmitRequest would be decoded into an Envelope and encoded again.
        bytes = encodeSubmitBatchStep(this.options.channel, message.forward.lastValidationSeq, batch.envelopes);
      }
      this.queueMetrics.length(this.queue.length);
      // inFlight counts envelopes, so sendBufferSize bounds what this stream holds however they are grouped.
      this.inFlight += count;
      // Writes complete in order: the oldest start time belongs to the next 'written'.
      this.writeStartedMs.push(performance.now());
      // write() returning false is the connection's backpressure: stop until drain.
      this.writable = call.write(bytes, () => this.written(call, count));
    }
  }

  /**
   * The forwards queued right behind `first` that can go in its SubmitBatch: checked against the
   * same config sequence (a batch carries one), within maxBatchBytes.
   */
  private takeBatch(first: ForwardedEnvelope): { envelopes: Uint8Array[]; followers: OutgoingMessage[] } {
    const envelopes = [first.envelope];
    const followers: OutgoingMessage[] = [];
    let sizeBytes = SUBMIT_BATCH_BASE_BYTES + this.options.channel.length * 3 + SUBMIT_BATCH_PER_ENVELOPE_BYTES + first.envelope.length;
    for (;;) {
      const next = this.queue.peek()?.forward;
      if (next === undefined || next.lastValidationSeq !== first.lastValidationSeq) break;
      const nextSizeBytes = sizeBytes + SUBMIT_BATCH_PER_ENVELOPE_BYTES + next.envelope.length;
      if (nextSizeBytes > this.callMaxBatchBytes) break;
      followers.push(this.queue.shift()!);
      envelopes.push(next.envelope);
      sizeBytes = nextSizeBytes;
    }
    return { envelopes, followers };
  }

  private written(call: StepCall, count: number): void {
    if (this.call !== call) return; // an earlier stream's write; inFlight was reset with it
    this.inFlight -= count;
    const startedMs = this.writeStartedMs.shift();
    if (startedMs !== undefined) this.queueMetrics.sent((performance.now() - startedMs) / 1000);
    if (this.options.kind === 'submit') {
      for (let i = 0; i < count; i++) {
        const handle = this.inFlightAcks.shift();
        // A peer without the extension: written is all we will ever know (Fabric's meaning).
        if (this.peerAcks === 'no') handle?.resolve({ kind: 'unacknowledged' });
        else this.awaitingAcks.push(handle);
      }
    }
    this.lastProgressAtMs = Date.now();
    this.pump();
  }

  private admitWaiters(): void {
    while (this.queuedCount < this.options.sendBufferSize) {
      const waiter = this.waiters.shift();
      if (waiter === undefined) break;
      if (waiter.settled) continue; // timed out while waiting
      waiter.settled = true;
      this.queue.push(waiter.message);
      waiter.resolve();
    }
    // Nobody left waiting: no sweep to run (it would keep the process alive until the deadline).
    if (this.waiters.length === 0 && this.waiterSweep !== undefined) {
      clearTimeout(this.waiterSweep);
      this.waiterSweep = undefined;
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

  /** The peer showed (or, by its silence, did not) that it answers submits. */
  private decideAcks(answer: 'yes' | 'no'): void {
    this.peerAcks = answer;
    if (this.handshakeTimer !== undefined) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    if (answer === 'yes') return;
    this.logger.debug('peer does not acknowledge forwarded envelopes (no extension): written counts as sent');
    for (const h of this.awaitingAcks.drain()) h?.resolve({ kind: 'unacknowledged' });
  }

  /** One StepResponse: the answer to the oldest written submit still waiting for one, or to as many as a batch held. */
  private answerArrived(bytes: Uint8Array): void {
    let response: orderer.StepResponse;
    try {
      response = orderer.StepResponse.decode(bytes);
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'undecodable answer on a submit stream, ignored');
      return;
    }
    const results = response.submitBatchRes?.results ?? (response.submitRes !== undefined ? [response.submitRes] : []);
    if (results.length === 0) return;
    if (this.peerAcks === 'no') {
      // Decided without the extension (its header came too late, if at all): the forwards on this
      // stream were settled as written, and its answers can no longer be paired with them.
      this.logger.debug('an answer on a stream taken for one without acknowledgements, ignored');
      return;
    }
    this.peerAcks = 'yes'; // an answer is proof enough
    for (const res of results) {
      if (this.awaitingAcks.length === 0) {
        this.logger.warn({ status: res.status, info: res.info }, 'an answer on a submit stream with no submit waiting for one, ignored');
        return;
      }
      this.awaitingAcks.shift()?.resolve({ kind: 'acked', status: res.status, info: res.info });
    }
  }

  private endCall(): void {
    const call = this.call;
    if (call === undefined) return;
    this.call = undefined;
    this.writable = false;
    if (this.handshakeTimer !== undefined) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    // Handed to gRPC but not answered: they may or may not have reached the peer.
    const unknown = [...this.inFlightAcks.drain(), ...this.awaitingAcks.drain()];
    for (const h of unknown) h?.reject(new SubmitFateUnknownError(this.options.channel, this.options.member.id, 'the stream ended before the answer'));
    this.inFlight = 0;
    this.writeStartedMs.drain(); // lost with the stream: gRPC may or may not have sent them
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
