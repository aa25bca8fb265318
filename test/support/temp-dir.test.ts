// The removal the benchmark and the GC-trace test use for their temp dirs removes what they made
// and nothing else: canary files beside it and above it survive every refused path.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir, removeTempDir, TempDirRefusedError } from './temp-dir';

const CANARY = 'canary: must survive\n';

describe('temp dirs made and removed by tests and benchmarks', () => {
  it('removes a directory it made, with its contents, and leaves a canary beside it', () => {
    const neighbour = makeTempDir('temp-dir-canary-');
    const canary = path.join(neighbour, 'canary.txt');
    writeFileSync(canary, CANARY);
    try {
      const dir = makeTempDir('temp-dir-test-');
      mkdirSync(path.join(dir, 'nested'));
      writeFileSync(path.join(dir, 'nested', 'file'), 'x');
      removeTempDir(dir, 'temp-dir-test-');
      expect(existsSync(dir)).toBe(false);
      expect(readFileSync(canary, 'utf8')).toBe(CANARY);
    } finally {
      removeTempDir(neighbour, 'temp-dir-canary-');
    }
  });

  it('refuses the temp dir itself, its parent, a relative or empty path, a deeper path, another prefix, and a bare prefix', () => {
    const dir = makeTempDir('temp-dir-test-');
    const canary = path.join(dir, 'canary.txt');
    writeFileSync(canary, CANARY);
    const inner = path.join(dir, 'temp-dir-test-inner');
    mkdirSync(inner);
    try {
      for (const [target, prefix] of [
        [os.tmpdir(), 'temp-dir-test-'],
        [path.dirname(os.tmpdir()), 'temp-dir-test-'],
        ['', 'temp-dir-test-'],
        ['.', 'temp-dir-test-'],
        [inner, 'temp-dir-test-'], // right name, but not directly in the temp dir
        [dir, 'orderer-bench-'],
        [dir, ''],
        [path.join(os.tmpdir(), 'temp-dir-test-'), 'temp-dir-test-'],
      ] as const) {
        expect(() => removeTempDir(target, prefix)).toThrow(TempDirRefusedError);
      }
      expect(readFileSync(canary, 'utf8')).toBe(CANARY);
      expect(existsSync(inner)).toBe(true);
      expect(() => makeTempDir('')).toThrow(TempDirRefusedError);
      expect(() => makeTempDir('../x-')).toThrow(TempDirRefusedError);
    } finally {
      removeTempDir(dir, 'temp-dir-test-');
    }
    expect(existsSync(dir)).toBe(false);
  });
});
