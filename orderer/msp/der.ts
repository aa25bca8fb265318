// Byte-exact helpers under the X.509 code: a minimal DER TLV reader (to slice the exact bytes Go
// compares or hashes: the TBS, issuer and subject names, the public key info), PEM decoding with
// Go's encoding/pem rules, and big-endian integer conversions. Semantic parsing of certificates
// and CRLs goes through @peculiar/asn1-x509; this file only finds where things are.

/** A DER element: `tag` is the identifier octet, content is bytes[contentStart, end). */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

export class DerError extends Error {
  override readonly name: string = 'DerError';
}

export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_SEQUENCE = 0x30;

/**
 * Reads one DER element at `offset`, bounded by `limit`. Only single-octet tags (all X.509 uses)
 * and definite, minimally encoded lengths: DER, as Go's encoding/asn1 requires.
 */
export function readTlv(bytes: Uint8Array, offset: number, limit: number = bytes.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated DER element at offset ${offset}`);
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-octet DER tag at offset ${offset}`);
  const first = bytes[offset + 1]!;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const lengthOctets = first & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 octets would describe > 4 GiB.
    if (lengthOctets === 0 || lengthOctets > 4) throw new DerError(`unsupported DER length form at offset ${offset}`);
    if (offset + 2 + lengthOctets > limit) throw new DerError(`truncated DER length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < lengthOctets; i++) length = length * 256 + bytes[offset + 2 + i]!;
    if (bytes[offset + 2] === 0 || length < 0x80) throw new DerError(`non-minimal DER length at offset ${offset}`);
    contentStart = offset + 2 + lengthOctets;
  }
  const end = contentStart + length;
  if (end > limit) throw new DerError(`DER element at offset ${offset} overruns its container`);
  return { tag, start: offset, contentStart, end };
}

/** The elements directly inside a constructed element. */
export function children(bytes: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = readTlv(bytes, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** Reads a single top-level SEQUENCE that must span all of `bytes`. */
export function readOuterSequence(bytes: Uint8Array, what: string): Tlv {
  const outer = readTlv(bytes, 0);
  if (outer.tag !== TAG_SEQUENCE) throw new DerError(`${what}: not a DER SEQUENCE`);
  if (outer.end !== bytes.length) throw new DerError(`${what}: ${bytes.length - outer.end} trailing bytes after the DER`);
  return outer;
}

export function slice(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  return bytes.subarray(tlv.start, tlv.end);
}

/** Encodes a DER length prefix for `length` content octets. */
export function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const octets: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets.unshift(n % 256);
  return Uint8Array.from([0x80 | octets.length, ...octets]);
}

export function encodeTlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const length = content.reduce((n, c) => n + c.length, 0);
  return Buffer.concat([Uint8Array.of(tag), encodeLength(length), ...content]);
}

/** Unsigned big-endian bytes to bigint (0n for empty). */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

/** A non-negative bigint as unsigned big-endian bytes, left-padded to `width` when given. */
export function bigIntToBytes(value: bigint, width = 0): Uint8Array {
  if (value < 0n) throw new RangeError('negative value');
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (width > 0 && hex.length / 2 > width) throw new RangeError(`value needs more than ${width} bytes`);
  const out = Buffer.from(hex, 'hex');
  return out.length >= width ? out : Buffer.concat([Buffer.alloc(width - out.length), out]);
}

/** A DER INTEGER's content octets for a non-negative bigint (minimal two's complement). */
export function encodeUnsignedInteger(value: bigint): Uint8Array {
  const raw = bigIntToBytes(value);
  return encodeTlv(TAG_INTEGER, raw[0]! & 0x80 ? Buffer.concat([Uint8Array.of(0), raw]) : raw);
}

/**
 * A DER INTEGER's content as a bigint, with Go's encoding/asn1 strictness: non-empty, minimally
 * encoded; negative values come back negative.
 */
export function decodeInteger(content: Uint8Array): bigint {
  if (content.length === 0) throw new DerError('empty INTEGER');
  if (content.length > 1 && ((content[0] === 0 && content[1]! < 0x80) || (content[0] === 0xff && content[1]! >= 0x80))) {
    throw new DerError('INTEGER not minimally encoded');
  }
  const magnitude = bytesToBigInt(content);
  return content[0]! & 0x80 ? magnitude - (1n << BigInt(8 * content.length)) : magnitude;
}

// ---- PEM (Go encoding/pem semantics: text before the first BEGIN line is skipped) ----

export interface PemBlock {
  readonly label: string;
  readonly der: Uint8Array;
  /** Everything after the END line and its line ending. */
  readonly rest: Uint8Array;
}

const BEGIN_RE = /(?:^|\n)-----BEGIN ([^\r\n]*?)-----[ \t]*\r?\n/g;

/** The first well-formed PEM block in `bytes`, or undefined when there is none. */
export function decodePem(bytes: Uint8Array): PemBlock | undefined {
  const text = Buffer.from(bytes).toString('latin1');
  BEGIN_RE.lastIndex = 0;
  for (let match = BEGIN_RE.exec(text); match !== null; match = BEGIN_RE.exec(text)) {
    const label = match[1] ?? '';
    const bodyStart = match.index + match[0].length;
    const endMarker = `-----END ${label}-----`;
    const endAt = text.indexOf(endMarker, bodyStart);
    if (endAt < 0) continue;
    const body = text.slice(bodyStart, endAt);
    // Go's pem skips RFC 1421 headers ("Key: value" lines, then a blank line) before the base64.
    const base64 = (body.includes(':') ? body.slice(body.search(/\r?\n\r?\n/) + 1) : body).replace(/[\s]/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) continue;
    let restAt = endAt + endMarker.length;
    const lineEnd = /^[ \t]*\r?\n/.exec(text.slice(restAt));
    if (lineEnd !== null) restAt += lineEnd[0].length;
    return { label, der: new Uint8Array(Buffer.from(base64, 'base64')), rest: bytes.subarray(restAt) };
  }
  return undefined;
}

export function encodePem(label: string, der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}
