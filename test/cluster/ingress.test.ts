// Bad input on an incoming Step stream ends that stream with a gRPC status that says what was
// wrong, logs a warning, and leaves the server serving everyone else.
import * as grpc from '@grpc/grpc-js';
import { orderer, raftpb } from '../../protos';
import { StepRejectedError } from '../../cluster';
import { PINO_WARN, rawStep, RecordingReceiver, TestNode, waitFor, within } from './helpers';

const MAX_RECV_BYTES = 64 * 1024;

const consensus = (channel: string, payload: Uint8Array): Uint8Array =>
  orderer.StepRequest.encode({ consensusRequest: { channel, payload } });
const heartbeat = raftpb.Message.encode({ type: raftpb.MessageType.MsgHeartbeat, from: 1, to: 2, term: 4 });

describe('incoming Step streams with bad input', () => {
  const server = new TestNode('server');
  const atServer = new RecordingReceiver();
  let port = 0;
  const opened: { close(): void }[] = [];

  beforeAll(async () => {
    port = await server.listen(0, { maxRecvMessageBytes: MAX_RECV_BYTES });
    // Node 1 is a member; the server itself is node 2.
    server.comm.configure('ch', {
      selfId: 2,
      members: [
        { id: 1, host: '127.0.0.1', port: 1 },
        { id: 2, host: '127.0.0.1', port },
      ],
    });
    server.comm.register('ch', atServer);
  });

  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
  });

  afterAll(() => server.close());

  /** Sends `bytes` on a fresh stream claiming `nodeId`, returns the final status. */
  async function rejectedWith(bytes: Uint8Array, nodeId: string | undefined): Promise<grpc.StatusObject> {
    const stream = rawStep(port, nodeId);
    opened.push(stream);
    stream.write(bytes);
    return within(2_000, stream.status);
  }

  /** A well-behaved stream still gets through after each rejection. */
  async function serverStillServes(): Promise<void> {
    const before = atServer.consensus.length;
    const stream = rawStep(port, '1');
    opened.push(stream);
    stream.write(consensus('ch', heartbeat));
    await waitFor('a good message', 10_000, () => atServer.consensus.length === before + 1);
    expect(atServer.consensus[before]?.from).toBe(1);
  }

  const cases: [string, () => Uint8Array, string | undefined, grpc.status, RegExp][] = [
    ['unknown channel', () => consensus('nope', heartbeat), '1', grpc.status.NOT_FOUND, /channel "nope" is not served/],
    ['empty StepRequest', () => new Uint8Array(0), '1', grpc.status.INVALID_ARGUMENT, /neither a consensus request nor a submit request/],
    ['undecodable StepRequest', () => Uint8Array.of(0x0a, 0x10), '1', grpc.status.INVALID_ARGUMENT, /undecodable StepRequest/],
    ['garbage raft payload', () => consensus('ch', Uint8Array.of(0x12, 0x64, 0x01)), '1', grpc.status.INVALID_ARGUMENT, /undecodable raft message/],
    ['submit without envelope', () => orderer.StepRequest.encode({ submitRequest: { channel: 'ch', lastValidationSeq: 3 } }), '1', grpc.status.INVALID_ARGUMENT, /carries no envelope/],
    ['missing sender header', () => consensus('ch', heartbeat), undefined, grpc.status.UNAUTHENTICATED, /x-cluster-node-id/],
    ['malformed sender header', () => consensus('ch', heartbeat), '0x1', grpc.status.UNAUTHENTICATED, /is not a node id/],
    ['sender not a member', () => consensus('ch', heartbeat), '7', grpc.status.PERMISSION_DENIED, /node 7 .* is not configured/],
    ['oversized message', () => consensus('ch', new Uint8Array(MAX_RECV_BYTES + 1)), '1', grpc.status.RESOURCE_EXHAUSTED, /./],
  ];

  it.each(cases)('%s ends the stream with an error status', async (_name, bytes, nodeId, code, details) => {
    const status = await rejectedWith(bytes(), nodeId);
    expect(grpc.status[status.code]).toBe(grpc.status[code]);
    expect(status.details).toMatch(details);
    await serverStillServes();
  });

  it('logs a warning naming the reason', async () => {
    await rejectedWith(consensus('other', heartbeat), '1');
    await waitFor('warning', 10_000, () =>
      server.log.lines.some((l) => l.level === PINO_WARN && String(l['reason']).includes('"other"') && l['code'] === 'NOT_FOUND'),
    );
  });

  it('a receiver that throws ends the stream with INTERNAL; a deliberate rejection keeps its code', async () => {
    atServer.failWith = new Error('chain is halted');
    try {
      const internal = await rejectedWith(consensus('ch', heartbeat), '1');
      expect(internal.code).toBe(grpc.status.INTERNAL);
      expect(internal.details).toMatch(/chain is halted/);
      atServer.failWith = StepRejectedError.malformed('not today');
      const chosen = await rejectedWith(consensus('ch', heartbeat), '1');
      expect(chosen.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(chosen.details).toBe('not today');
    } finally {
      atServer.failWith = undefined;
    }
    await serverStillServes();
  });

  it('messages after a rejected one on the same stream are not delivered', async () => {
    const before = atServer.consensus.length;
    const stream = rawStep(port, '1');
    opened.push(stream);
    stream.write(consensus('nope', heartbeat));
    stream.write(consensus('ch', heartbeat));
    const status = await within(2_000, stream.status);
    expect(status.code).toBe(grpc.status.NOT_FOUND);
    expect(atServer.consensus.length).toBe(before);
  });

  it('counts incoming streams and forgets them when they end', async () => {
    const stream = rawStep(port, '1');
    opened.push(stream);
    stream.write(consensus('ch', heartbeat));
    await waitFor('stream counted', 10_000, () => server.metrics.ingressStreams >= 1);
    for (const s of opened.splice(0)) s.close();
    await waitFor('streams released', 10_000, () => server.metrics.ingressStreams === 0);
  });
});
