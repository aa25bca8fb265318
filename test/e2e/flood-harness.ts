// The pieces of the flood test (flood.test.ts) that are not the orderer under test:
//   - FloodNodeProcess: the node itself, test/support/flood-node.ts in a child process, driven
//     over IPC (status, disk speed, stop); its memory is read from /proc by the test;
//   - FakePeers: the channel's other two consenters, played in the test process over the real
//     cluster transport (cluster/comm.ts): node 2 is a follower that grants every vote and
//     acknowledges every append at once (so node 1 leads and commits on its own disk's pace),
//     node 3 answers nothing (a deposed member);
//   - StepFlood: Step streams that claim to be node 3 and send large appends of an old term
//     as fast as HTTP/2 flow control lets them;
//   - BroadcastFlood: Broadcast streams pushing envelopes as fast as gRPC lets them, recording
//     every answer per tx id;
//   - scanLedger: every tx id of the node's chain over Deliver, with the hash chain checked;
//   - runFlood: the scenario from start to end, returning what it measured.
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Comm } from '../../cluster/comm';
import { ClusterServer } from '../../cluster/server';
import { asBuffer, CLUSTER_STEP_PATH, NODE_ID_HEADER, passThrough } from '../../cluster/service';
import type { ClusterMember, MessageReceiver, NodeId, SubmitOutcome } from '../../cluster/types';
import { blockDataHash, blockHeaderHash, envelopeTxIdOrEmpty } from '../../ledger/block';
import { bytesEqual } from '../../ledger/hash';
import { dialOrderer } from '../../orderer/atomic-broadcast';
import { writeDevnet } from '../../orderer/devnet';
import { BroadcastClient, deliverBlocks } from '../../orderer/deliver-client';
import { buildEnvelope, NONCE_BYTES } from '../../orderer/envelopes';
import { statusName } from '../../orderer/errors';
import { common, orderer, raftpb } from '../../protos';
import type { FloodNodeReply, FloodNodeRequest, FloodNodeSpec } from '../support/flood-node';
import { readProcessMemory, type ProcessMemory } from '../support/proc-memory';
import { freePorts } from '../support/ports';
import { waitFor } from '../support/wait';

const FLOOD_NODE_JS = path.resolve(__dirname, '../../dist/test/support/flood-node.js');

type StatusReply = Extract<FloodNodeReply, { type: 'status' }>;
/** A request as the caller writes it; the id is added when it is sent. */
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The node under test: a child process with an IPC channel. */
export class FloodNodeProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: FloodNodeReply) => void>();
  private readonly exited: Promise<void>;
  /** Set when the process ended; a crash under the flood fails the test. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly ready: Promise<number>;

  private constructor(
    private readonly child: ChildProcess,
    readonly logPath: string,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        for (const w of this.waiting.values()) w({ type: 'failed', message: `flood node exited (code ${code}, signal ${signal})` });
        this.waiting.clear();
        resolve();
      }),
    );
    this.ready = new Promise<number>((resolve, reject) => {
      child.on('message', (raw: unknown) => {
        const reply = raw as FloodNodeReply;
        if (reply.type === 'ready') resolve(reply.port);
        else if (reply.type === 'failed') reject(new Error(`flood node failed: ${reply.message}; see ${logPath}`));
        else {
          this.waiting.get(reply.id)?.(reply);
          this.waiting.delete(reply.id);
        }
      });
      void this.exited.then(() => reject(new Error(`flood node exited before it was ready; see ${logPath}`)));
    });
    this.ready.catch(() => undefined);
  }

  static spawn(spec: FloodNodeSpec, logPath: string): FloodNodeProcess {
    if (!existsSync(FLOOD_NODE_JS)) throw new Error(`${FLOOD_NODE_JS} is missing: run npm run build first`);
    const fd = openSync(logPath, 'a');
    const child = spawn(process.execPath, [FLOOD_NODE_JS, JSON.stringify(spec)], { stdio: ['ignore', fd, fd, 'ipc'] });
    closeSync(fd);
    return new FloodNodeProcess(child, logPath);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  private request(req: Unnumbered<FloodNodeRequest>): Promise<FloodNodeReply> {
    if (!this.running) return Promise.reject(new Error(`flood node is not running (${JSON.stringify(this.exit)})`));
    const id = this.nextId++;
    return new Promise<FloodNodeReply>((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ ...req, id } as FloodNodeRequest);
    });
  }

  async status(): Promise<StatusReply> {
    const reply = await this.request({ type: 'status' });
    if (reply.type !== 'status') throw new Error(`flood node: ${reply.type === 'failed' ? reply.message : 'unexpected reply'}`);
    return reply;
  }

  async setDiskSlow(slow: boolean): Promise<void> {
    const reply = await this.request({ type: 'disk', slow });
    if (reply.type !== 'ack') throw new Error(`flood node did not change its disk: ${JSON.stringify(reply)}`);
  }

  /** A clean stop over IPC; SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      if (this.child.connected) this.child.send({ type: 'stop', id: 0 } satisfies FloodNodeRequest);
      else this.child.kill('SIGKILL');
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  memory(): ProcessMemory | undefined {
    return readProcessMemory(this.pid);
  }
}

// ---- the other consenters ---------------------------------------------------------------------

/** Node 2: grants every vote and acknowledges every append and heartbeat at once. */
class AgreeingFollower implements MessageReceiver {
  constructor(
    private readonly comm: Comm,
    private readonly channel: string,
    private readonly selfId: NodeId,
  ) {}

  onConsensus(from: NodeId, msg: raftpb.Message): void {
    const reply = (m: Omit<raftpb.MessageInit, 'from' | 'to'>): void => {
      this.comm.sendConsensus(this.channel, from, { ...m, from: this.selfId, to: from });
    };
    const T = raftpb.MessageType;
    switch (msg.type) {
      case T.MsgApp:
        reply({ type: T.MsgAppResp, term: msg.term, index: msg.index + msg.entries.length });
        return;
      case T.MsgSnap:
        reply({ type: T.MsgAppResp, term: msg.term, index: msg.snapshot?.metadata?.index ?? 0 });
        return;
      case T.MsgHeartbeat:
        reply({ type: T.MsgHeartbeatResp, term: msg.term, context: msg.context });
        return;
      case T.MsgPreVote:
        reply({ type: T.MsgPreVoteResp, term: msg.term });
        return;
      case T.MsgVote:
        reply({ type: T.MsgVoteResp, term: msg.term });
        return;
      default:
        return;
    }
  }

  onSubmit(): SubmitOutcome {
    return { status: common.Status.SERVICE_UNAVAILABLE, info: 'node 2 of the flood test never leads' };
  }
}

/** Node 3: takes what node 1 sends (its answers to the old-term appends among it) and answers nothing. */
class SilentMember implements MessageReceiver {
  onConsensus(): void {}
  onSubmit(): SubmitOutcome {
    return { status: common.Status.SERVICE_UNAVAILABLE, info: 'node 3 of the flood test never leads' };
  }
}

/** Nodes 2 and 3 of the channel, each with its own cluster transport and listener. */
export class FakePeers {
  private readonly comms: Comm[] = [];
  private readonly servers: ClusterServer[] = [];

  /** Members 2 and 3 of `members` (node 1 is the flood node), listening on their ports. */
  static async start(channel: string, members: readonly ClusterMember[]): Promise<FakePeers> {
    const peers = new FakePeers();
    try {
      await peers.listen(channel, members, 2, (comm) => new AgreeingFollower(comm, channel, 2));
      await peers.listen(channel, members, 3, () => new SilentMember());
      return peers;
    } catch (err) {
      await peers.close();
      throw err;
    }
  }

  private async listen(channel: string, members: readonly ClusterMember[], id: NodeId, receiverFor: (comm: Comm) => MessageReceiver): Promise<void> {
    const self = members.find((m) => m.id === id);
    if (self === undefined) throw new Error(`the channel has no member ${id}`);
    const comm = new Comm({ logger: pino({ level: 'silent' }) });
    this.comms.push(comm);
    comm.configure(channel, { selfId: id, members });
    comm.register(channel, receiverFor(comm));
    this.servers.push(await ClusterServer.listen({ host: self.host, port: self.port, dispatcher: comm.dispatcher }));
  }

  async close(): Promise<void> {
    for (const c of this.comms) c.close();
    await Promise.all(this.servers.map((s) => s.close()));
  }
}

// ---- the Step flood ---------------------------------------------------------------------------

export interface StepFloodOptions {
  address: string;
  channel: string;
  /** Who the streams claim to be (the x-cluster-node-id header and the message's `from`). */
  fromNodeId: NodeId;
  toNodeId: NodeId;
  /** The term the appends carry: older than the receiver's, so its Raft answers and drops them. */
  term: number;
  entryBytes: number;
  streams: number;
  /** HTTP/2 connections the streams are spread over. */
  connections: number;
}

/** Encoded StepRequest carrying one MsgApp with one entry of `entryBytes`, as a deposed leader streams its log. */
export function oldTermAppend(o: Pick<StepFloodOptions, 'channel' | 'fromNodeId' | 'toNodeId' | 'term' | 'entryBytes'>): Uint8Array {
  const msg = raftpb.Message.encode({
    type: raftpb.MessageType.MsgApp,
    from: o.fromNodeId,
    to: o.toNodeId,
    term: o.term,
    logTerm: o.term,
    index: 100,
    commit: 0,
    entries: [{ type: raftpb.EntryType.EntryNormal, term: o.term, index: 101, data: randomBytes(o.entryBytes) }],
  });
  return orderer.StepRequest.encode({ consensusRequest: { channel: o.channel, payload: msg, metadata: new Uint8Array(0) } });
}

export class StepFlood {
  /** Bytes (and messages) whose write gRPC completed, i.e. that went onto the HTTP/2 stream. */
  sentBytes = 0;
  sentMessages = 0;
  /** How streams ended before the test cancelled them (the node must not end a member's stream). */
  readonly streamErrors: string[] = [];
  readonly messageBytes: number;
  private running = false;
  private readonly clients: grpc.Client[] = [];
  private readonly calls: grpc.ClientDuplexStream<Uint8Array, Uint8Array>[] = [];
  private readonly wakers = new Set<() => void>();
  private pumps: Promise<void>[] = [];
  private readonly message: Uint8Array;

  constructor(private readonly o: StepFloodOptions) {
    this.message = oldTermAppend(o);
    this.messageBytes = this.message.length;
  }

  start(): void {
    this.running = true;
    for (let c = 0; c < this.o.connections; c++) {
      // A channel option of its own keeps grpc-js from sharing one connection among the clients.
      this.clients.push(new grpc.Client(this.o.address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
    }
    for (let s = 0; s < this.o.streams; s++) {
      const md = new grpc.Metadata();
      md.set(NODE_ID_HEADER, String(this.o.fromNodeId));
      const call = this.clients[s % this.clients.length]!.makeBidiStreamRequest(CLUSTER_STEP_PATH, asBuffer, passThrough, md);
      call.on('data', () => undefined); // nothing is ever answered on Step; read anyway
      call.on('error', () => undefined); // reported through 'status'
      // The node never ends a member's Step stream by itself: any status before the test
      // cancels the stream (an error, or even OK) is a failure.
      call.on('status', (st: grpc.StatusObject) => {
        if (this.running) this.streamErrors.push(`${grpc.status[st.code] ?? st.code}: ${st.details}`);
      });
      this.calls.push(call);
      this.pumps.push(this.pump(call));
    }
  }

  private async pump(call: grpc.ClientDuplexStream<Uint8Array, Uint8Array>): Promise<void> {
    const bytes = this.message;
    while (this.running && !call.destroyed) {
      const more = call.write(bytes, (err?: Error | null) => {
        if (err !== undefined && err !== null) return;
        this.sentBytes += bytes.length;
        this.sentMessages++;
      });
      if (more) continue;
      // The stream's buffer is full: wait until flow control lets the node take more.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          call.off('drain', done);
          call.off('close', done);
          this.wakers.delete(done);
          resolve();
        };
        call.on('drain', done);
        call.on('close', done);
        this.wakers.add(done);
      });
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const wake of [...this.wakers]) wake();
    await Promise.all(this.pumps);
    for (const call of this.calls) call.cancel();
    for (const client of this.clients) client.close();
  }
}

// ---- the Broadcast flood ----------------------------------------------------------------------

export interface BroadcastFloodOptions {
  address: string;
  channel: string;
  streams: number;
  /** Payload data per envelope. */
  dataBytes: number;
  /** Envelopes a stream keeps unanswered at most; by default only gRPC's flow control holds it back. */
  windowPerStream?: number;
}

export class BroadcastFlood {
  offered = 0;
  streamsOpened = 0;
  /** Tx ids answered SUCCESS, refused (SERVICE_UNAVAILABLE), and never answered (the stream ended first). */
  readonly acknowledged = new Set<string>();
  readonly refused = new Set<string>();
  readonly unanswered = new Set<string>();
  /** Answers other than SUCCESS and SERVICE_UNAVAILABLE, and streams that failed: none are expected. */
  readonly unexpected: string[] = [];
  readonly refusalReasons = new Map<string, number>();
  /** Longest time from sending an envelope to its answer (SUCCESS or refusal). */
  maxAnswerMs = 0;
  private running = false;
  private lanes: Promise<void>[] = [];
  private readonly data: Uint8Array;
  private readonly signature = randomBytes(71);
  private readonly creator = Buffer.from('flood-test-client');
  private stopped!: () => void;
  private readonly stoppedPromise = new Promise<void>((resolve) => (this.stopped = resolve));

  constructor(private readonly o: BroadcastFloodOptions) {
    // One random payload for all: the nonce makes each tx id unique, and random bytes per
    // envelope would spend the test's CPU on randomness instead of on the flood.
    this.data = randomBytes(o.dataBytes);
  }

  /** Bytes of one envelope as sent (they differ only in nonce and timestamp). */
  get envelopeBytes(): number {
    return this.envelope().bytes.length;
  }

  private envelope(): { bytes: Uint8Array; txId: string } {
    return buildEnvelope({ channelId: this.o.channel, creator: this.creator, nonce: randomBytes(NONCE_BYTES), data: this.data, signature: this.signature });
  }

  start(): void {
    this.running = true;
    for (let i = 0; i < this.o.streams; i++) this.lanes.push(this.lane());
  }

  private async lane(): Promise<void> {
    const client = dialOrderer(this.o.address);
    try {
      while (this.running) {
        const stream = new BroadcastClient(this.o.address, { client });
        this.streamsOpened++;
        const pending = new Set<Promise<void>>();
        while (this.running && !stream.ended) {
          const env = this.envelope();
          this.offered++;
          const sentAtMs = Date.now();
          const answered: Promise<void> = stream.send(env.bytes).then(
            (res) => {
              this.maxAnswerMs = Math.max(this.maxAnswerMs, Date.now() - sentAtMs);
              this.record(env.txId, res);
            },
            () => void this.unanswered.add(env.txId),
          );
          pending.add(answered);
          void answered.finally(() => pending.delete(answered));
          // Wait while gRPC's buffer is full. A stream the node ended after a refusal never drains;
          // its unanswered envelopes settle then, this one among them.
          await Promise.race([stream.writable(), answered, this.stoppedPromise]);
          if (this.o.windowPerStream !== undefined && pending.size >= this.o.windowPerStream) await Promise.race([...pending, this.stoppedPromise]);
        }
        // Half-close and wait until every envelope has its answer or the stream has ended.
        stream.halfClose();
        await Promise.all(pending);
        const failure = stream.failure;
        if (failure?.grpcCode !== undefined && failure.grpcCode !== grpc.status.OK) this.unexpected.push(`stream failed: ${failure.message}`);
        stream.cancel();
      }
    } finally {
      client.close();
    }
  }

  private record(txId: string, res: orderer.BroadcastResponse): void {
    if (res.status === common.Status.SUCCESS) this.acknowledged.add(txId);
    else if (res.status === common.Status.SERVICE_UNAVAILABLE) {
      this.refused.add(txId);
      this.refusalReasons.set(res.info, (this.refusalReasons.get(res.info) ?? 0) + 1);
    } else this.unexpected.push(`${txId}: ${statusName(res.status)} ${res.info}`);
  }

  /** Stops sending; resolves once every stream has its answers. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopped();
    await Promise.all(this.lanes);
  }
}

/** Bytes of one envelope of the Broadcast flood for `channel` with `dataBytes` of payload data. */
export function floodEnvelopeBytes(channel: string, dataBytes: number): number {
  return new BroadcastFlood({ address: '', channel, streams: 0, dataBytes }).envelopeBytes;
}

// ---- the ledger -------------------------------------------------------------------------------

export interface LedgerScan {
  height: number;
  /** How often each tx id occurs in blocks 1.. (the genesis block's config tx is left out). */
  txIdCounts: Map<string, number>;
  dataBytes: number;
}

/** Reads the whole chain over Deliver, block by block, checking numbers, data hashes and the hash chain. */
export async function scanLedger(address: string, channel: string): Promise<LedgerScan> {
  const txIdCounts = new Map<string, number>();
  let previousHash: Uint8Array | undefined;
  let height = 0;
  let dataBytes = 0;
  for await (const b of deliverBlocks({ address, channelId: channel, start: 'oldest', stop: 'newest', receiveTimeoutMs: 20_000 })) {
    const header = b.block.header!;
    if (header.number !== height) throw new Error(`block at position ${height} has number ${header.number}`);
    const data = b.block.data?.data ?? [];
    if (!bytesEqual(header.dataHash, blockDataHash(data))) throw new Error(`block ${height}: data hash does not match its data`);
    if (previousHash !== undefined && !bytesEqual(header.previousHash, previousHash)) throw new Error(`block ${height}: previous hash breaks the chain`);
    previousHash = blockHeaderHash(header);
    if (height > 0) {
      for (const env of data) {
        const txId = envelopeTxIdOrEmpty(env);
        txIdCounts.set(txId, (txIdCounts.get(txId) ?? 0) + 1);
        dataBytes += env.length;
      }
    }
    height++;
  }
  return { height, txIdCounts, dataBytes };
}

// ---- the scenario -----------------------------------------------------------------------------

export interface FloodScenario {
  channel: string;
  /** What the node runs with (flood-node.ts). */
  node: Omit<FloodNodeSpec, 'configPath'>;
  /** The channel's config (its genesis block). */
  preferredMaxBytes: number;
  absoluteMaxBytes: number;
  maxInflightBlocks: number;
  snapshotIntervalBytes: number;
  /** Ticks of 100 ms without word from node 2 before node 1 steps down (CheckQuorum). */
  electionTick: number;
  /**
   * The flood lasts at least `minFloodMs` and until `targetOfferedBytes` were offered (Step and
   * Broadcast together), but no longer than `maxFloodMs`: on a loaded machine the node takes less
   * per second, and the flood goes on longer to offer as much.
   */
  minFloodMs: number;
  maxFloodMs: number;
  targetOfferedBytes: number;
  stepStreams: number;
  stepConnections: number;
  stepEntryBytes: number;
  broadcastStreams: number;
  envelopeDataBytes: number;
  /** How long the node may take to order what it acknowledged once the disk is fast (default 30 s). */
  drainTimeoutMs?: number;
}

export interface FloodResult {
  floodMs: number;
  /** VmRSS once the node leads and has ordered a warm-up load, before the flood. */
  baseline: ProcessMemory;
  /** The larger of the kernel's VmHWM at the end of the flood and the largest VmRSS sampled. */
  peakRssBytes: number;
  sampledPeakRssBytes: number;
  atFloodEnd: ProcessMemory;
  /** Largest VmRSS in each second of the flood. */
  rssBySecondBytes: number[];
  /** The node's V8 heap in use and its buffers outside the heap, once a second during the flood. */
  heapUsedBySecondBytes: number[];
  externalBySecondBytes: number[];
  stepMessageBytes: number;
  stepSentBytes: number;
  stepSentMessages: number;
  stepStreamErrors: string[];
  envelopeBytes: number;
  broadcastOffered: number;
  broadcastStreamsOpened: number;
  acknowledged: number;
  refused: number;
  unanswered: number;
  unansweredOrdered: number;
  refusalReasons: Map<string, number>;
  maxAnswerMs: number;
  unexpectedAnswers: string[];
  /** Acknowledged tx ids missing from the ledger. */
  lost: string[];
  /** Tx ids in the ledger more than once. */
  orderedTwice: string[];
  /** Refused tx ids found in the ledger (a refusal promises "not ordered"). */
  refusedButOrdered: string[];
  /** The node was still up once the ledger had been read. */
  nodeSurvived: boolean;
  node: Extract<FloodNodeReply, { type: 'status' }>;
  ledger: { height: number; txIds: number; dataBytes: number };
}

/** Runs the whole scenario on a fresh node in a temp dir; every process and stream it starts is stopped before it returns. */
export async function runFlood(s: FloodScenario): Promise<FloodResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'orderer-flood-'));
  let peers: FakePeers | undefined;
  let node: FloodNodeProcess | undefined;
  let steps: StepFlood | undefined;
  let broadcasts: BroadcastFlood | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    const ports = await freePorts(3);
    const layout = await writeDevnet({
      dataDir,
      openAccess: true,
      ports,
      channels: [s.channel],
      tickInterval: '100ms',
      electionTick: s.electionTick,
      heartbeatTick: 1,
      batchTimeout: '50ms',
      preferredMaxBytes: s.preferredMaxBytes,
      absoluteMaxBytes: s.absoluteMaxBytes,
      maxInflightBlocks: s.maxInflightBlocks,
      snapshotIntervalSizeBytes: s.snapshotIntervalBytes,
      logLevel: 'info',
    });
    const members = layout.nodes.map((n, i) => ({ id: i + 1, host: n.host, port: n.port }));
    const address = `${layout.nodes[0]!.host}:${layout.nodes[0]!.port}`;
    peers = await FakePeers.start(s.channel, members);
    const flooded = FloodNodeProcess.spawn({ ...s.node, configPath: layout.nodes[0]!.configPath }, path.join(dataDir, 'flood-node.log'));
    node = flooded;
    await flooded.ready;
    const leading = await waitFor('node 1 to lead and take envelopes', 30_000, async () => {
      const st = await flooded.status();
      return st.chain !== undefined && st.chain.leaderId === 1 && st.chain.leaderReady ? st.chain : undefined;
    });
    // The flood's appends carry term 1, which must be an old term for the node.
    if (leading.term < 2) throw new Error(`node 1 leads in term ${leading.term}; the flood needs term 1 to be old`);

    // A short warm-up (first blocks, every code path loaded), then the baseline.
    const warmup = new BroadcastFlood({ address, channel: s.channel, streams: 1, dataBytes: s.envelopeDataBytes, windowPerStream: 4 });
    warmup.start();
    await waitFor('a few warm-up envelopes acknowledged', 20_000, () => warmup.acknowledged.size >= 50);
    await warmup.stop();
    await waitFor('the warm-up envelopes in blocks', 20_000, async () => (await flooded.status()).chain?.acceptedUnordered === 0);
    const baseline = flooded.memory()!;

    // The disk turns slow as the flood starts, and fast again once it has ended.
    await flooded.setDiskSlow(true);
    const floodStartedMs = Date.now();
    let sampledPeakRssBytes = baseline.rssBytes;
    const rssBySecondBytes: number[] = [];
    sampler = setInterval(() => {
      const m = flooded.memory();
      if (m === undefined) return;
      sampledPeakRssBytes = Math.max(sampledPeakRssBytes, m.rssBytes);
      const second = Math.floor((Date.now() - floodStartedMs) / 1000);
      rssBySecondBytes[second] = Math.max(rssBySecondBytes[second] ?? 0, m.rssBytes);
    }, 25);
    steps = new StepFlood({
      address,
      channel: s.channel,
      fromNodeId: 3,
      toNodeId: 1,
      term: 1,
      entryBytes: s.stepEntryBytes,
      streams: s.stepStreams,
      connections: s.stepConnections,
    });
    broadcasts = new BroadcastFlood({
      address,
      channel: s.channel,
      streams: s.broadcastStreams,
      dataBytes: s.envelopeDataBytes,
    });
    steps.start();
    broadcasts.start();
    const heapUsedBySecondBytes: number[] = [];
    const externalBySecondBytes: number[] = [];
    let nextHeapSampleMs = floodStartedMs;
    const envelopeBytes = broadcasts.envelopeBytes;
    const offeredBytes = (): number => steps!.sentBytes + broadcasts!.offered * envelopeBytes;
    await waitFor(
      `the flood to offer ${s.targetOfferedBytes} bytes in ${s.minFloodMs}-${s.maxFloodMs} ms (or the node to die)`,
      s.maxFloodMs + 10_000,
      async () => {
        const elapsedMs = Date.now() - floodStartedMs;
        if (!flooded.running || elapsedMs >= s.maxFloodMs || (elapsedMs >= s.minFloodMs && offeredBytes() >= s.targetOfferedBytes)) return true;
        if (Date.now() >= nextHeapSampleMs) {
          nextHeapSampleMs += 1_000;
          const { memory } = await flooded.status();
          heapUsedBySecondBytes.push(memory.heapUsed);
          externalBySecondBytes.push(memory.external);
        }
        return false;
      },
      100,
    );
    await steps.stop();
    await broadcasts.stop();
    clearInterval(sampler);
    sampler = undefined;
    const floodMs = Date.now() - floodStartedMs;
    const atFloodEnd = flooded.memory();
    if (atFloodEnd === undefined || !flooded.running) {
      throw new Error(`the flood node died under the flood (${JSON.stringify(flooded.exit)}); see ${flooded.logPath}`);
    }

    // The disk is fast again: everything acknowledged must reach a block.
    await flooded.setDiskSlow(false);
    await waitFor('every acknowledged envelope in a block', s.drainTimeoutMs ?? 30_000, async () => {
      const st = (await flooded.status()).chain;
      return st !== undefined && st.acceptedUnordered === 0 && st.intakeEnvelopes === 0 && st.inflightBlocks === 0 ? true : undefined;
    });
    const final = await flooded.status();
    const ledger = await scanLedger(address, s.channel);
    const counts = ledger.txIdCounts;
    return {
      floodMs,
      baseline,
      peakRssBytes: Math.max(atFloodEnd.peakRssBytes, sampledPeakRssBytes),
      sampledPeakRssBytes,
      atFloodEnd,
      rssBySecondBytes,
      heapUsedBySecondBytes,
      externalBySecondBytes,
      stepMessageBytes: steps.messageBytes,
      stepSentBytes: steps.sentBytes,
      stepSentMessages: steps.sentMessages,
      stepStreamErrors: steps.streamErrors,
      envelopeBytes,
      broadcastOffered: broadcasts.offered,
      broadcastStreamsOpened: broadcasts.streamsOpened,
      acknowledged: broadcasts.acknowledged.size,
      refused: broadcasts.refused.size,
      unanswered: broadcasts.unanswered.size,
      unansweredOrdered: [...broadcasts.unanswered].filter((t) => counts.has(t)).length,
      refusalReasons: broadcasts.refusalReasons,
      maxAnswerMs: broadcasts.maxAnswerMs,
      unexpectedAnswers: broadcasts.unexpected,
      lost: [...broadcasts.acknowledged].filter((t) => !counts.has(t)),
      orderedTwice: [...counts].filter(([, n]) => n > 1).map(([t]) => t),
      refusedButOrdered: [...broadcasts.refused].filter((t) => counts.has(t)),
      nodeSurvived: flooded.running,
      node: final,
      ledger: { height: ledger.height, txIds: counts.size, dataBytes: ledger.dataBytes },
    };
  } finally {
    if (sampler !== undefined) clearInterval(sampler);
    await steps?.stop().catch(() => undefined);
    await broadcasts?.stop().catch(() => undefined);
    await node?.stop();
    await peers?.close();
    if (process.env['KEEP_E2E_DATA'] === undefined) rmSync(dataDir, { recursive: true, force: true });
    else console.log(`flood test data kept in ${dataDir}`);
  }
}
