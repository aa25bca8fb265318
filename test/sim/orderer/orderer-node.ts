// One simulated orderer process in a whole-orderer run: the real Chain (cutter, intake,
// forwarding, resubmission, tx-id dedup, apply, snapshots, catch-up, the Ready loop module)
// over a block store and Raft persistence that outlive it, so a crash (the Chain dropped with
// its timers, as kill -9 would) and a restart (a new Chain on the same storage) are possible.
// Memory mode keeps both in memory; durable mode uses the LMDB block store and the WAL's
// DurableStorage in a directory of its own.
import * as path from 'node:path';
import type { Logger } from 'pino';
import { SubmitFateUnknownError } from '../../../cluster/errors';
import type { ClusterTransport, ForwardedBatch, SubmitAck, SubmitOutcome } from '../../../cluster/types';
import { RaftRole, type Ready } from '../../../consensus/raft/api';
import { envelopeTxIdOrEmpty } from '../../../ledger/block';
import type { BlockStore } from '../../../ledger/block-store';
import { bytesEqual } from '../../../ledger/hash';
import { openBlockStore } from '../../../ledger/lmdb-block-store';
import { openRaftPersistence } from '../../../orderer/chain/raft-persistence';
import type { BlockPullRequest, ChainOptions, ChainStatus, RaftPersistence } from '../../../orderer/chain/types';
import type { ParsedEnvelope } from '../../../orderer/msgcheck';
import { common, orderer, raftpb } from '../../../protos';
import type { Network, SubmitReply } from '../network';
import { Prng } from '../prng';
import { MemoryBlockStore } from './memory-block-store';
import { MemoryRaftPersistence } from './memory-raft';
import type { SimClock } from './sim-clock';
import { ConfigChannelAccess } from '../../../orderer/policies/channel-access';
import { ChannelConfigState } from '../../../orderer/chain/channel-config';
import { onboardLedger } from '../../../orderer/chain/onboard';
import { parseConfigBlock } from '../../../orderer/channelconfig';
import { readLastConfigIndex } from '../../../ledger/metadata';
import { raftMembers } from '../../../orderer/node';

export const SIM_CHANNEL = 'simchannel';
/** Wall-clock time of the simulated clock's zero, for timestamps in envelopes. */
export const SIM_EPOCH_MS = 1_800_000_000_000;
/** The cluster's RPC timeout (Fabric's General.Cluster.RPCTimeout): a forward's answer is awaited this long. */
export const SIM_RPC_TIMEOUT_MS = 7_000;

/** Which leaders confirmed holding a tx id, and which forwards of it went unanswered. */
export interface Confirmations {
  confirmed(txId: string, by: { leader: number; incarnation: number; term: number }): void;
  fateUnknown(txId: string): void;
}
/**
 * Opening a pull stream takes up to one of these (simulated), then every PULL_BATCH_BLOCKS
 * blocks up to PULL_BATCH_MAX_MS more. In the fault phase a stream may also stall for up to
 * PULL_STALL_MAX_MS, long enough for an election or two while the node pulls; after healing
 * it does not, so the calm phase's budget covers every catch-up.
 */
const PULL_OPEN_MAX_MS = [50, 300, 1_000];
const PULL_STALL_MAX_MS = 4_000;
const PULL_STALL_P = 0.5;
const PULL_BATCH_BLOCKS = 8;
const PULL_BATCH_MAX_MS = 40;

/** The Chain surface the simulator drives (the real Chain, or a planted copy of it). */
export interface SimChain {
  start(): void;
  /** A client's CONFIG_UPDATE, validated and wrapped for order() (the real Chain's). */
  processConfigUpdate?(update: ParsedEnvelope): ParsedEnvelope;
  halt(reason?: string): Promise<void>;
  order(env: ParsedEnvelope): Promise<void>;
  onConsensus(from: number, msg: raftpb.Message): void;
  onSubmit(from: number, req: orderer.SubmitRequest, acked: boolean): void | SubmitOutcome | Promise<SubmitOutcome>;
  onSubmitBatch(from: number, batch: ForwardedBatch): SubmitOutcome[] | Promise<SubmitOutcome[]>;
  status(): ChainStatus;
}

export type ChainFactory = (options: ChainOptions) => SimChain;

/** What every node of a run shares. */
export interface OrdererEnv {
  readonly clock: SimClock;
  readonly net: Network;
  readonly rng: Prng;
  readonly logger: Logger;
  readonly newChain: ChainFactory;
  readonly settings: ChainOptions['settings'];
  readonly intakeWaitTimeoutMs: number;
  readonly resubmitAfterMs: number;
  /** Consensus.PreferredLeaders (endpoints) and its quiet period, when the run ranks the consenters. */
  readonly preferredLeaders?: { readonly endpoints: readonly string[]; readonly quietMs: number };
  /** Durable mode: the run's temporary directory. */
  readonly durableDir?: string;
  /** Block 0 of the channel: a real config block (test/sim/orderer/sim-config.ts). */
  readonly genesis: Uint8Array;
  readonly confirmations: Confirmations;
  /** Other nodes, for pulling blocks. */
  peers(): readonly SimOrdererNode[];
  /** True in the fault phase (pulls may then stall for seconds); false once the network healed. */
  faultsOn(): boolean;
  /** Raises an invariant violation (throws). */
  fail(invariant: string, detail: string, nodeId?: number): never;
  trace(text: string): void;
}

export class SimOrdererNode {
  chain: SimChain | undefined;
  incarnation = 0;
  /** Set once the node halted on broken state (it stays down for the rest of the run). */
  brokenReason: string | undefined;
  /** Set when the simulator forged a report that must make this node halt on broken state. */
  expectBroken = false;
  private snapshots = 0;
  /** Blocks this node pulled from others to catch up to a snapshot. */
  pulledBlocks = 0;
  /**
   * True while the simulated puller is doing something other than waiting on the simulated
   * clock: reading the source, or handing a block the Chain is appending (real IO in durable
   * mode). The simulator drains the Chains' work until it is false, so a seed replays exactly.
   */
  pullBusy = false;
  /**
   * The puller's own randomness (source, stream timing), seeded per incarnation: in durable
   * mode pulls advance on real IO, and drawing from the run's Prng would make the order of
   * draws across nodes depend on it.
   */
  private pullRng: Prng | undefined;
  /**
   * What the forward transport draws (a full stream, a broken one), per incarnation in durable
   * mode for the same reason as pullRng: a node sends when its IO lets it.
   */
  private transportRng: Prng | undefined;
  /** While a pull stream stalls (fault phase): when it goes on, in simulated ms. */
  pullStalledUntilMs: number | undefined;
  /** True while a pull waits on the simulated clock (a joining node is otherwise busy with IO). */
  clockWait = false;
  private store: BlockStore | undefined;
  private raft: RaftPersistence | undefined;
  private memoryStore: MemoryBlockStore | undefined;
  private memoryRaft: MemoryRaftPersistence | undefined;
  /** Index of the empty entry that opened each term, as this node persisted it. */
  private readonly termStart = new Map<number, number>();
  /** The block numbers of this node's Raft log as it persisted it (it outlives incarnations, as the log does). */
  private logBlocks: { snapshotIndex: number; snapshotBlock: number; byIndex: number[] } = { snapshotIndex: 0, snapshotBlock: 0, byIndex: [] };
  private readonly genesis: Uint8Array;
  /** False for a spare node slot until an operator joined it to the channel (onboarding done). */
  joined: boolean;
  /** Set once a committed config block no longer lists this node: it is never restarted again. */
  removed = false;
  /** Onboarding under way (a spare joining with the latest config block). */
  joining: Promise<void> | undefined;
  /** Forwards of this incarnation waiting for the leader's answer, by ack id. */
  private pendingAcks = new Map<number, { txId: string; settle: (ack: SubmitAck) => void; broke: (err: Error) => void }>();
  private nextAckId = 1;

  constructor(
    readonly id: number,
    private readonly env: OrdererEnv,
    /** A consenter of the genesis block (else a spare slot, joined later). */
    genesisMember = true,
  ) {
    this.genesis = env.genesis;
    this.joined = genesisMember;
  }

  /**
   * What an operator does for a node a config update added: the participation API's join with
   * the latest config block. The ledger is filled up to it by the production onboarding
   * (orderer/chain/onboard.ts) over the simulated puller, then the chain starts as a new member.
   */
  join(joinBlock: common.Block): void {
    if (this.joined || this.joining !== undefined) return;
    // Drawn now, before any IO: in durable mode the order of draws must not depend on it.
    const pullSeed = this.env.rng.nextUint32() ^ 0x0b0a;
    const startSeed = this.env.rng.nextUint32();
    this.joining = (async () => {
      await this.openStorage(false);
      this.pullRng = new Prng(pullSeed);
      const abort = new AbortController();
      try {
        await onboardLedger({
          channelId: SIM_CHANNEL,
          blockStore: this.store!,
          joinBlock,
          pullBlocks: (req) => this.pull(req),
          endpoints: [],
          signal: abort.signal,
          logger: this.env.logger,
        });
        this.env.trace(`node ${this.id} onboarded up to join block ${joinBlock.header?.number}`);
      } finally {
        // Closed either way: the chain reopens it, and a failed attempt is made again from scratch.
        if (this.env.durableDir !== undefined) {
          await this.raft?.close();
          await this.store?.close();
          this.raft = undefined;
          this.store = undefined;
        }
      }
      this.joined = true;
      await this.start(startSeed);
    })().finally(() => {
      this.joining = undefined;
    });
    // A failed pull (no source reachable yet) is retried by the run at its next look.
    this.joining.catch((err: unknown) => this.env.trace(`node ${this.id} onboarding failed: ${(err as Error).message}`));
  }

  get up(): boolean {
    return this.chain !== undefined;
  }

  /** The node's ledger, readable while it is down too (memory mode) or only while up (durable mode). */
  blocks(): BlockStore | undefined {
    return this.store;
  }

  /** The incarnation's owner key for the simulated clock's timers. */
  private get owner(): number {
    return this.id * 10_000 + this.incarnation;
  }

  private starting: Promise<void> | undefined;

  /** Starts a new incarnation; a start already under way (a join finishing beside the run) is shared. */
  start(rngSeed?: number): Promise<void> {
    this.starting ??= this.startNow(rngSeed).finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /** `preDrawnSeed`: drawn before any IO (a join finishing beside the run must not draw at an IO-dependent moment). */
  private async startNow(preDrawnSeed?: number): Promise<void> {
    if (this.chain !== undefined || this.brokenReason !== undefined || !this.joined || this.removed) return;
    this.incarnation++;
    this.termStart.clear();
    this.pendingAcks = new Map();
    await this.openStorage(true);
    const raft = this.raft!;
    const checked: RaftPersistence = {
      get storage() {
        return raft.storage;
      },
      fresh: raft.fresh,
      saveReady: (rd) => {
        this.checkProposals(rd);
        return raft.saveReady(rd);
      },
      snapshot: (index, confState, data) => {
        this.snapshots++;
        return raft.snapshot(index, confState, data);
      },
      close: () => raft.close(),
    };
    const timers = this.env.clock.timersFor(this.owner);
    const rngSeed = preDrawnSeed ?? this.env.rng.nextUint32();
    this.pullRng = new Prng(rngSeed ^ 0x5a17);
    this.transportRng = this.env.durableDir !== undefined ? new Prng(rngSeed ^ 0x7e57) : this.env.rng;
    const nonceRng = new Prng(rngSeed ^ 0xc0f1);
    // The channel's config as the node finds it in its ledger, as orderer/node.ts opens a channel.
    const store = this.store!;
    const last = store.lastBlock()!;
    const configNumber = readLastConfigIndex(last.block);
    const configBlock = store.getBlock(configNumber)!.block;
    const parsed = parseConfigBlock(configBlock);
    const access = ConfigChannelAccess.fromConfig(SIM_CHANNEL, parsed.config);
    const { members, nextConsenterId } = raftMembers(parsed, last.block);
    const config = new ChannelConfigState(
      SIM_CHANNEL,
      { config: parsed.config, settings: parsed, access, blockNumber: configNumber, consenterIds: members.map((m) => m.id), nextConsenterId },
      undefined,
      () => SIM_EPOCH_MS + this.env.clock.nowMs(),
      () => Uint8Array.from({ length: 24 }, () => nonceRng.nextInt(256)),
    );
    const chain = this.env.newChain({
      channelId: SIM_CHANNEL,
      selfId: this.id,
      access,
      config,
      settings: { ...this.env.settings, members, nextConsenterId, configSequence: parsed.sequence, lastConfigIndex: configNumber },
      blockStore: this.store!,
      raft: checked,
      transport: this.transport(this.incarnation),
      pullBlocks: (req) => this.pull(req),
      logger: this.env.logger,
      timers,
      rngSeed,
      intakeWaitTimeoutMs: this.env.intakeWaitTimeoutMs,
      resubmitAfterMs: this.env.resubmitAfterMs,
      // Within a run nothing is given up on: an acknowledged envelope must be ordered.
      resubmitTtlMs: 1e12,
      ...(this.env.preferredLeaders !== undefined
        ? { preferredLeaders: this.env.preferredLeaders.endpoints, preferredLeaderQuietPeriodMs: this.env.preferredLeaders.quietMs }
        : {}),
    });
    this.chain = chain;
    chain.start();
    this.env.trace(`node ${this.id} start #${this.incarnation} height=${this.store!.height()}`);
  }

  /** `withGenesis`: a new ledger starts with block 0 (a genesis member); a joining spare's is filled by onboarding. */
  private async openStorage(withGenesis: boolean): Promise<void> {
    const dir = this.env.durableDir;
    if (dir === undefined) {
      if (this.memoryStore === undefined) {
        this.memoryStore = new MemoryBlockStore(SIM_CHANNEL);
        if (withGenesis) await this.memoryStore.append(this.genesis);
        this.memoryRaft = new MemoryRaftPersistence();
      }
      this.memoryStore.reopen();
      this.store = this.memoryStore;
      this.raft = this.memoryRaft;
      return;
    }
    const nodeDir = path.join(dir, `node${this.id}`);
    // Named in the trace: the nodes' storage logs interleave on real IO.
    const logger = this.env.logger.child({ node: this.id });
    const store = await openBlockStore({ dir: path.join(nodeDir, 'ledger'), channelId: SIM_CHANNEL, logger });
    if (store.height() === 0 && withGenesis) await store.append(this.genesis);
    this.store = store;
    this.raft = await openRaftPersistence({
      walDir: path.join(nodeDir, 'wal'),
      snapDir: path.join(nodeDir, 'snap'),
      logger,
      segmentSizeBytes: 16 * 1024,
    });
  }

  /** A crash: the Chain, its timers and everything it held in memory are gone; storage stays. */
  async crash(why: string): Promise<void> {
    const chain = this.chain;
    if (chain === undefined) return;
    this.chain = undefined;
    this.env.clock.cancelOwner(this.owner);
    await chain.halt('simulated crash');
    this.env.trace(`node ${this.id} CRASH (${why})`);
    if (this.env.durableDir !== undefined) {
      await this.raft?.close();
      await this.store?.close();
      this.raft = undefined;
      this.store = undefined;
    }
  }

  /** After the chain halted on broken state: the process keeps running but the channel is out. */
  async retireBroken(reason: string): Promise<void> {
    this.brokenReason = reason;
    await this.crash(`halted on broken state: ${reason}`);
  }

  /** Closes everything at the end of a run. */
  async close(): Promise<void> {
    await this.crash('end of run');
    if (this.env.durableDir !== undefined) return;
    await this.store?.close();
  }

  snapshotsTaken(): number {
    return this.snapshots;
  }

  status(): ChainStatus | undefined {
    return this.chain?.status();
  }

  raftLastIndex(): number {
    return this.raft?.storage.lastIndex() ?? 0;
  }

  /**
   * A leader proposes nothing before it has applied its log (Fabric §3.5): a block entry of its
   * own term is persisted only when everything before that term's first entry is applied, and
   * (not taking the Chain's word for what it applied) its block comes after every block its log
   * already carries before that entry.
   */
  private checkProposals(rd: Ready): void {
    const chain = this.chain;
    const st = chain?.status();
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      this.logBlocks = { snapshotIndex: rd.snapshot.metadata.index, snapshotBlock: common.Block.decode(rd.snapshot.data).header?.number ?? 0, byIndex: [] };
    }
    const first = rd.entries[0];
    if (first !== undefined) this.logBlocks.byIndex.length = Math.min(this.logBlocks.byIndex.length, first.index);
    for (const e of rd.entries) {
      if (e.type !== raftpb.EntryType.EntryNormal) continue;
      if (e.data.length === 0) {
        if (!this.termStart.has(e.term)) this.termStart.set(e.term, e.index);
        continue;
      }
      const number = common.Block.decode(e.data).header?.number ?? 0;
      if (st !== undefined && st.role === RaftRole.Leader && e.term === st.term) this.checkProposal(e, number, st);
      this.logBlocks.byIndex[e.index] = number;
    }
  }

  private checkProposal(e: raftpb.Entry, number: number, st: ChainStatus): void {
    const start = this.termStart.get(e.term);
    if (start !== undefined && st.appliedIndex < start - 1) {
      this.env.fail(
        'a leader proposes nothing before it has applied its log',
        `leader of term ${e.term} persisted its block entry ${e.index} with applied index ${st.appliedIndex}, ` + `but its term began at ${start}`,
        this.id,
      );
    }
    let carried = this.logBlocks.snapshotBlock;
    for (let i = this.logBlocks.snapshotIndex + 1; i < e.index; i++) carried = Math.max(carried, this.logBlocks.byIndex[i] ?? -1);
    if (number <= carried) {
      this.env.fail(
        'a leader proposes nothing before it has applied its log',
        `leader of term ${e.term} proposed block ${number} at entry ${e.index}, but its log already carries block ${carried} before it`,
        this.id,
      );
    }
  }

  private transport(incarnation: number): ClusterTransport {
    const forwards = this.forwardTransport(incarnation);
    return {
      ...forwards,
      // The real transport's promise-free form, which the Forwarder's first forward uses: the same
      // forwards and answers, settled through the handle.
      submitAcked: (channel, toId, forward, handle) => {
        forwards.sendSubmitAcked(channel, toId, forward).then(
          (ack) => handle.resolve(ack),
          (err: unknown) => handle.reject(err instanceof Error ? err : new Error(String(err))),
        );
      },
    };
  }

  private forwardTransport(incarnation: number): ClusterTransport & Required<Pick<ClusterTransport, 'sendSubmitAcked'>> {
    const { net, clock } = this.env;
    const rng = this.transportRng ?? this.env.rng;
    return {
      sendConsensus: (_channel, toId, msg) => {
        if (this.incarnation !== incarnation || this.chain === undefined) return false;
        const full = raftpb.Message.decode(raftpb.Message.encode(msg));
        const outcome = net.send(this.id, full, incarnation, clock.nowMs());
        // A broken stream is noticed; a message lost after its write is not.
        return outcome !== 'partitioned';
      },
      sendSubmit: (_channel, toId, req) => {
        if (this.incarnation !== incarnation || this.chain === undefined) return new Promise<void>(() => undefined);
        const bytes = orderer.SubmitRequest.encode(req);
        if (net.connected(this.id, toId) && rng.chance(0.2)) {
          // The stream to the leader is full: the write waits for room, and the envelope is queued
          // (or the stream breaks) only later, maybe after that node lost its leadership.
          return new Promise<void>((resolve, reject) => {
            clock.timersFor(this.owner).setTimeout(() => {
              const late = net.sendSubmit(this.id, toId, bytes, incarnation, clock.nowMs());
              if (late === 'partitioned') reject(new Error(`stream to node ${toId} broke`));
              else resolve();
            }, rng.between(1, 800));
          });
        }
        const outcome = net.sendSubmit(this.id, toId, bytes, incarnation, clock.nowMs());
        if (outcome !== 'partitioned') return Promise.resolve();
        // No stream to the leader: the forward waits for room until the RPC times out.
        return new Promise<void>((_resolve, reject) => {
          clock.timersFor(this.owner).setTimeout(() => reject(new Error(`no stream to node ${toId}`)), rng.between(0, 1_000));
        });
      },
      sendSubmitAcked: (channel, toId, forward) => {
        if (this.incarnation !== incarnation || this.chain === undefined) return new Promise<SubmitAck>(() => undefined);
        // One forward per network message; the run hands forwards that arrive together to the
        // Chain as one batch, as the real transport groups them (run.ts deliverDue).
        const bytes = orderer.SubmitRequest.encode({ channel, lastValidationSeq: forward.lastValidationSeq, payload: common.Envelope.decode(forward.envelope) });
        const txId = envelopeTxIdOrEmpty(forward.envelope);
        const timers = clock.timersFor(this.owner);
        // Handed to the stream: now only the leader's answer (or the RPC timeout) settles it.
        const handOver = (): Promise<SubmitAck> =>
          new Promise<SubmitAck>((resolve, reject) => {
            const ackId = this.nextAckId++;
            const cancel = timers.setTimeout(() => {
              this.pendingAcks.delete(ackId);
              this.env.trace(`node ${this.id}: no answer from node ${toId} to ack ${ackId} (tx ${txId.slice(0, 12)})`);
              this.env.confirmations.fateUnknown(txId);
              reject(new SubmitFateUnknownError(SIM_CHANNEL, toId, `no answer within ${SIM_RPC_TIMEOUT_MS} ms`));
            }, SIM_RPC_TIMEOUT_MS);
            this.pendingAcks.set(ackId, {
              txId,
              settle: (ack) => {
                cancel();
                resolve(ack);
              },
              broke: (err) => {
                cancel();
                this.env.confirmations.fateUnknown(txId);
                reject(err);
              },
            });
            this.env.trace(`node ${this.id} forwards tx ${txId.slice(0, 12)} to node ${toId} (ack ${ackId})`);
            if (net.sendSubmit(this.id, toId, bytes, incarnation, clock.nowMs(), ackId) === 'lost') {
              // Lost with its stream after the write: the broken stream fails the wait a little later.
              timers.setTimeout(() => this.streamBroke(ackId, toId), rng.between(1, 100));
            }
          });
        if (net.connected(this.id, toId) && rng.chance(0.2)) {
          // The stream is full: the write waits for room, and the hand-over (or a broken stream) comes later.
          return new Promise<SubmitAck>((resolve, reject) => {
            timers.setTimeout(() => {
              if (!net.connected(this.id, toId)) reject(new Error(`stream to node ${toId} broke`));
              else handOver().then(resolve, reject);
            }, rng.between(1, 800));
          });
        }
        if (net.connected(this.id, toId)) return handOver();
        // No stream to the leader: nothing leaves; the write gives up after waiting for room.
        return new Promise<SubmitAck>((_resolve, reject) => {
          timers.setTimeout(() => reject(new Error(`no stream to node ${toId}`)), rng.between(0, 1_000));
        });
      },
    };
  }

  /** The stream that carried a forward broke before its answer came: the fate is unknown. */
  private streamBroke(ackId: number, toId: number): void {
    const pending = this.pendingAcks.get(ackId);
    if (pending === undefined) return;
    this.pendingAcks.delete(ackId);
    this.env.trace(`node ${this.id}: the stream to node ${toId} broke before it answered ack ${ackId} (tx ${pending.txId.slice(0, 12)})`);
    pending.broke(new SubmitFateUnknownError(SIM_CHANNEL, toId, 'the stream ended before the answer'));
  }

  /** A leader's answer to one of this incarnation's forwards. */
  receiveReply(from: number, reply: SubmitReply): void {
    if (reply.toIncarnation !== this.incarnation || this.chain === undefined) return;
    if (reply.lost === true) {
      this.streamBroke(reply.ackId, from);
      return;
    }
    const pending = this.pendingAcks.get(reply.ackId);
    if (pending === undefined) return; // a duplicate forward's second answer, or after the timeout
    this.pendingAcks.delete(reply.ackId);
    this.env.trace(`node ${this.id}: node ${from} answers ack ${reply.ackId} (tx ${pending.txId.slice(0, 12)}): ${common.Status[reply.status] ?? reply.status} ${reply.info}`);
    if (reply.status === common.Status.SUCCESS) this.env.confirmations.confirmed(pending.txId, { leader: from, incarnation: reply.incarnation, term: reply.term });
    pending.settle({ kind: 'acked', status: reply.status, info: reply.info });
  }

  /** Catch-up: blocks from the first other node that is up, reachable and has them. */
  /**
   * Catch-up: blocks from a random other node that is up, reachable and has them, over a stream
   * that takes simulated time (opening it, then every few blocks), so the Chain's Ready loop runs
   * beside the pull: ticks, elections, commits and further snapshots happen while it pulls. A
   * source that goes down or out of reach mid-stream breaks it (the Chain retries after a backoff).
   */
  private async *pull(req: BlockPullRequest): AsyncGenerator<{ block: common.Block; bytes: Uint8Array }> {
    this.pullBusy = true;
    try {
      const reachable = (p: SimOrdererNode): boolean => p.id !== this.id && p.up && this.env.net.connected(this.id, p.id);
      const sources = this.env.peers().filter((p) => reachable(p) && (p.blocks()?.height() ?? 0) > req.toNumber);
      const rng = this.pullRng!;
      const source = sources.length === 0 ? undefined : sources[rng.nextInt(sources.length)]!;
      if (source === undefined) throw new Error('no orderer to pull from');
      if (this.env.faultsOn() && rng.chance(PULL_STALL_P)) {
        const stallMs = rng.between(1, PULL_STALL_MAX_MS);
        this.pullStalledUntilMs = this.env.clock.nowMs() + stallMs;
        try {
          await this.pullDelay(stallMs, req.signal);
        } finally {
          this.pullStalledUntilMs = undefined;
        }
      } else await this.pullDelay(rng.between(1, rng.pick(PULL_OPEN_MAX_MS)), req.signal);
      let prev = req.previousHash;
      for (let n = req.fromNumber; n <= req.toNumber; n++) {
        if ((n - req.fromNumber) % PULL_BATCH_BLOCKS === PULL_BATCH_BLOCKS - 1) await this.pullDelay(rng.between(1, PULL_BATCH_MAX_MS), req.signal);
        const b = reachable(source) ? source.blocks()?.getBlock(n) : undefined;
        if (b === undefined) throw new Error(`stream from node ${source.id} broke at block ${n}`);
        if (!bytesEqual(b.block.header!.previousHash, prev)) this.env.fail('pulled blocks link to the ledger', `block ${n} from node ${source.id} does not link`, this.id);
        prev = b.headerHash;
        this.pulledBlocks++;
        yield { block: b.block, bytes: b.bytes };
      }
    } finally {
      this.pullBusy = false;
    }
  }

  /** Waits on the simulated clock (quiet for the simulator's drain); the Chain's abort ends the wait. */
  private async pullDelay(ms: number, signal: AbortSignal): Promise<void> {
    this.pullBusy = false;
    this.clockWait = true;
    try {
      await this.clockDelay(ms, signal);
    } finally {
      this.clockWait = false;
    }
    this.pullBusy = true;
  }

  private clockDelay(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cancel = this.env.clock.timersFor(this.owner).setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        cancel();
        reject(new Error('pull aborted'));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
