// The iterator behind BlockStore.iterate. Written as a class rather than an async generator because a
// generator cannot be stopped while it awaits: its return() would queue behind the pending next(),
// i.e. a Deliver stream whose client went away would hold its reader until the next block arrived.
import type { BlockIterator, StoredBlock } from './block-store';
import type { HeightNotifier } from './height-notifier';

/** What an iterator needs from its store. */
export interface IteratorSource {
  height(): number;
  getBlock(number: number): StoredBlock | undefined;
  /** Defined once the store is closed: what a pending or later next() rejects with. */
  closedError(): Error | undefined;
  readonly notifier: HeightNotifier;
  iteratorFinished(): void;
}

const DONE: IteratorResult<StoredBlock> = { done: true, value: undefined };

export class StoreBlockIterator implements BlockIterator {
  private nextNumber: number;
  private finished = false;
  /** Set while next() is waiting: cancels the subscription and resumes next(). */
  private cancelWait: (() => void) | undefined;
  /** next() calls run one after another, as for-await and manual callers expect. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly onAbort = (): void => {
    this.finish();
  };

  constructor(
    private readonly source: IteratorSource,
    fromNumber: number,
    private readonly signal?: AbortSignal,
  ) {
    if (!Number.isSafeInteger(fromNumber) || fromNumber < 0) throw new RangeError(`bad start block ${fromNumber}`);
    this.nextNumber = fromNumber;
    if (signal?.aborted) this.finish();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<StoredBlock>> {
    const result = this.tail.then(() => this.step());
    this.tail = result.catch(() => undefined);
    return result;
  }

  return(): Promise<IteratorResult<StoredBlock>> {
    this.finish();
    return Promise.resolve(DONE);
  }

  private async step(): Promise<IteratorResult<StoredBlock>> {
    for (;;) {
      if (this.finished) return DONE;
      const closed = this.source.closedError();
      if (closed !== undefined) {
        this.finish();
        throw closed;
      }
      if (this.nextNumber < this.source.height()) {
        let block: StoredBlock | undefined;
        try {
          block = this.source.getBlock(this.nextNumber);
        } catch (err) {
          this.finish(); // a corrupt block ends the stream: later blocks cannot be trusted in order
          throw err;
        }
        if (block === undefined) throw new Error(`block ${this.nextNumber} vanished below height`);
        this.nextNumber++;
        return { done: false, value: block };
      }
      await new Promise<void>((resume) => {
        const unsubscribe = this.source.notifier.subscribe(() => {
          this.cancelWait = undefined;
          resume();
        });
        this.cancelWait = () => {
          unsubscribe();
          this.cancelWait = undefined;
          resume();
        };
      });
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.cancelWait?.();
    this.source.iteratorFinished();
  }
}
