// WAL throughput with one fdatasync per save (one Ready), for 1 KB and 100 KB entries at
// batch sizes 1, 10 and 100, next to the raw fsync rate of the same disk measured in the
// same run (a small append + fdatasync loop, through the same async fs calls the WAL uses).
// Absolute numbers on shared machines are noisy; the ratio is what to compare.
//
//   npm run bench:wal     (builds, then runs dist/test/bench/wal-bench.js)
//   WAL_BENCH_SECONDS=3   per configuration (default 1.5)
//   WAL_BENCH_PREALLOCATE=0   without zero-filled segment preallocation
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import type { raftpb } from '../../protos';
import { Wal } from '../../consensus/wal';
import { crc32Implementation } from '../../consensus/wal/crc32';
import { fdatasync, writeAll } from '../../consensus/wal/fsutil';
import { makeTempDir, removeTempDir } from '../support/temp-dir';

const SECONDS_PER_CONFIG = Number(process.env.WAL_BENCH_SECONDS ?? '1.5');
/** WAL_BENCH_PREALLOCATE=0 measures the WAL without segment preallocation. */
const PREALLOCATE = process.env.WAL_BENCH_PREALLOCATE !== '0';
const RAW_SECONDS = Math.max(0.5, SECONDS_PER_CONFIG * 0.7);
/** Upper bound on bytes written per configuration, so a fast disk does not fill /tmp. */
const MAX_BYTES_PER_CONFIG = 1024 * 1024 * 1024;
const ENTRY_SIZES_BYTES = [1024, 100 * 1024];
const BATCH_SIZES = [1, 10, 100];

interface ConfigResult {
  entryBytes: number;
  batch: number;
  saves: number;
  entries: number;
  seconds: number;
  entriesPerSec: number;
  savesPerSec: number;
  mbPerSec: number;
  saveLatencyP50Ms: number;
  saveLatencyP99Ms: number;
}

function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return 0;
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((p / 100) * sortedMs.length))]!;
}

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/**
 * Appends a 64-byte record and fdatasyncs it, in a loop: what one fsync per write costs on
 * this disk, through the same async fs calls as the WAL. Returns {count, seconds}.
 */
class RawFsyncLoop {
  private readonly fd: number;
  private offsetBytes = 0;
  private readonly buf = Buffer.alloc(64, 7);
  readonly latenciesMs: number[] = [];

  /**
   * append: every write extends the file (each fdatasync also commits the new size, as for
   * any appending log); overwrite: the same 64 bytes rewritten in place (data flush only,
   * the cheapest fsync this disk can do).
   */
  constructor(
    private readonly filePath: string,
    private readonly mode: 'append' | 'overwrite' = 'append',
  ) {
    this.fd = fs.openSync(filePath, 'w');
    if (mode === 'overwrite') {
      fs.writeSync(this.fd, this.buf, 0, this.buf.length, 0);
      fs.fdatasyncSync(this.fd);
    }
  }

  async run(seconds: number): Promise<{ count: number; seconds: number }> {
    let count = 0;
    const start = process.hrtime.bigint();
    const deadlineNs = start + BigInt(Math.round(seconds * 1e9));
    while (process.hrtime.bigint() < deadlineNs) {
      const t0 = process.hrtime.bigint();
      await writeAll(this.fd, this.buf, this.offsetBytes);
      await fdatasync(this.fd);
      this.latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (this.mode === 'append') this.offsetBytes += this.buf.length;
      count++;
    }
    return { count, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  }

  close(): void {
    fs.closeSync(this.fd);
    fs.rmSync(this.filePath);
  }
}

async function rawFsyncPerSec(dir: string, label: string): Promise<number> {
  const loop = new RawFsyncLoop(path.join(dir, `raw-${label}.dat`), 'overwrite');
  const { count, seconds } = await loop.run(RAW_SECONDS);
  loop.close();
  return count / seconds;
}

/** Saves batches of `batch` entries of `entryBytes`, each save fdatasynced, for a while. */
class WalLoop {
  private index = 1;
  private readonly pool: Uint8Array[] = [];
  readonly latenciesMs: number[] = [];

  constructor(
    readonly wal: Wal,
    private readonly entryBytes: number,
    private readonly batch: number,
  ) {
    // A pool of distinct payloads, so the run does not measure one cached buffer.
    for (let i = 0; i < 16; i++) {
      const data = Buffer.allocUnsafe(entryBytes);
      for (let j = 0; j + 4 <= entryBytes; j += 4) data.writeUInt32LE((i * 2654435761 + j) >>> 0, j);
      this.pool.push(data);
    }
  }

  async run(seconds: number, maxSaves: number): Promise<{ saves: number; seconds: number }> {
    let saves = 0;
    const start = process.hrtime.bigint();
    const deadlineNs = start + BigInt(Math.round(seconds * 1e9));
    while (saves < maxSaves && (process.hrtime.bigint() < deadlineNs || saves < 5)) {
      const entries: raftpb.Entry[] = [];
      for (let i = 0; i < this.batch; i++, this.index++) {
        entries.push({ type: 0, term: 1, index: this.index, data: this.pool[this.index % this.pool.length]! });
      }
      const t0 = process.hrtime.bigint();
      await this.wal.save({ term: 1, vote: 1, commit: this.index - 1 }, entries, true);
      this.latenciesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      saves++;
    }
    return { saves, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  }
}

/**
 * The headline ratio, measured in alternating short slices of raw fsync loops and WAL saves
 * (1 KB entries, batch 100), so that both see the same disk load: on a shared machine the
 * fsync rate changes several times over within seconds. Each round gives one ratio; the
 * median of the rounds is reported, which one burst of foreign IO cannot move much.
 */
interface Interleaved {
  walEntriesPerSec: number;
  rawAppendPerSec: number;
  rawOverwritePerSec: number;
  ratioVsAppend: number;
  ratioVsOverwrite: number;
  rounds: number;
  roundRatiosVsOverwrite: number[];
  /** Rates from median per-operation latencies: 100 / median save, 1 / median raw fsync. */
  medianWalEntriesPerSec: number;
  medianRawOverwritePerSec: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function interleavedRatio(root: string): Promise<Interleaved> {
  const rounds = 15;
  const sliceSeconds = Math.max(0.1, SECONDS_PER_CONFIG / 10);
  const rawAppend = new RawFsyncLoop(path.join(root, 'raw-append.dat'), 'append');
  const rawOverwrite = new RawFsyncLoop(path.join(root, 'raw-overwrite.dat'), 'overwrite');
  const dir = path.join(root, 'wal-interleaved');
  const { wal } = await Wal.open(dir, { logger: pino({ level: 'warn' }), preallocate: PREALLOCATE });
  const loop = new WalLoop(wal, 1024, 100);
  const vsAppend: number[] = [];
  const vsOverwrite: number[] = [];
  const totals = { walEntries: 0, walSeconds: 0, append: 0, appendSeconds: 0, overwrite: 0, overwriteSeconds: 0 };
  const walLatencyStart = loop.latenciesMs.length;
  for (let i = 0; i < rounds; i++) {
    const a = await rawAppend.run(sliceSeconds);
    const w = await loop.run(sliceSeconds, Number.MAX_SAFE_INTEGER);
    const o = await rawOverwrite.run(sliceSeconds);
    const walRate = (w.saves * 100) / w.seconds;
    vsAppend.push(walRate / (a.count / a.seconds));
    vsOverwrite.push(walRate / (o.count / o.seconds));
    totals.walEntries += w.saves * 100;
    totals.walSeconds += w.seconds;
    totals.append += a.count;
    totals.appendSeconds += a.seconds;
    totals.overwrite += o.count;
    totals.overwriteSeconds += o.seconds;
  }
  rawAppend.close();
  rawOverwrite.close();
  const walLatencyMs = median(loop.latenciesMs.slice(walLatencyStart));
  const rawLatencyMs = median(rawOverwrite.latenciesMs);
  await wal.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    walEntriesPerSec: totals.walEntries / totals.walSeconds,
    rawAppendPerSec: totals.append / totals.appendSeconds,
    rawOverwritePerSec: totals.overwrite / totals.overwriteSeconds,
    ratioVsAppend: median(vsAppend),
    ratioVsOverwrite: median(vsOverwrite),
    rounds,
    roundRatiosVsOverwrite: vsOverwrite.map((r) => round(r, 1)),
    medianWalEntriesPerSec: (100 * 1000) / walLatencyMs,
    medianRawOverwritePerSec: 1000 / rawLatencyMs,
  };
}

async function runConfig(root: string, entryBytes: number, batch: number): Promise<ConfigResult> {
  const dir = path.join(root, `wal-${entryBytes}-${batch}`);
  const { wal } = await Wal.open(dir, { logger: pino({ level: 'warn' }), preallocate: PREALLOCATE });
  const loop = new WalLoop(wal, entryBytes, batch);
  const maxSaves = Math.max(5, Math.floor(MAX_BYTES_PER_CONFIG / (entryBytes * batch)));
  const { saves, seconds } = await loop.run(SECONDS_PER_CONFIG, maxSaves);
  await wal.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const latenciesMs = loop.latenciesMs.sort((a, b) => a - b);
  const entries = saves * batch;
  return {
    entryBytes,
    batch,
    saves,
    entries,
    seconds: round(seconds, 3),
    entriesPerSec: Math.round(entries / seconds),
    savesPerSec: Math.round(saves / seconds),
    mbPerSec: round((entries * entryBytes) / seconds / (1024 * 1024)),
    saveLatencyP50Ms: round(percentile(latenciesMs, 50), 3),
    saveLatencyP99Ms: round(percentile(latenciesMs, 99), 3),
  };
}

async function main(): Promise<void> {
  const root = makeTempDir('wal-bench-');
  try {
    const rawBefore = await rawFsyncPerSec(root, 'before');
    const results: ConfigResult[] = [];
    for (const entryBytes of ENTRY_SIZES_BYTES) {
      for (const batch of BATCH_SIZES) results.push(await runConfig(root, entryBytes, batch));
    }
    const rawAfter = await rawFsyncPerSec(root, 'after');
    const rawPerSec = (rawBefore + rawAfter) / 2;
    const headline = await interleavedRatio(root);
    // The stricter baseline: in-place small write + fdatasync, the cheapest fsync of this disk
    // (what fio and pg_test_fsync measure). Both rates from median per-operation latencies over
    // the interleaved rounds: on a shared disk the rate swings by 10x between 0.1 s slices, and a
    // median is what one burst of foreign IO cannot move.
    const walEntriesPerSec = headline.medianWalEntriesPerSec;
    const headlineRawPerSec = headline.medianRawOverwritePerSec;
    const ratio = walEntriesPerSec / headlineRawPerSec;
    const report = {
      node: process.version,
      crc32: crc32Implementation,
      preallocate: PREALLOCATE,
      dir: os.tmpdir(),
      secondsPerConfig: SECONDS_PER_CONFIG,
      rawFsync: { perSecBefore: Math.round(rawBefore), perSecAfter: Math.round(rawAfter), perSec: Math.round(rawPerSec) },
      results: results.map((r) => ({ ...r, savesPerRawFsync: round(r.savesPerSec / rawPerSec, 2) })),
      headline: {
        what:
          '1 KB entries, batch 100, one fdatasync per save, in rounds alternating with raw 64-byte write + fdatasync loops; ' +
          'summary rates from median per-operation latencies (overwrite baseline); throughput figures are totals over the rounds',
        medianWalEntriesPerSec: Math.round(walEntriesPerSec),
        medianRawOverwriteFsyncPerSec: Math.round(headlineRawPerSec),
        ratio: round(ratio, 1),
        throughput: {
          walEntriesPerSec: Math.round(headline.walEntriesPerSec),
          rawFsyncOverwritePerSec: Math.round(headline.rawOverwritePerSec),
          rawFsyncAppendPerSec: Math.round(headline.rawAppendPerSec),
          medianRoundRatioVsOverwrite: round(headline.ratioVsOverwrite, 1),
          medianRoundRatioVsAppend: round(headline.ratioVsAppend, 1),
        },
        rounds: headline.rounds,
        roundRatiosVsOverwrite: headline.roundRatiosVsOverwrite,
      },
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(
      `wal_1kb_batch100_entries_per_s=${Math.round(walEntriesPerSec)} raw_fsync_per_s=${Math.round(headlineRawPerSec)} ratio=${round(ratio, 1)}\n`,
    );
  } finally {
    removeTempDir(root, 'wal-bench-');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`wal-bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
