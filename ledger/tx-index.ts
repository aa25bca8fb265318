// The tx-id index of a channel store, in an LMDB environment of its own: <channel dir>/txindex/.
// Why not beside the blocks: index inserts and lookups land on random B-tree pages, and when those
// pages shared a file with the blocks, each page fault made Linux's fault-around map the
// neighbouring page-cache pages too, which were block pages, so every orderer's RSS grew with its
// whole ledger (README, Ledger). Here the neighbours are index pages, and appends read the block
// file through its map only at the end of its B-tree.
//
// Named databases:
//   txids:   tagged tx_id (txIdKey) → block number ‖ position (first occurrence wins)
//   meta:    "indexed" → height ‖ hash(last header) of what is indexed, LMDB version = height;
//            "writing" → height ‖ hash of the window being written in chunks (index-behind.ts):
//            entries of blocks up to it may be in txids already; absent between windows;
//            "format" → the layout version of this environment
//
// The block environment is the source of truth. The store writes index entries only for blocks
// whose commit is durable, behind the appends (lmdb-block-store.ts), so a crash can leave the
// index behind the blocks, never ahead: open catches it up from the blocks. An index ahead of the
// blocks (the block file restored from an older copy), of another chain, or unreadable (damaged
// LMDB file, lmdb-file-check.ts) is rebuilt: its directory is removed only when it holds nothing but
// LMDB's own files (lmdb-env-dir.ts).
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { Logger } from 'pino';
import { storedBlockLength, type StoredBlock, type TxLocation } from './block-store';
import { envelopeTxIdOrEmpty } from './block';
import { fsyncDirSync, mkdirDurableSync } from './durable-dir';
import { bytesEqual } from './hash';
import { removeLmdbEnvDir } from './lmdb-env-dir';
import { checkLmdbDataFile, LMDB_DATA_FILE, OPEN_CHECK_MAX_TREE_PAGES, type LmdbFileReport } from './lmdb-file-check';
import { guardLmdb, guardLmdbAsync, settleFailedCommit } from './lmdb-guard';
import {
  BINARY_DB_OPTIONS,
  decodeTip,
  decodeTxLocation,
  EMPTY,
  EMPTY_TIP,
  encodeTip,
  encodeTxLocation,
  txIdKey,
  type Bytes,
  type Tip,
} from './lmdb-records';

export const TX_INDEX_DIR = 'txindex';
const INDEXED_KEY = Buffer.from('indexed');
const WRITING_KEY = Buffer.from('writing');
const FORMAT_KEY = Buffer.from('format');
/** 2: tagged keys, Fabric's hex tx ids packed into 32 bytes (lmdb-records.ts txIdKey). An index of
 * another format is rebuilt from the blocks at open. */
const INDEX_FORMAT_VERSION = 2;
/**
 * Address space reserved for the index's memory map (not memory, not disk). lmdb-js grows a map by
 * doubling and keeps every earlier map alive until close (its fork of mdb_env_set_mapsize), so each
 * index page touched before a resize stays resident twice; reserving this much up front means no
 * resize before the index holds some 400 million tx ids.
 */
const INDEX_MAP_BYTES = 64 * 1024 * 1024 * 1024;
/** Catching up reads at most this many block bytes per index transaction. */
const CATCH_UP_CHUNK_BYTES = 64 * 1024 * 1024;

/** What the index needs of an appended block. */
export interface IndexBlock {
  number: number;
  /** Every envelope's tx id in block order; empty or over-long ids are not indexed. */
  txIds: readonly string[];
}

/** The block store as the index sees it while it is opened: the truth to match. */
export interface IndexSource {
  tip: Tip;
  /** A stored block, decoded and checked; throws CorruptionError when it is damaged. */
  readBlock(number: number): StoredBlock;
}

/** One tx id of a window, where it occurred. */
export interface IndexEntry {
  txId: string;
  blockNumber: number;
  txIndex: number;
}

/** One options object for every index put: a literal per put was one more allocation per tx id. */
const NO_OVERWRITE = Object.freeze({ noOverwrite: true });

function indexedKeys(txIds: readonly string[]): { key: Buffer; txIndex: number }[] {
  const out: { key: Buffer; txIndex: number }[] = [];
  txIds.forEach((txId, txIndex) => {
    const key = txIdKey(txId);
    if (key !== undefined) out.push({ key, txIndex });
  });
  return out;
}

export class TxIdIndex {
  private blockBytesReadTotal = 0;
  /** The environment's data file, named in every CorruptionError about it. */
  readonly dataFile: string;

  private constructor(
    readonly location: string,
    private readonly env: RootDatabase,
    private readonly txIdsDb: Database<Bytes, Buffer>,
    private readonly metaDb: Database<Bytes, Buffer>,
    private readonly logger: Logger,
  ) {
    this.dataFile = path.join(location, LMDB_DATA_FILE);
  }

  /**
   * Opens the environment, creating its directory durably; rejects when it is damaged (checked
   * before lmdb-js maps it: CorruptionError), unreadable, or not an index this code wrote.
   */
  static async openEnv(location: string, logger: Logger): Promise<TxIdIndex> {
    mkdirDurableSync(location);
    const report: LmdbFileReport = checkLmdbDataFile(location, { maxTreePages: OPEN_CHECK_MAX_TREE_PAGES });
    const dataFile = path.join(location, LMDB_DATA_FILE);
    const env = guardLmdb(dataFile, () => open({
      path: location,
      maxDbs: 4,
      mapSize: INDEX_MAP_BYTES,
      // Same durability as the blocks: an append is acknowledged only when both commits are synced.
      overlappingSync: false,
      compression: false,
      encoding: 'binary',
      keyEncoding: 'binary',
    }));
    try {
      const txIdsDb: Database<Bytes, Buffer> = guardLmdb(dataFile, () => env.openDB('txids', BINARY_DB_OPTIONS));
      const metaDb: Database<Bytes, Buffer> = guardLmdb(dataFile, () => env.openDB('meta', { ...BINARY_DB_OPTIONS, useVersions: true }));
      guardLmdb(dataFile, () => env.transactionSync(() => {
        const format = metaDb.get(FORMAT_KEY);
        const recorded = decodeTip(metaDb.get(INDEXED_KEY), 'indexed');
        if (format === undefined && recorded === undefined) {
          if (txIdsDb.getKeysCount({ limit: 1 }) > 0) throw new Error('tx ids are stored but no indexed height is recorded');
          metaDb.putSync(FORMAT_KEY, Buffer.from([INDEX_FORMAT_VERSION]));
          metaDb.putSync(INDEXED_KEY, encodeTip(EMPTY_TIP), 0);
          return;
        }
        if (format?.length !== 1 || format[0] !== INDEX_FORMAT_VERSION) throw new Error(`index format ${format?.[0] ?? 'missing'}, expected ${INDEX_FORMAT_VERSION}`);
        if (recorded === undefined) throw new Error('no indexed height is recorded');
      }));
      // LMDB created data.mdb and lock.mdb (and synced the data) but not their directory entries.
      if (report.state === 'absent') fsyncDirSync(location);
      return new TxIdIndex(location, env, txIdsDb, metaDb, logger);
    } catch (err) {
      await env.close();
      throw err;
    }
  }

  /** Bytes of blocks read to catch up since the environment was opened. */
  get blockBytesRead(): number {
    return this.blockBytesReadTotal;
  }

  /** Where the tx id first occurred, whatever the block height: the store filters by its height. */
  get(key: Buffer): TxLocation | undefined {
    const value = guardLmdb(this.dataFile, () => this.txIdsDb.get(key));
    return value === undefined ? undefined : decodeTxLocation(value);
  }

  /**
   * Queues the index writes of consecutive durable blocks, to be applied only if the index is still
   * at `before.height` (checked inside the write transaction). Resolves once the commit is synced:
   * true when applied, false when the index had moved.
   */
  write(blocks: readonly IndexBlock[], before: Tip, after: Tip): Promise<boolean> {
    // Consecutive from the indexed height, or the recorded height would claim blocks never indexed.
    blocks.forEach((block, i) => {
      if (block.number !== before.height + i) throw new Error(`index write of block ${block.number} at position ${i} does not continue height ${before.height}`);
    });
    if (after.height !== before.height + blocks.length) throw new Error(`index write of ${blocks.length} blocks from ${before.height} cannot end at height ${after.height}`);
    // One write transaction whose callback runs on this thread: the puts inside are written at
    // once, with no promise and no queued-write record each (lmdb-js's asynchronous put made both
    // per tx id, kept until the commit, about 2,000 ids later); the commit and its sync still
    // happen off this thread, and the promise settles after them. The index's writer thread waits
    // for this thread to run the callback; the blocks have their own environment and writer
    // (which is why the block store, whose commits acknowledge Broadcasts, queues its writes).
    const written = this.metaDb.transaction((): boolean => {
      if (this.metaDb.getEntry(INDEXED_KEY)?.version !== before.height) return false;
      for (const block of blocks) {
        for (const { key, txIndex } of indexedKeys(block.txIds)) {
          // MDB_NOOVERWRITE: an id already indexed (earlier block, or earlier in this batch) keeps its entry.
          this.txIdsDb.putSync(key, encodeTxLocation(block.number, txIndex), NO_OVERWRITE);
        }
      }
      this.metaDb.putSync(INDEXED_KEY, encodeTip(after), after.height);
      // A window cut short by a crash is covered once the catch-up passes its target.
      const writing = decodeTip(this.metaDb.get(WRITING_KEY), 'writing');
      if (writing !== undefined && writing.height <= after.height) this.metaDb.removeSync(WRITING_KEY);
      return true;
    });
    // The failure itself reaches the caller through the returned promise; this logs LMDB's reason.
    return guardLmdbAsync(this.dataFile, () =>
      written.catch((err: unknown) => {
        settleFailedCommit(err, this.env, (cause) => this.logger.error({ err: cause, file: this.dataFile, from: before.height }, 'lmdb-js: why the commit of tx-id index entries failed'));
        throw err;
      }),
    );
  }

  /**
   * One chunk of a window of blocks (before, after]: its entries are put (an id already indexed
   * keeps its entry), applied only if the index is still at `before.height`. The first chunk
   * records the window's target ("writing"), the last one records it as indexed. Resolves once
   * the commit is synced: true when applied, false when the index had moved.
   */
  writeChunk(entries: readonly IndexEntry[], before: Tip, after: Tip, chunk: { first: boolean; last: boolean }): Promise<boolean> {
    if (after.height <= before.height) throw new Error(`index window from ${before.height} cannot end at height ${after.height}`);
    const written = this.metaDb.transaction((): boolean => {
      if (this.metaDb.getEntry(INDEXED_KEY)?.version !== before.height) return false;
      if (chunk.first && !chunk.last) this.metaDb.putSync(WRITING_KEY, encodeTip(after));
      for (const e of entries) {
        const key = txIdKey(e.txId);
        if (key !== undefined) this.txIdsDb.putSync(key, encodeTxLocation(e.blockNumber, e.txIndex), NO_OVERWRITE);
      }
      if (chunk.last) {
        this.metaDb.putSync(INDEXED_KEY, encodeTip(after), after.height);
        if (!chunk.first) this.metaDb.removeSync(WRITING_KEY);
      }
      return true;
    });
    return guardLmdbAsync(this.dataFile, () =>
      written.catch((err: unknown) => {
        settleFailedCommit(err, this.env, (cause) => this.logger.error({ err: cause, file: this.dataFile, from: before.height }, 'lmdb-js: why the commit of tx-id index entries failed'));
        throw err;
      }),
    );
  }

  /** The window being written when the index was last closed or the process died, if any. */
  writing(): Tip | undefined {
    return decodeTip(guardLmdb(this.dataFile, () => this.metaDb.get(WRITING_KEY)), 'writing');
  }

  /** Reads what is recorded as indexed now. */
  indexed(): Tip {
    return decodeTip(guardLmdb(this.dataFile, () => this.metaDb.get(INDEXED_KEY)), 'indexed') ?? EMPTY_TIP;
  }

  /** Indexes the stored blocks from the index's height up to `source.tip`. Returns the block count. */
  async catchUp(source: IndexSource): Promise<number> {
    let indexed = this.indexed();
    const start = indexed.height;
    while (indexed.height < source.tip.height) {
      const blocks: IndexBlock[] = [];
      let bytes = 0;
      let next: Tip = indexed;
      while (next.height < source.tip.height && bytes < CATCH_UP_CHUNK_BYTES) {
        const stored = source.readBlock(next.height);
        blocks.push({ number: stored.number, txIds: (stored.block.data?.data ?? []).map(envelopeTxIdOrEmpty) });
        bytes += storedBlockLength(stored);
        this.blockBytesReadTotal += storedBlockLength(stored);
        next = { height: stored.number + 1, lastHash: stored.headerHash };
      }
      if (!(await this.write(blocks, indexed, next))) {
        throw new Error(`the tx-id index ${this.location} moved from height ${indexed.height} while it was being caught up`);
      }
      indexed = next;
    }
    return indexed.height - start;
  }

  close(): Promise<void> {
    return this.env.close();
  }
}

/** The hash the block store has for `height` (the header hash of block height-1). */
function hashAt(source: IndexSource, height: number): Uint8Array {
  if (height === 0) return EMPTY;
  if (height === source.tip.height) return source.tip.lastHash;
  return source.readBlock(height - 1).headerHash;
}

/**
 * Brings an opened index to the block store's tip. Returns why it has to be rebuilt instead, or
 * undefined when it now matches.
 */
async function bringUpToDate(index: TxIdIndex, source: IndexSource, logger: Logger): Promise<string | undefined> {
  const indexed = index.indexed();
  const { tip } = source;
  if (indexed.height > tip.height) {
    return `it is at height ${indexed.height}, above the block height ${tip.height}: the blocks are older than the index`;
  }
  if (!bytesEqual(indexed.lastHash, hashAt(source, indexed.height))) {
    return `its block ${indexed.height - 1} has a different header hash than the stored one: it indexes another chain`;
  }
  // A window cut short holds entries of blocks up to its target: those blocks must be these.
  const writing = index.writing();
  if (writing !== undefined && writing.height > tip.height) {
    return `it holds entries of blocks up to height ${writing.height}, above the block height ${tip.height}: the blocks are older than the index`;
  }
  if (writing !== undefined && !bytesEqual(writing.lastHash, hashAt(source, writing.height))) {
    return `it holds entries of a block ${writing.height - 1} whose header hash differs from the stored one: it indexes another chain`;
  }
  if (indexed.height < tip.height) {
    logger.info({ blocks: tip.height - indexed.height, from: indexed.height, height: tip.height }, 're-indexing tx ids of blocks missing from the index');
    const startedMs = Date.now();
    const caughtUp = await index.catchUp(source);
    logger.info({ blocks: caughtUp, from: indexed.height, height: tip.height, ms: Date.now() - startedMs }, 're-indexed tx ids of blocks missing from the index');
  }
  return undefined;
}

/**
 * Opens the tx-id index of the channel store in `channelDir` and brings it to `source.tip`:
 * catches up, undoes or rebuilds as needed. The caller must own the channel store.
 */
export async function openTxIdIndex(channelDir: string, source: IndexSource, logger: Logger): Promise<TxIdIndex> {
  const location = path.join(channelDir, TX_INDEX_DIR);
  let index: TxIdIndex | undefined;
  try {
    index = await TxIdIndex.openEnv(location, logger);
  } catch (err) {
    logger.warn({ path: location, err }, 'the tx-id index cannot be opened; deleting it and rebuilding it from the blocks');
  }
  try {
    if (index !== undefined) {
      const problem = await bringUpToDate(index, source, logger);
      if (problem === undefined) {
        return index;
      }
      logger.warn({ path: location, reason: problem }, 'the tx-id index does not match the blocks; rebuilding it from the blocks');
      await index.close();
      index = undefined;
    }
    removeLmdbEnvDir(channelDir, TX_INDEX_DIR);
    index = await TxIdIndex.openEnv(location, logger);
    const startedMs = Date.now();
    const rebuilt = await index.catchUp(source);
    logger.info({ blocks: rebuilt, path: location, ms: Date.now() - startedMs }, 'tx-id index rebuilt from the blocks');
    return index;
  } catch (err) {
    await index?.close();
    throw err;
  }
}
