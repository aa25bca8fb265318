import { open } from 'lmdb';
import { common } from '../../protos';
import {
  BlockStoreError,
  blockDataHash,
  blockHeaderHash,
  channelStoreDir,
  newBlock,
  openBlockStore,
  type LmdbBlockStore,
} from '../../ledger';
import { ChainBuilder, makeEnvelope, SeededRandom } from './fixtures/chain';
import { silentLogger, tempDir } from './helpers';

const hex = (b: Uint8Array | undefined): string => (b === undefined ? 'undefined' : Buffer.from(b).toString('hex'));

let tmp: ReturnType<typeof tempDir>;
let store: LmdbBlockStore;

beforeEach(async () => {
  tmp = tempDir('store');
  store = await openBlockStore({ dir: tmp.dir, channelId: 'mychannel', logger: silentLogger });
});

afterEach(async () => {
  await store.close();
  tmp.remove();
});

async function rejection(p: Promise<unknown>): Promise<BlockStoreError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BlockStoreError) return err;
    throw err;
  }
  throw new Error('expected the promise to reject');
}

describe('append and read back', () => {
  test('an empty store has height 0 and nothing to read', () => {
    expect(store.height()).toBe(0);
    expect(store.lastBlock()).toBeUndefined();
    expect(store.lastHeaderHash()).toBeUndefined();
    expect(store.getBlock(0)).toBeUndefined();
  });

  test('blocks come back byte for byte, decoded, with their header hash; they survive a reopen', async () => {
    const chain = new ChainBuilder();
    const random = new SeededRandom(1);
    const appended: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const bytes = chain.nextSimple(random, 100 + i * 1000);
      appended.push(bytes);
      await store.append(bytes);
      expect(store.height()).toBe(i + 1);
    }
    const check = (): void => {
      appended.forEach((bytes, n) => {
        const got = store.getBlock(n)!;
        expect(got.number).toBe(n);
        expect(hex(got.bytes)).toBe(hex(bytes));
        expect(got.block.header!.number).toBe(n);
        expect(hex(got.headerHash)).toBe(hex(blockHeaderHash(common.Block.decode(bytes).header!)));
      });
      expect(store.getBlock(5)).toBeUndefined();
      expect(store.lastBlock()!.number).toBe(4);
      expect(hex(store.lastHeaderHash())).toBe(hex(chain.previousHash));
    };
    check();
    await store.close();
    store = await openBlockStore({ dir: tmp.dir, channelId: 'mychannel', logger: silentLogger, recentBlocksMaxBytes: 0 });
    expect(store.height()).toBe(5);
    check();
    await expect(store.verify()).resolves.toMatchObject({ height: 5 });
  });

  test('a Block message can be appended directly and is stored as its canonical encoding', async () => {
    const block = newBlock(0, new Uint8Array(0), [makeEnvelope('t0', Uint8Array.of(1, 2, 3))]);
    await store.append(block);
    expect(hex(store.getBlock(0)!.bytes)).toBe(hex(common.Block.encode(block)));
  });

  test('bytes given as a subarray of a larger buffer are stored as exactly that range', async () => {
    const chain = new ChainBuilder();
    const bytes = chain.nextSimple(new SeededRandom(3), 64);
    const framed = new Uint8Array(bytes.length + 20).fill(0xee);
    framed.set(bytes, 10);
    await store.append(framed.subarray(10, 10 + bytes.length));
    await store.close();
    store = await openBlockStore({ dir: tmp.dir, channelId: 'mychannel', logger: silentLogger, recentBlocksMaxBytes: 0 });
    expect(hex(store.getBlock(0)!.bytes)).toBe(hex(bytes));
  });

  test('appends issued without waiting land in call order', async () => {
    const chain = new ChainBuilder();
    const random = new SeededRandom(2);
    const pending = Array.from({ length: 100 }, () => store.append(chain.nextSimple(random, 50)));
    await Promise.all(pending);
    expect(store.height()).toBe(100);
    await expect(store.verify()).resolves.toMatchObject({ height: 100 });
    // appends issued in one turn share LMDB transactions (group commit)
    expect(store.stats().writeTransactions).toBeLessThan(100);
  });

  test('appendBatch writes all its blocks in one transaction', async () => {
    const chain = new ChainBuilder();
    const random = new SeededRandom(4);
    await store.append(chain.nextSimple(random, 10));
    const before = store.stats().writeTransactions;
    await store.appendBatch(Array.from({ length: 50 }, () => chain.nextSimple(random, 200)));
    expect(store.height()).toBe(51);
    expect(store.stats().writeTransactions).toBe(before + 1);
  });
});

describe('verify', () => {
  test('a long verify and appends running at the same time both succeed', async () => {
    const chain = new ChainBuilder();
    const random = new SeededRandom(6);
    const payload = random.bytes(1024 * 1024);
    // More than verify's yield interval (32 MiB), so appends interleave with the walk.
    await store.appendBatch(Array.from({ length: 40 }, () => chain.next([makeEnvelope(`big-${chain.nextNumber}`, payload)])));
    const verifying = store.verify();
    const appending = (async () => {
      for (let i = 0; i < 5; i++) await store.append(chain.nextSimple(random, 100));
    })();
    const [report] = await Promise.all([verifying, appending]);
    expect(report.height).toBeGreaterThanOrEqual(40);
    expect(report.bytesChecked).toBeGreaterThan(40 * 1024 * 1024);
    await expect(store.verify()).resolves.toMatchObject({ height: 45 });
  });
});

describe('tx id index', () => {
  test('finds each tx by id; the first occurrence wins; empty ids are not indexed', async () => {
    const chain = new ChainBuilder();
    await store.append(chain.next([makeEnvelope('a', Uint8Array.of(1)), makeEnvelope('', Uint8Array.of(2)), makeEnvelope('b', Uint8Array.of(3))]));
    await store.append(chain.next([makeEnvelope('c', Uint8Array.of(4)), makeEnvelope('a', Uint8Array.of(5))]));
    await store.appendBatch([
      chain.next([makeEnvelope('d', Uint8Array.of(6)), makeEnvelope('d', Uint8Array.of(7))]),
      chain.next([makeEnvelope('b', Uint8Array.of(8))]),
    ]);
    expect(store.getByTxId('a')).toEqual({ blockNumber: 0, txIndex: 0 });
    expect(store.getByTxId('b')).toEqual({ blockNumber: 0, txIndex: 2 });
    expect(store.getByTxId('c')).toEqual({ blockNumber: 1, txIndex: 0 });
    expect(store.getByTxId('d')).toEqual({ blockNumber: 2, txIndex: 0 });
    expect(store.getByTxId('')).toBeUndefined();
    expect(store.getByTxId('nope')).toBeUndefined();
    await expect(store.verify()).resolves.toMatchObject({ height: 4 });
  });

  test('Fabric hex ids, the same id in uppercase, and ids up to 510 UTF-8 bytes are told apart, before and after the index is written', async () => {
    const hex = 'ab'.repeat(32);
    const upper = hex.toUpperCase();
    const almostHex = `${'ab'.repeat(31)}a`; // 63 characters
    const longest = 'é'.repeat(255); // 510 UTF-8 bytes
    const tooLong = `${longest}x`;
    const chain = new ChainBuilder();
    const ids = [hex, upper, almostHex, longest, tooLong];
    await store.append(chain.next(ids.map((id, i) => makeEnvelope(id, Uint8Array.of(i)))));
    const expectLookups = (s: typeof store): void => {
      ids.slice(0, 4).forEach((id, txIndex) => expect(s.getByTxId(id)).toEqual({ blockNumber: 0, txIndex }));
      expect(s.getByTxId(tooLong)).toBeUndefined();
      expect(s.getByTxId('cd'.repeat(32))).toBeUndefined();
    };
    expectLookups(store); // from the entries not yet written to the index
    await expect(store.verify()).resolves.toMatchObject({ height: 1 }); // writes them, checks them
    expectLookups(store);
  });

  test('envelopes that do not parse are stored but not indexed', async () => {
    const chain = new ChainBuilder();
    await store.append(chain.next([Uint8Array.of(0xff, 0xff), makeEnvelope('ok', Uint8Array.of(1))]));
    expect(store.getByTxId('ok')).toEqual({ blockNumber: 0, txIndex: 1 });
    expect(store.getBlock(0)!.block.data!.data[0]).toEqual(Buffer.from([0xff, 0xff]));
  });
});

describe('a block handed over decoded, with its tx ids (as the chain appends)', () => {
  test('is stored as its bytes, served decoded from them (the caller\'s decoding is not kept), and indexed by the given ids', async () => {
    const chain = new ChainBuilder();
    const bytes = chain.next([makeEnvelope('x', Uint8Array.of(1)), makeEnvelope('', Uint8Array.of(2)), makeEnvelope('y', Uint8Array.of(3))]);
    const block = common.Block.decode(bytes);
    await store.appendBatch([{ bytes, block, txIds: ['x', '', 'y'] }]);
    expect(hex(store.getBlock(0)!.bytes)).toBe(hex(bytes));
    // The recent-block cache holds bytes: the decoded block the chain handed over (an object per
    // envelope) is not kept alive by it.
    expect(store.getBlock(0)!.block).not.toBe(block);
    expect(store.getBlock(0)!.block).toEqual(block);
    expect(store.getByTxId('x')).toEqual({ blockNumber: 0, txIndex: 0 });
    expect(store.getByTxId('y')).toEqual({ blockNumber: 0, txIndex: 2 });
    await expect(store.verify()).resolves.toMatchObject({ height: 1 });
    // Without ids the store reads them from the envelopes itself.
    const next = chain.next([makeEnvelope('z', Uint8Array.of(4))]);
    await store.append({ bytes: next, block: common.Block.decode(next) });
    expect(store.getByTxId('z')).toEqual({ blockNumber: 1, txIndex: 0 });
  });

  test('is still checked: a wrong data hash or a tx id count that does not match is refused, nothing written', async () => {
    const chain = new ChainBuilder();
    const bytes = chain.next([makeEnvelope('x', Uint8Array.of(1))]);
    const block = common.Block.decode(bytes);
    const tampered: common.Block = { ...block, data: { data: [makeEnvelope('evil', Uint8Array.of(9))] } };
    expect((await rejection(store.append({ bytes, block: tampered, txIds: ['evil'] }))).reason).toBe('data-hash');
    await expect(store.append({ bytes, block, txIds: ['x', 'extra'] })).rejects.toThrow('2 tx ids given for 1 envelopes');
    expect(store.height()).toBe(0);
    expect(store.getByTxId('x')).toBeUndefined();
    expect(store.getByTxId('evil')).toBeUndefined();
    await store.append({ bytes, block, txIds: ['x'] });
    expect(store.getByTxId('x')).toEqual({ blockNumber: 0, txIndex: 0 });
  });

  test('a caller that computed the data hash itself (a leader writing its own proposal) is not checked again; number and previous hash still are', async () => {
    const chain = new ChainBuilder();
    const bytes = chain.next([makeEnvelope('x', Uint8Array.of(1))]);
    const block = common.Block.decode(bytes);
    // The store takes the caller's word for the data hash: it does not hash the envelopes, so even
    // data that does not match is not noticed. Only the leader's own proposals are handed over so.
    const unmatched: common.Block = { ...block, data: { data: [makeEnvelope('x', Uint8Array.of(9))] } };
    await store.append({ bytes, block: unmatched, txIds: ['x'], dataHashComputedByCaller: true });
    expect(store.height()).toBe(1);
    const again = chain.next([makeEnvelope('y', Uint8Array.of(2))]);
    const wrongNumber: common.Block = { ...common.Block.decode(again), header: { ...common.Block.decode(again).header!, number: 5 } };
    expect((await rejection(store.append({ bytes: again, block: wrongNumber, txIds: ['y'], dataHashComputedByCaller: true }))).reason).toBe('block-number');
    expect(store.height()).toBe(1);
  });
});

describe('append rejections leave the store unchanged', () => {
  let chain: ChainBuilder;
  const random = new SeededRandom(9);

  beforeEach(async () => {
    chain = new ChainBuilder();
    await store.append(chain.nextSimple(random, 10));
    await store.append(chain.nextSimple(random, 10));
  });

  async function expectUnchanged(): Promise<void> {
    expect(store.height()).toBe(2);
    expect(store.getBlock(2)).toBeUndefined();
    expect(store.getByTxId('tx-2')).toBeUndefined();
    expect(store.getByTxId('evil')).toBeUndefined();
    // and the store still takes the right next block
    await store.append(chain.nextSimple(random, 10));
    expect(store.height()).toBe(3);
    await expect(store.verify()).resolves.toMatchObject({ height: 3 });
  }

  test('number != height', async () => {
    const ahead = newBlock(3, chain.previousHash, [makeEnvelope('evil', Uint8Array.of(1))]);
    const err = await rejection(store.append(ahead));
    expect(err.reason).toBe('block-number');
    expect(err.blockNumber).toBe(3);
    const again = newBlock(1, chain.previousHash, [makeEnvelope('evil', Uint8Array.of(1))]);
    expect((await rejection(store.append(again))).reason).toBe('block-number');
    await expectUnchanged();
  });

  test('previous_hash != hash of the last header', async () => {
    const wrong = newBlock(2, new Uint8Array(32).fill(7), [makeEnvelope('evil', Uint8Array.of(1))]);
    const err = await rejection(store.append(wrong));
    expect(err.reason).toBe('previous-hash');
    expect(err.blockNumber).toBe(2);
    await expectUnchanged();
  });

  test('data_hash != hash of the data', async () => {
    const block = newBlock(2, chain.previousHash, [makeEnvelope('evil', Uint8Array.of(1))]);
    block.data!.data.push(makeEnvelope('extra', Uint8Array.of(2)));
    const err = await rejection(store.append(block));
    expect(err.reason).toBe('data-hash');
    expect(hex(blockDataHash(block.data!.data))).not.toBe(hex(block.header!.dataHash));
    await expectUnchanged();
  });

  test('bytes that are not a block, and a block without a header', async () => {
    expect((await rejection(store.append(Uint8Array.of(0x0a, 0x05, 0x01)))).reason).toBe('malformed-block');
    expect((await rejection(store.append({ data: { data: [] } }))).reason).toBe('malformed-block');
    await expectUnchanged();
  });

  test('a batch with one bad block is refused as a whole', async () => {
    const good = new ChainBuilder(chain.nextNumber, chain.previousHash);
    const blocks = [good.nextSimple(random, 10), good.nextSimple(random, 10)];
    blocks.push(common.Block.encode(newBlock(good.nextNumber, new Uint8Array(32), [makeEnvelope('evil', Uint8Array.of(1))])));
    const err = await rejection(store.appendBatch(blocks));
    expect(err.reason).toBe('previous-hash');
    expect(err.blockNumber).toBe(4);
    await expectUnchanged();
  });

  test('the first block must have an empty previous_hash', async () => {
    await store.close();
    tmp.remove();
    tmp = tempDir('store');
    store = await openBlockStore({ dir: tmp.dir, channelId: 'mychannel', logger: silentLogger });
    const err = await rejection(store.append(newBlock(0, new Uint8Array(32), [])));
    expect(err.reason).toBe('previous-hash');
    expect(store.height()).toBe(0);
  });
});

describe('opening', () => {
  test('a second open of the same store in this process is refused until the first closes', async () => {
    const err = await openBlockStore({ dir: tmp.dir, channelId: 'mychannel', logger: silentLogger }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BlockStoreError);
    expect((err as BlockStoreError).reason).toBe('locked');
    const other = await openBlockStore({ dir: tmp.dir, channelId: 'otherchannel', logger: silentLogger });
    await other.close();
  });

  test('channel ids that are not Fabric channel names are refused', async () => {
    for (const channelId of ['../etc', 'UPPER', '', 'a/b', '.hidden']) {
      const err = await openBlockStore({ dir: tmp.dir, channelId, logger: silentLogger }).catch((e: unknown) => e);
      expect((err as BlockStoreError).reason).toBe('invalid-channel');
    }
  });

  test('a closed store refuses appends and reads', async () => {
    await store.close();
    expect((await rejection(store.append(new ChainBuilder().nextSimple(new SeededRandom(1), 1)))).reason).toBe('closed');
    expect(() => store.getBlock(0)).toThrow(BlockStoreError);
    store = await openBlockStore({ dir: tmp.dir, channelId: 'mychannel', logger: silentLogger });
  });

  test('a write behind the store\'s back is detected as a conflict, not overwritten', async () => {
    const chain = new ChainBuilder();
    const random = new SeededRandom(5);
    await store.append(chain.nextSimple(random, 10));
    // Another writer (here: the raw LMDB API) moves the tip; the store's next append must notice.
    const raw = open({ path: channelStoreDir(tmp.dir, 'mychannel'), maxDbs: 4, overlappingSync: false });
    const meta = raw.openDB('meta', { encoding: 'binary', keyEncoding: 'binary' });
    const tip = Buffer.alloc(40);
    tip.writeUInt32BE(7, 4);
    await meta.put(Buffer.from('tip'), tip);
    const err = await rejection(store.append(chain.nextSimple(random, 10)));
    expect(err.reason).toBe('conflict');
    expect(store.height()).toBe(1);
    expect((await rejection(store.append(chain.nextSimple(random, 10)))).reason).toBe('write-failed');
    await raw.close();
  });
});
