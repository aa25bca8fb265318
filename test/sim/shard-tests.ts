// Registers one shard's simulator tests with jest; called by sim.test.ts and sim-shard1.test.ts
// (suite.ts stays free of jest calls).
import { coverageShortfalls, planShard, replaySeed, runChunk, type Totals } from './suite';

export function describeShard(shard: number, shards: number): void {
  describe(`cluster simulation, shard ${shard}`, () => {
    const plan = planShard(shard, shards);
    const replay = plan.replay;
    if (replay !== undefined) {
      test(`replay seed ${replay}`, async () => {
        const failure = await replaySeed(replay);
        if (failure !== undefined) throw new Error(failure);
      });
    }
    const totals: Totals = {};
    for (const { start, end } of plan.chunks) {
      test(`seeds ${start}..${end - 1} keep every invariant and recover after healing`, async () => {
        const failures = await runChunk(start, end, totals);
        if (failures.length > 0) throw new Error(`${failures.length} seed(s) failed:\n${failures.join('\n')}`);
      });
    }
    if (plan.chunks.length > 0) {
      test('the seeds exercised every kind of fault', () => {
        expect(coverageShortfalls(totals, plan.seeds)).toEqual([]);
      });
    }
  });
}
