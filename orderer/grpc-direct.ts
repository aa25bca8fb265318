// Broadcast and Deliver served on the HTTP/2 stream directly, beside grpc-js.
//
// Every envelope a client broadcasts is one gRPC message in and one out. grpc-js spends about
// twice the CPU of the bare HTTP/2 stream on each (an ack-only sink: 12.3 against 6.2 ms per
// 1,000 envelopes, docs/performance.md): per message it runs a decoder, a Duplex push, its
// interceptor chain, a serializer and a write of its own; and every block it sends on Deliver it
// first copies whole into a frame. Here a call's messages are cut out of the DATA chunks as they
// come (a view, no copy, when a message lies in one chunk); small answers written in one turn of
// the event loop go out as one write, and a large message goes out as its 5-byte prefix and its
// own bytes, uncopied.
//
// Only calls that need nothing else are taken: content-type application/grpc, no grpc-timeout,
// no compression. Anything else, every other method, and every listener where grpc-js's
// internals are not what this expects, stays with grpc-js, which then serves the call as before
// (slower, the same on the wire). The status a call ends with goes out in trailers as grpc-js
// writes them: grpc-status, and grpc-message percent-encoded.
//
// The call object speaks the part of grpc-js's server call that the Broadcast and Deliver
// handlers use (data/end/close/cancelled/drain events, pause and resume, write, end,
// getAuthContext, and an 'error' event carrying {code, details} as the call's status), so the
// handlers run unchanged on either.
import { EventEmitter } from 'node:events';
import type * as http2 from 'node:http2';
import { TLSSocket, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { encodeGrpcMessage, framed, GrpcMessageReader, OWN_CHUNK_BYTES, PREFIX_BYTES, writeUncopied } from '../cluster/grpc-frames';
import { encodedLength, Gathered } from '../cluster/wire';
import { common, orderer } from '../protos';
import { BROADCAST_PATH, DELIVER_PATH, type BroadcastCall, type DeliverCall } from './atomic-broadcast';

/** The handlers a server's direct calls go to; each resolves when it is done with its call. */
export interface DirectHandlers {
  broadcast: (call: BroadcastCall) => Promise<void>;
  deliver: (call: DeliverCall) => Promise<void>;
}

/** Bytes of answers held before a write is forced within the same turn. */
const COALESCE_BYTES = 64 * 1024;

/** What grpc-js accepts from a client when the server sets no grpc.max_receive_message_length. */
const GRPC_JS_DEFAULT_RECEIVE_BYTES = 4 * 1024 * 1024;

/** The server's message size limits (grpc-js's options), which grpc-js would enforce. */
export interface MessageLimits {
  receiveBytes: number;
  sendBytes: number;
}

const directHandlers = new WeakMap<grpc.Server, DirectHandlers>();

/**
 * Has Broadcast and Deliver calls on `server` served by `handlers` directly once the server is
 * bound (takeOverStreams). Calls it does not take (see above) still go to the grpc-js service.
 */
export function serveDirectly(server: grpc.Server, handlers: DirectHandlers): void {
  directHandlers.set(server, handlers);
}

/**
 * Puts the direct handlers (if set) in front of grpc-js on every listener of a bound `server`.
 * Returns how many listeners they were put on: 0 when none were set, when
 * `ORDERER_SERVE_VIA=grpc-js` asks for grpc-js alone, or when grpc-js's internals do not have the
 * expected shape.
 */
export function takeOverStreams(server: grpc.Server): number {
  const handlers = directHandlers.get(server);
  if (handlers === undefined || process.env.ORDERER_SERVE_VIA === 'grpc-js') return 0;
  const listeners: unknown = Reflect.get(server, 'http2Servers');
  if (!(listeners instanceof Map)) return 0;
  const options: unknown = Reflect.get(server, 'options');
  // grpc-js's defaults when an option is absent (4 MiB in, no limit out), and -1 for no limit.
  const limit = (key: string, absent: number): number => {
    const configured = typeof options === 'object' && options !== null ? Reflect.get(options, key) : undefined;
    if (typeof configured !== 'number') return absent;
    return configured === -1 ? Infinity : configured;
  };
  const limits: MessageLimits = {
    receiveBytes: limit('grpc.max_receive_message_length', GRPC_JS_DEFAULT_RECEIVE_BYTES),
    sendBytes: limit('grpc.max_send_message_length', Infinity),
  };
  // grpc-js counts a session's open streams for its idle timeout; a stream served here counts too.
  const streamOpened: unknown = Reflect.get(server, 'onStreamOpened');
  let taken = 0;
  for (const listener of listeners.keys()) {
    if (!(listener instanceof EventEmitter) || Reflect.get(listener, 'directStreams') === true) continue;
    const grpcJs = listener.listeners('stream');
    if (grpcJs.length !== 1) continue;
    const serveWithGrpcJs = grpcJs[0] as (...args: unknown[]) => void;
    Reflect.set(listener, 'directStreams', true);
    listener.removeAllListeners('stream');
    listener.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
      const path = takesDirectly(headers);
      if (path === undefined) {
        serveWithGrpcJs.call(listener, stream, headers, ...rest);
        return;
      }
      stream.on('error', () => {
        // A stream error is followed by 'close', which ends the call; this only keeps an
        // unhandled 'error' from taking the process down.
      });
      if (typeof streamOpened === 'function') Reflect.apply(streamOpened, server, [stream]);
      // Broadcast copies each envelope it keeps (retained-bytes.ts), so it gets views into the
      // socket's read buffers. A Deliver stream keeps its seek request as long as it lives (days,
      // for a peer): a view would pin the whole read buffer (up to 64 KB, other streams' bytes
      // too) for that long, so Deliver gets copies.
      const call =
        path === BROADCAST_PATH ? new DirectServerCall(stream, limits, encodeBroadcastResponse, false) : new DirectServerCall(stream, limits, asIs, true);
      try {
        void (path === BROADCAST_PATH ? handlers.broadcast(call as DirectServerCall<orderer.BroadcastResponseInit>) : handlers.deliver(call as DirectServerCall<Uint8Array | Gathered>));
      } catch (err) {
        // As grpc-js does with a handler that throws before its first await: the call ends INTERNAL.
        call.emit('error', { code: grpc.status.INTERNAL, details: `internal error: ${err instanceof Error ? err.message : String(err)}` });
      }
    });
    taken++;
  }
  return taken;
}

/** The path of a call served here, or undefined for grpc-js. */
function takesDirectly(headers: http2.IncomingHttpHeaders): string | undefined {
  const path = headers[':path'];
  if ((path !== BROADCAST_PATH && path !== DELIVER_PATH) || headers[':method'] !== 'POST') return undefined;
  const contentType = headers['content-type'];
  if (typeof contentType !== 'string' || !(contentType === 'application/grpc' || contentType.startsWith('application/grpc+') || contentType.startsWith('application/grpc;'))) return undefined;
  if (headers['grpc-timeout'] !== undefined) return undefined;
  const encoding = headers['grpc-encoding'];
  return encoding === undefined || encoding === 'identity' ? path : undefined;
}

const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = Object.freeze({
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity',
});

/** The answer to almost every envelope, marshaled once, and once more as a whole gRPC message. */
const SUCCESS_BYTES = orderer.BroadcastResponse.encode({ status: common.Status.SUCCESS });
const SUCCESS_FRAMED = framed(SUCCESS_BYTES);

const encodeBroadcastResponse = (response: orderer.BroadcastResponseInit): Uint8Array =>
  response.status === common.Status.SUCCESS && (response.info === undefined || response.info === '') ? SUCCESS_BYTES : orderer.BroadcastResponse.encode(response);

const asIs = (bytes: Uint8Array | Gathered): Uint8Array | Gathered => bytes;

/** `bytes` in memory of its own, exactly its size (Buffer.from would carve it out of an 8 KB shared slab). */
function ownCopy(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
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
 * One call on its HTTP/2 stream, its responses marshaled by `encode`. Events: 'data' (a message's
 * bytes), 'end' (the client half-closed and every message was handed out), 'cancelled' (the
 * stream went away before the call ended), 'close', 'drain'. Emitting 'error' with {code,
 * details} ends the call with that status, as on a grpc-js server call.
 */
export class DirectServerCall<Res> extends EventEmitter {
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
  private readonly reader = new GrpcMessageReader({
    accept: (compressed, length) => this.accept(compressed, length),
    message: (bytes) => this.deliver(bytes),
  });
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushQueued = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly limits: MessageLimits,
    private readonly encode: (response: Res) => Uint8Array | Gathered,
    /** Hand out each message as a copy of its own rather than a view into the read buffer. */
    private readonly copyMessages: boolean,
  ) {
    super();
    stream.on('data', (chunk: Buffer) => this.reader.push(chunk));
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
      // A call that is gone hands out nothing more, as a destroyed grpc-js call.
      this.held.length = 0;
      if (!this.ended) {
        this.cancelled = true;
        this.emit('cancelled');
      }
      this.emit('close');
    });
    // A reader that starts listening after messages (or the client's end) came gets them from the start.
    this.on('newListener', (event: string) => {
      if ((event === 'data' || event === 'end') && !this.paused) queueMicrotask(() => this.release());
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

  write(response: Res): boolean {
    if (this.ended || this.destroyed) return false;
    const encoded = this.encode(response);
    // Pieces too small to be worth writing apart go out joined, with the other small answers.
    const message = encoded instanceof Gathered && encoded.byteLength < OWN_CHUNK_BYTES ? encoded.join() : encoded;
    const length = encodedLength(message);
    if (length > this.limits.sendBytes) {
      // grpc-js's wording, which counts the 5-byte prefix.
      this.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `Sent message larger than max (${PREFIX_BYTES + length} vs. ${this.limits.sendBytes})` });
      return false;
    }
    if (message instanceof Gathered || length >= OWN_CHUNK_BYTES) {
      // A block: its prefix and its own bytes (or pieces), written together without copying them.
      this.flush();
      if (!this.sendHeaders()) return false;
      writeUncopied(this.stream, length, message instanceof Gathered ? message.chunks : [message]);
      return !this.stream.writableNeedDrain;
    }
    // Per envelope on Broadcast: the SUCCESS answer is neither marshaled nor framed again.
    const bytes = message === SUCCESS_BYTES ? SUCCESS_FRAMED : framed(message);
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

  /** The client's TLS certificate, as grpc-js reports it (none on plaintext or without mutual TLS). */
  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: PeerCertificate } {
    try {
      const socket = this.stream.session?.socket;
      // As grpc-js: a certificate the handshake did not verify is no certificate.
      if (!(socket instanceof TLSSocket) || !socket.authorized) return {};
      const certificate = socket.getPeerCertificate();
      return { transportSecurityType: 'ssl', ...(certificate?.raw !== undefined ? { sslPeerCertificate: certificate } : {}) };
    } catch {
      // The connection is gone: no certificate to report, as for a plaintext one.
      return {};
    }
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
    this.reader.stop();
    // Keep consuming (and dropping) what the client still sends, so flow control never stalls it.
    this.paused = false;
    this.stream.resume();
  }

  /** Checks a message's prefix; ends the call with grpc-js's status when it cannot be read. */
  private accept(compressed: number, length: number): boolean {
    if (compressed !== 0) {
      this.emit('error', { code: grpc.status.INTERNAL, details: 'received a compressed message, but the call did not negotiate compression' });
      return false;
    }
    if (length > this.limits.receiveBytes) {
      this.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `Received message larger than max (${length} vs ${this.limits.receiveBytes})` });
      return false;
    }
    return true;
  }

  private deliver(view: Buffer): void {
    if (this.closed) return;
    const message = this.copyMessages ? ownCopy(view) : view;
    if (this.paused || this.held.length > 0) {
      this.held.push(message);
    } else if (this.listenerCount('data') === 0) {
      // Nobody reads yet (or any more): keep it, and stop reading until someone does, as a Readable would.
      this.held.push(message);
      this.stream.pause();
    } else {
      this.emit('data', message);
    }
  }

  /** Hands out held messages until paused again, then reads on (or tells the end). */
  private release(): void {
    if (this.closed) return;
    while (!this.paused && this.held.length > 0 && !this.discarding && !this.closed && this.listenerCount('data') > 0) this.emit('data', this.held.shift() as Uint8Array);
    if (this.paused || this.held.length > 0 || this.closed) return;
    this.maybeEmitEnd();
    if (!this.clientDone && !this.discarding) this.stream.resume();
  }

  private maybeEmitEnd(): void {
    if (!this.clientDone || this.endEmitted || this.held.length > 0 || this.paused || this.discarding || this.closed) return;
    // As a Readable: the end is told once someone reads, not to nobody.
    if (this.listenerCount('data') === 0 && this.listenerCount('end') === 0) return;
    if (this.reader.midMessage) {
      // The client half-closed in the middle of a message.
      this.emit('error', { code: grpc.status.INTERNAL, details: 'the stream ended in the middle of a message' });
      return;
    }
    this.endEmitted = true;
    this.emit('end');
  }
}
