// npm run bench:ledger — durable append and read rates of the LMDB block store, next to the raw
// sequential write rate and fsync rate of the same disk measured in the same run (absolute numbers
// on a shared machine are noisy; the ratio is what we watch). Prints one JSON object, then a summary.
// `node dist/test/bench/ledger-bench.js rss` runs only the memory scenario (see rssScenario); the
// full run starts it in a child process of its own, so nothing else this bench maps counts in it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { openBlockStore } from '../../ledger';
import { ChainBuilder, makeEnvelope, SeededRandom } from '../ledger/fixtures/chain';
import { makeTempDir, removeTempDir } from '../support/temp-dir';

const MiB = 1024 * 1024;
const LARGE_BLOCK_BYTES = MiB;
const LARGE_BLOCKS = Number(process.env.BENCH_LARGE_BLOCKS ?? 200);
const SMALL_BLOCK_BYTES = 10 * 1024;
const SMALL_BLOCKS = Number(process.env.BENCH_SMALL_BLOCKS ?? 20_000);
const SMALL_BATCH = 100;
/** Appends kept in flight in the pipelined runs, as an apply loop that does not wait for each block would. */
const PIPELINE_WINDOW = 4;
const RAW_WRITE_BYTES = 200 * MiB;
/** The memory scenario: the shape of the orderer benchmark's blocks (500 envelopes of 1 KB). */
const RSS_BLOCKS = Number(process.env.BENCH_RSS_BLOCKS ?? 300);
const RSS_ENVELOPES_PER_BLOCK = 500;
const RSS_ENVELOPE_DATA_BYTES = 1024;
const FSYNC_SECONDS = 2;

const logger = pino({ level: 'silent' });
const seconds = (startNs: bigint): number => Number(process.hrtime.bigint() - startNs) / 1e9;
const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** 1 MiB chunks, one fsync at the end (or, with syncEachChunk, an fdatasync after every chunk). */
function rawSequentialWrite(dir: string, syncEachChunk = false): number {
  const file = path.join(dir, 'raw-seq');
  const chunk = new SeededRandom(1).bytes(MiB);
  const fd = openSync(file, 'w');
  const t = process.hrtime.bigint();
  for (let written = 0; written < RAW_WRITE_BYTES; written += chunk.length) {
    writeSync(fd, chunk);
    if (syncEachChunk) fdatasyncSync(fd);
  }
  fsyncSync(fd);
  const s = seconds(t);
  closeSync(fd);
  rmSync(file);
  return RAW_WRITE_BYTES / MiB / s;
}

function rawFsyncRate(dir: string): number {
  const file = path.join(dir, 'raw-fsync');
  const small = new Uint8Array(512).fill(1);
  const fd = openSync(file, 'w');
  const t = process.hrtime.bigint();
  let n = 0;
  while (seconds(t) < FSYNC_SECONDS) {
    writeSync(fd, small);
    fsyncSync(fd);
    n++;
  }
  const s = seconds(t);
  closeSync(fd);
  rmSync(file);
  return n / s;
}

/** The tiny measurement behind the choice of node:crypto for SHA-256 (see README, Ledger). */
function sha256Rates(): Record<string, number | null> {
  let noble: ((b: Uint8Array) => Uint8Array) | undefined;
  try {
    // @noble/hashes is ESM-only: require() works from Node 20.19 on; older Nodes skip this column.
    noble = (require('@noble/hashes/sha2.js') as { sha256: (b: Uint8Array) => Uint8Array }).sha256;
  } catch {
    noble = undefined;
  }
  const out: Record<string, number | null> = {};
  for (const [label, size] of [['1mb', MiB], ['10kb', 10 * 1024]] as const) {
    const buf = new SeededRandom(2).bytes(size);
    const rounds = Math.max(20, Math.floor((64 * MiB) / size));
    const candidates: [string, ((b: Uint8Array) => unknown) | undefined][] = [
      ['node_crypto', (b) => createHash('sha256').update(b).digest()],
      ['noble', noble],
    ];
    for (const [name, hash] of candidates) {
      const key = `sha256_${name}_${label}_mb_s`;
      if (hash === undefined) {
        out[key] = null;
        continue;
      }
      for (let i = 0; i < 3; i++) hash(buf);
      const t = process.hrtime.bigint();
      for (let i = 0; i < rounds; i++) hash(buf);
      out[key] = round((rounds * size) / MiB / seconds(t));
    }
  }
  return out;
}

function buildBlocks(count: number, envelopeDataBytes: number, seed: number): { blocks: Uint8Array[]; totalBytes: number } {
  const random = new SeededRandom(seed);
  // A handful of distinct payloads reused across blocks: building 200 MB of fresh random data
  // would dominate the setup time and does not change what LMDB has to write.
  const payloads = Array.from({ length: 16 }, () => random.bytes(envelopeDataBytes));
  const chain = new ChainBuilder();
  const blocks: Uint8Array[] = [];
  let totalBytes = 0;
  for (let i = 0; i < count; i++) {
    const block = chain.next([makeEnvelope(`tx-${i}`, payloads[i % payloads.length]!)]);
    blocks.push(block);
    totalBytes += block.length;
  }
  return { blocks, totalBytes };
}

interface Rates {
  blocks_s: number;
  mb_s: number;
}

const rates = (blocks: number, bytes: number, s: number): Rates => ({ blocks_s: round(blocks / s), mb_s: round(bytes / MiB / s) });

/**
 * Appends `blocks` in calls of `batch` blocks, keeping up to `window` calls in flight (window 1 =
 * wait for each append to be durable before the next), then reads them all back.
 */
async function appendAndRead(
  dir: string,
  channelId: string,
  blocks: Uint8Array[],
  totalBytes: number,
  batch: number,
  window: number,
  useWriteMap = false,
): Promise<{ append: Rates; read: Rates; writeTransactions: number }> {
  const store = await openBlockStore({ dir, channelId, logger, useWriteMap });
  const t = process.hrtime.bigint();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < blocks.length; i += batch) {
    inFlight.push(batch === 1 ? store.append(blocks[i]!) : store.appendBatch(blocks.slice(i, i + batch)));
    if (inFlight.length >= window) await inFlight.shift();
  }
  await Promise.all(inFlight);
  const append = rates(blocks.length, totalBytes, seconds(t));
  const writeTransactions = store.stats().writeTransactions;
  await store.close();
  // Read through a fresh store without the recent-block cache, so every block comes from LMDB and
  // is decoded and checked (data hash) as any reader would see it.
  const reader = await openBlockStore({ dir, channelId, logger, recentBlocksMaxBytes: 0 });
  const r = process.hrtime.bigint();
  let readBytes = 0;
  for (let n = 0; n < reader.height(); n++) readBytes += reader.getBlock(n)!.bytes.length;
  const read = rates(reader.height(), readBytes, seconds(r));
  await reader.close();
  return { append, read, writeTransactions };
}

/** kB figures of /proc/self/status (Linux); undefined elsewhere. */
function procStatusKb(field: string): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

interface RssResult {
  blocks: number;
  envelopes_per_block: number;
  ledger_mb: number;
  /** Lookups and awaited appends together, one block at a time. */
  blocks_s: number;
  rss_file_mb_after_open: number | null;
  rss_file_mb_after_appends: number | null;
  rss_file_growth_mb: number | null;
  rss_anon_mb_after_appends: number | null;
}

const kbToMb = (kb: number | undefined): number | null => (kb === undefined ? null : round(kb / 1024));

/**
 * What the orderer does on its hot path, alone: every envelope is looked up by tx id before its
 * block is appended, then the block is appended and awaited. Reports the growth of file-backed RSS
 * (the store's LMDB mappings) against the bytes appended.
 */
async function rssScenario(): Promise<RssResult> {
  const dir = makeTempDir('ledger-bench-rss-');
  try {
    const store = await openBlockStore({ dir, channelId: 'rss', logger });
    const random = new SeededRandom(5);
    const payloads = Array.from({ length: 16 }, () => random.bytes(RSS_ENVELOPE_DATA_BYTES));
    const chain = new ChainBuilder();
    const fileAfterOpen = procStatusKb('RssFile');
    let ledgerBytes = 0;
    let found = 0;
    let busyNs = 0n;
    for (let b = 0; b < RSS_BLOCKS; b++) {
      // 64 hex characters, like Fabric's tx ids; unique, so every lookup misses as for new envelopes.
      const txIds = Array.from({ length: RSS_ENVELOPES_PER_BLOCK }, (_, i) => createHash('sha256').update(`${b}/${i}`).digest('hex'));
      const block = chain.next(txIds.map((txId, i) => makeEnvelope(txId, payloads[i % payloads.length]!)));
      ledgerBytes += block.length;
      const t = process.hrtime.bigint();
      for (const txId of txIds) if (store.getByTxId(txId) !== undefined) found++;
      await store.append(block);
      busyNs += process.hrtime.bigint() - t;
    }
    if (found !== 0) throw new Error(`${found} fresh tx ids were reported as already stored`);
    const result: RssResult = {
      blocks: RSS_BLOCKS,
      envelopes_per_block: RSS_ENVELOPES_PER_BLOCK,
      ledger_mb: round(ledgerBytes / MiB),
      blocks_s: round(RSS_BLOCKS / (Number(busyNs) / 1e9)),
      rss_file_mb_after_open: kbToMb(fileAfterOpen),
      rss_file_mb_after_appends: kbToMb(procStatusKb('RssFile')),
      rss_file_growth_mb: null,
      rss_anon_mb_after_appends: kbToMb(procStatusKb('RssAnon')),
    };
    if (result.rss_file_mb_after_open !== null && result.rss_file_mb_after_appends !== null) {
      result.rss_file_growth_mb = round(result.rss_file_mb_after_appends - result.rss_file_mb_after_open);
    }
    await store.close();
    return result;
  } finally {
    removeTempDir(dir, 'ledger-bench-rss-');
  }
}

const rssSummary = (r: RssResult): string =>
  `ledger_rss_file_growth_mb=${r.rss_file_growth_mb} ledger_mb=${r.ledger_mb} rss_file_mb=${r.rss_file_mb_after_appends} rss_scenario_blocks_s=${r.blocks_s}`;

/** The memory scenario in a fresh process, so the other runs' mappings do not count in it. */
function rssInChild(): RssResult {
  const child = spawnSync(process.execPath, [__filename, 'rss'], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`rss scenario failed: ${child.stderr}`);
  const jsonEnd = child.stdout.lastIndexOf('}');
  return JSON.parse(child.stdout.slice(0, jsonEnd + 1)) as RssResult;
}

async function main(): Promise<void> {
  const dir = makeTempDir('ledger-bench-');
  const loadBefore = loadavg()[0] ?? 0;
  try {
    const sha = sha256Rates();
    const rawWriteBefore = rawSequentialWrite(dir);
    const fsyncPerS = rawFsyncRate(dir);

    const large = buildBlocks(LARGE_BLOCKS, LARGE_BLOCK_BYTES - 200, 3);
    const large1 = await appendAndRead(dir, 'large', large.blocks, large.totalBytes, 1, 1);
    const rawWriteAfter = rawSequentialWrite(dir);
    const largePipelined = await appendAndRead(dir, 'largepipe', large.blocks, large.totalBytes, 1, PIPELINE_WINDOW);
    const rawSyncEach = rawSequentialWrite(dir, true);
    const largeWriteMap = await appendAndRead(dir, 'largewritemap', large.blocks, large.totalBytes, 1, 1, true);
    const largeWriteMapBatch = await appendAndRead(dir, 'largewritemapbatch', large.blocks, large.totalBytes, 20, 1, true);
    const largeBatch = await appendAndRead(dir, 'largebatch', large.blocks, large.totalBytes, 20, 1);
    large.blocks.length = 0; // let the 200 MB go before building the small blocks

    const small = buildBlocks(SMALL_BLOCKS, SMALL_BLOCK_BYTES - 200, 4);
    const small1 = await appendAndRead(dir, 'small', small.blocks, small.totalBytes, 1, 1);
    const smallPipelined = await appendAndRead(dir, 'smallpipe', small.blocks, small.totalBytes, 1, PIPELINE_WINDOW);
    const smallBatch = await appendAndRead(dir, 'smallbatch', small.blocks, small.totalBytes, SMALL_BATCH, 1);
    small.blocks.length = 0;
    const rss = rssInChild();

    // The ratio is taken against the better of the two raw runs around the 1 MB appends.
    const rawWriteMbS = Math.max(rawWriteBefore, rawWriteAfter);
    const ratio = large1.append.mb_s / rawWriteMbS;
    const result = {
      machine: { cpus: cpus().length, loadavg_1m_before: round(loadBefore, 2), loadavg_1m_after: round(loadavg()[0] ?? 0, 2) },
      raw: {
        seq_write_mb_s_before: round(rawWriteBefore),
        seq_write_mb_s_after: round(rawWriteAfter),
        seq_write_fdatasync_each_mb_mb_s: round(rawSyncEach),
        fsync_per_s: round(fsyncPerS),
      },
      sha256: sha,
      ledger: {
        block_1mb: {
          blocks: LARGE_BLOCKS,
          append_durable_one_at_a_time: large1.append,
          append_durable_pipelined: { ...largePipelined.append, window: PIPELINE_WINDOW, write_transactions: largePipelined.writeTransactions },
          append_durable_batch20: { ...largeBatch.append, write_transactions: largeBatch.writeTransactions },
          read: large1.read,
          write_map: {
            append_durable_one_at_a_time: largeWriteMap.append,
            append_durable_batch20: largeWriteMapBatch.append,
            read: largeWriteMap.read,
          },
        },
        block_10kb: {
          blocks: SMALL_BLOCKS,
          append_durable_one_at_a_time: small1.append,
          append_durable_pipelined: { ...smallPipelined.append, window: PIPELINE_WINDOW, write_transactions: smallPipelined.writeTransactions },
          append_durable_batch100: { ...smallBatch.append, write_transactions: smallBatch.writeTransactions },
          read: small1.read,
        },
        memory_500x1kb_with_lookups: rss,
      },
      ratio_append_1mb_to_raw_write: round(ratio, 2),
      ratio_append_1mb_pipelined_to_raw_write: round(largePipelined.append.mb_s / rawWriteMbS, 2),
      targets: { append_1mb_at_least_half_raw_write: ratio >= 0.5, read_faster_than_write: large1.read.mb_s > large1.append.mb_s },
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `ledger_append_1mb_mb_s=${large1.append.mb_s} raw_write_mb_s=${round(rawWriteMbS)} ratio=${round(ratio, 2)} ` +
        `read_1mb_mb_s=${large1.read.mb_s} append_10kb_blocks_s=${small1.append.blocks_s} fsync_per_s=${round(fsyncPerS)} ` +
        `append_1mb_pipelined_mb_s=${largePipelined.append.mb_s} ratio_pipelined=${round(largePipelined.append.mb_s / rawWriteMbS, 2)} ` +
        `raw_write_fdatasync_each_mb_mb_s=${round(rawSyncEach)} append_10kb_batch100_blocks_s=${smallBatch.append.blocks_s} ` +
        rssSummary(rss),
    );
  } finally {
    removeTempDir(dir, 'ledger-bench-');
  }
}

const run = process.argv[2] === 'rss' ? rssScenario().then((r) => console.log(`${JSON.stringify(r, null, 2)}\n${rssSummary(r)}`)) : main();
run.catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
