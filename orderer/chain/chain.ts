// The Chain: one channel's ordering service on one orderer, as wiring over parts a reader can
// hold in mind one at a time:
//   ready-loop.ts        the Ready loop (persist → send → apply → advance), shared with the simulator
//   leader-pipeline.ts   intake → block cutter → in-flight blocks, tx-id dedup, leader readiness
//   forwarding.ts        Broadcast on any node: forwarding, what SUCCESS and refusals promise, resubmission
//   apply.ts             committed entries into the ledger: metadata, snapshots, the backlog of a catch-up
//   catchup.ts           the blocks of a snapshot ahead of the ledger, pulled beside the Ready loop
//   channel-config.ts    the channel's config: updates validated and wrapped, re-checked, applied
//   removal.ts           when a node a config block removed halts (eviction suspicion among it)
//   broken.ts            what a channel halted on broken state says
//   ready-timing.ts      how long a Ready and its persist take, for the metrics
//   conf-change.ts       the leader's Raft conf changes after a consenter change, a removed leader's hand-over
//   preferred-leader.ts  handing leadership to the best-ranked healthy consenter (Consensus.PreferredLeaders)
// All inputs (ticks, Raft messages, forwarded envelopes, timer expiries) are queued here and fed
// to the Raft core between Readys, never while one is being persisted, so everything that
// arrived during an fsync is batched into the next Ready. The queue (event-queue.ts) is bounded
// in bytes: above its high-water mark the cluster stops reading the senders' streams
// (receiveBackpressure) until the loop has drained it.
import { ReadyTiming } from './ready-timing';
import type { Logger } from 'pino';
import type { ChannelAccess } from '../policies/channel-access';
import type { ForwardedBatch, ForwardedEnvelope, NodeId, SubmitOutcome } from '../../cluster/types';
import { RaftRole, SnapshotStatus, type Ready, type SoftState } from '../../consensus/raft/api';
import { RaftError, RaftInvariantError, RaftLogLostError, RaftMisaddressedError } from '../../consensus/raft/errors';
import { RawNode } from '../../consensus/raft/rawnode';
import { SeededRng } from '../../consensus/raft/rng';
import { envelopeTxIdOrEmpty } from '../../ledger/block';
import type { BlockStore } from '../../ledger/block-store';
import { common, type orderer, raftpb } from '../../protos';
import { ChainInvariantError, OrdererError } from '../errors';
import { readConsenterMetadata } from '../../ledger/metadata';
import { chainSettingsOf, recheckIntakeItem } from './channel-config';
import type { IntakeItem } from './leader-pipeline';
import type { ParsedEnvelope } from '../msgcheck';
import type { ChainHandle, ChainServiceSettings } from '../types';
import { Applier } from './apply';
import { RemovalWatch } from './removal';
import { describeBrokenState, type BrokenState } from './broken';
import { designatedCampaigner } from './campaign';
import {
  DEFAULT_EVENT_QUEUE_HIGH_WATER_BYTES,
  DEFAULT_EVENT_QUEUE_LOW_WATER_BYTES,
  DEFAULT_EVENT_QUEUE_MAX_BYTES,
  EventQueue,
  MAX_QUEUED_EVENTS,
} from './event-queue';
import { chainEventBytes, takeEach, type ChainEvent } from './events';
import { Forwarder } from './forwarding';
import { raftIndex } from './ids';
import { LeaderPipeline, refusal, type ForwardAnswer } from './leader-pipeline';
import { ReadyLoop, ReadyProcessor } from './ready-loop';
import { PreferredLeaderDriver } from './preferred-leader';
import { ConfChangeProposer, membershipPending } from './conf-change';
import { DEFAULT_PREFERRED_LEADER_QUIET_PERIOD_MS, REAL_TIMERS, type ChainOptions, type ChainSettings, type ChainStatus, type ChainTimers, type RaftMember } from './types';
import type { RaftConsenter } from '../channelconfig';

/** How often Broadcasts waiting on this leader for their block are checked against their deadline. */
const COMMIT_WAIT_SWEEP_MS = 1_000;
/** Entries kept in the Raft log behind a snapshot, so slightly lagging followers need no snapshot (Fabric keeps 4). */
export const SNAPSHOT_CATCHUP_ENTRIES = 4;

export class Chain implements ChainHandle {
  readonly channelId: string;
  readonly blockStore: BlockStore;
  private readonly node: RawNode;
  private readonly logger: Logger;
  private readonly timers: ChainTimers;
  private settingsValue: ChainSettings;
  private readonly loop: ReadyLoop;
  private readonly pipeline: LeaderPipeline;
  private readonly forwarder: Forwarder;
  private readonly applier: Applier;

  private readonly events: EventQueue<ChainEvent>;
  private halted = false;
  private haltReason = '';
  /** Set when the chain halted on broken state: what was seen and how to recover (operators). */
  private broken: BrokenState | undefined;
  /** The leader whose message revealed a lost log (named in the recovery steps). */
  private logLostReportedBy = 0;
  private readonly stopTimers: Array<() => void> = [];

  private role: RaftRole = RaftRole.Follower;
  private leaderId: NodeId = 0;
  private everHadLeader = false;
  private campaignTicks = -1;
  private ticksSinceCampaign = 0;
  /** Totals since start, for status() and operators. */
  private readonly counters = { forwardedReceived: 0, forwardedQueued: 0 };
  /** Who may write and read at the current config; replaced by each config block. */
  private accessValue: ChannelAccess;
  /** Raft's voters as of the last conf change it applied (the consenters a config block names may be ahead). */
  private raftVoters: Set<NodeId>;
  /** The leader's conf changes after a consenter change, and the hand-over of a removed leader (conf-change.ts). */
  private readonly confChanges: ConfChangeProposer;
  private tickCount = 0;
  /** The node was removed from the channel's consenters by a config block and halts once it may. */
  /** Whether a config block removed this node, and when it halts for it (removal.ts). */
  private readonly removal: RemovalWatch;
  /** Persist and Ready durations for the metrics (ready-timing.ts). */
  private readonly timing: ReadyTiming;
  /** Every consenter a config of this chain named, by Raft id, as last named (certificates rotate). */
  private readonly knownConsenters = new Map<NodeId, { member: RaftMember; consenter: RaftConsenter }>();
  /** Consensus.PreferredLeaders (preferred-leader.ts); undefined when the list is empty. */
  private readonly preferredLeader: PreferredLeaderDriver | undefined;

  constructor(private readonly options: ChainOptions) {
    this.channelId = options.channelId;
    this.blockStore = options.blockStore;
    this.settingsValue = options.settings;
    this.accessValue = options.access;
    this.timers = options.timers ?? REAL_TIMERS;
    this.logger = options.logger.child({ logger: 'orderer.chain', channel: options.channelId, node: options.selfId });
    const highWaterBytes = options.eventQueueHighWaterBytes ?? DEFAULT_EVENT_QUEUE_HIGH_WATER_BYTES;
    this.events = new EventQueue<ChainEvent>({
      highWaterBytes,
      lowWaterBytes: Math.min(options.eventQueueLowWaterBytes ?? DEFAULT_EVENT_QUEUE_LOW_WATER_BYTES, highWaterBytes),
      maxBytes: Math.max(options.eventQueueMaxBytes ?? DEFAULT_EVENT_QUEUE_MAX_BYTES, highWaterBytes),
      maxEvents: MAX_QUEUED_EVENTS,
      sizeOf: chainEventBytes,
      droppable: (ev) => ev.kind === 'step' || ev.kind === 'submit' || ev.kind === 'submit-batch',
      logger: this.logger,
    });
    const s = options.settings;
    const storage = options.raft.storage;
    const initial = storage.initialState();
    this.raftVoters = new Set(initial.confState.voters);
    const snap = options.config?.snapshot;
    snap?.settings.orderer.consensus.consenters.forEach((c, i) => {
      const id = snap.consenterIds[i];
      if (id !== undefined) this.knownConsenters.set(id, { member: { id, host: c.host, port: c.port }, consenter: c });
    });
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
    this.confChanges = new ConfChangeProposer({ selfId: options.selfId, node: this.node, lastIndex: () => options.raft.storage.lastIndex(), logger: this.logger });
    if ((options.preferredLeaders?.length ?? 0) > 0) {
      const quietMs = options.preferredLeaderQuietPeriodMs ?? DEFAULT_PREFERRED_LEADER_QUIET_PERIOD_MS;
      this.preferredLeader = new PreferredLeaderDriver({
        endpoints: options.preferredLeaders ?? [],
        config: { quietTicks: Math.ceil(quietMs / s.tickIntervalMs), electionTick: s.electionTick },
        logger: this.logger,
        transfer: (to) => this.node.transferLeadership(to),
      });
    }
    const maxIntakeEnvelopes = options.maxIntakeEnvelopes ?? 200_000;
    this.pipeline = new LeaderPipeline({
      channelId: this.channelId,
      blockStore: this.blockStore,
      timers: this.timers,
      logger: this.logger,
      settings: () => this.settingsValue,
      propose: (bytes) => this.node.propose(bytes),
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
      onBatchTimeout: () => this.push({ kind: 'batch-timeout' }),
      recheck: (item) => this.recheckIntakeItem(item),
      membershipPending: () => this.membershipPending(),
      maxIntakeEnvelopes,
      intakeHighWater: options.intakeHighWater ?? Math.max(2 * s.maxMessageCount, 1_000),
      intakeWaitTimeoutMs: options.intakeWaitTimeoutMs ?? 7_000,
      ...(options.maxIntakeBytes !== undefined ? { maxIntakeBytes: options.maxIntakeBytes } : {}),
      ...(options.intakeHighWaterBytes !== undefined ? { intakeHighWaterBytes: options.intakeHighWaterBytes } : {}),
    });
    this.forwarder = new Forwarder({
      channelId: this.channelId,
      selfId: options.selfId,
      transport: options.transport,
      blockStore: this.blockStore,
      pipeline: this.pipeline,
      timers: this.timers,
      logger: this.logger,
      maxAccepted: maxIntakeEnvelopes,
      ...(options.maxAcceptedBytes !== undefined ? { maxAcceptedBytes: options.maxAcceptedBytes } : {}),
      resubmitTtlMs: options.resubmitTtlMs ?? 120_000,
      ...(options.commitWaitTimeoutMs !== undefined ? { commitWaitTimeoutMs: options.commitWaitTimeoutMs } : {}),
      leaderId: () => this.leaderId,
      configSequence: () => this.settingsValue.configSequence,
      haltedReason: () => (this.halted ? this.haltReason : undefined),
      kick: () => this.loop.kick(),
    });
    this.applier = new Applier({
      channelId: this.channelId,
      ...(options.metrics !== undefined ? { metrics: options.metrics } : {}),
      selfId: options.selfId,
      blockStore: this.blockStore,
      raft: options.raft,
      pullBlocks: options.pullBlocks,
      timers: this.timers,
      logger: this.logger,
      ...(options.signer !== undefined ? { signer: options.signer } : {}),
      settings: () => this.settingsValue,
      applyConfChange: (cc) => this.applyConfChange(cc),
      txIdsOf: (block) => this.txIdsOf(block),
      isOwnProposal: (number, entryData) => this.pipeline.isOwnProposal(number, entryData),
      onBlockCommitted: (block, txIds) => this.onBlockCommitted(block, txIds),
      onConfigBlock: (block, number, pulled) => this.onConfigBlock(block, number, pulled),
      onRemoved: () => this.stopNow('this node was removed from the channel', true),
      // The pull runs beside the loop: its end has to wake it.
      onPulled: () => this.loop.kick(),
      onError: (err) => this.failWith(err),
    });
    this.removal = new RemovalWatch({
      timers: this.timers,
      logger: this.logger,
      electionTick: () => this.settingsValue.electionTick,
      halted: () => this.halted,
      halt: (reason) => this.stopNow(reason, true),
      ...(options.evictionSuspicionMs !== undefined ? { evictionSuspicionMs: options.evictionSuspicionMs } : {}),
      ...(options.checkEviction !== undefined ? { checkEviction: options.checkEviction } : {}),
    });
    this.timing = new ReadyTiming(options.metrics);
    this.loop = new ReadyLoop(
      this.node,
      new ReadyProcessor(initial.hardState),
      {
        persist: (rd) => {
          this.timing.persistStarting();
          return this.options.raft.saveReady(rd);
        },
        send: (msg) => this.send(msg),
        softState: (ss) => this.onSoftState(ss),
        apply: (rd) => this.apply(rd),
        stopped: () => {
          this.timing.afterPersist();
          return this.halted;
        },
      },
      {
        beforeReady: () => {
          this.drainEvents();
          // Envelopes that reached an idle leader become proposals now, not at the next tick.
          if (!this.halted) this.pipeline.pump();
        },
        hasQueuedInputs: () => this.events.length > 0,
        afterAdvance: () => {
          this.timing.advanced();
          this.proposeMissingConfChange();
          this.pipeline.pump();
        },
        // A snapshot installed just before a crash may be ahead of the ledger (Fabric catches up at start too).
        onStart: async () => this.applier.catchUpToStoredSnapshot(),
        betweenReadys: () => this.applyWaiting(),
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
    }
    this.reportClusterMembers();
    this.stopTimers.push(this.timers.setInterval(() => this.push({ kind: 'tick' }), s.tickIntervalMs));
    const resubmitAfterMs = this.options.resubmitAfterMs ?? Math.max(2_000, 4 * s.electionTick * s.tickIntervalMs);
    this.stopTimers.push(this.timers.setInterval(() => this.forwarder.resubmitOverdue(resubmitAfterMs), resubmitAfterMs));
    this.stopTimers.push(this.timers.setInterval(() => this.forwarder.sweepCommitWaiters(), COMMIT_WAIT_SWEEP_MS));
    this.logger.info({ members: s.members.map((m) => m.id), height: this.blockStore.height(), fresh: this.options.raft.fresh }, 'chain started');
    this.loop.kick();
  }

  /** Stops the chain: no more ticks or envelopes; pending work is abandoned (the WAL has what was durable). */
  async halt(reason = 'chain stopped'): Promise<void> {
    this.stopNow(reason);
    await this.loop.idle;
    // Out at once from a backoff or a read; an append under way finishes first (the owner closes the ledger next).
    await this.applier.stop();
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
    // Forwards still queued were not taken: their senders hear so (they keep and resend them).
    const halted = refusal(`channel ${this.channelId} halted on node ${this.options.selfId}: ${reason}`);
    for (const ev of this.events.take()) {
      if (ev.kind === 'submit') ev.answer?.(halted);
      else if (ev.kind === 'submit-batch') ev.answer(ev.batch.envelopes.map(() => halted));
    }
    this.events.clear(); // streams paused on a full queue read again (and are ignored)
    this.pipeline.halt();
    void this.applier.stop();
    // Forwards waiting for room on a stream answer now, not after the RPC timeout; Broadcasts
    // waiting for their block hear "fate unknown".
    this.forwarder.halt(reason);
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

  // ---- ChainHandle -----------------------------------------------------------------

  access(): ChannelAccess {
    return this.accessValue;
  }

  /**
   * A client's CONFIG_UPDATE (its filters passed): validated against the current config and
   * wrapped into a CONFIG envelope signed by this orderer, to be handed to order(). Throws
   * OrdererError (BAD_REQUEST, FORBIDDEN) and changes nothing.
   */
  processConfigUpdate(update: ParsedEnvelope): ParsedEnvelope {
    const config = this.options.config;
    if (config === undefined) throw new OrdererError(common.Status.NOT_IMPLEMENTED, `channel ${this.channelId} takes no config updates on this node`);
    if (this.halted) throw OrdererError.serviceUnavailable(`channel ${this.channelId} is halted: ${this.haltReason}`);
    return config.processConfigUpdate(update, this.activeNodes());
  }

  /**
   * On the leader, the consenters it heard from recently and itself (the quorum guard of a
   * membership change, reference §3.8 step 6); undefined elsewhere (a follower does not know).
   */
  private activeNodes(): number[] | undefined {
    if (this.role !== RaftRole.Leader) return undefined;
    const active = [this.options.selfId];
    for (const [id, pr] of this.node.status().progress) if (id !== this.options.selfId && pr.recentActive) active.push(id);
    return active;
  }

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

  order(env: ParsedEnvelope): Promise<void> {
    if (env.kind === 'config') this.options.metrics?.configProposalReceived();
    else this.options.metrics?.normalProposalReceived();
    return this.forwarder.order(env);
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
    if (msg.from !== from) {
      // The stream is authenticated as `from` (its TLS certificate); a Raft message claiming
      // another sender would let one consenter vote or append in another's name. Dropped, as a
      // lost message would be (Raft copes); Fabric does not check this.
      this.logger.warn({ from, claimed: msg.from, type: raftpb.MessageType[msg.type] ?? msg.type }, 'dropping a Raft message whose sender is not the authenticated node');
      return;
    }
    this.push({ kind: 'step', msg });
  }

  /**
   * A forwarded envelope. A follower that asked for the outcome (acked) hears SUCCESS once the
   * envelope is in this leader's intake (or already known to it), and a refusal when it was not
   * taken (not the leader, queue or intake full, halted): it acknowledges its client only on
   * SUCCESS, so an acknowledged envelope is held by two nodes until it is in a block.
   */
  onSubmit(from: NodeId, req: orderer.SubmitRequest, acked = false): void | SubmitOutcome | Promise<SubmitOutcome> {
    if (this.halted) return acked ? this.haltedRefusal() : undefined;
    if (req.payload === undefined) return acked ? refusal('a forward without an envelope', common.Status.BAD_REQUEST) : undefined;
    const forward: ForwardedEnvelope = { lastValidationSeq: req.lastValidationSeq, envelope: common.Envelope.encode(req.payload) };
    if (!acked) {
      this.push({ kind: 'submit', from, forward });
      return undefined;
    }
    let answer!: ForwardAnswer;
    const outcome = new Promise<SubmitOutcome>((resolve) => (answer = resolve));
    // Beyond the event queue's hard cap the envelope is not taken (the follower keeps it and resends it).
    if (!this.push({ kind: 'submit', from, forward, answer })) return refusal("the leader's event queue is full");
    return outcome;
  }

  /** Forwarded envelopes in one SubmitBatch (our extension): each is taken as onSubmit takes one, with one answer for all. */
  onSubmitBatch(from: NodeId, batch: ForwardedBatch): SubmitOutcome[] | Promise<SubmitOutcome[]> {
    if (this.halted) return batch.envelopes.map(() => this.haltedRefusal());
    let answer!: (outcomes: SubmitOutcome[]) => void;
    const outcomes = new Promise<SubmitOutcome[]>((resolve) => (answer = resolve));
    if (!this.push({ kind: 'submit-batch', from, batch, answer })) {
      const full = refusal("the leader's event queue is full");
      return batch.envelopes.map(() => full);
    }
    return outcomes;
  }

  private haltedRefusal(): SubmitOutcome {
    return refusal(`channel ${this.channelId} is halted on node ${this.options.selfId}: ${this.haltReason}`);
  }

  /** The cluster asks after each message: a promise while the event queue is above its high-water mark. */
  receiveBackpressure(): Promise<void> | undefined {
    if (this.halted) return undefined;
    return this.events.backpressure();
  }

  reportUnreachable(id: NodeId): void {
    this.push({ kind: 'unreachable', id });
  }

  reportSnapshotFailed(id: NodeId): void {
    this.push({ kind: 'snapshot-failed', id });
  }

  /** Consenters and, on the leader, those it heard from recently: for the metrics read at scrape time. */
  membershipCounts(): { clusterSize: number; activeNodes: number | undefined } {
    return { clusterSize: this.settingsValue.members.length, activeNodes: this.activeNodes()?.length };
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
      appliedIndex: this.applier.appliedIndex,
      height: this.blockStore.height(),
      catchingUp: this.applier.catchingUp,
      acceptedUnordered: this.forwarder.acceptedSize,
      halted: this.halted,
      haltReason: this.halted ? (this.broken?.operatorMessage ?? this.haltReason) : undefined,
      broken: this.broken !== undefined,
      ...this.pipeline.status(),
      processingReady: this.loop.running,
      queuedEvents: this.events.length,
      queuedEventBytes: this.events.bytes,
      ...this.counters,
      ...this.forwarder.counters,
      ...(this.preferredLeader !== undefined ? { preferredLeader: this.preferredLeader.status() } : {}),
    };
  }

  // ---- inputs, fed to the core between Readys ---------------------------------------

  /** False when the input was not queued (halted, or beyond the hard cap of event-queue.ts). */
  private push(ev: ChainEvent): boolean {
    if (this.halted) return false;
    if (!this.events.push(ev)) return false;
    this.loop.kick();
    return true;
  }

  private drainEvents(): void {
    while (this.events.length > 0 && !this.halted) {
      const batch = this.events.take();
      for (const ev of batch) this.handleEvent(ev);
    }
  }

  private handleEvent(ev: ChainEvent): void {
    switch (ev.kind) {
      case 'tick':
        this.tickCount++;
        this.node.tick();
        this.removal.onTick(this.leaderId);
        this.preferLeader();
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
          // problem; a broken invariant or anything unexpected stops this channel (onError).
          if (err instanceof RaftLogLostError) this.logLostReportedBy = ev.msg.from;
          if (!(err instanceof RaftError) || err instanceof RaftInvariantError) throw err;
          this.logger.warn({ err, type: ev.msg.type, from: ev.msg.from }, 'rejected a Raft message');
        }
        return;
      case 'submit':
        this.onForwarded(ev.from, ev.forward, ev.answer);
        return;
      case 'submit-batch':
        takeEach(ev.batch, (forward, answer) => this.onForwarded(ev.from, forward, answer), ev.answer);
        return;
      case 'batch-timeout':
        this.pipeline.cutPending();
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

  private onForwarded(from: NodeId, forward: ForwardedEnvelope, answer: ForwardAnswer | undefined): void {
    this.counters.forwardedReceived++;
    if (this.role !== RaftRole.Leader) {
      // A follower of ours that waits for the outcome hears it and tries the new leader itself
      // (it then knows the fate); a Fabric orderer does not listen, so as Fabric we forward again.
      if (answer !== undefined) answer(refusal(`node ${this.options.selfId} is not the Raft leader (leader: ${this.leaderId || 'none'})`));
      else this.forwarder.forwardAgain(from, forward);
      return;
    }
    if (this.pipeline.receiveForward(from, forward, answer)) this.counters.forwardedQueued++;
  }

  // ---- the Ready loop's stages ------------------------------------------------------

  private send(msg: raftpb.Message): void {
    if (msg.to === 0 || msg.to === this.options.selfId) return;
    if (msg.type === raftpb.MessageType.MsgSnap && msg.snapshot !== undefined) {
      // Fabric §3.9: a snapshot goes out with the sender's current membership, not the one it was
      // taken with. A node added after the snapshot was taken is not in the latter, and would
      // ignore the snapshot it needs to catch up. (A copy: the stored snapshot stays as it was.)
      const confState = this.node.status().confState;
      msg = { ...msg, snapshot: { ...msg.snapshot, metadata: { ...msg.snapshot.metadata, confState } } };
    }
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

  private onSoftState(ss: SoftState): void {
    const wasLeader = this.role === RaftRole.Leader;
    const previousLeader = this.leaderId;
    this.role = ss.role;
    this.leaderId = ss.leaderId;
    if (ss.leaderId !== 0) this.everHadLeader = true;
    if (previousLeader !== ss.leaderId) {
      if (ss.leaderId !== 0) this.options.metrics?.leaderChanged();
      this.forwarder.wakeWaiters();
      this.pipeline.wakeWaiters();
      this.logger.info({ leader: ss.leaderId, previous: previousLeader, role: ss.role }, 'raft leader changed');
    }
    if (wasLeader && ss.role !== RaftRole.Leader) this.forwarder.keepUnproposed(this.pipeline.stepDown());
    if (!wasLeader && ss.role === RaftRole.Leader) {
      // Fabric §3.5: ready once everything in the log at election is applied.
      this.pipeline.becomeLeader(raftIndex(this.options.raft.storage.lastIndex()));
      this.campaignTicks = -1;
    }
    if (ss.leaderId !== 0 && ss.leaderId !== previousLeader) this.forwarder.resubmitAccepted();
  }

  /**
   * Stage 3: the snapshot, then the committed entries; then, maybe, the leader is ready. A
   * snapshot ahead of the ledger starts a pull beside the loop, and the entries wait for it (apply.ts).
   */
  private async apply(rd: Ready): Promise<void> {
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      this.applier.applySnapshot(rd.snapshot);
      // Raft took the snapshot's membership (a new member learns it this way, not entry by entry).
      this.raftVoters = new Set(rd.snapshot.metadata.confState.voters);
      this.reportClusterMembers();
    }
    if (rd.committedEntries.length > 0 && (await this.applier.applyEntries(rd.committedEntries)) === 'removed') return;
    this.afterApply();
  }

  /** Between Readys: the snapshot's block once its pull is done, then the backlog, a chunk at a time. */
  private applyWaiting(): Promise<void> | undefined {
    return this.applier.applyWaiting()?.then((outcome) => {
      if (outcome !== 'removed') this.afterApply();
    });
  }

  /** Once everything of its election is applied, a new leader takes the forwards it held. */
  private afterApply(): void {
    const held = this.pipeline.readyIfApplied(this.applier.appliedIndex);
    if (held === undefined) return;
    // What this node accepted as a follower and was not ordered yet goes in first, then the
    // forwards that arrived while the log was being applied.
    this.forwarder.resubmitAccepted();
    for (const { from, forward, answer } of held) this.onForwarded(from, forward, answer);
    this.pipeline.pump();
  }

  // ---- config blocks and membership ---------------------------------------------------

  /**
   * A committed config block, before its metadata is written: the channel's config, settings,
   * access and consenters change here (every later block, and this one's metadata, follow
   * them). A block that cannot be applied halts the channel (ChainInvariantError): every node
   * sees the same block, there is no skipping it.
   */
  private onConfigBlock(block: common.Block, number: number, pulled: boolean): void {
    const config = this.options.config;
    if (config === undefined) throw new ChainInvariantError(`config block ${number} committed on a chain without config processing`);
    const meta = pulled ? readConsenterMetadata(block) : undefined;
    const applied = config.applyConfigBlock(block, number, {
      rederive: !pulled,
      ...(meta !== undefined ? { consenterIds: { ids: meta.consenterIds, nextConsenterId: meta.nextConsenterId } } : {}),
    });
    const old = this.settingsValue;
    const next = chainSettingsOf(applied.snapshot, this.options.tickIntervalOverrideMs);
    // The Raft timing of a running chain stays as it started (the core is built with it).
    this.settingsValue = { ...next, tickIntervalMs: old.tickIntervalMs, electionTick: old.electionTick, heartbeatTick: old.heartbeatTick };
    this.accessValue = applied.snapshot.access;
    this.logger.info(
      { block: number, sequence: applied.snapshot.config.sequence, consenterChange: applied.consenterChange.kind, members: next.members.map((m) => m.id) },
      'config block applied',
    );
    const consenters = applied.snapshot.settings.orderer.consensus.consenters;
    next.members.forEach((m, i) => this.knownConsenters.set(m.id, { member: m, consenter: consenters[i]! }));
    const removed = new Set(old.members.map((m) => m.id).filter((id) => !next.members.some((m) => m.id === id)));
    if (removed.size > 0 && this.role === RaftRole.Leader) {
      // Their forwards wait behind the Raft removal, and they can never resend them: kept here.
      this.forwarder.keepUnproposed(this.pipeline.unproposedForwardedBy(removed), 'a config block removed consenters: keeping what they forwarded and this leader has not proposed, to resend it if leadership is lost');
    }
    this.reportClusterMembers();
    if (!next.members.some((m) => m.id === this.options.selfId)) this.removal.removedByConfig();
  }

  /** The leader's check of what was checked against an older config, and of CONFIG envelopes (channel-config.ts). */
  private recheckIntakeItem(item: IntakeItem): IntakeItem | OrdererError {
    return recheckIntakeItem(item, {
      ...(this.options.config !== undefined ? { config: this.options.config } : {}),
      settings: this.settingsValue,
      access: this.accessValue,
      noExpirationChecks: this.options.noExpirationChecks === true,
      activeNodes: () => this.activeNodes(),
      logger: this.logger,
    });
  }

  private applyConfChange(cc: raftpb.ConfChange): raftpb.ConfState {
    const confState = this.node.applyConfChange(cc);
    this.raftVoters = new Set(confState.voters);
    this.confChanges.applied();
    this.reportClusterMembers();
    this.logger.info({ type: raftpb.ConfChangeType[cc.type] ?? cc.type, nodeId: cc.nodeId, voters: confState.voters }, 'raft membership changed');
    return confState;
  }

  /**
   * Tells the owner whom the cluster transport must know: the consenters of the last config
   * block, and the voters Raft still counts although a config block removed them (until their
   * removal is applied; a removed leader must still reach the follower it hands leadership to).
   */
  private reportClusterMembers(): void {
    const report = this.options.onClusterMembersChanged;
    if (report === undefined) return;
    if (this.options.config === undefined) return; // settings not from a config (tests): nothing to tell
    const ids = this.settingsValue.members.map((m) => m.id);
    for (const id of this.raftVoters) if (!ids.includes(id)) ids.push(id);
    const members: RaftMember[] = [];
    const consenters: RaftConsenter[] = [];
    for (const id of ids) {
      // A voter removed before a restart is not in the configs this run has seen; it stays
      // unknown until its removal applies (the leader it may have been hands over to others).
      const known = this.knownConsenters.get(id);
      if (known === undefined) continue;
      members.push(known.member);
      consenters.push(known.consenter);
    }
    report(members, consenters);
  }

  /** The consenters of the last config block are not (yet) Raft's voters. */
  private membershipPending(): boolean {
    return membershipPending(this.settingsValue.members.map((m) => m.id), this.raftVoters);
  }

  /** On a ready leader whose membership is pending: the next conf change, or its own hand-over (conf-change.ts). */
  private proposeMissingConfChange(): void {
    if (this.halted || this.role !== RaftRole.Leader || !this.pipeline.ready || !this.membershipPending()) return;
    this.confChanges.step({ tick: this.tickCount, members: this.settingsValue.members.map((m) => m.id), voters: this.raftVoters, electionTick: this.settingsValue.electionTick });
  }

  /** Consensus.PreferredLeaders: a leader hands over to a better-ranked healthy consenter (preferred-leader.ts). */
  private preferLeader(): void {
    if (this.preferredLeader === undefined || this.halted) return;
    const isLeader = this.role === RaftRole.Leader;
    const st = this.node.status();
    this.preferredLeader.onTick(this.settingsValue.members, {
      tick: this.tickCount,
      selfId: this.options.selfId,
      leaderId: this.leaderId,
      isLeader,
      leaderReady:
        isLeader &&
        this.pipeline.ready &&
        !this.membershipPending() &&
        !this.confChanges.waiting &&
        this.applier.catchingUp === undefined &&
        this.confChanges.ticksSinceRemovalTransfer(this.tickCount) >= 2 * this.settingsValue.electionTick,
      transferInProgress: st.leadTransferee !== 0,
      commitIndex: st.commit,
      progress: st.progress,
    });
  }

  /** Each envelope's tx id ('' for none): known for our own proposal, read from the envelopes otherwise. */
  private txIdsOf(block: common.Block): readonly string[] {
    return this.pipeline.ownTxIds(block) ?? (block.data?.data ?? []).map((env) => envelopeTxIdOrEmpty(env));
  }

  private onBlockCommitted(block: common.Block, txIds: readonly string[]): void {
    this.pipeline.committed(block);
    const ids = txIds.filter((t) => t !== '');
    this.pipeline.settle(ids);
    this.forwarder.settle(ids);
  }
}
