// Fixtures for the tests of our own Step client (cluster/step-transport.ts): grpc-js and bare
// node:http2 servers on 127.0.0.1, connections and calls whose events are recorded, and the
// cleanups that stop everything a test started.
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { clusterServiceDefinition } from '../../cluster/service';
import { DirectStepConnection, type DirectStepConnectionOptions, type StepCall, type StepCallEvents } from '../../cluster/step-transport';
import type { Gathered } from '../../cluster/wire';
import { HOST, waitFor, within } from './helpers';

export type StepServerCall = grpc.ServerDuplexStream<Uint8Array, Uint8Array>;

// ---------------------------------------------------------------------------------------------
// What every test starts is stopped after it.

export const cleanups: Array<() => void | Promise<void>> = [];

/** Stops, newest first, what the test started; each test file runs it afterEach. */
export async function runCleanups(): Promise<void> {
  for (let c = cleanups.pop(); c !== undefined; c = cleanups.pop()) await c();
}

export interface StartedServer {
  readonly server: grpc.Server;
  readonly port: number;
}

/** A grpc-js server for Cluster.Step with `step` as the handler; port 0 picks a free one. */
export async function grpcServer(step: (call: StepServerCall) => void, options: { port?: number; credentials?: grpc.ServerCredentials } = {}): Promise<StartedServer> {
  const server = new grpc.Server();
  server.addService(clusterServiceDefinition, {
    Step: (call: StepServerCall) => {
      call.on('error', () => undefined);
      step(call);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${HOST}:${options.port ?? 0}`, options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  cleanups.push(() => server.forceShutdown());
  return { server, port };
}

/** A bare HTTP/2 server: `onStream` gets each stream as it comes. */
export async function bareServer(onStream: (stream: http2.ServerHttp2Stream) => void, settings: http2.Settings = {}): Promise<number> {
  const server = http2.createServer({ settings });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    onStream(stream);
  });
  return listenOnLoopback(server, () => {
    for (const s of sessions) s.destroy();
  });
}

export const DEFAULTS: Omit<DirectStepConnectionOptions, 'port'> = {
  host: HOST,
  maxSendMessageBytes: 4 * 1024 * 1024,
  maxReceiveMessageBytes: 4 * 1024 * 1024,
  keepaliveIntervalMs: 60_000,
  keepaliveTimeoutMs: 20_000,
};

export function directConnection(port: number, options: Partial<DirectStepConnectionOptions> = {}): DirectStepConnection {
  const connection = new DirectStepConnection({ ...DEFAULTS, port, ...options });
  cleanups.push(() => connection.close());
  return connection;
}

/** waitForReady as a promise of its outcome, with when it came. */
export function ready(connection: DirectStepConnection, withinMs: number): Promise<{ err: Error | undefined; afterMs: number }> {
  const started = Date.now();
  return new Promise((resolve) => connection.waitForReady(started + withinMs, (err) => resolve({ err, afterMs: Date.now() - started })));
}

/** An Error, whichever realm made it (Node's own errors are not jest's Error). */
export function asError(err: Error | undefined): Error {
  expect(Object.prototype.toString.call(err)).toBe('[object Error]');
  expect(typeof err?.message).toBe('string');
  return err!;
}

/** How long a status that is due may take to arrive (it comes within milliseconds when it comes). */
export const STATUS_WAIT_MS = 2_000;

export async function connected(connection: DirectStepConnection): Promise<void> {
  const { err } = await ready(connection, 5_000);
  expect(err).toBeUndefined();
}

export interface Status {
  readonly code: grpc.status;
  readonly details: string;
  /** Delivered while the test was inside one of its call's write()s. */
  readonly insideWrite: boolean;
}

/** A call's events, recorded in order, with its writes wrapped to see what runs inside them. */
export class Recorder {
  readonly order: string[] = [];
  readonly headers: Array<(name: string) => string | undefined> = [];
  readonly messages: Buffer[] = [];
  readonly statuses: Status[] = [];
  drains = 0;
  /** Called from inside events.message, after the message is recorded (a test's reaction). */
  onMessage: ((bytes: Buffer) => void) | undefined;
  private writing = false;
  private drainWaiters: Array<() => void> = [];
  private statusWaiters: Array<(s: Status) => void> = [];
  call: StepCall | undefined;

  readonly events: StepCallEvents = {
    headers: (get) => {
      this.order.push('headers');
      this.headers.push(get);
    },
    message: (bytes) => {
      this.order.push('message');
      const copy = Buffer.from(bytes);
      this.messages.push(copy);
      this.onMessage?.(copy);
    },
    drain: () => {
      this.order.push('drain');
      this.drains += 1;
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    },
    status: (code, details) => {
      this.order.push('status');
      const status: Status = { code, details, insideWrite: this.writing };
      this.statuses.push(status);
      for (const w of this.statusWaiters) w(status);
      this.statusWaiters = [];
    },
  };

  open(connection: DirectStepConnection, headers: Record<string, string> = {}): StepCall {
    this.call = connection.openStep(headers, this.events);
    return this.call;
  }

  write(bytes: Uint8Array | Gathered, written: () => void = () => undefined): boolean {
    if (this.call === undefined) throw new Error('no call');
    this.writing = true;
    try {
      return this.call.write(bytes, written);
    } finally {
      this.writing = false;
    }
  }

  /** Writes each message in turn, waiting for drain when a write says so; resolves with how often each one's written ran. */
  async writeAll(messages: ReadonlyArray<Uint8Array | Gathered>): Promise<number[]> {
    const counts = messages.map(() => 0);
    for (const [i, m] of messages.entries()) {
      const ok = this.write(m, () => (counts[i] = (counts[i] ?? 0) + 1));
      if (!ok) await within(5_000, this.nextDrain());
    }
    await waitFor('every write written', 5_000, () => counts.every((c) => c >= 1));
    return counts;
  }

  nextDrain(): Promise<void> {
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  status(): Promise<Status> {
    const first = this.statuses[0];
    if (first !== undefined) return Promise.resolve(first);
    return new Promise((resolve) => this.statusWaiters.push(resolve));
  }
}

/** `length` bytes, each a function of its position and `seed`, so misplaced bytes show. */
export function pattern(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

/** gRPC framing, for the bare servers. */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Cuts a stream of gRPC frames into its messages. */
export function unframe(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at + 1);
    out.push(bytes.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return out;
}

export const okResponseHeaders = { ':status': 200, 'content-type': 'application/grpc' };

/** Waits for `connection` and opens a call on it, recorded. */
export async function openCall(connection: DirectStepConnection, headers: Record<string, string> = {}): Promise<Recorder> {
  await connected(connection);
  const rec = new Recorder();
  rec.open(connection, headers);
  return rec;
}

/**
 * Listens on 127.0.0.1 (a free port) and has the test's cleanup close the server, after
 * `destroyOpen` has closed what it still holds open. Resolves with the port.
 */
export async function listenOnLoopback(server: net.Server, destroyOpen: () => void): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        destroyOpen();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}
