// Finds pages inside an LMDB data file, for tests that damage a chosen page: which meta page LMDB
// uses and where a named database's root page is. Written from the layout described in
// ledger/lmdb-file-check.ts (64-bit lmdb-js 3.5), kept separate from it so that a test does not
// take its expectations from the code under test.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const HEADER = 24;

export interface LmdbLayout {
  pageBytes: number;
  /** 0 or 1: the meta page with the higher transaction id. */
  metaUsed: number;
  lastPage: number;
  mainRoot: number;
}

function readAt(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    closeSync(fd);
  }
}

export function layoutOf(file: string): LmdbLayout {
  const meta0 = readAt(file, 0, 4096);
  const pageBytes = meta0.readUInt32LE(HEADER + 24);
  const meta1 = readAt(file, pageBytes, 4096);
  const txn = (m: Buffer): bigint => m.readBigUInt64LE(HEADER + 128);
  const used = txn(meta0) >= txn(meta1) ? meta0 : meta1;
  return {
    pageBytes,
    metaUsed: used === meta0 ? 0 : 1,
    lastPage: Number(used.readBigUInt64LE(HEADER + 120)),
    mainRoot: Number(used.readBigUInt64LE(HEADER + 72 + 40)),
  };
}

/** Root page of the named database `name` (the main tree must be a single leaf, as in small test stores). */
export function namedRoot(file: string, name: string): number {
  const { pageBytes, mainRoot } = layoutOf(file);
  const page = readAt(file, mainRoot * pageBytes, pageBytes);
  if ((page.readUInt16LE(18) & 0x02) === 0) throw new Error('the main tree root is not a leaf');
  const keys = page.readUInt16LE(20) / 2;
  for (let i = 0; i < keys; i++) {
    const node = HEADER + page.readUInt16LE(HEADER + 2 * i);
    const keyBytes = page.readUInt16LE(node + 6);
    const key = page.subarray(node + 8, node + 8 + keyBytes).toString('latin1').replace(/\0$/, '');
    if (key === name) return Number(page.readBigUInt64LE(node + 8 + keyBytes + 40));
  }
  throw new Error(`no database ${name} in ${file}`);
}

/** Page flags of page `page`. */
export function pageFlags(file: string, page: number): number {
  const { pageBytes } = layoutOf(file);
  return readAt(file, page * pageBytes + 18, 2).readUInt16LE(0);
}

/** Writes `bytes` at `offset` in place (the file keeps its size and inode, as damage on disk would). */
export function overwrite(file: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}
