// Deterministic cluster simulation, shard 0 of 2 (env variables: see suite.ts).
// A failing seed prints its replay command: SIM_SEED=<seed> npx jest test/sim/sim.test.ts
import { runSeed } from './cluster';
import { coverageShortfalls, planShard, replaySeed, runChunk, type Totals } from './suite';

const SHARD = 0;
const SHARDS = 2;

describe('simulator', () => {
  test('a seed replays exactly: same stats and same committed log', async () => {
    for (const seed of [7, 8]) {
      const a = await runSeed(seed);
      const b = await runSeed(seed);
      expect(b.stats).toEqual(a.stats);
      expect(b.digest).toBe(a.digest);
      expect(a.stats.committed).toBeGreaterThan(0);
    }
    expect((await runSeed(9)).digest).not.toBe((await runSeed(11)).digest);
  });
});

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
