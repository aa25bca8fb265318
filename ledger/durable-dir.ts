// Directories whose creation survives a power loss. mkdir only changes the parent directory's
// entries in the page cache; until the parent is fsynced, a crash can forget the new directory
// and everything inside it, even files that were themselves fsynced (a channel whose genesis block
// LMDB had synced would vanish). The WAL does the same for its directories (consensus/wal); the
// ledger keeps its own copy so that it does not import consensus/.
// `import = require` so that the calls go through the fs module object, where tests spy on them.
import fs = require('node:fs');
import path from 'node:path';

/** fsync a directory, making the entries created, renamed or removed in it durable. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * mkdir -p that records each directory it created in its parent durably. Returns the first
 * directory created, or undefined when `dir` already existed (then nothing is synced).
 */
export function mkdirDurableSync(dir: string): string | undefined {
  const firstCreated = fs.mkdirSync(dir, { recursive: true });
  if (firstCreated === undefined) return undefined;
  const top = path.resolve(firstCreated);
  // Every level from `dir` up to the first created one is new: its parent gets a new entry.
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    fsyncDirSync(path.dirname(d));
    if (d === top || d === path.dirname(d)) break;
  }
  return firstCreated;
}
