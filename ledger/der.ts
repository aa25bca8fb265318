// The DER encoding of a block header that Fabric hashes (asn1.Marshal of a struct holding a big.Int
// number and two byte slices): SEQUENCE { INTEGER number, OCTET STRING previous_hash,
// OCTET STRING data_hash }. The protobuf encoding of the header is never hashed, so this is the one
// place where byte-exact compatibility with Go's encoding/asn1 decides whether chains interoperate.

const TAG_INTEGER = 0x02;
const TAG_OCTET_STRING = 0x04;
const TAG_SEQUENCE = 0x30;

/** Largest unsigned value a block number may take on the wire (uint64). */
const MAX_UINT64 = (1n << 64n) - 1n;

/**
 * Content octets of a non-negative INTEGER: minimal big-endian two's complement (X.690 §8.3.2),
 * so a leading 0x00 appears exactly when the top bit of the first magnitude byte is set.
 */
export function derUnsignedIntegerContent(value: bigint): Uint8Array {
  if (value < 0n || value > MAX_UINT64) throw new RangeError(`block number ${value} is outside uint64`);
  const magnitude: number[] = [];
  let rest = value;
  do {
    magnitude.push(Number(rest & 0xffn));
    rest >>= 8n;
  } while (rest > 0n);
  magnitude.reverse();
  if ((magnitude[0] ?? 0) & 0x80) magnitude.unshift(0);
  return Uint8Array.from(magnitude);
}

/** Length octets (X.690 §8.1.3): short form below 128, otherwise 0x80|n followed by n big-endian bytes. */
export function derLength(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad DER length ${length}`);
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  let rest = length;
  while (rest > 0) {
    bytes.push(rest % 256);
    rest = Math.floor(rest / 256);
  }
  bytes.reverse();
  return Uint8Array.from([0x80 | bytes.length, ...bytes]);
}

function tlvSize(contentBytes: number): number {
  return 1 + derLength(contentBytes).length + contentBytes;
}

function writeTlv(out: Uint8Array, offset: number, tag: number, content: Uint8Array): number {
  out[offset++] = tag;
  const len = derLength(content.length);
  out.set(len, offset);
  offset += len.length;
  out.set(content, offset);
  return offset + content.length;
}

/** DER of the header triple; `number` may be a bigint to reach uint64 values above 2^53. */
export function derBlockHeader(number: number | bigint, previousHash: Uint8Array, dataHash: Uint8Array): Uint8Array {
  if (typeof number === 'number' && !Number.isSafeInteger(number)) {
    throw new RangeError(`block number ${number} is not an exact integer`);
  }
  const integer = derUnsignedIntegerContent(BigInt(number));
  const bodyBytes = tlvSize(integer.length) + tlvSize(previousHash.length) + tlvSize(dataHash.length);
  const seqLen = derLength(bodyBytes);
  const out = new Uint8Array(1 + seqLen.length + bodyBytes);
  out[0] = TAG_SEQUENCE;
  out.set(seqLen, 1);
  let offset = 1 + seqLen.length;
  offset = writeTlv(out, offset, TAG_INTEGER, integer);
  offset = writeTlv(out, offset, TAG_OCTET_STRING, previousHash);
  writeTlv(out, offset, TAG_OCTET_STRING, dataHash);
  return out;
}
