// `npm run bench -- --gc-stats`: what it reads from the orderers' --trace-gc lines, and that it
// still reads what this Node's V8 prints.
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { COLOCATED_NODE_FLAGS } from '../../orderer/devnet';
import { makeTempDir, removeTempDir } from '../support/temp-dir';
import { formatGcLine, GC_ORIGIN_PREFIX, gcMs, gcOfWindow, parseTraceGc, readTraces, roundedGc, totalGc } from './gc-trace';
import { GC_STATS_NODE_FLAGS, parseOptions } from './orderer-bench-options';

/** The preload as the bench passes it: compiled, next to the bench (npm test builds first). */
const GC_ORIGIN_JS = path.join(__dirname, '..', '..', 'dist', 'test', 'bench', 'gc-origin.js');

const LOG = [
  '{"level":30,"time":1764962000000,"msg":"raft: 1 became leader at term 2 (Scavenge 1.0 ms: not a trace line)"}',
  '[7576:0x34e55a00]       50 ms: Scavenge 3.8 (4.0) -> 3.4 (5.0) MB, 3.36 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ',
  '[7576:0x34e55a00]      523 ms: Mark-Compact 11.3 (16.7) -> 8.3 (18.2) MB, 28.74 / 0.01 ms  (average mu = 1.000, current mu = 1.000) allocation failure; GC in old space requested',
  '[7576:0x34e55a00]     1088 ms: Mark-Compact 17.0 (24.6) -> 14.7 (24.8) MB, 3.00 / 0.17 ms  (+ 14.1 ms in 196 steps since start of marking, biggest step 1.0 ms, walltime since start of marking 51 ms) (average mu = 0.970, current mu = 0.970) finalize incremental marking via task; GC in old space requested',
  '[7576:0x34e55a00]     1190 ms: Scavenge 20.1 (25.0) -> 17.2 (25.0) MB, 2.50 / 0.00 ms  (average mu = 0.970, current mu = 0.970) allocation failure; ',
  '[7576:0x34e55a00]     2000 ms: Mark-Compact (reduce) 6.1 (8.8) -> 4.9 (7.6) MB, 5.50 / 0.00 ms  (+ 2.5 ms in 10 steps since start of marking, biggest step 0.5 ms, walltime since start of marking 9 ms) (average mu = 0.98, current mu = 0.99) memory reducer; GC in old space requested',
].join('\n');

describe('bench GC accounting (--gc-stats)', () => {
  it('reads scavenges and mark-compacts, with their incremental marking, and nothing else', () => {
    const parsed = parseTraceGc(LOG);
    expect(parsed.unparsedLines).toBe(0);
    expect(parsed.originMs).toBeUndefined();
    expect(parsed.events).toEqual([
      { atMs: 50, kind: 'scavenge', pauseMs: 3.36, incrementalMs: 0 },
      { atMs: 523, kind: 'mark-compact', pauseMs: 28.74, incrementalMs: 0 },
      { atMs: 1088, kind: 'mark-compact', pauseMs: 3, incrementalMs: 14.1 },
      { atMs: 1190, kind: 'scavenge', pauseMs: 2.5, incrementalMs: 0 },
      { atMs: 2000, kind: 'mark-compact', pauseMs: 5.5, incrementalMs: 2.5 },
    ]);
  });

  it('reads newer V8s\' wording too, counts trace lines it cannot read, and ignores records that quote one', () => {
    const parsed = parseTraceGc(
      [
        `${GC_ORIGIN_PREFIX}1764962000123.5`,
        '[9:0x5f1c2a0]      812 ms: Scavenge (interleaved) 20.1 (25.0) -> 17.2 (25.0) MB, pooled: 0 MB, 2.23 / 0.00 ms  (average mu = 0.970, current mu = 0.970) allocation failure; ',
        '[9:0x5f1c2a0]      990 ms: Mark-Compact 31.0 (41.2) -> 24.6 (39.0) MB, pooled: 1 MB, 5.06 / 0.01 ms  (+ 35.8 ms in 169 steps since start of marking, biggest step 4.8 ms) finalize incremental marking via task;',
        '[9:0x5f1c2a0]     1200 ms: Mark-Compact 31.0 (41.2) -> 24.6 (39.0) MB; a wording from some later V8',
        '{"level":30,"msg":"[1:0x1] 12 ms: Scavenge 1.0 (2.0) -> 1.0 (2.0) MB, 1.0 / 0.00 ms"}',
      ].join('\n'),
    );
    expect(parsed.originMs).toBe(1764962000123.5);
    expect(parsed.events).toEqual([
      { atMs: 812, kind: 'scavenge', pauseMs: 2.23, incrementalMs: 0 },
      { atMs: 990, kind: 'mark-compact', pauseMs: 5.06, incrementalMs: 35.8 },
    ]);
    expect(parsed.unparsedLines).toBe(1);
  });

  it('adds up only the collections inside the window, and prints them per node and per 1,000 envelopes', () => {
    const { events } = parseTraceGc(LOG);
    const window = totalGc(events, 100, 1500);
    expect(window).toEqual({ scavenges: 1, scavengeMs: 2.5, markCompacts: 2, markCompactPauseMs: 31.74, incrementalMarkingMs: 14.1 });
    expect(gcMs(window)).toBeCloseTo(48.34, 5);
    expect(roundedGc({ ...window, markCompactPauseMs: 31.740000000000002, incrementalMarkingMs: 14.06 })).toEqual({ ...window, markCompactPauseMs: 31.7, incrementalMarkingMs: 14.1 });
    const line = formatGcLine(new Map([['orderer1', window], ['orderer2', totalGc(events, 0, 60)]]), 2_000);
    // (48.34 + 3.36) ms over 2,000 envelopes: 26 ms per 1,000.
    expect(line).toBe(
      'GC (pauses + incremental marking): orderer1 1 scavenge 3 ms, 2 mark-compacts 32 + 14 ms; orderer2 1 scavenge 3 ms, 0 mark-compacts 0 + 0 ms; orderers 26 ms per 1,000 envelopes',
    );
  });

  it('starts the nodes with --trace-gc only when asked, and refuses it where there are no logs to read', () => {
    expect(parseOptions([])?.nodeFlags).toEqual([...COLOCATED_NODE_FLAGS]);
    const o = parseOptions(['--gc-stats', '--node-flag=--max-semi-space-size=8']);
    expect(o?.gcStats).toBe(true);
    expect(o?.nodeFlags).toEqual([...COLOCATED_NODE_FLAGS, ...GC_STATS_NODE_FLAGS, '--max-semi-space-size=8']);
    expect(GC_STATS_NODE_FLAGS).toEqual(['--trace-gc', expect.stringMatching(/^--require=.*gc-origin\.js$/)]);
    expect(() => parseOptions(['--gc-stats', '--target', '127.0.0.1:7050'])).toThrow('--gc-stats reads the logs of the bench\'s own network');
    expect(() => parseOptions(['--gc-stats', '--membership'])).toThrow('--gc-stats reports the throughput and latency runs');
  });

  it('reads what this Node prints, on the clock V8 started, from where the process started writing its log', async () => {
    const dir = makeTempDir('gc-trace-');
    try {
      const logPath = path.join(dir, 'node.log');
      // An earlier process's lines in the same (appended) log must not count, though their times fall in the window.
      const earlier = ['5', '20', '30'].map((ms) => `[1:0x1] ${ms.padStart(8)} ms: Mark-Compact 3.0 (4.0) -> 2.0 (4.0) MB, 1.00 / 0.00 ms  (average mu = 1.000, current mu = 1.000) testing;`);
      writeFileSync(logPath, `${earlier.join('\n')}\n`);
      const fd = openSync(logPath, 'a');
      const logOffsetBytes = fstatSync(fd).size;
      const startedAtMs = Date.now();
      const child = spawn(
        process.execPath,
        ['--trace-gc', `--require=${GC_ORIGIN_JS}`, '--expose-gc', '-e', 'let a = []; for (let i = 0; i < 2e6; i++) { a.push({ i }); if (a.length > 1e4) a = []; } gc();'],
        { stdio: ['ignore', fd, fd] },
      );
      closeSync(fd);
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`node exited with ${code}`))));
      });
      const traces = readTraces([{ name: 'child', logPath, logOffsetBytes, startedAtMs }]);
      const trace = traces.get('child');
      expect(trace?.exactOrigin).toBe(true);
      expect(trace?.unparsedLines).toBe(0);
      // V8 starts after the spawn, and before the process ends.
      expect(trace?.originMs).toBeGreaterThanOrEqual(startedAtMs - 5);
      expect(trace?.originMs).toBeLessThanOrEqual(Date.now());
      const totals = gcOfWindow(traces, startedAtMs, Date.now()).get('child');
      expect(totals?.scavenges).toBeGreaterThan(0);
      // gc() is one full collection; the earlier process's three are not read.
      expect(totals?.markCompacts).toBe(1);
    } finally {
      removeTempDir(dir, 'gc-trace-');
    }
  });
});
