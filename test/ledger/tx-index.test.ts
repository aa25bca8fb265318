// The tx-id index lives in its own LMDB environment (<channel dir>/txindex/) and is repaired from
// the blocks at open: these tests damage it in the ways a crash, an operator or a disk can, and
// check that lookups answer from the blocks that are really stored.
import { cpSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { blockHeaderHash, channelStoreDir, CorruptionError, openBlockStore, TX_INDEX_DIR, type LmdbBlockStore } from '../../ledger';
import { common } from '../../protos';
import { isIndexedTxId, txIdKey } from '../../ledger/lmdb-records';
import type { TxIdIndex } from '../../ledger/tx-index';
import { ChainBuilder, makeEnvelope, SeededRandom } from './fixtures/chain';
import { capturingLogger, silentLogger, tempDir } from './helpers';

const CHANNEL = 'idx';
let tmp: ReturnType<typeof tempDir>;
let store: LmdbBlockStore | undefined;

beforeEach(() => {
  tmp = tempDir('txindex');
});

afterEach(async () => {
  await store?.close();
  store = undefined;
  tmp.remove();
});

const storeDir = (dir = tmp.dir): string => channelStoreDir(dir, CHANNEL);
const indexDir = (dir = tmp.dir): string => path.join(storeDir(dir), TX_INDEX_DIR);

async function reopen(logger = silentLogger): Promise<LmdbBlockStore> {
  await store?.close();
  store = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger, recentBlocksMaxBytes: 0 });
  return store;
}

/** Blocks whose envelopes carry `${prefix}-<block>-<position>` tx ids. */
function blocksOf(chain: ChainBuilder, prefix: string, count: number, perBlock = 3): Uint8Array[] {
  const data = new SeededRandom(chain.nextNumber + 1).bytes(100);
  return Array.from({ length: count }, () => {
    const number = chain.nextNumber;
    return chain.next(Array.from({ length: perBlock }, (_, i) => makeEnvelope(`${prefix}-${number}-${i}`, data)));
  });
}

async function appendEach(s: LmdbBlockStore, blocks: Uint8Array[]): Promise<void> {
  for (const block of blocks) await s.append(block);
}

/**
 * Copies the block environment's file as it is now (the store closed); the returned function puts
 * it back, as if later block commits never reached the disk.
 */
function keepBlockFile(): () => void {
  const file = path.join(storeDir(), 'data.mdb');
  const copy = path.join(tmp.dir, `blocks-${Date.now()}-${Math.random()}`);
  cpSync(file, copy);
  return () => cpSync(copy, file);
}

/** Opens the store, appends `count` blocks one at a time and closes it again. */
async function appendClosed(chain: ChainBuilder, prefix: string, count: number): Promise<void> {
  await appendEach(await reopen(), blocksOf(chain, prefix, count));
  await store!.close();
  store = undefined;
}

function expectIndexed(s: LmdbBlockStore, prefix: string, fromBlock: number, toBlock: number, perBlock = 3): void {
  for (let n = fromBlock; n < toBlock; n++) {
    for (let i = 0; i < perBlock; i++) expect(s.getByTxId(`${prefix}-${n}-${i}`)).toEqual({ blockNumber: n, txIndex: i });
  }
}

const logged = (records: Record<string, unknown>[], msg: string): Record<string, unknown>[] => records.filter((r) => r.msg === msg);

test('the index survives a reopen as it is: nothing is re-indexed', async () => {
  const chain = new ChainBuilder();
  await appendEach(await reopen(), blocksOf(chain, 'a', 5));
  const { logger, messages } = capturingLogger();
  const s = await reopen(logger);
  expectIndexed(s, 'a', 0, 5);
  expect(messages().filter((m) => m.includes('index'))).toEqual([]);
  await expect(s.verify()).resolves.toMatchObject({ height: 5 });
});

test('a deleted index directory is rebuilt from the blocks at open', async () => {
  const chain = new ChainBuilder();
  await appendClosed(chain, 'a', 6);
  rmSync(indexDir(), { recursive: true });
  const { logger, records } = capturingLogger();
  const s = await reopen(logger);
  expectIndexed(s, 'a', 0, 6);
  expect(logged(records, 're-indexed tx ids of blocks missing from the index')).toMatchObject([{ blocks: 6, from: 0, height: 6 }]);
  await expect(s.verify()).resolves.toMatchObject({ height: 6 });
  // and the rebuilt index takes new blocks
  await appendEach(s, blocksOf(chain, 'b', 2));
  expectIndexed(await reopen(), 'b', 6, 8);
});

test('an index left behind the blocks (copied from an earlier point) is caught up at open', async () => {
  const chain = new ChainBuilder();
  await appendClosed(chain, 'a', 3);
  const earlier = path.join(tmp.dir, 'index-at-3');
  cpSync(indexDir(), earlier, { recursive: true });
  await appendClosed(chain, 'a', 4);
  rmSync(indexDir(), { recursive: true });
  cpSync(earlier, indexDir(), { recursive: true });

  const { logger, records } = capturingLogger();
  const s = await reopen(logger);
  expect(s.height()).toBe(7);
  expectIndexed(s, 'a', 0, 7);
  expect(logged(records, 're-indexed tx ids of blocks missing from the index')).toMatchObject([{ blocks: 4, from: 3, height: 7 }]);
  expect(records.filter((r) => r.level === 40)).toEqual([]); // caught up, not rebuilt
  await expect(s.verify()).resolves.toMatchObject({ height: 7 });
});

test('tx ids are found as soon as their append resolves, before the index is written; a clean close writes them', async () => {
  const chain = new ChainBuilder();
  await store?.close();
  // A long flush interval, so that nothing is written behind the appends while the test looks.
  const s = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger, recentBlocksMaxBytes: 0, indexFlushIntervalMs: 60_000 });
  store = s;
  await appendEach(s, blocksOf(chain, 'a', 3));
  // Written behind the appends: nothing of it is in the index yet. After a
  // crash in this window open re-indexes them (block-store-processes.test.ts kills a writer).
  const index = open({ path: indexDir(), readOnly: true, maxDbs: 4, encoding: 'binary', keyEncoding: 'binary' });
  try {
    expect(index.openDB('txids', { encoding: 'binary', keyEncoding: 'binary' }).getKeysCount()).toBe(0);
  } finally {
    await index.close();
  }
  expectIndexed(s, 'a', 0, 3);
  // A clean close writes the rest: the next open has nothing to re-index.
  await s.close();
  store = undefined;
  const { logger, records } = capturingLogger();
  const reopened = await reopen(logger);
  expect(logged(records, 're-indexed tx ids of blocks missing from the index')).toEqual([]);
  expectIndexed(reopened, 'a', 0, 3);
});

test('an index write that fails (a full disk) stops the store, and the next open indexes everything the failed writes missed', async () => {
  const chain = new ChainBuilder();
  await store?.close();
  const s = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger, recentBlocksMaxBytes: 0, indexFlushIntervalMs: 60_000 });
  store = s;
  await appendEach(s, blocksOf(chain, 'a', 3));
  // The first index write fails (the disk was full for a moment); later ones would succeed.
  const index = Reflect.get(s, 'index') as object;
  const writeChunk = Reflect.get(index, 'writeChunk') as (...args: unknown[]) => Promise<boolean>;
  let failuresLeft = 1;
  Reflect.set(index, 'writeChunk', (...args: unknown[]) =>
    failuresLeft-- > 0 ? Promise.reject(new Error('ENOSPC: no space left on device')) : writeChunk.apply(index, args),
  );
  // An append in flight when the index write fails still lands; nothing written after the failure
  // may claim the index is complete up to it.
  const inFlight = s.append(blocksOf(chain, 'a', 1)[0]!);
  await expect(s.verify()).rejects.toThrow(/indexing the tx ids of blocks from 0 failed: ENOSPC/);
  await inFlight.catch(() => undefined);
  await expect(s.append(blocksOf(chain, 'a', 1)[0]!)).rejects.toThrow(/earlier write failed/);
  expectIndexed(s, 'a', 0, s.height()); // still answered from memory
  const height = s.height();
  await s.close();
  store = undefined;

  const { logger, records } = capturingLogger();
  const reopened = await reopen(logger);
  expect(reopened.height()).toBe(height);
  expectIndexed(reopened, 'a', 0, height);
  expect(logged(records, 're-indexed tx ids of blocks missing from the index')).toMatchObject([{ from: 0, height }]);
  await expect(reopened.verify()).resolves.toMatchObject({ height });
});

/** Opens a store whose index is written only in windows of `windowTxIds` ids, `chunkTxIds` per transaction. */
async function openWindowed(windowTxIds: number, chunkTxIds: number, logger = silentLogger): Promise<LmdbBlockStore> {
  await store?.close();
  store = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger, recentBlocksMaxBytes: 0, indexFlushIntervalMs: 60_000, indexWindowTxIds: windowTxIds, indexChunkTxIds: chunkTxIds });
  return store;
}

/** The tx ids the index environment holds, read from its file (the store closed). */
function indexedKeysOnDisk(): number {
  const index = open({ path: indexDir(), readOnly: true, maxDbs: 4, encoding: 'binary', keyEncoding: 'binary' });
  try {
    return index.openDB('txids', { encoding: 'binary', keyEncoding: 'binary' }).getKeysCount();
  } finally {
    void index.close();
  }
}

/** Makes the index's chunk writes after the first `okChunks` fail; returns how many were asked for. */
function failChunksAfter(s: LmdbBlockStore, okChunks: number): () => number {
  const index = Reflect.get(s, 'index') as object;
  const writeChunk = Reflect.get(index, 'writeChunk') as (...args: unknown[]) => Promise<boolean>;
  let calls = 0;
  Reflect.set(index, 'writeChunk', (...args: unknown[]) =>
    calls++ < okChunks ? writeChunk.apply(index, args) : Promise.reject(new Error('EIO: input/output error')),
  );
  return () => calls;
}

test('a window is written once it holds enough ids, in chunks sorted by tx id, without waiting for its time', async () => {
  const chain = new ChainBuilder();
  // 4 ids make a window (whole blocks), 2 ids per transaction; the timer would wait a minute.
  const s = await openWindowed(4, 2);
  const index = Reflect.get(s, 'index') as object;
  const writeChunk = Reflect.get(index, 'writeChunk') as (...args: unknown[]) => Promise<boolean>;
  const chunks: string[][] = [];
  Reflect.set(index, 'writeChunk', (entries: { txId: string }[], ...rest: unknown[]) => {
    chunks.push(entries.map((e) => e.txId));
    return writeChunk.call(index, entries, ...rest);
  });
  const data = Uint8Array.of(5);
  await s.append(chain.next(['z', 'm', 'a'].map((id) => makeEnvelope(id, data))));
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(chunks).toEqual([]); // 3 ids: below the window, and its time is far
  await s.append(chain.next(['q', 'b', 'y'].map((id) => makeEnvelope(id, data))));
  for (let waited = 0; chunks.length < 2 && waited < 2_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  // The window is the first block (a second would make it 6 ids), sorted: a, m | z.
  expect(chunks).toEqual([['a', 'm'], ['z']]);
  await s.verify(); // writes what is left: the second block
  expect(chunks).toEqual([['a', 'm'], ['z'], ['b', 'q'], ['y']]);
  expect(s.getByTxId('z')).toEqual({ blockNumber: 0, txIndex: 0 });
  expect(s.getByTxId('y')).toEqual({ blockNumber: 1, txIndex: 2 });
});

test('an id seen twice in one window keeps its first occurrence, also when the two are in different chunks', async () => {
  const chain = new ChainBuilder();
  const s = await openWindowed(1_000, 1);
  const data = Uint8Array.of(7);
  await s.append(chain.next([makeEnvelope('dup', data), makeEnvelope('b', data)]));
  await s.append(chain.next([makeEnvelope('a', data), makeEnvelope('dup', data)]));
  await s.close();
  store = undefined;
  const reopened = await reopen();
  expect(reopened.getByTxId('dup')).toEqual({ blockNumber: 0, txIndex: 0 });
  expect(reopened.getByTxId('a')).toEqual({ blockNumber: 1, txIndex: 0 });
  await expect(reopened.verify()).resolves.toMatchObject({ height: 2 });
});

test('a crash in the middle of a window: the chunks written stay, the next open indexes the whole window again', async () => {
  const chain = new ChainBuilder();
  const s = await openWindowed(1_000, 4);
  await appendEach(s, blocksOf(chain, 'a', 4)); // 12 ids: 3 chunks
  const asked = failChunksAfter(s, 1);
  await expect(s.verify()).rejects.toThrow(/indexing the tx ids of blocks from 0 failed: EIO/);
  expect(asked()).toBe(2);
  expectIndexed(s, 'a', 0, 4); // still answered from memory
  await s.close();
  store = undefined;
  expect(indexedKeysOnDisk()).toBe(4); // the first chunk is in; its height is not recorded

  const { logger, records } = capturingLogger();
  const reopened = await reopen(logger);
  expect(logged(records, 're-indexed tx ids of blocks missing from the index')).toMatchObject([{ from: 0, height: 4 }]);
  expect(records.filter((r) => r.level === 40)).toEqual([]);
  expectIndexed(reopened, 'a', 0, 4);
  await expect(reopened.verify()).resolves.toMatchObject({ height: 4 });
  // The window's mark is gone with the catch-up: a later open has nothing to do.
  expect((Reflect.get(reopened, 'index') as TxIdIndex).writing()).toBeUndefined();
  await appendEach(reopened, blocksOf(chain, 'b', 1));
  const { logger: quiet, records: none } = capturingLogger();
  expectIndexed(await reopen(quiet), 'b', 4, 5);
  expect(none.filter((r) => String(r.msg).includes('index'))).toEqual([]);
});

test('entries of a window cut short above a block file restored from an older copy make the index be rebuilt', async () => {
  const chain = new ChainBuilder();
  const s = await openWindowed(1_000, 3);
  await appendEach(s, blocksOf(chain, 'a', 2));
  await s.verify(); // the index is at height 2
  await s.close();
  store = undefined;
  const restoreBlocksAt2 = keepBlockFile();
  const again = await openWindowed(1_000, 3);
  await appendEach(again, blocksOf(chain, 'lost', 3));
  failChunksAfter(again, 1); // one chunk of the blocks 2-4 is written, then the process "dies"
  await expect(again.verify()).rejects.toThrow(/EIO/);
  await again.close();
  store = undefined;
  restoreBlocksAt2();

  const { logger, records } = capturingLogger();
  const reopened = await reopen(logger);
  expect(logged(records, 'the tx-id index does not match the blocks; rebuilding it from the blocks')).toMatchObject([
    { reason: expect.stringMatching(/entries of blocks up to height 5, above the block height 2/) },
  ]);
  expect(reopened.height()).toBe(2);
  expectIndexed(reopened, 'a', 0, 2);
  // A block 2 of this chain, and nothing of the lost one is taken for ordered.
  await reopened.append(new ChainBuilder(2, reopened.lastHeaderHash()).next([makeEnvelope('other', Uint8Array.of(1))]));
  for (let n = 2; n < 5; n++) for (let i = 0; i < 3; i++) expect(reopened.getByTxId(`lost-${n}-${i}`)).toBeUndefined();
  await expect(reopened.verify()).resolves.toMatchObject({ height: 3 });
});

test('two ids with one key (an unpaired surrogate and U+FFFD): the index keeps the first occurrence, and the store verifies', async () => {
  const chain = new ChainBuilder();
  const s = await openWindowed(1_000, 1);
  // txIdKey writes both as UTF-8, where the unpaired surrogate becomes U+FFFD's bytes.
  await s.append(chain.next([makeEnvelope('x\uFFFD', Uint8Array.of(1))]));
  await s.append(chain.next([makeEnvelope('x\uD800', Uint8Array.of(2))]));
  expect(s.getByTxId('x\uFFFD')).toEqual({ blockNumber: 0, txIndex: 0 });
  await s.close();
  store = undefined;
  const reopened = await reopen();
  expect(reopened.getByTxId('x\uFFFD')).toEqual({ blockNumber: 0, txIndex: 0 });
  expect(reopened.getByTxId('x\uD800')).toEqual({ blockNumber: 0, txIndex: 0 });
  await expect(reopened.verify()).resolves.toMatchObject({ height: 2 });
});

test('entries of a window cut short that name another block at its height (the blocks replaced by another chain) make the index be rebuilt', async () => {
  // The same first two blocks in another directory, then blocks 2-4 of another chain there.
  const other = tempDir('txindex-other-chain');
  try {
    const otherChain = new ChainBuilder();
    const otherStore = await openBlockStore({ dir: other.dir, channelId: CHANNEL, logger: silentLogger });
    await appendEach(otherStore, blocksOf(otherChain, 'a', 2));
    await appendEach(otherStore, blocksOf(otherChain, 'b', 3));
    await otherStore.close();

    const chain = new ChainBuilder();
    const s = await openWindowed(1_000, 3);
    await appendEach(s, blocksOf(chain, 'a', 2));
    await s.verify(); // indexed up to height 2, which both chains share
    await appendEach(s, blocksOf(chain, 'lost', 3)); // blocks 2-4 of this chain
    failChunksAfter(s, 1); // one chunk of their window is written, then the process "dies"
    await expect(s.verify()).rejects.toThrow(/EIO/);
    await s.close();
    store = undefined;
    cpSync(path.join(storeDir(other.dir), 'data.mdb'), path.join(storeDir(), 'data.mdb'));

    const { logger, records } = capturingLogger();
    const reopened = await reopen(logger);
    expect(logged(records, 'the tx-id index does not match the blocks; rebuilding it from the blocks')).toMatchObject([
      { reason: expect.stringMatching(/entries of a block 4 whose header hash differs from the stored one/) },
    ]);
    expect(reopened.height()).toBe(5);
    expectIndexed(reopened, 'b', 2, 5);
    for (let n = 2; n < 5; n++) for (let i = 0; i < 3; i++) expect(reopened.getByTxId(`lost-${n}-${i}`)).toBeUndefined();
    await expect(reopened.verify()).resolves.toMatchObject({ height: 5 });
  } finally {
    other.remove();
  }
});

test('an index ahead of the blocks (the block file restored from an older copy) is rebuilt', async () => {
  const chain = new ChainBuilder();
  await appendClosed(chain, 'a', 2);
  const restoreBlocksAt2 = keepBlockFile();
  await appendClosed(chain, 'lost', 3);
  restoreBlocksAt2();

  const { logger, records } = capturingLogger();
  const s = await reopen(logger);
  expect(logged(records, 'the tx-id index does not match the blocks; rebuilding it from the blocks')).toHaveLength(1);
  expect(s.height()).toBe(2);
  expectIndexed(s, 'a', 0, 2);
  await s.append(new ChainBuilder(chain.nextNumber - 3, s.lastHeaderHash()).next([makeEnvelope('other', Uint8Array.of(1))]));
  expect(s.getByTxId('lost-2-0')).toBeUndefined();
  expect(s.getByTxId('other')).toEqual({ blockNumber: 2, txIndex: 0 });
});

test('an index of another chain at the same height is detected by its hash and rebuilt', async () => {
  const other = tempDir('txindex-other');
  try {
    const otherStore = await openBlockStore({ dir: other.dir, channelId: CHANNEL, logger: silentLogger });
    await appendEach(otherStore, blocksOf(new ChainBuilder(), 'b', 4));
    await otherStore.close();
    await appendClosed(new ChainBuilder(), 'a', 4);
    rmSync(indexDir(), { recursive: true });
    cpSync(indexDir(other.dir), indexDir(), { recursive: true });

    const { logger, records } = capturingLogger();
    const s = await reopen(logger);
    expect(logged(records, 'the tx-id index does not match the blocks; rebuilding it from the blocks')).toMatchObject([{ path: indexDir() }]);
    expectIndexed(s, 'a', 0, 4);
    expect(s.getByTxId('b-1-0')).toBeUndefined();
    await expect(s.verify()).resolves.toMatchObject({ height: 4 });
  } finally {
    other.remove();
  }
});

test('an index environment that is not an LMDB file any more is deleted and rebuilt, with a warning naming it', async () => {
  const chain = new ChainBuilder();
  await appendClosed(chain, 'a', 4);
  // lmdb-js takes the whole process down (SIGSEGV) when asked to open such a file.
  writeFileSync(path.join(indexDir(), 'data.mdb'), new SeededRandom(3).bytes(64 * 1024));

  const { logger, records } = capturingLogger();
  const s = await reopen(logger);
  expect(logged(records, 'the tx-id index cannot be opened; deleting it and rebuilding it from the blocks')).toMatchObject([{ level: 40, path: indexDir() }]);
  expectIndexed(s, 'a', 0, 4);
  await expect(s.verify()).resolves.toMatchObject({ height: 4 });
});

test('a format 1 store (tx ids inside the block environment) is migrated: lookups work, and the old index is gone', async () => {
  // Written the way format 1 stores were: blocks, txids and meta in one environment.
  const chain = new ChainBuilder();
  const blocks = blocksOf(chain, 'a', 3);
  const env = open({ path: storeDir(), maxDbs: 4, overlappingSync: false });
  const dbOptions = { encoding: 'binary', keyEncoding: 'binary' } as const;
  const blocksDb = env.openDB('blocks', dbOptions);
  const txIdsDb = env.openDB('txids', dbOptions);
  const metaDb = env.openDB('meta', { ...dbOptions, useVersions: true });
  const key = (n: number): Buffer => Buffer.from([0, 0, 0, 0, 0, 0, 0, n]);
  blocks.forEach((b, n) => void blocksDb.put(key(n), Buffer.from(b)));
  await txIdsDb.put(Buffer.from('a-0-0'), Buffer.concat([key(0), Buffer.alloc(4)]));
  const tip = Buffer.concat([key(3), Buffer.from(blockHeaderHash(common.Block.decode(blocks[2]!).header!))]);
  await metaDb.put(Buffer.from('tip'), tip, 3);
  await metaDb.put(Buffer.from('format'), Buffer.from([1]));
  await env.close();
  expect(existsSync(indexDir())).toBe(false);

  const s = await reopen();
  expect(s.height()).toBe(3);
  expectIndexed(s, 'a', 0, 3);
  await s.close();
  store = undefined;
  const after = open({ path: storeDir(), maxDbs: 4, overlappingSync: false });
  try {
    // A format 1 binary refuses the migrated store (format 3, its 3 blocks kept whole) instead of answering from a stale index.
    expect(after.openDB('meta', { ...dbOptions, useVersions: true }).get(Buffer.from('format'))).toEqual(Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 3]));
    expect(after.openDB('txids', dbOptions).getKeysCount()).toBe(0);
  } finally {
    await after.close();
  }
});

test('an open that fails while re-indexing leaves the store unclaimed: the next open fails the same way, not as locked', async () => {
  const chain = new ChainBuilder();
  await appendClosed(chain, 'a', 4);
  rmSync(indexDir(), { recursive: true });
  const env = open({ path: storeDir(), maxDbs: 4, overlappingSync: false });
  await env.openDB('blocks', { encoding: 'binary', keyEncoding: 'binary' }).put(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]), Buffer.from([0xff, 0xff]));
  await env.close();

  for (let attempt = 0; attempt < 2; attempt++) {
    const err = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect(err).toMatchObject({ blockNumber: 1, kind: 'undecodable' });
  }
});

describe('index keys of tx ids', () => {
  test('isIndexedTxId says exactly when txIdKey makes a key; Fabric ids are packed, anything else is UTF-8', () => {
    const hex = 'ab'.repeat(32);
    const ids = [
      '',
      hex,
      hex.toUpperCase(),
      `${hex.slice(0, 63)}g`,
      hex.slice(0, 62),
      `${hex}0`,
      'plain id',
      'x'.repeat(510),
      'x'.repeat(511),
      'é'.repeat(255), // 510 UTF-8 bytes
      'é'.repeat(256),
      '€'.repeat(170), // 510 UTF-8 bytes in 170 code units
      '€'.repeat(171),
    ];
    for (const id of ids) expect([id.length, isIndexedTxId(id)]).toEqual([id.length, txIdKey(id) !== undefined]);
    expect(txIdKey(hex)).toEqual(Buffer.concat([Buffer.of(0), Buffer.from(hex, 'hex')]));
    expect(txIdKey(hex.toUpperCase())).toEqual(Buffer.concat([Buffer.of(1), Buffer.from(hex.toUpperCase(), 'utf8')]));
    expect(txIdKey(`${hex.slice(0, 63)}g`)![0]).toBe(1);
  });
});
