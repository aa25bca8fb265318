// The benchmark's block observer stamps when each load envelope's block arrives. Its streams must
// be live before the load starts (onReady), and the block it reads to know that is not counted.
import { makeEnvelope } from '../ledger/fixtures/chain';
import { FakeChain, FakeRegistry, startTestServer, waitFor, type TestServer } from '../orderer/fake-chain';
import { BlockObserver } from './orderer-bench-observer';

const CHANNEL = 'mychannel';
let chain: FakeChain;
let server: TestServer;

beforeEach(async () => {
  chain = await FakeChain.open({ channelId: CHANNEL });
  await chain.appendBlocks(3); // height 4
  server = await startTestServer({ registry: new FakeRegistry([chain]) });
});

afterEach(async () => {
  await server.close();
  await chain.close();
});

test('is ready once every stream delivered the block below its start, which is not counted', async () => {
  const start = chain.blockStore.height();
  const observer = new BlockObserver([server.address, server.address], CHANNEL, [start, start], ['load-0', 'load-1']);
  let readyAtHeight: number | undefined;
  observer.onReady = () => (readyAtHeight = chain.blockStore.height());
  observer.start();
  try {
    // Ready with nothing new written: the block below the start proved each stream live.
    await waitFor('the observer ready', 10_000, () => readyAtHeight !== undefined);
    expect(readyAtHeight).toBe(start);
    expect(observer.envelopesPerNode).toEqual([0, 0]);

    await chain.appendBlock([makeEnvelope('load-1', Uint8Array.of(1)), makeEnvelope('other', Uint8Array.of(2))]);
    await waitFor('the load block on both streams', 10_000, () => observer.envelopesPerNode.every((n) => n === 1));
    const sentAtMs = Float64Array.of(Date.now(), Date.now() - 5);
    const report = observer.report(sentAtMs);
    // Only the block of the load counts: not the one read to get ready.
    expect(report.blocks).toBe(1);
    expect(report.envelopes).toBe(1);
    expect(observer.timelineCsv(sentAtMs).trim().split('\n').slice(1).map((row) => Number(row.split(',')[0]))).toEqual([start]);
  } finally {
    await observer.stop();
  }
});
