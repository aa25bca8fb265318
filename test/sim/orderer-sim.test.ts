// Whole-orderer simulation, shard 0 of 2: every node the real Chain (orderer/chain/) with its
// block cutter, intake, forwarding, resubmission, tx-id dedup, apply, snapshots and catch-up,
// over the simulated network and clock (test/sim/orderer/README section in test/sim/README.md).
// A failing seed prints its replay command:
//   SIM_ORDERER_SEED=<seed> npx jest test/sim/orderer-sim.test.ts   (SIM_TRACE=1 for the trace)
import { runOrdererSeed } from './orderer/run';
import { describeOrdererShard } from './orderer/shard-tests';

describe('whole-orderer simulator', () => {
  if (process.env.SIM_ORDERER_SEED !== undefined) return;
  test('a seed replays exactly: same stats and same chain', async () => {
    for (const seed of [3, 4]) {
      const a = await runOrdererSeed(seed);
      const b = await runOrdererSeed(seed);
      expect(b.stats).toEqual(a.stats);
      expect(b.digest).toBe(a.digest);
      expect(a.stats.blocks).toBeGreaterThan(1);
    }
    expect((await runOrdererSeed(5)).digest).not.toBe((await runOrdererSeed(7)).digest);
  });
});

describeOrdererShard(0, 2);
