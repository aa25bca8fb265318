// Our own gRPC client for Cluster.Step (cluster/step-transport.ts, DirectStepConnection), seen
// against grpc-js's server and, where a server has to misbehave, a bare node:http2 one: messages
// both ways byte for byte, headers and statuses as grpc-js sends them, limits, cancel and flow
// control. Keepalive, TLS and which client a ClusterClient picks: step-connection.test.ts.
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { NODE_ID_HEADER } from '../../cluster/service';
import { encodeConsensusStep, encodeConsensusStepGathered, Gathered } from '../../cluster/wire';
import { raftpb } from '../../protos';
import { freePort, sleep, waitFor, within } from './helpers';
import { runCleanups, cleanups, grpcServer, bareServer, directConnection, ready, asError, STATUS_WAIT_MS, connected, Recorder, pattern, frame, unframe, okResponseHeaders, type StepServerCall, openCall } from './step-helpers';

afterEach(runCleanups);
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
    const rec = await openCall(connection, { [NODE_ID_HEADER]: '7', 'x-test-extra': 'hello' });
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
    const rec = await openCall(connection);
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
    const rec = await openCall(connection);
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
    const rec = await openCall(connection);
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
    const rec = await openCall(connection);
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

  test('a server that starts listening while a waitForReady waits is reached before its deadline (attempts are retried, as grpc-js does)', async () => {
    const port = await freePort();
    const connection = directConnection(port, { reconnectBackoff: { minDelayMs: 20, maxDelayMs: 100 } });
    const waiting = ready(connection, 5_000);
    await sleep(300); // several refused attempts
    await grpcServer(() => undefined, { port });
    const { err, afterMs } = await waiting;
    expect(err).toBeUndefined();
    expect(afterMs).toBeLessThan(1_500);
  });

  test('the server going away mid-call ends the call once, non-OK; later writes are refused and never written; a server back on the port is reached again', async () => {
    const received: string[] = [];
    const step = (call: StepServerCall): void => {
      call.on('data', (b: Uint8Array) => received.push(Buffer.from(b).toString()));
    };
    const first = await grpcServer(step);
    const connection = directConnection(first.port);
    const rec = await openCall(connection);
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
    const rec2 = await openCall(connection);
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
    const rec = await openCall(connection);
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
    const rec = await openCall(connection);
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
    const rec = await openCall(connection);
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
    const rec = await openCall(connection);
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
    const rec = await openCall(connection);
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

