// Deliver against a real three-node network: every kind of start and stop position, both
// behaviors, and the statuses a Fabric client sees.
import { deliverBlocks, DeliverClientError, type SeekStart, type SeekStop } from '../../orderer/deliver-client';
import { common, orderer } from '../../protos';
import { chainHeight, createNetwork, makeEnvelope, sendLoad, waitFor, waitForService, type TestNetwork } from './harness';

jest.setTimeout(120_000);

let net: TestNetwork;
let address: string;
let height: number;

beforeAll(async () => {
  net = await createNetwork({ maxMessageCount: 1 });
  net.startAll();
  address = net.nodes[1]!.address; // a follower or the leader: both serve Deliver
  await waitForService(net.nodes[0]!.address, 'mychannel');
  await sendLoad([net.nodes[0]!.address], Array.from({ length: 9 }, () => makeEnvelope('mychannel', 64)), 1, { maxInflightPerStream: 1 });
  // One envelope per block: genesis + probe + 9.
  height = await waitFor('11 blocks on the node', 30_000, async () => {
    const h = await chainHeight(address, 'mychannel');
    return h >= 11 ? h : undefined;
  });
});

afterAll(async () => {
  await net?.destroy();
});

async function numbers(start: SeekStart, stop: SeekStop, behavior?: orderer.SeekInfo_SeekBehavior): Promise<number[]> {
  const out: number[] = [];
  for await (const b of deliverBlocks({ address, channelId: 'mychannel', start, stop, receiveTimeoutMs: 10_000, ...(behavior !== undefined ? { behavior } : {}) })) {
    out.push(b.number);
  }
  return out;
}

async function statusOf(start: SeekStart, stop: SeekStop, behavior?: orderer.SeekInfo_SeekBehavior, channelId = 'mychannel'): Promise<common.Status | 'ok'> {
  try {
    for await (const _ of deliverBlocks({ address, channelId, start, stop, receiveTimeoutMs: 10_000, ...(behavior !== undefined ? { behavior } : {}) })) {
      // drain
    }
    return 'ok';
  } catch (err) {
    if (err instanceof DeliverClientError && err.status !== undefined) return err.status;
    throw err;
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('oldest to newest streams the whole chain', async () => {
  expect(await numbers('oldest', 'newest')).toEqual(range(0, height - 1));
});

test('specified start and stop give exactly that range; oldest as stop means the start block', async () => {
  expect(await numbers(3, 5)).toEqual([3, 4, 5]);
  expect(await numbers(4, 4)).toEqual([4]);
  expect(await numbers('oldest', 'oldest')).toEqual([0]);
});

test('newest to newest is one block, the last one', async () => {
  expect(await numbers('newest', 'newest')).toEqual([height - 1]);
});

test('a stop below the start is BAD_REQUEST; a start beyond the height is NOT_FOUND; an unknown channel is NOT_FOUND', async () => {
  expect(await statusOf(5, 3)).toBe(common.Status.BAD_REQUEST);
  expect(await statusOf(height + 5, height + 6)).toBe(common.Status.NOT_FOUND);
  expect(await statusOf('oldest', 'newest', undefined, 'nosuchchannel')).toBe(common.Status.NOT_FOUND);
});

test('FAIL_IF_NOT_READY serves what exists, then NOT_FOUND instead of waiting', async () => {
  const seen: number[] = [];
  let status: common.Status | undefined;
  try {
    for await (const b of deliverBlocks({ address, channelId: 'mychannel', start: height - 2, stop: height + 3, behavior: orderer.SeekInfo_SeekBehavior.FAIL_IF_NOT_READY, receiveTimeoutMs: 10_000 })) seen.push(b.number);
  } catch (err) {
    status = err instanceof DeliverClientError ? err.status : undefined;
  }
  expect(seen).toEqual([height - 2, height - 1]);
  expect(status).toBe(common.Status.NOT_FOUND);
});

test('BLOCK_UNTIL_READY at the height waits for the next block; next_commit does the same', async () => {
  const h = await chainHeight(address, 'mychannel');
  const specified = numbers(h, h);
  const nextCommit = numbers('next-commit', h);
  await new Promise((r) => setTimeout(r, 300));
  await sendLoad([net.nodes[2]!.address], [makeEnvelope('mychannel', 64)], 1);
  expect(await specified).toEqual([h]);
  expect(await nextCommit).toEqual([h]);
});
