// BlockStore on LMDB: one LMDB environment per channel in <dir>/chains/<channelId>/, with three
// named databases:
//   blocks:   8-byte big-endian block number → the block's bytes up to its metadata field (the
//             whole block when it was appended in one piece)
//   metadata: the same key → the block's metadata field, or 0x00 (lmdb-block-records.ts: the two
//             records end to end are the block's bytes exactly as appended)
//   meta:     "tip" → height ‖ hash(last header); "owner" → the process that has the store open;
//             "format" → the layout version and the first block stored in two records
// and the tx-id index in an environment of its own below it (tx-index.ts), so that appends and
// lookups never read block pages through LMDB's memory map.
// One environment per channel (rather than sub-databases of one shared environment) keeps channels
// independent: each has its own writer lock and commit stream, and removing a channel is removing a
// directory, as with Fabric's chains/<channel> folders.
// Damage: before lmdb-js maps a data file it is checked with plain reads (lmdb-file-check.ts),
// because lmdb-js ends the process with SIGSEGV/SIGBUS on a zeroed, foreign or cut-off file; what
// LMDB itself reports later (MDB_CORRUPTED...) is rethrown as CorruptionError naming the file.
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { Logger } from 'pino';
import { blockMetadataOffset, common } from '../protos';
import { blockDataHash, blockHeaderHash, envelopeTxIdOrEmpty } from './block';
import { StoreBlockIterator, type IteratorSource } from './block-iterator';
import type {
  AppendOptions,
  BlockInput,
  BlockIterator,
  BlockIteratorOptions,
  BlockStore,
  BlockStoreStats,
  StoredBlock,
  TxLocation,
  VerifyReport,
} from './block-store';
import { isDecodedBlockInput } from './block-store';
import { fsyncDirSync, mkdirDurableSync } from './durable-dir';
import { BlockStoreError, CorruptionError } from './errors';
import { bytesEqual, toHex } from './hash';
import { HeightNotifier } from './height-notifier';
import { checkLmdbDataFile, LMDB_DATA_FILE, OPEN_CHECK_MAX_TREE_PAGES, type LmdbFileReport } from './lmdb-file-check';
import { asCorruption, guardLmdb, settleFailedCommit } from './lmdb-guard';
import { checkNothingAbove, checkTip, LazyStoredBlock, metadataRecord, notAMetadataField, readStored, type BlockRecords } from './lmdb-block-records';
import { BINARY_DB_OPTIONS, blockKey, blockNumberOfKey, decodeTip, EMPTY, EMPTY_TIP, encodeTip, txIdKey, type Bytes, type Tip } from './lmdb-records';
import { encodeOwnerRecord, ownerLiveness, ownRecord, parseOwnerRecord, type OwnerRecord } from './owner';
import { DEFAULT_INDEX_CHUNK_GAP_MS, DEFAULT_INDEX_CHUNK_TX_IDS, DEFAULT_INDEX_WINDOW_MS, DEFAULT_INDEX_WINDOW_TX_IDS, IndexBehind } from './index-behind';
import { openTxIdIndex, type IndexBlock, type TxIdIndex } from './tx-index';

/** Fabric's channel name rule; it also keeps the name safe to use as a directory. */
const CHANNEL_ID_PATTERN = /^[a-z][a-z0-9.-]*$/;
const MAX_CHANNEL_ID_CHARS = 249;

/** Readers at the tip need the last few blocks; 8 MB is over ten full 500-envelope blocks and is resident memory per channel. */
export const DEFAULT_RECENT_BLOCKS_MAX_BYTES = 8 * 1024 * 1024;
/** verify() gives the event loop a turn after this many bytes, so Deliver and Raft keep running. */
const VERIFY_YIELD_EVERY_BYTES = 32 * 1024 * 1024;

const TIP_KEY = Buffer.from('tip');
const OWNER_KEY = Buffer.from('owner');
const FORMAT_KEY = Buffer.from('format');
/**
 * 3: each block in two records, its header and data and its metadata field (lmdb-block-records.ts).
 * The format record is 3 ‖ the 8-byte number of the first block so stored: a store of format 1 or
 * 2 is migrated at open by recording its height there, and its blocks stay as they are. The bump
 * makes a format 2 binary refuse the store instead of serving blocks without their metadata.
 * 2: the tx-id index moved to its own environment. Version 1 stores are migrated at open (their
 * `txids` database is dropped and the new index built from the blocks); the bump made a version 1
 * binary refuse a migrated store instead of answering lookups from a stale index.
 */
const FORMAT_VERSION = 3;
const FORMAT_WHOLE_BLOCKS = 2;
const FORMAT_WITH_TXIDS_INSIDE = 1;
/** Open reopens the block environment after re-indexing read more than this through its map. */
const REOPEN_AFTER_READING_BYTES = 64 * 1024 * 1024;

export interface OpenBlockStoreOptions {
  /** Ledger root (FileLedger.Location); the channel lives in <dir>/chains/<channelId>/. */
  dir: string;
  channelId: string;
  logger: Logger;
  /** Recently appended blocks kept in memory for readers that follow the tip; 0 disables. */
  recentBlocksMaxBytes?: number;
  /**
   * LMDB's MDB_WRITEMAP: commits copy block bytes straight into the file's pages instead of into
   * heap pages that are then written out. Same durability (msync before the commit returns).
   */
  useWriteMap?: boolean;
  /** Longest wait before pending tx-id index entries are written (index-behind.ts DEFAULT_INDEX_WINDOW_MS). */
  indexFlushIntervalMs?: number;
  /** Pending ids that make a window written at once (DEFAULT_INDEX_WINDOW_TX_IDS). */
  indexWindowTxIds?: number;
  /** Ids per index transaction (DEFAULT_INDEX_CHUNK_TX_IDS). */
  indexChunkTxIds?: number;
  /** Pause between a window's transactions while the index keeps up (DEFAULT_INDEX_CHUNK_GAP_MS). */
  indexChunkGapMs?: number;
}

/** A validated block on its way into the store. */
interface PreparedBlock {
  stored: LazyStoredBlock;
  /** What goes into the blocks and the metadata record: the header and data, and the metadata field (empty: the first is the whole block). */
  pieces: readonly [Uint8Array, Uint8Array];
  index: IndexBlock;
}

/** Id of the newest committed LMDB transaction (env info); differences count write transactions. */
function lastTxnId(env: RootDatabase): number {
  const stats = env.getStats() as { lastTxnId?: number };
  return stats.lastTxnId ?? 0;
}

export function channelStoreDir(dir: string, channelId: string): string {
  return path.join(dir, 'chains', channelId);
}

/** Stores opened by this process, by real path: LMDB shares one environment per path in a process. */
const openInThisProcess = new Set<string>();

export class LmdbBlockStore implements BlockStore {
  readonly notifier = new HeightNotifier();
  /** What height(), getBlock() and getByTxId see: only blocks whose commit has been synced. */
  private durable: Tip;
  /** What the next append is checked against: includes appends still being committed. */
  private pending: Tip;
  /**
   * Blocks appended with readableBeforeDurable whose commit is under way: iterators yield them
   * (readableHeight()) before they are durable. Emptied as they become durable or when a write fails.
   */
  private readonly inFlight = new Map<number, LazyStoredBlock>();
  private inFlightEnd = 0;
  /** The source iterators read: durable blocks, then those in flight. */
  private readonly readable: IteratorSource = {
    height: () => this.readableHeight(),
    getBlock: (number) => (number < this.durable.height ? this.getBlock(number) : this.inFlight.get(number)),
    closedError: () => this.closedError(),
    notifier: this.notifier,
    iteratorFinished: () => this.iteratorFinished(),
  };
  /** The first failed write (or damage found while writing); every later write is refused with it. */
  private failure: BlockStoreError | CorruptionError | undefined;
  private closing = false;
  private closedWith: BlockStoreError | undefined;
  /** Settles after the last enqueued write; close() waits for it. */
  private lastWrite: Promise<unknown> = Promise.resolve();
  private openIterators = 0;
  private readonly firstTxnId: number;
  private readonly recent = new Map<number, LazyStoredBlock>();
  private recentBytes = 0;
  private readonly recentMaxBytes: number;
  /**
   * The tx ids of durable blocks, written to the index behind the block commits in sorted windows
   * (index-behind.ts): a transaction per block cost about 10 µs of CPU per tx id and a second synced
   * commit on every append. A crash loses nothing: open re-indexes the blocks above the index's
   * recorded height.
   */
  private readonly behind: IndexBehind;
  /** The block environment's data file, named in every CorruptionError about it. */
  private readonly dataFile: string;
  private readonly records: BlockRecords;

  /** Use openBlockStore(). */
  constructor(
    readonly channelId: string,
    private readonly location: string,
    private readonly env: RootDatabase,
    blocks: { blocksDb: Database<Bytes, Buffer>; metadataDb: Database<Bytes, Buffer>; splitFrom: number },
    private readonly metaDb: Database<Bytes, Buffer>,
    private readonly index: TxIdIndex,
    private readonly owner: OwnerRecord,
    tip: Tip,
    private readonly logger: Logger,
    recentBlocksMaxBytes: number,
    indexWindow: { windowMs: number; windowTxIds: number; chunkTxIds: number; chunkGapMs: number },
  ) {
    this.dataFile = path.join(location, LMDB_DATA_FILE);
    this.records = { ...blocks, file: this.dataFile };
    this.durable = tip;
    this.pending = tip;
    this.behind = new IndexBehind({
      index,
      indexedTip: tip,
      ...indexWindow,
      tipAfter: (number) => (number + 1 === this.durable.height ? this.durable : { height: number + 1, lastHash: this.hashAfter(number) }),
      failure: () => this.failure,
      fail: (err, fromHeight, reason) => {
        if (err instanceof CorruptionError) return this.fail(err);
        if (reason === 'conflict') return this.fail(new BlockStoreError('conflict', `the tx-id index is no longer at height ${fromHeight}: another writer changed it`, fromHeight));
        return this.fail(new BlockStoreError('write-failed', `indexing the tx ids of blocks from ${fromHeight} failed: ${errorMessage(err)}`, fromHeight));
      },
    });
    this.firstTxnId = lastTxnId(env);
    this.recentMaxBytes = recentBlocksMaxBytes;
  }

  height(): number {
    return this.durable.height;
  }

  readableHeight(): number {
    return Math.max(this.durable.height, this.inFlightEnd);
  }

  lastHeaderHash(): Uint8Array | undefined {
    return this.durable.height === 0 ? undefined : this.durable.lastHash;
  }

  lastBlock(): StoredBlock | undefined {
    return this.durable.height === 0 ? undefined : this.getBlock(this.durable.height - 1);
  }

  getBlock(number: number): StoredBlock | undefined {
    this.assertOpen();
    if (!Number.isSafeInteger(number) || number < 0) throw new RangeError(`bad block number ${number}`);
    if (number >= this.durable.height) return undefined;
    const cached = this.recent.get(number);
    if (cached !== undefined) return cached;
    return readStored(this.records, number, this.durable.height);
  }

  getByTxId(txId: string): TxLocation | undefined {
    this.assertOpen();
    const key = txIdKey(txId);
    if (key === undefined) return undefined;
    // The index first: an id it holds occurred before anything not yet written to it.
    const location = this.index.get(key) ?? this.behind.lookup(txId);
    // Entries of blocks still being committed are not visible, as the blocks themselves are not.
    return location !== undefined && location.blockNumber < this.durable.height ? location : undefined;
  }

  append(block: BlockInput): Promise<void> {
    return this.appendBatch([block]);
  }

  appendBatch(blocks: readonly BlockInput[], options: AppendOptions = {}): Promise<void> {
    try {
      this.assertWritable();
      if (blocks.length === 0) return Promise.resolve();
      const before = this.pending;
      const prepared = this.prepare(blocks, before);
      const last = prepared[prepared.length - 1];
      if (last === undefined) return Promise.resolve();
      const after: Tip = { height: last.stored.number + 1, lastHash: last.stored.headerHash };
      // Later appends are checked against this batch at once, so a caller can pipeline appends;
      // the LMDB transaction re-checks against what is really on disk before writing.
      this.pending = after;
      // Readable only in one run from the durable blocks: behind a durable-only batch still being
      // committed they wait for their own commit, as that batch's blocks do.
      const early = options.readableBeforeDurable === true && before.height === this.readableHeight();
      if (early) {
        for (const { stored } of prepared) this.inFlight.set(stored.number, stored);
        this.inFlightEnd = after.height;
        this.notifier.notify();
      }
      const write = this.commit(prepared, before, after, early);
      this.lastWrite = write.catch(() => undefined);
      return write;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Decodes and validates every block against the chain so far, before anything is written. */
  private prepare(inputs: readonly BlockInput[], start: Tip): PreparedBlock[] {
    const out: PreparedBlock[] = [];
    let expected = start;
    for (const input of inputs) {
      // Not copied: for 1 MiB blocks a copy cost as much main-thread time as the SHA-256 of the data
      // (see the README). The store keeps these bytes in its recent-block cache, so callers hand
      // them over and must not modify them afterwards.
      const decoded = isDecodedBlockInput(input) ? input : undefined;
      const bytes = decoded?.bytes ?? (input instanceof Uint8Array ? input : common.Block.encode(input as common.BlockInit));
      const metadataField = decoded?.metadataField ?? EMPTY;
      if (metadataField.length > 0) {
        // Checked here, or the block would read back as corruption: one field, after bytes without one.
        const wrong = notAMetadataField(metadataField) ?? (blockMetadataOffset(bytes) === bytes.length ? undefined : 'its other piece is not a header and data alone');
        if (wrong !== undefined) throw new BlockStoreError('malformed-block', `block at height ${expected.height}: metadata field ${wrong}`, expected.height);
      }
      let block: common.Block;
      if (decoded !== undefined) block = decoded.block;
      else {
        try {
          block = common.Block.decode(bytes);
        } catch (err) {
          throw new BlockStoreError('malformed-block', `block at height ${expected.height} does not decode: ${(err as Error).message}`, expected.height);
        }
      }
      const header = block.header;
      if (header === undefined) throw new BlockStoreError('malformed-block', `block at height ${expected.height} has no header`, expected.height);
      const number = header.number;
      if (number !== expected.height) {
        throw new BlockStoreError('block-number', `block ${number} cannot be appended at height ${expected.height}`, number);
      }
      if (!bytesEqual(header.previousHash, expected.lastHash)) {
        throw new BlockStoreError(
          'previous-hash',
          `block ${number} has previous_hash ${toHex(header.previousHash) || '(empty)'}, expected ${toHex(expected.lastHash) || '(empty)'}`,
          number,
        );
      }
      const envelopes = block.data?.data ?? [];
      if (decoded?.dataHashComputedByCaller !== true) {
        const dataHash = blockDataHash(envelopes);
        if (!bytesEqual(dataHash, header.dataHash)) {
          throw new BlockStoreError('data-hash', `block ${number} has data_hash ${toHex(header.dataHash)}, its data hashes to ${toHex(dataHash)}`, number);
        }
      }
      const stored = new LazyStoredBlock(number, bytes, metadataField, blockHeaderHash(header));
      const txIds = decoded?.txIds ?? envelopes.map(envelopeTxIdOrEmpty);
      if (txIds.length !== envelopes.length) throw new RangeError(`block ${number}: ${txIds.length} tx ids given for ${envelopes.length} envelopes`);
      out.push({ stored, pieces: [bytes, metadataField], index: { number, txIds } });
      expected = { height: number + 1, lastHash: stored.headerHash };
    }
    return out;
  }

  /** `readable`: iterators have been woken for these blocks already (readableBeforeDurable). */
  private async commit(prepared: PreparedBlock[], before: Tip, after: Tip, readable: boolean): Promise<void> {
    // The whole batch is conditional on the tip record still carrying version = our height, and
    // LMDB checks that inside the write transaction: if anything else appended meanwhile, nothing
    // of this batch is written. The writes are queued for lmdb-js's writer thread rather than
    // done in a transaction callback, so the writer never waits for this (busy) JS thread, and
    // appends queued in the same event turn share one transaction and one sync.
    let applied: boolean;
    const range = `${before.height}..${after.height - 1}`;
    try {
      applied = await this.metaDb.ifVersion(TIP_KEY, before.height, () => {
        for (const { stored, pieces } of prepared) {
          const key = blockKey(stored.number);
          const [headerAndData, metadataField] = pieces;
          void this.records.blocksDb.put(key, Buffer.from(headerAndData.buffer, headerAndData.byteOffset, headerAndData.byteLength));
          void this.records.metadataDb.put(key, metadataRecord(metadataField));
        }
        void this.metaDb.put(TIP_KEY, encodeTip(after), after.height);
      });
    } catch (err) {
      this.dropInFlight();
      settleFailedCommit(err, this.env, (cause) => this.logger.error({ err: cause, file: this.dataFile, blocks: range }, 'lmdb-js: why the commit of blocks failed'));
      const damage = asCorruption(err, this.dataFile);
      if (damage instanceof CorruptionError) throw this.fail(damage);
      const found = this.damageOnDisk();
      if (found !== undefined) throw this.fail(found);
      throw this.fail(new BlockStoreError('write-failed', `committing blocks ${range} failed: ${errorMessage(err)}`, before.height));
    }
    if (!applied) {
      this.dropInFlight();
      throw this.fail(
        this.failure ??
          new BlockStoreError('conflict', `the stored chain is no longer at height ${before.height}: another writer changed the store`, before.height),
      );
    }
    // Visible to lookups before the blocks are: getByTxId must never miss an id of a durable block.
    this.behind.add(prepared.map((p) => p.index));
    if (after.height > this.durable.height) this.durable = after;
    for (const p of prepared) {
      this.inFlight.delete(p.stored.number);
      this.remember(p.stored);
    }
    this.logger.debug({ from: before.height, to: after.height - 1 }, 'blocks appended');
    if (!readable) this.notifier.notify();
  }

  /** A write failed: iterators get no block that is not durable (they wait, and see the failure). */
  private dropInFlight(): void {
    this.inFlight.clear();
    this.inFlightEnd = 0;
  }

  /**
   * Damage the file check finds in the block file now, if any. lmdb-js's writer thread reports a
   * page it found damaged only as MDB_BAD_TXN (the MDB_CORRUPTED goes to stderr), so a failed
   * commit looks at the file before it is called a plain write failure.
   */
  private damageOnDisk(): CorruptionError | undefined {
    try {
      checkLmdbDataFile(this.location, { maxTreePages: OPEN_CHECK_MAX_TREE_PAGES });
      return undefined;
    } catch (err) {
      if (err instanceof CorruptionError) return err;
      this.logger.warn({ err }, 'could not check the block file after a failed write');
      return undefined;
    }
  }

  /** Header hash of block `number`, which is durable (from the cache, else the store). */
  private hashAfter(number: number): Uint8Array {
    return (this.recent.get(number) ?? readStored(this.records, number, this.durable.height)).headerHash;
  }

  private fail<E extends BlockStoreError | CorruptionError>(err: E): E {
    if (this.failure === undefined) {
      this.failure = err;
      this.logger.error({ err }, 'block store write failed; reopen the store');
    }
    return err;
  }

  private remember(stored: LazyStoredBlock): void {
    if (stored.byteLength > this.recentMaxBytes) return;
    this.recent.set(stored.number, stored);
    this.recentBytes += stored.byteLength;
    for (const [number, old] of this.recent) {
      if (this.recentBytes <= this.recentMaxBytes) break;
      this.recent.delete(number);
      this.recentBytes -= old.byteLength;
    }
  }

  iterate(fromNumber: number, options: BlockIteratorOptions = {}): BlockIterator {
    this.openIterators++;
    return new StoreBlockIterator(this.readable, fromNumber, options.signal);
  }

  iteratorFinished(): void {
    this.openIterators--;
  }

  closedError(): Error | undefined {
    return this.closedWith;
  }

  async verify(): Promise<VerifyReport> {
    this.assertOpen();
    // The blocks durable now are checked; their ids are written first (later appends wait for their window).
    const { height, lastHash } = this.durable;
    await this.behind.flush();
    let previousHash: Uint8Array = EMPTY;
    let bytesChecked = 0;
    let bytesSinceYield = 0;
    for (let number = 0; number < height; number++) {
      const stored = readStored(this.records, number, height);
      const header = stored.block.header;
      if (header === undefined || !bytesEqual(header.previousHash, previousHash)) {
        throw new CorruptionError(number, 'previous-hash', `previous_hash does not match the hash of block ${number - 1}`, { file: this.dataFile });
      }
      this.checkTxIndex(stored);
      previousHash = stored.headerHash;
      bytesChecked += stored.byteLength;
      bytesSinceYield += stored.byteLength;
      if (bytesSinceYield >= VERIFY_YIELD_EVERY_BYTES) {
        bytesSinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.assertOpen();
      }
    }
    if (height > 0 && !bytesEqual(previousHash, lastHash)) {
      throw new CorruptionError(height - 1, 'tip-mismatch', 'the recorded hash of the last block differs from the stored block', { file: this.dataFile });
    }
    // Appends may have landed while verify yielded: look above the tip as it is stored now.
    const storedTip = decodeTip(guardLmdb(this.dataFile, () => this.metaDb.get(TIP_KEY)), 'tip');
    checkNothingAbove(this.records, Math.max(height, storedTip?.height ?? 0));
    return { height, bytesChecked };
  }

  private checkTxIndex(stored: StoredBlock): void {
    const envelopes = stored.block.data?.data ?? [];
    envelopes.forEach((envelope, txIndex) => {
      const txId = envelopeTxIdOrEmpty(envelope);
      const key = txIdKey(txId);
      if (key === undefined) return;
      const indexed = this.index.get(key);
      const earlierOrHere =
        indexed !== undefined &&
        (indexed.blockNumber < stored.number || (indexed.blockNumber === stored.number && indexed.txIndex <= txIndex));
      if (!earlierOrHere) {
        throw new CorruptionError(stored.number, 'txid-index', `tx ${txId} at position ${txIndex} is not indexed`, { file: this.index.dataFile });
      }
    });
  }

  stats(): BlockStoreStats {
    return {
      height: this.durable.height,
      waitingIterators: this.notifier.waiting,
      openIterators: this.openIterators,
      writeTransactions: lastTxnId(this.env) - this.firstTxnId,
      cachedBlocks: this.recent.size,
      cachedBytes: this.recentBytes,
    };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.lastWrite;
    // What the index lacks would be re-indexed at the next open anyway; writing it now saves that.
    await this.behind.flush().catch((err: unknown) => this.logger.warn({ err }, 'could not write the last tx-id index entries; the next open re-indexes them'));
    this.behind.stop();
    this.closedWith = new BlockStoreError('closed', `block store of channel ${this.channelId} is closed`);
    this.notifier.notify();
    try {
      // The index goes first: it belongs to whoever owns the store, so it must be closed before
      // the owner record that lets another process take the store over is removed.
      await this.index.close();
      releaseOwner(this.env, this.metaDb, this.owner);
    } finally {
      await this.env.close();
      openInThisProcess.delete(this.location);
      this.recent.clear();
      this.recentBytes = 0;
      this.logger.info({ height: this.durable.height }, 'block store closed');
    }
  }

  private assertOpen(): void {
    if (this.closedWith !== undefined) throw this.closedWith;
  }

  private assertWritable(): void {
    if (this.closing) throw new BlockStoreError('closed', `block store of channel ${this.channelId} is closed`);
    if (this.failure !== undefined) {
      throw new BlockStoreError('write-failed', `an earlier write failed (${this.failure.message}); reopen the store`);
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Removes the owner record if it is still this store's own. */
function releaseOwner(env: RootDatabase, metaDb: Database<Bytes, Buffer>, owner: OwnerRecord): void {
  env.transactionSync(() => {
    const current = parseOwnerRecord(metaDb.get(OWNER_KEY) ?? EMPTY);
    if (current?.pid === owner.pid && current.openedAtMs === owner.openedAtMs) metaDb.removeSync(OWNER_KEY);
  });
}

interface BlocksEnv {
  env: RootDatabase;
  blocksDb: Database<Bytes, Buffer>;
  metadataDb: Database<Bytes, Buffer>;
  /** Versions on the meta records: the tip's version is the height, which appends are conditional on. */
  metaDb: Database<Bytes, Buffer>;
}

async function openBlocksEnv(location: string, useWriteMap: boolean): Promise<BlocksEnv> {
  const file = path.join(location, LMDB_DATA_FILE);
  const env = guardLmdb(file, () => open({
    path: location,
    maxDbs: 4,
    // Durability: a commit returns only after LMDB's own fsyncs (data pages, then the meta page).
    // overlappingSync would resolve at commit and sync later, so it stays off; noSync never.
    overlappingSync: false,
    useWritemap: useWriteMap,
    compression: false,
    encoding: 'binary',
    keyEncoding: 'binary',
  }));
  try {
    return guardLmdb(file, () => ({
      env,
      blocksDb: env.openDB('blocks', BINARY_DB_OPTIONS),
      metadataDb: env.openDB('metadata', BINARY_DB_OPTIONS),
      metaDb: env.openDB('meta', { ...BINARY_DB_OPTIONS, useVersions: true }),
    }));
  } catch (err) {
    await env.close();
    throw err;
  }
}

/** What claiming a store found: its tip, and the first block stored in two records. */
interface Claimed {
  tip: Tip;
  splitFrom: number;
}

function encodeFormatRecord(splitFrom: number): Buffer {
  return Buffer.concat([Buffer.from([FORMAT_VERSION]), blockKey(splitFrom)]);
}

/**
 * Checks the store's format and tip and claims it for `self`, in one write transaction: LMDB's
 * writer lock makes check-and-claim atomic across processes. Migrates a format 1 or 2 store.
 */
function claim(blocks: BlocksEnv, location: string, self: OwnerRecord, logger: Logger): Claimed {
  const file = path.join(location, LMDB_DATA_FILE);
  return guardLmdb(file, () => claimIn(blocks, location, file, self, logger));
}

function claimIn(blocks: BlocksEnv, location: string, file: string, self: OwnerRecord, logger: Logger): Claimed {
  const { env, blocksDb, metadataDb, metaDb } = blocks;
  // Opened before the claiming transaction, which only drops it (opening is a transaction of its own).
  const legacyTxIdsDb = metaDb.get(FORMAT_KEY)?.[0] === FORMAT_WITH_TXIDS_INSIDE ? env.openDB('txids', BINARY_DB_OPTIONS) : undefined;
  return env.transactionSync(() => {
    const previous = parseOwnerRecord(metaDb.get(OWNER_KEY) ?? EMPTY);
    if (previous !== undefined) {
      const liveness = ownerLiveness(previous, self);
      if (liveness === 'alive') {
        throw new BlockStoreError(
          'locked',
          `block store ${location} is in use by process ${previous.pid} on ${previous.hostname} (opened ${new Date(previous.openedAtMs).toISOString()})`,
        );
      }
      if (liveness === 'unknown') {
        logger.warn({ previous }, 'taking over a block store last opened on another host; make sure that process is gone');
      } else {
        logger.info({ previousPid: previous.pid }, 'previous owner of the block store is gone; taking over');
      }
    }
    const formatRecord = metaDb.get(FORMAT_KEY);
    const format = formatRecord?.[0];
    if (format !== undefined && format !== FORMAT_VERSION && format !== FORMAT_WHOLE_BLOCKS && format !== FORMAT_WITH_TXIDS_INSIDE) {
      throw new BlockStoreError('unsupported-format', `block store ${location} has format ${format}, expected ${FORMAT_VERSION}`);
    }
    if (format === FORMAT_VERSION && formatRecord !== undefined && formatRecord.length !== 9) {
      throw new CorruptionError(-1, 'undecodable', `the format record has ${formatRecord.length} bytes, expected 9`, { file });
    }
    const stored = decodeTip(metaDb.get(TIP_KEY), 'tip');
    const recorded = stored ?? EMPTY_TIP;
    // Blocks written before this format are whole; a new store (no format yet) has none.
    const splitFrom = format === FORMAT_VERSION && formatRecord !== undefined ? blockNumberOfKey(formatRecord.subarray(1)) : recorded.height;
    if (splitFrom > recorded.height) throw new CorruptionError(-1, 'undecodable', `the format record puts the first split block at ${splitFrom}, above the height ${recorded.height}`, { file });
    // Nothing below splitFrom was ever given a metadata record: one there means the format record is wrong.
    for (const k of metadataDb.getKeys({ limit: 1 })) {
      const n = blockNumberOfKey(k);
      if (n < splitFrom) throw new CorruptionError(n, 'undecodable', `block ${n} has a metadata record but the format record says blocks below ${splitFrom} are whole`, { file });
    }
    checkTip({ blocksDb, metadataDb, splitFrom, file }, recorded);
    if (format === FORMAT_WITH_TXIDS_INSIDE) {
      // Its entries are rebuilt in the index environment, from the blocks.
      legacyTxIdsDb?.dropSync();
      logger.info({ location }, 'migrating the block store from format 1: the tx-id index moves to its own environment');
    }
    if (format !== FORMAT_VERSION) {
      if (format !== undefined) logger.info({ location, splitFrom }, `migrating the block store from format ${format} to ${FORMAT_VERSION}: blocks from ${splitFrom} on are stored in two records`);
      metaDb.putSync(FORMAT_KEY, encodeFormatRecord(splitFrom));
    }
    if (stored === undefined) metaDb.putSync(TIP_KEY, encodeTip(recorded), 0);
    // Claimed last: a store that fails the checks above is left without an owner record.
    metaDb.putSync(OWNER_KEY, encodeOwnerRecord(self));
    return { tip: recorded, splitFrom };
  });
}

/**
 * Looks at the block file before lmdb-js maps it (see lmdb-file-check.ts): throws CorruptionError
 * for a damaged one, and says loudly when a store that existed is about to be started empty.
 */
function checkBlocksFile(location: string, logger: Logger): LmdbFileReport {
  const report = checkLmdbDataFile(location, { maxTreePages: OPEN_CHECK_MAX_TREE_PAGES });
  const { file } = report;
  if (report.state === 'empty') {
    logger.warn(
      { file, sizeBytes: 0 },
      `the block file ${file} is empty (0 bytes): LMDB will initialise a new, empty block store in it. ` +
        'Every block this channel had here is gone; the ledger starts from empty and will be re-filled from the genesis block or from the other orderers',
    );
  } else if (report.state === 'absent' && existsSync(path.join(location, 'lock.mdb'))) {
    // lock.mdb stays after a store is closed: the store existed, and its data file was removed.
    logger.warn(
      { file },
      `the block file ${file} is missing although this store was opened before: a new, empty block store is created. ` +
        'The ledger starts from empty and will be re-filled from the genesis block or from the other orderers',
    );
  } else if (report.state === 'in-use') {
    logger.info({ file }, 'the block file changed while it was checked: another process is writing it');
  } else if (report.state === 'sound') {
    if (report.shorterThanLastPage) {
      logger.info({ file, sizeBytes: report.sizeBytes, lastPage: report.lastPage }, 'the block file ends before its last page, but only free pages are missing');
    }
    logger.debug({ ...report }, 'block file checked');
  }
  return report;
}

/**
 * Opens (creating if needed) the block store of one channel and claims it for this process.
 * Rejects with BlockStoreError('locked') while another live process has it open, and with
 * CorruptionError, naming the data file, when the file is damaged (checked before it is mapped,
 * or reported by LMDB) or the recorded tip does not match the last stored block. Before it
 * resolves, the tx-id index matches the blocks: caught up, undone or rebuilt from them as needed.
 * A new channel's directories are created durably (their parents fsynced).
 */
export async function openBlockStore(options: OpenBlockStoreOptions): Promise<LmdbBlockStore> {
  const { channelId, logger } = options;
  if (!CHANNEL_ID_PATTERN.test(channelId) || channelId.length > MAX_CHANNEL_ID_CHARS) {
    throw new BlockStoreError('invalid-channel', `channel id ${JSON.stringify(channelId)} is not a valid channel name`);
  }
  const dir = channelStoreDir(options.dir, channelId);
  mkdirDurableSync(dir);
  const location = realpathSync(dir);
  if (openInThisProcess.has(location)) {
    throw new BlockStoreError('locked', `block store ${location} is already open in this process`);
  }
  openInThisProcess.add(location);
  const log = logger.child({ logger: 'ledger', channel: channelId });
  const useWriteMap = options.useWriteMap ?? false;
  let blocks: BlocksEnv | undefined;
  let claimedBy: OwnerRecord | undefined;
  let index: TxIdIndex | undefined;
  const dataFile = path.join(location, LMDB_DATA_FILE);
  try {
    const fileReport = checkBlocksFile(location, log);
    blocks = await openBlocksEnv(location, useWriteMap);
    const self = ownRecord(Date.now());
    const { tip, splitFrom } = claim(blocks, location, self, log);
    claimedBy = self;
    // LMDB created data.mdb and lock.mdb and synced the claim, but not their directory entries.
    if (fileReport.state === 'absent') fsyncDirSync(location);
    const records: BlockRecords = { blocksDb: blocks.blocksDb, metadataDb: blocks.metadataDb, splitFrom, file: dataFile };
    index = await openTxIdIndex(location, { tip, readBlock: (number) => readStored(records, number, tip.height) }, log);
    if (index.blockBytesRead >= REOPEN_AFTER_READING_BYTES) {
      // Those blocks were read through the block environment's map, and their pages stay mapped,
      // counted in the process's RSS, until the environment is closed. The owner record stays.
      await blocks.env.close();
      blocks = undefined;
      blocks = await openBlocksEnv(location, useWriteMap);
    }
    const store = new LmdbBlockStore(
      channelId,
      location,
      blocks.env,
      { blocksDb: blocks.blocksDb, metadataDb: blocks.metadataDb, splitFrom },
      blocks.metaDb,
      index,
      self,
      tip,
      log,
      options.recentBlocksMaxBytes ?? DEFAULT_RECENT_BLOCKS_MAX_BYTES,
      {
        windowMs: options.indexFlushIntervalMs ?? DEFAULT_INDEX_WINDOW_MS,
        windowTxIds: options.indexWindowTxIds ?? DEFAULT_INDEX_WINDOW_TX_IDS,
        chunkTxIds: options.indexChunkTxIds ?? DEFAULT_INDEX_CHUNK_TX_IDS,
        chunkGapMs: options.indexChunkGapMs ?? DEFAULT_INDEX_CHUNK_GAP_MS,
      },
    );
    log.info({ height: tip.height, location }, 'block store opened');
    return store;
  } catch (err) {
    await index?.close();
    if (blocks !== undefined) {
      // Left claimed, the store would read as locked by this (live) process until it exits.
      if (claimedBy !== undefined) releaseOwner(blocks.env, blocks.metaDb, claimedBy);
      await blocks.env.close();
    }
    openInThisProcess.delete(location);
    throw asCorruption(err, dataFile);
  }
}
