// BlockStore on LMDB: one LMDB environment per channel in <dir>/chains/<channelId>/, with three
// named databases:
//   blocks: 8-byte big-endian block number → the Block's bytes exactly as appended
//   txids:  UTF-8 tx_id → 8-byte block number ‖ 4-byte position (first occurrence wins)
//   meta:   "tip" → height ‖ hash(last header); "owner" → the process that has the store open
// One environment per channel (rather than sub-databases of one shared environment) keeps channels
// independent: each has its own writer lock and commit stream, and removing a channel is removing a
// directory, as with Fabric's chains/<channel> folders.
import { mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { Logger } from 'pino';
import { common } from '../protos';
import { blockDataHash, blockHeaderHash, envelopeTxIdOrEmpty } from './block';
import { StoreBlockIterator, type IteratorSource } from './block-iterator';
import type {
  BlockInput,
  BlockIterator,
  BlockIteratorOptions,
  BlockStore,
  BlockStoreStats,
  StoredBlock,
  TxLocation,
  VerifyReport,
} from './block-store';
import { BlockStoreError, CorruptionError } from './errors';
import { bytesEqual, SHA256_BYTES, toHex } from './hash';
import { HeightNotifier } from './height-notifier';
import { encodeOwnerRecord, ownerLiveness, ownRecord, parseOwnerRecord, type OwnerRecord } from './owner';

/** Fabric's channel name rule; it also keeps the name safe to use as a directory. */
const CHANNEL_ID_PATTERN = /^[a-z][a-z0-9.-]*$/;
const MAX_CHANNEL_ID_CHARS = 249;

/** LMDB's portable key limit; real tx ids are 64 hex characters, longer ones are not indexed. */
export const MAX_TXID_KEY_BYTES = 511;
export const DEFAULT_RECENT_BLOCKS_MAX_BYTES = 16 * 1024 * 1024;
/** verify() gives the event loop a turn after this many bytes, so Deliver and Raft keep running. */
const VERIFY_YIELD_EVERY_BYTES = 32 * 1024 * 1024;

const TIP_KEY = Buffer.from('tip');
const OWNER_KEY = Buffer.from('owner');
const FORMAT_KEY = Buffer.from('format');
const FORMAT_VERSION = 1;
const TIP_BYTES = 8 + SHA256_BYTES;
const TX_LOCATION_BYTES = 12;
const EMPTY = new Uint8Array(0);

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
}

interface Tip {
  height: number;
  /** hash(header) of block height-1; empty while the store is empty. */
  lastHash: Uint8Array;
}

/** A validated block on its way into the store. */
interface PreparedBlock {
  stored: StoredBlock;
  txIds: string[];
}

type Bytes = Buffer;

interface PutWithOptions {
  put(key: Buffer, value: Buffer, options: { noOverwrite: boolean }): Promise<boolean>;
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

function blockKey(number: number): Buffer {
  const key = Buffer.allocUnsafe(8);
  key.writeUInt32BE(Math.floor(number / 0x1_0000_0000), 0);
  key.writeUInt32BE(number >>> 0, 4);
  return key;
}

function encodeTip(tip: Tip): Buffer {
  const out = Buffer.alloc(TIP_BYTES);
  out.writeUInt32BE(Math.floor(tip.height / 0x1_0000_0000), 0);
  out.writeUInt32BE(tip.height >>> 0, 4);
  out.set(tip.lastHash, 8);
  return out;
}

function decodeTip(bytes: Buffer | undefined): Tip | undefined {
  if (bytes === undefined) return undefined;
  if (bytes.length !== TIP_BYTES) throw new CorruptionError(-1, 'tip-mismatch', `tip record has ${bytes.length} bytes`);
  const height = bytes.readUInt32BE(0) * 0x1_0000_0000 + bytes.readUInt32BE(4);
  return { height, lastHash: height === 0 ? EMPTY : Uint8Array.prototype.slice.call(bytes, 8) };
}

function encodeTxLocation(blockNumber: number, txIndex: number): Buffer {
  const out = Buffer.allocUnsafe(TX_LOCATION_BYTES);
  out.writeUInt32BE(Math.floor(blockNumber / 0x1_0000_0000), 0);
  out.writeUInt32BE(blockNumber >>> 0, 4);
  out.writeUInt32BE(txIndex, 8);
  return out;
}

function decodeTxLocation(bytes: Buffer): TxLocation {
  return {
    blockNumber: bytes.readUInt32BE(0) * 0x1_0000_0000 + bytes.readUInt32BE(4),
    txIndex: bytes.readUInt32BE(8),
  };
}

function txIdKey(txId: string): Buffer | undefined {
  if (txId.length === 0) return undefined;
  const key = Buffer.from(txId, 'utf8');
  return key.length <= MAX_TXID_KEY_BYTES ? key : undefined;
}

/** Decodes and checks bytes read from disk; anything unexpected is corruption of block `number`. */
function checkStored(number: number, bytes: Uint8Array): StoredBlock {
  let block: common.Block;
  try {
    block = common.Block.decode(bytes);
  } catch (err) {
    throw new CorruptionError(number, 'undecodable', err instanceof Error ? err.message : String(err));
  }
  const header = block.header;
  if (header === undefined) throw new CorruptionError(number, 'missing-header', 'stored block has no header');
  if (header.number !== number) {
    throw new CorruptionError(number, 'wrong-number', `stored under ${number} but its header says ${header.number}`);
  }
  const dataHash = blockDataHash(block.data?.data ?? []);
  if (!bytesEqual(dataHash, header.dataHash)) {
    throw new CorruptionError(number, 'data-hash', `data hash ${toHex(dataHash)} != header ${toHex(header.dataHash)}`);
  }
  return { number, bytes, block, headerHash: blockHeaderHash(header) };
}

/** A block stored at or above the recorded height would mean a write landed without its tip. */
function checkNothingAbove(blocksDb: Database<Bytes, Buffer>, height: number): void {
  for (const key of blocksDb.getKeys({ start: blockKey(height), limit: 1 })) {
    const number = key.readUInt32BE(0) * 0x1_0000_0000 + key.readUInt32BE(4);
    throw new CorruptionError(number, 'extra-block', `block ${number} is stored above height ${height}`);
  }
}

/** Cheap open-time check: the newest block matches the recorded tip and nothing lies beyond it. */
function checkTip(blocksDb: Database<Bytes, Buffer>, tip: Tip): void {
  if (tip.height > 0) {
    const number = tip.height - 1;
    const bytes = blocksDb.get(blockKey(number));
    if (bytes === undefined) throw new CorruptionError(number, 'missing-block', `the last block ${number} is not stored`);
    if (!bytesEqual(checkStored(number, bytes).headerHash, tip.lastHash)) {
      throw new CorruptionError(number, 'tip-mismatch', 'the recorded hash of the last block differs from the stored block');
    }
  }
  checkNothingAbove(blocksDb, tip.height);
}

export class LmdbBlockStore implements BlockStore, IteratorSource {
  readonly notifier = new HeightNotifier();
  /** What readers see: only blocks whose commit has been synced. */
  private durable: Tip;
  /** What the next append is checked against: includes appends still being committed. */
  private pending: Tip;
  private failure: BlockStoreError | undefined;
  private closing = false;
  private closedWith: BlockStoreError | undefined;
  /** Settles after the last enqueued write; close() waits for it. */
  private lastWrite: Promise<unknown> = Promise.resolve();
  private openIterators = 0;
  /** txIdsDb with the put options lmdb-js accepts at run time but does not declare for async put. */
  private readonly txIdIndex: PutWithOptions;
  private readonly firstTxnId: number;
  private readonly recent = new Map<number, StoredBlock>();
  private recentBytes = 0;
  private readonly recentMaxBytes: number;

  /** Use openBlockStore(). */
  constructor(
    readonly channelId: string,
    private readonly location: string,
    private readonly env: RootDatabase,
    private readonly blocksDb: Database<Bytes, Buffer>,
    private readonly txIdsDb: Database<Bytes, Buffer>,
    private readonly metaDb: Database<Bytes, Buffer>,
    private readonly owner: OwnerRecord,
    tip: Tip,
    private readonly logger: Logger,
    recentBlocksMaxBytes: number,
  ) {
    this.durable = tip;
    this.pending = tip;
    this.txIdIndex = txIdsDb as unknown as PutWithOptions;
    this.firstTxnId = lastTxnId(env);
    this.recentMaxBytes = recentBlocksMaxBytes;
  }

  height(): number {
    return this.durable.height;
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
    const bytes = this.blocksDb.get(blockKey(number));
    if (bytes === undefined) throw new CorruptionError(number, 'missing-block', `block ${number} is below height ${this.durable.height} but not stored`);
    return checkStored(number, bytes);
  }

  getByTxId(txId: string): TxLocation | undefined {
    this.assertOpen();
    const key = txIdKey(txId);
    if (key === undefined) return undefined;
    const value = this.txIdsDb.get(key);
    if (value === undefined) return undefined;
    const location = decodeTxLocation(value);
    return location.blockNumber < this.durable.height ? location : undefined;
  }

  append(block: BlockInput): Promise<void> {
    return this.appendBatch([block]);
  }

  appendBatch(blocks: readonly BlockInput[]): Promise<void> {
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
      const write = this.commit(prepared, before, after);
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
      const bytes = input instanceof Uint8Array ? input : common.Block.encode(input);
      let block: common.Block;
      try {
        block = common.Block.decode(bytes);
      } catch (err) {
        throw new BlockStoreError('malformed-block', `block at height ${expected.height} does not decode: ${(err as Error).message}`, expected.height);
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
      const dataHash = blockDataHash(envelopes);
      if (!bytesEqual(dataHash, header.dataHash)) {
        throw new BlockStoreError('data-hash', `block ${number} has data_hash ${toHex(header.dataHash)}, its data hashes to ${toHex(dataHash)}`, number);
      }
      const stored: StoredBlock = { number, bytes, block, headerHash: blockHeaderHash(header) };
      out.push({ stored, txIds: envelopes.map(envelopeTxIdOrEmpty) });
      expected = { height: number + 1, lastHash: stored.headerHash };
    }
    return out;
  }

  private async commit(prepared: PreparedBlock[], before: Tip, after: Tip): Promise<void> {
    let applied: boolean;
    try {
      // The whole batch is conditional on the tip record still carrying version = our height, and
      // LMDB checks that inside the write transaction: if anything else appended meanwhile, nothing
      // of this batch is written. The writes are queued for lmdb-js's writer thread rather than
      // done in a transaction callback, so the writer never waits for this (busy) JS thread, and
      // appends queued in the same event turn share one transaction and one sync.
      applied = await this.metaDb.ifVersion(TIP_KEY, before.height, () => {
        for (const { stored, txIds } of prepared) {
          const bytes = stored.bytes;
          void this.blocksDb.put(blockKey(stored.number), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
          txIds.forEach((txId, txIndex) => {
            const key = txIdKey(txId);
            // MDB_NOOVERWRITE: an id already indexed (earlier block, or earlier in this batch) keeps its entry.
            if (key !== undefined) void this.txIdIndex.put(key, encodeTxLocation(stored.number, txIndex), { noOverwrite: true });
          });
        }
        void this.metaDb.put(TIP_KEY, encodeTip(after), after.height);
      });
    } catch (err) {
      throw this.fail(new BlockStoreError('write-failed', `committing blocks ${before.height}..${after.height - 1} failed: ${(err as Error).message}`, before.height));
    }
    if (!applied) {
      throw this.fail(
        this.failure ??
          new BlockStoreError('conflict', `the stored chain is no longer at height ${before.height}: another writer changed the store`, before.height),
      );
    }
    if (after.height > this.durable.height) this.durable = after;
    for (const p of prepared) this.remember(p.stored);
    this.logger.debug({ from: before.height, to: after.height - 1 }, 'blocks appended');
    this.notifier.notify();
  }

  private fail(err: BlockStoreError): BlockStoreError {
    if (this.failure === undefined) {
      this.failure = err;
      this.logger.error({ err }, 'block store write failed; reopen the store');
    }
    return err;
  }

  private remember(stored: StoredBlock): void {
    if (stored.bytes.length > this.recentMaxBytes) return;
    this.recent.set(stored.number, stored);
    this.recentBytes += stored.bytes.length;
    for (const [number, old] of this.recent) {
      if (this.recentBytes <= this.recentMaxBytes) break;
      this.recent.delete(number);
      this.recentBytes -= old.bytes.length;
    }
  }

  iterate(fromNumber: number, options: BlockIteratorOptions = {}): BlockIterator {
    this.openIterators++;
    return new StoreBlockIterator(this, fromNumber, options.signal);
  }

  iteratorFinished(): void {
    this.openIterators--;
  }

  closedError(): Error | undefined {
    return this.closedWith;
  }

  async verify(): Promise<VerifyReport> {
    this.assertOpen();
    const { height, lastHash } = this.durable;
    let previousHash: Uint8Array = EMPTY;
    let bytesChecked = 0;
    let bytesSinceYield = 0;
    for (let number = 0; number < height; number++) {
      const bytes = this.blocksDb.get(blockKey(number));
      if (bytes === undefined) throw new CorruptionError(number, 'missing-block', `block ${number} is below height ${height} but not stored`);
      const stored = checkStored(number, bytes);
      const header = stored.block.header;
      if (header === undefined || !bytesEqual(header.previousHash, previousHash)) {
        throw new CorruptionError(number, 'previous-hash', `previous_hash does not match the hash of block ${number - 1}`);
      }
      this.checkTxIndex(stored);
      previousHash = stored.headerHash;
      bytesChecked += bytes.length;
      bytesSinceYield += bytes.length;
      if (bytesSinceYield >= VERIFY_YIELD_EVERY_BYTES) {
        bytesSinceYield = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.assertOpen();
      }
    }
    if (height > 0 && !bytesEqual(previousHash, lastHash)) {
      throw new CorruptionError(height - 1, 'tip-mismatch', 'the recorded hash of the last block differs from the stored block');
    }
    // Appends may have landed while verify yielded: look above the tip as it is stored now.
    const storedTip = decodeTip(this.metaDb.get(TIP_KEY));
    checkNothingAbove(this.blocksDb, Math.max(height, storedTip?.height ?? 0));
    return { height, bytesChecked };
  }

  private checkTxIndex(stored: StoredBlock): void {
    const envelopes = stored.block.data?.data ?? [];
    envelopes.forEach((envelope, txIndex) => {
      const key = txIdKey(envelopeTxIdOrEmpty(envelope));
      if (key === undefined) return;
      const value = this.txIdsDb.get(key);
      const indexed = value === undefined ? undefined : decodeTxLocation(value);
      const earlierOrHere =
        indexed !== undefined &&
        (indexed.blockNumber < stored.number || (indexed.blockNumber === stored.number && indexed.txIndex <= txIndex));
      if (!earlierOrHere) {
        throw new CorruptionError(stored.number, 'txid-index', `tx ${key.toString('utf8')} at position ${txIndex} is not indexed`);
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
    this.closedWith = new BlockStoreError('closed', `block store of channel ${this.channelId} is closed`);
    this.notifier.notify();
    try {
      this.env.transactionSync(() => {
        const current = parseOwnerRecord(this.metaDb.get(OWNER_KEY) ?? EMPTY);
        if (current?.pid === this.owner.pid && current.openedAtMs === this.owner.openedAtMs) this.metaDb.remove(OWNER_KEY);
      });
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

/**
 * Opens (creating if needed) the block store of one channel and claims it for this process.
 * Rejects with BlockStoreError('locked') while another live process has it open, and with
 * CorruptionError when the recorded tip does not match the last stored block.
 */
export async function openBlockStore(options: OpenBlockStoreOptions): Promise<LmdbBlockStore> {
  const { channelId, logger } = options;
  if (!CHANNEL_ID_PATTERN.test(channelId) || channelId.length > MAX_CHANNEL_ID_CHARS) {
    throw new BlockStoreError('invalid-channel', `channel id ${JSON.stringify(channelId)} is not a valid channel name`);
  }
  const dir = channelStoreDir(options.dir, channelId);
  mkdirSync(dir, { recursive: true });
  const location = realpathSync(dir);
  if (openInThisProcess.has(location)) {
    throw new BlockStoreError('locked', `block store ${location} is already open in this process`);
  }
  openInThisProcess.add(location);
  let env: RootDatabase | undefined;
  try {
    env = open({
      path: location,
      maxDbs: 4,
      // Durability: a commit returns only after LMDB's own fsyncs (data pages, then the meta page).
      // overlappingSync would resolve at commit and sync later, so it stays off; noSync never.
      overlappingSync: false,
      useWritemap: options.useWriteMap ?? false,
      compression: false,
      encoding: 'binary',
      keyEncoding: 'binary',
    });
    const dbOptions = { encoding: 'binary', keyEncoding: 'binary', compression: false } as const;
    const blocksDb: Database<Bytes, Buffer> = env.openDB('blocks', dbOptions);
    const txIdsDb: Database<Bytes, Buffer> = env.openDB('txids', dbOptions);
    // Versions on the meta records: the tip's version is the height, which appends are conditional on.
    const metaDb: Database<Bytes, Buffer> = env.openDB('meta', { ...dbOptions, useVersions: true });
    const self = ownRecord(Date.now());
    const tip = env.transactionSync(() => {
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
          logger.warn({ channel: channelId, previous }, 'taking over a block store last opened on another host; make sure that process is gone');
        } else {
          logger.info({ channel: channelId, previousPid: previous.pid }, 'previous owner of the block store is gone; taking over');
        }
      }
      const format = metaDb.get(FORMAT_KEY);
      if (format === undefined) metaDb.put(FORMAT_KEY, Buffer.from([FORMAT_VERSION]));
      else if (format[0] !== FORMAT_VERSION) throw new BlockStoreError('unsupported-format', `block store ${location} has format ${format[0]}, expected ${FORMAT_VERSION}`);
      const stored = decodeTip(metaDb.get(TIP_KEY));
      const recorded = stored ?? { height: 0, lastHash: EMPTY };
      checkTip(blocksDb, recorded);
      if (stored === undefined) void metaDb.put(TIP_KEY, encodeTip(recorded), 0);
      // Claimed last: a store that fails the checks above is left without an owner record.
      metaDb.put(OWNER_KEY, encodeOwnerRecord(self));
      return recorded;
    });
    const store = new LmdbBlockStore(
      channelId,
      location,
      env,
      blocksDb,
      txIdsDb,
      metaDb,
      self,
      tip,
      logger.child({ channel: channelId }),
      options.recentBlocksMaxBytes ?? DEFAULT_RECENT_BLOCKS_MAX_BYTES,
    );
    logger.info({ channel: channelId, height: tip.height, location }, 'block store opened');
    return store;
  } catch (err) {
    if (env !== undefined) await env.close();
    openInThisProcess.delete(location);
    throw err;
  }
}
