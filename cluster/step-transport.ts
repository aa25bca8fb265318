// How an egress stream reaches a peer's Cluster.Step: one connection per endpoint (pooled, see
// connections.ts), one call per egress stream.
//
// DirectStepConnection speaks gRPC on node:http2 itself. grpc-js's client copied every message
// whole into a new buffer to put its 5-byte prefix in front (a Raft append, that is a block, once
// per follower on the leader; a batch of forwarded envelopes on every follower), and ran its call
// stack of interceptors, filters and retries per message: about 3% of the three nodes' CPU in the
// benchmark's profile (docs/performance.md). Here a message of a few KB or more goes out as its
// prefix and its own bytes, corked, uncopied; answers are cut out of the DATA chunks by the same
// reader the orderer's direct server calls use (grpc-frames.ts). On the wire it is the gRPC a
// Fabric node (grpc-go) or grpc-js serves: POST /orderer.Cluster/Step, application/grpc, te:
// trailers, no deadline, no compression.
//
// GrpcJsStepConnection keeps grpc-js's client: for TLS credentials given only as grpc-js objects
// (tests, embedders) and when ORDERER_DIAL_VIA=grpc-js asks for it.
import * as http2 from 'node:http2';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { decodeGrpcMessage, framed, GrpcMessageReader, OWN_CHUNK_BYTES, writeUncopied } from './grpc-frames';
import { asBuffer, CLUSTER_STEP_PATH, passThrough } from './service';
import { Backoff, type BackoffOptions } from './backoff';
import { DEFAULT_MAX_RECONNECT_BACKOFF_MS, DEFAULT_MIN_RECONNECT_BACKOFF_MS } from './types';
import { encodedLength, Gathered } from './wire';

/** What a call tells its egress stream. Nothing is told after status, or after cancel(). */
export interface StepCallEvents {
  /** The peer's response headers: once, unless the call ends without any. */
  headers(get: (name: string) => string | undefined): void;
  /** One StepResponse. */
  message(bytes: Uint8Array): void;
  /** Room again after write() returned false. */
  drain(): void;
  /** The call is over: its gRPC status (OK when the peer ended it cleanly). Once. */
  status(code: grpc.status, details: string): void;
}

export interface StepCall {
  /** Queues one StepRequest; `written` runs once it has been handed to the connection. False: wait for drain(). */
  write(bytes: Uint8Array | Gathered, written: () => void): boolean;
  /** Ends the call from this side; no event follows. */
  cancel(): void;
}

export interface StepConnection {
  /** Calls back once the connection is up (no error), or with why not by `deadlineMs` (Date.now() time). */
  waitForReady(deadlineMs: number, done: (err: Error | undefined) => void): void;
  openStep(requestHeaders: Readonly<Record<string, string>>, events: StepCallEvents): StepCall;
  close(): void;
}

/** TLS for a direct connection: the roots to check the server against, our client pair, and an extra server check (a pin). */
export interface ClusterDialTls {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

export interface DirectStepConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** Plaintext (h2c) when absent. */
  readonly tls?: ClusterDialTls;
  readonly maxSendMessageBytes: number;
  readonly maxReceiveMessageBytes: number;
  /** A ping this often while a call is open; no answer within keepaliveTimeoutMs drops the connection (grpc-js's keepalive). */
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
  /** Between failed attempts while someone waits for the connection (DEFAULT_*_RECONNECT_BACKOFF_MS when absent). */
  readonly reconnectBackoff?: BackoffOptions;
}

const ignore = (): void => undefined;

function first(value: string | string[] | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : String(value);
}

/** The status a trailers (or trailers-only headers) block carries, if it carries one. */
function statusIn(headers: http2.IncomingHttpHeaders): { code: grpc.status; details: string } | undefined {
  const raw = first(headers['grpc-status']);
  if (raw === undefined) return undefined;
  const code = Number(raw);
  return {
    code: Number.isInteger(code) && code >= 0 && code <= 16 ? code : grpc.status.UNKNOWN,
    details: decodeGrpcMessage(first(headers['grpc-message'])),
  };
}

/** The status of a stream reset without one, as grpc-js maps the reset code. */
function statusOfReset(rstCode: number): { code: grpc.status; details: string } {
  const c = http2.constants;
  if (rstCode === c.NGHTTP2_REFUSED_STREAM) return { code: grpc.status.UNAVAILABLE, details: 'Stream refused by server' };
  if (rstCode === c.NGHTTP2_CANCEL) return { code: grpc.status.CANCELLED, details: 'Call cancelled' };
  if (rstCode === c.NGHTTP2_ENHANCE_YOUR_CALM) return { code: grpc.status.RESOURCE_EXHAUSTED, details: 'Bandwidth exhausted or memory limit exceeded' };
  if (rstCode === c.NGHTTP2_INADEQUATE_SECURITY) return { code: grpc.status.PERMISSION_DENIED, details: 'Protocol not secure enough' };
  return { code: grpc.status.INTERNAL, details: `Received RST_STREAM with code ${rstCode}` };
}

/** The status of an answer that is not HTTP 200, as grpc-js maps the HTTP status. */
function statusOfHttp(httpStatus: number): grpc.status {
  if (httpStatus === 400) return grpc.status.INTERNAL;
  if (httpStatus === 401) return grpc.status.UNAUTHENTICATED;
  if (httpStatus === 403) return grpc.status.PERMISSION_DENIED;
  if (httpStatus === 404) return grpc.status.UNIMPLEMENTED;
  if (httpStatus === 429 || httpStatus === 502 || httpStatus === 503 || httpStatus === 504) return grpc.status.UNAVAILABLE;
  return grpc.status.UNKNOWN;
}

/** One Step call on its HTTP/2 stream. */
class DirectStepCall implements StepCall {
  /** The call's end is decided (reported, or cancelled): nothing more is handed out. */
  private over = false;
  /** cancel() was called: not even a status already decided is told. */
  private cancelled = false;
  private ending: { code: grpc.status; details: string } | undefined;
  private readonly reader: GrpcMessageReader;

  constructor(
    private readonly stream: http2.ClientHttp2Stream,
    private readonly events: StepCallEvents,
    private readonly options: DirectStepConnectionOptions,
  ) {
    this.reader = new GrpcMessageReader({
      accept: (compressed, length) => {
        if (compressed !== 0) return this.fail(grpc.status.INTERNAL, 'received a compressed message, but the call did not negotiate compression');
        if (length > options.maxReceiveMessageBytes) return this.fail(grpc.status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs ${options.maxReceiveMessageBytes})`);
        return true;
      },
      message: (bytes) => {
        if (!this.over) events.message(bytes);
      },
    });
    stream.on('response', (headers) => {
      if (this.over) return;
      const httpStatus = Number(headers[':status']);
      if (httpStatus !== 200) {
        this.fail(statusOfHttp(httpStatus), `Received HTTP status code ${httpStatus}`);
        return;
      }
      // Trailers-only: the call is answered with its status at once (a rejected stream).
      const status = statusIn(headers);
      if (status !== undefined) this.ending = status;
      else events.headers((name) => first(headers[name]));
    });
    stream.on('trailers', (trailers) => {
      this.ending ??= statusIn(trailers) ?? { code: grpc.status.UNKNOWN, details: 'trailers without grpc-status' };
    });
    stream.on('data', (chunk: Buffer) => this.reader.push(chunk));
    stream.on('drain', () => {
      if (!this.over) events.drain();
    });
    // The peer's side is over and every message was read. A Step sender never half-closes its own
    // side, and grpc-js's server ends a call with trailers without resetting the stream, so 'close'
    // would not come: the status is reported here, and the stream closed (as grpc-js's client does).
    stream.on('end', () => {
      if (this.over) return;
      let status = this.ending ?? { code: grpc.status.UNKNOWN, details: 'the stream ended without a status' };
      if (status.code === grpc.status.OK && this.reader.midMessage) status = { code: grpc.status.INTERNAL, details: 'the stream ended in the middle of a message' };
      this.report(status.code, status.details);
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
    // Followed by 'close'.
    stream.on('error', ignore);
    // Reset, or the connection went: the status the trailers gave if they came, else the reset's,
    // else UNAVAILABLE for a connection that is gone (as grpc-js reports a dropped connection).
    stream.on('close', () => {
      if (this.over) return;
      const session = stream.session;
      const connectionLost = session === undefined || session.destroyed;
      const status = this.ending ?? (connectionLost ? { code: grpc.status.UNAVAILABLE, details: 'Connection dropped' } : statusOfReset(stream.rstCode ?? http2.constants.NGHTTP2_NO_ERROR));
      this.report(status.code, status.details);
    });
  }

  write(bytes: Uint8Array | Gathered, written: () => void): boolean {
    const stream = this.stream;
    if (this.over || stream.destroyed || stream.writableEnded) return false;
    const length = encodedLength(bytes);
    if (length > this.options.maxSendMessageBytes) {
      // grpc-js's client's wording (the message without its prefix, as compared).
      return this.fail(grpc.status.RESOURCE_EXHAUSTED, `Attempted to send message with a size larger than ${this.options.maxSendMessageBytes}`);
    }
    // A write that fails (the stream destroyed under it) is not written: the call's status follows.
    // Told on a later tick (as grpc-js does): the caller's next write must not run inside Node's
    // write callback, where ending the stream misbehaves (nodejs/node#49147).
    const done = (err?: Error | null): void => {
      if (err == null) process.nextTick(written);
    };
    if (!(bytes instanceof Gathered) && length < OWN_CHUNK_BYTES) return stream.write(framed(bytes), done);
    // A block, a batch of envelopes, or an append in pieces: its prefix, then its own bytes, in one
    // write of several chunks.
    writeUncopied(stream, length, bytes instanceof Gathered ? bytes.chunks : [bytes], done);
    return !stream.writableNeedDrain;
  }

  cancel(): void {
    this.over = true;
    this.cancelled = true;
    this.reader.stop();
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** Ends the call from this side with `code`; returns false so a reader stops. */
  private fail(code: grpc.status, details: string): false {
    if (!this.over) {
      this.reader.stop();
      this.report(code, details);
      if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    return false;
  }

  /** The status, on a later turn: never from inside the caller's write(). */
  private report(code: grpc.status, details: string): void {
    this.over = true;
    this.reader.stop();
    process.nextTick(() => {
      if (!this.cancelled) this.events.status(code, details);
    });
  }
}

/** A call that could not be opened: it reports UNAVAILABLE and takes no writes. */
function unopenedCall(events: StepCallEvents, details: string): StepCall {
  let over = false;
  process.nextTick(() => {
    if (!over) events.status(grpc.status.UNAVAILABLE, details);
    over = true;
  });
  return {
    write: () => false,
    cancel: () => {
      over = true;
    },
  };
}

interface ReadyWaiter {
  readonly done: (err: Error | undefined) => void;
  readonly timer: NodeJS.Timeout;
}

/** One HTTP/2 session of a connection, the calls open on it, and its keepalive (which pings only while there are some). */
interface Session {
  readonly session: http2.ClientHttp2Session;
  readonly socket: Socket;
  connected: boolean;
  openCalls: number;
  keepaliveTimer: NodeJS.Timeout | undefined;
}

/** grpc-js's cap on a keepalive interval doubled after too_many_pings. */
const MAX_KEEPALIVE_INTERVAL_MS = 2 ** 31 - 1;

/** One HTTP/2 connection (replaced when it fails) to a peer's Step endpoint. */
export class DirectStepConnection implements StepConnection {
  private current: Session | undefined;
  private lastError: Error | undefined;
  private readonly waiters = new Set<ReadyWaiter>();
  private closed = false;
  /** The keepalive interval, doubled each time a server says we ping too often (grpc-js does the same, gRFC A8). */
  private keepaliveIntervalMs: number;
  /**
   * While someone waits for the connection, a refused or failed attempt is retried after a backoff
   * until their deadline, as grpc-js's waitForReady does: a peer that comes back (a restarted
   * orderer) is reached within a backoff step, not after the caller's own retry schedule.
   */
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DirectStepConnectionOptions) {
    this.keepaliveIntervalMs = options.keepaliveIntervalMs;
    this.backoff = new Backoff(options.reconnectBackoff ?? { minDelayMs: DEFAULT_MIN_RECONNECT_BACKOFF_MS, maxDelayMs: DEFAULT_MAX_RECONNECT_BACKOFF_MS });
  }

  waitForReady(deadlineMs: number, done: (err: Error | undefined) => void): void {
    if (this.closed) {
      process.nextTick(() => done(new Error('connection closed')));
      return;
    }
    if (this.current?.connected === true) {
      process.nextTick(() => done(undefined));
      return;
    }
    if (this.current === undefined && this.retryTimer === undefined) {
      try {
        this.connect();
      } catch (err) {
        // Material Node cannot use (a PEM it cannot read): this attempt fails, as a refused one would.
        const cause = err instanceof Error ? err : new Error(String(err));
        process.nextTick(() => done(new Error(`cannot connect to ${this.authority()}: ${cause.message}`, { cause })));
        return;
      }
    }
    const waiter: ReadyWaiter = {
      done,
      timer: setTimeout(() => {
        if (!this.waiters.delete(waiter)) return;
        const why = this.lastError !== undefined ? `: ${this.lastError.message}` : '';
        // An attempt that has not connected by a caller's deadline is given up (a peer that never
        // answers the SYN or the handshake), so the next dial starts afresh instead of waiting on it.
        if (this.waiters.size === 0) this.stopRetrying();
        if (this.waiters.size === 0 && this.current !== undefined && !this.current.connected) {
          const attempt = this.current;
          this.forget(attempt);
          attempt.session.destroy();
          attempt.socket.destroy();
        }
        done(new Error(`not connected to ${this.authority()} before the deadline${why}`));
      }, Math.max(0, deadlineMs - Date.now())),
    };
    waiter.timer.unref();
    this.waiters.add(waiter);
  }

  openStep(requestHeaders: Readonly<Record<string, string>>, events: StepCallEvents): StepCall {
    const current = this.current;
    if (this.closed || current === undefined || !current.connected || current.session.closed || current.session.destroyed) return unopenedCall(events, 'no connection');
    let stream: http2.ClientHttp2Stream;
    try {
      stream = current.session.request({
        ...requestHeaders,
        ':method': 'POST',
        ':path': CLUSTER_STEP_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-accept-encoding': 'identity',
      });
    } catch (err) {
      return unopenedCall(events, `cannot open a stream: ${err instanceof Error ? err.message : String(err)}`);
    }
    current.openCalls++;
    stream.once('close', () => current.openCalls--);
    return new DirectStepCall(stream, events, this.options);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopRetrying();
    this.settleWaiters(new Error('connection closed'));
    const current = this.current;
    if (current === undefined) return;
    this.forget(current);
    stopKeepalive(current);
    current.session.destroy();
    current.socket.destroy();
  }

  private authority(): string {
    const { host, port } = this.options;
    return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  }

  private connect(): void {
    const { host, port, tls } = this.options;
    // The socket is made here rather than by http2.connect, so that an attempt given up in the
    // middle of its TLS handshake can be closed: destroying a session that has not connected
    // leaves its socket open.
    const socket: Socket = tls !== undefined
      ? tlsConnect({
          host,
          port,
          ...(isIP(host) === 0 ? { servername: host } : {}),
          ALPNProtocols: ['h2'],
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          ...(tls.checkServerIdentity !== undefined ? { checkServerIdentity: tls.checkServerIdentity } : {}),
        })
      : netConnect({ host, port });
    socket.on('error', (err: Error) => {
      if (this.current?.socket === socket) this.lastError = err;
    });
    let session: http2.ClientHttp2Session;
    try {
      session = http2.connect(`${tls !== undefined ? 'https' : 'http'}://${this.authority()}`, {
        createConnection: () => socket,
        settings: { enablePush: false },
        // As grpc-js: Node's per-session memory cap, once reached, refuses new streams and behaves badly.
        maxSessionMemory: Number.MAX_SAFE_INTEGER,
      });
    } catch (err) {
      socket.destroy();
      throw err;
    }
    // A connection keeps no process alive (as grpc-js's); the calls' owners do.
    session.unref();
    const current: Session = { session, socket, connected: false, openCalls: 0, keepaliveTimer: undefined };
    this.current = current;
    session.on('connect', () => {
      if (this.current !== current) return;
      current.connected = true;
      this.lastError = undefined;
      this.backoff.reset();
      this.settleWaiters(undefined);
      this.startKeepalive(current);
    });
    session.on('error', (err: Error) => {
      if (this.current === current) this.lastError = err;
    });
    // The peer is going away: new calls go to a new connection; those open finish on this one,
    // which keeps its keepalive while they do. A grpc-go server (Fabric's) says so with
    // ENHANCE_YOUR_CALM "too_many_pings" when pings come faster than its ServerMinInterval: the
    // next connection pings half as often.
    session.on('goaway', (errorCode: number, _lastStreamId: number, opaqueData?: Buffer) => {
      if (errorCode === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM && opaqueData?.toString() === 'too_many_pings') {
        this.keepaliveIntervalMs = Math.min(2 * this.keepaliveIntervalMs, MAX_KEEPALIVE_INTERVAL_MS);
      }
      this.forget(current);
    });
    session.on('close', () => {
      stopKeepalive(current);
      if (this.current !== current) return;
      this.forget(current);
      if (!current.connected && this.waiters.size > 0 && !this.closed) this.retryLater();
      else this.settleWaiters(this.lastError ?? new Error(`connection to ${this.authority()} closed`));
    });
  }

  /** Another attempt after a backoff step, for the callers still waiting (each gives up at its deadline). */
  private retryLater(): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.closed || this.current !== undefined || this.waiters.size === 0) return;
      try {
        this.connect();
      } catch (err) {
        this.settleWaiters(err instanceof Error ? err : new Error(String(err)));
      }
    }, this.backoff.nextDelayMs());
    this.retryTimer.unref();
  }

  private stopRetrying(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private forget(current: Session): void {
    if (this.current !== current) return;
    this.current = undefined;
  }

  private settleWaiters(err: Error | undefined): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.done(err);
    }
    this.waiters.clear();
  }

  /**
   * Pings the session one interval after the last ping was answered (not on a fixed beat: a server
   * enforcing a minimum interval equal to ours, as Fabric's does, would see some pings early), while
   * it has calls open; a ping unanswered within keepaliveTimeoutMs, or one the session refuses,
   * drops the connection, and its calls end UNAVAILABLE.
   */
  private startKeepalive(current: Session): void {
    const { session } = current;
    const dropped = (reason: string): void => {
      if (!session.destroyed) session.destroy(new Error(`keepalive: ${reason} (${this.authority()})`));
    };
    const next = (): void => {
      current.keepaliveTimer = setTimeout(() => {
        current.keepaliveTimer = undefined;
        if (session.destroyed) return;
        if (current.openCalls === 0) {
          next();
          return;
        }
        const timeout = setTimeout(() => dropped(`no ping answer within ${this.options.keepaliveTimeoutMs} ms`), this.options.keepaliveTimeoutMs);
        timeout.unref();
        try {
          const sent = session.ping((err) => {
            clearTimeout(timeout);
            if (err !== null) dropped(`ping failed: ${err.message}`);
            else next();
          });
          if (!sent) {
            // Too many pings outstanding (never, one at a time): try again an interval later.
            clearTimeout(timeout);
            next();
          }
        } catch (err) {
          clearTimeout(timeout);
          dropped(`ping refused: ${err instanceof Error ? err.message : String(err)}`);
        }
      }, this.keepaliveIntervalMs);
      current.keepaliveTimer.unref();
    };
    next();
  }
}

function stopKeepalive(current: Session): void {
  if (current.keepaliveTimer !== undefined) clearTimeout(current.keepaliveTimer);
  current.keepaliveTimer = undefined;
}

/** grpc-js's client behind the same interface. */
export class GrpcJsStepConnection implements StepConnection {
  constructor(private readonly client: grpc.Client) {}

  waitForReady(deadlineMs: number, done: (err: Error | undefined) => void): void {
    this.client.waitForReady(deadlineMs, (err) => done(err));
  }

  openStep(requestHeaders: Readonly<Record<string, string>>, events: StepCallEvents): StepCall {
    const metadata = new grpc.Metadata();
    for (const [name, value] of Object.entries(requestHeaders)) metadata.set(name, value);
    const call = this.client.makeBidiStreamRequest(CLUSTER_STEP_PATH, asBuffer, passThrough, metadata, {});
    let over = false;
    call.on('metadata', (md: grpc.Metadata) => {
      if (over) return;
      events.headers((name) => {
        const value = md.get(name)[0];
        return value === undefined ? undefined : String(value);
      });
    });
    call.on('data', (bytes: Uint8Array) => {
      if (!over) events.message(bytes);
    });
    call.on('drain', () => {
      if (!over) events.drain();
    });
    // The 'status' event carries the same information; an unheard 'error' would throw.
    call.on('error', ignore);
    call.on('status', (status: grpc.StatusObject) => {
      if (over) return;
      over = true;
      events.status(status.code, status.details);
    });
    return {
      // grpc-js takes one buffer per message (and copies it again behind its prefix).
      write: (bytes, written) => call.write(bytes instanceof Gathered ? bytes.join() : bytes, written),
      cancel: () => {
        over = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.client.close();
  }
}
