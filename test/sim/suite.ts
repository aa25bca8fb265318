// The jest side of the simulator, shared by the shard files (sim.test.ts, sim-shard1.test.ts)
// so the seeds can run on two jest workers. Pure functions: the test files register them
// with jest (this file is also compiled by `npm run build`, which has no jest globals).
//   SIM_SEEDS=N   run N seeds in all (default 3000), split across the shards
//   SIM_FROM=S    first seed (default 0)
//   SIM_SEED=S    replay exactly seed S (every shard file runs it); SIM_TRACE=1 prints its trace
import { runSeed, type RunResult, type RunStats } from './cluster';

export const DEFAULT_SEEDS = 3000;
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
  return [`seed ${r.seed}: ${v.message}`, `  params: ${r.params}`, `  replay: ${replayCommand(r.seed)}`].join('\n');
}

export interface ShardPlan {
  /** Set when SIM_SEED asks for a single replay. */
  replay?: number;
  /** Seed ranges [start, end), one jest test each. */
  chunks: { start: number; end: number }[];
  seeds: number;
}

export function planShard(shard: number, shards: number): ShardPlan {
  const replay = envInt('SIM_SEED');
  if (replay !== undefined) return { replay, chunks: [], seeds: 1 };
  const total = envInt('SIM_SEEDS') ?? DEFAULT_SEEDS;
  const from = envInt('SIM_FROM') ?? 0;
  // Contiguous halves: even seeds run 3 nodes and odd seeds 5, so each shard gets both.
  const per = Math.ceil(total / shards);
  const lo = from + shard * per;
  const hi = Math.min(from + total, lo + per);
  const chunks: { start: number; end: number }[] = [];
  for (let start = lo; start < hi; start += CHUNK) chunks.push({ start, end: Math.min(hi, start + CHUNK) });
  return { chunks, seeds: Math.max(0, hi - lo) };
}

/** Replay one seed, printing its trace when SIM_TRACE=1. Returns the failure report, if any. */
export function replaySeed(seed: number): string | undefined {
  const trace = process.env.SIM_TRACE === '1';
  const r = runSeed(seed, { trace, traceSink: trace ? (line) => process.stdout.write(`${line}\n`) : undefined });
  process.stdout.write(`seed ${seed}: ${r.params}\n${JSON.stringify(r.stats)}\n`);
  return r.violation === undefined ? undefined : describeFailure(r);
}

export type Totals = Partial<Record<keyof RunStats, number>>;

/** Run seeds [start, end), adding their stats to totals. Returns one report per failing seed. */
export function runChunk(start: number, end: number, totals: Totals): string[] {
  const failures: string[] = [];
  for (let seed = start; seed < end; seed++) {
    const r = runSeed(seed);
    for (const [k, v] of Object.entries(r.stats) as [keyof RunStats, number][]) totals[k] = (totals[k] ?? 0) + v;
    if (r.violation !== undefined) failures.push(describeFailure(r));
  }
  return failures;
}

/**
 * A simulator whose faults never happen proves nothing: after n seeds, every kind of
 * fault must have struck a reasonable number of times. Returns what fell short.
 */
export function coverageShortfalls(totals: Totals, n: number): string[] {
  const want: [keyof RunStats, number][] = [
    ['committed', n * 20],
    ['leaderTerms', n * 2],
    ['crashes', n],
    ['leaderFaults', n / 2],
    ['midReadyCrashes', n / 10],
    ['restarts', n],
    ['partitions', n],
    ['snapshotsSent', n],
    ['confChangesProposed', n / 2],
    ['evictions', n / 10],
    ['transfers', n / 10],
    ['messagesDropped', n * 10],
  ];
  return want.filter(([k, min]) => (totals[k] ?? 0) <= min).map(([k, min]) => `${k}: ${totals[k] ?? 0} <= ${min}`);
}
