// Our own gRPC client for Cluster.Step (cluster/step-transport.ts, DirectStepConnection), seen
// against grpc-js's server and, where a server has to misbehave, a bare node:http2 one: messages
// both ways byte for byte, headers and statuses as grpc-js sends them, limits, cancel, flow
// control, keepalive through a proxy that freezes, TLS, and which client a ClusterClient picks.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Comm } from '../../cluster';
import { clusterServiceDefinition, NODE_ID_HEADER } from '../../cluster/service';
import { DirectStepConnection, type DirectStepConnectionOptions, type StepCall, type StepCallEvents } from '../../cluster/step-transport';
import { encodeConsensusStep, encodeConsensusStepGathered, Gathered } from '../../cluster/wire';
import { raftpb } from '../../protos';
import { TestTlsCa } from '../support/tls-material';
import { freePort, HOST, sleep, waitFor, within } from './helpers';

type StepServerCall = grpc.ServerDuplexStream<Uint8Array, Uint8Array>;

// ---------------------------------------------------------------------------------------------
// What every test starts is stopped after it.

const cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  for (let c = cleanups.pop(); c !== undefined; c = cleanups.pop()) await c();
});

interface StartedServer {
  readonly server: grpc.Server;
  readonly port: number;
}

/** A grpc-js server for Cluster.Step with `step` as the handler; port 0 picks a free one. */
async function grpcServer(step: (call: StepServerCall) => void, options: { port?: number; credentials?: grpc.ServerCredentials } = {}): Promise<StartedServer> {
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
async function bareServer(onStream: (stream: http2.ServerHttp2Stream) => void, settings: http2.Settings = {}): Promise<number> {
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
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

const DEFAULTS: Omit<DirectStepConnectionOptions, 'port'> = {
  host: HOST,
  maxSendMessageBytes: 4 * 1024 * 1024,
  maxReceiveMessageBytes: 4 * 1024 * 1024,
  keepaliveIntervalMs: 60_000,
  keepaliveTimeoutMs: 20_000,
};

function directConnection(port: number, options: Partial<DirectStepConnectionOptions> = {}): DirectStepConnection {
  const connection = new DirectStepConnection({ ...DEFAULTS, port, ...options });
  cleanups.push(() => connection.close());
  return connection;
}

/** waitForReady as a promise of its outcome, with when it came. */
function ready(connection: DirectStepConnection, withinMs: number): Promise<{ err: Error | undefined; afterMs: number }> {
  const started = Date.now();
  return new Promise((resolve) => connection.waitForReady(started + withinMs, (err) => resolve({ err, afterMs: Date.now() - started })));
}

/** An Error, whichever realm made it (Node's own errors are not jest's Error). */
function asError(err: Error | undefined): Error {
  expect(Object.prototype.toString.call(err)).toBe('[object Error]');
  expect(typeof err?.message).toBe('string');
  return err!;
}

/** How long a status that is due may take to arrive (it comes within milliseconds when it comes). */
const STATUS_WAIT_MS = 2_000;

async function connected(connection: DirectStepConnection): Promise<void> {
  const { err } = await ready(connection, 5_000);
  expect(err).toBeUndefined();
}

interface Status {
  readonly code: grpc.status;
  readonly details: string;
  /** Delivered while the test was inside one of its call's write()s. */
  readonly insideWrite: boolean;
}

/** A call's events, recorded in order, with its writes wrapped to see what runs inside them. */
class Recorder {
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
function pattern(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

/** gRPC framing, for the bare servers. */
function frame(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** Cuts a stream of gRPC frames into its messages. */
function unframe(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at + 1);
    out.push(bytes.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return out;
}

const okResponseHeaders = { ':status': 200, 'content-type': 'application/grpc' };

// ---------------------------------------------------------------------------------------------

describe('DirectStepConnection against a grpc-js server', () => {
  test('requests of every size arrive intact and in order, with our headers; responses arrive intact; written runs once per write', async () => {
    const received: Buffer[] = [];
    let nodeIdHeader: grpc.MetadataValue[] = [];
    let extraHeader: grpc.MetadataValue[] = [];
    // 300 KB crosses in many DATA frames (and window updates): one message cut across many chunks.
    const responses = [pattern(10, 1), pattern(300 * 1024, 2), Buffer.alloc(0), pattern(4096, 3), pattern(100, 4)];
    const requests = [pattern(100, 5), pattern(500 * 1024, 6), pattern(4096, 7), Buffer.alloc(0), pattern(100, 8), pattern(4095, 9)];
    const { port } = await grpcServer((call) => {
      nodeIdHeader = call.metadata.get(NODE_ID_HEADER);
      extraHeader = call.metadata.get('x-test-extra');
      call.on('data', (b: Uint8Array) => {
        received.push(Buffer.from(b));
        if (received.length === requests.length) for (const r of responses) call.write(r);
      });
    });
    const connection = directConnection(port);
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection, { [NODE_ID_HEADER]: '7', 'x-test-extra': 'hello' });
    const writtenCounts = await rec.writeAll(requests);
    expect(writtenCounts).toEqual(requests.map(() => 1));

    await waitFor('every response', 5_000, () => rec.messages.length >= responses.length);
    expect(received.length).toBe(requests.length);
    received.forEach((r, i) => expect(r.equals(requests[i]!)).toBe(true));
    expect(nodeIdHeader).toEqual(['7']);
    expect(extraHeader).toEqual(['hello']);
    rec.messages.forEach((m, i) => expect(m.equals(responses[i]!)).toBe(true));
    // Headers first, then the messages, once each; the call is still open.
    await sleep(50);
    expect(rec.order.filter((e) => e !== 'drain')).toEqual(['headers', ...responses.map(() => 'message')]);
    expect(rec.statuses).toEqual([]);
    expect(writtenCounts).toEqual(requests.map(() => 1));
  });

  test('a Raft append written in pieces (its blocks uncopied) arrives as the one message it encodes, between others', async () => {
    const received: Buffer[] = [];
    const { port } = await grpcServer((call) => call.on('data', (b: Uint8Array) => received.push(Buffer.from(b))));
    const connection = directConnection(port);
    await connected(connection);
    const block = pattern(400 * 1024, 11);
    const msg: raftpb.MessageInit = {
      type: raftpb.MessageType.MsgApp,
      to: 2,
      from: 1,
      term: 4,
      index: 10,
      commit: 9,
      entries: [
        { term: 4, index: 11, data: block },
        { term: 4, index: 12, data: pattern(10, 12) },
        { term: 4, index: 13, data: block.subarray(0, 5000) },
      ],
    };
    const pieces = encodeConsensusStepGathered('mychannel', msg, Uint8Array.of(5));
    expect(pieces).toBeInstanceOf(Gathered);
    const before = pattern(50, 13);
    const after = pattern(70_000, 14);
    const rec = new Recorder();
    rec.open(connection);
    expect(await rec.writeAll([before, pieces, after])).toEqual([1, 1, 1]);
    await waitFor('three messages', 5_000, () => received.length === 3);
    expect(received[0]!.equals(before)).toBe(true);
    expect(received[1]!.equals(Buffer.from(encodeConsensusStep('mychannel', msg, Uint8Array.of(5))))).toBe(true);
    expect(received[2]!.equals(after)).toBe(true);
  });

  // grpc-js's server ends a call with its trailers and does not reset the stream; our side is still
  // open (a Step sender never half-closes), so the HTTP/2 stream never closes on its own. The
  // status has to be taken from the trailers (as grpc-js's client does), not from 'close'.
  test('a call the server ends with OK (trailers, our side still open) gets status OK, once, after its messages', async () => {
    const { port } = await grpcServer((call) => {
      call.on('data', (b: Uint8Array) => {
        call.write(b);
        call.end();
      });
    });
    const connection = directConnection(port);
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    rec.write(Buffer.from('last'));
    await waitFor('the echo', 5_000, () => rec.messages.length === 1);
    const status = await within(STATUS_WAIT_MS, rec.status());
    expect(status).toEqual({ code: grpc.status.OK, details: expect.any(String), insideWrite: false });
    await sleep(50);
    expect(rec.order).toEqual(['headers', 'message', 'status']);
  });

  test("the server's response headers (sendMetadata) are what events.headers reads, once", async () => {
    const { port } = await grpcServer((call) => {
      const md = new grpc.Metadata();
      md.set('x-answer', 'yes');
      md.set('x-number', '42');
      call.sendMetadata(md);
      call.on('data', (b: Uint8Array) => call.write(b));
    });
    const connection = directConnection(port);
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    rec.write(Buffer.from('ping'));
    await waitFor('the echo', 5_000, () => rec.messages.length === 1);
    expect(rec.headers).toHaveLength(1);
    const get = rec.headers[0]!;
    expect(get('x-answer')).toBe('yes');
    expect(get('x-number')).toBe('42');
    expect(get('x-absent')).toBeUndefined();
    expect(rec.order).toEqual(['headers', 'message']);
    expect(rec.messages[0]!.toString()).toBe('ping');
  });

  test('a non-OK status with non-ASCII and % in its message is delivered decoded, once, after the messages before it', async () => {
    const details = 'refusé: 100% “voll” ✓ %41 + done';
    const { port } = await grpcServer((call) => {
      call.on('data', () => {
        call.write(Buffer.from('before'));
        call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details });
      });
    });
    const connection = directConnection(port);
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    rec.write(Buffer.from('go'));
    await waitFor('the message before the status', 5_000, () => rec.messages.length === 1);
    const status = await within(STATUS_WAIT_MS, rec.status());
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(status.details).toBe(details);
    expect(rec.messages.map((m) => m.toString())).toEqual(['before']);
    await sleep(100);
    expect(rec.statuses).toHaveLength(1);
    expect(rec.order).toEqual(['headers', 'message', 'status']);
  });

  test('a trailers-only rejection (error before anything was sent) is delivered with its code and message, once, without headers', async () => {
    const details = 'not one of ours: ünknown 50%';
    const { port } = await grpcServer((call) => {
      call.emit('error', { code: grpc.status.PERMISSION_DENIED, details });
    });
    const connection = directConnection(port);
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    const status = await within(STATUS_WAIT_MS, rec.status());
    expect(status.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(status.details).toBe(details);
    await sleep(100);
    expect(rec.order).toEqual(['status']);
  });

  test('with nothing listening waitForReady fails by its deadline; once a server is there, the same connection connects and a call works', async () => {
    const port = await freePort();
    const connection = directConnection(port);
    const failed = await ready(connection, 300);
    asError(failed.err);
    expect(failed.afterMs).toBeLessThan(300 + 200);
    // Asking again while still nothing listens fails again (a new attempt, not a stale answer).
    const again = await ready(connection, 300);
    asError(again.err);

    const { port: samePort } = await grpcServer(
      (call) => {
        call.on('data', (b: Uint8Array) => call.write(Buffer.concat([Buffer.from('echo:'), b])));
      },
      { port },
    );
    expect(samePort).toBe(port);
    const ok = await ready(connection, 3_000);
    expect(ok.err).toBeUndefined();
    const rec = new Recorder();
    rec.open(connection);
    rec.write(Buffer.from('x'));
    await waitFor('the echo', 5_000, () => rec.messages.length === 1);
    expect(rec.messages[0]!.toString()).toBe('echo:x');
    expect(rec.statuses).toEqual([]);
  });

  test('the server going away mid-call ends the call once, non-OK; later writes are refused and never written; a server back on the port is reached again', async () => {
    const received: string[] = [];
    const step = (call: StepServerCall): void => {
      call.on('data', (b: Uint8Array) => received.push(Buffer.from(b).toString()));
    };
    const first = await grpcServer(step);
    const connection = directConnection(first.port);
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    rec.write(Buffer.from('one'));
    await waitFor('the first message at the server', 5_000, () => received.length === 1);

    first.server.forceShutdown();
    const status = await within(5_000, rec.status());
    expect(status.code).not.toBe(grpc.status.OK);
    expect(status.insideWrite).toBe(false);

    let writtenRuns = 0;
    expect(rec.write(Buffer.from('two'), () => (writtenRuns += 1))).toBe(false);
    expect(rec.write(pattern(64 * 1024, 1), () => (writtenRuns += 1))).toBe(false);
    await sleep(100);
    expect(writtenRuns).toBe(0);
    expect(rec.statuses).toHaveLength(1);

    await grpcServer(step, { port: first.port });
    await connected(connection);
    const rec2 = new Recorder();
    rec2.open(connection);
    let written2 = 0;
    rec2.write(Buffer.from('three'), () => (written2 += 1));
    await waitFor('the message on the new server', 5_000, () => received.length === 2);
    expect(received).toEqual(['one', 'three']);
    expect(written2).toBe(1);
  });

  test('a response over maxReceiveMessageBytes ends the call RESOURCE_EXHAUSTED; the messages before it arrive', async () => {
    let cancelled = false;
    const { port } = await grpcServer((call) => {
      call.on('cancelled', () => (cancelled = true));
      call.on('data', () => {
        call.write(pattern(1000, 1));
        call.write(pattern(1001, 2));
        call.write(pattern(10, 3));
      });
    });
    const connection = directConnection(port, { maxReceiveMessageBytes: 1000 });
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    rec.write(Buffer.from('go'));
    const status = await within(5_000, rec.status());
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toContain('Received message larger than max');
    expect(rec.messages).toHaveLength(1);
    expect(rec.messages[0]!.equals(pattern(1000, 1))).toBe(true);
    await waitFor('the server sees the call cancelled', 5_000, () => cancelled);
    await sleep(50);
    expect(rec.order).toEqual(['headers', 'message', 'status']);
  });

  test('a write over maxSendMessageBytes returns false and ends the call RESOURCE_EXHAUSTED, reported after write() returned', async () => {
    const received: Buffer[] = [];
    let cancelled = false;
    const { port } = await grpcServer((call) => {
      call.on('cancelled', () => (cancelled = true));
      call.on('data', (b: Uint8Array) => received.push(Buffer.from(b)));
    });
    const connection = directConnection(port, { maxSendMessageBytes: 1000 });
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    let writtenAtLimit = 0;
    expect(rec.write(pattern(1000, 1), () => (writtenAtLimit += 1))).toBe(true);
    await waitFor('the message at the limit at the server', 5_000, () => received.length === 1);
    expect(received[0]!.equals(pattern(1000, 1))).toBe(true);
    expect(writtenAtLimit).toBe(1);

    let writtenOver = 0;
    expect(rec.write(pattern(1001, 2), () => (writtenOver += 1))).toBe(false);
    expect(rec.statuses).toEqual([]); // not from inside write()
    const status = await within(5_000, rec.status());
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.insideWrite).toBe(false);
    await waitFor('the server sees the call cancelled', 5_000, () => cancelled);
    await sleep(50);
    expect(writtenOver).toBe(0);
    expect(received).toHaveLength(1);
    expect(rec.statuses).toHaveLength(1);
  });

  test('cancel(): no event after it, and the server sees the call cancelled', async () => {
    let cancelled = false;
    const { port } = await grpcServer((call) => {
      call.on('cancelled', () => (cancelled = true));
      // Keeps answering until the call is gone.
      const timer = setInterval(() => {
        if (cancelled) clearInterval(timer);
        else call.write(pattern(200, 1));
      }, 5);
      cleanups.push(() => clearInterval(timer));
    });
    const connection = directConnection(port);
    await connected(connection);
    const rec = new Recorder();
    const call = rec.open(connection);
    rec.write(Buffer.from('start'));
    await waitFor('answers flowing', 5_000, () => rec.messages.length >= 3);
    call.cancel();
    const seen = rec.order.length;
    await waitFor('the server sees the call cancelled', 5_000, () => cancelled);
    await sleep(100);
    expect(rec.order.length).toBe(seen);
    expect(rec.statuses).toEqual([]);
    // Writes after cancel are refused, and never written.
    let written = 0;
    expect(rec.write(Buffer.from('late'), () => (written += 1))).toBe(false);
    await sleep(20);
    expect(written).toBe(0);
  });

  test('cancel() from inside events.message: the messages behind it in the same chunk are not delivered, nor anything else', async () => {
    const port = await bareServer((stream) => {
      stream.respond(okResponseHeaders);
      // Three messages in one write: one DATA frame, one chunk at the client.
      stream.write(Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b')), frame(Buffer.from('c'))]));
      stream.end(); // trailers would follow; the call is cancelled before
    });
    const connection = directConnection(port);
    await connected(connection);
    const rec = new Recorder();
    const call = rec.open(connection);
    rec.onMessage = () => call.cancel();
    await waitFor('the first message', 5_000, () => rec.messages.length >= 1);
    await sleep(100);
    expect(rec.messages.map((m) => m.toString())).toEqual(['a']);
    expect(rec.order).toEqual(['headers', 'message']);
  });

  // Fails today: DirectStepCall.report() queues the status with process.nextTick and does not look
  // again whether the call was cancelled meanwhile.
  test('a status that is already due is not delivered after cancel() (write over the limit, then cancel at once)', async () => {
    const { port } = await grpcServer((call) => call.on('data', () => undefined));
    const connection = directConnection(port, { maxSendMessageBytes: 100 });
    await connected(connection);
    const rec = new Recorder();
    const call = rec.open(connection);
    expect(rec.write(pattern(101, 1))).toBe(false);
    // The caller gives up on the call at once: StepCall's contract says no event follows cancel().
    call.cancel();
    await sleep(100);
    expect(rec.statuses).toEqual([]);
  });
});

describe('DirectStepConnection against a bare HTTP/2 server', () => {
  test('a message cut anywhere across the server writes, and several in one write, arrive whole and in order', async () => {
    const messages = [pattern(3000, 1), Buffer.alloc(0), pattern(7, 2), pattern(40_000, 3), Buffer.from('tail')];
    const bytes = Buffer.concat(messages.map(frame));
    const first = frame(messages[0]!).length;
    // Inside the first prefix (1 byte, then 3), inside a body, right at a boundary, across the
    // empty message and the next prefix, and the rest in one piece.
    const cuts = [1, 4, 100, first, first + 7, first + 5 + 5 + 2, bytes.length];
    const port = await bareServer((stream) => {
      stream.respond(okResponseHeaders, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      void (async () => {
        let from = 0;
        for (const cut of cuts) {
          await new Promise<void>((resolve) => stream.write(bytes.subarray(from, cut), () => resolve()));
          await sleep(5); // one DATA frame each, read on its own
          from = cut;
        }
        stream.end();
      })();
    });
    const connection = directConnection(port);
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    const status = await within(5_000, rec.status());
    expect(status.code).toBe(grpc.status.OK);
    expect(rec.messages.length).toBe(messages.length);
    rec.messages.forEach((m, i) => expect(m.equals(messages[i]!)).toBe(true));
  });

  test('a stream that ends OK in the middle of a message is not OK', async () => {
    const port = await bareServer((stream) => {
      stream.respond(okResponseHeaders, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(pattern(100, 1)).subarray(0, 50));
    });
    const connection = directConnection(port);
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    const status = await within(5_000, rec.status());
    expect(status.code).toBe(grpc.status.INTERNAL);
    expect(rec.messages).toEqual([]);
  });

  test('backpressure: against a server that does not read, writes return false and are not written; when it reads, drain comes and the rest goes through', async () => {
    let serverStream: http2.ServerHttp2Stream | undefined;
    const chunks: Buffer[] = [];
    const port = await bareServer(
      (stream) => {
        serverStream = stream;
        stream.respond(okResponseHeaders);
        stream.pause();
      },
      { initialWindowSize: 65_535 },
    );
    const connection = directConnection(port);
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    const MB = 1024 * 1024;
    const messages = [0, 1, 2, 3].map((i) => pattern(MB, i));
    const written = messages.map(() => 0);
    let next = 0;
    let refused = false;
    while (next < messages.length && !refused) {
      const i = next++;
      refused = !rec.write(messages[i]!, () => (written[i] = (written[i] ?? 0) + 1));
    }
    expect(refused).toBe(true);
    const drained = rec.nextDrain();
    await waitFor('the server stream', 5_000, () => serverStream !== undefined);
    await sleep(300);
    // Stuck behind the server's windows: no drain, the messages not handed over.
    expect(rec.drains).toBe(0);
    expect(written.reduce((a, b) => a + b, 0)).toBeLessThan(next);
    expect(rec.statuses).toEqual([]);

    serverStream!.on('data', (c: Buffer) => chunks.push(c));
    serverStream!.resume();
    await within(5_000, drained);
    while (next < messages.length) {
      const i = next++;
      if (!rec.write(messages[i]!, () => (written[i] = (written[i] ?? 0) + 1))) await within(5_000, rec.nextDrain());
    }
    const total = messages.length * (MB + 5);
    await waitFor('everything at the server', 10_000, () => chunks.reduce((n, c) => n + c.length, 0) === total);
    await waitFor('every write written', 5_000, () => written.every((w) => w === 1));
    const got = unframe(Buffer.concat(chunks));
    expect(got.length).toBe(messages.length);
    got.forEach((m, i) => expect(m.equals(messages[i]!)).toBe(true));
  });
});

describe('keepalive', () => {
  /** A TCP proxy to `target` that can stop forwarding both ways without closing anything. */
  async function freezableProxy(target: number): Promise<{ port: number; freeze(): void }> {
    let frozen = false;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((downstream) => {
      const upstream = net.connect(target, HOST);
      for (const s of [downstream, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          sockets.delete(s);
          downstream.destroy();
          upstream.destroy();
        });
      }
      downstream.on('data', (d: Buffer) => {
        if (!frozen) upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => {
        if (!frozen) downstream.write(d);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    );
    return { port: (server.address() as net.AddressInfo).port, freeze: () => (frozen = true) };
  }

  test('a connection whose peer stops answering pings is dropped, and its open call ends non-OK within about a second', async () => {
    const { port } = await grpcServer((call) => call.on('data', (b: Uint8Array) => call.write(b)));
    const proxy = await freezableProxy(port);
    const connection = directConnection(proxy.port, { keepaliveIntervalMs: 100, keepaliveTimeoutMs: 200 });
    // The control: the same proxy, keepalive far off. Freezing alone does not end its call.
    const control = directConnection(proxy.port);
    await connected(connection);
    await connected(control);
    const rec = new Recorder();
    rec.open(connection);
    rec.write(Buffer.from('hi'));
    const controlRec = new Recorder();
    controlRec.open(control);
    controlRec.write(Buffer.from('hi'));
    await waitFor('the echoes', 5_000, () => rec.messages.length === 1 && controlRec.messages.length === 1);
    // Pings answered: several keepalive rounds pass and the call stays open.
    await sleep(600);
    expect(rec.statuses).toEqual([]);

    proxy.freeze();
    const frozenAt = Date.now();
    const status = await within(5_000, rec.status());
    const tookMs = Date.now() - frozenAt;
    expect(status.code).not.toBe(grpc.status.OK);
    expect(tookMs).toBeLessThan(1_500);
    await sleep(100);
    expect(rec.statuses).toHaveLength(1);
    expect(controlRec.statuses).toEqual([]);
  });

  /** A bare HTTP/2 server that records when each PING reaches it; `onPing` may answer it with a GOAWAY. */
  async function pingRecorder(onPing: (session: http2.ServerHttp2Session, count: number) => void = () => undefined): Promise<{ port: number; arrivals: number[][] }> {
    const arrivals: number[][] = [];
    const server = await new Promise<http2.Http2Server>((resolve) => {
      const s = http2.createServer();
      s.on('session', (session) => {
        const mine: number[] = [];
        arrivals.push(mine);
        session.on('error', () => undefined);
        session.on('ping', () => {
          mine.push(Date.now());
          onPing(session, mine.length);
        });
      });
      s.on('stream', (stream) => {
        stream.on('error', () => undefined);
        stream.respond(okResponseHeaders);
        stream.on('data', () => undefined);
      });
      s.listen(0, HOST, () => resolve(s));
    });
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on('session', (session) => {
      sessions.add(session);
      session.on('close', () => sessions.delete(session));
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const session of sessions) session.destroy();
          server.close(() => resolve());
        }),
    );
    return { port: (server.address() as net.AddressInfo).port, arrivals };
  }

  test('each ping comes a whole interval after the last one was answered: never early for a server that enforces the interval (as grpc-go does)', async () => {
    const server = await pingRecorder();
    const connection = directConnection(server.port, { keepaliveIntervalMs: 100, keepaliveTimeoutMs: 1_000 });
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    rec.write(Buffer.from('hi'));
    await waitFor('six pings', 5_000, () => (server.arrivals[0]?.length ?? 0) >= 6);
    const times = server.arrivals[0]!;
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(100);
    expect(rec.statuses).toEqual([]);
  });

  test('a GOAWAY "too_many_pings" (ENHANCE_YOUR_CALM): the next connection pings half as often', async () => {
    const server = await pingRecorder((session, count) => {
      // The first connection is told off at its second ping, as grpc-go does after its strikes.
      if (server.arrivals.length === 1 && count === 2) session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('too_many_pings'));
    });
    const connection = directConnection(server.port, { keepaliveIntervalMs: 100, keepaliveTimeoutMs: 1_000 });
    await connected(connection);
    const first = new Recorder();
    first.open(connection);
    first.write(Buffer.from('hi'));
    await within(5_000, first.status());
    await connected(connection);
    const second = new Recorder();
    second.open(connection);
    second.write(Buffer.from('hi'));
    await waitFor('four pings on the second connection', 5_000, () => (server.arrivals[1]?.length ?? 0) >= 4);
    const times = server.arrivals[1]!;
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(200);
  });

  // Node refuses pings on a session it is closing, so the keepalive cannot watch such a call: at its
  // next ping the connection is dropped and the call ends (grpc-js's client does the same). What
  // matters is that it ends, instead of hanging on a link that may be dead.
  test('a call left on a connection the server is closing (GOAWAY), on a link that then dies, ends at the next keepalive', async () => {
    let sessionOfCall: http2.Http2Session | undefined;
    const port = await bareServer((stream) => {
      sessionOfCall = stream.session;
      stream.respond(okResponseHeaders);
      stream.on('data', () => undefined);
    });
    const proxy = await freezableProxy(port);
    const connection = directConnection(proxy.port, { keepaliveIntervalMs: 100, keepaliveTimeoutMs: 200 });
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    rec.write(Buffer.from('hi'));
    await waitFor('the call at the server', 5_000, () => sessionOfCall !== undefined);
    // Graceful: the open stream may finish, no new ones.
    sessionOfCall!.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    await sleep(20);
    proxy.freeze();
    const frozenAt = Date.now();
    const status = await within(5_000, rec.status());
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(Date.now() - frozenAt).toBeLessThan(1_000);
  });
});

describe('TLS', () => {
  const ca = new TestTlsCa('tlsca.example.com');
  const serverPair = ca.issue('orderer1.example.com');
  const clientPair = ca.issue('orderer2.example.com');
  const serverCredentials = (): grpc.ServerCredentials =>
    grpc.ServerCredentials.createSsl(Buffer.from(ca.certPem), [{ cert_chain: Buffer.from(serverPair.certPem), private_key: Buffer.from(serverPair.keyPem) }], true);
  const dialTls = { ca: Buffer.from(ca.certPem), cert: Buffer.from(clientPair.certPem), key: Buffer.from(clientPair.keyPem) };

  test('a mutual-TLS server sees our client certificate on the call', async () => {
    let peerCert: Buffer | undefined;
    let calls = 0;
    const { port } = await grpcServer(
      (call) => {
        calls += 1;
        peerCert = call.getAuthContext().sslPeerCertificate?.raw;
        call.on('data', (b: Uint8Array) => call.write(b));
      },
      { credentials: serverCredentials() },
    );
    const connection = directConnection(port, { tls: dialTls });
    await connected(connection);
    const rec = new Recorder();
    rec.open(connection);
    rec.write(Buffer.from('over tls'));
    await waitFor('the echo', 5_000, () => rec.messages.length === 1);
    expect(rec.messages[0]!.toString()).toBe('over tls');
    expect(calls).toBe(1);
    expect(peerCert).toBeDefined();
    expect(peerCert!.equals(Buffer.from(clientPair.der))).toBe(true);
  });

  test('a server certificate our check refuses: waitForReady fails with its error, and no call reaches the server', async () => {
    let calls = 0;
    const { port } = await grpcServer(
      () => {
        calls += 1;
      },
      { credentials: serverCredentials() },
    );
    const refusal = 'not the pinned certificate (test)';
    let checked = 0;
    const connection = directConnection(port, {
      tls: {
        ...dialTls,
        checkServerIdentity: () => {
          checked += 1;
          return new Error(refusal);
        },
      },
    });
    const { err } = await ready(connection, 3_000);
    expect(asError(err).message).toContain(refusal);
    expect(checked).toBeGreaterThan(0);
    // A call on the refused connection is not opened either.
    const rec = new Recorder();
    rec.open(connection);
    expect(rec.write(Buffer.from('x'))).toBe(false);
    const status = await within(5_000, rec.status());
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    await sleep(100);
    expect(calls).toBe(0);
  });
  test('a peer that accepts the connection but never answers the handshake: the attempt is given up at the deadline, and the next dial connects afresh', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
      // Reads (and drops) the ClientHello, so that it sees the client's close.
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, HOST, resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          silent.close(() => resolve());
        }),
    );
    const port = (silent.address() as net.AddressInfo).port;
    const connection = directConnection(port, { tls: dialTls });
    const first = await ready(connection, 300);
    expect(asError(first.err).message).toContain('before the deadline');
    expect(first.afterMs).toBeGreaterThanOrEqual(290);
    await waitFor('the silent peer to see its connection dropped', 2_000, () => sockets.length === 1 && sockets[0]!.destroyed);
    const second = await ready(connection, 300);
    expect(second.err).toBeDefined();
    // A second TCP connection: the hung attempt was not waited on again.
    expect(sockets.length).toBe(2);
  });
});

describe('which client a ClusterClient dials with', () => {
  const saved = process.env.ORDERER_DIAL_VIA;
  afterEach(() => {
    if (saved === undefined) delete process.env.ORDERER_DIAL_VIA;
    else process.env.ORDERER_DIAL_VIA = saved;
  });

  const block = pattern(300 * 1024, 21);
  const append: raftpb.MessageInit = { type: raftpb.MessageType.MsgApp, to: 2, from: 1, term: 1, index: 1, entries: [{ term: 1, index: 2, data: block }] };

  /** The user-agent of the first Step call a Comm makes to a server of ours, and the messages the server got (a heartbeat, then a block append). */
  async function commToServer(): Promise<{ agent: string[]; received: Buffer[] }> {
    const agents: string[][] = [];
    const received: Buffer[] = [];
    const { port } = await grpcServer((call) => {
      agents.push(call.metadata.get('user-agent').map(String));
      call.on('data', (b: Uint8Array) => received.push(Buffer.from(b)));
    });
    const comm = new Comm({ logger: pino({ level: 'silent' }), dialTimeoutMs: 1_000, minReconnectBackoffMs: 20, maxReconnectBackoffMs: 200 });
    cleanups.push(() => comm.close());
    comm.configure('ch', { selfId: 1, members: [{ id: 1, host: HOST, port: 1 }, { id: 2, host: HOST, port }] });
    expect(comm.sendConsensus('ch', 2, { type: raftpb.MessageType.MsgHeartbeat, to: 2, from: 1, term: 1 })).toBe(true);
    expect(comm.sendConsensus('ch', 2, append)).toBe(true);
    await waitFor('both messages at the server', 5_000, () => received.length === 2);
    expect(received[1]!.equals(Buffer.from(encodeConsensusStep('ch', append)))).toBe(true);
    return { agent: agents[0]!, received };
  }

  test('ORDERER_DIAL_VIA=grpc-js: the calls come from grpc-js, a block append joined into one buffer intact', async () => {
    process.env.ORDERER_DIAL_VIA = 'grpc-js';
    const { agent } = await commToServer();
    expect(agent.length).toBe(1);
    expect(agent[0]!.startsWith('grpc-node-js')).toBe(true);
  });

  test('by default: the calls come from our own client, not grpc-js, a block append intact', async () => {
    delete process.env.ORDERER_DIAL_VIA;
    const { agent } = await commToServer();
    expect(agent.some((a) => a.startsWith('grpc-node-js'))).toBe(false);
  });
});
