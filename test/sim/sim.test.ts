// Deterministic cluster simulation, shard 0 of 2 (env variables: see suite.ts).
// A failing seed prints its replay command: SIM_SEED=<seed> npx jest test/sim/sim.test.ts
import { runSeed } from './cluster';
import { describeShard } from './shard-tests';

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

describeShard(SHARD, SHARDS);
