// On-disk record format of the WAL.
//
// A segment file is a sequence of records, each a 16-byte header followed by its payload:
//
//   offset 0  u32 LE  CRC-32 of bytes 4.. to the end of the payload (header rest + payload),
//                     first so that one contiguous CRC call covers everything it protects
//   offset 4  u32 LE  magic 0x5A5AE1C7 (bytes C7 E1 5A 5A): lets a scan for "valid data after a
//                     bad record" jump between candidate record starts instead of trying every byte
//   offset 8  u8      record type (RecordType)
//   offset 9  3 bytes zero (reserved)
//   offset 12 u32 LE  payload length in bytes
//
// The CRC is per record, not chained: every record can be verified on its own, which is what
// tells a torn tail (nothing valid after the bad record) from corruption in the middle
// (valid records after it). Stale records cannot be mistaken for new ones because a segment
// is only ever truncated (never reused) and records are appended strictly after the last
// valid one. Payloads:
//   SegmentHeader  u32 format version, u32 zero, u64 segment sequence, u64 first index
//   HardState      raftpb.HardState bytes
//   Entry          raftpb.Entry bytes (one record per entry)
//   Snapshot       u64 index, u64 term, u8 kind (0 = local compaction point, 1 = installed
//                  snapshot, which replaces the whole log)
import { EMPTY_BYTES, raftpb, varintSize, writeVarint } from '../../protos';
import { crc32 } from './crc32';

export const RECORD_MAGIC = 0x5a5ae1c7;
export const RECORD_HEADER_BYTES = 16;
export const WAL_FORMAT_VERSION = 1;
/** Larger than any entry Fabric can produce (AbsoluteMaxBytes is 10 MiB plus envelope overhead). */
export const MAX_RECORD_PAYLOAD_BYTES = 256 * 1024 * 1024;

export enum RecordType {
  SegmentHeader = 1,
  HardState = 2,
  Entry = 3,
  Snapshot = 4,
}

export enum SnapshotKind {
  /** The application compacted its own log: entries are unaffected. */
  Local = 0,
  /** A snapshot from the leader replaced the whole log (Ready.snapshot). */
  Installed = 1,
}

export interface SegmentHeader {
  formatVersion: number;
  seq: number;
  firstIndex: number;
}

export interface SnapshotMarker {
  index: number;
  term: number;
  kind: SnapshotKind;
}

export type WalRecord =
  | { type: RecordType.SegmentHeader; header: SegmentHeader }
  | { type: RecordType.HardState; hardState: raftpb.HardState }
  | { type: RecordType.Entry; entry: raftpb.Entry }
  | { type: RecordType.Snapshot; marker: SnapshotMarker };

const TWO_POW_32 = 0x1_0000_0000;

function putU64(buf: Buffer, pos: number, n: number): void {
  buf.writeUInt32LE(n % TWO_POW_32, pos);
  buf.writeUInt32LE(Math.floor(n / TWO_POW_32), pos + 4);
}

/** Whether the hand-written Entry encoding below applies (it covers every entry Raft makes). */
function isPlainEntry(e: raftpb.Entry): boolean {
  return e.type >= 0 && Number.isSafeInteger(e.term) && e.term >= 0 && Number.isSafeInteger(e.index) && e.index >= 0;
}

function entryHasData(e: raftpb.Entry): boolean {
  return e.data != null && e.data !== EMPTY_BYTES;
}

/** Size of raftpb.Entry as encoded below: the same bytes as raftpb.Entry.encode. */
function entryPayloadBytes(e: raftpb.Entry): number {
  let n = 3 + varintSize(e.type) + varintSize(e.term) + varintSize(e.index);
  if (entryHasData(e)) n += 1 + varintSize(e.data.length) + e.data.length;
  return n;
}

function putEntry(buf: Buffer, pos: number, e: raftpb.Entry): number {
  buf[pos++] = 0x08; // field 1 (type), varint
  pos = writeVarint(buf, pos, e.type);
  buf[pos++] = 0x10; // field 2 (term), varint
  pos = writeVarint(buf, pos, e.term);
  buf[pos++] = 0x18; // field 3 (index), varint
  pos = writeVarint(buf, pos, e.index);
  if (entryHasData(e)) {
    buf[pos++] = 0x22; // field 4 (data), length-delimited
    pos = writeVarint(buf, pos, e.data.length);
    buf.set(e.data, pos);
    pos += e.data.length;
  }
  return pos;
}

type Pending =
  | { type: RecordType.Entry; entry: raftpb.Entry; payloadBytes: number }
  | { type: Exclude<RecordType, RecordType.Entry>; payload: Uint8Array };

/**
 * Accumulates records and lays them out in one buffer, so that a whole Ready reaches the disk
 * with a single write. Entries, the bulk of the bytes, are encoded by hand straight into that
 * buffer (one copy of their data, no per-entry allocation); the rare small records go through
 * the generated codecs.
 */
export class RecordBatchEncoder {
  private readonly pending: Pending[] = [];
  private totalBytes = 0;

  private add(p: Pending, payloadBytes: number): this {
    this.pending.push(p);
    this.totalBytes += RECORD_HEADER_BYTES + payloadBytes;
    return this;
  }

  segmentHeader(h: SegmentHeader): this {
    const payload = Buffer.alloc(24);
    payload.writeUInt32LE(h.formatVersion, 0);
    putU64(payload, 8, h.seq);
    putU64(payload, 16, h.firstIndex);
    return this.add({ type: RecordType.SegmentHeader, payload }, payload.length);
  }

  hardState(hs: raftpb.HardState): this {
    const payload = raftpb.HardState.encode(hs);
    return this.add({ type: RecordType.HardState, payload }, payload.length);
  }

  entry(e: raftpb.Entry): this {
    if (!isPlainEntry(e)) throw new RangeError(`entry with type ${e.type}, term ${e.term}, index ${e.index} cannot be logged`);
    const payloadBytes = entryPayloadBytes(e);
    return this.add({ type: RecordType.Entry, entry: e, payloadBytes }, payloadBytes);
  }

  snapshot(m: SnapshotMarker): this {
    const payload = Buffer.alloc(17);
    putU64(payload, 0, m.index);
    putU64(payload, 8, m.term);
    payload[16] = m.kind;
    return this.add({ type: RecordType.Snapshot, payload }, payload.length);
  }

  get recordCount(): number {
    return this.pending.length;
  }

  get sizeBytes(): number {
    return this.totalBytes;
  }

  /**
   * Lays the records out, in `scratch` when it is large enough (the returned buffer is then a
   * view of it, valid until scratch is reused): reusing one buffer across writes avoids a
   * fresh allocation and its page faults per Ready, which cost more than the encoding itself.
   */
  finish(scratch?: Buffer): Buffer {
    const buf = scratch !== undefined && scratch.length >= this.totalBytes ? scratch.subarray(0, this.totalBytes) : Buffer.allocUnsafe(this.totalBytes);
    let pos = 0;
    for (const p of this.pending) {
      const start = pos;
      const payloadStart = start + RECORD_HEADER_BYTES;
      let end: number;
      if (p.type === RecordType.Entry) {
        end = putEntry(buf, payloadStart, p.entry);
      } else {
        buf.set(p.payload, payloadStart);
        end = payloadStart + p.payload.length;
      }
      const payloadBytes = end - payloadStart;
      if (payloadBytes > MAX_RECORD_PAYLOAD_BYTES) {
        throw new RangeError(`WAL record of ${payloadBytes} bytes exceeds the limit of ${MAX_RECORD_PAYLOAD_BYTES}`);
      }
      buf.writeUInt32LE(RECORD_MAGIC, start + 4);
      buf.writeUInt32LE(p.type, start + 8); // type byte followed by three zero bytes
      buf.writeUInt32LE(payloadBytes, start + 12);
      buf.writeUInt32LE(crc32(buf.subarray(start + 4, end)), start);
      pos = end;
    }
    if (pos !== buf.length) throw new Error(`WAL batch encoding wrote ${pos} of ${buf.length} bytes`);
    return buf;
  }
}

/** Why the bytes at some offset are not a valid record. */
export type RecordFault =
  | 'truncated header'
  | 'bad magic'
  | 'unknown record type'
  | 'length past end of file'
  | 'crc mismatch'
  | 'undecodable payload';

export type ParseResult =
  | { ok: true; record: WalRecord; nextOffset: number }
  | { ok: false; fault: RecordFault };

/** Checks framing and CRC of the record at `offset` without decoding its payload. */
export function checkFrame(buf: Buffer, offset: number): { ok: true; payloadBytes: number } | { ok: false; fault: RecordFault } {
  if (buf.length - offset < RECORD_HEADER_BYTES) return { ok: false, fault: 'truncated header' };
  if (buf.readUInt32LE(offset + 4) !== RECORD_MAGIC) return { ok: false, fault: 'bad magic' };
  const type = buf[offset + 8]!;
  if (type < RecordType.SegmentHeader || type > RecordType.Snapshot || buf[offset + 9] !== 0 || buf[offset + 10] !== 0 || buf[offset + 11] !== 0) {
    return { ok: false, fault: 'unknown record type' };
  }
  const payloadBytes = buf.readUInt32LE(offset + 12);
  if (payloadBytes > MAX_RECORD_PAYLOAD_BYTES || offset + RECORD_HEADER_BYTES + payloadBytes > buf.length) {
    return { ok: false, fault: 'length past end of file' };
  }
  if (crc32(buf.subarray(offset + 4, offset + RECORD_HEADER_BYTES + payloadBytes)) !== buf.readUInt32LE(offset)) {
    return { ok: false, fault: 'crc mismatch' };
  }
  return { ok: true, payloadBytes };
}

function readU64(buf: Buffer, offset: number): number {
  const n = buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * TWO_POW_32;
  if (!Number.isSafeInteger(n)) throw new RangeError('u64 beyond 2^53');
  return n;
}

function decodePayload(type: RecordType, payload: Buffer): WalRecord {
  switch (type) {
    case RecordType.SegmentHeader:
      if (payload.length !== 24) throw new RangeError('segment header must be 24 bytes');
      return {
        type,
        header: { formatVersion: payload.readUInt32LE(0), seq: readU64(payload, 8), firstIndex: readU64(payload, 16) },
      };
    case RecordType.HardState:
      return { type, hardState: raftpb.HardState.decode(payload) };
    case RecordType.Entry:
      return { type, entry: raftpb.Entry.decode(payload) };
    case RecordType.Snapshot: {
      if (payload.length !== 17) throw new RangeError('snapshot marker must be 17 bytes');
      const kind = payload[16]!;
      if (kind !== SnapshotKind.Local && kind !== SnapshotKind.Installed) throw new RangeError(`unknown snapshot kind ${kind}`);
      return { type, marker: { index: readU64(payload, 0), term: readU64(payload, 8), kind } };
    }
  }
}

/**
 * Parses the record at `offset`. The payload is copied out of `buf` first, so decoded entries
 * keep only their own bytes alive, not the whole segment they were read from.
 */
export function parseRecord(buf: Buffer, offset: number): ParseResult {
  const frame = checkFrame(buf, offset);
  if (!frame.ok) return frame;
  const start = offset + RECORD_HEADER_BYTES;
  const payload = Buffer.from(buf.subarray(start, start + frame.payloadBytes));
  try {
    const record = decodePayload(buf[offset + 8] as RecordType, payload);
    return { ok: true, record, nextOffset: start + frame.payloadBytes };
  } catch {
    return { ok: false, fault: 'undecodable payload' };
  }
}

const MAGIC_BYTES = Buffer.alloc(4);
MAGIC_BYTES.writeUInt32LE(RECORD_MAGIC, 0);

/**
 * True when some offset after `from` holds a record whose frame and CRC check out: then the
 * bad bytes before it are damage inside written data, not the unfinished tail of the last
 * write. Candidates are found by searching for the magic, so this is linear in practice.
 */
export function findValidRecordAfter(buf: Buffer, from: number): number | undefined {
  let pos = buf.indexOf(MAGIC_BYTES, from + 4);
  while (pos !== -1) {
    if (checkFrame(buf, pos - 4).ok) return pos - 4;
    pos = buf.indexOf(MAGIC_BYTES, pos + 1);
  }
  return undefined;
}
