// The Chain: one channel's ordering pipeline on one orderer. It owns the Raft node
// and drives it the way architecture.md's "Ready loop" says:
//   persist (WAL, one fsync) -> send -> apply committed blocks (one LMDB transaction) -> advance.
// All inputs (ticks, Raft messages, envelopes, timers) are queued and handled by one
// loop, so the Raft core is never touched while a Ready is being persisted, and
// everything that arrived during an fsync is batched into the next Ready.
import type { Logger } from 'pino';
import { Fifo } from '../../cluster/fifo';
import type { NodeId } from '../../cluster/types';
import { RaftRole, SnapshotStatus, type Ready, type SoftState } from '../../consensus/raft/api';
import { ProposalDroppedError, RaftError, RaftInvariantError, RaftLogLostError, RaftMisaddressedError } from '../../consensus/raft/errors';
import { RawNode } from '../../consensus/raft/rawnode';
import { SeededRng } from '../../consensus/raft/rng';
import { blockHeaderHash, envelopeTxIdOrEmpty, newBlock } from '../../ledger/block';
import type { BlockStore } from '../../ledger/block-store';
import { bytesEqual } from '../../ledger/hash';
import { writeCommitMetadata } from '../../ledger/metadata';
import { common, orderer, raftpb } from '../../protos';
import { BatchTimer, BlockCutter } from '../blockcutter';
import { ChainInvariantError, OrdererError } from '../errors';
import { parseBroadcastEnvelope, type ParsedEnvelope } from '../msgcheck';
import type { ChainHandle, ChainServiceSettings } from '../types';
import { AcceptedEnvelopes } from './accepted';
import { describeBrokenState, type BrokenState } from './broken';
import { pullIntoLedger } from './catchup';
import { IntakeGate } from './intake-gate';
import { designatedCampaigner } from './campaign';
import { ReadyLoop, ReadyProcessor } from './ready-loop';
import { REAL_TIMERS, type ChainOptions, type ChainSettings, type ChainStatus, type ChainTimers } from './types';

/** One envelope waiting for the block cutter on the leader. */
interface IntakeItem {
  readonly txId: string;
  readonly envelopeBytes: Uint8Array;
  readonly messageSizeBytes: number;
}

type ChainEvent =
  | { kind: 'tick' }
  | { kind: 'step'; msg: raftpb.Message }
  | { kind: 'submit'; from: NodeId; req: orderer.SubmitRequest }
  | { kind: 'batch-timeout' }
  | { kind: 'unreachable'; id: NodeId }
  | { kind: 'snapshot-failed'; id: NodeId }
  | { kind: 'snapshot-sent'; id: NodeId };

/** Bound on queued Raft messages while a Ready is in progress; beyond it they are dropped (Raft retransmits). */
const MAX_QUEUED_EVENTS = 100_000;
/** Entries kept in the Raft log behind a snapshot, so slightly lagging followers need no snapshot (Fabric keeps 4). */
export const SNAPSHOT_CATCHUP_ENTRIES = 4;

export class Chain implements ChainHandle {
  readonly channelId: string;
  readonly blockStore: BlockStore;
  private readonly node: RawNode;
  private readonly logger: Logger;
  private readonly timers: ChainTimers;
  private settingsValue: ChainSettings;
  private readonly cutter: BlockCutter;
  private readonly batchTimer: BatchTimer;
  private readonly accepted: AcceptedEnvelopes;

  private events: ChainEvent[] = [];
  private halted = false;
  private haltReason = '';
  /** Set when the chain halted on broken state: what was seen and how to recover (operators). */
  private broken: BrokenState | undefined;
  private readonly stopTimers: Array<() => void> = [];
  private readonly loop: ReadyLoop;
  private startupSnapshot: raftpb.Snapshot | undefined;

  private role: RaftRole = RaftRole.Follower;
  private leaderId: NodeId = 0;
  private everHadLeader = false;
  private confState: raftpb.ConfState;
  private appliedIndex: number;
  private bytesSinceSnapshot = 0;
  private campaignTicks = -1;
  private ticksSinceCampaign = 0;

  // Leader state. leaderReadyIndex: the leader takes envelopes into blocks only after
  // applying everything in its log, so its block cursor continues the real chain.
  private leaderReadyIndex = -1;
  private leaderReady = false;
  private lastCreated: { number: number; hash: Uint8Array } | undefined;
  /** Proposed, uncommitted blocks of this leader: their tx ids and data hash. */
  private readonly inflight = new Map<number, { txIds: string[]; dataHash: Uint8Array }>();
  /** Tx id of each envelope handed to the cutter, so it is not decoded again for the block. */
  private readonly txIdOf = new WeakMap<Uint8Array, string>();
  private readonly proposedTxIds = new Set<string>();
  private readonly intakeTxIds = new Set<string>();
  private intake = new Fifo<IntakeItem>();
  /** Forwards received as leader before leaderReady (bounded by intakeHighWater). */
  private readonly heldForReady: Array<{ from: NodeId; req: orderer.SubmitRequest }> = [];
  private cutWhenFree = false;
  private readonly intakeHighWater: number;
  /** Totals since start, for status() and operators. */
  private readonly counters = { forwardedReceived: 0, forwardedQueued: 0, acknowledged: 0, resubmitted: 0 };
  private readonly intakeGate: IntakeGate;
  /**
   * Forwards waiting for room on the leader's stream, woken when the leader changes so they move
   * on instead of waiting out a dead leader. A set of per-call callbacks rather than one shared
   * "leader changed" promise: racing each forward against a long-lived promise left one reaction
   * on it per envelope, about 34,000 per follower in one benchmark run, until the next election.
   */
  private readonly forwardWaiters = new Set<() => void>();

  constructor(private readonly options: ChainOptions) {
    this.channelId = options.channelId;
    this.blockStore = options.blockStore;
    this.settingsValue = options.settings;
    this.timers = options.timers ?? REAL_TIMERS;
    this.logger = options.logger.child({ channel: options.channelId, node: options.selfId });
    this.accepted = new AcceptedEnvelopes(options.maxIntakeEnvelopes ?? 200_000);
    const s = options.settings;
    this.intakeHighWater = options.intakeHighWater ?? Math.max(2 * s.maxMessageCount, 1_000);
    this.intakeGate = new IntakeGate(this.timers, options.intakeWaitTimeoutMs ?? 7_000);
    this.cutter = new BlockCutter({ maxMessageCount: s.maxMessageCount, preferredMaxBytes: s.preferredMaxBytes });
    this.batchTimer = new BatchTimer(
      (ms, cb) => this.timers.setTimeout(cb, ms),
      () => this.push({ kind: 'batch-timeout' }),
    );
    const storage = options.raft.storage;
    const initial = storage.initialState();
    this.confState = initial.confState;
    this.appliedIndex = storage.firstIndex() - 1;
    this.node = new RawNode({
      id: options.selfId,
      electionTick: s.electionTick,
      heartbeatTick: s.heartbeatTick,
      storage,
      maxSizePerMsgBytes: s.preferredMaxBytes,
      maxInflightMsgs: s.maxInflightBlocks,
      checkQuorum: true,
      preVote: true,
      disableProposalForwarding: true,
      rng: new SeededRng(options.rngSeed ?? (options.selfId * 7919 + Date.now()) >>> 0),
      logger: {
        debug: (o, m) => this.logger.debug(o, m),
        info: (o, m) => this.logger.info(o, m),
        warn: (o, m) => this.logger.warn(o, m),
      },
    });
    this.loop = new ReadyLoop(
      this.node,
      new ReadyProcessor(initial.hardState),
      {
        persist: (rd) => this.options.raft.saveReady(rd),
        send: (msg) => this.send(msg),
        softState: (ss) => this.onSoftState(ss),
        apply: (rd) => this.apply(rd),
        stopped: () => this.halted,
      },
      {
        beforeReady: () => {
          this.drainEvents();
          // Envelopes that reached an idle leader become proposals now, not at the next tick.
          this.pumpIntake();
        },
        hasQueuedInputs: () => this.events.length > 0,
        afterAdvance: () => this.pumpIntake(),
        onStart: () => this.catchUpToStartupSnapshot(),
        onError: (err) => this.failWith(err),
      },
    );
  }

  // ---- lifecycle -------------------------------------------------------------------

  /** Starts ticking. A brand-new channel member bootstraps its Raft log first. */
  start(): void {
    const s = this.settingsValue;
    if (this.options.raft.fresh) {
      const ids = s.members.map((m) => m.id);
      if (this.blockStore.height() <= 1) {
        this.node.bootstrap(ids);
        // Fabric: on a new channel one node campaigns right away instead of waiting for
        // a randomized timeout, so the channel has a leader within a few ticks.
        if (designatedCampaigner(this.channelId, ids.length) === this.options.selfId) this.campaignTicks = 2 * s.heartbeatTick;
      }
      // A fresh member joining an existing chain starts empty; the leader sends it a snapshot.
    } else {
      // A snapshot installed just before a crash may be ahead of the ledger: the blocks it
      // stands for must be pulled before any later entry is applied (Fabric does this at start too).
      const snap = this.options.raft.storage.snapshot();
      if (snap.metadata.index > 0 && snap.data.length > 0) this.startupSnapshot = snap;
    }
    this.stopTimers.push(this.timers.setInterval(() => this.push({ kind: 'tick' }), s.tickIntervalMs));
    const resubmitAfterMs = this.options.resubmitAfterMs ?? Math.max(2_000, 4 * s.electionTick * s.tickIntervalMs);
    this.stopTimers.push(this.timers.setInterval(() => this.resubmitOverdue(resubmitAfterMs), resubmitAfterMs));
    this.logger.info({ members: s.members.map((m) => m.id), height: this.blockStore.height(), fresh: this.options.raft.fresh }, 'chain started');
    this.kick();
  }

  /** Stops the chain: no more ticks or envelopes; pending work is abandoned (the WAL has what was durable). */
  async halt(reason = 'chain stopped'): Promise<void> {
    this.stopNow(reason);
    await this.loop.idle;
  }

  /**
   * Halts without waiting for the loop: the loop itself calls this (awaiting itself would hang).
   * `self` marks a halt the chain decided on (broken state, removal, a failed disk): it then
   * closes its WAL itself once the loop is out, so nothing more is appended; on an orderer
   * shutdown the owner closes it.
   */
  private stopNow(reason: string, self = false): void {
    if (this.halted) return;
    this.halted = true;
    this.haltReason = reason;
    for (const stop of this.stopTimers.splice(0)) stop();
    this.batchTimer.stop();
    this.events = [];
    this.intakeGate.wakeAll();
    // Forwards waiting for room on a stream answer SERVICE_UNAVAILABLE now, not after the RPC timeout.
    this.wakeForwardWaiters();
    // A broken chain already said so in its one error line.
    if (this.broken === undefined) this.logger.info({ reason }, 'chain halted');
    if (self) this.loop.then(() => this.closeStorageAfterHalt());
  }

  private async closeStorageAfterHalt(): Promise<void> {
    try {
      await this.options.raft.close();
    } catch (err) {
      // The halt stands either way; a WAL that failed earlier may not close cleanly.
      this.logger.warn({ err }, 'closing the WAL of a halted chain failed');
    }
  }

  /**
   * Halts the channel on state that cannot be right (etcd panics, Fabric halts): one error
   * line with what was seen and how to recover, then Broadcast and Deliver refuse the channel.
   */
  /** The leader whose message revealed a lost log (named in the recovery steps). */
  private logLostReportedBy = 0;

  private haltBroken(err: RaftInvariantError | ChainInvariantError): void {
    if (this.halted) return;
    const reporter = this.settingsValue.members.find((m) => m.id === this.logLostReportedBy);
    const broken = describeBrokenState(err, {
      channelId: this.channelId,
      selfId: this.options.selfId,
      ...(reporter !== undefined ? { reportedBy: { id: reporter.id, endpoint: `${reporter.host}:${reporter.port}` } } : {}),
      ...(this.options.ledgerDir !== undefined ? { ledgerDir: this.options.ledgerDir } : {}),
      ...(this.options.raft.walDir !== undefined ? { walDir: this.options.raft.walDir } : {}),
      ...(this.options.raft.snapDir !== undefined ? { snapDir: this.options.raft.snapDir } : {}),
    });
    this.broken = broken;
    this.logger.error({ err, kind: broken.kind, ...broken.fields, recovery: broken.recovery }, broken.operatorMessage);
    this.stopNow(broken.clientReason, true);
  }

  /** Anything thrown out of the loop: broken state halts loudly, other failures as before. */
  private failWith(err: unknown): void {
    if (err instanceof RaftInvariantError || err instanceof ChainInvariantError) {
      this.haltBroken(err);
      return;
    }
    // Local state can no longer be trusted (disk error, corrupt entry): stop instead of
    // risking a fork, and say why.
    this.logger.error({ err }, 'chain failed; halting');
    this.stopNow(`internal error: ${err instanceof Error ? err.message : String(err)}`, true);
  }

  private wakeForwardWaiters(): void {
    const waiters = [...this.forwardWaiters];
    this.forwardWaiters.clear();
    for (const wake of waiters) wake();
  }

  // ---- ChainHandle -----------------------------------------------------------------

  settings(): ChainServiceSettings {
    const s = this.settingsValue;
    return { absoluteMaxBytes: s.absoluteMaxBytes, maintenanceMode: s.maintenanceMode, configSequence: s.configSequence };
  }

  brokenReason(): string | undefined {
    return this.broken?.clientReason;
  }

  errored(): boolean {
    if (this.halted || !this.everHadLeader || this.leaderId === 0) return true;
    return (this.role === RaftRole.Candidate || this.role === RaftRole.PreCandidate) && this.settingsValue.members.length > 2;
  }

  async order(env: ParsedEnvelope): Promise<void> {
    const txId = env.txId;
    // Forwards handed to a leader that lost its leadership before they were queued: they may
    // still reach it and be ordered, so a refusal must wait for them (a refusal means "not ordered").
    const overtaken: Promise<void>[] = [];
    try {
      await this.forwardOrTake(env, overtaken);
    } catch (err) {
      if (overtaken.length === 0 || !(err instanceof OrdererError)) throw err;
      const outcomes = await Promise.allSettled(overtaken);
      if (!outcomes.some((o) => o.status === 'fulfilled')) throw err;
      // One of them was queued after all: acknowledged, kept and resent like any forward.
    }
    this.counters.acknowledged++;
    if (txId !== '') {
      const now = this.timers.nowMs();
      this.accepted.add({ txId, envelopeBytes: env.envelopeBytes, messageSizeBytes: env.messageSizeBytes, acceptedAtMs: now, lastSentAtMs: now });
    }
  }

  /** Takes the envelope into this leader's intake or forwards it; throws OrdererError when neither happened. */
  private async forwardOrTake(env: ParsedEnvelope, overtaken: Promise<void>[]): Promise<void> {
    const item: IntakeItem = { txId: env.txId, envelopeBytes: env.envelopeBytes, messageSizeBytes: env.messageSizeBytes };
    // A forward waits for room on the leader's stream (up to the RPC timeout); if the
    // leader dies meanwhile we move on to the next one instead of waiting that out.
    for (let attempt = 0; ; attempt++) {
      if (this.halted) throw OrdererError.serviceUnavailable(`channel ${this.channelId} is halted: ${this.haltReason}`);
      const leader = this.leaderId;
      if (leader === 0) throw OrdererError.serviceUnavailable('no Raft leader');
      if (leader === this.options.selfId) {
        // Fabric §3.5: a new leader takes nothing until it has applied its whole log. Until
        // then its ledger cannot tell whether an envelope is already in a block of the old
        // term, so the client waits (bounded); a timeout refuses it unordered.
        if (!this.leaderReady) {
          if (!(await this.intakeGate.wait())) throw OrdererError.serviceUnavailable('the new Raft leader is still applying its log; try again');
          attempt--;
          continue;
        }
        // Backpressure, as Fabric's leader stops taking envelopes while its pipeline is full:
        // every envelope acknowledged here and not yet in a block dies with this process, so
        // their number stays bounded instead of growing with the client's speed.
        if (this.intake.length >= this.intakeHighWater) {
          if (!(await this.intakeGate.wait())) throw OrdererError.serviceUnavailable('the leader is overloaded: too many envelopes waiting to be ordered');
          attempt--;
          continue;
        }
        this.enqueueIntake(item, true);
        return;
      }
      const req: orderer.SubmitRequestInit = {
        channel: this.channelId,
        lastValidationSeq: this.settingsValue.configSequence,
        payload: env.envelope,
      };
      const sent = this.options.transport.sendSubmit(this.channelId, leader, req);
      let outcome: 'sent' | 'leader-changed';
      try {
        outcome = await new Promise<'sent' | 'leader-changed'>((resolve, reject) => {
          const onLeaderChange = (): void => resolve('leader-changed');
          this.forwardWaiters.add(onLeaderChange);
          sent.then(
            () => {
              this.forwardWaiters.delete(onLeaderChange);
              resolve('sent');
            },
            (err: unknown) => {
              this.forwardWaiters.delete(onLeaderChange);
              reject(err);
            },
          );
        });
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw OrdererError.serviceUnavailable(`could not forward to leader ${leader}: ${reason}`, { cause: err });
      }
      if (outcome === 'sent') return;
      // Queued late to a deposed leader it may still be ordered; the tx-id checks catch a duplicate.
      sent.catch(() => undefined);
      overtaken.push(sent);
      if (attempt >= 3) throw OrdererError.serviceUnavailable('the Raft leader keeps changing; try again');
    }
  }

  // ---- cluster MessageReceiver -----------------------------------------------------

  onConsensus(from: NodeId, msg: raftpb.Message): void {
    if (this.halted) return;
    if (msg.to !== this.options.selfId) {
      // Fabric halts here too (§3.7): a vote or acknowledgement meant for another node must
      // never be counted, and it means two orderers believe they hold the same id.
      this.haltBroken(
        new RaftMisaddressedError(msg.to, this.options.selfId, `message ${raftpb.MessageType[msg.type] ?? msg.type} from node ${from}`),
      );
      return;
    }
    this.push({ kind: 'step', msg });
  }

  onSubmit(from: NodeId, req: orderer.SubmitRequest): void {
    this.push({ kind: 'submit', from, req });
  }

  reportUnreachable(id: NodeId): void {
    this.push({ kind: 'unreachable', id });
  }

  reportSnapshotFailed(id: NodeId): void {
    this.push({ kind: 'snapshot-failed', id });
  }

  status(): ChainStatus {
    const st = this.node.status();
    return {
      channelId: this.channelId,
      nodeId: this.options.selfId,
      role: this.role,
      leaderId: this.leaderId,
      term: st.term,
      commitIndex: st.commit,
      appliedIndex: this.appliedIndex,
      height: this.blockStore.height(),
      inflightBlocks: this.inflight.size,
      intakeEnvelopes: this.intake.length,
      acceptedUnordered: this.accepted.size,
      halted: this.halted,
      haltReason: this.halted ? (this.broken?.operatorMessage ?? this.haltReason) : undefined,
      broken: this.broken !== undefined,
      leaderReady: this.leaderReady,
      pendingInCutter: this.cutter.pendingCount,
      inflightBlockNumbers: [...this.inflight.keys()],
      lastCreatedBlock: this.lastCreated?.number ?? -1,
      processingReady: this.loop.running,
      queuedEvents: this.events.length,
      ...this.counters,
    };
  }

  // ---- the loop --------------------------------------------------------------------

  private push(ev: ChainEvent): void {
    if (this.halted) return;
    if (this.events.length >= MAX_QUEUED_EVENTS && ev.kind === 'step') return;
    this.events.push(ev);
    this.kick();
  }

  private kick(): void {
    this.loop.kick();
  }

  /** A snapshot installed just before a crash may be ahead of the ledger: pull its blocks first. */
  private async catchUpToStartupSnapshot(): Promise<void> {
    const startupSnapshot = this.startupSnapshot;
    if (startupSnapshot === undefined) return;
    this.startupSnapshot = undefined;
    await this.applySnapshot(startupSnapshot);
  }

  private drainEvents(): void {
    while (this.events.length > 0 && !this.halted) {
      const batch = this.events;
      this.events = [];
      for (const ev of batch) this.handleEvent(ev);
    }
  }

  private handleEvent(ev: ChainEvent): void {
    switch (ev.kind) {
      case 'tick':
        this.node.tick();
        if (this.campaignTicks > 0 && this.leaderId === 0) {
          if (++this.ticksSinceCampaign >= this.campaignTicks) {
            this.ticksSinceCampaign = 0;
            this.node.campaign();
          }
        }
        return;
      case 'step':
        try {
          this.node.step(ev.msg);
        } catch (err) {
          // A refusal (a late answer of a removed node, a local-only type) is the sender's
          // problem; a broken invariant or anything unexpected stops this channel (drive()).
          if (err instanceof RaftLogLostError) this.logLostReportedBy = ev.msg.from;
          if (!(err instanceof RaftError) || err instanceof RaftInvariantError) throw err;
          this.logger.warn({ err, type: ev.msg.type, from: ev.msg.from }, 'rejected a Raft message');
        }
        return;
      case 'submit':
        this.onForwarded(ev.from, ev.req);
        return;
      case 'batch-timeout':
        this.cutPending();
        return;
      case 'unreachable':
        this.node.reportUnreachable(ev.id);
        return;
      case 'snapshot-failed':
        this.node.reportSnapshot(ev.id, SnapshotStatus.Failure);
        return;
      case 'snapshot-sent':
        this.node.reportSnapshot(ev.id, SnapshotStatus.Finish);
        return;
    }
  }

  /** Stage 3 of the Ready loop: the snapshot, then the committed entries. */
  private async apply(rd: Ready): Promise<void> {
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) await this.applySnapshot(rd.snapshot);
    if (rd.committedEntries.length > 0) await this.applyEntries(rd.committedEntries);
    if (!this.leaderReady && this.leaderReadyIndex >= 0 && this.appliedIndex >= this.leaderReadyIndex) this.becomeLeaderReady();
  }

  private send(msg: raftpb.Message): void {
    if (msg.to === 0 || msg.to === this.options.selfId) return;
    const ok = this.options.transport.sendConsensus(this.channelId, msg.to, msg);
    if (ok && msg.type === raftpb.MessageType.MsgSnap) {
      // As Fabric does: a snapshot handed to the transport counts as delivered. Otherwise a
      // lost answer from the follower would leave the leader waiting on it forever (its
      // progress stays in snapshot state); if the follower did miss it, probing resends.
      this.events.push({ kind: 'snapshot-sent', id: msg.to });
    }
    if (!ok) {
      // Raft must learn the peer is unreachable, and a snapshot that never left must be
      // reported failed, or the leader waits on it forever.
      this.events.push({ kind: 'unreachable', id: msg.to });
      if (msg.type === raftpb.MessageType.MsgSnap) this.events.push({ kind: 'snapshot-failed', id: msg.to });
    }
  }

  // ---- roles -----------------------------------------------------------------------

  private onSoftState(ss: SoftState): void {
    const wasLeader = this.role === RaftRole.Leader;
    const previousLeader = this.leaderId;
    this.role = ss.role;
    this.leaderId = ss.leaderId;
    if (ss.leaderId !== 0) this.everHadLeader = true;
    if (previousLeader !== ss.leaderId) {
      this.wakeForwardWaiters();
      this.logger.info({ leader: ss.leaderId, previous: previousLeader, role: ss.role }, 'raft leader changed');
    }
    if (wasLeader && ss.role !== RaftRole.Leader) this.stepDownAsLeader();
    if (!wasLeader && ss.role === RaftRole.Leader) {
      this.leaderReady = false;
      this.leaderReadyIndex = this.options.raft.storage.lastIndex();
      this.campaignTicks = -1;
    }
    if (ss.leaderId !== 0 && ss.leaderId !== previousLeader) this.resubmitAccepted();
  }

  private becomeLeaderReady(): void {
    this.leaderReady = true;
    this.leaderReadyIndex = -1;
    // Number and hash only: reading the block itself would fault it in from the file after a restart.
    const lastHash = this.blockStore.lastHeaderHash();
    if (lastHash === undefined) throw new Error('ledger is empty: a chain needs at least its genesis block');
    this.lastCreated = { number: this.blockStore.height() - 1, hash: lastHash };
    this.logger.info({ height: this.blockStore.height(), held: this.heldForReady.length }, 'leader ready: accepting envelopes');
    // Forwards that arrived while the log was being applied, now checked against a complete ledger.
    for (const { from, req } of this.heldForReady.splice(0)) this.onForwarded(from, req);
    this.intakeGate.wakeAll();
    // What this node accepted as a follower and was not ordered yet goes in first.
    this.resubmitAccepted();
    this.pumpIntake();
  }

  private stepDownAsLeader(): void {
    // Fabric drops the cutter's batch here; envelopes this node accepted stay in
    // `accepted` and go to the new leader, forwarded ones are resent by their followers.
    this.batchTimer.stop();
    this.cutter.cut();
    this.intake = new Fifo<IntakeItem>();
    this.intakeTxIds.clear();
    this.heldForReady.length = 0;
    this.inflight.clear();
    this.proposedTxIds.clear();
    this.lastCreated = undefined;
    this.leaderReady = false;
    this.leaderReadyIndex = -1;
    this.cutWhenFree = false;
    this.intakeGate.wakeAll();
  }

  // ---- envelopes on the leader -----------------------------------------------------

  private isKnownTx(txId: string): boolean {
    if (txId === '') return false;
    return this.intakeTxIds.has(txId) || this.proposedTxIds.has(txId) || this.blockStore.getByTxId(txId) !== undefined;
  }

  /** Returns false when the envelope is a duplicate or the intake is full. */
  private enqueueIntake(item: IntakeItem, fromClient: boolean): boolean {
    // Only a ready leader's ledger answers "already ordered?" for every entry of its log.
    if (!this.leaderReady) throw new ChainInvariantError(`envelope ${item.txId} offered to the intake before the leader applied its log`);
    if (this.isKnownTx(item.txId)) return false;
    if (this.intake.length >= (this.options.maxIntakeEnvelopes ?? 200_000)) {
      if (fromClient) throw OrdererError.serviceUnavailable('the leader is overloaded: too many envelopes waiting to be ordered');
      return false;
    }
    this.intake.push(item);
    if (item.txId !== '') this.intakeTxIds.add(item.txId);
    this.kick();
    return true;
  }

  private onForwarded(from: NodeId, req: orderer.SubmitRequest): void {
    this.counters.forwardedReceived++;
    if (req.payload === undefined) return;
    const envelopeBytes = common.Envelope.encode(req.payload);
    if (this.role === RaftRole.Leader && !this.leaderReady) {
      // Held until this leader has applied its log (Fabric §3.5), then checked against the
      // ledger like any other. Beyond the bound it is dropped: the follower that acknowledged
      // it keeps it and resends it.
      if (this.heldForReady.length < this.intakeHighWater) this.heldForReady.push({ from, req });
      return;
    }
    if (this.role !== RaftRole.Leader) {
      // Fabric forwards again when the receiver is no longer leader.
      if (this.leaderId !== 0 && this.leaderId !== this.options.selfId && this.leaderId !== from) {
        this.options.transport
          .sendSubmit(this.channelId, this.leaderId, { channel: this.channelId, lastValidationSeq: req.lastValidationSeq, payload: req.payload })
          .catch(() => undefined);
      }
      return;
    }
    let parsed: ParsedEnvelope;
    try {
      // Re-checked here: the follower's checks ran against a config we may have moved past.
      parsed = parseBroadcastEnvelope(envelopeBytes);
    } catch (err) {
      this.logger.warn({ err, from }, 'dropping a forwarded envelope that does not parse');
      return;
    }
    if (parsed.kind !== 'normal' || parsed.channelId !== this.channelId) return;
    if (parsed.messageSizeBytes > this.settingsValue.absoluteMaxBytes) return;
    if (this.enqueueIntake({ txId: parsed.txId, envelopeBytes, messageSizeBytes: parsed.messageSizeBytes }, false)) this.counters.forwardedQueued++;
  }

  /** Moves envelopes from the intake through the cutter into proposed blocks, within MaxInflightBlocks. */
  private pumpIntake(): void {
    if (this.role !== RaftRole.Leader || !this.leaderReady || this.halted) return;
    const s = this.settingsValue;
    if (this.cutWhenFree && this.inflight.size < s.maxInflightBlocks) {
      this.cutWhenFree = false;
      this.cutPending();
    }
    while (this.intake.length > 0 && this.inflight.size < s.maxInflightBlocks) {
      const item = this.intake.shift()!;
      this.intakeTxIds.delete(item.txId);
      // The ledger was checked when the item entered the intake; only proposals can have changed since.
      if (item.txId !== '' && this.proposedTxIds.has(item.txId)) continue;
      if (item.txId !== '') this.proposedTxIds.add(item.txId);
      this.txIdOf.set(item.envelopeBytes, item.txId);
      const { batches, pending } = this.cutter.ordered(item.envelopeBytes, item.messageSizeBytes);
      for (const batch of batches) this.proposeBlock(batch);
      this.batchTimer.afterOrdered(pending, s.batchTimeoutMs);
    }
    if (this.intake.length < this.intakeHighWater) this.intakeGate.wakeAll();
  }

  private cutPending(): void {
    if (this.role !== RaftRole.Leader || !this.leaderReady) return;
    if (this.inflight.size >= this.settingsValue.maxInflightBlocks) {
      this.cutWhenFree = true;
      return;
    }
    this.batchTimer.stop();
    const batch = this.cutter.cut();
    if (batch.length > 0) this.proposeBlock(batch);
  }

  private proposeBlock(batch: Uint8Array[]): void {
    const prev = this.lastCreated;
    if (prev === undefined || !this.leaderReady) throw new ChainInvariantError('a block proposed before the leader applied its log');
    const block = newBlock(prev.number + 1, prev.hash, batch);
    const bytes = common.Block.encode(block);
    try {
      this.node.propose(bytes);
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err;
      // The envelopes are not lost: accepted ones are resubmitted to whoever leads next.
      this.logger.warn({ block: prev.number + 1, reason: err.reason }, 'block proposal dropped');
      for (const env of batch) this.proposedTxIds.delete(this.txIdOf.get(env) ?? envelopeTxIdOrEmpty(env));
      return;
    }
    const txIds = batch.map((env) => this.txIdOf.get(env) ?? envelopeTxIdOrEmpty(env));
    this.inflight.set(prev.number + 1, { txIds, dataHash: block.header!.dataHash });
    this.logger.debug({ block: prev.number + 1, envelopes: batch.length, sizeBytes: bytes.length }, 'block proposed');
    this.lastCreated = { number: prev.number + 1, hash: blockHeaderHash(block.header!) };
  }

  // ---- applying ------------------------------------------------------------------

  private async applyEntries(entries: raftpb.Entry[]): Promise<void> {
    let blocks: common.Block[] = [];
    let lastNormalData: Uint8Array | undefined;
    let normalBytes = 0;
    const flush = async (): Promise<void> => {
      if (blocks.length === 0) return;
      const toWrite = blocks;
      blocks = [];
      await this.blockStore.appendBatch(toWrite.map((b) => common.Block.encode(b)));
      for (const b of toWrite) this.onBlockCommitted(b);
    };
    for (const e of entries) {
      if (e.index <= this.appliedIndex) continue;
      if (e.type === raftpb.EntryType.EntryNormal) {
        if (e.data.length > 0) {
          const block = common.Block.decode(e.data);
          const number = block.header?.number ?? 0;
          const expected = this.blockStore.height() + blocks.length;
          if (number > expected) {
            throw new ChainInvariantError(`committed entry ${e.index} carries block ${number} but the ledger expects ${expected}`);
          }
          if (number === expected) {
            this.fillMetadata(block, e.index);
            blocks.push(block);
          }
          lastNormalData = e.data;
          normalBytes += e.data.length;
        }
      } else if (e.type === raftpb.EntryType.EntryConfChange) {
        await flush();
        const cc = raftpb.ConfChange.decode(e.data);
        this.confState = this.node.applyConfChange(cc);
        if (cc.type === raftpb.ConfChangeType.ConfChangeRemoveNode && cc.nodeId === this.options.selfId) {
          this.appliedIndex = e.index;
          this.stopNow('this node was removed from the channel', true);
          return;
        }
      }
      this.appliedIndex = e.index;
    }
    await flush();
    this.bytesSinceSnapshot += normalBytes;
    if (lastNormalData !== undefined && this.bytesSinceSnapshot >= this.settingsValue.snapshotIntervalSizeBytes) {
      this.bytesSinceSnapshot = 0;
      await this.options.raft.snapshot(this.appliedIndex, this.confState, lastNormalData);
      this.logger.info({ index: this.appliedIndex, height: this.blockStore.height() }, 'raft snapshot taken');
    }
  }

  private fillMetadata(block: common.Block, raftIndex: number): void {
    const s = this.settingsValue;
    writeCommitMetadata(block, {
      lastConfigIndex: s.lastConfigIndex,
      consenterMetadata: { consenterIds: s.members.map((m) => m.id), nextConsenterId: s.nextConsenterId, raftIndex },
      ...(this.options.signer !== undefined ? { signer: this.options.signer } : {}),
    });
  }

  private onBlockCommitted(block: common.Block): void {
    const number = block.header?.number ?? 0;
    const mine = this.inflight.get(number);
    if (mine !== undefined) this.inflight.delete(number);
    // Our own proposal (same data): its tx ids are known. Otherwise decode them, but only if
    // something here waits for them.
    const txIds =
      mine !== undefined && block.header !== undefined && bytesEqual(mine.dataHash, block.header.dataHash)
        ? mine.txIds
        : this.accepted.size > 0 || this.proposedTxIds.size > 0
          ? (block.data?.data ?? []).map((env) => envelopeTxIdOrEmpty(env))
          : [];
    for (const txId of txIds) {
      if (txId === '') continue;
      this.proposedTxIds.delete(txId);
      this.accepted.settle(txId);
    }
  }

  /** A snapshot ahead of our ledger: fetch the missing blocks from the other orderers. */
  private async applySnapshot(snap: raftpb.Snapshot): Promise<void> {
    const target = common.Block.decode(snap.data);
    const targetNumber = target.header?.number ?? 0;
    this.confState = snap.metadata.confState;
    const height = this.blockStore.height();
    if (targetNumber >= height) {
      this.logger.info({ from: height, to: targetNumber, snapshotIndex: snap.metadata.index }, 'catching up to a raft snapshot');
      if (targetNumber > height) {
        await pullIntoLedger({
          channelId: this.channelId,
          blockStore: this.blockStore,
          pullBlocks: this.options.pullBlocks,
          endpoints: this.settingsValue.members.filter((m) => m.id !== this.options.selfId).map((m) => `${m.host}:${m.port}`),
          toNumber: targetNumber - 1,
          timers: this.timers,
          logger: this.logger,
          isHalted: () => this.halted,
        });
      }
      this.fillMetadata(target, snap.metadata.index);
      await this.blockStore.append(common.Block.encode(target));
      this.onBlockCommitted(target);
    }
    this.appliedIndex = Math.max(this.appliedIndex, snap.metadata.index);
    this.bytesSinceSnapshot = 0;
  }

  // ---- resubmission ------------------------------------------------------------------

  private resubmitAccepted(): void {
    if (this.leaderId === 0 || this.accepted.size === 0) return;
    this.resend(this.accepted.all());
  }

  private resubmitOverdue(resubmitAfterMs: number): void {
    if (this.halted) return;
    const now = this.timers.nowMs();
    const ttlMs = this.options.resubmitTtlMs ?? 120_000;
    const expired = this.accepted.expire(now - ttlMs);
    if (expired > 0) this.logger.warn({ expired, ttlMs }, 'gave up resubmitting envelopes that were never ordered');
    if (this.leaderId === 0) return;
    this.resend(this.accepted.due(now - resubmitAfterMs));
  }

  private resend(items: ReturnType<AcceptedEnvelopes['all']>): void {
    if (items.length === 0) return;
    const now = this.timers.nowMs();
    const leader = this.leaderId;
    if (leader === this.options.selfId) {
      if (!this.leaderReady) return; // becomeLeaderReady() resubmits
      let queued = 0;
      for (const item of items) {
        item.lastSentAtMs = now;
        if (this.blockStore.getByTxId(item.txId) !== undefined) {
          this.accepted.settle(item.txId);
          continue;
        }
        if (this.enqueueIntake(item, false)) queued++;
      }
      if (queued > 0) this.logger.info({ queued }, 'resubmitted accepted envelopes to ourselves as the new leader');
      return;
    }
    let sent = 0;
    for (const item of items) {
      if (this.blockStore.getByTxId(item.txId) !== undefined) {
        this.accepted.settle(item.txId);
        continue;
      }
      item.lastSentAtMs = now;
      let payload: common.Envelope;
      try {
        payload = common.Envelope.decode(item.envelopeBytes);
      } catch {
        this.accepted.settle(item.txId);
        continue;
      }
      sent++;
      this.counters.resubmitted++;
      this.options.transport
        .sendSubmit(this.channelId, leader, { channel: this.channelId, lastValidationSeq: this.settingsValue.configSequence, payload })
        .catch(() => undefined); // retried by the next sweep
    }
    if (sent > 0) this.logger.info({ sent, leader }, 'resubmitted unordered envelopes to the leader');
  }
}
