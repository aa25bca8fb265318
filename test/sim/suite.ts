// The jest side of the simulator, shared by the shard files (sim.test.ts, sim-shard1.test.ts)
// so jest's workers run the seeds on both cores.
//   SIM_SEEDS=N   run N seeds in all (default 2000), split across the shards
//   SIM_FROM=S    first seed (default 0)
//   SIM_SEED=S    replay exactly seed S (every shard file runs it); SIM_TRACE=1 prints its trace
import { runSeed, type RunResult, type RunStats } from './cluster';

export const DEFAULT_SEEDS = 2000;
const CHUNK = 100;

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return v;
}

export function replayCommand(seed: number): string {
  return `SIM_SEED=${seed} npx jest test/sim/sim.test.ts   (add SIM_TRACE=1 for the step-by-step trace)`;
}

export function describeFailure(r: RunResult): string {
  const v = r.violation!;
  return [
    `seed ${r.seed}: ${v.message}`,
    `  params: ${r.params}`,
    `  replay: ${replayCommand(r.seed)}`,
  ].join('\n');
}

/** Register this shard's tests. */
export function defineSimSuite(shard: number, shards: number): void {
  const replay = envInt('SIM_SEED');
  if (replay !== undefined) {
    test(`replay seed ${replay}`, () => {
      const trace = process.env.SIM_TRACE === '1';
      const r = runSeed(replay, { trace, traceSink: trace ? (line) => process.stdout.write(`${line}\n`) : undefined });
      process.stdout.write(`seed ${replay}: ${r.params}\n${JSON.stringify(r.stats)}\n`);
      if (r.violation !== undefined) throw new Error(describeFailure(r));
    });
    return;
  }

  const total = envInt('SIM_SEEDS') ?? DEFAULT_SEEDS;
  const from = envInt('SIM_FROM') ?? 0;
  // Contiguous halves: even seeds run 3 nodes and odd seeds 5, so each shard gets both.
  const per = Math.ceil(total / shards);
  const lo = from + shard * per;
  const hi = Math.min(from + total, lo + per);
  const totals: Partial<Record<keyof RunStats, number>> = {};

  for (let start = lo; start < hi; start += CHUNK) {
    const end = Math.min(hi, start + CHUNK);
    test(`seeds ${start}..${end - 1} keep every invariant and recover after healing`, () => {
      const failures: string[] = [];
      for (let seed = start; seed < end; seed++) {
        const r = runSeed(seed);
        for (const [k, v] of Object.entries(r.stats) as [keyof RunStats, number][]) totals[k] = (totals[k] ?? 0) + v;
        if (r.violation !== undefined) failures.push(describeFailure(r));
      }
      if (failures.length > 0) throw new Error(`${failures.length} seed(s) failed:\n${failures.join('\n')}`);
    });
  }

  if (hi > lo) {
    // A simulator whose faults never happen proves nothing: check the seeds really crashed
    // nodes mid-Ready, sent snapshots, changed membership, partitioned, elected leaders.
    test('the seeds exercised every kind of fault', () => {
      const n = hi - lo;
      const at = (k: keyof RunStats): number => totals[k] ?? 0;
      expect(at('committed')).toBeGreaterThan(n * 20);
      expect(at('leaderTerms')).toBeGreaterThan(n);
      expect(at('crashes')).toBeGreaterThan(n);
      expect(at('midReadyCrashes')).toBeGreaterThan(n / 10);
      expect(at('restarts')).toBeGreaterThan(n);
      expect(at('partitions')).toBeGreaterThan(n);
      expect(at('snapshotsSent')).toBeGreaterThan(n);
      expect(at('confChangesProposed')).toBeGreaterThan(n / 2);
      expect(at('evictions')).toBeGreaterThan(n / 10);
      expect(at('transfers')).toBeGreaterThan(n / 10);
      expect(at('messagesDropped')).toBeGreaterThan(n * 10);
    });
  }
}
