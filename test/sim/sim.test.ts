// Deterministic cluster simulation, shard 0 of 2 (see suite.ts for the env variables).
// A failing seed prints its replay command: SIM_SEED=<seed> npx jest test/sim/sim.test.ts
import { runSeed } from './cluster';
import { defineSimSuite } from './suite';

describe('simulator', () => {
  test('a seed replays exactly: same stats and same committed log', () => {
    for (const seed of [7, 8]) {
      const a = runSeed(seed);
      const b = runSeed(seed);
      expect(b.stats).toEqual(a.stats);
      expect(b.digest).toBe(a.digest);
      expect(a.stats.committed).toBeGreaterThan(0);
    }
    expect(runSeed(9).digest).not.toBe(runSeed(11).digest);
  });
});

describe('cluster simulation, shard 0', () => {
  defineSimSuite(0, 2);
});
