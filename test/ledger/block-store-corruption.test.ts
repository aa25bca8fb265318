import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { common } from '../../protos';
import { channelStoreDir, CorruptionError, newBlock, openBlockStore } from '../../ledger';
import { ChainBuilder, makeEnvelope, SeededRandom } from './fixtures/chain';
import { corruption, silentLogger, tempDir } from './helpers';

const CHANNEL = 'corrupt';
const BLOCKS = 10;
const DATA_BYTES = 3000;

let tmp: ReturnType<typeof tempDir>;
/** Each block's envelope data, to find it inside the LMDB file. */
let payloads: Uint8Array[];

beforeEach(async () => {
  tmp = tempDir('corrupt');
  const store = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger });
  const chain = new ChainBuilder();
  const random = new SeededRandom(2024);
  payloads = [];
  for (let i = 0; i < BLOCKS; i++) {
    const data = random.bytes(DATA_BYTES);
    payloads.push(data);
    await store.append(chain.next([makeEnvelope(`tx-${i}`, data)]));
  }
  await store.close();
});

afterEach(() => tmp.remove());

const storeDir = (): string => channelStoreDir(tmp.dir, CHANNEL);
const reopen = () => openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger });

/** Rewrites one stored value through LMDB directly, bypassing the store's checks. */
async function rawPut(number: number, bytes: Uint8Array | undefined): Promise<void> {
  const env = open({ path: storeDir(), maxDbs: 4, overlappingSync: false });
  const blocks = env.openDB('blocks', { encoding: 'binary', keyEncoding: 'binary' });
  const key = Buffer.alloc(8);
  key.writeUInt32BE(number, 4);
  if (bytes === undefined) await blocks.remove(key);
  else await blocks.put(key, Buffer.from(bytes));
  await env.close();
}

test('a byte flipped inside block 5 on disk: verify names block 5, reading it throws, its neighbours still read', async () => {
  const file = path.join(storeDir(), 'data.mdb');
  const contents = readFileSync(file);
  const marker = Buffer.from(payloads[5]!.subarray(1000, 1032));
  const at = contents.indexOf(marker);
  expect(at).toBeGreaterThan(0);
  expect(contents.lastIndexOf(marker)).toBe(at); // exactly one copy on disk
  contents[at + 7] = contents[at + 7]! ^ 0x01;
  writeFileSync(file, contents);

  const store = await reopen();
  try {
    const err = await corruption(store.verify());
    expect(err.blockNumber).toBe(5);
    expect(err.kind).toBe('data-hash');
    expect(() => store.getBlock(5)).toThrow(CorruptionError);
    expect(store.getBlock(4)!.number).toBe(4);
    expect(store.getBlock(6)!.number).toBe(6);
    // a reader following the chain gets blocks 0..4, then the error, never the damaged bytes
    const seen: number[] = [];
    const it = store.iterate(0);
    const failure = await (async () => {
      try {
        for (;;) seen.push((await it.next()).value!.number);
      } catch (e) {
        return e;
      }
    })();
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(failure).toBeInstanceOf(CorruptionError);
  } finally {
    await store.close();
  }
});

test('bytes that no longer decode as a block are reported, not returned', async () => {
  const original = await reopen();
  const bytes = original.getBlock(3)!.bytes;
  await original.close();
  await rawPut(3, bytes.subarray(0, bytes.length - 100));
  const store = await reopen();
  try {
    const err = await corruption(store.verify());
    expect(err.blockNumber).toBe(3);
    expect(err.kind).toBe('undecodable');
    expect(() => store.getBlock(3)).toThrow(CorruptionError);
  } finally {
    await store.close();
  }
});

test('a block replaced by a self-consistent one that breaks the hash chain is found by verify', async () => {
  // Same number, valid data hash, but a previous_hash that is not hash(block 6's header).
  await rawPut(7, common.Block.encode(newBlock(7, new Uint8Array(32).fill(1), [makeEnvelope('tx-7', payloads[7]!)])));
  // Block 7 is not the last block, so the store opens; the broken link shows in verify().
  const store = await reopen();
  try {
    expect(store.getBlock(7)!.number).toBe(7); // a single read cannot see a broken link
    const err = await corruption(store.verify());
    expect(err.blockNumber).toBe(7);
    expect(err.kind).toBe('previous-hash');
  } finally {
    await store.close();
  }
});

test('a block stored under the wrong number is reported', async () => {
  const original = await reopen();
  const bytes = original.getBlock(2)!.bytes;
  await original.close();
  await rawPut(6, bytes);
  const store = await reopen();
  try {
    const err = await corruption(store.verify());
    expect(err.blockNumber).toBe(6);
    expect(err.kind).toBe('wrong-number');
    expect(() => store.getBlock(6)).toThrow(CorruptionError);
  } finally {
    await store.close();
  }
});

test('a missing block is reported by verify', async () => {
  await rawPut(2, undefined);
  const store = await reopen();
  try {
    const err = await corruption(store.verify());
    expect(err.blockNumber).toBe(2);
    expect(err.kind).toBe('missing-block');
    expect(() => store.getBlock(2)).toThrow(CorruptionError);
  } finally {
    await store.close();
  }
});

test('a damaged last block stops the store from opening, naming that block', async () => {
  const last = BLOCKS - 1;
  const prev = await reopen();
  const previousHash = prev.getBlock(last - 1)!.headerHash;
  await prev.close();
  // A valid block 9 in itself, but not the one whose hash the store recorded as its tip.
  await rawPut(last, common.Block.encode(newBlock(last, previousHash, [makeEnvelope('other', Uint8Array.of(1))])));
  const err = await corruption(reopen());
  expect(err.blockNumber).toBe(last);
  expect(err.kind).toBe('tip-mismatch');
});
