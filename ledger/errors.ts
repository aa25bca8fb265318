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
  | 'invalid-channel';

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
  | 'tip-mismatch'
  | 'txid-index';

/**
 * Stored bytes that are not what was appended: the disk or something outside the store changed them.
 * blockNumber is -1 when the damage is in the store's own tip record rather than in a block.
 */
export class CorruptionError extends Error {
  constructor(
    readonly blockNumber: number,
    readonly kind: CorruptionKind,
    detail: string,
  ) {
    super(`ledger corruption at block ${blockNumber} (${kind}): ${detail}`);
    this.name = 'CorruptionError';
  }
}

/** A block lacks what a reader needs (for example a metadata slot). */
export class BlockFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockFormatError';
  }
}
