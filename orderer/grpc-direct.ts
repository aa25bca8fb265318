// Broadcast served on the HTTP/2 stream directly, beside grpc-js.
//
// Every envelope a client broadcasts is one gRPC message in and one out. grpc-js spends about
// twice the CPU of the bare HTTP/2 stream on each (an ack-only sink: 12.3 against 6.2 ms per
// 1,000 envelopes, docs/performance.md): per message it runs a decoder, a Duplex push, its
// interceptor chain, a serializer and a write of its own. Here a Broadcast stream's messages are
// cut out of the DATA chunks as they come (a view, no copy, when a message lies in one chunk),
// and the answers written in one turn of the event loop go out as one write.
//
// Only Broadcast calls that need nothing else are taken: content-type application/grpc, no
// grpc-timeout, no compression. Anything else, every other method, and every listener where
// grpc-js's internals are not what this expects, stays with grpc-js, which then serves the call
// as before (slower, the same on the wire). The status a call ends with goes out in trailers as
// grpc-js writes them: grpc-status, and grpc-message percent-encoded.
//
// The stream object speaks the part of grpc-js's server call that the Broadcast handler uses
// (data/end/close/cancelled/drain events, pause and resume, write, end, and an 'error' event
// carrying {code, details} as the call's status), so handleBroadcast runs unchanged on either.
import { EventEmitter } from 'node:events';
import type * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { common, orderer } from '../protos';
import { BROADCAST_PATH, DEFAULT_MAX_MESSAGE_BYTES, type BroadcastCall } from './atomic-broadcast';

/** A Broadcast stream served directly; resolves when the handler is done with it. */
export type DirectBroadcastHandler = (call: BroadcastCall) => Promise<void>;

/** Bytes of answers held before a write is forced within the same turn. */
const COALESCE_BYTES = 64 * 1024;

/** gRPC message prefix: a compressed flag byte, then the length (4 bytes, big-endian). */
const PREFIX_BYTES = 5;

const directHandlers = new WeakMap<grpc.Server, DirectBroadcastHandler>();

/**
 * Has Broadcast calls on `server` served by `handler` directly once the server is bound
 * (takeOverBroadcast). Calls it does not take (see above) still go to the grpc-js service.
 */
export function serveBroadcastDirectly(server: grpc.Server, handler: DirectBroadcastHandler): void {
  directHandlers.set(server, handler);
}

/**
 * Puts the direct Broadcast handler (if one was set) in front of grpc-js on every listener of a
 * bound `server`. Returns how many listeners it was put on: 0 when none was set, when
 * `ORDERER_BROADCAST_VIA=grpc-js` asks for grpc-js alone, or when grpc-js's internals do not
 * have the expected shape.
 */
export function takeOverBroadcast(server: grpc.Server): number {
  const handler = directHandlers.get(server);
  if (handler === undefined || process.env.ORDERER_BROADCAST_VIA === 'grpc-js') return 0;
  const listeners: unknown = Reflect.get(server, 'http2Servers');
  if (!(listeners instanceof Map)) return 0;
  const options: unknown = Reflect.get(server, 'options');
  const configured = typeof options === 'object' && options !== null ? Reflect.get(options, 'grpc.max_receive_message_length') : undefined;
  const maxReceiveBytes = typeof configured === 'number' && configured >= 0 ? configured : DEFAULT_MAX_MESSAGE_BYTES;
  // grpc-js counts a session's open streams for its idle timeout; a stream served here counts too.
  const streamOpened: unknown = Reflect.get(server, 'onStreamOpened');
  let taken = 0;
  for (const listener of listeners.keys()) {
    if (!(listener instanceof EventEmitter) || Reflect.get(listener, 'directBroadcast') === true) continue;
    const grpcJs = listener.listeners('stream');
    if (grpcJs.length !== 1) continue;
    const serveWithGrpcJs = grpcJs[0] as (...args: unknown[]) => void;
    Reflect.set(listener, 'directBroadcast', true);
    listener.removeAllListeners('stream');
    listener.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
      if (!takesDirectly(headers)) {
        serveWithGrpcJs.call(listener, stream, headers, ...rest);
        return;
      }
      stream.on('error', () => {
        // A stream error is followed by 'close', which ends the call; this only keeps an
        // unhandled 'error' from taking the process down.
      });
      if (typeof streamOpened === 'function') Reflect.apply(streamOpened, server, [stream]);
      void handler(new DirectBroadcastCall(stream, maxReceiveBytes));
    });
    taken++;
  }
  return taken;
}

function takesDirectly(headers: http2.IncomingHttpHeaders): boolean {
  if (headers[':path'] !== BROADCAST_PATH || headers[':method'] !== 'POST') return false;
  const contentType = headers['content-type'];
  if (typeof contentType !== 'string' || !(contentType === 'application/grpc' || contentType.startsWith('application/grpc+') || contentType.startsWith('application/grpc;'))) return false;
  if (headers['grpc-timeout'] !== undefined) return false;
  const encoding = headers['grpc-encoding'];
  return encoding === undefined || encoding === 'identity';
}

const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = Object.freeze({
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity',
});

/** A gRPC message: prefix and bytes. */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, PREFIX_BYTES);
  return out;
}

const SUCCESS_FRAME = frame(orderer.BroadcastResponse.encode({ status: common.Status.SUCCESS }));

function encodeResponse(response: orderer.BroadcastResponseInit): Buffer {
  if (response.status === common.Status.SUCCESS && (response.info === undefined || response.info === '')) return SUCCESS_FRAME;
  return frame(orderer.BroadcastResponse.encode(response));
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

function statusOf(err: unknown): { code: grpc.status; details: string } {
  const code: unknown = typeof err === 'object' && err !== null ? Reflect.get(err, 'code') : undefined;
  const details: unknown = typeof err === 'object' && err !== null ? Reflect.get(err, 'details') : undefined;
  const message = err instanceof Error ? err.message : undefined;
  return {
    code: typeof code === 'number' && Number.isInteger(code) && code >= 0 && code <= 16 ? code : grpc.status.UNKNOWN,
    details: typeof details === 'string' ? details : (message ?? 'unknown error'),
  };
}

/**
 * One Broadcast call on its HTTP/2 stream. Events: 'data' (a message's bytes), 'end' (the client
 * half-closed and every message was handed out), 'cancelled' (the stream went away before the
 * call ended), 'close', 'drain'. Emitting 'error' with {code, details} ends the call with that
 * status, as on a grpc-js server call.
 */
export class DirectBroadcastCall extends EventEmitter {
  cancelled = false;
  private closed = false;
  private ended = false;
  private headersSent = false;
  private trailers: http2.OutgoingHttpHeaders = { 'grpc-status': String(grpc.status.OK) };
  private paused = false;
  /** Messages cut while paused, handed out on resume. */
  private readonly held: Uint8Array[] = [];
  private clientDone = false;
  private endEmitted = false;
  /** Reading stopped (the call ended with an error): later chunks are dropped. */
  private discarding = false;
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixFilled = 0;
  /**
   * The message being assembled across chunks: its length, and the pieces so far (kept as they
   * came and joined once whole, so a prefix announcing a large message allocates nothing).
   */
  private bodyLength = -1;
  private bodyParts: Buffer[] = [];
  private bodyFilled = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushQueued = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly maxReceiveBytes: number,
  ) {
    super();
    stream.on('data', (chunk: Buffer) => this.onChunk(chunk));
    stream.on('end', () => {
      this.clientDone = true;
      this.maybeEmitEnd();
    });
    stream.on('drain', () => this.emit('drain'));
    stream.on('wantTrailers', () => {
      try {
        stream.sendTrailers(this.trailers);
      } catch {
        // The stream closed meanwhile; nobody is left to read the status.
      }
    });
    stream.on('close', () => {
      this.closed = true;
      if (!this.ended) {
        this.cancelled = true;
        this.emit('cancelled');
      }
      this.emit('close');
    });
    // grpc-js's contract: an 'error' emitted on the call is the status it ends with.
    this.on('error', (err: unknown) => {
      const { code, details } = statusOf(err);
      this.finish(code, details);
    });
  }

  get destroyed(): boolean {
    return this.closed || this.stream.destroyed;
  }

  get writableEnded(): boolean {
    return this.ended;
  }

  pause(): this {
    if (!this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    return this;
  }

  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    // Handed out on the next turn, as a Readable does: the caller of resume() is often in the
    // middle of taking a message.
    if (this.held.length > 0 || this.clientDone) queueMicrotask(() => this.release());
    else this.stream.resume();
    return this;
  }

  write(response: orderer.BroadcastResponseInit): boolean {
    if (this.ended || this.destroyed) return false;
    const bytes = encodeResponse(response);
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= COALESCE_BYTES) this.flush();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      // After the promise reactions of this turn: the answers a block's commit settles at once go out in one write.
      process.nextTick(() => this.flush());
    }
    return !this.stream.writableNeedDrain;
  }

  end(): this {
    this.finish(grpc.status.OK, '');
    return this;
  }

  private finish(code: grpc.status, details: string): void {
    if (this.ended) return;
    this.ended = true;
    this.trailers = code === grpc.status.OK ? { 'grpc-status': '0' } : { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(details) };
    // The call is over: whatever the client still sends is read and dropped, never handed out.
    this.stopReading();
    if (this.destroyed) return;
    this.flush();
    if (!this.sendHeaders()) return;
    this.stream.end();
  }

  private sendHeaders(): boolean {
    if (this.headersSent) return true;
    try {
      this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      this.headersSent = true;
    } catch {
      // Closed under us: 'close' tells the handler.
    }
    return this.headersSent;
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.pending.length === 0 || this.destroyed) return;
    if (!this.sendHeaders()) return;
    const bytes = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.stream.write(bytes);
  }

  private stopReading(): void {
    this.discarding = true;
    this.held.length = 0;
    this.bodyLength = -1;
    this.bodyParts = [];
    // Keep consuming (and dropping) what the client still sends, so flow control never stalls it.
    this.paused = false;
    this.stream.resume();
  }

  private onChunk(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.discarding) {
      if (this.bodyLength < 0) {
        if (this.prefixFilled === 0 && chunk.length - at >= PREFIX_BYTES) {
          // The common case: the whole prefix, and often the whole message, in this chunk.
          const compressed = chunk[at] as number;
          const length = chunk.readUInt32BE(at + 1);
          at += PREFIX_BYTES;
          if (!this.accept(compressed, length)) return;
          if (chunk.length - at >= length) {
            this.deliver(chunk.subarray(at, at + length));
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
        if (!this.accept(this.prefix[0] as number, length)) return;
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
    this.deliver(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, length));
  }

  /** Checks a message's prefix; ends the call with grpc-js's status when it cannot be read. */
  private accept(compressed: number, length: number): boolean {
    if (compressed !== 0) {
      this.emit('error', { code: grpc.status.INTERNAL, details: 'received a compressed message, but the call did not negotiate compression' });
      return false;
    }
    if (length > this.maxReceiveBytes) {
      this.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `Received message larger than max (${length} vs. ${this.maxReceiveBytes})` });
      return false;
    }
    return true;
  }

  private deliver(message: Uint8Array): void {
    if (this.paused || this.held.length > 0) this.held.push(message);
    else this.emit('data', message);
  }

  /** Hands out held messages until paused again, then reads on (or tells the end). */
  private release(): void {
    while (!this.paused && this.held.length > 0 && !this.discarding) this.emit('data', this.held.shift() as Uint8Array);
    if (this.paused) return;
    this.maybeEmitEnd();
    if (!this.clientDone) this.stream.resume();
  }

  private maybeEmitEnd(): void {
    if (!this.clientDone || this.endEmitted || this.held.length > 0 || this.paused || this.discarding) return;
    if (this.bodyLength >= 0 || this.prefixFilled > 0) {
      // The client half-closed in the middle of a message.
      this.emit('error', { code: grpc.status.INTERNAL, details: 'the stream ended in the middle of a message' });
      return;
    }
    this.endEmitted = true;
    this.emit('end');
  }
}
