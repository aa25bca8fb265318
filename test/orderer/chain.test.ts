// The Chain in one process on real storage (LMDB ledger, WAL), as a single-node channel:
// envelopes become blocks, and a chain whose disk fails halts cleanly and says so.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { ClusterTransport } from '../../cluster/types';
import { blockDataHash, envelopeTxIdOrEmpty, newBlock } from '../../ledger/block';
import { isDecodedBlockInput, type DecodedBlockInput } from '../../ledger/block-store';
import { openBlockStore, type LmdbBlockStore } from '../../ledger/lmdb-block-store';
import { Chain } from '../../orderer/chain/chain';
import { openRaftPersistence } from '../../orderer/chain/raft-persistence';
import type { ChainSettings, RaftPersistence } from '../../orderer/chain/types';
import { EnvelopeFateUnknownError, OrdererError } from '../../orderer/errors';
import { parseBroadcastEnvelope } from '../../orderer/msgcheck';
import { RaftRole } from '../../consensus/raft/api';
import { common } from '../../protos';
import { makeEnvelope, waitFor } from '../e2e/harness';
import { testChainSettings } from '../support/chain-settings';
import { InsecureOpenChannelAccess } from '../../orderer/policies/channel-access';

const logger = pino({ level: 'silent' });
const settings: ChainSettings = testChainSettings(1, { tickIntervalMs: 10, batchTimeoutMs: 20 }, '127.0.0.1');
const noPeers: ClusterTransport = {
  sendConsensus: () => false,
  sendSubmit: () => Promise.reject(new Error('no peers in a single-node channel')),
};

let dir: string;
let store: LmdbBlockStore;
let raft: RaftPersistence;
let chain: Chain;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'chain-test-'));
  store = await openBlockStore({ dir: path.join(dir, 'ledger'), channelId: 'solo', logger });
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: new Uint8Array([1]) })]));
  raft = await openRaftPersistence({ walDir: path.join(dir, 'wal'), snapDir: path.join(dir, 'snap'), logger });
  chain = new Chain({
    channelId: 'solo',
    selfId: 1,
    access: new InsecureOpenChannelAccess(),
    settings,
    blockStore: store,
    raft,
    transport: noPeers,
    pullBlocks: () => {
      throw new Error('nothing to pull from');
    },
    logger,
    rngSeed: 7,
  });
  chain.start();
});

afterEach(async () => {
  await chain.halt();
  await raft.close();
  await store.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('a single-node chain elects itself and orders envelopes into blocks of MaxMessageCount', async () => {
  await waitFor('a leader', 5_000, () => (chain.errored() ? undefined : true), 10);
  const envelopes = Array.from({ length: 25 }, () => makeEnvelope('solo', 32));
  // A leader answers its own clients once the block is committed: every SUCCESS is in the ledger.
  await Promise.all(envelopes.map((e) => chain.order(parseBroadcastEnvelope(e.bytes))));
  expect(store.height()).toBe(4);
  const sizes = [1, 2, 3].map((n) => store.getBlock(n)!.block.data!.data.length);
  expect(sizes).toEqual([10, 10, 5]); // two full blocks, the rest cut by BatchTimeout
  for (const e of envelopes) expect(store.getByTxId(e.txId)).toBeDefined();
});

test('the leader answers a tx id it is already ordering, or has ordered, SUCCESS and orders it once', async () => {
  await waitFor('a leader', 5_000, () => (chain.errored() ? undefined : true), 10);
  const env = makeEnvelope('solo', 32);
  // Twice at once: the second finds the first in the intake, and waits for the same block.
  await Promise.all([chain.order(parseBroadcastEnvelope(env.bytes)), chain.order(parseBroadcastEnvelope(env.bytes))]);
  const location = store.getByTxId(env.txId);
  expect(location).toBeDefined();
  // Once more after its block: answered at once from the ledger, nothing new ordered.
  const height = store.height();
  await chain.order(parseBroadcastEnvelope(env.bytes));
  await chain.order(parseBroadcastEnvelope(makeEnvelope('solo', 32).bytes)); // a block after it
  const ids: string[] = [];
  for (let n = 1; n < store.height(); n++) for (const e of store.getBlock(n)!.block.data!.data) ids.push(envelopeTxIdOrEmpty(e));
  expect(ids.filter((t) => t === env.txId)).toHaveLength(1);
  expect(store.height()).toBe(height + 1);
  expect(store.getByTxId(env.txId)).toEqual(location);
});

test("the leader's own blocks reach the ledger marked as hashed by it: their envelopes are not hashed twice", async () => {
  await waitFor('a leader', 5_000, () => (chain.errored() ? undefined : true), 10);
  const appended: DecodedBlockInput[] = [];
  const appendBatch = store.appendBatch.bind(store);
  jest.spyOn(store, 'appendBatch').mockImplementation((blocks) => {
    for (const b of blocks) if (isDecodedBlockInput(b)) appended.push(b);
    return appendBatch(blocks);
  });
  const envelopes = Array.from({ length: 25 }, () => makeEnvelope('solo', 32));
  await Promise.all(envelopes.map((e) => chain.order(parseBroadcastEnvelope(e.bytes))));
  // The committed entries carry the very buffers it proposed (and hashed into each header).
  expect(appended.map((b) => b.block.header?.number)).toEqual([1, 2, 3]);
  expect(appended.every((b) => b.dataHashComputedByCaller === true)).toBe(true);
  for (const b of appended) expect(Buffer.compare(blockDataHash(b.block.data!.data), b.block.header!.dataHash)).toBe(0);
  // Stored as the entry's header and data, uncopied, and the metadata filled in at commit.
  for (const b of appended) {
    expect(b.metadataField?.[0]).toBe(0x1a);
    expect(Buffer.from(common.Block.encode(b.block)).equals(Buffer.concat([b.bytes, b.metadataField!]))).toBe(true);
    // The store keeps the view the chain gave it, not a copy.
    expect(store.getBlock(b.block.header!.number)!.pieces![0]).toBe(b.bytes);
  }
});

test('a committed block reaches Deliver readers while the ledger still writes it; its SUCCESS waits for the write', async () => {
  await waitFor('a leader', 5_000, () => (chain.errored() ? undefined : true), 10);
  // The Chain hears its ledger writes finished only when the test says so.
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const appendBatch = store.appendBatch.bind(store);
  jest.spyOn(store, 'appendBatch').mockImplementation((blocks, options) => appendBatch(blocks, options).then(() => released));
  const reader = store.iterate(1);
  try {
    const env = makeEnvelope('solo', 32);
    let acknowledged = false;
    const ordered = chain.order(parseBroadcastEnvelope(env.bytes)).then(() => (acknowledged = true));
    const first = await reader.next();
    // Yielded before the ledger's commit came back from LMDB's writer thread: not durable yet.
    expect(store.height()).toBe(1);
    expect(first.value?.block.data?.data.map(envelopeTxIdOrEmpty)).toEqual([env.txId]);
    expect(acknowledged).toBe(false);
    release();
    await ordered;
    expect(store.getByTxId(env.txId)).toEqual({ blockNumber: 1, txIndex: 0 });
  } finally {
    release();
    await reader.return();
  }
});

test('a chain whose ledger fails halts, answers SERVICE_UNAVAILABLE, and stops promptly', async () => {
  await waitFor('a leader', 5_000, () => (chain.errored() ? undefined : true), 10);
  const waiting = chain.order(parseBroadcastEnvelope(makeEnvelope('solo', 32).bytes)).catch((e: unknown) => e);
  await store.close(); // the disk goes away before the block (cut after 20 ms) is written
  await waitFor('the chain to halt', 5_000, () => (chain.status().halted ? true : undefined), 10);
  expect(chain.errored()).toBe(true);
  // Its block may be on the others' disks: neither SUCCESS nor a refusal would be true.
  expect(await waiting).toBeInstanceOf(EnvelopeFateUnknownError);
  const err = await chain.order(parseBroadcastEnvelope(makeEnvelope('solo', 32).bytes)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(OrdererError);
  expect((err as OrdererError).status).toBe(common.Status.SERVICE_UNAVAILABLE);
  expect((err as OrdererError).message).toMatch(/halted/);
  // halt() from outside must not hang on a loop that stopped itself.
  const started = Date.now();
  await chain.halt();
  expect(Date.now() - started).toBeLessThan(1_000);
});

test('a leader takes a batch of forwards envelope by envelope: one answer each, in order, and each envelope ordered once', async () => {
  await waitFor('a leader', 5_000, () => (chain.status().role === RaftRole.Leader ? true : undefined), 10);
  const a = makeEnvelope('solo', 32);
  const b = makeEnvelope('solo', 32);
  const elsewhere = makeEnvelope('another-channel', 32);
  // From a consenter (this one-node channel's only one: a leader refuses other senders).
  const outcomes = await chain.onSubmitBatch(1, {
    lastValidationSeq: 0,
    envelopes: [a.bytes, b.bytes, a.bytes, elsewhere.bytes, Uint8Array.of(0xff, 0xff)],
  });
  expect(outcomes.map((o) => o.status)).toEqual([
    common.Status.SUCCESS, // taken
    common.Status.SUCCESS,
    common.Status.SUCCESS, // already taken: being ordered
    common.Status.BAD_REQUEST, // not this channel's
    common.Status.BAD_REQUEST, // not an envelope
  ]);
  await waitFor('both in a block', 5_000, () => (store.getByTxId(a.txId) !== undefined && store.getByTxId(b.txId) !== undefined ? true : undefined), 10);
  await new Promise((resolve) => setTimeout(resolve, 100)); // a duplicate would be cut within BatchTimeout (20 ms)
  const ordered: string[] = [];
  for (let n = 1; n < store.height(); n++) ordered.push(...store.getBlock(n)!.block.data!.data.map((d) => Buffer.from(d).toString('hex')));
  expect(ordered.sort()).toEqual([a.bytes, b.bytes].map((e) => Buffer.from(e).toString('hex')).sort());
});

test('a halted chain refuses every envelope of a batch, and says why', async () => {
  await chain.halt();
  const outcomes = await chain.onSubmitBatch(2, { lastValidationSeq: 0, envelopes: [makeEnvelope('solo', 8).bytes, makeEnvelope('solo', 8).bytes] });
  expect(outcomes).toHaveLength(2);
  for (const o of outcomes) {
    expect(o.status).toBe(common.Status.SERVICE_UNAVAILABLE);
    expect(o.info).toMatch(/halted/);
  }
});
