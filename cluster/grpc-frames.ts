// gRPC's message framing on an HTTP/2 stream, read and written without grpc-js: each message is a
// 5-byte prefix (a compressed flag, then the length, big-endian) and its bytes, cut across DATA
// frames wherever the sender's writes and the peer's frame size put the boundaries.
//
// Shared by the orderer's Broadcast and Deliver server calls (orderer/grpc-direct.ts) and the
// cluster's Step client (step-transport.ts), with the rest of what both write the same way: large
// messages behind their prefix uncopied, and grpc-message's percent-encoding. Messages are cut out of the chunks as they come: a
// view when a message lies in one chunk, one join when it spans several; nothing is allocated on a
// prefix alone, so a prefix announcing a large message costs nothing until its bytes arrive.

/** gRPC message prefix: a compressed flag byte, then the length (4 bytes, big-endian). */
export const PREFIX_BYTES = 5;

/** The prefix of an uncompressed message of `length` bytes. */
export function prefixOf(length: number): Buffer {
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  prefix[0] = 0;
  prefix.writeUInt32BE(length, 1);
  return prefix;
}

/** A message at least this large goes out as its prefix and its own bytes, not copied behind a prefix. */
export const OWN_CHUNK_BYTES = 4 * 1024;

/** Where writeUncopied writes: an HTTP/2 stream's writable side. */
export interface ChunkSink {
  cork(): void;
  uncork(): void;
  write(chunk: Uint8Array, done?: (err?: Error | null) => void): boolean;
}

/**
 * One message of `length` bytes, given as `pieces`, written as its prefix and the pieces
 * themselves, corked into one write (no copy of the pieces); `done` when the last piece is written.
 */
export function writeUncopied(stream: ChunkSink, length: number, pieces: readonly Uint8Array[], done?: (err?: Error | null) => void): void {
  stream.cork();
  stream.write(prefixOf(length));
  pieces.forEach((piece, i) => {
    if (i < pieces.length - 1 || done === undefined) stream.write(piece);
    else stream.write(piece, done);
  });
  stream.uncork();
}

/**
 * grpc-message as the gRPC HTTP/2 protocol spells it: printable ASCII except '%' as is, every
 * other byte of the UTF-8 text as %XX.
 */
export function encodeGrpcMessage(details: string): string {
  let out = '';
  for (const byte of Buffer.from(details, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** grpc-message as received: percent-encoded UTF-8. A malformed encoding is shown as it came. */
export function decodeGrpcMessage(value: string | undefined): string {
  if (value === undefined) return '';
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** A small message with its prefix, in one buffer (coalesced writes copy these together). */
export function framed(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, PREFIX_BYTES);
  return out;
}

/** Where a reader's messages go. */
export interface MessageSink {
  /** A message's prefix was read. False stops the reader (the caller ends the call). */
  accept(compressed: number, length: number): boolean;
  /** A whole message: a view into a chunk the stream handed over, or a buffer joined from several. */
  message(bytes: Buffer): void;
}

export class GrpcMessageReader {
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixFilled = 0;
  /** The message being assembled across chunks: its length (-1: none), and the pieces so far. */
  private bodyLength = -1;
  private bodyParts: Buffer[] = [];
  private bodyFilled = 0;
  private stopped = false;

  constructor(private readonly sink: MessageSink) {}

  /** Between a message's first byte and its last: the stream ending now would cut a message. */
  get midMessage(): boolean {
    return this.prefixFilled > 0 || this.bodyLength >= 0;
  }

  /** Reads nothing more; whatever was half-read is dropped. */
  stop(): void {
    this.stopped = true;
    this.prefixFilled = 0;
    this.bodyLength = -1;
    this.bodyParts = [];
  }

  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.stopped) {
      if (this.bodyLength < 0) {
        if (this.prefixFilled === 0 && chunk.length - at >= PREFIX_BYTES) {
          // The common case: the whole prefix, and often the whole message, in this chunk.
          const compressed = chunk[at] as number;
          const length = chunk.readUInt32BE(at + 1);
          at += PREFIX_BYTES;
          if (!this.sink.accept(compressed, length)) return;
          if (chunk.length - at >= length) {
            this.sink.message(chunk.subarray(at, at + length));
            at += length;
          } else {
            this.startBody(length);
          }
          continue;
        }
        const n = Math.min(PREFIX_BYTES - this.prefixFilled, chunk.length - at);
        chunk.copy(this.prefix, this.prefixFilled, at, at + n);
        this.prefixFilled += n;
        at += n;
        if (this.prefixFilled < PREFIX_BYTES) return;
        this.prefixFilled = 0;
        const length = this.prefix.readUInt32BE(1);
        if (!this.sink.accept(this.prefix[0] as number, length)) return;
        this.startBody(length);
        if (length === 0) this.completeBody();
        continue;
      }
      const n = Math.min(this.bodyLength - this.bodyFilled, chunk.length - at);
      this.bodyParts.push(chunk.subarray(at, at + n));
      this.bodyFilled += n;
      at += n;
      if (this.bodyFilled === this.bodyLength) this.completeBody();
    }
  }

  private startBody(length: number): void {
    this.bodyLength = length;
    this.bodyParts = [];
    this.bodyFilled = 0;
  }

  private completeBody(): void {
    const parts = this.bodyParts;
    const length = this.bodyLength;
    this.bodyLength = -1;
    this.bodyParts = [];
    this.sink.message(parts.length === 1 ? (parts[0] as Buffer) : length === 0 ? Buffer.alloc(0) : Buffer.concat(parts, length));
  }
}
