// Registers one shard of whole-orderer seeds with jest (orderer-sim.test.ts, orderer-sim-shard1.test.ts).
import { ordererCoverageShortfalls, planOrdererShard, replayOrdererSeed, runOrdererChunkFast, type OrdererTotals } from './suite';

export function describeOrdererShard(shard: number, shards: number): void {
  describe(`whole-orderer simulation, shard ${shard}`, () => {
    const plan = planOrdererShard(shard, shards);
    const replay = plan.replay;
    if (replay !== undefined) {
      test(`replay seed ${replay.seed}${replay.durable ? ' (durable)' : ''}`, async () => {
        const failure = await replayOrdererSeed(replay.seed, replay.durable);
        if (failure !== undefined) throw new Error(failure);
      }, 600_000);
      return;
    }
    const totals: OrdererTotals = {};
    for (const { start, end } of plan.chunks) {
      test(`seeds ${start}..${end - 1}: real Chains keep every invariant and order every acknowledged envelope once`, async () => {
        const failures = await runOrdererChunkFast(start, end, false, totals);
        if (failures.length > 0) throw new Error(`${failures.length} seed(s) failed:\n${failures.join('\n')}`);
      }, 300_000);
    }
    if (plan.chunks.length > 0) {
      test('the seeds exercised every kind of fault', () => {
        expect(ordererCoverageShortfalls(totals, plan.seeds)).toEqual([]);
      });
    }
  });
}
