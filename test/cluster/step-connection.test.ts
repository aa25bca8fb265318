// Our own gRPC client for Cluster.Step (cluster/step-transport.ts), its connection: keepalive
// through a proxy that freezes and against servers that police pings, TLS, and which client a
// ClusterClient picks. The calls themselves: step-transport.test.ts.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { Comm } from '../../cluster';
import { encodeConsensusStep } from '../../cluster/wire';
import { raftpb } from '../../protos';
import { TestTlsCa } from '../support/tls-material';
import { HOST, sleep, waitFor, within } from './helpers';
import { runCleanups, cleanups, grpcServer, bareServer, directConnection, ready, asError, connected, Recorder, pattern, okResponseHeaders, openCall, listenOnLoopback } from './step-helpers';

afterEach(runCleanups);

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
    const port = await listenOnLoopback(server, () => {
      for (const s of sockets) s.destroy();
    });
    return { port, freeze: () => (frozen = true) };
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
    const server = http2.createServer();
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on('session', (session) => {
      const mine: number[] = [];
      arrivals.push(mine);
      sessions.add(session);
      session.on('close', () => sessions.delete(session));
      session.on('error', () => undefined);
      session.on('ping', () => {
        mine.push(Date.now());
        onPing(session, mine.length);
      });
    });
    server.on('stream', (stream) => {
      stream.on('error', () => undefined);
      stream.respond(okResponseHeaders);
      stream.on('data', () => undefined);
    });
    const port = await listenOnLoopback(server, () => {
      for (const session of sessions) session.destroy();
    });
    return { port, arrivals };
  }

  test('each ping comes a whole interval after the last one was answered: never early for a server that enforces the interval (as grpc-go does)', async () => {
    const server = await pingRecorder();
    const connection = directConnection(server.port, { keepaliveIntervalMs: 100, keepaliveTimeoutMs: 1_000 });
    const rec = await openCall(connection);
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
    const first = await openCall(connection);
    first.write(Buffer.from('hi'));
    await within(5_000, first.status());
    const second = await openCall(connection);
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
    const rec = await openCall(connection);
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
    const rec = await openCall(connection);
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
    const port = await listenOnLoopback(silent, () => {
      for (const socket of sockets) socket.destroy();
    });
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
