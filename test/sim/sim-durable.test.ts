// The cluster simulation with every node on consensus/wal's DurableStorage (durable.ts): a
// temporary directory per node, crashes close the storage, restarts reopen it and run on
// what the WAL replays, which must be exactly what the node persisted.
//   SIM_DURABLE_SEEDS=N (default 300)  SIM_DURABLE_FROM=S  SIM_DURABLE_DIR=dir (default /dev/shm)
//   replay one seed: SIM_DURABLE_SEED=<seed> npx jest test/sim/sim-durable.test.ts (SIM_TRACE=1 for the trace)
import * as fs from 'node:fs';
import { DurableStorage } from '../../consensus/wal/durable-storage';
import { runSeedDurable, type DurableStores } from './durable';
import type { StoreFactory } from './store';
import { durableCoverageShortfalls, planDurable, replayDurableSeed, runDurableChunk, type DurableTotals } from './suite';

describe('durable simulation', () => {
  test('a durable seed replays exactly: same trace, digest and WAL activity; its directory is removed', async () => {
    // Seed 9 rolls segments over and releases them behind snapshots.
    const a = await runSeedDurable(9, { trace: true });
    const b = await runSeedDurable(9, { trace: true });
    expect(a.violation).toBeUndefined();
    expect(b.trace).toEqual(a.trace);
    expect(b.digest).toBe(a.digest);
    expect(b.durable).toEqual(a.durable);
    expect(a.durable.reopens).toBeGreaterThan(0);
    expect(a.durable.segmentsReleased).toBeGreaterThan(0);
    expect(a.root).not.toBe(b.root);
    expect(fs.existsSync(a.root)).toBe(false);
    expect(fs.existsSync(b.root)).toBe(false);
  });

  test('a WAL that keeps commit-only Readys in memory and never writes them is caught at a restart', async () => {
    // The storage Finding #3 warns about: hard states of mustSync=false Readys are shown to
    // Raft but not written, so a restart comes back with an older commit index.
    const dropUnsynced = (stores: DurableStores): StoreFactory => ({
      kind: 'durable',
      open: async (id, disk, fail) => {
        const inner = await stores.open(id, disk, fail);
        const ds = inner.storage;
        if (!(ds instanceof DurableStorage)) throw new Error('expected a DurableStorage');
        return {
          storage: ds,
          persist: (rd) => {
            const commitOnly = !rd.mustSync && rd.entries.length === 0 && rd.snapshot === undefined && rd.hardState !== undefined;
            if (!commitOnly || rd.hardState === undefined) return inner.persist(rd);
            ds.memory.setHardState(rd.hardState);
            return undefined;
          },
          createSnapshot: (index, conf, data) => inner.createSnapshot(index, conf, data),
          compact: (index) => inner.compact(index),
          close: () => inner.close(),
          describe: () => inner.describe(),
        };
      },
    });
    const caught: string[] = [];
    for (let seed = 0; seed < 6; seed++) {
      const r = await runSeedDurable(seed, { wrapStores: dropUnsynced });
      expect(fs.existsSync(r.root)).toBe(false);
      caught.push(r.violation?.invariant ?? 'none');
    }
    expect(caught).toEqual(Array<string>(6).fill('a restarted node gets back what it persisted'));
  });
});

describe('durable cluster simulation', () => {
  const plan = planDurable();
  const replay = plan.replay;
  if (replay !== undefined) {
    test(`replay durable seed ${replay}`, async () => {
      const failure = await replayDurableSeed(replay);
      if (failure !== undefined) throw new Error(failure);
    });
  }
  const totals: DurableTotals = {};
  for (const { start, end } of plan.chunks) {
    test(`seeds ${start}..${end - 1} on DurableStorage keep every invariant through crash-restarts`, async () => {
      const failures = await runDurableChunk(start, end, totals, plan.concurrency);
      if (failures.length > 0) throw new Error(`${failures.length} seed(s) failed:\n${failures.join('\n')}`);
    });
  }
  if (plan.chunks.length > 0) {
    test('the seeds restarted nodes from the WAL, rolled segments over and released them', () => {
      expect(durableCoverageShortfalls(totals, plan.seeds)).toEqual([]);
    });
  }
});
