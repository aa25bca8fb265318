// The block puller against real Deliver servers over real LMDB stores, some of them lagging,
// down, stalling or serving blocks that do not belong to the chain.
import { randomBytes } from 'node:crypto';
import { blockHeaderHash, bytesEqual, newBlock, type StoredBlock } from '../../ledger';
import { common } from '../../protos';
import { BlockPullError, BlockVerificationError, pullBlocks, type BlockPullerOptions, type PulledBlock } from '../../orderer/blockpuller';
import { DeliverClientError } from '../../orderer/deliver-client';
import { FakeChain, FakeRegistry, makeEnvelope, silentLogger, startTestServer, type TestServer } from './fake-chain';

const CHANNEL = 'pullchannel';
const LAST = 20;

/** Genesis plus LAST blocks, encoded once and stored identically by every orderer. */
const chainBlocks: Uint8Array[] = (() => {
  const out: Uint8Array[] = [];
  let previousHash: Uint8Array = new Uint8Array(0);
  for (let n = 0; n <= LAST; n++) {
    const block = newBlock(n, previousHash, [makeEnvelope({ channelId: CHANNEL, dataBytes: 200 }), makeEnvelope({ channelId: CHANNEL })]);
    previousHash = blockHeaderHash(block.header!);
    out.push(common.Block.encode(block));
  }
  return out;
})();
const hashOf = (n: number): Uint8Array => blockHeaderHash(common.Block.decode(chainBlocks[n]!).header!);

interface Orderer {
  chain: FakeChain;
  server: TestServer;
}
const started: Orderer[] = [];

/** An orderer holding blocks 0..lastNumber of the chain. */
async function startOrderer(lastNumber = LAST): Promise<Orderer> {
  const chain = await FakeChain.open({ channelId: CHANNEL, genesis: false });
  // Copies: the store keeps the bytes it is given, and each orderer should own its own.
  await chain.blockStore.appendBatch(chainBlocks.slice(0, lastNumber + 1).map((bytes) => Uint8Array.from(bytes)));
  const server = await startTestServer({ registry: new FakeRegistry([chain]) });
  const orderer = { chain, server };
  started.push(orderer);
  return orderer;
}

/** An address nothing listens on any more. */
async function deadAddress(): Promise<string> {
  const orderer = await startOrderer(0);
  await orderer.server.close();
  return orderer.server.address;
}

afterEach(async () => {
  for (const { chain, server } of started.splice(0)) {
    await server.close();
    await chain.close();
  }
});

interface Failure {
  endpoint: string;
  err: Error;
}

async function pullAll(
  endpoints: string[],
  extra: Partial<BlockPullerOptions> = {},
  range = { fromNumber: 1, toNumber: LAST, previousHash: hashOf(0) },
): Promise<{ blocks: PulledBlock[]; failures: Failure[] }> {
  const failures: Failure[] = [];
  const blocks: PulledBlock[] = [];
  for await (const block of pullBlocks({
    channelId: CHANNEL,
    endpoints,
    logger: silentLogger,
    random: () => 0, // always the first eligible endpoint, so the test knows who serves
    retryMinDelayMs: 10,
    retryMaxDelayMs: 50,
    onSourceFailed: (endpoint, err) => failures.push({ endpoint, err }),
    ...range,
    ...extra,
  })) {
    blocks.push(block);
  }
  return { blocks, failures };
}

function expectWholeChain(blocks: PulledBlock[], from = 1): void {
  expect(blocks.map((b) => b.number)).toEqual(Array.from({ length: LAST - from + 1 }, (_, i) => from + i));
  for (const b of blocks) expect(bytesEqual(b.bytes, chainBlocks[b.number]!)).toBe(true);
}

/** Serves a block whose data was altered after the header was made. */
function tamperedData(stored: StoredBlock): StoredBlock {
  const block = common.Block.decode(stored.bytes);
  const first = Uint8Array.from(block.data!.data[0]!); // a copy: Buffer#slice would be a view into the store's bytes
  first[first.length - 1] = first[first.length - 1]! ^ 0xff;
  block.data!.data[0] = first;
  const bytes = common.Block.encode(block);
  return { ...stored, bytes, block };
}

/** Serves a self-consistent block 8 from some other chain. */
function forkedBlock(stored: StoredBlock): StoredBlock {
  const block = newBlock(stored.number, randomBytes(32), [makeEnvelope({ channelId: CHANNEL })]);
  const bytes = common.Block.encode(block);
  return { ...stored, bytes, block: common.Block.decode(bytes) };
}

test('pulls a range from healthy orderers, every block in order and verified', async () => {
  const orderers = await Promise.all([startOrderer(), startOrderer(), startOrderer()]);
  const { blocks, failures } = await pullAll(orderers.map((o) => o.server.address), { random: Math.random });
  expectWholeChain(blocks);
  expect(failures).toEqual([]);
});

test('a lagging orderer serves what it has, a down one is skipped, the rest comes from an up-to-date one', async () => {
  const down = await deadAddress();
  const lagging = await startOrderer(10);
  const current = await startOrderer();
  const { blocks, failures } = await pullAll([down, lagging.server.address, current.server.address]);
  expectWholeChain(blocks);
  expect(new Set(blocks.filter((b) => b.number <= 10).map((b) => b.source))).toEqual(new Set([lagging.server.address]));
  expect(new Set(blocks.filter((b) => b.number > 10).map((b) => b.source))).toEqual(new Set([current.server.address]));
  expect(failures).toEqual([]);
});

test('a wrong data hash and a broken previous_hash each send the puller to another source', async () => {
  const wrongData = await startOrderer();
  wrongData.chain.blockStore.rewrite = (stored) => (stored.number === 8 ? tamperedData(stored) : stored);
  const forked = await startOrderer();
  forked.chain.blockStore.rewrite = (stored) => (stored.number === 8 ? forkedBlock(stored) : stored);
  const good = await startOrderer();
  const endpoints = [wrongData.server.address, forked.server.address, good.server.address];

  const { blocks, failures } = await pullAll(endpoints);
  expectWholeChain(blocks);
  expect(failures.map((f) => [f.endpoint, f.err instanceof BlockVerificationError ? f.err.reason : f.err.message])).toEqual([
    [wrongData.server.address, 'data-hash'],
    [forked.server.address, 'previous-hash'],
  ]);
  expect(blocks.find((b) => b.number === 8)!.source).toBe(good.server.address);
  // Blocks from the tampering orderer before its bad block were fine and were kept.
  expect(blocks.find((b) => b.number === 7)!.source).toBe(wrongData.server.address);
});

test('a source that stops sending times out and the pull continues elsewhere', async () => {
  const stalling = await startOrderer();
  stalling.chain.blockStore.rewrite = (stored) => (stored.number === 5 ? 'stall' : stored);
  const good = await startOrderer();
  const { blocks, failures } = await pullAll([stalling.server.address, good.server.address], { pullTimeoutMs: 300 });
  expectWholeChain(blocks);
  expect(failures).toHaveLength(1);
  expect(failures[0]!.err).toBeInstanceOf(DeliverClientError);
  expect((failures[0]!.err as DeliverClientError).reason).toBe('timeout');
  expect(blocks.find((b) => b.number === 5)!.source).toBe(good.server.address);
});

test('the verifyBlock hook can reject a block, which counts as a faulty source', async () => {
  const orderers = await Promise.all([startOrderer(), startOrderer()]);
  let rejected = false;
  const { blocks, failures } = await pullAll(
    orderers.map((o) => o.server.address),
    {
      verifyBlock: (block) => {
        if (block.header!.number === 5 && !rejected) {
          rejected = true;
          throw new Error('signature does not satisfy BlockValidation');
        }
      },
    },
  );
  expectWholeChain(blocks);
  expect(failures.map((f) => (f.err as BlockVerificationError).reason)).toEqual(['rejected']);
});

test('when no source has the blocks, the pull ends with a typed error after bounded retries', async () => {
  const lagging = await startOrderer(10);
  const down = await deadAddress();
  const blocks: number[] = [];
  const failure = await (async () => {
    for await (const block of pullBlocks({
      channelId: CHANNEL,
      endpoints: [lagging.server.address, down],
      logger: silentLogger,
      fromNumber: 1,
      toNumber: LAST,
      previousHash: hashOf(0),
      maxRetries: 2,
      retryMinDelayMs: 10,
      retryMaxDelayMs: 20,
    })) {
      blocks.push(block.number);
    }
  })().catch((err: unknown) => err);
  expect(blocks).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  expect(failure).toBeInstanceOf(BlockPullError);
  expect((failure as BlockPullError).reason).toBe('no-source');
  expect((failure as BlockPullError).nextNumber).toBe(11);
  expect((failure as BlockPullError).message).toMatch(/cannot pull block 11/);
});

test('a previous hash that does not match the sources\' chain is never accepted', async () => {
  const orderer = await startOrderer();
  const failure = await pullAll([orderer.server.address], { maxRetries: 1 }, { fromNumber: 1, toNumber: 3, previousHash: randomBytes(32) }).catch(
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(BlockPullError);
  expect((failure as BlockPullError).failures.map((f) => (f.error as BlockVerificationError).reason)).toEqual(['previous-hash', 'previous-hash']);
});

test('aborting stops the pull with a typed error', async () => {
  const orderer = await startOrderer();
  const abort = new AbortController();
  const seen: number[] = [];
  const failure = await (async () => {
    for await (const block of pullBlocks({
      channelId: CHANNEL,
      endpoints: [orderer.server.address],
      logger: silentLogger,
      fromNumber: 1,
      toNumber: LAST,
      previousHash: hashOf(0),
      signal: abort.signal,
    })) {
      seen.push(block.number);
      if (block.number === 3) abort.abort();
    }
  })().catch((err: unknown) => err);
  expect(seen).toEqual([1, 2, 3]);
  expect(failure).toBeInstanceOf(BlockPullError);
  expect((failure as BlockPullError).reason).toBe('aborted');
  expect((failure as BlockPullError).nextNumber).toBe(4);
});
