// What `orderer status` shows, computed from successive /metrics scrapes of each node: per
// channel and node the Raft role, term, commit index, height, the age of the last block,
// throughput and the p99 of Broadcast's answer time over the last minute, queue and memory
// figures. Rates and the p99 come from the difference between the newest scrape and the
// oldest one still inside the window, as Prometheus' rate() and histogram_quantile() would
// compute them; until two scrapes exist they are unknown (null), not zero.
import type { Sample } from './prom-text';

export const STATUS_WINDOW_MS = 60_000;

export interface Scrape {
  readonly atMs: number;
  readonly samples: readonly Sample[];
}

/** One node as the status tool knows it: where it is and its scrapes, oldest first. */
export interface NodeHistory {
  readonly name: string;
  readonly address: string;
  readonly scrapes: readonly Scrape[];
  /** Why the newest scrape failed (undefined when it succeeded). */
  readonly error: string | undefined;
}

export type Role = 'leader' | 'follower' | 'halted' | 'none';

export interface ChannelNodeStatus {
  node: string;
  address: string;
  role: Role;
  nodeId: number | null;
  leaderId: number | null;
  term: number | null;
  commitIndex: number | null;
  height: number | null;
  /** Seconds since this node wrote its last block (null: none yet or not reported). */
  lastBlockAgeSeconds: number | null;
  /** Envelopes this node answered SUCCESS to per second over the window. */
  envelopesPerSecond: number | null;
  blocksPerSecond: number | null;
  /** p99 of broadcast_enqueue_duration over the window, in milliseconds. */
  broadcastP99Ms: number | null;
  intakeBytes: number | null;
  inflightBlocks: number | null;
  acceptedEnvelopes: number | null;
  /** The span the rates cover (0 until two scrapes exist). */
  windowSeconds: number;
}

export interface NodeSummary {
  name: string;
  address: string;
  up: boolean;
  error: string | undefined;
  residentMemoryBytes: number | null;
  heapUsedBytes: number | null;
}

export interface ChannelStatus {
  channel: string;
  /** The leader most members name (null when none does). */
  leaderId: number | null;
  maxTerm: number | null;
  nodes: ChannelNodeStatus[];
}

export interface StatusView {
  atMs: number;
  nodes: NodeSummary[];
  channels: ChannelStatus[];
}

function matches(s: Sample, name: string, labels: Readonly<Record<string, string>>): boolean {
  if (s.name !== name) return false;
  for (const [k, v] of Object.entries(labels)) if (s.labels[k] !== v) return false;
  return true;
}

/** Sum of the samples of `name` whose labels include `labels` (null when there is none). */
export function sumOf(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number | null {
  let total: number | null = null;
  for (const s of samples) if (matches(s, name, labels)) total = (total ?? 0) + s.value;
  return total;
}

/**
 * The q-quantile of a histogram's observations between two scrapes, by linear interpolation
 * inside the bucket that holds it (Prometheus' histogram_quantile). `older` undefined: since
 * the process started.
 */
export function quantileBetween(
  q: number,
  newer: readonly Sample[],
  older: readonly Sample[] | undefined,
  histogram: string,
  labels: Readonly<Record<string, string>>,
): number | null {
  const bucketName = `${histogram}_bucket`;
  const counts = new Map<number, number>();
  const add = (samples: readonly Sample[], sign: 1 | -1): void => {
    for (const s of samples) {
      if (!matches(s, bucketName, labels)) continue;
      const le = s.labels['le'];
      if (le === undefined) continue;
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      counts.set(bound, (counts.get(bound) ?? 0) + sign * s.value);
    }
  };
  add(newer, 1);
  if (older !== undefined) add(older, -1);
  const bounds = [...counts.keys()].sort((a, b) => a - b);
  const total = counts.get(Number.POSITIVE_INFINITY) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let previousBound = 0;
  let previousCount = 0;
  for (const bound of bounds) {
    const cumulative = counts.get(bound)!;
    if (cumulative >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return previousBound;
      const inBucket = cumulative - previousCount;
      if (inBucket <= 0) return bound;
      return previousBound + ((bound - previousBound) * (rank - previousCount)) / inBucket;
    }
    previousBound = bound;
    previousCount = cumulative;
  }
  return previousBound;
}

function channelsOf(samples: readonly Sample[]): string[] {
  const names = new Set<string>();
  for (const s of samples) {
    if (s.name === 'ledger_blockchain_height' || s.name === 'consensus_etcdraft_term') {
      const c = s.labels['channel'];
      if (c !== undefined) names.add(c);
    }
  }
  return [...names];
}

/** The oldest scrape at most `windowMs` older than the newest one (not the newest itself). */
function windowStart(scrapes: readonly Scrape[], windowMs: number): Scrape | undefined {
  const newest = scrapes[scrapes.length - 1];
  if (newest === undefined) return undefined;
  for (const s of scrapes) {
    if (s === newest) return undefined;
    if (newest.atMs - s.atMs <= windowMs) return s;
  }
  return undefined;
}

function rate(newer: Scrape, older: Scrape | undefined, value: (samples: readonly Sample[]) => number | null): number | null {
  if (older === undefined) return null;
  const a = value(newer.samples);
  const b = value(older.samples);
  const dtSeconds = (newer.atMs - older.atMs) / 1000;
  if (a === null || dtSeconds <= 0) return null;
  // A counter that went down means the process restarted: count from zero, as rate() does.
  const delta = b === null || a < b ? a : a - b;
  return delta / dtSeconds;
}

function channelNodeStatus(node: NodeHistory, channel: string, nowMs: number, windowMs: number): ChannelNodeStatus | undefined {
  const newest = node.scrapes[node.scrapes.length - 1];
  if (newest === undefined || node.error !== undefined) return undefined;
  const samples = newest.samples;
  const ch = { channel };
  if (!samples.some((s) => s.labels['channel'] === channel)) return undefined;
  const older = windowStart(node.scrapes, windowMs);
  const halted = sumOf(samples, 'consensus_etcdraft_halted', ch);
  const isLeader = sumOf(samples, 'consensus_etcdraft_is_leader', ch);
  const nodeId = sumOf(samples, 'consensus_etcdraft_node_id', ch);
  const leaderId = sumOf(samples, 'consensus_etcdraft_leader_id', ch);
  let role: Role = 'none';
  if (halted === 1) role = 'halted';
  else if (isLeader === 1) role = 'leader';
  else if (leaderId !== null && leaderId !== 0) role = 'follower';
  const lastBlockAt = sumOf(samples, 'ledger_last_block_commit_timestamp_seconds', ch);
  const p99Seconds = quantileBetween(0.99, samples, older?.samples, 'broadcast_enqueue_duration', ch);
  return {
    node: node.name,
    address: node.address,
    role,
    nodeId,
    leaderId: leaderId === 0 ? null : leaderId,
    term: sumOf(samples, 'consensus_etcdraft_term', ch),
    commitIndex: sumOf(samples, 'consensus_etcdraft_commit_index', ch),
    height: sumOf(samples, 'ledger_blockchain_height', ch),
    lastBlockAgeSeconds: lastBlockAt === null || lastBlockAt === 0 ? null : Math.max(0, nowMs / 1000 - lastBlockAt),
    envelopesPerSecond: rate(newest, older, (s) => sumOf(s, 'broadcast_processed_count', { channel, status: 'SUCCESS' }) ?? 0),
    blocksPerSecond: rate(newest, older, (s) => sumOf(s, 'ledger_blockchain_height', ch)),
    broadcastP99Ms: p99Seconds === null ? null : p99Seconds * 1000,
    intakeBytes: sumOf(samples, 'consensus_etcdraft_intake_bytes', ch),
    inflightBlocks: sumOf(samples, 'consensus_etcdraft_inflight_blocks', ch),
    acceptedEnvelopes: sumOf(samples, 'consensus_etcdraft_accepted_envelopes', ch),
    windowSeconds: older === undefined ? 0 : (newest.atMs - older.atMs) / 1000,
  };
}

export function buildStatusView(nodes: readonly NodeHistory[], nowMs: number, windowMs = STATUS_WINDOW_MS): StatusView {
  const channelNames = new Set<string>();
  const summaries: NodeSummary[] = [];
  for (const node of nodes) {
    const newest = node.scrapes[node.scrapes.length - 1];
    const up = newest !== undefined && node.error === undefined;
    if (up) for (const c of channelsOf(newest.samples)) channelNames.add(c);
    summaries.push({
      name: node.name,
      address: node.address,
      up,
      error: node.error,
      residentMemoryBytes: up ? sumOf(newest.samples, 'process_resident_memory_bytes') : null,
      heapUsedBytes: up ? sumOf(newest.samples, 'nodejs_heap_size_used_bytes') : null,
    });
  }
  const channels: ChannelStatus[] = [...channelNames].sort().map((channel) => {
    const rows = nodes.map((n) => channelNodeStatus(n, channel, nowMs, windowMs)).filter((r): r is ChannelNodeStatus => r !== undefined);
    const votes = new Map<number, number>();
    for (const r of rows) if (r.leaderId !== null) votes.set(r.leaderId, (votes.get(r.leaderId) ?? 0) + 1);
    let leaderId: number | null = null;
    let best = 0;
    for (const [id, n] of votes) if (n > best) [leaderId, best] = [id, n];
    const terms = rows.map((r) => r.term).filter((t): t is number => t !== null);
    return { channel, leaderId, maxTerm: terms.length > 0 ? Math.max(...terms) : null, nodes: rows };
  });
  return { atMs: nowMs, nodes: summaries, channels };
}

/** Drops scrapes older than the window needs (keeps one just outside it as the rate's base). */
export function trimHistory(scrapes: Scrape[], nowMs: number, windowMs = STATUS_WINDOW_MS): void {
  while (scrapes.length > 2 && nowMs - scrapes[1]!.atMs > windowMs) scrapes.shift();
}
