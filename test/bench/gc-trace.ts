// The garbage collector's work in an orderer process, read from its `--trace-gc` lines.
//
// A CPU profile charges each incremental marking step to the JavaScript function whose allocation
// ran it, so it shows the collector at 18-20% of a node's busy time when V8's own trace puts it at
// 22-34% (docs/performance.md). `npm run bench -- --gc-stats` starts the nodes with --trace-gc and
// adds up, per node and over each timed window, what these lines say: the scavenges, and the
// mark-compacts with their pauses and the incremental marking before them.
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** One collection as --trace-gc prints it. */
export interface GcEvent {
  /** Milliseconds since the process's V8 isolate started. */
  readonly atMs: number;
  readonly kind: 'scavenge' | 'mark-compact';
  /** The pause on the main thread. */
  readonly pauseMs: number;
  /** For a mark-compact: the incremental marking steps since marking started (0 when it ran all at once). */
  readonly incrementalMs: number;
}

export interface GcTotals {
  scavenges: number;
  scavengeMs: number;
  markCompacts: number;
  markCompactPauseMs: number;
  incrementalMarkingMs: number;
}

/**
 * `[pid:0x…]   1234 ms: Scavenge 12.3 (14.5) -> 11.1 (15.5) MB, 3.21 / 0.00 ms  (average mu …) allocation failure;`
 * `[pid:0x…]   1234 ms: Mark-Compact 22.3 (30.3) -> 18.6 (30.6) MB, 4.25 / 0.01 ms  (+ 50.3 ms in 275 steps since start of marking, …`
 * V8 11 prints the pause, then the time spent in background threads; "(reduce)" and "Minor" variants are counted with their kind.
 */
const TRACE_LINE = /\s(\d+) ms: (Scavenge|Minor Mark-Compact|Mark-Compact)(?: \(reduce\))? [^,]*, ([\d.]+) \/ [\d.]+ ms(?:\s+\(\+ ([\d.]+) ms in \d+ steps)?/;

export function parseTraceGc(text: string): GcEvent[] {
  const events: GcEvent[] = [];
  for (const line of text.split('\n')) {
    const m = TRACE_LINE.exec(line);
    if (m === null) continue;
    events.push({
      atMs: Number(m[1]),
      // A minor mark-compact collects the young generation, as a scavenge does.
      kind: m[2] === 'Mark-Compact' ? 'mark-compact' : 'scavenge',
      pauseMs: Number(m[3]),
      incrementalMs: m[4] === undefined ? 0 : Number(m[4]),
    });
  }
  return events;
}

/** The collections that ended within [fromMs, toMs] of the process's clock. */
export function totalGc(events: readonly GcEvent[], fromMs: number, toMs: number): GcTotals {
  const t: GcTotals = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactPauseMs: 0, incrementalMarkingMs: 0 };
  for (const e of events) {
    if (e.atMs < fromMs || e.atMs > toMs) continue;
    if (e.kind === 'scavenge') {
      t.scavenges++;
      t.scavengeMs += e.pauseMs;
    } else {
      t.markCompacts++;
      t.markCompactPauseMs += e.pauseMs;
      t.incrementalMarkingMs += e.incrementalMs;
    }
  }
  return t;
}

/** The totals with their milliseconds to 0.1, for the bench's JSON. */
export function roundedGc(t: GcTotals): GcTotals {
  const r = (ms: number): number => Math.round(ms * 10) / 10;
  return { ...t, scavengeMs: r(t.scavengeMs), markCompactPauseMs: r(t.markCompactPauseMs), incrementalMarkingMs: r(t.incrementalMarkingMs) };
}

export function gcMs(t: GcTotals): number {
  return t.scavengeMs + t.markCompactPauseMs + t.incrementalMarkingMs;
}

/** "orderer1 66 scavenges 321 ms, 9 mark-compacts 75 + 398 ms" per node, then the nodes' total per 1,000 envelopes. */
export function formatGcLine(perNode: ReadonlyMap<string, GcTotals>, envelopes: number): string {
  const parts: string[] = [];
  let totalMs = 0;
  for (const [name, t] of perNode) {
    totalMs += gcMs(t);
    parts.push(`${name} ${t.scavenges} scavenges ${Math.round(t.scavengeMs)} ms, ${t.markCompacts} mark-compacts ${Math.round(t.markCompactPauseMs)} + ${Math.round(t.incrementalMarkingMs)} ms`);
  }
  const per1000 = envelopes > 0 ? Math.round((totalMs / envelopes) * 1000) : 0;
  return `GC (pauses + incremental marking): ${parts.join('; ')}; orderers ${per1000} ms per 1,000 envelopes`;
}

/** A node whose stdout (with the trace lines) goes to logPath from logOffsetBytes on. */
export interface TracedNode {
  readonly name: string;
  readonly logPath: string;
  /** Size of the log when this process started: what came before is an earlier process's. */
  readonly logOffsetBytes: number;
  /** Date.now() at its spawn, which V8's trace clock starts a few milliseconds after. */
  readonly startedAtMs: number;
}

function readFrom(file: string, offset: number): string {
  const size = statSync(file).size;
  if (size <= offset) return '';
  const buffer = Buffer.alloc(size - offset);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, offset);
  } finally {
    closeSync(fd);
  }
  return buffer.toString('utf8');
}

/** Each node's collections between two Date.now() readings. */
export function gcOfWindow(nodes: readonly TracedNode[], fromWallMs: number, toWallMs: number): Map<string, GcTotals> {
  const perNode = new Map<string, GcTotals>();
  for (const n of nodes) {
    const events = parseTraceGc(readFrom(n.logPath, n.logOffsetBytes));
    perNode.set(n.name, totalGc(events, fromWallMs - n.startedAtMs, toWallMs - n.startedAtMs));
  }
  return perNode;
}
