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
export const Reader = {
  create: (bytes: Uint8Array): Reader => protobuf.Reader.create(bytes) as unknown as Reader,
};
export const Writer = protobuf.Writer;
export type Writer = protobuf.Writer;

/** Shared empty value for absent bytes fields. Never mutate it. */
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

export function decodeWith<T>(bytes: Uint8Array, typeName: string, decode: (r: Reader, end: number) => T): T {
  try {
    const r = Reader.create(bytes);
    return decode(r, r.len);
  } catch (err) {
    throw new ProtoDecodeError(typeName, err instanceof Error ? err.message : String(err));
  }
}
