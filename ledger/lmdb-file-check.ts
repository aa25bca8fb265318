// A look at an LMDB data file before lmdb-js maps it. lmdb-js 3.5.6 does not survive a damaged
// file: a zeroed or foreign meta page 0 ends in SIGSEGV (its error path after mdb_env_open fails),
// and a file cut short ends in SIGBUS as soon as a page beyond the end is touched through the map.
// Neither can be caught in JavaScript, so the file is checked with plain reads first.
//
// Layout (mdb.c as vendored by lmdb-js 3.5.6, 64-bit build; read, not copied):
//   pages 0 and 1 are meta pages: a 24-byte page header (page number, txn id, pad, flags at 18,
//   lower/upper at 20/22), then the meta record: magic, version, address, map size, two 48-byte
//   tree records (free-page tree, main tree; the free tree's first field is the page size), the
//   last page number in use, and the id of the transaction that wrote it. LMDB uses the meta page
//   with the higher transaction id (meta 0 on a tie).
//   Branch and leaf pages hold a table of 2-byte node offsets (counted from the end of the header)
//   up to `lower`; each node is lo/hi/flags/ksize (2 bytes each) and then the key. A branch node's
//   child page number is lo | hi << 16 | flags << 32; a leaf node's data size is lo | hi << 16, its
//   data follows the key, or, with F_BIGDATA, an 8-byte number of the first of a run of overflow
//   pages. Named databases are leaf nodes of the main tree with F_SUBDATA, whose data is a tree record.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { CorruptionError } from './errors';

export const LMDB_DATA_FILE = 'data.mdb';
/**
 * Branch and leaf pages walked when a store is opened (64 MiB of 4 KiB pages, some tens of ms),
 * breadth first: the whole of a block file's trees up to some 50,000 blocks (a block sits mostly in
 * overflow pages, ~150 to a leaf page, but its metadata record, about 1 KB with a signer, in the
 * leaf pages, 3 or 4 to a page), the upper levels of larger ones and of a large tx-id index. A
 * complete walk is deepCheckBlockStore's job.
 */
export const OPEN_CHECK_MAX_TREE_PAGES = 16_384;

const PAGE_HEADER_BYTES = 24;
const PAGE_NUMBER_OFFSET = 0;
const FLAGS_OFFSET = 18;
const LOWER_OFFSET = 20;
const UPPER_OFFSET = 22;
const OVERFLOW_COUNT_OFFSET = 20;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_META = 0x08;
const P_LEAF2 = 0x20;
const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;
const NUM_METAS = 2;
/** No tree: the root page number of an empty database. */
const P_INVALID = 0xffff_ffff_ffff_ffffn;

// Offsets inside the meta record, which starts after the page header.
const META_MAGIC = 0;
const META_VERSION = 4;
const META_FREE_TREE = 24;
const META_MAIN_TREE = 72;
const META_LAST_PAGE = 120;
const META_TXN_ID = 128;
const META_RECORD_BYTES = 136;
const META_PROBE_BYTES = PAGE_HEADER_BYTES + META_RECORD_BYTES;

// A tree record (MDB_db): pad (page size in the free tree's), flags, depth, page counts, entries, root.
const TREE_RECORD_BYTES = 48;
const TREE_DEPTH = 6;
const TREE_ROOT = 40;

const NODE_HEADER_BYTES = 8;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
const F_DUPDATA = 0x04;
const MIN_PAGE_BYTES = 512;
const MAX_PAGE_BYTES = 65536;
/** A checked file that keeps changing under the walk is in use by a writer; give up after this many tries. */
const MAX_CHECK_ATTEMPTS = 3;
const QUEUE_COMPACT_AT = 65_536;

export interface LmdbFileCheckOptions {
  /**
   * Branch and leaf pages read at most, breadth first (upper levels first); past it the walk stops
   * and the report says it was partial. Undefined: every reachable page. A file shorter than its
   * recorded last page is always walked completely, as only that can tell harmless from fatal.
   */
  maxTreePages?: number;
  /** Also read the first page of every overflow run (each stored value over ~2 KB): the deep check. */
  readOverflowHeaders?: boolean;
}

export type LmdbFileReport =
  | { state: 'absent'; file: string }
  /** 0 bytes: lmdb-js would initialise a new, empty environment in it. */
  | { state: 'empty'; file: string }
  /** A writer committed while the file was walked (every attempt): the file is in use, not judged. */
  | { state: 'in-use'; file: string }
  | {
      state: 'sound';
      file: string;
      sizeBytes: number;
      pageBytes: number;
      /** The meta page LMDB will use (0 or 1) and what it records. */
      metaUsed: number;
      txnId: number;
      lastPage: number;
      /** The file ends before the recorded last page, but no reachable page lies beyond its end. */
      shorterThanLastPage: boolean;
      treePagesRead: number;
      overflowPages: number;
      walkComplete: boolean;
    };

interface Meta {
  index: number;
  pageBytes: number;
  lastPage: number;
  txnId: number;
  freeRoot: bigint;
  freeDepth: number;
  mainRoot: bigint;
  mainDepth: number;
}

/** A tree to walk: its root and depth, and a name for messages. */
interface Tree {
  name: string;
  root: bigint;
  depth: number;
}

interface PendingPage {
  page: number;
  level: number;
  tree: Tree;
  /** Where the pointer to this page was, for messages. */
  from: string;
}

class FileView {
  private readonly scratch: Buffer;
  /** Overflow headers are read while a leaf page is still being parsed from `scratch`. */
  private readonly headerScratch = Buffer.alloc(PAGE_HEADER_BYTES);

  constructor(
    readonly file: string,
    private readonly fd: number,
    readonly sizeBytes: number,
    readonly pageBytes: number,
  ) {
    this.scratch = Buffer.alloc(pageBytes);
  }

  /** Page `page` into a shared buffer: valid until the next read. */
  page(page: number): Buffer {
    const got = readSync(this.fd, this.scratch, 0, this.pageBytes, page * this.pageBytes);
    if (got !== this.pageBytes) throw this.damage('truncated', page * this.pageBytes, `page ${page} is cut off by the end of the file at ${this.sizeBytes} bytes`);
    return this.scratch;
  }

  /** The header of page `page`, in a buffer of its own (valid until the next header read). */
  header(page: number): Buffer {
    const got = readSync(this.fd, this.headerScratch, 0, PAGE_HEADER_BYTES, page * this.pageBytes);
    if (got !== PAGE_HEADER_BYTES) throw this.damage('truncated', page * this.pageBytes, `page ${page} is cut off by the end of the file at ${this.sizeBytes} bytes`);
    return this.headerScratch;
  }

  damage(kind: 'truncated' | 'meta-page' | 'page-structure', offsetBytes: number, detail: string): CorruptionError {
    return new CorruptionError(-1, kind, detail, { file: this.file, offsetBytes });
  }
}

function readU64(bytes: Buffer, offset: number): bigint {
  return bytes.readBigUInt64LE(offset);
}

function safeNumber(value: bigint): number | undefined {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

/** Why this meta page cannot be used, or undefined. */
function metaProblem(bytes: Buffer, which: string): string | undefined {
  if ((bytes.readUInt16LE(FLAGS_OFFSET) & P_META) === 0) return `${which} is not a meta page (zeroed, overwritten, or not an LMDB file)`;
  if (bytes.readUInt32LE(PAGE_HEADER_BYTES + META_MAGIC) !== MDB_MAGIC) return `${which} has no LMDB magic number`;
  const version = bytes.readUInt32LE(PAGE_HEADER_BYTES + META_VERSION) & 0xffff;
  if (version !== MDB_DATA_VERSION) return `${which} has data version ${version}, expected ${MDB_DATA_VERSION}`;
  return undefined;
}

function parseMeta(bytes: Buffer, index: number): Meta | string {
  const which = `meta page ${index}`;
  const problem = metaProblem(bytes, which);
  if (problem !== undefined) return problem;
  const m = PAGE_HEADER_BYTES;
  const pageBytes = bytes.readUInt32LE(m + META_FREE_TREE);
  if (pageBytes < MIN_PAGE_BYTES || pageBytes > MAX_PAGE_BYTES || (pageBytes & (pageBytes - 1)) !== 0) return `${which} records a page size of ${pageBytes}`;
  const lastPage = safeNumber(readU64(bytes, m + META_LAST_PAGE));
  const txnId = safeNumber(readU64(bytes, m + META_TXN_ID));
  if (lastPage === undefined || lastPage < NUM_METAS - 1) return `${which} records last page ${readU64(bytes, m + META_LAST_PAGE)}`;
  if (txnId === undefined) return `${which} records transaction id ${readU64(bytes, m + META_TXN_ID)}`;
  return {
    index,
    pageBytes,
    lastPage,
    txnId,
    freeRoot: readU64(bytes, m + META_FREE_TREE + TREE_ROOT),
    freeDepth: bytes.readUInt16LE(m + META_FREE_TREE + TREE_DEPTH),
    mainRoot: readU64(bytes, m + META_MAIN_TREE + TREE_ROOT),
    mainDepth: bytes.readUInt16LE(m + META_MAIN_TREE + TREE_DEPTH),
  };
}

/** Both meta pages, checked; returns the one LMDB will use (higher transaction id, meta 0 on a tie). */
function readMetas(file: string, fd: number, sizeBytes: number): Meta {
  const damage = (kind: 'truncated' | 'meta-page', offsetBytes: number, detail: string): CorruptionError =>
    new CorruptionError(-1, kind, detail, { file, offsetBytes });
  if (sizeBytes < META_PROBE_BYTES) throw damage('truncated', sizeBytes, `the file has only ${sizeBytes} bytes, less than one meta page`);
  const first = Buffer.alloc(META_PROBE_BYTES);
  readSync(fd, first, 0, META_PROBE_BYTES, 0);
  const meta0 = parseMeta(first, 0);
  if (typeof meta0 === 'string') throw damage('meta-page', 0, meta0);
  const { pageBytes } = meta0;
  if (sizeBytes < pageBytes + META_PROBE_BYTES) throw damage('truncated', sizeBytes, `the file has ${sizeBytes} bytes, less than its two meta pages`);
  const second = Buffer.alloc(META_PROBE_BYTES);
  readSync(fd, second, 0, META_PROBE_BYTES, pageBytes);
  const meta1 = parseMeta(second, 1);
  // LMDB itself would silently use meta 0 here; but meta 1 may have been the newer one, so the
  // commits it recorded would be gone without a word. Refused: an operator decides.
  if (typeof meta1 === 'string') throw damage('meta-page', pageBytes, meta1);
  if (meta1.pageBytes !== pageBytes) throw damage('meta-page', pageBytes, `meta page 1 records a page size of ${meta1.pageBytes}, meta page 0 ${pageBytes}`);
  const used = meta0.txnId >= meta1.txnId ? meta0 : meta1;
  const usedOffset = used.index * pageBytes;
  for (const [name, root] of [
    ['free-page tree', used.freeRoot],
    ['main tree', used.mainRoot],
  ] as const) {
    if (root !== P_INVALID && (root < BigInt(NUM_METAS) || root > BigInt(used.lastPage))) {
      throw damage('meta-page', usedOffset, `meta page ${used.index} (transaction ${used.txnId}) puts the root of its ${name} at page ${root}, outside pages ${NUM_METAS}..${used.lastPage}`);
    }
  }
  return used;
}

interface WalkResult {
  treePagesRead: number;
  overflowPages: number;
  complete: boolean;
}

/**
 * Walks the trees of `meta` breadth first: every branch and leaf page must lie inside the file and
 * inside the recorded last page, carry its own page number and a branch/leaf flag matching its
 * level (all leaves sit at the tree's recorded depth, which also stops a cycle), and have node
 * offsets and sizes inside the page; every overflow run must lie inside the file.
 */
function walkTrees(view: FileView, meta: Meta, options: LmdbFileCheckOptions, mustComplete: boolean): WalkResult {
  const { pageBytes } = view;
  const filePages = Math.floor(view.sizeBytes / pageBytes);
  const maxTreePages = mustComplete ? Number.POSITIVE_INFINITY : (options.maxTreePages ?? Number.POSITIVE_INFINITY);
  const queue: PendingPage[] = [];
  let head = 0;
  let treePagesRead = 0;
  let overflowPages = 0;

  const pageInRange = (page: bigint, what: string, offsetBytes: number): number => {
    const n = safeNumber(page);
    if (n === undefined || n < NUM_METAS || n > meta.lastPage) {
      throw view.damage('page-structure', offsetBytes, `${what} points to page ${page}, outside pages ${NUM_METAS}..${meta.lastPage}`);
    }
    return n;
  };
  const addTree = (tree: Tree, from: string, offsetBytes: number): void => {
    if (tree.root === P_INVALID) return;
    if (tree.depth < 1) throw view.damage('page-structure', offsetBytes, `${from}: the ${tree.name} tree has a root but depth ${tree.depth}`);
    queue.push({ page: pageInRange(tree.root, from, offsetBytes), level: 1, tree, from });
  };
  const metaOffset = meta.index * pageBytes;
  addTree({ name: 'free-page', root: meta.freeRoot, depth: meta.freeDepth }, `meta page ${meta.index}`, metaOffset);
  addTree({ name: 'main', root: meta.mainRoot, depth: meta.mainDepth }, `meta page ${meta.index}`, metaOffset);

  while (head < queue.length) {
    if (treePagesRead >= maxTreePages) return { treePagesRead, overflowPages, complete: false };
    const { page, level, tree, from } = queue[head++]!;
    if (head >= QUEUE_COMPACT_AT) {
      // A complete walk of a large index queues millions of pages: drop the walked prefix.
      queue.splice(0, head);
      head = 0;
    }
    const pageOffset = page * pageBytes;
    const where = `page ${page} (${tree.name} tree, level ${level} of ${tree.depth})`;
    if (page >= filePages) throw view.damage('truncated', pageOffset, `${where}, reached from ${from}, lies beyond the end of the file at ${view.sizeBytes} bytes`);
    const bytes = view.page(page);
    treePagesRead++;
    const recorded = bytes.readBigUInt64LE(PAGE_NUMBER_OFFSET);
    if (recorded !== BigInt(page)) throw view.damage('page-structure', pageOffset, `${where} carries page number ${recorded}: it is not the page ${from} points to`);
    const flags = bytes.readUInt16LE(FLAGS_OFFSET);
    const isLeaf = (flags & P_LEAF) !== 0;
    const isBranch = (flags & P_BRANCH) !== 0;
    if (isLeaf === isBranch || (flags & (P_META | P_OVERFLOW)) !== 0) throw view.damage('page-structure', pageOffset, `${where} has page flags 0x${flags.toString(16)}`);
    if (isLeaf !== (level === tree.depth)) {
      throw view.damage('page-structure', pageOffset, `${where} is a ${isLeaf ? 'leaf' : 'branch'} page at a level where a ${isLeaf ? 'branch' : 'leaf'} page belongs`);
    }
    const lower = bytes.readUInt16LE(LOWER_OFFSET);
    const upper = bytes.readUInt16LE(UPPER_OFFSET);
    const usable = pageBytes - PAGE_HEADER_BYTES;
    if (lower % 2 !== 0 || lower > upper || upper > usable) throw view.damage('page-structure', pageOffset, `${where} has free-space bounds ${lower}..${upper}`);
    if ((flags & P_LEAF2) !== 0) continue; // fixed-size keys, no nodes and no children (not used by the store)
    const keys = lower / 2;
    if (isBranch && keys < 1) throw view.damage('page-structure', pageOffset, `${where} is a branch page without children`);
    for (let i = 0; i < keys; i++) {
      const nodeAt = PAGE_HEADER_BYTES + bytes.readUInt16LE(PAGE_HEADER_BYTES + 2 * i);
      const nodeWhere = `node ${i} of ${where}`;
      const bad = (detail: string): CorruptionError => view.damage('page-structure', pageOffset + nodeAt, `${nodeWhere} ${detail}`);
      if (nodeAt < PAGE_HEADER_BYTES + upper || nodeAt + NODE_HEADER_BYTES > pageBytes) throw bad(`starts at byte ${nodeAt}, outside the page's node area`);
      const lo = bytes.readUInt16LE(nodeAt);
      const hi = bytes.readUInt16LE(nodeAt + 2);
      const nodeFlags = bytes.readUInt16LE(nodeAt + 4);
      const keyBytes = bytes.readUInt16LE(nodeAt + 6);
      const dataAt = nodeAt + NODE_HEADER_BYTES + keyBytes;
      if (dataAt > pageBytes) throw bad(`has a ${keyBytes}-byte key that runs past the page`);
      if (isBranch) {
        const child = BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nodeFlags) << 32n);
        queue.push({ page: pageInRange(child, nodeWhere, pageOffset + nodeAt), level: level + 1, tree, from: nodeWhere });
        continue;
      }
      const dataBytes = lo + hi * 0x1_0000;
      if ((nodeFlags & F_BIGDATA) !== 0) {
        if (dataAt + 8 > pageBytes) throw bad('has an overflow page number that runs past the page');
        const first = pageInRange(bytes.readBigUInt64LE(dataAt), nodeWhere, pageOffset + dataAt);
        const count = Math.floor((PAGE_HEADER_BYTES - 1 + dataBytes) / pageBytes) + 1;
        if (first + count - 1 > meta.lastPage) throw bad(`has ${count} overflow pages from page ${first}, past the last page ${meta.lastPage}`);
        if ((first + count) * pageBytes > view.sizeBytes) {
          throw view.damage('truncated', first * pageBytes, `a ${dataBytes}-byte value (${nodeWhere}) on pages ${first}..${first + count - 1} runs past the end of the file at ${view.sizeBytes} bytes`);
        }
        if (options.readOverflowHeaders === true) checkOverflowHeader(view, first, count, nodeWhere);
        overflowPages += count;
        continue;
      }
      if (dataAt + dataBytes > pageBytes) throw bad(`has ${dataBytes} bytes of data that run past the page`);
      if ((nodeFlags & F_SUBDATA) !== 0) {
        // A named database (main tree) or a sub-tree of duplicates: its record names a root to walk.
        if (dataBytes !== TREE_RECORD_BYTES) throw bad(`is a sub-database record of ${dataBytes} bytes, expected ${TREE_RECORD_BYTES}`);
        const name = (nodeFlags & F_DUPDATA) !== 0 ? `${tree.name} duplicates` : printableName(bytes.subarray(nodeAt + NODE_HEADER_BYTES, dataAt));
        addTree({ name, root: bytes.readBigUInt64LE(dataAt + TREE_ROOT), depth: bytes.readUInt16LE(dataAt + TREE_DEPTH) }, nodeWhere, pageOffset + dataAt);
      }
      // F_DUPDATA alone: duplicates kept inside the node as a sub-page; the store uses none.
    }
  }
  return { treePagesRead, overflowPages, complete: true };
}

function checkOverflowHeader(view: FileView, first: number, count: number, from: string): void {
  const bytes = view.header(first);
  const offset = first * view.pageBytes;
  const recorded = bytes.readBigUInt64LE(PAGE_NUMBER_OFFSET);
  const flags = bytes.readUInt16LE(FLAGS_OFFSET);
  const pages = bytes.readUInt32LE(OVERFLOW_COUNT_OFFSET);
  if (recorded !== BigInt(first) || (flags & P_OVERFLOW) === 0 || pages < count) {
    throw view.damage('page-structure', offset, `overflow page ${first} (${from}) reads as page ${recorded}, flags 0x${flags.toString(16)}, ${pages} pages; expected its own number, the overflow flag and at least ${count} pages`);
  }
}

function printableName(key: Buffer): string {
  // lmdb-js stores database names with their terminating NUL.
  const text = key.toString('latin1').replace(/\0$/, '');
  return /^[\x20-\x7e]+$/.test(text) ? text : `0x${key.toString('hex')}`;
}

function checkOnce(file: string, fd: number, sizeBytes: number, options: LmdbFileCheckOptions): LmdbFileReport & { state: 'sound' } {
  const meta = readMetas(file, fd, sizeBytes);
  const view = new FileView(file, fd, sizeBytes, meta.pageBytes);
  // LMDB's own comment on the last page: the file may legitimately be shorter when the pages at
  // its end are free (written nowhere yet). Only a complete walk tells that from a cut-off file.
  const shorterThanLastPage = sizeBytes < (meta.lastPage + 1) * meta.pageBytes;
  const walk = walkTrees(view, meta, options, shorterThanLastPage);
  return {
    state: 'sound',
    file,
    sizeBytes,
    pageBytes: meta.pageBytes,
    metaUsed: meta.index,
    txnId: meta.txnId,
    lastPage: meta.lastPage,
    shorterThanLastPage,
    treePagesRead: walk.treePagesRead,
    overflowPages: walk.overflowPages,
    walkComplete: walk.complete,
  };
}

/** Transaction id of the meta page LMDB would use now, or undefined when it cannot be read. */
function currentTxnId(fd: number, sizeBytes: number, file: string): number | undefined {
  try {
    return readMetas(file, fd, sizeBytes).txnId;
  } catch {
    return undefined;
  }
}

/**
 * Checks the LMDB data file in `dir` with plain reads, without mapping it: the meta pages (and
 * which one LMDB will use), that the file covers the last page that meta records (or, when it is
 * shorter, that nothing reachable lies beyond its end), and the B-tree pages reachable from it
 * (all of them, or the first `maxTreePages` breadth first). Throws CorruptionError naming the
 * file and the byte offset. A file that a live writer changes while it is walked is reported
 * 'in-use' rather than judged: pages are reused under a reader LMDB does not know about.
 */
export function checkLmdbDataFile(dir: string, options: LmdbFileCheckOptions = {}): LmdbFileReport {
  const file = path.join(dir, LMDB_DATA_FILE);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'absent', file };
    throw err;
  }
  try {
    for (let attempt = 1; ; attempt++) {
      const sizeBytes = statSync(file).size;
      if (sizeBytes === 0) return { state: 'empty', file };
      const before = currentTxnId(fd, sizeBytes, file);
      try {
        return checkOnce(file, fd, sizeBytes, options);
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
        const sizeNow = statSync(file).size;
        const changed = sizeNow !== sizeBytes || currentTxnId(fd, sizeNow, file) !== before;
        if (!changed) throw err;
        if (attempt >= MAX_CHECK_ATTEMPTS) return { state: 'in-use', file };
      }
    }
  } finally {
    closeSync(fd);
  }
}
