// A destination that is down, stalled or reconfigured away never blocks the sender: consensus
// messages are dropped and reported once the queue is full, submits fail with typed errors
// after rpcTimeoutMs, and a destination that comes back is reconnected to.
import * as grpc from '@grpc/grpc-js';
import { raftpb } from '../../protos';
import { clusterServiceDefinition, StreamClosedError, SubmitTimeoutError, type ClusterMember } from '../../cluster';
import { freePort, HOST, PINO_WARN, RecordingReceiver, TestNode, waitFor } from './helpers';

const heartbeat = (index: number): raftpb.MessageInit => ({ type: raftpb.MessageType.MsgHeartbeat, from: 1, to: 2, index });

describe('destination down', () => {
  const nodes: TestNode[] = [];
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.close()));
  });

  it('drops and reports once the queue is full without blocking, then reconnects when the destination comes up', async () => {
    const a = new TestNode('a');
    const b = new TestNode('b');
    nodes.push(a, b);
    await a.listen();
    const bPort = await freePort();
    const members: ClusterMember[] = [a.member(1), { id: 2, host: HOST, port: bPort }];
    a.comm.configure('ch', { selfId: 1, members });
    b.comm.configure('ch', { selfId: 2, members });
    const atB = new RecordingReceiver();
    b.comm.register('ch', atB);

    const dialEnded = (): boolean => a.log.lines.some((l) => l.msg === 'connection not ready' || l.msg === 'cluster stream down');
    const results: boolean[] = [];
    for (let i = 0; i < 1_000; i++) results.push(a.comm.sendConsensus('ch', 2, heartbeat(i)));
    results.push(a.comm.sendConsensus('ch', 2, { type: raftpb.MessageType.MsgSnap, from: 1, to: 2, snapshot: { metadata: { index: 5, term: 1 } } }));

    // The loop never waited on the network: all 1,001 sends returned (queued or dropped) before
    // the dial the first one started had any outcome; a send that waited for the connection
    // would have seen it fail first (the destination is down).
    expect(dialEnded()).toBe(false);
    expect(results.slice(0, 100).every((ok) => ok)).toBe(true);
    expect(results.slice(100).some((ok) => ok)).toBe(false);
    expect(a.metrics.dropped[HOST]?.['ch']).toBe(901);
    await Promise.resolve();
    expect(a.unreachable).toContainEqual({ channel: 'ch', nodeId: 2 });
    expect(a.snapshotFailures).toEqual([{ channel: 'ch', nodeId: 2 }]);
    expect(a.log.lines.some((l) => l.level === PINO_WARN && l.msg.includes('dropping'))).toBe(true);

    // Failed connection attempts are reported as unreachable too (the chain keeps Raft probing).
    await waitFor('a failed dial', 10_000, () => a.log.lines.some((l) => l.msg === 'cluster stream down'));
    expect(dialEnded()).toBe(true);

    await b.listen(bPort);
    await waitFor('queued messages after reconnect', 10_000, () => atB.consensus.length === 100);
    expect(atB.consensus.map((m) => m.msg.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(a.comm.sendConsensus('ch', 2, heartbeat(5_000))).toBe(true);
    await waitFor('a new message', 10_000, () => atB.consensus.length === 101);
    expect(atB.consensus[100]?.msg.index).toBe(5_000);
    expect(atB.consensus.every((m) => m.from === 1)).toBe(true);
  });

  it('reconnects after the destination restarts', async () => {
    const a = new TestNode('a');
    const b = new TestNode('b');
    nodes.push(a, b);
    await a.listen();
    const bPort = await b.listen();
    const members = [a.member(1), b.member(2)];
    a.comm.configure('ch', { selfId: 1, members });
    b.comm.configure('ch', { selfId: 2, members });
    const atB = new RecordingReceiver();
    b.comm.register('ch', atB);

    expect(a.comm.sendConsensus('ch', 2, heartbeat(1))).toBe(true);
    await waitFor('first message', 10_000, () => atB.consensus.length === 1);

    await b.stopListening();
    await waitFor('a notices the stream went down', 10_000, () => a.unreachable.length > 0);
    await b.listen(bPort);
    // Keep sending as a leader would (heartbeats) until one gets through on a new stream.
    let index = 2;
    await waitFor('a message after the restart', 10_000, () => {
      a.comm.sendConsensus('ch', 2, heartbeat(index++));
      return atB.consensus.length >= 2;
    }, 10);
    expect(atB.consensus[1]?.from).toBe(1);
  });

  /** A node whose submit queue (sendBufferSize) to node 2, which nobody serves, is full; 300 ms RPC timeout. */
  async function fullSubmitQueueToDownNode(sendBufferSize: number): Promise<TestNode> {
    const a = new TestNode('a', { rpcTimeoutMs: 300, sendBufferSize });
    nodes.push(a);
    await a.listen();
    const downPort = await freePort();
    a.comm.configure('ch', { selfId: 1, members: [a.member(1), { id: 2, host: HOST, port: downPort }] });
    for (let i = 0; i < sendBufferSize; i++) await a.comm.sendSubmit('ch', 2, { lastValidationSeq: i });
    return a;
  }

  it('a submit waits for room up to rpcTimeoutMs, then fails with SubmitTimeoutError', async () => {
    const a = await fullSubmitQueueToDownNode(10);
    const started = Date.now();
    const err: unknown = await a.comm.sendSubmit('ch', 2, { lastValidationSeq: 99 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SubmitTimeoutError);
    expect((err as SubmitTimeoutError).timeoutMs).toBe(300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    // Consensus traffic to the same node has its own queue and is unaffected by the submit backlog.
    expect(a.comm.sendConsensus('ch', 2, heartbeat(1))).toBe(true);
  });

  it('waiting submits give up one by one, each at its own deadline', async () => {
    const a = await fullSubmitQueueToDownNode(2);
    const started = Date.now();
    const failedAtMs: number[] = [];
    const waiting: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      waiting.push(a.comm.sendSubmit('ch', 2, { lastValidationSeq: 10 + i }).catch((e: unknown) => {
        failedAtMs[i] = Date.now() - started;
        return e;
      }));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const errors = await Promise.all(waiting);
    for (const err of errors) expect(err).toBeInstanceOf(SubmitTimeoutError);
    // Put at about 0, 100 and 200 ms with a 300 ms timeout: none gives up early, and the later
    // ones do not wait for a sweep after the first.
    failedAtMs.forEach((atMs, i) => {
      expect(atMs).toBeGreaterThanOrEqual(290 + i * 100);
      expect(atMs).toBeLessThan(300 + i * 100 + 250);
    });
    expect(failedAtMs[0]!).toBeLessThan(failedAtMs[1]!);
    expect(failedAtMs[1]!).toBeLessThan(failedAtMs[2]!);
  });

  it('a peer that stops reading fills the queue; sends stay non-blocking and drops are reported', async () => {
    // A Step server that accepts the stream and never reads from it: HTTP/2 flow control backs up.
    const stalled = new grpc.Server();
    stalled.addService(clusterServiceDefinition, { Step: (call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>) => void call.pause() });
    const stalledPort = await new Promise<number>((resolve, reject) =>
      stalled.bindAsync(`${HOST}:0`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    const a = new TestNode('a', { rpcTimeoutMs: 300 });
    nodes.push(a);
    try {
      a.comm.configure('ch', { selfId: 1, members: [{ id: 2, host: HOST, port: stalledPort }] });
      const big = new Uint8Array(256 * 1024);
      // Send until the queue refuses one. Each send answers at once, queued or dropped: it
      // never waits for the peer to read (which it never will), so this loop ends with a drop;
      // only a send that waited for room would keep it going until the timeout.
      let sent = 0;
      await waitFor('a send refused for want of room', 30_000, () => {
        sent += 1;
        return !a.comm.sendConsensus('ch', 2, { type: raftpb.MessageType.MsgApp, entries: [{ data: big }] });
      }, 1);
      expect(sent).toBeGreaterThan(1);
      expect(a.metrics.dropped[HOST]?.['ch']).toBe(1);
      await Promise.resolve();
      expect(a.unreachable).toContainEqual({ channel: 'ch', nodeId: 2 });

      // After rpcTimeoutMs without progress a full queue gets a fresh stream. The stall is noticed
      // when the next message finds the queue still full: keep sending as a leader would.
      const restart = await waitFor('stream restart', 10_000, () => {
        a.comm.sendConsensus('ch', 2, heartbeat(1));
        return a.log.lines.find((l) => typeof l['reason'] === 'string' && l['reason'].startsWith('no progress'));
      }, 20);
      // Not before the stall timeout (a lower bound: load can only make it later).
      expect(Number(/no progress for (\d+) ms/.exec(String(restart['reason']))?.[1])).toBeGreaterThanOrEqual(300);
    } finally {
      stalled.forceShutdown();
    }
  });
});

describe('reconfiguration', () => {
  const a = new TestNode('a', { rpcTimeoutMs: 5_000, sendBufferSize: 5 });
  const b = new TestNode('b');
  const atB = new RecordingReceiver();

  beforeAll(async () => {
    await a.listen();
    await b.listen();
    b.comm.register('ch', atB);
  });

  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('closes streams of removed nodes, failing waiting submits, and follows a node to its new endpoint', async () => {
    const downPort = await freePort();
    a.comm.configure('ch', { selfId: 1, members: [a.member(1), { id: 2, host: HOST, port: downPort }] });
    b.comm.configure('ch', { selfId: 2, members: [a.member(1), b.member(2)] });
    for (let i = 0; i < 5; i++) await a.comm.sendSubmit('ch', 2, { lastValidationSeq: i });
    const waiting = a.comm.sendSubmit('ch', 2, { lastValidationSeq: 5 }).catch((e: unknown) => e);

    // Node 2 removed: its streams close; the waiting submit fails at once, not after 5 s.
    a.comm.configure('ch', { selfId: 1, members: [a.member(1)] });
    const err = await waiting;
    expect(err).toBeInstanceOf(StreamClosedError);
    expect(a.comm.client.queuedMessages('ch', 2, 'submit')).toBe(0);
    expect(a.comm.sendConsensus('ch', 2, heartbeat(1))).toBe(false);

    // Node 2 back, at the address where it really listens.
    a.comm.configure('ch', { selfId: 1, members: [a.member(1), b.member(2)] });
    expect(a.comm.sendConsensus('ch', 2, heartbeat(2))).toBe(true);
    await a.comm.sendSubmit('ch', 2, { lastValidationSeq: 7, payload: { payload: Uint8Array.of(7) } });
    await waitFor('messages at the new endpoint', 10_000, () => atB.consensus.length === 1 && atB.submits.length === 1);
    expect(atB.consensus[0]?.msg.index).toBe(2);
    expect(atB.submits[0]?.req.lastValidationSeq).toBe(7);
  });

  it('removeChannel stops traffic both ways', async () => {
    a.comm.removeChannel('ch');
    expect(a.comm.sendConsensus('ch', 2, heartbeat(3))).toBe(false);
    await expect(a.comm.sendSubmit('ch', 2, { lastValidationSeq: 1 })).rejects.toThrow('not a known member');
  });
});
