// The jest side of the whole-orderer simulator, shared by its shard files so the seeds run on
// both jest workers. Pure functions (no jest globals: `npm run build` compiles this file too).
//   SIM_ORDERER_SEEDS=N    memory seeds in all (default 2000), split over the shards
//   SIM_ORDERER_FROM=S     first seed (default 0)
//   SIM_ORDERER_SEED=S     replay exactly seed S (with SIM_ORDERER_DURABLE=1: the durable run); SIM_TRACE=1 prints its trace
//   SIM_ORDERER_DURABLE_SEEDS=N, SIM_ORDERER_DURABLE_FROM=S   the durable share (LMDB + WAL in temp dirs)
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runOrdererSeed, type OrdererRunStats } from './run';
import { describeOrdererFailure } from './soak';

export const DEFAULT_ORDERER_SEEDS = 2000;
export const DEFAULT_ORDERER_DURABLE_SEEDS = 50;
const CHUNK = 100;

export function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return v;
}

export type OrdererTotals = Partial<Record<keyof OrdererRunStats, number>>;

export interface OrdererShardPlan {
  replay?: { seed: number; durable: boolean };
  chunks: { start: number; end: number }[];
  seeds: number;
}

export function planOrdererShard(shard: number, shards: number, total = envInt('SIM_ORDERER_SEEDS') ?? DEFAULT_ORDERER_SEEDS, from = envInt('SIM_ORDERER_FROM') ?? 0, chunk = CHUNK): OrdererShardPlan {
  const replay = envInt('SIM_ORDERER_SEED');
  if (replay !== undefined) return { replay: { seed: replay, durable: process.env.SIM_ORDERER_DURABLE === '1' }, chunks: [], seeds: 1 };
  const per = Math.ceil(total / shards);
  const lo = from + shard * per;
  const hi = Math.min(from + total, lo + per);
  const chunks: { start: number; end: number }[] = [];
  for (let start = lo; start < hi; start += chunk) chunks.push({ start, end: Math.min(hi, start + chunk) });
  return { chunks, seeds: Math.max(0, hi - lo) };
}

/** Replays one seed, printing its parameters, stats and (SIM_TRACE=1) trace. Returns the failure report, if any. */
export async function replayOrdererSeed(seed: number, durable: boolean): Promise<string | undefined> {
  const trace = process.env.SIM_TRACE === '1';
  const r = await runOrdererSeed(seed, { durable, trace, ...(trace ? { traceSink: (line: string) => process.stdout.write(`${line}\n`) } : {}) });
  process.stdout.write(`seed ${seed}: ${r.params}\n${JSON.stringify(r.stats)}\n`);
  return r.violation === undefined ? undefined : describeOrdererFailure(r, durable);
}

/** Runs seeds [start, end), adding their stats to totals. Returns one report per failing seed. */
export async function runOrdererChunk(start: number, end: number, durable: boolean, totals: OrdererTotals): Promise<string[]> {
  const failures: string[] = [];
  for (let seed = start; seed < end; seed++) {
    const r = await runOrdererSeed(seed, { durable });
    for (const [k, v] of Object.entries(r.stats) as [keyof OrdererRunStats, number][]) totals[k] = (totals[k] ?? 0) + v;
    if (r.violation !== undefined) failures.push(describeOrdererFailure(r, durable));
  }
  return failures;
}

function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'orderer'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no repository above ${__dirname}`);
  }
}

/** The sources a whole-orderer run executes, each with its compiled file in dist/. */
const SOURCE_DIRS = ['orderer', 'consensus', 'ledger', 'cluster', 'protos', path.join('test', 'sim')];

/** True when every source file has a compiled counterpart in dist/ at least as new (npm test builds first). */
export function distIsFresh(root = repoRoot()): boolean {
  const walk = (rel: string): boolean => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = path.join(rel, entry.name);
      if (entry.isDirectory()) {
        if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
        if (!walk(r)) return false;
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) {
        const js = path.join(root, 'dist', r.replace(/\.ts$/, '.js'));
        if (!fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(path.join(root, r)).mtimeMs) return false;
      }
    }
    return true;
  };
  return SOURCE_DIRS.every((d) => walk(d));
}

/**
 * Node flags of the simulator's child processes: jest already keeps both cores busy with its two
 * workers, and a child whose garbage collector runs on helper threads (it showed 110% CPU) slows
 * every other suite more than itself.
 */
const CHILD_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];

/** Runs a compiled script of test/sim/ in a plain node process; resolves with its last stdout line. */
export async function runCompiled(relScript: string, args: readonly string[]): Promise<string> {
  const script = path.join(repoRoot(), 'dist', 'test', 'sim', relScript);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [...CHILD_NODE_FLAGS, script, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, out, errOut) => {
      if (err !== null && out.trim() === '') reject(new Error(`${err.message}\n${errOut}`));
      else resolve(out);
    });
  });
  return stdout.trim().split('\n').pop() ?? '';
}

/** Runs a compiled script of test/sim/ in a plain node process; resolves with its exit code and output. */
export async function runCompiledForExit(relScript: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  const script = path.join(repoRoot(), 'dist', 'test', 'sim', relScript);
  return new Promise((resolve) => {
    execFile(process.execPath, [...CHILD_NODE_FLAGS, script, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, out, errOut) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, output: `${out}${errOut}` });
    });
  });
}

/**
 * Runs a chunk in a plain node process on the compiled code when dist/ is up to date with the
 * sources (the same code, without jest's vm, about three times faster); in this process otherwise.
 */
export async function runOrdererChunkFast(start: number, end: number, durable: boolean, totals: OrdererTotals): Promise<string[]> {
  const root = repoRoot();
  if (!distIsFresh(root)) return runOrdererChunk(start, end, durable, totals);
  const lastLine = await runCompiled(path.join('orderer', 'soak.js'), ['--chunk', String(start), String(end), ...(durable ? ['--durable'] : [])]);
  const parsed = JSON.parse(lastLine) as { failures: string[]; totals: OrdererTotals };
  for (const [k, v] of Object.entries(parsed.totals) as [keyof OrdererRunStats, number][]) totals[k] = (totals[k] ?? 0) + v;
  return parsed.failures;
}

/** The kinds of fault and work the seeds must have exercised, per 100 seeds. */
const MIN_PER_100_SEEDS: Partial<Record<keyof OrdererRunStats, number>> = {
  crashes: 10,
  restarts: 10,
  partitions: 10,
  leaderStrikes: 10,
  leaderChanges: 50,
  lostLogHalts: 3,
  snapshots: 100,
  pulls: 20,
  refused: 50,
  acknowledged: 1000,
  retries: 100,
  // Pulls beside the Ready loop (about a third of what 2000 seeds show): Raft goes on, entries
  // wait, a pulling node gets elected, a newer snapshot moves a running pull's target.
  commitsWhilePulling: 50,
  backlogsWhilePulling: 250,
  leadersWhilePulling: 10,
  pullRetargets: 0.5,
  // Membership (a third of the seeds): consenters added and removed by config updates, the
  // leader among the removed, spare nodes onboarded and running as members.
  configUpdates: 10,
  consentersAdded: 6,
  consentersRemoved: 4,
  leaderRemovals: 2,
  joins: 6,
  // Preferred leaders (a sixth of the seeds, half of those without faults): hand-overs made,
  // and runs whose first leader was another node ending with the preferred one leading.
  preferenceRuns: 12,
  preferenceCalmRuns: 6,
  preferenceTransfers: 8,
  preferenceHandovers: 6,
  // Forwards due together reach the leader's Chain as one SubmitBatch (about 38 per 100 seeds, of two each).
  submitBatches: 15,
};

export function ordererCoverageShortfalls(totals: OrdererTotals, seeds: number): string[] {
  const out: string[] = [];
  for (const [k, per100] of Object.entries(MIN_PER_100_SEEDS) as [keyof OrdererRunStats, number][]) {
    const want = Math.floor((per100 * seeds) / 100);
    if ((totals[k] ?? 0) < want) out.push(`${k}: ${totals[k] ?? 0} < ${want}`);
  }
  return out;
}
