// The tx-id index written behind the block commits, in sorted windows.
//
// The index is a B-tree keyed by tx id, and tx ids are random: a transaction of ids in block
// order dirties about one leaf page per id, and commits (copies, writes and syncs) every one of
// them, so each id cost a 4 KB page write and the cost grew with the index (7.6 µs of CPU per id
// on an empty index, 15 µs at a million ids, measured with lmdb-js on the 2-core machine). Here the
// ids of many blocks (a window: up to WINDOW_TX_IDS ids, or what came within the window's time) are
// sorted by key and written in chunks of CHUNK_TX_IDS, so each chunk covers a narrow range of keys
// and shares its pages: 2.2 µs per id on an empty index, 10 at a million. A chunk is one
// transaction, short enough not to stall the event loop (a window in one transaction did, README).
//
// Until its window's last chunk commits, an id is answered from memory (lookup). Only that last
// chunk records the window's height as indexed, so after a crash in the middle of a window open
// indexes its blocks again (the chunks written are first occurrences already: the puts keep them).
// The first chunk records the window's target height, so an index that holds such entries is never
// taken for one below a block file restored from an older copy (tx-index.ts bringUpToDate).
import type { TxLocation } from './block-store';
import type { Tip } from './lmdb-records';
import { hexPrefix32, isIndexedTxId, txIdKey } from './lmdb-records';
import type { IndexBlock, IndexEntry, TxIdIndex } from './tx-index';

/** A window is written once it holds this many ids, without waiting for its time. */
export const DEFAULT_INDEX_WINDOW_TX_IDS = 32_768;
/**
 * Ids per transaction at least (500 puts hold the event loop about 1 ms); a big window is written in
 * at most MAX_CHUNKS_PER_WINDOW transactions, as each one commits and syncs (a full window of 32,768
 * ids in chunks of 500 cost the unsigned benchmark what the windows had saved).
 */
export const DEFAULT_INDEX_CHUNK_TX_IDS = 500;
const MAX_CHUNKS_PER_WINDOW = 16;
/**
 * Pause between two chunks of a window while no full window waits behind it. Back to back, a 2 s
 * window's commits came as one burst of page writes and syncs, and the WAL's syncs behind them
 * were what a fixed-rate run's p99 caught (1,400 envelopes/s: 49-55 ms unsigned and 60-67 signed,
 * against 43-44 and 52-55 paced).
 */
export const DEFAULT_INDEX_CHUNK_GAP_MS = 20;
/** Pending ids are written at the latest this long after the first of them was committed. */
export const DEFAULT_INDEX_WINDOW_MS = 2_000;

export interface IndexBehindOptions {
  index: TxIdIndex;
  /** What the index holds at open. */
  indexedTip: Tip;
  windowMs: number;
  windowTxIds: number;
  chunkTxIds: number;
  chunkGapMs: number;
  /** The tip after durable block `number` (its header hash). */
  tipAfter(number: number): Tip;
  /** The store's recorded failure, if any: nothing is written after one. */
  failure(): Error | undefined;
  /** Records a failure of an index write and returns the error to throw. */
  fail(err: unknown, fromHeight: number, reason: 'write-failed' | 'conflict'): Error;
}

// Not unref'd: close() awaits a window's last chunks, and an unref'd pause let a process with
// nothing else to wait for exit in the middle of its close.
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What starts a run of window writes: enough ids, the window's time, or a caller who waits for all. */
type RunCause = 'count' | 'time' | 'flush';

export class IndexBehind {
  /** Ids of durable blocks not yet recorded as indexed, first occurrence per id, in block order. */
  private readonly unindexed = new Map<string, TxLocation>();
  /** Durable blocks not yet in a window being written, in order. */
  private pendingBlocks: IndexBlock[] = [];
  private pendingTxIds = 0;
  private indexedTip: Tip;
  private flushing: Promise<void> | undefined;
  /** A run for 'count' is queued and has not started: another one would find nothing more to do. */
  private countRunQueued = false;
  private timer: NodeJS.Timeout | undefined;
  /** Flushes asked for and not yet done: chunks are written back to back while any waits. */
  private flushesWaiting = 0;

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

  /** Writes everything pending now; resolves when the index holds it. */
  flush(): Promise<void> {
    this.flushesWaiting++;
    const flushed = this.enqueue('flush');
    const done = (): void => {
      this.flushesWaiting--;
    };
    flushed.then(done, done);
    return flushed;
  }

  /** No more timed writes (close). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.pendingBlocks.length === 0) return;
    if (this.pendingTxIds >= this.o.windowTxIds) {
      // Queued even while a run is under way: that run may be past its last look at the count.
      if (!this.countRunQueued) void this.enqueue('count').catch(() => undefined); // fail() has recorded it
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.enqueue('time').catch(() => undefined);
    }, this.o.windowMs);
    this.timer.unref();
  }

  /**
   * One run at a time, each after the one before. A 'count' run writes full windows while there
   * are enough ids; 'time' and 'flush' write the blocks pending when they were asked for, and no
   * more: blocks that keep arriving meanwhile wait for their own window instead of being written
   * a few at a time.
   */
  private enqueue(cause: RunCause): Promise<void> {
    const last = this.pendingBlocks[this.pendingBlocks.length - 1];
    const until = cause === 'count' ? Infinity : last === undefined ? -1 : last.number;
    if (cause === 'count') this.countRunQueued = true;
    const run = async (): Promise<void> => {
      if (cause === 'count') this.countRunQueued = false;
      for (;;) {
        const next = this.pendingBlocks[0];
        if (next === undefined || next.number > until) break;
        if (cause === 'count' && this.pendingTxIds < this.o.windowTxIds) break;
        this.stop();
        // After a failed write nothing more is written: a later window recorded on top of the old
        // indexed height would hide the failed blocks' ids for good. The entries stay in memory
        // for lookups, and the next open re-indexes from the index's recorded height.
        const failure = this.o.failure();
        if (failure !== undefined) throw failure;
        await this.writeWindow(this.takeWindow(until));
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

  /** Whole blocks from the front of the pending ones, numbered up to `until`, up to WINDOW_TX_IDS ids (at least one block). */
  private takeWindow(until: number): IndexBlock[] {
    let ids = 0;
    let count = 0;
    for (;;) {
      const block = this.pendingBlocks[count];
      if (block === undefined || block.number > until || (count > 0 && ids + block.txIds.length > this.o.windowTxIds)) break;
      ids += block.txIds.length;
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
      const window = sortWindow(blocks);
      const count = window.order.length;
      const perChunk = Math.max(this.o.chunkTxIds, Math.ceil(count / MAX_CHUNKS_PER_WINDOW));
      const chunks = Math.max(1, Math.ceil(count / perChunk));
      for (let c = 0; c < chunks && applied; c++) {
        const chunk: IndexEntry[] = [];
        for (let k = c * perChunk; k < Math.min(count, (c + 1) * perChunk); k++) {
          const i = window.order[k]!;
          const block = blocks[window.blockOf[i]!]!;
          const txIndex = window.positionOf[i]!;
          chunk.push({ txId: block.txIds[txIndex]!, blockNumber: block.number, txIndex });
        }
        applied = await this.o.index.writeChunk(chunk, before, after, { first: c === 0, last: c === chunks - 1 });
        // Paced while the writes keep up; a full window waiting behind this one gets no pauses.
        // Not when a flush (close) waits: it wants the index written now.
        if (c < chunks - 1 && this.o.chunkGapMs > 0 && this.pendingTxIds < this.o.windowTxIds && this.flushesWaiting === 0) await sleep(this.o.chunkGapMs);
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
    // In block order (first occurrences are inserted as their blocks come): the window's ids are
    // at the front, so the sweep stops at the first id of a later block.
    for (const [txId, location] of this.unindexed) {
      if (location.blockNumber >= after.height) break;
      this.unindexed.delete(txId);
    }
  }
}

/** The order to write a window's ids in: entry k is blocks[blockOf[order[k]]].txIds[positionOf[order[k]]]. */
interface SortedWindow {
  readonly blockOf: Int32Array;
  readonly positionOf: Int32Array;
  readonly order: Int32Array;
}

/** Positions within a window that fit beside a 32-bit key prefix in a double's 53 bits. */
const POSITION_BITS = 21;
const POSITION_SPAN = 2 ** POSITION_BITS;

/**
 * The window's ids in the order of their index keys, each key's occurrences in block order, so
 * that each chunk covers a narrow range of keys and an id's first occurrence is put first (and
 * kept). Ids starting with 8 hex characters (Fabric's, packed) sort by those 32 bits with their
 * position below them, as doubles, which a typed array sorts natively: a comparator sort of
 * 32,768 ids held the event loop for 20-40 ms, this about 5. Ids with one key share the prefix
 * (hexPrefix32), so they stay in position order; ids that share only the prefix land in position
 * order too, which costs nothing but locality. Any other id is ordered by its key bytes, after
 * the packed ones, as the key tags order them in the index.
 */
function sortWindow(blocks: readonly IndexBlock[]): SortedWindow {
  let total = 0;
  for (const block of blocks) total += block.txIds.length;
  const blockOf = new Int32Array(total);
  const positionOf = new Int32Array(total);
  const packed = new Float64Array(total);
  let packedCount = 0;
  const others: number[] = [];
  let count = 0;
  for (let b = 0; b < blocks.length; b++) {
    const txIds = blocks[b]!.txIds;
    for (let position = 0; position < txIds.length; position++) {
      const txId = txIds[position]!;
      if (!isIndexedTxId(txId)) continue;
      const i = count++;
      blockOf[i] = b;
      positionOf[i] = position;
      const prefix = hexPrefix32(txId);
      if (prefix >= 0 && i < POSITION_SPAN) packed[packedCount++] = prefix * POSITION_SPAN + i;
      else others.push(i);
    }
  }
  const sortedPacked = packed.subarray(0, packedCount).sort();
  const order = new Int32Array(count);
  for (let k = 0; k < packedCount; k++) order[k] = sortedPacked[k]! % POSITION_SPAN;
  if (others.length > 0) {
    const keyOf = (i: number): Buffer => txIdKey(blocks[blockOf[i]!]!.txIds[positionOf[i]!]!)!;
    const keys = new Map(others.map((i) => [i, keyOf(i)]));
    others.sort((a, b) => Buffer.compare(keys.get(a)!, keys.get(b)!) || a - b);
    order.set(others, packedCount);
  }
  return { blockOf, positionOf, order };
}
