// The leader's intake (orderer/chain/leader-pipeline.ts) is bounded in bytes as well as in count:
// above its byte high-water mark client Broadcasts wait for room (woken as the pipeline drains),
// beyond its byte limit a client envelope is refused SERVICE_UNAVAILABLE (not taken) and a
// forwarded or resubmitted one is not taken (its follower keeps it and resends it).
import pino from 'pino';
import { newBlock } from '../../ledger/block';
import { raftIndex } from '../../orderer/chain/ids';
import { LeaderPipeline } from '../../orderer/chain/leader-pipeline';
import type { ChainSettings } from '../../orderer/chain/types';
import { OrdererError } from '../../orderer/errors';
import { common } from '../../protos';
import { simEnvelope } from '../sim/orderer/envelopes';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { SimClock } from '../sim/orderer/sim-clock';
import { testChainSettings } from '../support/chain-settings';
import { readyLeaderPipeline } from '../support/leader-pipeline';

const CHANNEL = 'intake';
const settings: ChainSettings = testChainSettings(3, { maxInflightBlocks: 1, maxMessageCount: 2 });

async function readyPipeline(o: { maxIntakeBytes: number; intakeHighWaterBytes: number }): Promise<{ pipeline: LeaderPipeline; proposed: Uint8Array[] }> {
  const { pipeline, proposed, heldUntilReady } = await readyLeaderPipeline(CHANNEL, {
    settings: () => settings,
    maxIntakeEnvelopes: 1_000, // the count bounds are far away: only bytes bind here
    intakeHighWater: 1_000,
    ...o,
  });
  expect(heldUntilReady).toEqual([]);
  return { pipeline, proposed };
}

const item = (label: string, bytes: number) => {
  const e = simEnvelope(CHANNEL, label, bytes);
  return { txId: e.txId, envelopeBytes: e.envelopeBytes, messageSizeBytes: e.messageSizeBytes };
};

test('bytes above the high-water mark make client Broadcasts wait; the pipeline draining wakes them', async () => {
  const size = item('probe', 1_000).envelopeBytes.length;
  const { pipeline } = await readyPipeline({ maxIntakeBytes: 100 * size, intakeHighWaterBytes: 3 * size });
  for (const label of ['a', 'b']) expect(pipeline.enqueue(item(label, 1_000), true)).toBe(true);
  expect(pipeline.intakeFull).toBe(false);
  expect(pipeline.enqueue(item('c', 1_000), true)).toBe(true);
  expect(pipeline.status().intakeBytes).toBe(3 * size);
  expect(pipeline.intakeFull).toBe(true);
  const room = pipeline.waitForRoom();
  pipeline.pump(); // a block of two goes to Raft; the third waits for the in-flight window (1 block)
  expect(await room).toBe(true);
  expect(pipeline.intakeFull).toBe(false);
  expect(pipeline.status().intakeBytes).toBe(size);
});

test('beyond the byte limit a client envelope is refused SERVICE_UNAVAILABLE and a forwarded one is not taken; nothing in the intake is dropped', async () => {
  const size = item('probe', 1_000).envelopeBytes.length;
  const { pipeline } = await readyPipeline({ maxIntakeBytes: 2 * size, intakeHighWaterBytes: 2 * size });
  expect(pipeline.enqueue(item('a', 1_000), true)).toBe(true);
  expect(pipeline.enqueue(item('b', 1_000), true)).toBe(true);
  const err = (() => {
    try {
      pipeline.enqueue(item('c', 1_000), true);
      return undefined;
    } catch (e) {
      return e;
    }
  })();
  expect(err).toBeInstanceOf(OrdererError);
  expect((err as OrdererError).status).toBe(common.Status.SERVICE_UNAVAILABLE);
  expect(pipeline.enqueue(item('d', 1_000), false)).toBe(false);
  expect(pipeline.status().intakeEnvelopes).toBe(2);
  expect(pipeline.status().intakeBytes).toBe(2 * size);
  pipeline.pump();
  expect(pipeline.enqueue(item('c', 1_000), true)).toBe(true);
});

test('an empty intake takes one envelope larger than the byte limit', async () => {
  const { pipeline } = await readyPipeline({ maxIntakeBytes: 100, intakeHighWaterBytes: 100 });
  expect(pipeline.enqueue(item('big', 1_000), true)).toBe(true);
  expect(pipeline.enqueue(item('next', 10), false)).toBe(false);
});

test('stepping down empties the byte count with the intake', async () => {
  const { pipeline } = await readyPipeline({ maxIntakeBytes: 1 << 20, intakeHighWaterBytes: 1 << 20 });
  pipeline.enqueue(item('a', 1_000), true);
  pipeline.stepDown();
  expect(pipeline.status().intakeBytes).toBe(0);
});

test('forwards held until the new leader has applied its log are bounded in bytes too', async () => {
  const store = new MemoryBlockStore(CHANNEL);
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
  const forward = (label: string) => ({
    from: 2,
    forward: { lastValidationSeq: 0, envelope: simEnvelope(CHANNEL, label, 1_000).envelopeBytes },
  });
  const one = forward('probe');
  const bytes = one.forward.envelope.length;
  const pipeline = new LeaderPipeline({
    channelId: CHANNEL,
    blockStore: store,
    timers: new SimClock().timersFor(1),
    logger: pino({ level: 'silent' }),
    settings: () => settings,
    propose: () => undefined,
    onBatchTimeout: () => undefined,
    maxIntakeEnvelopes: 1_000,
    intakeHighWater: 1_000,
    intakeWaitTimeoutMs: 1_000,
    intakeHighWaterBytes: 2 * bytes,
  });
  pipeline.becomeLeader(raftIndex(5));
  expect(pipeline.hold(forward('a'))).toBe(true);
  expect(pipeline.hold(forward('b'))).toBe(true);
  expect(pipeline.hold(forward('c'))).toBe(false); // not taken: its follower resends it
  expect(pipeline.readyIfApplied(raftIndex(5))).toHaveLength(2);
});
