// Shared fixtures for the cluster tests: orderer-like nodes (Comm + ClusterServer on an
// ephemeral 127.0.0.1 port), recording receivers, a captured pino log, raw Step clients for
// sending what a well-behaved node never would, and the shared waitFor (test/support/wait.ts).
import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import pino, { type Logger } from 'pino';
import {
  CLUSTER_STEP_PATH,
  clusterServiceDefinition,
  ClusterServer,
  Comm,
  CountingClusterMetrics,
  NODE_ID_HEADER,
  type ChannelMembership,
  type ClusterMember,
  type CommOptions,
  type MessageReceiver,
  type NodeId,
} from '../../cluster';
import type { orderer, raftpb } from '../../protos';

export const HOST = '127.0.0.1';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines are kept in memory, so tests can assert on warnings. */
export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug', base: undefined },
    { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
  );
  return { logger, lines };
}

export const PINO_WARN = 40;

export interface ReceivedConsensus {
  from: NodeId;
  msg: raftpb.Message;
  metadata: Uint8Array;
}

export interface ReceivedSubmit {
  from: NodeId;
  req: orderer.SubmitRequest;
}

export class RecordingReceiver implements MessageReceiver {
  readonly consensus: ReceivedConsensus[] = [];
  readonly submits: ReceivedSubmit[] = [];
  /** When set, every call throws it (a chain refusing traffic). */
  failWith: Error | undefined;

  onConsensus(from: NodeId, msg: raftpb.Message, metadata: Uint8Array): void {
    if (this.failWith !== undefined) throw this.failWith;
    this.consensus.push({ from, msg, metadata });
  }

  onSubmit(from: NodeId, req: orderer.SubmitRequest): void {
    if (this.failWith !== undefined) throw this.failWith;
    this.submits.push({ from, req });
  }
}

export interface Unreachable {
  channel: string;
  nodeId: NodeId;
}

/** One orderer as far as the cluster is concerned. */
export class TestNode {
  readonly unreachable: Unreachable[] = [];
  readonly snapshotFailures: Unreachable[] = [];
  readonly metrics = new CountingClusterMetrics();
  readonly log = captureLogger();
  readonly comm: Comm;
  server: ClusterServer | undefined;

  constructor(
    readonly name: string,
    options: Partial<CommOptions> = {},
  ) {
    this.comm = new Comm({
      logger: this.log.logger.child({ node: name }),
      metrics: this.metrics,
      dialTimeoutMs: 500,
      minReconnectBackoffMs: 20,
      maxReconnectBackoffMs: 200,
      onUnreachable: (channel, nodeId) => this.unreachable.push({ channel, nodeId }),
      onSnapshotFailed: (channel, nodeId) => this.snapshotFailures.push({ channel, nodeId }),
      ...options,
    });
  }

  /** Starts serving Cluster.Step; port 0 picks a free one. */
  async listen(port = 0, limits: { maxRecvMessageBytes?: number; tls?: grpc.ServerCredentials } = {}): Promise<number> {
    this.server = await ClusterServer.listen({ host: HOST, port, dispatcher: this.comm.dispatcher, ...limits });
    return this.server.port;
  }

  get port(): number {
    if (this.server === undefined) throw new Error(`${this.name} is not listening`);
    return this.server.port;
  }

  member(id: NodeId): ClusterMember {
    return { id, host: HOST, port: this.port };
  }

  async stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }

  async close(): Promise<void> {
    this.comm.close();
    await this.stopListening();
  }
}

/** Configures every node on `channel`: node i gets ids[i]. */
export function configureChannel(channel: string, nodes: readonly TestNode[], ids: readonly NodeId[]): ClusterMember[] {
  const members = nodes.map((n, i) => n.member(ids[i] ?? 0));
  nodes.forEach((n, i) => {
    const membership: ChannelMembership = { selfId: ids[i] ?? 0, members };
    n.comm.configure(channel, membership);
  });
  return members;
}

export { waitFor } from '../support/wait';

/** `promise`, or a rejection naming the timeout if it takes longer than `timeoutMs`. */
export async function within<T>(timeoutMs: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no result within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port that was free a moment ago (bound then released), for a server that starts later. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface RawStep {
  write(bytes: Uint8Array): void;
  /** The status the server ended the stream with. */
  readonly status: Promise<grpc.StatusObject>;
  close(): void;
}

/** A Step stream with nothing between the test and the wire: any header, any bytes. */
export function rawStep(port: number, nodeIdHeader: string | undefined, credentials = grpc.credentials.createInsecure()): RawStep {
  const client = new grpc.Client(`${HOST}:${port}`, credentials, {
    'grpc.use_local_subchannel_pool': 1,
  });
  const metadata = new grpc.Metadata();
  if (nodeIdHeader !== undefined) metadata.set(NODE_ID_HEADER, nodeIdHeader);
  const call = client.makeBidiStreamRequest(
    CLUSTER_STEP_PATH,
    (b: Uint8Array) => Buffer.from(b),
    (b: Buffer) => b,
    metadata,
  );
  call.on('data', () => undefined);
  call.on('error', () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return {
    write: (bytes) => void call.write(bytes),
    status,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

/**
 * Nodes a (id 1) and b (id 2) on channel 'ch', b recording what it receives; listening before the
 * enclosing describe's tests and closed after them.
 */
export function nodePairForDescribe(aOptions: Partial<CommOptions> = {}): { a: TestNode; b: TestNode; atB: RecordingReceiver } {
  const a = new TestNode('a', aOptions);
  const b = new TestNode('b');
  const atB = new RecordingReceiver();
  beforeAll(async () => {
    await a.listen();
    await b.listen();
    configureChannel('ch', [a, b], [1, 2]);
    b.comm.register('ch', atB);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });
  return { a, b, atB };
}

/** A Cluster.Step server that is not one of ours (a Fabric orderer, or one misbehaving as the test scripts): `step` handles each stream. */
export async function scriptedStepServer(step: (call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>) => void): Promise<{ port: number; close(): void }> {
  const server = new grpc.Server();
  server.addService(clusterServiceDefinition, {
    Step: (call: grpc.ServerDuplexStream<Uint8Array, Uint8Array>) => {
      call.on('error', () => undefined);
      step(call);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${HOST}:0`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, close: () => server.forceShutdown() };
}
