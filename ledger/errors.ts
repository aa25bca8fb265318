// Typed errors of the ledger: callers branch on `reason` and `blockNumber`, never on message text.

/** Why the store refused an operation. A refused append leaves the store exactly as it was. */
export type BlockStoreErrorReason =
  /** header.number is not the current height. */
  | 'block-number'
  /** header.previous_hash is not the hash of the last stored header (or not empty for block 0). */
  | 'previous-hash'
  /** header.data_hash is not SHA-256 of the concatenated envelopes. */
  | 'data-hash'
  /** The bytes are not a Block, or the Block has no header. */
  | 'malformed-block'
  /** Another live process (or another open store in this process) owns the store. */
  | 'locked'
  /** The store was closed. */
  | 'closed'
  /** The stored tip moved under us: something other than this store object wrote to the files. */
  | 'conflict'
  /** An earlier write failed; the in-memory view may be ahead of the disk, so reopen the store. */
  | 'write-failed'
  /** The files were written by an incompatible version of this store. */
  | 'unsupported-format'
  /** The channel id cannot be used as a directory name. */
  | 'invalid-channel'
  /** A directory the store would delete and rebuild holds files the store did not write. */
  | 'refused-delete';

export class BlockStoreError extends Error {
  constructor(
    readonly reason: BlockStoreErrorReason,
    message: string,
    readonly blockNumber?: number,
  ) {
    super(message);
    this.name = 'BlockStoreError';
  }
}

/** What is wrong with a stored block. */
export type CorruptionKind =
  | 'undecodable'
  | 'missing-header'
  | 'wrong-number'
  | 'data-hash'
  | 'previous-hash'
  | 'missing-block'
  | 'extra-block'
  /** A block stored in two pieces (format 3) lacks its metadata record. */
  | 'missing-metadata'
  | 'tip-mismatch'
  | 'txid-index'
  /** The LMDB data file ends before pages its current meta page or its B-trees point to. */
  | 'truncated'
  /** Neither meta page can be trusted: zeroed, not LMDB, another version, or a page size LMDB never writes. */
  | 'meta-page'
  /** A B-tree page is not what its parent says it is (garbage, a wrong page number, out-of-range pointers). */
  | 'page-structure'
  /** lmdb-js itself reported damage (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID...). */
  | 'lmdb-error';

/** Where on disk the damage is: the file, and the byte offset when it is known. */
export interface CorruptionLocation {
  file: string;
  offsetBytes?: number;
}

/**
 * Stored bytes that are not what was appended: the disk or something outside the store changed them.
 * blockNumber is -1 when the damage is in the store's own tip record or in the LMDB file's
 * structure rather than in a block. `file` (and `offsetBytes` when known) say where, so the
 * message an operator sees names the file to restore or remove.
 */
export class CorruptionError extends Error {
  readonly file: string | undefined;
  readonly offsetBytes: number | undefined;

  constructor(
    readonly blockNumber: number,
    readonly kind: CorruptionKind,
    detail: string,
    where?: CorruptionLocation,
  ) {
    super(`ledger corruption ${describeWhere(blockNumber, where)}(${kind}): ${detail}`);
    this.name = 'CorruptionError';
    this.file = where?.file;
    this.offsetBytes = where?.offsetBytes;
  }
}

function describeWhere(blockNumber: number, where: CorruptionLocation | undefined): string {
  const block = blockNumber >= 0 ? `at block ${blockNumber} ` : '';
  if (where === undefined) return block;
  const offset = where.offsetBytes === undefined ? '' : ` at byte ${where.offsetBytes}`;
  return `${block}in ${where.file}${offset} `;
}

/** A block lacks what a reader needs (for example a metadata slot). */
export class BlockFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockFormatError';
  }
}
