// A temp directory that a test or a benchmark made, and removes only if it still looks like one
// it made: a direct child of the OS temp dir whose name starts with the prefix it was made with.
// A path that came out wrong (empty, the temp dir itself, a checkout, a parent) is refused, not
// removed.
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class TempDirRefusedError extends Error {
  override readonly name = 'TempDirRefusedError';
}

/** A fresh directory `<os temp dir>/<prefix>XXXXXX`. */
export function makeTempDir(prefix: string): string {
  if (prefix.length === 0 || prefix.includes('/')) throw new TempDirRefusedError(`a temp dir prefix must be a non-empty name, got ${JSON.stringify(prefix)}`);
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Removes `dir` with everything in it, after checking it is one makeTempDir(prefix) made. */
export function removeTempDir(dir: string, prefix: string): void {
  const tmpRoot = realpathSync(os.tmpdir());
  const resolved = path.resolve(dir);
  const parent = realpathSync(path.dirname(resolved));
  const name = path.basename(resolved);
  if (prefix.length === 0 || parent !== tmpRoot || !name.startsWith(prefix) || name.length <= prefix.length) {
    throw new TempDirRefusedError(`refusing to remove ${JSON.stringify(dir)}: not a directory ${tmpRoot}/${prefix}* made by makeTempDir`);
  }
  rmSync(path.join(parent, name), { recursive: true, force: true });
}
