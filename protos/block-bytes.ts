// A marshaled Block in one allocation, byte for byte what common.Block.encode writes.
//
// Every orderer encodes each block it writes (the leader also each block it proposes). The
// generated encoder goes through protobufjs's Writer, which records an operation object per
// field (two per envelope: its tag and its bytes) and a fork state per nested message, then copies
// everything into the final buffer: with 400-envelope blocks that was 1.5-2% of each node's CPU
// and a steady share of its short-lived garbage. A block is three nested messages of plain bytes
// fields, so its size is known up front: one buffer, each envelope copied once.
//
// Only the block header (three small fields, a uint64 among them) still goes through the
// generated encoder, so its number is written exactly as there, 2^64 wrap-around included.
// test/protos/block-bytes.test.ts holds the two encoders to the same bytes.
//
// A block written to the ledger whole (a node keeps most as the Raft entry's header and data
// plus their metadata field, encodeBlockMetadataField) is encoded with room in front of it
// (`withFrameRoom`): Deliver sends it as a DeliverResponse, which is the block's bytes behind a
// tag and a length, and with the room there that prefix is written in place instead of copying
// the whole block into a new buffer (frameLengthDelimited). Each such copy was a block-sized ArrayBuffer per block on every
// node, and V8 counts the ArrayBuffer memory allocated since the last full collection against the
// old generation's limit: those copies were a sixth of what started each node's mark-compacts.
import { encodeBlockHeader, type BlockInit, type BlockMetadataInit } from './gen/common';
import { varintSize, writeVarint, Writer } from './runtime';

/** Field 1, 2 or 3, wire type 2 (length-delimited): the only tags a Block and its parts use. */
const TAG_FIELD_1 = 0x0a;
const TAG_FIELD_2 = 0x12;
const TAG_FIELD_3 = 0x1a;

/** Bytes of repeated bytes field 1 holding `items`. */
function itemsSize(items: readonly Uint8Array[]): number {
  let size = 0;
  for (const item of items) size += 1 + varintSize(item.length) + item.length;
  return size;
}

function writeItems(out: Buffer, at: number, items: readonly Uint8Array[]): number {
  let pos = at;
  for (const item of items) {
    out[pos++] = TAG_FIELD_1;
    pos = writeVarint(out, pos, item.length);
    out.set(item, pos);
    pos += item.length;
  }
  return pos;
}

/** Room for a length-delimited field's prefix: a one-byte tag and up to five bytes of length (below 32 GiB). */
const FRAME_ROOM_BYTES = 6;

/**
 * Buffers encoded with room in front, each with the tag last written there (0: none yet). The room
 * is written only by frameLengthDelimited and only ever with one tag per buffer, so two streams
 * framing the same block write the same bytes; a buffer asked for with another tag is copied.
 */
const frameRoom = new WeakMap<Uint8Array, number>();

export interface EncodeBlockOptions {
  /** Leave room in front for frameLengthDelimited to write a field prefix in place (blocks the ledger keeps). */
  readonly withFrameRoom?: boolean;
}

/** common.Block.encode(block), without protobufjs's Writer for the envelopes and metadata. */
export function encodeBlockBytes(block: BlockInit, options: EncodeBlockOptions = {}): Buffer {
  const header = block.header != null ? encodeBlockHeader(Writer.create(), block.header).finish() : undefined;
  const data = block.data == null ? undefined : (block.data.data ?? []);
  const metadata = block.metadata == null ? undefined : (block.metadata.metadata ?? []);
  const dataSize = data === undefined ? 0 : itemsSize(data);
  const metadataSize = metadata === undefined ? 0 : itemsSize(metadata);
  let size = 0;
  if (header !== undefined) size += 1 + varintSize(header.length) + header.length;
  if (data !== undefined) size += 1 + varintSize(dataSize) + dataSize;
  if (metadata !== undefined) size += 1 + varintSize(metadataSize) + metadataSize;
  const room = options.withFrameRoom === true ? FRAME_ROOM_BYTES : 0;
  const out = Buffer.allocUnsafe(room + size);
  let at = room;
  if (header !== undefined) {
    out[at++] = TAG_FIELD_1;
    at = writeVarint(out, at, header.length);
    out.set(header, at);
    at += header.length;
  }
  if (data !== undefined) {
    out[at++] = TAG_FIELD_2;
    at = writeVarint(out, at, dataSize);
    at = writeItems(out, at, data);
  }
  if (metadata !== undefined) {
    out[at++] = TAG_FIELD_3;
    at = writeVarint(out, at, metadataSize);
    at = writeItems(out, at, metadata);
  }
  if (at !== room + size) throw new Error(`block encoding wrote ${at - room} bytes, expected ${size}`);
  if (room === 0) return out;
  const bytes = out.subarray(room);
  frameRoom.set(bytes, 0);
  return bytes;
}

/**
 * The metadata field that ends a marshaled block (tag, length, BlockMetadata), byte for byte what
 * common.Block.encode writes for it; empty when there is no metadata. A node stores each block it
 * applies as the Raft entry's header and data (blockMetadataOffset) followed by this field, so that
 * only these few bytes are new: the entry's are not copied into a block-sized buffer of its own.
 */
export function encodeBlockMetadataField(metadata: BlockMetadataInit | null | undefined): Buffer {
  if (metadata == null) return Buffer.alloc(0);
  const items = metadata.metadata ?? [];
  const size = itemsSize(items);
  const out = Buffer.allocUnsafe(1 + varintSize(size) + size);
  out[0] = TAG_FIELD_3;
  const at = writeItems(out, writeVarint(out, 1, size), items);
  if (at !== out.length) throw new Error(`block metadata encoding wrote ${at} bytes, expected ${out.length}`);
  return out;
}

/** A varint at `pos` below 2^32 (a field length): [value, position after it], or undefined. */
function readLength(bytes: Uint8Array, pos: number): [number, number] | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const byte = bytes[pos + i];
    if (byte === undefined) return undefined;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if (byte < 0x80) return value < 2 ** 32 ? [value, pos + i + 1] : undefined;
  }
  return undefined;
}

/**
 * Where the metadata field of a marshaled block begins (bytes.length when it has none), when the
 * bytes are the header field, the data field and the metadata field in that order, each at most
 * once and nothing else: what our encoders and Go's proto.Marshal write. Then the bytes before it
 * followed by encodeBlockMetadataField(m) are the same block with its metadata replaced by m.
 * undefined for any other layout (fields repeated, reordered or unknown).
 */
export function blockMetadataOffset(bytes: Uint8Array): number | undefined {
  let pos = 0;
  let lastTag = 0;
  while (pos < bytes.length) {
    const tag = bytes[pos]!;
    if ((tag !== TAG_FIELD_1 && tag !== TAG_FIELD_2 && tag !== TAG_FIELD_3) || tag <= lastTag) return undefined;
    const length = readLength(bytes, pos + 1);
    if (length === undefined) return undefined;
    const end = length[1] + length[0];
    if (end > bytes.length) return undefined;
    if (tag === TAG_FIELD_3) return end === bytes.length ? pos : undefined;
    lastTag = tag;
    pos = end;
  }
  return pos;
}

/** frameLengthDelimited(tag, bytes) would write in place, sharing memory with `bytes`. */
export function hasFrameRoom(tag: number, bytes: Uint8Array): boolean {
  const written = frameRoom.get(bytes);
  return written !== undefined && (written === 0 || written === tag);
}

/**
 * `bytes` as the value of length-delimited field `tag` (a message whose only field that is): the
 * tag, the length, the bytes. Written in place in the room of a buffer encodeBlockBytes left it
 * (no copy; the result shares memory with `bytes`), copied otherwise.
 */
export function frameLengthDelimited(tag: number, bytes: Uint8Array): Buffer {
  const length = bytes.length;
  const prefixBytes = 1 + varintSize(length);
  if (hasFrameRoom(tag, bytes)) {
    const out = Buffer.from(bytes.buffer, bytes.byteOffset - prefixBytes, prefixBytes + length);
    out[0] = tag;
    writeVarint(out, 1, length);
    frameRoom.set(bytes, tag);
    return out;
  }
  const out = Buffer.allocUnsafe(prefixBytes + length);
  out[0] = tag;
  writeVarint(out, 1, length);
  out.set(bytes, prefixBytes);
  return out;
}

/** `bytes[at..]` starts with `expected`. */
function startsWith(bytes: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i++) if (bytes[at + i] !== expected[i]) return false;
  return true;
}

/** A field's tag and its minimal length varint. */
function fieldPrefix(tag: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(1 + varintSize(length));
  out[0] = tag;
  writeVarint(out, 1, length);
  return out;
}

/**
 * Whether `bytes` (a block's header and data fields, no metadata) are exactly what
 * common.Block.encode writes for `block`'s header and data, `block` having been decoded from them
 * (its envelopes are views into `bytes`): the header re-encoded (a few dozen bytes) is compared,
 * the envelopes only by where they lie. No block-sized work.
 */
export function isCanonicalHeaderAndData(block: BlockInit, bytes: Uint8Array): boolean {
  let at = 0;
  if (block.header != null) {
    const header = encodeBlockHeader(Writer.create(), block.header).finish();
    const prefix = fieldPrefix(TAG_FIELD_1, header.length);
    if (!startsWith(bytes, at, prefix) || !startsWith(bytes, at + prefix.length, header)) return false;
    at += prefix.length + header.length;
  }
  if (block.data != null) {
    const items = block.data.data ?? [];
    const prefix = fieldPrefix(TAG_FIELD_2, itemsSize(items));
    if (!startsWith(bytes, at, prefix)) return false;
    at += prefix.length;
    for (const item of items) {
      const itemPrefix = fieldPrefix(TAG_FIELD_1, item.length);
      if (!startsWith(bytes, at, itemPrefix)) return false;
      at += itemPrefix.length;
      if (item.length > 0 && (item.buffer !== bytes.buffer || item.byteOffset !== bytes.byteOffset + at)) return false;
      at += item.length;
    }
  }
  return at === bytes.length;
}
