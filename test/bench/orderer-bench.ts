// `npm run bench`: end-to-end throughput and latency of the ordering service.
//
// 1. Baseline: the same load generator (cmd/client-load.ts) against an ack-only Broadcast sink
//    in its own process, same envelopes, streams and window: what the client, gRPC and
//    loopback allow on this machine.
// 2. A fresh three-node network on free 127.0.0.1 ports (temp dir; Fabric's channel defaults
//    but BatchTimeout 25ms, see DEFAULT_BATCH_TIMEOUT in orderer-bench-options.ts; flags change them), a short warm-up, then:
//    - throughput: `--count` 1 KB envelopes as fast as the orderers answer, on `--streams`
//      Broadcast streams spread round-robin over all nodes (so two thirds go through a
//      follower, which forwards them to the leader). End-to-end time runs from the first send
//      to the moment the last envelope is in a block delivered by every node;
//    - latency: `--latency-seconds` at half the measured end-to-end rate (or `--latency-rate`).
//    Latency is send → the block holding the envelope delivered by every node (the slowest of
//    the three), measured by one Deliver stream per node; p50/p99 of the first node are reported
//    too. Blocks cut and their average size (envelopes, bytes) come from the same streams.
// 3. Each node's peak RSS (VmHWM from /proc/<pid>/status), then every process is stopped.
//
// Steps 2's throughput and latency runs happen twice on the same network: first with unsigned
// envelopes (a placeholder creator and a dummy signature, admitted by the network's open
// Writers policy), then signed by the network's client identity (User1 of Org1MSP, from the
// crypto material writeDevnet generated), which the orderers verify (ECDSA, MSP
// deserialization, policy evaluation). The signed run is the headline, measured second: it then
// carries whatever a network that already ordered a full load costs (a bigger ledger, an older
// heap), so the order can only flatter the unsigned figure, not the signed one. Every load is
// built, and signed, before its timed window (cmd/client-load.ts prepareLoad; progress on
// stderr): signing costs the client ~0.1 ms per envelope on the cores the orderers use, and that
// must not show up as orderer cost. Latency is measured from the moment each envelope is written
// (recorded by the load generator) to its block's arrival.
//
// `--target host:port[,host:port...]` sends the load to running orderers instead (no network is
// started; RSS is not available); they sign with `--mspid` and `--cert/--key` or `--msp-dir`
// (without an identity only the unsigned run is made) and dial TLS with `--tls-ca`. `--cpu-prof`
// runs the nodes under `node --cpu-prof` and summarizes the profiles. Progress goes to stderr;
// stdout gets one JSON object, then `unsigned orderer_tx_per_s=N baseline_tx_per_s=N ratio=R
// p99_ms=N` for the unsigned run and, as its last line, `orderer_tx_per_s=N baseline_tx_per_s=N
// ratio=R p99_ms=N` for the signed one (the headline: the run made last; with --unsigned-only
// that is the unsigned one). Progress lines of the earlier run start with "unsigned ", so tools
// that read the phase lines (fabric-anchor's sbs_monitor.py) see the headline run's.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoadProgress, prepareLoad, runBroadcastLoad, type LoadReport, type LoadSigning, type PreparedLoad } from '../../cmd/client-load';
import { loadClientCredentials, type ClientFiles } from '../../orderer/client-credentials';
import { parseGoDurationMs } from '../../orderer/channelconfig/duration';
import {
  BenchNetwork,
  chainHeight,
  sleep,
  startSink,
  waitUntilServing,
  type BenchClient,
  type BenchProcess,
} from './orderer-bench-cluster';
import { readProcessMemory } from '../support/proc-memory';
import { makeTempDir, removeTempDir } from '../support/temp-dir';
import { cpuMeter, formatCpuLine, ownCpu, type CpuSource, type CpuUsage } from './proc-cpu';
import { formatGcLine, gcOfWindow, readTraces, roundedGc, type GcTotals, type TracedNode } from './gc-trace';
import { runMembershipBench } from './orderer-bench-membership';
import type { ObservationReport } from './orderer-bench-observer';
import { ObserverThread } from './orderer-bench-observer-thread';
import { runPacedLoad, type PacedLoadProgress, type PacedLoadReport } from './orderer-bench-paced';
import { formatSummary, summarizeProfile, type ProfileSummary } from './orderer-bench-profile';
import { parseOptions, USAGE, type Options } from './orderer-bench-options';

const MB = 1024 * 1024;
/** Longest wait for the block observer's thread to start and its Deliver streams to be live. */
const OBSERVER_READY_TIMEOUT_MS = 30_000;
/** Longest wait for the nodes to deliver what was acknowledged, after the load ended. */
const DELIVERY_TIMEOUT_MS = 120_000;
/** Upper bound on one load run; past it the run is aborted. */
const RUN_TIMEOUT_MS = 300_000;
const WARMUP_ENVELOPES = 3_000;
/** Targets from the issue, for the 2-core development machine. */
const TARGET_TX_PER_S = 6_000;
const TARGET_P99_MS = 100;
const TARGET_RSS_BYTES = 300 * MB;

const log = (line: string): void => void process.stderr.write(`${line}\n`);

/** Prints a progress line on stderr every second until stopped. */
function progressTicker(describe: () => string): () => void {
  const timer = setInterval(() => log(describe()), 1000);
  return () => clearInterval(timer);
}

/** Processes to stop if anything goes wrong (errors, Ctrl-C). */
const owned: { network?: BenchNetwork; sink?: BenchProcess } = {};
const interrupt = new AbortController();

async function stopEverything(): Promise<void> {
  await Promise.all([owned.network?.stop(), owned.sink?.stop()]);
  owned.network = undefined;
  owned.sink = undefined;
}

/** The bench process: load generator and (on its worker thread) the block observer. */
const selfCpu: CpuSource = { name: 'loadGenerator', cpu: ownCpu };

/**
 * The cpu section as the JSON has always had it (wallMs, one key per process, total: tools such
 * as the side-by-side read it that way); the machine's figures go beside it, as machineCpu.
 */
function cpuSection(u: CpuUsage): Record<string, unknown> {
  return { wallMs: u.wallMs, ...u.sources, total: u.total };
}

/** The run's CPU line: the orderer nodes added up, then this process, then the rest of the machine. */
function cpuLine(u: CpuUsage): string {
  const nodes = Object.keys(u.sources).filter((n) => n !== selfCpu.name);
  return formatCpuLine(u, [
    { label: 'orderers', sources: nodes },
    { label: 'this bench', sources: [selfCpu.name] },
  ]);
}

function loadSummary(report: LoadReport): Record<string, unknown> {
  return {
    sent: report.sent,
    elapsedMs: report.elapsedMs,
    successPerSecond: Math.round(report.successPerSecond),
    statusCounts: report.statusCounts,
    ...(report.errors.length > 0 ? { errors: report.errors } : {}),
  };
}

/** How the benchmark's connections are made: TLS and, where an identity is given, signed seek requests. */
interface Connection {
  readonly client: BenchClient;
  /** The same as files, for the observer thread (which loads them again). */
  readonly files: ClientFiles;
}

/** One of the runs: how its load is signed, and how its progress lines are marked. */
interface RunMode {
  readonly name: 'unsigned' | 'signed';
  readonly signing: LoadSigning;
  /** '' for the headline run (the last), 'unsigned ' before the other one's progress lines. */
  readonly prefix: string;
}

/**
 * Builds (and signs) a run's envelopes before its timed window. Progress goes to stderr; the
 * lines start with "preparing", so nothing reading the phase lines mistakes them for a phase.
 */
async function prepare(what: string, o: Options, count: number, signing: LoadSigning): Promise<PreparedLoad> {
  const verb = signing.signer === undefined ? 'building' : 'signing';
  let lastLogMs = 0;
  const load = await prepareLoad({
    channelId: o.channelId,
    count,
    sizeBytes: o.sizeBytes,
    ...signing,
    signal: interrupt.signal,
    onProgress: (done, total) => {
      if (done < total && Date.now() - lastLogMs < 1000) return;
      lastLogMs = Date.now();
      log(`preparing ${what}: ${verb} ${done}/${total} envelopes`);
    },
  });
  log(`preparing ${what}: ${count} envelopes ${signing.signer === undefined ? 'built' : 'built and signed'} in ${(load.prepareMs / 1000).toFixed(1)} s, before the timed window`);
  return load;
}

async function runBaseline(o: Options, workDir: string, signing: LoadSigning): Promise<{ txPerSecond: number; report: LoadReport; cpu: CpuUsage }> {
  log(`baseline: ack-only sink, ${o.baselineCount} envelopes of ${o.sizeBytes} B on ${o.streams} streams`);
  const sink = await startSink(workDir);
  owned.sink = sink;
  try {
    // A short warm-up, so both sides are compiled before the measured run (as for the orderers).
    await runBroadcastLoad({ orderers: [sink.address], channelId: o.channelId, count: WARMUP_ENVELOPES, sizeBytes: o.sizeBytes, streams: o.streams, windowPerStream: o.windowPerStream, connectTimeoutMs: 10_000, signal: interrupt.signal, signing });
    // The same envelopes as the headline run, prepared the same way: the sink measures sending them.
    const prepared = await prepare('baseline', o, o.baselineCount, signing);
    const progress = new LoadProgress();
    const stopTicker = progressTicker(() => `baseline: ${progress.answered}/${o.baselineCount} answered`);
    const cpu = cpuMeter([sink, selfCpu]);
    let report: LoadReport;
    try {
      report = await runBroadcastLoad(
        { orderers: [sink.address], channelId: o.channelId, count: o.baselineCount, sizeBytes: o.sizeBytes, streams: o.streams, windowPerStream: o.windowPerStream, signal: interrupt.signal, prepared },
        progress,
      );
    } finally {
      stopTicker();
    }
    if (!report.allSucceeded) throw new Error(`baseline: not every envelope was acknowledged: ${JSON.stringify(report.statusCounts)}`);
    const cpuUsage = cpu(report.count);
    log(`baseline: ${Math.round(report.successPerSecond)} envelopes/s`);
    return { txPerSecond: report.successPerSecond, report, cpu: cpuUsage };
  } finally {
    await sink.stop();
    owned.sink = undefined;
  }
}

interface RunResult {
  load: Record<string, unknown>;
  observed: ObservationReport;
  cpu: CpuUsage;
  /** The timed window, for --gc-stats. */
  window: RunWindow;
}

interface RunWindow {
  readonly name: string;
  readonly fromWallMs: number;
  readonly toWallMs: number;
  readonly envelopes: number;
}

/**
 * --gc-stats: the timed windows, each with the JSON section that gets its `gc`. The logs are read
 * once the nodes have stopped, before their data dir goes: every window is then complete, and each
 * log is read and parsed once.
 */
interface GcWindows {
  readonly nodes: readonly TracedNode[];
  readonly windows: { window: RunWindow; section: Record<string, unknown> }[];
}

function reportGc(gc: GcWindows): void {
  const traces = readTraces(gc.nodes);
  for (const [name, t] of traces) {
    if (t.unparsedLines > 0) log(`GC: ${name} has ${t.unparsedLines} --trace-gc lines in a format this bench does not read: its figures are short by them`);
    if (!t.exactOrigin) log(`GC: ${name} did not print when its V8 clock started: its windows are placed from its spawn (about 0.1 s late)`);
  }
  for (const { window, section } of gc.windows) {
    const perNode = gcOfWindow(traces, window.fromWallMs, window.toWallMs);
    log(`${window.name}: ${formatGcLine(perNode, window.envelopes)}`);
    section['gc'] = Object.fromEntries([...perNode].map(([node, totals]) => [node, roundedGc(totals)])) satisfies Record<string, GcTotals>;
  }
}

function writeTrace(o: Options, run: string, timelineCsv: string): void {
  if (o.traceDir === undefined) return;
  mkdirSync(o.traceDir, { recursive: true });
  const file = path.join(o.traceDir, `${run.replace(' ', '-')}-blocks.csv`);
  writeFileSync(file, timelineCsv);
  log(`${run}: block timeline in ${file}`);
}

async function startObserver(addresses: readonly string[], channelId: string, load: PreparedLoad, connection: Connection): Promise<ObserverThread> {
  const heights = await Promise.all(addresses.map((a) => chainHeight(a, channelId, connection.client)));
  const observer = new ObserverThread(addresses, channelId, heights, load.txIds, connection.files);
  try {
    await observer.ready(OBSERVER_READY_TIMEOUT_MS);
  } catch (err) {
    await observer.stop();
    throw err;
  }
  return observer;
}

/** The run's work dir (profiles, traces): a temp dir this prefix names, removed at the end unless kept. */
const WORK_DIR_PREFIX = 'orderer-bench-work-';

/** The orderer processes the benchmark started (for RSS in the progress lines). */
let runningNodes: readonly BenchProcess[] = [];

function deliveredText(observer: ObserverThread): string {
  const rss = runningNodes.map((n) => mb(n.memory()?.rssBytes ?? 0)).join('/');
  return `${observer.envelopesPerNode.join('/')}${rss.length > 0 ? `, RSS MB ${rss}` : ''}`;
}

interface Phase {
  readonly o: Options;
  readonly addresses: readonly string[];
  readonly cpuSources: readonly CpuSource[];
  /** --gc-stats: where each run's window and JSON section go, for reportGc. */
  readonly gc?: GcWindows;
  readonly check: () => void;
  readonly connection: Connection;
  readonly mode: RunMode;
}

async function throughputRun(p: Phase): Promise<RunResult> {
  const { o, addresses, mode, connection } = p;
  const name = `${mode.prefix}throughput`;
  const prepared = await prepare(name, o, o.count, mode.signing);
  log(`${name}: ${o.count} envelopes of ${o.sizeBytes} B on ${o.streams} streams over ${addresses.join(', ')}, ${mode.name}`);
  const observer = await startObserver(addresses, o.channelId, prepared, connection);
  const progress = new LoadProgress();
  const stopTicker = progressTicker(() => `${name}: ${progress.answered}/${o.count} answered, delivered per node ${deliveredText(observer)}`);
  const runTimeout = AbortSignal.timeout(RUN_TIMEOUT_MS);
  const windowStartMs = Date.now();
  const cpu = cpuMeter(p.cpuSources);
  try {
    const report = await runBroadcastLoad(
      {
        orderers: addresses,
        channelId: o.channelId,
        count: o.count,
        sizeBytes: o.sizeBytes,
        streams: o.streams,
        windowPerStream: o.windowPerStream,
        signal: AbortSignal.any([interrupt.signal, runTimeout]),
        prepared,
        tls: connection.client.tls,
        channelOptions: connection.client.channelOptions,
      },
      progress,
    );
    if (!report.allSucceeded) throw new Error(`${name}: not every envelope was accepted: ${JSON.stringify(report.statusCounts)} ${report.errors.join('; ')}`);
    await observer.waitForAll(report.count, DELIVERY_TIMEOUT_MS, p.check);
    const cpuUsage = cpu(report.count);
    const windowEndMs = Date.now();
    const { report: observed, timelineCsv } = await observer.finish(prepared.sentAtMs);
    writeTrace(o, name, timelineCsv);
    log(`${name}: ${observed.envelopesPerSecond} envelopes/s end to end, p99 ${observed.latencyAllNodes.p99Ms} ms, ${observed.blocks} blocks of ${observed.averageBlockEnvelopes} envelopes`);
    log(`${name}: ${cpuLine(cpuUsage)}`);
    return { load: loadSummary(report), observed, cpu: cpuUsage, window: { name, fromWallMs: windowStartMs, toWallMs: windowEndMs, envelopes: report.count } };
  } finally {
    stopTicker();
    await observer.stop();
  }
}

async function latencyRun(p: Phase, ratePerSecond: number): Promise<RunResult & { pacing: PacedLoadReport }> {
  const { o, addresses, mode, connection } = p;
  const name = `${mode.prefix}latency`;
  const durationMs = o.latencySeconds * 1000;
  // A whole number of blocks when we know the block size: a last partial block would wait for
  // BatchTimeout and measure the timeout, not the pipeline.
  const blockEnvelopes = o.targets === undefined ? o.maxMessageCount : 1;
  const count = Math.max(blockEnvelopes, Math.round((ratePerSecond * durationMs) / 1000 / blockEnvelopes) * blockEnvelopes);
  const prepared = await prepare(name, o, count, mode.signing);
  log(`${name}: ${count} envelopes at ${ratePerSecond} envelopes/s (${o.latencySeconds} s) on ${o.streams} streams, ${mode.name}`);
  const observer = await startObserver(addresses, o.channelId, prepared, connection);
  const progress: PacedLoadProgress = { sent: 0, answered: 0, succeeded: 0 };
  const stopTicker = progressTicker(() => `${name}: ${progress.sent} sent, ${progress.answered} answered, delivered per node ${deliveredText(observer)}`);
  const windowStartMs = Date.now();
  const cpu = cpuMeter(p.cpuSources);
  try {
    const pacing = await runPacedLoad(
      {
        orderers: addresses,
        streams: o.streams,
        ratePerSecond,
        prepared,
        windowPerStream: o.windowPerStream,
        tls: connection.client.tls,
        channelOptions: connection.client.channelOptions,
        signal: AbortSignal.any([interrupt.signal, AbortSignal.timeout(durationMs + RUN_TIMEOUT_MS)]),
      },
      progress,
    );
    if (pacing.failed > 0) throw new Error(`${name}: ${pacing.failed} envelopes were not accepted: ${pacing.errors.join('; ')}`);
    await observer.waitForAll(pacing.succeeded, DELIVERY_TIMEOUT_MS, p.check);
    const cpuUsage = cpu(pacing.succeeded);
    const windowEndMs = Date.now();
    const { report: observed, timelineCsv } = await observer.finish(prepared.sentAtMs);
    writeTrace(o, name, timelineCsv);
    log(`${name}: p50 ${observed.latencyAllNodes.p50Ms} ms, p99 ${observed.latencyAllNodes.p99Ms} ms at ${pacing.sentPerSecond} envelopes/s sent`);
    const window = { name, fromWallMs: windowStartMs, toWallMs: windowEndMs, envelopes: pacing.succeeded };
    return { load: { sent: pacing.sent, sentPerSecond: pacing.sentPerSecond, elapsedMs: pacing.elapsedMs }, observed, cpu: cpuUsage, pacing, window };
  } finally {
    stopTicker();
    await observer.stop();
  }
}

function mb(bytes: number): number {
  return Math.round((bytes / MB) * 10) / 10;
}

/** What one mode's runs measured, for the JSON section and the summary line. */
interface ModeResult {
  readonly section: Record<string, unknown>;
  readonly ordererTxPerSecond: number;
  readonly p99Ms: number;
}

function summaryLine(r: ModeResult, baselineTxPerSecond: number): string {
  const ratio = baselineTxPerSecond > 0 ? r.ordererTxPerSecond / baselineTxPerSecond : 0;
  return `orderer_tx_per_s=${Math.round(r.ordererTxPerSecond)} baseline_tx_per_s=${Math.round(baselineTxPerSecond)} ratio=${ratio.toFixed(2)} p99_ms=${Math.round(r.p99Ms)}`;
}

async function runMode(p: Phase, settleMs: number): Promise<ModeResult> {
  await sleep(settleMs);
  const throughput = await throughputRun(p);
  const throughputSection: Record<string, unknown> = { load: throughput.load, ...throughput.observed, cpu: cpuSection(throughput.cpu), machineCpu: throughput.cpu.machine };
  p.gc?.windows.push({ window: throughput.window, section: throughputSection });
  const section: Record<string, unknown> = { throughput: throughputSection };
  let p99Ms = throughput.observed.latencyAllNodes.p99Ms;
  if (p.o.latencySeconds > 0) {
    const rate = p.o.latencyRate ?? Math.max(1, Math.round(throughput.observed.envelopesPerSecond / 2));
    await sleep(settleMs);
    const latency = await latencyRun(p, rate);
    const latencySection: Record<string, unknown> = { targetRatePerSecond: rate, load: latency.load, ...latency.observed, cpu: cpuSection(latency.cpu), machineCpu: latency.cpu.machine };
    p.gc?.windows.push({ window: latency.window, section: latencySection });
    section['latency'] = latencySection;
    p99Ms = latency.observed.latencyAllNodes.p99Ms;
  }
  return { section, ordererTxPerSecond: throughput.observed.envelopesPerSecond, p99Ms };
}

/**
 * Who signs: the bench's own network has its generated client identity (and serves plaintext);
 * a --target gets what the flags name. Returns the connection and the identity's description.
 */
function resolveConnection(o: Options, network: BenchNetwork | undefined): Connection {
  // The devnet's client port is plaintext; once it serves TLS, tlsCaPath: network.crypto.ordererTlsCaPath goes here.
  const files: ClientFiles =
    network === undefined ? o.client : { mspId: network.crypto.clientMspId, certPath: network.crypto.clientCertPath, keyPath: network.crypto.clientKeyPath };
  const credentials = loadClientCredentials(files);
  log(`client: ${credentials.description}`);
  return { client: credentials, files };
}

function runModes(o: Options, connection: Connection): RunMode[] {
  const signer = connection.client.signer;
  const tlsCertHash = connection.client.tlsCertHash;
  const unsigned = { name: 'unsigned', signing: { tlsCertHash } } as const;
  if (o.signedOnly && signer === undefined) throw new Error('--signed-only needs an identity: --mspid with --cert/--key or --msp-dir');
  if (!o.signedOnly && !o.unsignedOnly && signer === undefined) log('no client identity (--mspid, --cert/--key or --msp-dir): only the unsigned run');
  const names: RunMode['name'][] = o.unsignedOnly || signer === undefined ? ['unsigned'] : o.signedOnly ? ['signed'] : ['unsigned', 'signed'];
  return names.map((name, i) => ({
    ...(name === 'signed' ? { name, signing: { signer, tlsCertHash } } : unsigned),
    prefix: i === names.length - 1 ? '' : `${name} `,
  }));
}

async function main(): Promise<number> {
  let o: Options | undefined;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    log(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (o === undefined) {
    console.log(USAGE);
    return 0;
  }
  if (o.membership) {
    return runMembershipBench({
      channelId: o.channelId,
      sizeBytes: o.sizeBytes,
      streams: o.streams,
      windowPerStream: o.windowPerStream,
      steadySeconds: o.membershipSteadySeconds,
      afterSeconds: o.membershipAfterSeconds,
      removeLeader: o.membershipRemoveLeader,
      devnet: {
        batchTimeout: o.batchTimeout,
        maxMessageCount: o.maxMessageCount,
        preferredMaxBytes: o.preferredMaxBytes,
        maxInflightBlocks: o.maxInflightBlocks,
        snapshotIntervalSizeBytes: o.snapshotIntervalBytes,
        logLevel: o.logLevel,
        metricsProvider: o.metrics ? 'prometheus' : 'disabled',
      },
      nodeFlags: o.nodeFlags,
      keepData: o.keepData,
      signal: interrupt.signal,
      own: (network) => {
        owned.network = network;
        runningNodes = network.nodes;
      },
      log,
    });
  }
  const workDir = makeTempDir(WORK_DIR_PREFIX);
  const profileDir = path.join(workDir, 'profiles');
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const settings: Record<string, unknown> = {
    envelopes: o.count,
    envelopeDataBytes: o.sizeBytes,
    streams: o.streams,
    windowPerStream: o.windowPerStream,
    ...(o.targets === undefined
      ? {
          nodes: 3,
          batchTimeout: o.batchTimeout,
          maxMessageCount: o.maxMessageCount,
          preferredMaxBytes: o.preferredMaxBytes,
          maxInflightBlocks: o.maxInflightBlocks,
          snapshotIntervalBytes: o.snapshotIntervalBytes,
          logLevel: o.logLevel,
          metrics: o.metrics ? 'on' : 'off',
          ...(o.nodeFlags.length > 0 ? { nodeFlags: o.nodeFlags } : {}),
        }
      : { targets: o.targets }),
  };
  const result: Record<string, unknown> = {
    startedAt,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', node: process.version, loadAverageBefore: loadBefore },
    settings,
  };

  let addresses: string[];
  let check: () => void = () => undefined;
  let network: BenchNetwork | undefined;
  if (o.targets === undefined) {
    if (o.cpuProf) mkdirSync(profileDir, { recursive: true });
    // Created (crypto material and genesis written) before the baseline, which signs with its identity.
    network = await BenchNetwork.create({
      channelId: o.channelId,
      devnet: {
        batchTimeout: o.batchTimeout,
        maxMessageCount: o.maxMessageCount,
        preferredMaxBytes: o.preferredMaxBytes,
        maxInflightBlocks: o.maxInflightBlocks,
        snapshotIntervalSizeBytes: o.snapshotIntervalBytes,
        logLevel: o.logLevel,
        metricsProvider: o.metrics ? 'prometheus' : 'disabled',
      },
      nodeFlags: [...o.nodeFlags, ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
      keepData: o.keepData,
    });
    owned.network = network;
  }
  const connection = resolveConnection(o, network);
  const modes = runModes(o, connection);
  const headline = modes[modes.length - 1] as RunMode;
  settings['signing'] = {
    runs: modes.map((m) => m.name),
    headline: headline.name,
    client: connection.client.signer === undefined ? null : { mspId: connection.client.signer.mspId, files: connection.files },
    tls: connection.client.tls !== undefined,
    note: 'signed: envelopes signed by the client identity, verified by the orderers; unsigned: placeholder creator and dummy signature, admitted by an open Writers policy; every load built and signed before its timed window',
  };

  let baselineTxPerSecond = 0;
  if (o.baseline) {
    const baseline = await runBaseline(o, workDir, headline.signing);
    baselineTxPerSecond = baseline.txPerSecond;
    result['baseline'] = { ...loadSummary(baseline.report), cpu: cpuSection(baseline.cpu), signed: headline.name === 'signed', note: 'same client and envelopes as the headline run against an ack-only Broadcast sink in its own process' };
  }

  if (network === undefined) {
    addresses = o.targets ?? [];
    log(`target: ${addresses.join(', ')}`);
  } else {
    network.start();
    runningNodes = network.nodes;
    addresses = network.addresses;
    const started = network;
    check = () => started.checkAlive();
    log(`network: ${network.nodes.map((n) => `${n.name} ${n.address} pid ${n.pid}`).join(', ')}; data in ${network.dataDir}`);
  }
  await waitUntilServing(addresses, o.channelId, 60_000, check, connection.client);
  // Warm-up (JIT, connections, first LMDB pages; for signed envelopes the verification path), not measured.
  log(`warm-up: ${WARMUP_ENVELOPES} envelopes (${modes.map((m) => m.name).join(', ')})`);
  for (const mode of modes) {
    const warm = await runBroadcastLoad({
      orderers: addresses,
      channelId: o.channelId,
      count: WARMUP_ENVELOPES,
      sizeBytes: o.sizeBytes,
      streams: o.streams,
      windowPerStream: o.windowPerStream,
      signal: interrupt.signal,
      signing: mode.signing,
      tls: connection.client.tls,
      channelOptions: connection.client.channelOptions,
    });
    if (!warm.allSucceeded) throw new Error(`warm-up (${mode.name}): not every envelope was accepted: ${JSON.stringify(warm.statusCounts)} ${warm.errors.join('; ')}`);
  }
  // Let the warm-up's last block be cut (BatchTimeout) before measuring, so runs start on an empty cutter.
  const settleMs = (o.targets === undefined ? parseGoDurationMs(o.batchTimeout) : 2000) + 500;

  const cpuSources: CpuSource[] = [...(network?.nodes ?? []), selfCpu];
  const results = new Map<RunMode['name'], ModeResult>();
  const gc: GcWindows | undefined = o.gcStats && network !== undefined ? { nodes: network.nodes, windows: [] } : undefined;
  for (const mode of modes) {
    const measured = await runMode({ o, addresses, cpuSources, ...(gc !== undefined ? { gc } : {}), check, connection, mode }, settleMs);
    results.set(mode.name, measured);
    result[mode.name] = { ...measured.section, ordererTxPerSecond: measured.ordererTxPerSecond, p99Ms: measured.p99Ms, summary: summaryLine(measured, baselineTxPerSecond) };
  }
  // The headline run's sections stay where they always were (tools read result.throughput, result.latency).
  const headlineResult = results.get(headline.name) as ModeResult;
  Object.assign(result, headlineResult.section);
  const p99Ms = headlineResult.p99Ms;

  if (network !== undefined) {
    const rss: Record<string, unknown> = {};
    for (const n of network.nodes) {
      const memory = n.memory();
      rss[n.name] =
        memory === undefined
          ? null
          : { peakRssMB: mb(memory.peakRssBytes), rssMB: mb(memory.rssBytes), rssAnonMB: mb(memory.rssAnonBytes), rssFileMB: mb(memory.rssFileBytes) };
    }
    result['leader'] = network.leaderName(o.channelId);
    result['rss'] = rss;
    const holdMs = Number(process.env['ORDERER_BENCH_HOLD_MS'] ?? 0);
    if (holdMs > 0) {
      log(`holding the network for ${holdMs} ms (ORDERER_BENCH_HOLD_MS) before reading RSS and stopping`);
      await sleep(holdMs);
    }
    const own = readProcessMemory(process.pid);
    if (own !== undefined) result['loadGeneratorPeakRssMB'] = mb(own.peakRssBytes);
    log(`peak RSS: ${network.nodes.map((n) => `${n.name} ${mb(n.memory()?.peakRssBytes ?? 0)} MB`).join(', ')}`);
    await network.stop(gc !== undefined ? () => reportGc(gc) : undefined);
    owned.network = undefined;
    if (o.cpuProf) {
      const summaries: ProfileSummary[] = [];
      for (const file of BenchNetwork.profiles(profileDir)) {
        const summary = summarizeProfile(file, 15);
        summaries.push(summary);
        log(formatSummary(summary));
      }
      result['profiles'] = summaries;
    }
  }
  result['loadAverageAfter'] = os.loadavg().map((l) => Math.round(l * 100) / 100);

  const ordererTxPerSecond = headlineResult.ordererTxPerSecond;
  const peakRssValues = network === undefined ? [] : Object.values(result['rss'] as Record<string, { peakRssMB: number } | null>).map((r) => r?.peakRssMB ?? 0);
  result['targets'] = {
    txPerSecond: { target: TARGET_TX_PER_S, measured: ordererTxPerSecond, met: ordererTxPerSecond >= TARGET_TX_PER_S },
    p99MsAtHalfRate: { target: TARGET_P99_MS, measured: p99Ms, met: p99Ms < TARGET_P99_MS },
    ...(peakRssValues.length > 0
      ? { peakRssMBPerNode: { target: mb(TARGET_RSS_BYTES), measured: Math.max(...peakRssValues), met: Math.max(...peakRssValues) < mb(TARGET_RSS_BYTES) } }
      : {}),
  };
  console.log(JSON.stringify(result, null, 2));
  // One line per earlier run, marked with its mode; the headline run's line last, unmarked.
  for (const mode of modes) {
    if (mode !== headline) console.log(`${mode.name} ${summaryLine(results.get(mode.name) as ModeResult, baselineTxPerSecond)}`);
  }
  console.log(summaryLine(headlineResult, baselineTxPerSecond));
  if (o.keepData || o.cpuProf) log(`work dir kept: ${workDir}${network !== undefined && o.keepData ? `, network data: ${network.dataDir}` : ''}`);
  else removeTempDir(workDir, WORK_DIR_PREFIX);
  return 0;
}

let interrupted = 0;
const onSignal = (signal: NodeJS.Signals): void => {
  interrupted++;
  if (interrupted > 1) {
    owned.network?.killNow();
    owned.sink?.killNow();
    process.exit(130);
  }
  log(`${signal}: stopping`);
  interrupt.abort();
  void stopEverything().finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// Whatever happens, no orderer outlives the benchmark.
process.on('exit', () => {
  owned.network?.killNow();
  owned.sink?.killNow();
});

main().then(
  async (code) => {
    await stopEverything();
    process.exit(code);
  },
  async (err: unknown) => {
    log(`orderer-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (owned.network !== undefined) {
      owned.network.keepOnStop();
      log(`node logs kept in ${owned.network.nodes.map((n) => n.logPath).join(', ')}`);
    }
    await stopEverything().catch(() => undefined);
    process.exit(1);
  },
);
