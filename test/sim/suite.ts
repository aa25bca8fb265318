// The jest side of the simulator, shared by the shard files (sim.test.ts, sim-shard1.test.ts)
// so the seeds can run on two jest workers. Pure functions: the test files register them
// with jest (this file is also compiled by `npm run build`, which has no jest globals).
//   SIM_SEEDS=N   run N seeds in all (default 3000), split across the shards
//   SIM_FROM=S    first seed (default 0)
//   SIM_SEED=S    replay exactly seed S (every shard file runs it); SIM_TRACE=1 prints its trace
// Durable mode (sim-durable.test.ts, nodes on consensus/wal's DurableStorage, durable.ts):
//   SIM_DURABLE_SEEDS=N, SIM_DURABLE_FROM=S, SIM_DURABLE_SEED=S (replay, with SIM_TRACE=1),
//   SIM_DURABLE_DIR=dir (where temp dirs go; default /dev/shm), SIM_DURABLE_CONCURRENCY=K
import * as fs from 'node:fs';
import { runSeed, type RunResult, type RunStats } from './cluster';
import { runSeedDurable, type DurableRunOptions, type DurableStats } from './durable';

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

export function durableReplayCommand(seed: number): string {
  return `SIM_DURABLE_SEED=${seed} npx jest test/sim/sim-durable.test.ts   (add SIM_TRACE=1 for the step-by-step trace)`;
}

export function describeFailure(r: RunResult, replay: (seed: number) => string = replayCommand): string {
  const v = r.violation!;
  return [`seed ${r.seed}: ${v.message}`, `  params: ${r.params}`, `  replay: ${replay(r.seed)}`].join('\n');
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
export async function replaySeed(seed: number): Promise<string | undefined> {
  const trace = process.env.SIM_TRACE === '1';
  const r = await runSeed(seed, { trace, traceSink: trace ? (line) => process.stdout.write(`${line}\n`) : undefined });
  process.stdout.write(`seed ${seed}: ${r.params}\n${JSON.stringify(r.stats)}\n`);
  return r.violation === undefined ? undefined : describeFailure(r);
}

export type Totals = Partial<Record<keyof RunStats, number>>;

/** Run seeds [start, end), adding their stats to totals. Returns one report per failing seed. */
export async function runChunk(start: number, end: number, totals: Totals): Promise<string[]> {
  const failures: string[] = [];
  for (let seed = start; seed < end; seed++) {
    const r = await runSeed(seed);
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

// ---- durable mode ----

export const DEFAULT_DURABLE_SEEDS = 300;
const DURABLE_CHUNK = 50;

export interface DurablePlan {
  replay?: number;
  chunks: { start: number; end: number }[];
  seeds: number;
  /** Seeds run at once (each one's steps stay strictly sequential, so results do not depend on it). */
  concurrency: number;
}

export function planDurable(): DurablePlan {
  const concurrency = Math.max(1, envInt('SIM_DURABLE_CONCURRENCY') ?? 2);
  const replay = envInt('SIM_DURABLE_SEED');
  if (replay !== undefined) return { replay, chunks: [], seeds: 1, concurrency };
  const total = envInt('SIM_DURABLE_SEEDS') ?? DEFAULT_DURABLE_SEEDS;
  const from = envInt('SIM_DURABLE_FROM') ?? 0;
  const chunks: { start: number; end: number }[] = [];
  for (let start = from; start < from + total; start += DURABLE_CHUNK) chunks.push({ start, end: Math.min(from + total, start + DURABLE_CHUNK) });
  return { chunks, seeds: total, concurrency };
}

/** Replay one durable seed, printing its trace when SIM_TRACE=1. Returns the failure report, if any. */
export async function replayDurableSeed(seed: number): Promise<string | undefined> {
  const trace = process.env.SIM_TRACE === '1';
  const r = await runSeedDurable(seed, { trace, traceSink: trace ? (line) => process.stdout.write(`${line}\n`) : undefined });
  process.stdout.write(`seed ${seed}: ${r.params}\n${JSON.stringify(r.stats)}\n${JSON.stringify(r.durable)}\n`);
  return r.violation === undefined ? undefined : describeFailure(r, durableReplayCommand);
}

export type DurableTotals = Partial<Record<keyof RunStats | keyof DurableStats, number>>;

/**
 * Run durable seeds [start, end), `concurrency` at a time, adding their stats to totals.
 * Returns one report per failing seed, and one per run whose temporary directory survived it.
 */
export async function runDurableChunk(
  start: number,
  end: number,
  totals: DurableTotals,
  concurrency: number,
  options: DurableRunOptions = {},
): Promise<string[]> {
  const failures = new Map<number, string>();
  let next = start;
  const worker = async (): Promise<void> => {
    while (next < end) {
      const seed = next++;
      const r = await runSeedDurable(seed, options);
      for (const [k, v] of [...Object.entries(r.stats), ...Object.entries(r.durable)] as [keyof DurableTotals, number][]) {
        totals[k] = (totals[k] ?? 0) + v;
      }
      const reports: string[] = [];
      if (r.violation !== undefined) reports.push(describeFailure(r, durableReplayCommand));
      if (fs.existsSync(r.root)) reports.push(`seed ${seed}: its temporary directory ${r.root} was not removed`);
      if (reports.length > 0) failures.set(seed, reports.join('\n'));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, end - start) }, worker));
  return [...failures].sort((a, b) => a[0] - b[0]).map(([, report]) => report);
}

/** What durable seeds must have exercised: restarts on the WAL's replay, segment rollover and release, snapshots. */
export function durableCoverageShortfalls(totals: DurableTotals, n: number): string[] {
  const want: [keyof DurableTotals, number][] = [
    ['committed', n * 20],
    ['crashes', n],
    ['midReadyCrashes', n / 10],
    ['reopens', n * 2],
    ['entriesReplayed', n * 20],
    ['reopensFromSnapshot', n / 2],
    ['segmentsRolled', n],
    ['segmentsReleased', n / 2],
    ['snapshotsCreated', n],
    ['snapshotsInstalled', n / 10],
    ['confChangesProposed', n / 2],
    ['evictions', n / 10],
  ];
  return want.filter(([k, min]) => (totals[k] ?? 0) <= min).map(([k, min]) => `${k}: ${totals[k] ?? 0} <= ${min}`);
}
