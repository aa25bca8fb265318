// Shared protobuf runtime for the generated codecs in protos/gen/.
// protobufjs represents 64-bit integers as Long objects when the "long" package is
// present; we use plain numbers everywhere (block numbers, Raft terms and indexes stay
// far below 2^53), so Long support is switched off before any Reader is created.
import protobuf from 'protobufjs/minimal';

protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

type Long64 = 'uint64' | 'int64' | 'sint64' | 'fixed64' | 'sfixed64';
/** protobufjs' Reader with 64-bit reads typed as the numbers they return once Long is off. */
export interface Reader extends Omit<protobuf.Reader, Long64> {
  uint64(): number;
  int64(): number;
  sint64(): number;
  fixed64(): number;
  sfixed64(): number;
}

/** Node's native Latin-1 slice, which works on any Uint8Array (not only Buffers). */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/**
 * The plain Reader with a faster string(): protobufjs decodes UTF-8 in JavaScript, about
 * 530 ns for a 64-character tx id, and every orderer decodes each envelope's tx id several
 * times (checks, cutter, ledger index). ASCII, which tx ids, channel names and MSP ids are, is
 * sliced natively instead (about 60 ns); anything else goes through protobufjs' decoder as
 * before, so the result is the same for every input, valid UTF-8 or not.
 */
class PlainReader extends protobuf.Reader {
  override string(): string {
    const length = this.uint32();
    const start = this.pos;
    const end = start + length;
    // protobufjs' own message for a length past the end.
    if (end > this.len) throw new RangeError(`index out of range: ${start} + ${length || 1} > ${this.len}`);
    this.pos = end;
    const buf = this.buf;
    for (let i = start; i < end; i++) {
      if ((buf[i] as number) >= 0x80) return protobuf.util.utf8.read(buf, start, end);
    }
    return latin1Slice.call(buf, start, end);
  }
}

export const Reader = {
  // Always the plain Reader: protobufjs' BufferReader (picked for Node Buffers, which is
  // what gRPC hands us) cuts a string field that runs past the end of the input short
  // instead of failing, so a truncated message would decode "successfully".
  create: (bytes: Uint8Array): Reader => new PlainReader(bytes) as unknown as Reader,
};
export const Writer = protobuf.Writer;
export type Writer = protobuf.Writer;

/**
 * Shared empty value for absent bytes fields. Never mutate it.
 * In raftpb (proto2, gogoproto) a bytes field is either nil (not on the wire) or present,
 * possibly empty. Decoding gives this very array for nil and a fresh one for
 * present-but-empty, and the encoder skips a bytes field only when it is undefined or
 * this array, so a decoded raft message re-encodes to the bytes it came from.
 */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

export interface MessageCodec<T, TInit> {
  readonly typeName: string;
  encode(message: TInit): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** Bytes that do not parse as the expected message. */
export class ProtoDecodeError extends Error {
  constructor(
    readonly typeName: string,
    reason: string,
  ) {
    super(`malformed ${typeName}: ${reason}`);
    this.name = 'ProtoDecodeError';
  }
}

/** A structural fault found while decoding; decodeWith turns it into a ProtoDecodeError. */
class WireError extends Error {}

export function decodeWith<T>(bytes: Uint8Array, typeName: string, decode: (r: Reader, end: number) => T): T {
  try {
    const r = Reader.create(bytes);
    return decode(r, r.len);
  } catch (err) {
    // protobufjs reports truncation as RangeError/Error; a hostile nesting depth ends in a
    // stack overflow (also a RangeError). All of them mean "these bytes are not a T".
    throw new ProtoDecodeError(typeName, err instanceof Error ? err.message : String(err));
  }
}

/** End offset of the length-delimited value at the reader, checked against the buffer. */
export function delimitedEnd(r: Reader): number {
  const at = r.pos;
  const len = r.uint32();
  const end = r.pos + len;
  if (end > r.len) throw new WireError(`length ${len} at offset ${at} runs past the end of the ${r.len} bytes`);
  return end;
}

export function wireTypeError(typeName: string, field: number, wireType: number): Error {
  return new WireError(`field ${field} of ${typeName} has wire type ${wireType}, which its type never uses`);
}

/** Skips a field we do not know, as proto3 requires; field number 0 never occurs in valid bytes. */
export function skipUnknown(r: Reader, tag: number, typeName: string): void {
  if (tag >>> 3 === 0) throw new WireError(`field number 0 in ${typeName} at offset ${r.pos}`);
  r.skipType(tag & 7);
}

/** A length-delimited value (message, packed run, map entry) must end exactly where its prefix said. */
export function checkEnd(r: Reader, end: number, typeName: string): void {
  if (r.pos !== end) throw new WireError(`${typeName} overruns its length (ends at ${r.pos}, expected ${end})`);
}

const TWO_POW_64 = 18446744073709551616;
/**
 * protobufjs wraps numbers >= 2^64 around to 0; the nearest uint64 is 2^64-1. This matters
 * because 2^64-1 itself (Fabric's "seek forever" stop) decodes to the double 2^64 and must
 * re-encode as 2^64-1, not 0. -1 as int64 has the same ten varint bytes as 2^64-1.
 */
/** Bytes a non-negative integer takes as a protobuf varint (1 to 10). */
export function varintSize(n: number): number {
  let size = 1;
  for (let v = n; v >= 128; v = Math.floor(v / 128)) size++;
  return size;
}

/**
 * Writes a non-negative integer (below 2^53) as a protobuf varint into `buf` at `pos`; returns the
 * position after it. For hand-written encoders that size their output first (varintSize).
 */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  let at = pos;
  let v = n;
  while (v >= 128) {
    buf[at++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

export function writeUint64(w: Writer, v: number): Writer {
  return v >= TWO_POW_64 ? w.int64(-1) : w.uint64(v);
}
export function writeFixed64(w: Writer, v: number): Writer {
  return v >= TWO_POW_64 ? w.fixed64(-1) : w.fixed64(v);
}

/** A map decoded from the wire: no prototype, so keys like "__proto__" or "constructor" are plain entries. */
export function newMap<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}
