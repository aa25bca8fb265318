// GET /healthz (reference §6.4), with the behaviour of fabric-lib-go's healthz handler: every
// registered checker runs; all pass -> 200 {"status":"OK","time":...}; any fails -> 503 with
// "Service Unavailable" and failed_checks [{component, reason}]; the checks not done within the
// timeout -> 408 with an empty body; any method but GET -> 405.
//
// Fabric's etcdraft registers no checkers, so its /healthz always says OK. Ours registers two
// kinds an operator can act on: a halted channel (the chain stopped on a broken invariant, or
// was evicted) and a file system of the ledger or the WAL that is (nearly) full.
import { statfs } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** One thing /healthz asks about. check() resolves when healthy and throws (the reason) when not. */
export interface HealthChecker {
  readonly component: string;
  check(): Promise<void>;
}

export interface FailedCheck {
  readonly component: string;
  readonly reason: string;
}

/** fabric-lib-go healthz's DefaultTimeout: how long all checks together may take. */
export const HEALTH_CHECK_TIMEOUT_MS = 30_000;

/**
 * Below this many free bytes a ledger or WAL file system fails /healthz: one WAL segment
 * (consensus/wal DEFAULT_SEGMENT_SIZE_BYTES), which the WAL preallocates before it needs it, so
 * a node with less cannot be sure to write its next Raft entries.
 */
export const MIN_FREE_DISK_BYTES = 64 * 1024 * 1024;

/** Runs every checker at once; the failures, sorted by component. */
export async function runHealthChecks(checkers: readonly HealthChecker[]): Promise<FailedCheck[]> {
  const results = await Promise.allSettled(checkers.map((c) => c.check()));
  const failed: FailedCheck[] = [];
  results.forEach((r, i) => {
    if (r.status === 'rejected') failed.push({ component: checkers[i]!.component, reason: r.reason instanceof Error ? r.reason.message : String(r.reason) });
  });
  return failed.sort((a, b) => (a.component < b.component ? -1 : a.component > b.component ? 1 : 0));
}

/** Go's time.Time in JSON (RFC 3339 with fractional seconds, trailing zeros dropped). */
export function rfc3339Nano(date: Date): string {
  return date.toISOString().replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac === '' ? 'Z' : `.${frac}Z`));
}

export async function serveHealthz(
  req: IncomingMessage,
  res: ServerResponse,
  checkers: readonly HealthChecker[],
  timeoutMs: number,
  now: () => Date = () => new Date(),
): Promise<void> {
  if (req.method !== 'GET') {
    res.writeHead(405, { 'Content-Length': 0 });
    res.end();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([runHealthChecks(checkers), timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    res.writeHead(408, { 'Content-Length': 0 });
    res.end();
    return;
  }
  const body =
    outcome.length === 0
      ? { status: 'OK', time: rfc3339Nano(now()) }
      : { status: 'Service Unavailable', time: rfc3339Nano(now()), failed_checks: outcome };
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(outcome.length === 0 ? 200 : 503, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** What channelHealthCheckers needs of the node (OrdererNode has it). */
export interface ChannelsView {
  channelIds(): string[];
  chain(channelId: string): { status(): { halted: boolean; haltReason: string | undefined } } | undefined;
}

/** One checker per channel the node runs now ("channel:<id>"): fails while the chain is halted, with why. */
export function channelHealthCheckers(node: ChannelsView): HealthChecker[] {
  return node.channelIds().map((id) => ({
    component: `channel:${id}`,
    check: async () => {
      const st = node.chain(id)?.status();
      if (st?.halted === true) throw new Error(st.haltReason ?? 'the channel is halted');
    },
  }));
}

/**
 * Fails when the file system holding `dir` has fewer than `minFreeBytes` available to this
 * process (statfs bavail: what a non-root writer may still use).
 */
export function diskSpaceChecker(component: string, dir: string, minFreeBytes: number = MIN_FREE_DISK_BYTES): HealthChecker {
  return {
    component,
    check: async () => {
      const st = await statfs(dir);
      const freeBytes = st.bavail * st.bsize;
      if (freeBytes < minFreeBytes) {
        throw new Error(`${dir}: only ${freeBytes} bytes free, below the ${minFreeBytes} bytes the orderer needs to keep writing`);
      }
    },
  };
}
