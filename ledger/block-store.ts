// The ledger's contract with the rest of the orderer. One BlockStore holds one channel's chain.
import type { common } from '../protos';

/**
 * A block to append: its encoded bytes (stored exactly as given) or a message to encode.
 * Bytes are handed over, not copied: the store serves them to readers from its recent-block cache,
 * so the caller must not modify them after calling append.
 */
export type BlockInput = Uint8Array | common.BlockInit | DecodedBlockInput;

/**
 * A block its caller has decoded already (the chain decodes each committed block to fill its
 * metadata): the store uses `block` instead of decoding `bytes` again, and `txIds` instead of
 * reading each envelope's tx id. It still checks number, previous hash and data hash against
 * `block`. The caller vouches that `block` is exactly common.Block.decode(bytes) and that `txIds`,
 * if given, are envelopeTxIdOrEmpty of each of its envelopes, in order.
 */
export interface DecodedBlockInput {
  readonly bytes: Uint8Array;
  /**
   * The block's metadata field (tag, length, BlockMetadata: encodeBlockMetadataField), when `bytes`
   * hold only its header and data fields: the block's bytes are then bytes ‖ metadataField, stored
   * as the two pieces they are. The chain gives a committed Raft entry's header and data this way,
   * as a view of the entry, instead of copying them into a new block-sized buffer.
   */
  readonly metadataField?: Uint8Array;
  readonly block: common.Block;
  readonly txIds?: readonly string[];
  /**
   * The caller computed `block`'s header data_hash itself from exactly these envelopes (a leader
   * writing the block it proposed): the store does not hash them again. Number and previous hash
   * are still checked.
   */
  readonly dataHashComputedByCaller?: boolean;
}

export function isDecodedBlockInput(input: BlockInput): input is DecodedBlockInput {
  return !(input instanceof Uint8Array) && 'bytes' in input && 'block' in input;
}

/** The byte length of a stored block, without joining its pieces. */
export function storedBlockLength(stored: StoredBlock): number {
  if (stored.pieces === undefined) return stored.bytes.length;
  let length = 0;
  for (const piece of stored.pieces) length += piece.length;
  return length;
}

/**
 * A block read back from the store: its exact bytes, decoded, and checked (the number is the one
 * asked for and data_hash matches the data). Shared between readers: treat it as read-only.
 */
export interface StoredBlock {
  readonly number: number;
  /** The block's bytes in one buffer (joined from `pieces` when the store keeps them in two). */
  readonly bytes: Uint8Array;
  /**
   * The block's bytes as the pieces the store keeps them in, when more than one: what `bytes`
   * joins. A reader that can write pieces (Deliver) sends these and copies nothing.
   */
  readonly pieces?: readonly Uint8Array[];
  readonly block: common.Block;
  /** hash(header), the previous_hash of the next block. */
  readonly headerHash: Uint8Array;
}

export interface TxLocation {
  readonly blockNumber: number;
  /** Position of the envelope in block.data.data. */
  readonly txIndex: number;
}

export interface AppendOptions {
  /**
   * The caller vouches that these blocks are final whatever becomes of this write: a consensus
   * has committed them and, should the write not land, the caller writes them again (the Chain
   * re-applies them from its Raft log). Iterators then yield them as soon as they pass the
   * append's checks, while they are still being committed; height(), getBlock() and getByTxId()
   * still see durable blocks only. A failed write takes them back from iterators not yet at them.
   */
  readableBeforeDurable?: boolean;
}

export interface BlockIteratorOptions {
  /** Aborting ends the iteration like return(): a pending next() resolves with done. */
  signal?: AbortSignal;
}

/**
 * Yields stored blocks from a number on, then waits for new ones. next() rejects with
 * CorruptionError for a damaged block and with BlockStoreError('closed') when the store closes.
 */
export interface BlockIterator extends AsyncIterableIterator<StoredBlock> {
  /** Ends the iteration at once, also while a next() is waiting for a block. */
  return(): Promise<IteratorResult<StoredBlock>>;
}

export interface VerifyReport {
  height: number;
  bytesChecked: number;
}

export interface BlockStoreStats {
  height: number;
  /** Iterators currently waiting for the next block. */
  waitingIterators: number;
  /** Iterators not yet finished. */
  openIterators: number;
  /**
   * LMDB write transactions of the block environment used by appends since open: appendBatch and
   * same-turn appends share one. (The tx-id index commits alongside, in its own environment.)
   */
  writeTransactions: number;
  cachedBlocks: number;
  cachedBytes: number;
}

export interface BlockStore {
  readonly channelId: string;
  /** Number of durable blocks (the next block's number). */
  height(): number;
  /**
   * What iterators can yield now: height() plus the blocks in flight appended with
   * readableBeforeDurable (AppendOptions). Deliver plans its seeks with it, so that a client that
   * got block N can ask for N + 1 at once.
   */
  readableHeight(): number;
  lastBlock(): StoredBlock | undefined;
  /** hash(header) of the last block; undefined while the store is empty. */
  lastHeaderHash(): Uint8Array | undefined;
  /** undefined when number >= height(); throws CorruptionError for a damaged block. */
  getBlock(number: number): StoredBlock | undefined;
  /** Where a tx_id first occurred. */
  getByTxId(txId: string): TxLocation | undefined;
  /**
   * Appends one block; resolves once it is durable (committed and synced). Rejects with
   * BlockStoreError (reason 'block-number' | 'previous-hash' | 'data-hash' | 'malformed-block', ...)
   * and then nothing changed. Calls may overlap; they land in call order.
   */
  append(block: BlockInput): Promise<void>;
  /** Appends consecutive blocks in one transaction: all of them become durable or none. */
  appendBatch(blocks: readonly BlockInput[], options?: AppendOptions): Promise<void>;
  iterate(fromNumber: number, options?: BlockIteratorOptions): BlockIterator;
  /** Re-reads the whole chain; rejects with CorruptionError naming the first bad block. */
  verify(): Promise<VerifyReport>;
  stats(): BlockStoreStats;
  /** Waits for appends in flight, ends iterators, releases the store for other processes. */
  close(): Promise<void>;
}
