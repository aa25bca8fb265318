// The garbage collector's work in an orderer process, read from its `--trace-gc` lines.
//
// A CPU profile charges each incremental marking step to the JavaScript function whose allocation
// ran it, so it shows the collector at 18-20% of a node's busy time when V8's own trace puts it at
// 22-34% (docs/performance.md). `npm run bench -- --gc-stats` starts the nodes with --trace-gc and
// with gc-origin.js preloaded, and adds up, per node and over each timed window, what the trace
// lines say: the scavenges, and the mark-compacts with their pauses and the incremental marking
// before them.
import { readFileSync } from 'node:fs';

/** The line gc-origin.js writes to the node's stdout, followed by a Date.now() value. */
export const GC_ORIGIN_PREFIX = 'gc-trace-origin-ms ';

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
 * The pause, then the time spent in background threads. Anchored at the line's `[pid:isolate]`
 * so a log record that quotes such text does not count. Newer V8s write "Scavenge (interleaved)"
 * and "MB, pooled: N MB, " before the times; "(reduce)" and "Minor" variants count with their kind.
 */
const TRACE_LINE =
  /^\[\d+:(?:0x)?[0-9a-fA-F]+\]\s+(\d+) ms: (Scavenge|Minor Mark-Compact|Mark-Compact)\b[^,]*, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ [\d.]+ ms(?:\s+\(\+ ([\d.]+) ms in \d+ steps)?/;
/** What any collection's trace line looks like, parsed or not: counted to catch a format this file does not know. */
const LOOKS_LIKE_TRACE = /^\[\d+:(?:0x)?[0-9a-fA-F]+\]\s+\d+ ms: (?:Scavenge|Minor Mark-Compact|Mark-Compact|Mark-sweep)/;

export interface ParsedTrace {
  readonly events: GcEvent[];
  /** Lines that look like a collection's trace line but did not parse. */
  readonly unparsedLines: number;
  /** Date.now() when V8's trace clock started, as gc-origin.js printed it; undefined without that line. */
  readonly originMs: number | undefined;
}

export function parseTraceGc(text: string): ParsedTrace {
  const events: GcEvent[] = [];
  let unparsedLines = 0;
  let originMs: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith(GC_ORIGIN_PREFIX)) {
      const value = Number(line.slice(GC_ORIGIN_PREFIX.length));
      if (Number.isFinite(value)) originMs = value;
      continue;
    }
    const m = TRACE_LINE.exec(line);
    if (m === null) {
      if (LOOKS_LIKE_TRACE.test(line)) unparsedLines++;
      continue;
    }
    events.push({
      atMs: Number(m[1]),
      // A minor mark-compact collects the young generation, as a scavenge does.
      kind: m[2] === 'Mark-Compact' ? 'mark-compact' : 'scavenge',
      pauseMs: Number(m[3]),
      incrementalMs: m[4] === undefined ? 0 : Number(m[4]),
    });
  }
  return { events, unparsedLines, originMs };
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

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "orderer1 66 scavenges 321 ms, 9 mark-compacts 75 + 398 ms" per node, then the nodes' total per 1,000 envelopes. */
export function formatGcLine(perNode: ReadonlyMap<string, GcTotals>, envelopes: number): string {
  const parts: string[] = [];
  let totalMs = 0;
  for (const [name, t] of perNode) {
    totalMs += gcMs(t);
    const scavenges = plural(t.scavenges, 'scavenge', 'scavenges');
    const markCompacts = plural(t.markCompacts, 'mark-compact', 'mark-compacts');
    parts.push(`${name} ${scavenges} ${Math.round(t.scavengeMs)} ms, ${markCompacts} ${Math.round(t.markCompactPauseMs)} + ${Math.round(t.incrementalMarkingMs)} ms`);
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
  /** Date.now() at its spawn: the trace clock's origin when gc-origin.js's line is missing (then about 0.1 s early). */
  readonly startedAtMs: number;
}

/** A node's trace, with Date.now() of its clock's origin. */
export interface NodeTrace {
  readonly events: readonly GcEvent[];
  readonly originMs: number;
  readonly unparsedLines: number;
  /** False when the origin is the spawn time (no gc-origin.js line). */
  readonly exactOrigin: boolean;
}

/** Reads and parses each node's trace once; the windows are then cut from it (gcOfWindow). */
export function readTraces(nodes: readonly TracedNode[]): Map<string, NodeTrace> {
  const traces = new Map<string, NodeTrace>();
  for (const n of nodes) {
    const text = readFileSync(n.logPath).subarray(n.logOffsetBytes).toString('utf8');
    const parsed = parseTraceGc(text);
    traces.set(n.name, {
      events: parsed.events,
      originMs: parsed.originMs ?? n.startedAtMs,
      unparsedLines: parsed.unparsedLines,
      exactOrigin: parsed.originMs !== undefined,
    });
  }
  return traces;
}

/** Each node's collections between two Date.now() readings. */
export function gcOfWindow(traces: ReadonlyMap<string, NodeTrace>, fromWallMs: number, toWallMs: number): Map<string, GcTotals> {
  const perNode = new Map<string, GcTotals>();
  for (const [name, t] of traces) perNode.set(name, totalGc(t.events, fromWallMs - t.originMs, toWallMs - t.originMs));
  return perNode;
}
