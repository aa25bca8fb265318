// Broadcast and Deliver served on the HTTP/2 stream directly (orderer/grpc-direct.ts), seen from the wire:
// a bare node:http2 client writes gRPC frames as it likes (split anywhere, several per DATA
// frame, oversized, compressed) and reads the answers and trailers the way any gRPC client would.
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { common, orderer } from '../../protos';
import { EventEmitter } from 'node:events';
import { TLSSocket, type PeerCertificate } from 'node:tls';
import { encodeGrpcMessage } from '../../cluster/grpc-frames';
import { DirectServerCall, takeOverStreams } from '../../orderer/grpc-direct';
import { addAtomicBroadcastService, atomicBroadcastServerOptions, bindServer } from '../../orderer/grpc-service';
import { handleBroadcast } from '../../orderer/broadcast';
import { BROADCAST_PATH, DEFAULT_MAX_MESSAGE_BYTES, DELIVER_PATH, parseDeliverResponse } from '../../orderer/atomic-broadcast';
import { DeliverService } from '../../orderer/deliver';
import { buildSeekEnvelope, type SeekStart, type SeekStop } from '../../orderer/envelopes';
import { FakeChain, FakeRegistry, makeEnvelope, silentLogger, startTestServer, waitFor, type TestServer } from './fake-chain';

const CHANNEL = 'mychannel';
let chain: FakeChain;
let server: TestServer;

beforeEach(async () => {
  chain = await FakeChain.open({ channelId: CHANNEL });
  server = await startTestServer({ registry: new FakeRegistry([chain]) });
});

afterEach(async () => {
  await server.close();
  await chain.close();
});

function frame(message: Uint8Array, compressed = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = compressed;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

interface WireOutcome {
  headers: http2.IncomingHttpHeaders;
  /** Each message the server sent, as its bytes. */
  messages: Buffer[];
  /** The messages as BroadcastResponses. */
  responses: orderer.BroadcastResponse[];
  trailers: http2.IncomingHttpHeaders;
}

/**
 * Opens a Broadcast stream with a bare HTTP/2 client, writes `pieces` one DATA frame each
 * (waiting for each to leave, so none are merged), half-closes unless told not to, and collects
 * the answers and trailers until the server ends the call.
 */
async function overTheWire(pieces: Buffer[], options: { headers?: http2.OutgoingHttpHeaders; halfClose?: boolean; path?: string } = {}): Promise<WireOutcome> {
  const session = http2.connect(`http://${server.address}`);
  session.on('error', () => undefined);
  try {
    const stream = session.request({
      ':method': 'POST',
      ':path': options.path ?? BROADCAST_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...options.headers,
    });
    // A client that did not half-close still holds the stream when the test ends.
    stream.on('error', () => undefined);
    const headers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
    const trailers = new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      stream.once('trailers', resolve);
      stream.once('close', () => reject(new Error(`stream closed without trailers (rst ${stream.rstCode})`)));
    });
    let received = Buffer.alloc(0);
    stream.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    for (const piece of pieces) await new Promise<void>((resolve, reject) => stream.write(piece, (err) => (err ? reject(err) : resolve())));
    if (options.halfClose ?? true) stream.end();
    const outcome: WireOutcome = { headers: await headers, trailers: await trailers, messages: [], responses: [] };
    for (let at = 0; at < received.length; ) {
      const length = received.readUInt32BE(at + 1);
      outcome.messages.push(received.subarray(at + 5, at + 5 + length));
      at += 5 + length;
    }
    if ((options.path ?? BROADCAST_PATH) === BROADCAST_PATH) outcome.responses = outcome.messages.map((m) => orderer.BroadcastResponse.decode(m));
    stream.close();
    return outcome;
  } finally {
    session.close();
  }
}

const statuses = (o: WireOutcome): common.Status[] => o.responses.map((r) => r.status);

test('the server answers Broadcast itself: its own response headers, and grpc-js is not in the path', async () => {
  const outcome = await overTheWire([frame(makeEnvelope({ channelId: CHANNEL }))]);
  expect(statuses(outcome)).toEqual([common.Status.SUCCESS]);
  // grpc-js would offer its compression algorithms here.
  expect(outcome.headers['grpc-accept-encoding']).toBe('identity');
  expect(outcome.trailers['grpc-status']).toBe('0');
  // Already taken: a second call finds nothing more to take.
  expect(takeOverStreams(server.server)).toBe(0);
});

test('messages split anywhere across DATA frames, and several in one, are each answered in order', async () => {
  const envelopes = [0, 1, 2, 3, 4, 5].map(() => makeEnvelope({ channelId: CHANNEL }));
  const bytes = Buffer.concat(envelopes.map((e) => frame(e)));
  // Every cut the parser can meet: inside the first prefix (1 byte, then 3), inside a body, at a
  // message boundary, and a piece holding the end of one message, two whole ones and the start
  // of the next one's prefix.
  const first = frame(envelopes[0]!).length;
  const cuts = [1, 4, 40, first, first + 7, bytes.length - frame(envelopes[5]!).length + 2, bytes.length];
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    pieces.push(bytes.subarray(from, cut));
    from = cut;
  }
  const outcome = await overTheWire(pieces);
  expect(statuses(outcome)).toEqual(envelopes.map(() => common.Status.SUCCESS));
  expect(outcome.trailers['grpc-status']).toBe('0');
  expect(chain.ordered.map((p) => Buffer.from(p.envelopeBytes))).toEqual(envelopes.map((e) => Buffer.from(e)));
});

test('an envelope of 200 KB in many DATA frames arrives whole', async () => {
  const big = makeEnvelope({ channelId: CHANNEL, dataBytes: 200 * 1024 });
  const framed = frame(big);
  const pieces: Buffer[] = [];
  for (let at = 0; at < framed.length; at += 16_000) pieces.push(framed.subarray(at, at + 16_000));
  expect(pieces.length).toBeGreaterThan(10);
  const outcome = await overTheWire(pieces);
  expect(statuses(outcome)).toEqual([common.Status.SUCCESS]);
  expect(Buffer.from(chain.ordered[0]!.envelopeBytes)).toEqual(Buffer.from(big));
});

test('a message over the size limit ends the call RESOURCE_EXHAUSTED, as grpc-js words it, and orders nothing', async () => {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(DEFAULT_MAX_MESSAGE_BYTES + 1, 1);
  const outcome = await overTheWire([frame(makeEnvelope({ channelId: CHANNEL })), header, Buffer.alloc(1000)]);
  expect(statuses(outcome)).toEqual([common.Status.SUCCESS]);
  expect(outcome.trailers['grpc-status']).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
  expect(decodeURIComponent(String(outcome.trailers['grpc-message']))).toBe(`Received message larger than max (${DEFAULT_MAX_MESSAGE_BYTES + 1} vs ${DEFAULT_MAX_MESSAGE_BYTES})`);
  expect(chain.ordered).toHaveLength(1);
});

test("the server's own receive limit is the one enforced", async () => {
  const limited = new grpc.Server({ ...atomicBroadcastServerOptions(), 'grpc.max_receive_message_length': 1000 });
  addAtomicBroadcastService(limited, {
    broadcast: (call) => handleBroadcast(call, new FakeRegistry([chain]), silentLogger),
    deliver: async () => undefined,
  });
  const port = await bindServer(limited, '127.0.0.1:0');
  const saved = server;
  server = { ...saved, address: `127.0.0.1:${port}` };
  try {
    const outcome = await overTheWire([frame(makeEnvelope({ channelId: CHANNEL })), frame(makeEnvelope({ channelId: CHANNEL, dataBytes: 2000 }))]);
    expect(statuses(outcome)).toEqual([common.Status.SUCCESS]);
    expect(outcome.trailers['grpc-status']).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
    expect(decodeURIComponent(String(outcome.trailers['grpc-message']))).toMatch(/^Received message larger than max \(2\d{3} vs 1000\)$/);
    expect(chain.ordered).toHaveLength(1);
  } finally {
    server = saved;
    limited.forceShutdown();
  }
});

test('a compressed message on a call without compression ends it INTERNAL, and it is not ordered', async () => {
  const outcome = await overTheWire([frame(makeEnvelope({ channelId: CHANNEL }), 1)]);
  expect(outcome.responses).toEqual([]);
  expect(outcome.trailers['grpc-status']).toBe(String(grpc.status.INTERNAL));
  expect(String(outcome.trailers['grpc-message'])).toContain('compress');
  expect(chain.ordered).toEqual([]);
});

test('a client that half-closes in the middle of a message gets INTERNAL; the part is not ordered', async () => {
  const framed = frame(makeEnvelope({ channelId: CHANNEL }));
  const outcome = await overTheWire([framed, framed.subarray(0, 30)]);
  expect(statuses(outcome)).toEqual([common.Status.SUCCESS]);
  expect(outcome.trailers['grpc-status']).toBe(String(grpc.status.INTERNAL));
  expect(chain.ordered).toHaveLength(1);
});

test('a refusal: its answer, then the stream ends with gRPC OK, as Fabric ends it', async () => {
  const outcome = await overTheWire([frame(Buffer.from('not an envelope')), frame(makeEnvelope({ channelId: CHANNEL }))], { halfClose: false });
  expect(statuses(outcome)).toEqual([common.Status.BAD_REQUEST]);
  expect(outcome.responses[0]!.info.length).toBeGreaterThan(0);
  expect(outcome.trailers['grpc-status']).toBe('0');
  expect(chain.ordered).toEqual([]);
});

test('an unknown fate ends the call UNAVAILABLE with the reason percent-encoded in grpc-message', async () => {
  const { EnvelopeFateUnknownError } = await import('../../orderer/errors');
  chain.rejectWith = new EnvelopeFateUnknownError('leader lost — 100% unknown');
  const outcome = await overTheWire([frame(makeEnvelope({ channelId: CHANNEL }))], { halfClose: false });
  expect(outcome.responses).toEqual([]);
  expect(outcome.trailers['grpc-status']).toBe(String(grpc.status.UNAVAILABLE));
  const raw = String(outcome.trailers['grpc-message']);
  expect(raw).not.toMatch(/[^\x20-\x7e]/);
  expect(decodeURIComponent(raw)).toContain('leader lost — 100% unknown');
});

test('calls with a deadline or compression stay with grpc-js, and are answered the same', async () => {
  for (const headers of [{ 'grpc-timeout': '10S' }, { 'grpc-encoding': 'gzip' }]) {
    const outcome = await overTheWire([frame(makeEnvelope({ channelId: CHANNEL }))], { headers });
    expect(statuses(outcome)).toEqual([common.Status.SUCCESS]);
    expect(outcome.trailers['grpc-status']).toBe('0');
    expect(outcome.headers['grpc-accept-encoding']).toContain('gzip');
  }
  expect(chain.ordered).toHaveLength(2);
});

test('a client that resets the stream with envelopes in flight frees it', async () => {
  chain.orderDelayMs = 3000;
  const session = http2.connect(`http://${server.address}`);
  session.on('error', () => undefined);
  try {
    const stream = session.request({ ':method': 'POST', ':path': BROADCAST_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    stream.write(Buffer.concat([0, 1, 2].map(() => frame(makeEnvelope({ channelId: CHANNEL })))));
    await waitFor('the stream to open', 10_000, () => server.activeBroadcasts === 1);
    await new Promise<void>((resolve) => setTimeout(resolve, 200));
    stream.close(http2.constants.NGHTTP2_CANCEL);
    // Released at once, not when the chain settles the envelopes (3 s).
    await waitFor('the server to release the stream', 2_000, () => server.activeBroadcasts === 0);
    expect(chain.ordered).toEqual([]);
  } finally {
    session.close();
  }
});

test('a client that reads no answers is pushed back on: the server stops taking envelopes', async () => {
  chain.orderDelayMs = 0;
  const session = http2.connect(`http://${server.address}`, { settings: { initialWindowSize: 65_535 } });
  session.on('error', () => undefined);
  try {
    const stream = session.request({ ':method': 'POST', ':path': BROADCAST_PATH, 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    stream.pause(); // never read an answer
    const one = frame(makeEnvelope({ channelId: CHANNEL }));
    // 20,000 answers (8 bytes each) are far more than the client's 64 KB window lets the server send.
    for (let i = 0; i < 20_000; i++) if (!stream.write(one)) await new Promise<void>((resolve) => setTimeout(resolve, 0).unref());
    const before = chain.ordered.length;
    await new Promise<void>((resolve) => setTimeout(resolve, 500));
    expect(chain.ordered.length).toBe(before);
    expect(chain.ordered.length).toBeLessThan(20_000);
    stream.resume();
    stream.end();
    await waitFor('every envelope once the client reads again', 30_000, () => chain.ordered.length === 20_000);
  } finally {
    session.close();
  }
});

test('a handler that starts reading late still gets every message, from the first', async () => {
  const late = new grpc.Server(atomicBroadcastServerOptions());
  const received: number[] = [];
  addAtomicBroadcastService(late, {
    broadcast: async (call) => {
      await new Promise<void>((resolve) => setTimeout(resolve, 200));
      await new Promise<void>((resolve) => {
        call.on('data', (message: Uint8Array) => {
          received.push(message.length);
          call.write({ status: common.Status.SUCCESS });
        });
        call.on('end', resolve);
      });
      call.end();
    },
    deliver: async () => undefined,
  });
  const port = await bindServer(late, '127.0.0.1:0');
  const saved = server;
  server = { ...saved, address: `127.0.0.1:${port}` };
  try {
    const outcome = await overTheWire([frame(Buffer.alloc(10)), frame(Buffer.alloc(20)), frame(Buffer.alloc(30))]);
    expect(received).toEqual([10, 20, 30]);
    expect(statuses(outcome)).toEqual([common.Status.SUCCESS, common.Status.SUCCESS, common.Status.SUCCESS]);
    expect(outcome.trailers['grpc-status']).toBe('0');
  } finally {
    server = saved;
    late.forceShutdown();
  }
});

test('ORDERER_SERVE_VIA=grpc-js leaves Broadcast with grpc-js', async () => {
  const previous = process.env.ORDERER_SERVE_VIA;
  process.env.ORDERER_SERVE_VIA = 'grpc-js';
  const other = await startTestServer({ registry: new FakeRegistry([chain]) });
  try {
    const saved = server;
    server = other;
    const outcome = await overTheWire([frame(makeEnvelope({ channelId: CHANNEL }))]);
    server = saved;
    expect(statuses(outcome)).toEqual([common.Status.SUCCESS]);
    expect(outcome.headers['grpc-accept-encoding']).toContain('gzip');
  } finally {
    if (previous === undefined) delete process.env.ORDERER_SERVE_VIA;
    else process.env.ORDERER_SERVE_VIA = previous;
    await other.close();
  }
});

test('a server without AtomicBroadcast has nothing taken over', async () => {
  const bare = new grpc.Server(atomicBroadcastServerOptions());
  await bindServer(bare, '127.0.0.1:0');
  try {
    expect(takeOverStreams(bare)).toBe(0);
  } finally {
    bare.forceShutdown();
  }
});

describe('Deliver', () => {
  test('a seek request is kept as a copy of its own, not as a view pinning the connection\'s read buffer', async () => {
    const kept: number[] = [];
    chain.policyEvaluator = {
      evaluateSignedData: (_policy, signedData) => {
        kept.push(signedData[0]!.data.buffer.byteLength);
        return true;
      },
    };
    const session = http2.connect(`http://${server.address}`);
    session.on('error', () => undefined);
    try {
      const open = (path: string): http2.ClientHttp2Stream => {
        const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
        stream.on('error', () => undefined);
        stream.on('data', () => undefined);
        return stream;
      };
      const b = open(BROADCAST_PATH);
      const d = open(DELIVER_PATH);
      // Written in one turn, so one socket read can carry both.
      b.write(frame(makeEnvelope({ channelId: CHANNEL, dataBytes: 60_000 })));
      d.write(seek('oldest', 'oldest'));
      await waitFor('the seek to be checked', 5_000, () => (kept.length >= 2 ? true : undefined));
      // The seek's bytes (~150) sit in a buffer of their own size, whatever else the read held.
      expect(Math.min(...kept)).toBeLessThan(1024);
      b.close();
      d.close();
    } finally {
      session.close();
    }
  });

  const seek = (start: SeekStart, stop: SeekStop): Buffer => frame(buildSeekEnvelope({ channelId: CHANNEL, start, stop, signature: Uint8Array.of(0x30, 0x01, 0x00) }));

  test('blocks, small and large, arrive as the ledger holds them, then SUCCESS and gRPC OK', async () => {
    await chain.appendBlock([makeEnvelope({ channelId: CHANNEL })]);
    // Far over the size a message is copied into a shared write at: sent as its own chunk.
    await chain.appendBlock([makeEnvelope({ channelId: CHANNEL, dataBytes: 300 * 1024 })]);
    const outcome = await overTheWire([seek('oldest', 'newest')], { path: DELIVER_PATH });
    expect(outcome.headers['grpc-accept-encoding']).toBe('identity');
    expect(outcome.messages).toHaveLength(4);
    for (const n of [0, 1, 2]) {
      const response = parseDeliverResponse(outcome.messages[n]!);
      expect(response.kind).toBe('block');
      if (response.kind === 'block') expect(Buffer.from(response.blockBytes)).toEqual(Buffer.from(chain.blockStore.getBlock(n)!.bytes));
    }
    expect(parseDeliverResponse(outcome.messages[3]!)).toEqual({ kind: 'status', status: common.Status.SUCCESS });
    expect(outcome.trailers['grpc-status']).toBe('0');
  });

  test('blocks the ledger keeps in two pieces arrive whole, from the direct path and from grpc-js', async () => {
    await chain.appendBlock([makeEnvelope({ channelId: CHANNEL })], { inPieces: true });
    // Under the size written as its own chunk (joined with the other small answers), and far over it.
    await chain.appendBlock([makeEnvelope({ channelId: CHANNEL, dataBytes: 300 * 1024 })], { inPieces: true });
    await chain.appendBlock([makeEnvelope({ channelId: CHANNEL, dataBytes: 100 })], { inPieces: true });
    expect([1, 2, 3].map((n) => chain.blockStore.getBlock(n)!.pieces?.length)).toEqual([2, 2, 2]);
    // A deadline keeps the call with grpc-js, which takes one buffer per message.
    for (const headers of [{}, { 'grpc-timeout': '30S' }]) {
      const outcome = await overTheWire([seek('oldest', 'newest')], { path: DELIVER_PATH, headers });
      expect(outcome.messages).toHaveLength(5);
      for (const n of [0, 1, 2, 3]) {
        const response = parseDeliverResponse(outcome.messages[n]!);
        expect(response.kind === 'block' && Buffer.from(response.blockBytes).equals(Buffer.from(chain.blockStore.getBlock(n)!.bytes))).toBe(true);
        if (response.kind === 'block' && n > 0) expect(response.block.metadata?.metadata[2]).toEqual(Buffer.from([n]));
      }
      expect(outcome.trailers['grpc-status']).toBe('0');
    }
  });

  test("a block over the server's send limit ends the call RESOURCE_EXHAUSTED, as grpc-js would", async () => {
    await chain.appendBlock([makeEnvelope({ channelId: CHANNEL, dataBytes: 8 * 1024 })], { inPieces: true });
    expect(chain.blockStore.getBlock(1)!.pieces).toHaveLength(2);
    const limited = new grpc.Server({ ...atomicBroadcastServerOptions(), 'grpc.max_send_message_length': 4096 });
    const deliver = new DeliverService({ registry: new FakeRegistry([chain]), logger: silentLogger });
    addAtomicBroadcastService(limited, { broadcast: async () => undefined, deliver: (call) => deliver.handle(call) });
    const port = await bindServer(limited, '127.0.0.1:0');
    const saved = server;
    server = { ...saved, address: `127.0.0.1:${port}` };
    try {
      const session = http2.connect(server.address.replace(/^/, 'http://'));
      session.on('error', () => undefined);
      try {
        // A client that keeps its side open after the status: the server lets go of the stream all the same.
        const stream = session.request({ ':method': 'POST', ':path': DELIVER_PATH, 'content-type': 'application/grpc', te: 'trailers' });
        stream.on('error', () => undefined);
        stream.on('data', () => undefined);
        const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('trailers', resolve));
        stream.write(seek(1, 1));
        const got = await trailers;
        expect(got['grpc-status']).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
        expect(decodeURIComponent(String(got['grpc-message']))).toMatch(/^Sent message larger than max \(\d+ vs\. 4096\)$/);
        await waitFor('the Deliver handler to let go', 2_000, () => deliver.stats().activeStreams === 0);
      } finally {
        session.close();
      }
    } finally {
      server = saved;
      deliver.close();
      limited.forceShutdown();
    }
  });
});

describe('DirectServerCall on a bare HTTP/2 server', () => {
  async function bareServer(handler: (call: DirectServerCall<Uint8Array>) => void): Promise<{ address: string; close: () => void }> {
    const bare = http2.createServer();
    bare.on('stream', (stream) => handler(new DirectServerCall(stream, { receiveBytes: 1 << 20, sendBytes: 1 << 20 }, (b: Uint8Array) => b, false)));
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    const { port } = bare.address() as { port: number };
    return { address: `127.0.0.1:${port}`, close: () => bare.close() };
  }

  test('a call the client reset hands out nothing more, even to a reader that resumes', async () => {
    const events: string[] = [];
    let resumeIt: (() => void) | undefined;
    const bare = await bareServer((call) => {
      call.on('data', () => {
        events.push('data');
        if (events.length === 1) {
          call.pause();
          resumeIt = () => call.resume();
        }
      });
      call.on('end', () => events.push('end'));
      call.on('cancelled', () => events.push('cancelled'));
      call.on('close', () => events.push('close'));
    });
    const session = http2.connect(`http://${bare.address}`);
    session.on('error', () => undefined);
    try {
      const stream = session.request({ ':method': 'POST', ':path': BROADCAST_PATH, 'content-type': 'application/grpc' });
      stream.on('error', () => undefined);
      stream.write(Buffer.concat([frame(Buffer.alloc(3)), frame(Buffer.alloc(4)), frame(Buffer.alloc(5))]));
      await waitFor('the first message', 5_000, () => resumeIt);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await waitFor('the close', 5_000, () => (events.includes('close') ? true : undefined));
      resumeIt!();
      await new Promise<void>((resolve) => setTimeout(resolve, 100));
      expect(events).toEqual(['data', 'cancelled', 'close']);
    } finally {
      session.close();
      bare.close();
    }
  });

  test('a reader that starts listening after the client ended still hears the end', async () => {
    let ended = false;
    const bare = await bareServer((call) => {
      void (async () => {
        await new Promise<void>((resolve) => setTimeout(resolve, 200));
        call.on('data', () => undefined);
        call.on('end', () => {
          ended = true;
          call.end();
        });
      })();
    });
    const session = http2.connect(`http://${bare.address}`);
    session.on('error', () => undefined);
    try {
      const stream = session.request({ ':method': 'POST', ':path': BROADCAST_PATH, 'content-type': 'application/grpc' });
      stream.on('error', () => undefined);
      stream.on('data', () => undefined);
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('trailers', resolve));
      stream.end();
      expect((await trailers)['grpc-status']).toBe('0');
      expect(ended).toBe(true);
    } finally {
      session.close();
      bare.close();
    }
  });

  test('a client certificate the TLS handshake did not verify is reported as none, as grpc-js does', () => {
    const socket = Object.create(TLSSocket.prototype) as TLSSocket;
    Object.defineProperty(socket, 'authorized', { value: false, configurable: true });
    Object.defineProperty(socket, 'getPeerCertificate', { value: (): Partial<PeerCertificate> => ({ raw: Buffer.from('unverified') }) });
    const stream = Object.assign(new EventEmitter(), { session: { socket }, destroyed: false }) as unknown as http2.ServerHttp2Stream;
    const call = new DirectServerCall(stream, { receiveBytes: 1, sendBytes: 1 }, (b: Uint8Array) => b, false);
    expect(call.getAuthContext().sslPeerCertificate).toBeUndefined();
    Object.defineProperty(socket, 'authorized', { value: true });
    expect(call.getAuthContext().sslPeerCertificate?.raw).toEqual(Buffer.from('unverified'));
  });
});

test('grpc-message: printable ASCII as is, "%" and every other byte of the UTF-8 as %XX', () => {
  expect(encodeGrpcMessage('plain text, (ok)')).toBe('plain text, (ok)');
  expect(encodeGrpcMessage('50% é\n')).toBe('50%25 %C3%A9%0A');
});
