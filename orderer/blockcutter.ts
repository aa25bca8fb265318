// The block cutter: groups normal envelopes into batches, one batch per block.
// Rules are Fabric's (reference §3.4), where a message's size is
// len(payload) + len(signature):
//   1. size > PreferredMaxBytes: the pending batch (if any) is cut, then the message
//      alone becomes a batch; nothing stays pending.
//   2. pendingBytes + size > PreferredMaxBytes: the pending batch is cut first, then
//      the message is enqueued.
//   3. after enqueueing, count >= MaxMessageCount: the pending batch is cut.
// AbsoluteMaxBytes is not checked here: Broadcast rejects oversized envelopes before
// they reach the cutter.
//
// The cutter is pure (no clock). The batch timer belongs to the chain; the contract,
// implemented by BatchTimer below, is Fabric's:
//   - after ordered(): if result.pending and no timer runs, start one for the current
//     BatchTimeout; if !result.pending, stop the timer. A timer already running is
//     NOT restarted when a batch is cut and a new one begins in the same call.
//   - on expiry: call cut(); an empty result is possible (a race with a cut by size)
//     and means "nothing to do".
//   - whenever the chain drops the pending batch (leadership lost) or cuts it for a
//     config block, stop the timer.
import { common } from '../protos';

/** The batch settings the cutter follows (from /Channel/Orderer/BatchSize). */
export interface BatchLimits {
  /** A batch is cut as soon as it holds this many messages. */
  readonly maxMessageCount: number;
  /** A batch is cut before it would grow beyond this many bytes. */
  readonly preferredMaxBytes: number;
}

export interface OrderedResult {
  /** Batches cut by this call, oldest first (0, 1 or 2 of them). */
  readonly batches: Uint8Array[][];
  /** Whether envelopes are left waiting in the pending batch. */
  readonly pending: boolean;
}

/** Fabric's message size: payload plus signature, not the marshaled envelope. */
export function envelopeMessageSizeBytes(envelope: Pick<common.Envelope, 'payload' | 'signature'>): number {
  return envelope.payload.length + envelope.signature.length;
}

function checkLimits(limits: BatchLimits): BatchLimits {
  // Channel config validation already rejects zeros; a zero here would make every
  // message a batch of its own (or never cut), so fail loudly rather than misbehave.
  if (!Number.isSafeInteger(limits.maxMessageCount) || limits.maxMessageCount < 1) {
    throw new RangeError(`maxMessageCount must be a positive integer, got ${limits.maxMessageCount}`);
  }
  if (!Number.isSafeInteger(limits.preferredMaxBytes) || limits.preferredMaxBytes < 1) {
    throw new RangeError(`preferredMaxBytes must be a positive integer, got ${limits.preferredMaxBytes}`);
  }
  return Object.freeze({ maxMessageCount: limits.maxMessageCount, preferredMaxBytes: limits.preferredMaxBytes });
}

export class BlockCutter {
  private limits: BatchLimits;
  private pendingBatch: Uint8Array[] = [];
  private pendingBatchBytes = 0;

  constructor(limits: BatchLimits) {
    this.limits = checkLimits(limits);
  }

  /**
   * New batch settings after a config block. They apply from the next ordered()
   * call: a pending batch is never cut by the change alone (Fabric reads the settings
   * per message, so a lowered MaxMessageCount takes effect on the next enqueue).
   */
  updateLimits(limits: BatchLimits): void {
    this.limits = checkLimits(limits);
  }

  get currentLimits(): BatchLimits {
    return this.limits;
  }

  /** Envelopes waiting in the pending batch. */
  get pendingCount(): number {
    return this.pendingBatch.length;
  }

  /** Sum of the message sizes (payload + signature) in the pending batch. */
  get pendingBytes(): number {
    return this.pendingBatchBytes;
  }

  /**
   * Offers one envelope. `envelopeBytes` is stored as is (it becomes a block data
   * item); `messageSizeBytes` must be envelopeMessageSizeBytes() of that envelope.
   */
  ordered(envelopeBytes: Uint8Array, messageSizeBytes: number): OrderedResult {
    if (!Number.isSafeInteger(messageSizeBytes) || messageSizeBytes < 0) {
      throw new RangeError(`messageSizeBytes must be a non-negative integer, got ${messageSizeBytes}`);
    }
    const { maxMessageCount, preferredMaxBytes } = this.limits;
    const batches: Uint8Array[][] = [];

    // Rule 1: a message too big for any batch travels alone, after whatever waited.
    if (messageSizeBytes > preferredMaxBytes) {
      if (this.pendingBatch.length > 0) batches.push(this.cut());
      batches.push([envelopeBytes]);
      return { batches, pending: false };
    }

    // Rule 2: keep batches under the preferred size by cutting before the overflow.
    // (With nothing pending this cannot trigger: the size alone fits, per rule 1.)
    if (this.pendingBatchBytes + messageSizeBytes > preferredMaxBytes) {
      batches.push(this.cut());
    }

    this.pendingBatch.push(envelopeBytes);
    this.pendingBatchBytes += messageSizeBytes;

    // Rule 3: the count limit, checked after enqueueing.
    if (this.pendingBatch.length >= maxMessageCount) {
      batches.push(this.cut());
    }

    return { batches, pending: this.pendingBatch.length > 0 };
  }

  /** Takes the pending batch (possibly empty) and starts a new one. */
  cut(): Uint8Array[] {
    const batch = this.pendingBatch;
    this.pendingBatch = [];
    this.pendingBatchBytes = 0;
    return batch;
  }
}

/** Schedules a callback; returns a function cancelling it. Injected so tests and the
 *  simulator control time (setTimeout in production). */
export type ScheduleFn = (delayMs: number, callback: () => void) => () => void;

/**
 * The batch timer contract described at the top of this file, as a helper the chain
 * can use. It does not cut by itself: `onExpire` is called and the chain decides
 * (normally: `const batch = cutter.cut(); if (batch.length > 0) createBlock(batch)`).
 */
export class BatchTimer {
  private cancel: (() => void) | undefined;

  constructor(
    private readonly schedule: ScheduleFn,
    private readonly onExpire: () => void,
  ) {}

  get running(): boolean {
    return this.cancel !== undefined;
  }

  /** Call after every BlockCutter.ordered() with its `pending` flag. */
  afterOrdered(pending: boolean, batchTimeoutMs: number): void {
    if (!pending) {
      this.stop();
      return;
    }
    if (this.cancel !== undefined) return; // Fabric keeps a running timer; never restarts it.
    if (!(batchTimeoutMs > 0)) throw new RangeError(`batchTimeoutMs must be positive, got ${batchTimeoutMs}`);
    this.cancel = this.schedule(batchTimeoutMs, () => {
      this.cancel = undefined;
      this.onExpire();
    });
  }

  /** Stops the timer, if running (batch cut elsewhere, leadership lost, chain halted). */
  stop(): void {
    const cancel = this.cancel;
    this.cancel = undefined;
    if (cancel !== undefined) cancel();
  }
}
