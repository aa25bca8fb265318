// The Chain's input queue (ticks, Raft messages, forwarded envelopes, timer expiries), fed to the
// Raft core between Readys. Bounded in bytes, with backpressure rather than silent drops:
//   - above the high-water mark, receiveBackpressure hands the cluster's receive side a promise
//     and it stops reading the peer's stream (HTTP/2 flow control holds the sender back) until
//     the loop has drained the queue below the low-water mark;
//   - a hard cap stays as the last resort: beyond it Raft messages and forwarded envelopes are
//     dropped (Raft retransmits; the follower that acknowledged an envelope keeps and resends
//     it), with one warning per episode. Inputs of the Chain itself (ticks, reports) are never
//     dropped: they are small and few.
import type { Logger } from 'pino';

export const DEFAULT_EVENT_QUEUE_HIGH_WATER_BYTES = 64 * 1024 * 1024;
export const DEFAULT_EVENT_QUEUE_LOW_WATER_BYTES = 16 * 1024 * 1024;
export const DEFAULT_EVENT_QUEUE_MAX_BYTES = 256 * 1024 * 1024;
/** Bound on the number of queued droppable inputs, whatever their size. */
export const MAX_QUEUED_EVENTS = 100_000;

export interface EventQueueOptions<T> {
  highWaterBytes: number;
  lowWaterBytes: number;
  maxBytes: number;
  maxEvents: number;
  /** Bytes an input holds while queued (an estimate: payload sizes plus a small constant). */
  sizeOf(ev: T): number;
  /** True for inputs the hard cap may drop (they come back by retransmission). */
  droppable(ev: T): boolean;
  logger: Logger;
}

export class EventQueue<T> {
  private items: T[] = [];
  private queuedBytes = 0;
  private room: { promise: Promise<void>; resolve: () => void } | undefined;
  /** Inputs dropped in the current episode (since the queue was last drained); 0: none. */
  private droppedInEpisode = 0;
  dropped = 0;

  constructor(private readonly o: EventQueueOptions<T>) {
    if (o.lowWaterBytes > o.highWaterBytes) throw new Error('event queue: low-water mark above high-water mark');
  }

  get length(): number {
    return this.items.length;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  /** Queues an input; false when the hard cap dropped it. */
  push(ev: T): boolean {
    const size = this.o.sizeOf(ev);
    if (this.o.droppable(ev) && (this.items.length >= this.o.maxEvents || this.queuedBytes + size > this.o.maxBytes)) {
      this.dropped++;
      if (this.droppedInEpisode++ === 0) {
        this.o.logger.warn(
          { queuedBytes: this.queuedBytes, queuedEvents: this.items.length, maxBytes: this.o.maxBytes },
          'event queue full: dropping Raft messages and forwarded envelopes until it drains (they are retransmitted)',
        );
      }
      return false;
    }
    this.items.push(ev);
    this.queuedBytes += size;
    return true;
  }

  /** Everything queued, in order; the queue is empty afterwards and waiting streams may read again. */
  take(): T[] {
    const batch = this.items;
    this.items = [];
    this.queuedBytes = 0;
    if (this.droppedInEpisode > 0) {
      this.o.logger.info({ dropped: this.droppedInEpisode }, 'event queue drained; inputs dropped while it was full');
      this.droppedInEpisode = 0;
    }
    this.releaseIfBelowLowWater();
    return batch;
  }

  /** Drops everything (the chain halted) and lets every waiting stream go. */
  clear(): void {
    this.items = [];
    this.queuedBytes = 0;
    this.droppedInEpisode = 0;
    this.release();
  }

  /** A promise while the queue is above its high-water mark: resolves once it drained below the low-water mark. */
  backpressure(): Promise<void> | undefined {
    if (this.room !== undefined) return this.room.promise;
    if (this.queuedBytes <= this.o.highWaterBytes) return undefined;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.room = { promise, resolve };
    return promise;
  }

  private releaseIfBelowLowWater(): void {
    if (this.queuedBytes <= this.o.lowWaterBytes) this.release();
  }

  private release(): void {
    const room = this.room;
    this.room = undefined;
    room?.resolve();
  }
}
