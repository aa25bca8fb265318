// Format 3 of the block store: a block given as its header and data plus a metadata field is kept
// as those two records and read back as the same block; format 1 and 2 stores are migrated without
// rewriting their blocks; a missing or damaged metadata record is corruption naming the data file.
import path from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { blockMetadataOffset, common, encodeBlockMetadataField } from '../../protos';
import { blockHeaderHash, BlockStoreError, channelStoreDir, CorruptionError, openBlockStore, type DecodedBlockInput, type LmdbBlockStore } from '../../ledger';
import { ChainBuilder, makeEnvelope, SeededRandom } from './fixtures/chain';
import { corruption, silentLogger, tempDir } from './helpers';

const CHANNEL = 'pieces';
let tmp: ReturnType<typeof tempDir>;
let store: LmdbBlockStore | undefined;

beforeEach(() => {
  tmp = tempDir('pieces');
});

afterEach(async () => {
  await store?.close();
  store = undefined;
  tmp.remove();
});

const storeDir = (): string => channelStoreDir(tmp.dir, CHANNEL);
const dataFile = (): string => path.join(storeDir(), 'data.mdb');
const reopen = async (): Promise<LmdbBlockStore> => {
  await store?.close();
  store = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger });
  return store;
};
const key = (n: number): Buffer => {
  const k = Buffer.alloc(8);
  k.writeUInt32BE(n, 4);
  return k;
};
const dbOptions = { encoding: 'binary', keyEncoding: 'binary' } as const;

/** Runs `f` on the store's LMDB environment directly, bypassing the store. */
async function raw(f: (env: RootDatabase) => Promise<unknown>): Promise<void> {
  const env = open({ path: storeDir(), maxDbs: 4, overlappingSync: false });
  try {
    await f(env);
  } finally {
    await env.close();
  }
}

/**
 * What a node writes for a committed entry: the entry's header and data as they are, and the
 * metadata it filled in (here a signature-sized value) as the field after them.
 */
function inPieces(entry: Uint8Array, number: number): { input: DecodedBlockInput; whole: Buffer } {
  const block = common.Block.decode(entry);
  block.metadata = { metadata: [Buffer.alloc(72, number + 1), Buffer.alloc(0), Buffer.from([number])] };
  const at = blockMetadataOffset(entry);
  if (at === undefined) throw new Error('the fixture encodes blocks in field order');
  const metadataField = encodeBlockMetadataField(block.metadata);
  return { input: { bytes: entry.subarray(0, at), metadataField, block }, whole: Buffer.from(common.Block.encode(block)) };
}

test('a block given in pieces is stored as them and read back, from the cache and from disk, as the same block', async () => {
  const s = await reopen();
  const chain = new ChainBuilder();
  const random = new SeededRandom(7);
  const wholes: Buffer[] = [];
  for (let n = 0; n < 4; n++) {
    const entry = chain.next([makeEnvelope(`tx-${n}`, random.bytes(n === 2 ? 300_000 : 500))]);
    const { input, whole } = inPieces(entry, n);
    await s.append(input);
    wholes.push(whole);
    // The header and data are not copied: the cache keeps the entry's own memory.
    expect(s.getBlock(n)!.pieces?.[0]?.buffer).toBe(entry.buffer);
  }
  const check = (from: LmdbBlockStore): void => {
    for (let n = 0; n < 4; n++) {
      const stored = from.getBlock(n)!;
      expect(Buffer.from(stored.bytes)).toEqual(wholes[n]);
      expect(Buffer.concat(stored.pieces!)).toEqual(wholes[n]);
      expect(stored.block.metadata?.metadata[2]).toEqual(Buffer.from([n]));
      expect(Buffer.from(stored.headerHash)).toEqual(Buffer.from(blockHeaderHash(common.Block.decode(wholes[n]!).header!)));
    }
  };
  check(s);
  const again = await reopen();
  check(again);
  await expect(again.verify()).resolves.toEqual({ height: 4, bytesChecked: wholes.reduce((sum, w) => sum + w.length, 0) });
  const iterator = again.iterate(0);
  const first = await iterator.next();
  expect(Buffer.from(first.value!.bytes)).toEqual(wholes[0]);
  await iterator.return();
});

test('a new store records format 3 storing every block in two records; a block given whole is read back whole', async () => {
  const s = await reopen();
  const chain = new ChainBuilder();
  const whole = chain.next([makeEnvelope('tx-0', new Uint8Array(10))]);
  await s.append(whole);
  await s.append(inPieces(chain.next([makeEnvelope('tx-1', new Uint8Array(10))]), 1).input);
  expect(s.getBlock(0)!.pieces).toBeUndefined();
  await s.close();
  store = undefined;
  await raw(async (env) => {
    expect(env.openDB('meta', { ...dbOptions, useVersions: true }).get(Buffer.from('format'))).toEqual(Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 0]));
    const metadata = env.openDB('metadata', dbOptions);
    // The whole block's record says so; the other's is its metadata field.
    expect(metadata.get(key(0))).toEqual(Buffer.from([0]));
    expect(metadata.get(key(1))?.[0]).toBe(0x1a);
  });
  const again = await reopen();
  expect(Buffer.from(again.getBlock(0)!.bytes)).toEqual(Buffer.from(whole));
  expect(again.getBlock(1)!.pieces).toHaveLength(2);
});

test('an append whose pieces are not a header and data, then one metadata field, is refused and changes nothing', async () => {
  const s = await reopen();
  const chain = new ChainBuilder();
  const entry = chain.next([makeEnvelope('tx-0', new Uint8Array(10))]);
  const { input } = inPieces(entry, 0);
  // The whole entry (with its own metadata field) before another metadata field: two would merge.
  await expect(s.append({ ...input, bytes: entry })).rejects.toMatchObject({ reason: 'malformed-block' });
  // Not a metadata field: the wrong tag, or a length that does not match.
  await expect(s.append({ ...input, metadataField: Buffer.from([0x12, 0x00]) })).rejects.toBeInstanceOf(BlockStoreError);
  await expect(s.append({ ...input, metadataField: Buffer.concat([input.metadataField!, Buffer.from([0])]) })).rejects.toMatchObject({ reason: 'malformed-block' });
  // Refused before anything was written: the store takes the block as it should be given.
  expect(s.height()).toBe(0);
  await s.append(input);
  expect(s.height()).toBe(1);
  const again = await reopen();
  expect(again.getBlock(0)!.pieces).toHaveLength(2);
});

/** Writes a store as format 2 wrote it: blocks whole, no metadata database, format record [2]. */
async function writeFormat2(blocks: Uint8Array[]): Promise<void> {
  const s = await reopen();
  await s.close();
  store = undefined;
  await raw(async (env) => {
    const blocksDb = env.openDB('blocks', dbOptions);
    const metaDb = env.openDB('meta', { ...dbOptions, useVersions: true });
    await env.openDB('metadata', dbOptions).drop();
    for (const [n, b] of blocks.entries()) await blocksDb.put(key(n), Buffer.from(b));
    const last = common.Block.decode(blocks[blocks.length - 1]!).header!;
    await metaDb.put(Buffer.from('tip'), Buffer.concat([key(blocks.length), Buffer.from(blockHeaderHash(last))]), blocks.length);
    await metaDb.put(Buffer.from('format'), Buffer.from([2]));
  });
}

test('a format 2 store is migrated at open: its blocks stay whole, later ones are stored in pieces, and both read back', async () => {
  const chain = new ChainBuilder();
  const old = [0, 1, 2].map((n) => chain.next([makeEnvelope(`tx-${n}`, new Uint8Array(100).fill(n))]));
  await writeFormat2(old);
  const s = await reopen();
  expect(s.height()).toBe(3);
  expect(s.getByTxId('tx-1')).toEqual({ blockNumber: 1, txIndex: 0 });
  const { input, whole } = inPieces(chain.next([makeEnvelope('tx-3', new Uint8Array(100))]), 3);
  await s.append(input);
  const again = await reopen();
  for (const n of [0, 1, 2]) expect(Buffer.from(again.getBlock(n)!.bytes)).toEqual(Buffer.from(old[n]!));
  expect(Buffer.from(again.getBlock(3)!.bytes)).toEqual(whole);
  await expect(again.verify()).resolves.toMatchObject({ height: 4 });
  await again.close();
  store = undefined;
  // A format 2 binary refuses it: the format is 3, and blocks from 3 on are in two records.
  await raw(async (env) => {
    expect(env.openDB('meta', { ...dbOptions, useVersions: true }).get(Buffer.from('format'))).toEqual(Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 3]));
  });
});

describe('damage to the metadata records', () => {
  /** A store of 4 blocks, each in pieces; then `damage` on its environment. */
  async function damaged(damage: (env: RootDatabase) => Promise<unknown>): Promise<void> {
    const s = await reopen();
    const chain = new ChainBuilder();
    for (let n = 0; n < 4; n++) await s.append(inPieces(chain.next([makeEnvelope(`tx-${n}`, new Uint8Array(50))]), n).input);
    await s.close();
    store = undefined;
    await raw(damage);
  }

  test("a block's missing metadata record: verify and reading it name the block and the file, its neighbours still read", async () => {
    await damaged((env) => env.openDB('metadata', dbOptions).remove(key(1)));
    const s = await reopen();
    const err = await corruption(s.verify());
    expect(err).toMatchObject({ blockNumber: 1, kind: 'missing-metadata', file: dataFile() });
    expect(() => s.getBlock(1)).toThrow(CorruptionError);
    expect(s.getBlock(2)!.block.header!.number).toBe(2);
  });

  test("the last block's missing metadata record fails the open", async () => {
    await damaged((env) => env.openDB('metadata', dbOptions).remove(key(3)));
    const err = await corruption(reopen());
    expect(err).toMatchObject({ blockNumber: 3, kind: 'missing-metadata', file: dataFile() });
  });

  test('a metadata record that is not one metadata field is undecodable', async () => {
    await damaged(async (env) => {
      const metadata = env.openDB('metadata', dbOptions);
      const record = metadata.get(key(2))!;
      await metadata.put(key(2), record.subarray(0, record.length - 1));
    });
    const s = await reopen();
    expect(await corruption(s.verify())).toMatchObject({ blockNumber: 2, kind: 'undecodable', file: dataFile() });
  });

  test('a metadata record above the height fails the open', async () => {
    await damaged((env) => env.openDB('metadata', dbOptions).put(key(4), Buffer.from([0])));
    expect(await corruption(reopen())).toMatchObject({ blockNumber: 4, kind: 'extra-block' });
  });

  for (const [what, record] of [
    ['first block in two records above the height', Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 100])],
    ['first block in two records above block 1', Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 2])],
    ['version byte damaged to 2', Buffer.from([2])],
  ] as const) {
    test(`a damaged format record (${what}) fails the open, rather than serving blocks without their metadata`, async () => {
      await damaged((env) => env.openDB('meta', { ...dbOptions, useVersions: true }).put(Buffer.from('format'), record));
      expect(await corruption(reopen())).toMatchObject({ kind: 'undecodable', file: dataFile() });
      // Nothing was migrated or claimed: the same open fails the same way.
      expect(await corruption(reopen())).toMatchObject({ kind: 'undecodable' });
    });
  }

  test('a format record of the wrong length fails the open, and a format this binary does not know is refused', async () => {
    await damaged((env) => env.openDB('meta', { ...dbOptions, useVersions: true }).put(Buffer.from('format'), Buffer.from([3, 0])));
    expect(await corruption(reopen())).toMatchObject({ blockNumber: -1, kind: 'undecodable' });
    await raw((env) => env.openDB('meta', { ...dbOptions, useVersions: true }).put(Buffer.from('format'), Buffer.from([4])));
    await expect(reopen()).rejects.toMatchObject({ reason: 'unsupported-format' });
  });
});
