// Deterministic cluster simulation, shard 1 of 2: a separate file so jest can run it on
// another worker. Replays go through sim.test.ts (SIM_SEED=<seed>), though this file
// replays the seed too when SIM_SEED is set.
import { coverageShortfalls, planShard, replaySeed, runChunk, type Totals } from './suite';

const SHARD = 1;
const SHARDS = 2;

describe(`cluster simulation, shard ${SHARD}`, () => {
  const plan = planShard(SHARD, SHARDS);
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
