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
import { encodeBlockHeader, type BlockInit } from './gen/common';
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

/** common.Block.encode(block), without protobufjs's Writer for the envelopes and metadata. */
export function encodeBlockBytes(block: BlockInit): Buffer {
  const header = block.header != null ? encodeBlockHeader(Writer.create(), block.header).finish() : undefined;
  const data = block.data == null ? undefined : (block.data.data ?? []);
  const metadata = block.metadata == null ? undefined : (block.metadata.metadata ?? []);
  const dataSize = data === undefined ? 0 : itemsSize(data);
  const metadataSize = metadata === undefined ? 0 : itemsSize(metadata);
  let size = 0;
  if (header !== undefined) size += 1 + varintSize(header.length) + header.length;
  if (data !== undefined) size += 1 + varintSize(dataSize) + dataSize;
  if (metadata !== undefined) size += 1 + varintSize(metadataSize) + metadataSize;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
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
  if (at !== size) throw new Error(`block encoding wrote ${at} bytes, expected ${size}`);
  return out;
}
