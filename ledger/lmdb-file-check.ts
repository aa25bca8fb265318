// A look at an LMDB data file's meta pages before handing it to lmdb-js. lmdb-js 3.5 crashes the
// process (SIGSEGV in its error path, EnvWrap::openEnv → closeEnv) when mdb_env_open fails, e.g. on
// a file that is not an LMDB file, so a file it would refuse has to be caught before open().
// The layout is LMDB's (mdb.c, as vendored by lmdb-js 3.5): two meta pages at the start of
// data.mdb, each a 24-byte page header (flags at byte 18) followed by MDB_meta (magic, version,
// address, map size, then the free DB record whose first field holds the page size).
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';

const DATA_FILE = 'data.mdb';
const PAGE_HEADER_BYTES = 24;
const FLAGS_OFFSET = 18;
const P_META = 0x08;
const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;
const META_PROBE_BYTES = PAGE_HEADER_BYTES + 28;

function metaPageProblem(bytes: Buffer, which: string): string | undefined {
  if ((bytes.readUInt16LE(FLAGS_OFFSET) & P_META) === 0) return `${which} is not a meta page`;
  if (bytes.readUInt32LE(PAGE_HEADER_BYTES) !== MDB_MAGIC) return `${which} has no LMDB magic number`;
  const version = bytes.readUInt32LE(PAGE_HEADER_BYTES + 4) & 0xffff;
  if (version !== MDB_DATA_VERSION) return `${which} has data version ${version}, expected ${MDB_DATA_VERSION}`;
  return undefined;
}

/**
 * Why LMDB would refuse to open the environment in `dir`, or undefined when its meta pages look
 * sound (or there is no data file yet). Catches files that are truncated, zeroed or not LMDB at
 * all; damage further inside the B-tree is not looked for.
 */
export function lmdbDataFileProblem(dir: string): string | undefined {
  const file = path.join(dir, DATA_FILE);
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (size === 0) return undefined; // LMDB initialises an empty file
  if (size < META_PROBE_BYTES) return `${file} has only ${size} bytes`;
  const fd = openSync(file, 'r');
  try {
    const first = Buffer.alloc(META_PROBE_BYTES);
    readSync(fd, first, 0, META_PROBE_BYTES, 0);
    const firstProblem = metaPageProblem(first, 'meta page 0');
    if (firstProblem !== undefined) return `${file}: ${firstProblem}`;
    const pageBytes = first.readUInt32LE(PAGE_HEADER_BYTES + 24);
    if (pageBytes < 512 || pageBytes > 65536 || (pageBytes & (pageBytes - 1)) !== 0) return `${file}: meta page 0 records a page size of ${pageBytes}`;
    if (size < 2 * pageBytes) return `${file} has ${size} bytes, less than its two meta pages`;
    const second = Buffer.alloc(META_PROBE_BYTES);
    readSync(fd, second, 0, META_PROBE_BYTES, pageBytes);
    const secondProblem = metaPageProblem(second, 'meta page 1');
    return secondProblem === undefined ? undefined : `${file}: ${secondProblem}`;
  } finally {
    closeSync(fd);
  }
}
