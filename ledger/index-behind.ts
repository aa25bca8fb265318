// The tx-id index written behind the block commits, in sorted windows.
//
// The index is a B-tree keyed by tx id, and tx ids are random: a transaction of ids in block
// order dirties about one leaf page per id, and commits (copies, writes and syncs) every one of
// them, so each id cost a 4 KB page write and the cost grew with the index (7.6 µs of CPU per id
// on an empty index, 15 µs at a million ids, measured with lmdb-js on the 2-core machine). Here the
// ids of many blocks (a window: up to WINDOW_TX_IDS ids, or what came within the window's time) are
// sorted and written in chunks of CHUNK_TX_IDS, so each chunk covers a narrow range of keys and
// shares its pages: 2.2 µs per id on an empty index, 10 at a million. A chunk is one transaction,
// short enough not to stall the event loop (a window in one transaction did, README).
//
// Until its window's last chunk commits, an id is answered from memory (lookup). Only that last
// chunk records the window's height as indexed, so after a crash in the middle of a window open
// indexes its blocks again (the chunks written are first occurrences already: the puts keep them).
// The first chunk records the window's target height, so an index that holds such entries is never
// taken for one below a block file restored from an older copy (tx-index.ts bringUpToDate).
import type { TxLocation } from './block-store';
import type { Tip } from './lmdb-records';
import { isIndexedTxId } from './lmdb-records';
import type { IndexBlock, IndexEntry, TxIdIndex } from './tx-index';

/** A window is written once it holds this many ids, without waiting for its time. */
export const DEFAULT_INDEX_WINDOW_TX_IDS = 32_768;
/** Ids per transaction: 2,000 puts hold the event loop about 3 ms. */
export const DEFAULT_INDEX_CHUNK_TX_IDS = 2_000;
/** Pending ids are written at the latest this long after the first of them was committed. */
export const DEFAULT_INDEX_WINDOW_MS = 2_000;

export interface IndexBehindOptions {
  index: TxIdIndex;
  /** What the index holds at open. */
  indexedTip: Tip;
  windowMs: number;
  windowTxIds: number;
  chunkTxIds: number;
  /** The tip after durable block `number` (its header hash). */
  tipAfter(number: number): Tip;
  /** The store's recorded failure, if any: nothing is written after one. */
  failure(): Error | undefined;
  /** Records a failure of an index write and returns the error to throw. */
  fail(err: unknown, fromHeight: number, reason: 'write-failed' | 'conflict'): Error;
}

export class IndexBehind {
  /** Ids of durable blocks not yet recorded as indexed, first occurrence per id. */
  private readonly unindexed = new Map<string, TxLocation>();
  /** Durable blocks not yet in a window being written, in order. */
  private pendingBlocks: IndexBlock[] = [];
  private pendingTxIds = 0;
  private indexedTip: Tip;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: IndexBehindOptions) {
    this.indexedTip = o.indexedTip;
  }

  /** Where a tx id of a durable block not yet indexed first occurred. */
  lookup(txId: string): TxLocation | undefined {
    return this.unindexed.get(txId);
  }

  /** Consecutive durable blocks, visible to lookup() at once and written behind. */
  add(blocks: readonly IndexBlock[]): void {
    for (const block of blocks) {
      this.pendingBlocks.push(block);
      block.txIds.forEach((txId, txIndex) => {
        if (!isIndexedTxId(txId)) return;
        this.pendingTxIds++;
        if (!this.unindexed.has(txId)) this.unindexed.set(txId, { blockNumber: block.number, txIndex });
      });
    }
    this.schedule();
  }

  /** Writes everything pending; resolves when the index holds it all. */
  flush(): Promise<void> {
    return this.enqueue(true);
  }

  /** No more timed writes (close). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.pendingBlocks.length === 0) return;
    if (this.pendingTxIds >= this.o.windowTxIds) {
      if (this.flushing === undefined) void this.enqueue(false).catch(() => undefined); // fail() has recorded it
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.enqueue(true).catch(() => undefined);
    }, this.o.windowMs);
    this.timer.unref();
  }

  /** One writer at a time; `all`: also a last window smaller than WINDOW_TX_IDS. */
  private enqueue(all: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      while (this.pendingBlocks.length > 0 && (all || this.pendingTxIds >= this.o.windowTxIds)) {
        this.stop();
        // After a failed write nothing more is written: a later window recorded on top of the old
        // indexed height would hide the failed blocks' ids for good. The entries stay in memory
        // for lookups, and the next open re-indexes from the index's recorded height.
        const failure = this.o.failure();
        if (failure !== undefined) throw failure;
        await this.writeWindow(this.takeWindow());
      }
      this.schedule();
    };
    const flush = (this.flushing ?? Promise.resolve()).catch(() => undefined).then(run);
    this.flushing = flush;
    const done = (): void => {
      if (this.flushing === flush) this.flushing = undefined;
    };
    flush.then(done, done);
    return flush;
  }

  /** Whole blocks from the front of the pending ones, up to WINDOW_TX_IDS ids (at least one block). */
  private takeWindow(): IndexBlock[] {
    let ids = 0;
    let count = 0;
    while (count < this.pendingBlocks.length && (count === 0 || ids + this.pendingBlocks[count]!.txIds.length <= this.o.windowTxIds)) {
      ids += this.pendingBlocks[count]!.txIds.length;
      count++;
    }
    const window = this.pendingBlocks.splice(0, count);
    for (const block of window) for (const txId of block.txIds) if (isIndexedTxId(txId)) this.pendingTxIds--;
    return window;
  }

  private async writeWindow(blocks: IndexBlock[]): Promise<void> {
    const before = this.indexedTip;
    const first = blocks[0]!;
    const last = blocks[blocks.length - 1]!;
    let after: Tip = before;
    let applied = true;
    const putBack = (): void => {
      this.pendingBlocks = blocks.concat(this.pendingBlocks);
      for (const block of blocks) for (const txId of block.txIds) if (isIndexedTxId(txId)) this.pendingTxIds++;
    };
    try {
      if (first.number !== before.height) throw new Error(`pending index entries start at block ${first.number}, the index is at height ${before.height}`);
      after = this.o.tipAfter(last.number);
      const entries = sortedEntries(blocks);
      const chunks = Math.max(1, Math.ceil(entries.length / this.o.chunkTxIds));
      for (let c = 0; c < chunks && applied; c++) {
        const chunk = entries.slice(c * this.o.chunkTxIds, (c + 1) * this.o.chunkTxIds);
        applied = await this.o.index.writeChunk(chunk, before, after, { first: c === 0, last: c === chunks - 1 });
      }
    } catch (err) {
      putBack();
      throw this.o.fail(err, before.height, 'write-failed');
    }
    if (!applied) {
      putBack();
      throw this.o.fail(undefined, before.height, 'conflict');
    }
    this.indexedTip = after;
    for (const [txId, location] of this.unindexed) {
      if (location.blockNumber < after.height) this.unindexed.delete(txId);
    }
  }
}

/**
 * The window's index entries sorted by tx id, so that each chunk covers a narrow range of keys.
 * Hex ids sort as their packed keys do; any order would be correct, this one is for locality. The
 * sort is stable and the blocks are in order, so an id's first occurrence comes first and its put
 * is the one kept.
 */
function sortedEntries(blocks: readonly IndexBlock[]): IndexEntry[] {
  const entries: IndexEntry[] = [];
  for (const block of blocks) {
    block.txIds.forEach((txId, txIndex) => {
      if (isIndexedTxId(txId)) entries.push({ txId, blockNumber: block.number, txIndex });
    });
  }
  return entries.sort((a, b) => (a.txId < b.txId ? -1 : a.txId > b.txId ? 1 : 0));
}
