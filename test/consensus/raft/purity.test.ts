// The Raft core stays a pure, deterministic state machine: it imports only the generated
// protos and its own modules, and never touches clocks, timers, randomness, promises or IO.
import fs from 'node:fs';
import path from 'node:path';

const RAFT_DIR = path.join(__dirname, '../../../consensus/raft');

const FORBIDDEN: Array<[RegExp, string]> = [
  [/\bDate\b/, 'Date'],
  [/Math\.random/, 'Math.random'],
  [/\bset(Timeout|Interval|Immediate)\b/, 'timers'],
  [/\bPromise\b|\basync\b|\bawait\b/, 'promises'],
  [/\bprocess\./, 'process'],
  [/\brequire\(/, 'require'],
  [/\bconsole\./, 'console'],
  [/:\s*any\b|<any>|as any\b/, 'any'],
];

describe('raft core purity', () => {
  const files = fs.readdirSync(RAFT_DIR).filter((f) => f.endsWith('.ts'));

  test('there is something to check', () => {
    expect(files).toEqual(expect.arrayContaining(['raft.ts', 'rawnode.ts', 'log.ts', 'memory-storage.ts']));
  });

  test.each(files)('%s imports only protos and sibling modules', (file) => {
    const src = fs.readFileSync(path.join(RAFT_DIR, file), 'utf8');
    const imports = [...src.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]!);
    for (const spec of imports) {
      expect(spec === '../../protos' || /^\.\/[a-z-]+$/.test(spec)).toBe(true);
    }
  });

  test.each(files)('%s uses no clock, timer, randomness, promise or IO', (file) => {
    const code = fs
      .readFileSync(path.join(RAFT_DIR, file), 'utf8')
      .replace(/\/\/.*$/gm, '')
      .replace(/\/\*[\s\S]*?\*\//g, '');
    for (const [pattern, what] of FORBIDDEN) {
      if (pattern.test(code)) throw new Error(`${file} uses ${what}`);
    }
  });
});
