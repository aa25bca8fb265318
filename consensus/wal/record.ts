// On-disk record format of the WAL.
//
// A segment file is a sequence of records, each a 16-byte header followed by its payload:
//
//   offset 0  u32 LE  magic 0x5A5AE1C7 (bytes C7 E1 5A 5A): lets a scan for "valid data after a
//                     bad record" jump between candidate record starts instead of trying every byte
//   offset 4  u8      record type (RecordType)
//   offset 5  3 bytes zero (reserved)
//   offset 8  u32 LE  payload length in bytes
//   offset 12 u32 LE  CRC-32 of header bytes 0..11 followed by the payload
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
import { raftpb } from '../../protos';
import { Writer } from '../../protos/runtime';
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

function writeU64(w: Writer, n: number): void {
  w.fixed32(n % TWO_POW_32);
  w.fixed32(Math.floor(n / TWO_POW_32));
}

/**
 * Accumulates records into one buffer, so that a whole Ready reaches the disk with a single
 * write. Payloads are encoded straight into protobufjs' writer (one copy of entry data), then
 * lengths and CRCs are patched in once the final buffer exists.
 */
export class RecordBatchEncoder {
  private readonly w: Writer = Writer.create();
  private readonly starts: number[] = [];

  private begin(type: RecordType): void {
    this.starts.push(this.w.len);
    this.w.fixed32(RECORD_MAGIC);
    this.w.fixed32(type); // type byte followed by three zero bytes
    this.w.fixed32(0); // payload length, patched in finish()
    this.w.fixed32(0); // CRC, patched in finish()
  }

  segmentHeader(h: SegmentHeader): this {
    this.begin(RecordType.SegmentHeader);
    this.w.fixed32(h.formatVersion);
    this.w.fixed32(0);
    writeU64(this.w, h.seq);
    writeU64(this.w, h.firstIndex);
    return this;
  }

  hardState(hs: raftpb.HardStateInit): this {
    this.begin(RecordType.HardState);
    raftpb.encodeHardState(this.w, hs);
    return this;
  }

  entry(e: raftpb.EntryInit): this {
    this.begin(RecordType.Entry);
    raftpb.encodeEntry(this.w, e);
    return this;
  }

  snapshot(m: SnapshotMarker): this {
    this.begin(RecordType.Snapshot);
    writeU64(this.w, m.index);
    writeU64(this.w, m.term);
    this.w.uint32(m.kind); // a one-byte varint for 0 and 1
    return this;
  }

  get recordCount(): number {
    return this.starts.length;
  }

  finish(): Buffer {
    const raw = this.w.finish();
    const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const n = this.starts.length;
    for (let i = 0; i < n; i++) {
      const start = this.starts[i]!;
      const end = i + 1 < n ? this.starts[i + 1]! : buf.length;
      const payloadBytes = end - start - RECORD_HEADER_BYTES;
      if (payloadBytes > MAX_RECORD_PAYLOAD_BYTES) {
        throw new RangeError(`WAL record of ${payloadBytes} bytes exceeds the limit of ${MAX_RECORD_PAYLOAD_BYTES}`);
      }
      buf.writeUInt32LE(payloadBytes, start + 8);
      const headerCrc = crc32(buf.subarray(start, start + 12));
      buf.writeUInt32LE(crc32(buf.subarray(start + RECORD_HEADER_BYTES, end), headerCrc), start + 12);
    }
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
  if (buf.readUInt32LE(offset) !== RECORD_MAGIC) return { ok: false, fault: 'bad magic' };
  const type = buf[offset + 4]!;
  if (type < RecordType.SegmentHeader || type > RecordType.Snapshot || buf[offset + 5] !== 0 || buf[offset + 6] !== 0 || buf[offset + 7] !== 0) {
    return { ok: false, fault: 'unknown record type' };
  }
  const payloadBytes = buf.readUInt32LE(offset + 8);
  if (payloadBytes > MAX_RECORD_PAYLOAD_BYTES || offset + RECORD_HEADER_BYTES + payloadBytes > buf.length) {
    return { ok: false, fault: 'length past end of file' };
  }
  const headerCrc = crc32(buf.subarray(offset, offset + 12));
  const payload = buf.subarray(offset + RECORD_HEADER_BYTES, offset + RECORD_HEADER_BYTES + payloadBytes);
  if (crc32(payload, headerCrc) !== buf.readUInt32LE(offset + 12)) return { ok: false, fault: 'crc mismatch' };
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
    const record = decodePayload(buf[offset + 4] as RecordType, payload);
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
  let pos = buf.indexOf(MAGIC_BYTES, from);
  while (pos !== -1) {
    if (checkFrame(buf, pos).ok) return pos;
    pos = buf.indexOf(MAGIC_BYTES, pos + 1);
  }
  return undefined;
}

/** True when every byte from `from` to the end is zero (a preallocated or zero-filled tail). */
export function isZeroFrom(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}
