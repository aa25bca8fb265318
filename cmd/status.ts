// `orderer status`: each channel of a running network at a glance, refreshed live. It reads the
// nodes' operations endpoints (GET /metrics, Fabric's metric names plus ours), keeps a minute
// of scrapes and shows per channel and node the role, term, commit index, height, the age of the
// last block, throughput and Broadcast's p99 over the last minute, queues and memory.
// `--json` prints one view for scripts; `--once` one table. The figures are computed in
// orderer/status/view.ts.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadOrdererConfig } from '../orderer/config';
import { devnetLayout } from '../orderer/devnet';
import { scrapeMetrics, type ScrapeTarget, type ScrapeTls } from '../orderer/status/scrape';
import { buildStatusView, STATUS_WINDOW_MS, trimHistory, type Scrape, type StatusView } from '../orderer/status/view';
import { toDurationMs } from '../orderer/config';

export const STATUS_USAGE = `usage: orderer status [flags]

Shows each channel of a running network: per node its Raft role, term, commit index, height,
the age of its last block, envelopes/s, blocks/s and Broadcast's p99 over the last minute,
its queues and memory. Reads the nodes' operations endpoints (GET /metrics; the nodes need
Metrics.Provider: prometheus).

Flags:
  --devnet DIR            the nodes of the local network of npm start (default data/devnet
                          when no -o is given): their orderer.yaml, TLS CA and admin pair
  -o, --operations ADDR   a node's operations endpoint host:port (repeat, or comma-separated)
  --ca-file FILE          PEM TLS CA of the operations endpoints: https
  --client-cert FILE      PEM client certificate for https (the endpoints want one for /metrics)
  --client-key FILE       its private key
  --interval DURATION     time between refreshes (default 2s)
  --once                  print one table and exit (two scrapes --interval apart)
  --json                  print one view as JSON and exit (two scrapes --interval apart)

Exit status: 0, or 1 with --once/--json when a node could not be read, 2 on a usage error.`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface StatusArgs {
  targets: ScrapeTarget[];
  intervalMs: number;
  mode: 'live' | 'once' | 'json';
}

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`${flag} ${file}: ${(err as Error).message}`);
  }
}

/** The devnet's nodes: each orderer*\/orderer.yaml under `dir` that has Operations configured. */
function devnetTargets(dir: string): ScrapeTarget[] {
  if (!existsSync(dir)) throw new UsageError(`--devnet ${dir}: no such directory (start the network with npm start first)`);
  const crypto = devnetLayout({ dataDir: dir }).crypto;
  const targets: ScrapeTarget[] = [];
  const names = readdirSync(dir)
    .filter((n) => /^orderer\d+$/.test(n) && existsSync(path.join(dir, n, 'orderer.yaml')))
    .sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)));
  for (const name of names) {
    const file = path.join(dir, name, 'orderer.yaml');
    const { config } = loadOrdererConfig({ filePath: file });
    const ops = config.operations;
    const tls: ScrapeTls | undefined = ops.tls.enabled
      ? { caPem: readPem('CA', crypto.ordererTlsCaPath), certPem: readPem('client cert', crypto.ordererAdminTlsCertPath), keyPem: readPem('client key', crypto.ordererAdminTlsKeyPath) }
      : undefined;
    targets.push({ name, address: ops.listenAddress, tls });
  }
  if (targets.length === 0) throw new UsageError(`--devnet ${dir}: no orderer*/orderer.yaml found`);
  return targets;
}

export function parseStatusArgs(argv: readonly string[]): StatusArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        devnet: { type: 'string' },
        operations: { type: 'string', short: 'o', multiple: true },
        'ca-file': { type: 'string' },
        'client-cert': { type: 'string' },
        'client-key': { type: 'string' },
        interval: { type: 'string' },
        once: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  let intervalMs = 2_000;
  if (v.interval !== undefined) {
    try {
      intervalMs = toDurationMs(v.interval);
    } catch (err) {
      throw new UsageError(`--interval ${v.interval}: ${(err as Error).message}`);
    }
    if (intervalMs < 100) throw new UsageError(`--interval ${v.interval}: at least 100ms`);
  }
  if (v.once === true && v.json === true) throw new UsageError('--once and --json exclude each other');
  const mode = v.json === true ? 'json' : v.once === true ? 'once' : 'live';
  const addresses = (v.operations ?? []).flatMap((a) => a.split(',')).map((a) => a.trim()).filter((a) => a.length > 0);
  if (addresses.length > 0 && v.devnet !== undefined) throw new UsageError('--devnet and --operations exclude each other');
  if ((v['client-cert'] === undefined) !== (v['client-key'] === undefined)) throw new UsageError('--client-cert and --client-key go together');
  if (v['client-cert'] !== undefined && v['ca-file'] === undefined) throw new UsageError('--client-cert needs --ca-file (https)');
  let targets: ScrapeTarget[];
  if (addresses.length > 0) {
    for (const a of addresses) if (!/^[^\s:]+:\d{1,5}$/.test(a)) throw new UsageError(`--operations ${a}: expected host:port`);
    const tls: ScrapeTls | undefined =
      v['ca-file'] === undefined
        ? undefined
        : {
            caPem: readPem('--ca-file', v['ca-file']),
            certPem: v['client-cert'] === undefined ? undefined : readPem('--client-cert', v['client-cert']),
            keyPem: v['client-key'] === undefined ? undefined : readPem('--client-key', v['client-key']),
          };
    targets = addresses.map((address) => ({ name: address, address, tls }));
  } else {
    targets = devnetTargets(path.resolve(v.devnet ?? path.join('data', 'devnet')));
  }
  return { targets, intervalMs, mode };
}

const fmtInt = (n: number | null): string => (n === null ? '-' : Math.round(n).toLocaleString('en-US'));
const fmt1 = (n: number | null): string => (n === null ? '-' : n.toFixed(1));
const fmtMb = (n: number | null): string => (n === null ? '-' : (n / (1024 * 1024)).toFixed(0));
const fmtKb = (n: number | null): string => (n === null ? '-' : (n / 1024).toFixed(0));
function fmtAge(s: number | null): string {
  if (s === null) return '-';
  if (s < 60) return `${s.toFixed(1)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

/** Left-aligned columns separated by two spaces; numbers right-aligned. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], numeric: readonly boolean[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric[i] === true ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function renderStatus(view: StatusView, intervalMs: number): string {
  const out: string[] = [];
  const time = new Date(view.atMs).toISOString().replace('T', ' ').slice(0, 19);
  out.push(`orderer status  ${time} UTC  (rates and p99 over the last ${STATUS_WINDOW_MS / 1000} s or since the first scrape; refresh ${intervalMs / 1000} s)`);
  if (view.channels.length === 0) out.push('', 'no channel reported by any node');
  for (const ch of view.channels) {
    out.push('', `channel ${ch.channel}   leader ${ch.leaderId ?? 'none'}   term ${ch.maxTerm ?? '-'}`);
    const header = ['NODE', 'ID', 'ROLE', 'TERM', 'COMMIT', 'HEIGHT', 'LAST BLOCK', 'ENV/S', 'BLK/S', 'P99 MS', 'INTAKE KB', 'INFLIGHT', 'ACCEPTED'];
    const numeric = [false, true, false, true, true, true, true, true, true, true, true, true, true];
    const rows = ch.nodes.map((n) => [
      n.node,
      fmtInt(n.nodeId),
      n.role === 'leader' ? 'LEADER' : n.role,
      fmtInt(n.term),
      fmtInt(n.commitIndex),
      fmtInt(n.height),
      fmtAge(n.lastBlockAgeSeconds),
      fmtInt(n.envelopesPerSecond),
      fmt1(n.blocksPerSecond),
      fmt1(n.broadcastP99Ms),
      fmtKb(n.intakeBytes),
      fmtInt(n.inflightBlocks),
      fmtInt(n.acceptedEnvelopes),
    ]);
    for (const l of renderTable(header, rows, numeric)) out.push(`  ${l}`);
  }
  out.push('', 'nodes');
  const rows = view.nodes.map((n) => [n.name, n.address, n.up ? 'up' : 'DOWN', fmtMb(n.residentMemoryBytes), fmtMb(n.heapUsedBytes), n.error ?? '']);
  for (const l of renderTable(['NODE', 'OPERATIONS', 'STATE', 'RSS MB', 'HEAP MB', 'ERROR'], rows, [false, false, false, true, true, false])) out.push(`  ${l}`);
  return out.join('\n');
}

interface Histories {
  readonly byTarget: Map<ScrapeTarget, { scrapes: Scrape[]; error: string | undefined }>;
}

async function scrapeAll(targets: readonly ScrapeTarget[], h: Histories): Promise<void> {
  await Promise.all(
    targets.map(async (t) => {
      const entry = h.byTarget.get(t)!;
      try {
        const samples = await scrapeMetrics(t);
        entry.scrapes.push({ atMs: Date.now(), samples });
        entry.error = undefined;
      } catch (err) {
        entry.error = (err as Error).message;
      }
      trimHistory(entry.scrapes, Date.now());
    }),
  );
}

function viewOf(targets: readonly ScrapeTarget[], h: Histories): StatusView {
  return buildStatusView(
    targets.map((t) => {
      const e = h.byTarget.get(t)!;
      return { name: t.name, address: t.address, scrapes: e.scrapes, error: e.error };
    }),
    Date.now(),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runStatus(argv: readonly string[]): Promise<number> {
  let args: StatusArgs;
  try {
    args = parseStatusArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`orderer status: ${err.message}\n\n${STATUS_USAGE}`);
      return 2;
    }
    console.error(`orderer status: ${(err as Error).message}`);
    return 1;
  }
  const h: Histories = { byTarget: new Map(args.targets.map((t) => [t, { scrapes: [], error: undefined }])) };
  if (args.mode !== 'live') {
    await scrapeAll(args.targets, h);
    await sleep(args.intervalMs);
    await scrapeAll(args.targets, h);
    const view = viewOf(args.targets, h);
    console.log(args.mode === 'json' ? JSON.stringify(view, null, 2) : renderStatus(view, args.intervalMs));
    return view.nodes.every((n) => n.up) ? 0 : 1;
  }
  const tty = process.stdout.isTTY === true;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (!stopped) {
    const startedMs = Date.now();
    await scrapeAll(args.targets, h);
    const text = renderStatus(viewOf(args.targets, h), args.intervalMs);
    // On a terminal the view replaces itself; into a pipe or file each refresh is appended.
    process.stdout.write(tty ? `\x1b[H\x1b[2J${text}\n\n(Ctrl-C quits)\n` : `${text}\n\n`);
    const waitMs = args.intervalMs - (Date.now() - startedMs);
    for (let waited = 0; waited < waitMs && !stopped; waited += 100) await sleep(Math.min(100, waitMs - waited));
  }
  return 0;
}
