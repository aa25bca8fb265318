// Whole-orderer simulation on durable storage: every node's ledger is the LMDB block store and
// its Raft log the WAL's DurableStorage, in a temporary directory per run (/dev/shm when it
// exists), so crashes restart Chains from what LMDB and the WAL really hold.
//   SIM_ORDERER_DURABLE_SEEDS=N SIM_ORDERER_DURABLE_FROM=S npx jest test/sim/orderer-durable.test.ts
//   replay: SIM_ORDERER_SEED=<seed> SIM_ORDERER_DURABLE=1 npx jest test/sim/orderer-sim.test.ts
import { DEFAULT_ORDERER_DURABLE_SEEDS, envInt, planOrdererShard, replayOrdererSeed, runOrdererChunkFast, type OrdererTotals } from './orderer/suite';

describe('whole-orderer simulation on LMDB and the WAL', () => {
  const replay = envInt('SIM_ORDERER_SEED');
  if (replay !== undefined) {
    // A replay run: this file replays the seed too (durable when SIM_ORDERER_DURABLE is set).
    const durable = process.env.SIM_ORDERER_DURABLE !== undefined;
    test(`replay seed ${replay}${durable ? ' (durable)' : ''}`, async () => {
      const failure = await replayOrdererSeed(replay, durable);
      if (failure !== undefined) throw new Error(failure);
    }, 600_000);
    return;
  }
  const total = envInt('SIM_ORDERER_DURABLE_SEEDS') ?? DEFAULT_ORDERER_DURABLE_SEEDS;
  const plan = planOrdererShard(0, 1, total, envInt('SIM_ORDERER_DURABLE_FROM') ?? 0, 20);
  const totals: OrdererTotals = {};
  for (const { start, end } of plan.chunks) {
    test(`durable seeds ${start}..${end - 1}: restarts from LMDB and the WAL keep every invariant`, async () => {
      const failures = await runOrdererChunkFast(start, end, true, totals);
      if (failures.length > 0) throw new Error(`${failures.length} seed(s) failed:\n${failures.join('\n')}`);
    }, 300_000);
  }
  test('the durable seeds crashed and restarted nodes, took snapshots and ordered blocks', () => {
    if (plan.seeds < 20) return;
    expect(totals.crashes ?? 0).toBeGreaterThan(0);
    expect(totals.restarts ?? 0).toBeGreaterThan(plan.seeds / 2);
    expect(totals.snapshots ?? 0).toBeGreaterThan(0);
    expect(totals.blocks ?? 0).toBeGreaterThan(plan.seeds * 5);
  });
});
