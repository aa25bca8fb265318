// How a block is kept in the block environment's databases, and how it is read back and checked.
//
// Format 3 keeps every block as two records under its 8-byte number:
//   blocks:   the block's bytes up to its metadata field (its header and data fields), or the
//             whole block when it was appended in one piece;
//   metadata: the block's metadata field (tag 3, length, BlockMetadata: first byte 0x1a), or the
//             single byte 0x00 when the blocks record is the whole block.
// The block's bytes are the two records end to end. Why: a node writes each committed block with
// the metadata only it fills in (signature, last config, Raft index) behind the header and data
// the Raft entry carried. Kept apart, the entry's bytes are stored and served as they are; joined,
// every node allocated and filled a second block-sized buffer per block, which outlived V8's young
// generation and paced its mark-compacts (docs/performance.md).
//
// Blocks below the format record's split height were written by format 2, whole, with no metadata
// record; a store migrated from format 2 keeps them so (the migration writes nothing per block).
import type { Database } from 'lmdb';
import { common } from '../protos';
import { blockDataHash, blockHeaderHash } from './block';
import type { StoredBlock } from './block-store';
import { CorruptionError } from './errors';
import { bytesEqual, toHex } from './hash';
import { guardLmdb } from './lmdb-guard';
import { blockKey, blockNumberOfKey, EMPTY, type Bytes, type Tip } from './lmdb-records';

/** Field 3 (metadata), wire type 2: the first byte of a metadata field. */
const METADATA_FIELD_TAG = 0x1a;
/** The metadata record of a block whose blocks record is the whole block. */
export const WHOLE_BLOCK_RECORD = Buffer.from([0]);

/** The two databases a block is stored in, and which blocks have both records. */
export interface BlockRecords {
  readonly blocksDb: Database<Bytes, Buffer>;
  readonly metadataDb: Database<Bytes, Buffer>;
  /** Blocks from this number on have a metadata record; those below were written whole by format 2. */
  readonly splitFrom: number;
  /** The data file, named in every CorruptionError. */
  readonly file: string;
}

/** The metadata record that goes with a blocks record: the field itself, or WHOLE_BLOCK_RECORD. */
export function metadataRecord(metadataField: Uint8Array): Buffer {
  if (metadataField.length === 0) return WHOLE_BLOCK_RECORD;
  return Buffer.from(metadataField.buffer, metadataField.byteOffset, metadataField.byteLength);
}

/** Why `bytes` are not one metadata field and nothing else (tag 3, its length, that many bytes); undefined when they are. */
export function notAMetadataField(bytes: Uint8Array): string | undefined {
  if (bytes[0] !== METADATA_FIELD_TAG) return `starts with byte ${bytes[0] ?? '(none)'}, expected ${METADATA_FIELD_TAG}`;
  let length = 0;
  let pos = 1;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[pos++];
    if (byte === undefined || shift > 28) return 'its length is cut off or too long';
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  if (pos + length !== bytes.length) return `holds ${bytes.length - pos} bytes after its length, which says ${length}`;
  return undefined;
}

/**
 * The metadata field a metadata record holds (empty for WHOLE_BLOCK_RECORD); CorruptionError for a
 * record that is neither.
 */
function metadataFieldOfRecord(record: Buffer, number: number, file: string): Uint8Array {
  if (record.length === 1 && record[0] === 0) return EMPTY;
  const wrong = notAMetadataField(record);
  if (wrong !== undefined) throw new CorruptionError(number, 'undecodable', `metadata record: ${wrong}`, { file });
  return record;
}

/** A block from its pieces: header and data from the first, the metadata from the field after it. */
export function decodeBlockPieces(headerAndData: Uint8Array, metadataField: Uint8Array): common.Block {
  const block = common.Block.decode(headerAndData);
  if (metadataField.length === 0) return block;
  // Written only behind bytes without a metadata field (blockMetadataOffset); two would merge.
  if (block.metadata != null) throw new Error('both pieces carry metadata');
  block.metadata = common.Block.decode(metadataField).metadata;
  return block;
}

/**
 * An appended or read block: its pieces, decoded on first use. The recent-block cache serves bytes
 * (Deliver) far more than decoded blocks; holding the appender's decoded block kept an object per
 * envelope alive (a view each, ~400 per block) for as long as the block stayed cached, and every
 * one of them outlived the young generation.
 */
export class LazyStoredBlock implements StoredBlock {
  private decoded: common.Block | undefined;
  readonly pieces: readonly Uint8Array[] | undefined;

  constructor(
    readonly number: number,
    private readonly headerAndData: Uint8Array,
    private readonly metadataField: Uint8Array,
    readonly headerHash: Uint8Array,
    decoded?: common.Block,
  ) {
    this.pieces = metadataField.length === 0 ? undefined : [headerAndData, metadataField];
    this.decoded = decoded;
  }

  /** Joined anew on every call, not kept: the cache counts the pieces' bytes only. Deliver sends `pieces`. */
  get bytes(): Uint8Array {
    if (this.metadataField.length === 0) return this.headerAndData;
    return Buffer.concat([this.headerAndData, this.metadataField]);
  }

  get byteLength(): number {
    return this.headerAndData.length + this.metadataField.length;
  }

  get block(): common.Block {
    // These pieces decoded when they were appended (or were encoded from the block then).
    this.decoded ??= decodeBlockPieces(this.headerAndData, this.metadataField);
    return this.decoded;
  }
}

/** Decodes and checks a block read as `number`; anything unexpected is corruption naming `file`. */
function checkStored(number: number, headerAndData: Uint8Array, metadataField: Uint8Array, file: string): LazyStoredBlock {
  const where = { file };
  let block: common.Block;
  try {
    block = decodeBlockPieces(headerAndData, metadataField);
  } catch (err) {
    throw new CorruptionError(number, 'undecodable', err instanceof Error ? err.message : String(err), where);
  }
  const header = block.header;
  if (header === undefined) throw new CorruptionError(number, 'missing-header', 'stored block has no header', where);
  if (header.number !== number) {
    throw new CorruptionError(number, 'wrong-number', `stored under ${number} but its header says ${header.number}`, where);
  }
  const dataHash = blockDataHash(block.data?.data ?? []);
  if (!bytesEqual(dataHash, header.dataHash)) {
    throw new CorruptionError(number, 'data-hash', `data hash ${toHex(dataHash)} != header ${toHex(header.dataHash)}`, where);
  }
  return new LazyStoredBlock(number, headerAndData, metadataField, blockHeaderHash(header), block);
}

/** Block `number` (below `height`) as stored and checked; CorruptionError when missing or damaged. */
export function readStored(records: BlockRecords, number: number, height: number): LazyStoredBlock {
  const { blocksDb, metadataDb, file } = records;
  const key = blockKey(number);
  const bytes = guardLmdb(file, () => blocksDb.get(key), number);
  if (bytes === undefined) throw new CorruptionError(number, 'missing-block', `block ${number} is below height ${height} but not stored`, { file });
  if (number < records.splitFrom) return checkStored(number, bytes, EMPTY, file);
  const record = guardLmdb(file, () => metadataDb.get(key), number);
  if (record === undefined) throw new CorruptionError(number, 'missing-metadata', `block ${number} has no metadata record`, { file });
  return checkStored(number, bytes, metadataFieldOfRecord(record, number, file), file);
}

/** A block (or its metadata record) stored at or above the recorded height would mean a write landed without its tip. */
export function checkNothingAbove(records: BlockRecords, height: number): void {
  const { file } = records;
  for (const db of [records.blocksDb, records.metadataDb]) {
    const keys = guardLmdb(file, () => [...db.getKeys({ start: blockKey(height), limit: 1 })]);
    for (const key of keys) {
      const number = blockNumberOfKey(key);
      const what = db === records.blocksDb ? 'block' : 'the metadata of block';
      throw new CorruptionError(number, 'extra-block', `${what} ${number} is stored above height ${height}`, { file });
    }
  }
}

/** Cheap open-time check: the newest block matches the recorded tip and nothing lies beyond it. */
export function checkTip(records: BlockRecords, tip: Tip): void {
  if (tip.height > 0) {
    const number = tip.height - 1;
    const last = readStored(records, number, tip.height);
    if (!bytesEqual(last.headerHash, tip.lastHash)) {
      throw new CorruptionError(number, 'tip-mismatch', 'the recorded hash of the last block differs from the stored block', { file: records.file });
    }
  }
  checkNothingAbove(records, tip.height);
}
