// One simulated run: a cluster of SimNodes over a Network, driven step by step by one
// seeded Prng. A run has two phases:
// 1. Faults: for faultSteps steps, nodes tick (at their own rates), messages are delivered
//    late, lost, duplicated and reordered, partitions come and go, nodes crash (between or
//    inside Readys) and restart from disk, clients propose, the leader changes membership,
//    nodes snapshot and compact, leadership is transferred. Safety is checked throughout.
// 2. Liveness: everything heals (calm network, every member up, evicted nodes halted);
//    within livenessTicks a stable leader must exist and a fresh proposal must be applied
//    by every member.
// Runs are async because a durable store (durable.ts) writes to real files; the steps still
// run strictly one after another, so a seed replays exactly in either mode.
import { raftpb } from '../../protos';
import type { NodeId } from '../../consensus/raft/api';
import { RaftRole } from '../../consensus/raft/api';
import { hashBytes } from './hash';
import { coreImpl, errorName, EXPECTED_REFUSALS, type RaftImpl } from './impl';
import { History } from './invariants';
import { Network, type Envelope } from './network';
import { fmtMsg, SimNode, type CrashPoint, type NodeEnv } from './node';
import { calmNetwork, chooseParams, describeParams, type ParamOverrides, type SimParams } from './params';
import { Prng } from './prng';
import { memoryStores, type StoreFactory } from './store';
import { InvariantViolation, Trace } from './trace';

export interface RunOptions {
  impl?: RaftImpl;
  trace?: boolean;
  /** Where trace lines go (default: kept in RunResult.trace). */
  traceSink?: (line: string) => void;
  overrides?: ParamOverrides;
  /** Where nodes keep their Raft state (default: MemoryStorage over the Disk model; durable.ts for the WAL). */
  stores?: StoreFactory;
}

export interface RunStats {
  steps: number;
  committed: number;
  leaderTerms: number;
  proposals: number;
  proposalsRefused: number;
  confChangesProposed: number;
  confChangesApplied: number;
  crashes: number;
  leaderFaults: number;
  midReadyCrashes: number;
  restarts: number;
  evictions: number;
  partitions: number;
  snapshotsTaken: number;
  snapshotsSent: number;
  transfers: number;
  stepsRejected: number;
  messagesSent: number;
  messagesDropped: number;
  livenessTicks: number;
}

export interface RunResult {
  seed: number;
  params: string;
  violation?: InvariantViolation;
  stats: RunStats;
  /** A hash of how the run went: equal for two runs of one seed (determinism check). */
  digest: number;
  trace: string[];
}

/**
 * Readys a node may run back to back in one step: after advance() the core can have more
 * to hand out (capped committed batches), but new messages wait for the next step anyway.
 */
const READY_ROUNDS_PER_STEP = 4;

/** Bound on a leader's uncommitted entries before clients are held back (Fabric's MaxInflightBlocks, in entries). */
const MAX_UNCOMMITTED = 16;

const CRASH_POINTS: readonly CrashPoint[] = ['before-persist', 'after-persist', 'after-send', 'mid-apply'];

export async function runSeed(seed: number, options: RunOptions = {}): Promise<RunResult> {
  const cluster = new Cluster(seed, options);
  let violation: InvariantViolation | undefined;
  try {
    await cluster.run();
  } catch (e) {
    if (e instanceof InvariantViolation) violation = e;
    else {
      // Anything the core throws that the contract does not allow is a bug too.
      const err = e instanceof Error ? e : new Error(String(e));
      violation = new InvariantViolation(
        'no unexpected exceptions',
        `${errorName(e)}: ${err.message}\n${err.stack ?? ''}`,
        cluster.now,
      );
    }
  }
  return {
    seed,
    params: describeParams(cluster.params),
    violation,
    stats: cluster.stats(),
    digest: cluster.digest(),
    trace: cluster.trace.lines,
  };
}

export class Cluster {
  readonly params: SimParams;
  readonly trace: Trace;
  now = 0;
  private readonly rng: Prng;
  private readonly history = new History();
  private readonly net: Network;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly env: NodeEnv;
  private nextId: NodeId;
  private proposalCounter = 0;
  private ccCounter = 0;
  private readonly counts = {
    proposals: 0,
    proposalsRefused: 0,
    confChangesProposed: 0,
    crashes: 0,
    leaderFaults: 0,
    midReadyCrashes: 0,
    restarts: 0,
    partitions: 0,
    snapshotsTaken: 0,
    snapshotsSent: 0,
    transfers: 0,
    stepsRejected: 0,
    livenessTicks: 0,
  };

  constructor(
    readonly seed: number,
    options: RunOptions,
  ) {
    this.rng = new Prng(seed);
    this.params = chooseParams(seed, this.rng, options.overrides);
    this.trace = new Trace(options.trace ?? false, options.traceSink);
    this.net = new Network(this.params.net, this.rng);
    const impl = options.impl ?? coreImpl;
    this.env = {
      impl,
      rng: this.rng,
      net: this.net,
      history: this.history,
      trace: this.trace,
      raft: this.params.raft,
      powerLoss: this.params.faults.powerLoss,
      stores: options.stores ?? memoryStores(impl),
      now: () => this.now,
    };
    this.nextId = this.params.nodes + 1;
  }

  async run(): Promise<void> {
    if (this.trace.on) this.trace.log(0, `seed ${this.seed}: ${describeParams(this.params)} stores=${this.env.stores.kind}`);
    await this.bootstrap();
    for (let i = 0; i < this.params.faults.faultSteps; i++) await this.faultStep();
    await this.heal();
    await this.awaitLiveness();
  }

  private async bootstrap(): Promise<void> {
    const peers: NodeId[] = [];
    for (let id = 1; id <= this.params.nodes; id++) peers.push(id);
    // Memberships are recorded as nodes apply conf changes; before the founding AddNode
    // entries are applied, nobody is a member.
    this.history.setFoundingConf({ voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false });
    for (const id of peers) {
      const node = new SimNode(id, this.env);
      this.nodes.set(id, node);
      await node.bootstrap(peers);
    }
  }

  // ---- the fault phase ----

  private async faultStep(): Promise<void> {
    this.now++;
    this.history.step = this.now;
    await this.injectFaults();
    this.tickNodes(false);
    await this.deliverDue();
    await this.runReadies();
    this.checkAll();
  }

  private async injectFaults(): Promise<void> {
    const f = this.params.faults;
    const rng = this.rng;
    if (rng.chance(f.crashP)) {
      const up = this.upNodes();
      if (up.length > 0) {
        const node = rng.pick(up);
        this.counts.crashes++;
        if (rng.chance(f.midReadyCrashShare)) {
          // Strikes inside the node's next Ready, at one of the points of the loop.
          node.crashAt = rng.pick(CRASH_POINTS);
          this.counts.midReadyCrashes++;
        } else {
          await node.crash('between Readys');
        }
      }
    }
    if (rng.chance(f.leaderFaultP)) {
      const leader = this.leader();
      if (leader !== undefined) {
        if (rng.chance(0.5)) {
          this.counts.crashes++;
          this.counts.leaderFaults++;
          await leader.crash('leader fault');
        } else if (this.liveIds().length > 1) {
          this.counts.partitions++;
          this.counts.leaderFaults++;
          this.net.partition([[leader.id]]);
          if (this.trace.on) this.trace.log(this.now, `partition: ${this.net.describePartition()} (leader cut off)`);
        }
      }
    }
    if (rng.chance(f.restartP)) {
      const down = [...this.nodes.values()].filter((n) => !n.up && !n.evicted);
      if (down.length > 0) {
        await rng.pick(down).start();
        this.counts.restarts++;
      }
    }
    if (rng.chance(f.partitionP)) this.partition();
    if (rng.chance(f.healP)) {
      this.net.heal();
      if (this.trace.on) this.trace.log(this.now, 'network healed');
    }
    if (rng.chance(f.proposeP)) this.proposeSome();
    if (rng.chance(f.confChangeP)) await this.changeMembership();
    if (rng.chance(f.snapshotP)) {
      const up = this.upNodes();
      if (up.length > 0 && (await rng.pick(up).snapshotAndCompact(rng.pick([0, 2, 10, 50])))) this.counts.snapshotsTaken++;
    }
    if (rng.chance(f.transferP)) this.transferLeadership();
    if (rng.chance(f.campaignP)) {
      const up = this.upNodes();
      if (up.length > 0) {
        const node = rng.pick(up);
        if (this.trace.on) this.trace.log(this.now, `node ${node.id} forced to campaign`);
        node.node().campaign();
      }
    }
  }

  private partition(): void {
    const rng = this.rng;
    const ids = this.liveIds();
    if (ids.length < 2) return;
    const kind = rng.nextInt(4);
    if (kind === 0) {
      const leader = this.leader();
      if (leader === undefined) return;
      this.net.partition([[leader.id]]);
    } else if (kind === 1) {
      // Minority / majority split.
      const shuffled = rng.shuffled(ids);
      this.net.partition([shuffled.slice(0, rng.between(1, Math.floor((ids.length - 1) / 2) || 1))]);
    } else if (kind === 2) {
      const groups: NodeId[][] = [[], [], []];
      for (const id of ids) groups[rng.nextInt(3)]!.push(id);
      this.net.partition(groups);
    } else {
      const from = rng.pick(ids);
      const to = rng.pick(ids.filter((id) => id !== from));
      this.net.cutOneWay(from, to);
    }
    this.counts.partitions++;
    if (this.trace.on) this.trace.log(this.now, `partition: ${this.net.describePartition()}`);
  }

  private proposeSome(): void {
    const rng = this.rng;
    const up = this.upNodes();
    if (up.length === 0) return;
    // Mostly at the leader (where the orderer's block cutter runs), sometimes at followers
    // so forwarding and refusals are exercised.
    const leader = this.leader();
    const node = leader !== undefined && rng.chance(0.7) ? leader : rng.pick(up);
    // Fabric's chain stops taking envelopes while MaxInflightBlocks are uncommitted; without
    // such a bound a slow configuration (one entry per message, one in flight) piles up a
    // backlog no liveness budget covers.
    if (this.backlog(node) >= MAX_UNCOMMITTED || (leader !== undefined && this.backlog(leader) >= MAX_UNCOMMITTED)) return;
    // A client asks a node that cannot take proposals only now and then: refusals are part
    // of the contract worth exercising, but each one is a thrown error, which costs.
    const st = node.node().status();
    const refuses = st.role !== RaftRole.Leader && (this.params.raft.disableProposalForwarding || st.leaderId === 0);
    if (refuses && !rng.chance(0.1)) return;
    const n = rng.between(1, 3);
    for (let i = 0; i < n; i++) this.propose(node, `p${this.seed}-${this.proposalCounter++}`, rng.nextInt(100));
  }

  /** Entries a leader holds beyond its commit index (0 for non-leaders). */
  private backlog(node: SimNode): number {
    const st = node.node().status();
    return st.role === RaftRole.Leader ? node.disk.lastIndex - st.commit : 0;
  }

  /** Returns true if the core accepted the proposal. */
  private propose(node: SimNode, label: string, padBytes: number): boolean {
    const data = new Uint8Array(label.length + padBytes);
    for (let i = 0; i < label.length; i++) data[i] = label.charCodeAt(i);
    for (let i = label.length; i < data.length; i++) data[i] = this.rng.nextInt(256);
    this.history.recordProposal(data);
    this.counts.proposals++;
    try {
      node.node().propose(data);
      if (this.trace.on) this.trace.log(this.now, `node ${node.id} propose ${label} (+${padBytes}B)`);
      return true;
    } catch (e) {
      if (!EXPECTED_REFUSALS.has(errorName(e))) throw e;
      this.counts.proposalsRefused++;
      if (this.trace.on) this.trace.log(this.now, `node ${node.id} refused proposal ${label}: ${errorName(e)}`);
      return false;
    }
  }

  /**
   * The leader proposes one membership change that is valid for the membership it has
   * applied (the core refuses a second change while one is pending, so a change accepted
   * now is still valid when it is applied). New members get fresh ids, never reused, and
   * their process starts empty, as an operator would start a new orderer.
   */
  private async changeMembership(): Promise<void> {
    const rng = this.rng;
    const leader = this.leader();
    if (leader === undefined) return;
    const conf = leader.node().status().confState;
    const T = raftpb.ConfChangeType;
    const options: { type: raftpb.ConfChangeType; nodeId: NodeId }[] = [];
    const canAdd = this.nextId <= this.params.maxNodeIds;
    if (canAdd && conf.voters.length < 7) options.push({ type: T.ConfChangeAddNode, nodeId: this.nextId });
    if (canAdd && conf.learners.length < 2) options.push({ type: T.ConfChangeAddLearnerNode, nodeId: this.nextId });
    if (conf.voters.length < 7) for (const id of conf.learners) options.push({ type: T.ConfChangeAddNode, nodeId: id });
    // Keep at least two voters: removing one of two (possibly the leader) can strand the
    // other in the old configuration with no quorum, which no protocol can fix.
    if (conf.voters.length >= 3) for (const id of conf.voters) options.push({ type: T.ConfChangeRemoveNode, nodeId: id });
    for (const id of conf.learners) options.push({ type: T.ConfChangeRemoveNode, nodeId: id });
    // Demotion (AddLearnerNode on a voter) is not something Fabric does, but the core
    // supports it; it moves one voter like a removal, so the same floor applies.
    if (conf.voters.length >= 3 && conf.learners.length < 2 && rng.chance(0.3)) {
      for (const id of conf.voters) options.push({ type: T.ConfChangeAddLearnerNode, nodeId: id });
    }
    if (options.length === 0) return;
    const change = rng.pick(options);
    const cc: raftpb.ConfChangeInit = { id: ++this.ccCounter, type: change.type, nodeId: change.nodeId };
    const what = `${T[change.type]} ${change.nodeId}`;
    try {
      leader.node().proposeConfChange(cc);
    } catch (e) {
      if (!EXPECTED_REFUSALS.has(errorName(e))) throw e;
      if (this.trace.on) this.trace.log(this.now, `node ${leader.id} refused conf change ${what}: ${errorName(e)}`);
      return;
    }
    this.counts.confChangesProposed++;
    if (this.trace.on) this.trace.log(this.now, `node ${leader.id} proposes conf change ${what}`);
    if (change.nodeId === this.nextId) {
      this.nextId++;
      const node = new SimNode(change.nodeId, this.env);
      this.nodes.set(change.nodeId, node);
      await node.start();
    }
  }

  private transferLeadership(): void {
    const leader = this.leader();
    if (leader === undefined) return;
    const voters = leader
      .node()
      .status()
      .confState.voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const to = this.rng.pick(voters);
    this.counts.transfers++;
    if (this.trace.on) this.trace.log(this.now, `node ${leader.id} transfers leadership to ${to}`);
    leader.node().transferLeadership(to);
  }

  // ---- one step's mechanics ----

  private tickNodes(everyNode: boolean): void {
    for (const node of this.rng.shuffled(this.upNodes())) {
      if (everyNode || this.rng.chance(this.params.faults.tickP[node.id - 1] ?? 1)) node.node().tick();
    }
  }

  private async deliverDue(): Promise<void> {
    for (let env = this.net.popDue(this.now); env !== undefined; env = this.net.popDue(this.now)) {
      const eager = this.deliver(env);
      if (eager !== undefined) await this.runReady(eager);
    }
  }

  /** Returns the target when its Ready is to run right away (more interleavings). */
  private deliver(env: Envelope): SimNode | undefined {
    const target = this.nodes.get(env.to);
    const sender = this.nodes.get(env.from);
    const reachable = target !== undefined && target.up && this.net.connected(env.from, env.to);
    const senderSame = sender !== undefined && sender.up && sender.incarnation === env.fromIncarnation;
    if (env.snapshotReport !== undefined && !env.snapshotReport.reported) {
      // The leader must hear how its snapshot went, or it waits in Snapshot state forever.
      env.snapshotReport.reported = true;
      this.counts.snapshotsSent++;
      if (senderSame && (!reachable || this.params.faults.reportSnapshotFinish)) sender.report('snapshot', env.to, reachable);
    }
    if (!reachable) {
      if (target === undefined || !target.up) this.net.stats.droppedDown++;
      else this.net.stats.droppedPartition++;
      if (senderSame && this.rng.chance(0.3)) sender.report('unreachable', env.to, false);
      return undefined;
    }
    this.net.stats.delivered++;
    const msg = raftpb.Message.decode(env.bytes);
    if (this.trace.on) this.trace.log(this.now, `deliver ${fmtMsg(msg)}`);
    try {
      target.node().step(msg);
    } catch (e) {
      // Responses from removed members and forwarded proposals without a leader are refused
      // by contract; anything else escapes as a bug.
      const name = errorName(e);
      if (name !== 'StepRejectedError' && name !== 'ProposalDroppedError') throw e;
      this.counts.stepsRejected++;
      if (this.trace.on) this.trace.log(this.now, `node ${target.id} rejected it: ${name}`);
    }
    return this.rng.chance(this.params.faults.eagerReadyP) ? target : undefined;
  }

  private async runReadies(): Promise<void> {
    for (const node of this.rng.shuffled(this.upNodes())) {
      // The first round of runReady without an await when there is no Ready (most of the
      // time): flushing the node's reports may give it one.
      if (!node.readyPending) {
        node.flushReports();
        if (node.readyPending) await this.runReady(node, 1);
      } else {
        await this.runReady(node, 0);
      }
    }
    for (const node of this.upNodes()) node.flushReports();
  }

  private async runReady(node: SimNode, firstRound = 0): Promise<void> {
    for (let i = firstRound; i < READY_ROUNDS_PER_STEP && node.up; i++) {
      if (!(await node.handleReady())) return;
      node.flushReports();
      if (!node.readyPending) return;
    }
  }

  private checkAll(): void {
    for (const node of this.nodes.values()) node.checkStatus();
  }

  // ---- liveness ----

  /** Everything heals: calm network, every non-evicted node up, removed members halted. */
  private async heal(): Promise<void> {
    this.net.heal();
    this.net.setParams(calmNetwork(this.params.net));
    for (const node of this.nodes.values()) {
      node.crashAt = undefined;
      if (!node.up && !node.evicted) {
        await node.start();
        this.counts.restarts++;
      }
    }
    await this.haltRemoved();
    if (this.trace.on) this.trace.log(this.now, `---- healed; liveness phase (${this.params.livenessTicks} ticks) ----`);
  }

  /**
   * A member removed by a committed change that it never applied (it was cut off) would
   * campaign forever under its old membership; Fabric halts such a node (its chain
   * notices the eviction from the blocks), so the simulation halts it too, but only once
   * no live member still counts it: a member that has not applied the removal yet (its
   * commit index may even have been lost in a power failure) may need its vote to elect
   * the leader that tells everyone the removal is committed.
   */
  private async haltRemoved(): Promise<void> {
    const latest = this.history.confAt(Number.MAX_SAFE_INTEGER);
    const ever = this.history.everMembers();
    const stillCounted = new Set<NodeId>();
    for (const node of this.upNodes()) {
      // Only real members' views matter; removed nodes' stale views would keep each other alive.
      if (!confHas(latest, node.id)) continue;
      // Its membership now, and once it has applied what it knows is committed (a node
      // that just restarted has not re-applied its conf changes yet).
      for (const conf of [node.node().status().confState, this.history.confAt(node.commitIndex)]) {
        for (const id of [...conf.voters, ...conf.learners]) stillCounted.add(id);
      }
    }
    for (const node of this.nodes.values()) {
      if (!node.evicted && ever.has(node.id) && !confHas(latest, node.id) && !stillCounted.has(node.id)) {
        await node.crash('removed from the cluster: halted');
        node.evicted = true;
      }
    }
  }

  private async awaitLiveness(): Promise<void> {
    const { electionTick } = this.params.raft;
    let marker: Uint8Array | undefined;
    /** Leader and term the marker went to: a leader that keeps its term never loses it. */
    let proposedTo = '';
    let attempt = 0;
    for (let t = 1; t <= this.params.livenessTicks; t++) {
      this.now++;
      this.history.step = this.now;
      this.counts.livenessTicks = t;
      this.tickNodes(true);
      await this.deliverDue();
      await this.runReadies();
      this.checkAll();
      await this.haltRemoved();
      if (t % (4 * electionTick) === 0) {
        // The orderer snapshots by size as blocks flow; here, on a timer. It matters for
        // liveness: the core (like etcd's) ignores a snapshot whose membership does not
        // include the receiver, so a member added after the leader's last snapshot can
        // only catch up (if the log was compacted) once the leader snapshots again.
        for (const node of this.upNodes()) if (await node.snapshotAndCompact(10)) this.counts.snapshotsTaken++;
      }
      const leader = this.leader();
      if (leader === undefined) continue;
      if (marker !== undefined) {
        const index = this.history.indexOfData(hashBytes(marker));
        if (index !== undefined && this.allMembersApplied(leader, index)) {
          if (this.trace.on) this.trace.log(this.now, `liveness: marker at ${index} applied by every member after ${t} ticks`);
          return;
        }
      }
      // (Re)propose when there is no marker yet or leadership changed since (it may be lost).
      const st = leader.node().status();
      const leadership = `${leader.id}/${st.term}`;
      if (marker === undefined || leadership !== proposedTo) {
        const label = `live${this.seed}-${attempt++}`;
        const data = new TextEncoder().encode(label);
        this.history.recordProposal(data);
        try {
          leader.node().propose(data);
          marker = data;
          proposedTo = leadership;
          if (this.trace.on) this.trace.log(this.now, `liveness: node ${leader.id} proposes ${label}`);
        } catch (e) {
          if (!EXPECTED_REFUSALS.has(errorName(e))) throw e;
        }
      }
    }
    this.history.fail('liveness', `no stable leader committing on every member within ${this.params.livenessTicks} ticks after healing: ${this.describeState()}`);
  }

  private allMembersApplied(leader: SimNode, index: number): boolean {
    const conf = leader.node().status().confState;
    for (const id of [...conf.voters, ...conf.learners]) {
      const node = this.nodes.get(id);
      if (node === undefined || !node.up || node.applied < index) return false;
    }
    return true;
  }

  // ---- helpers ----

  private upNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const node of this.nodes.values()) if (node.up) out.push(node);
    return out;
  }

  /** Ids of nodes that could take part in a partition (not halted for good). */
  private liveIds(): NodeId[] {
    const out: NodeId[] = [];
    for (const node of this.nodes.values()) if (!node.evicted) out.push(node.id);
    return out;
  }

  /** The up node that is leader in the highest term, if any. */
  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    let maxTerm = -1;
    for (const node of this.upNodes()) {
      const st = node.node().status();
      if (st.term > maxTerm) maxTerm = st.term;
      if (st.role === RaftRole.Leader && st.term > bestTerm) {
        best = node;
        bestTerm = st.term;
      }
    }
    return best !== undefined && bestTerm === maxTerm ? best : undefined;
  }

  private describeState(): string {
    const parts: string[] = [];
    for (const node of this.nodes.values()) {
      if (!node.up) {
        parts.push(`${node.id}:${node.evicted ? 'halted' : 'down'}`);
        continue;
      }
      const st = node.node().status();
      parts.push(
        `${node.id}:${st.role}/t${st.term}/lead${st.leaderId}/c${st.commit}/a${st.applied}/last${node.disk.lastIndex}` +
          `/v[${st.confState.voters.join(',')}]l[${st.confState.learners.join(',')}]`,
      );
    }
    return `${parts.join(' ')}; committed ..${this.history.committedLength}; in flight ${this.net.inFlight}`;
  }

  stats(): RunStats {
    const c = this.counts;
    const n = this.net.stats;
    let evictions = 0;
    for (const node of this.nodes.values()) if (node.evicted) evictions++;
    return {
      steps: this.now,
      committed: this.history.committedLength,
      leaderTerms: this.history.leaderTerms,
      proposals: c.proposals,
      proposalsRefused: c.proposalsRefused,
      confChangesProposed: c.confChangesProposed,
      confChangesApplied: this.history.confChangesApplied(),
      crashes: c.crashes,
      leaderFaults: c.leaderFaults,
      midReadyCrashes: c.midReadyCrashes,
      restarts: c.restarts,
      evictions,
      partitions: c.partitions,
      snapshotsTaken: c.snapshotsTaken,
      snapshotsSent: c.snapshotsSent,
      transfers: c.transfers,
      stepsRejected: c.stepsRejected,
      messagesSent: n.sent,
      messagesDropped: n.droppedRandom + n.droppedPartition + n.droppedDown + n.droppedOverflow,
      livenessTicks: c.livenessTicks,
    };
  }

  digest(): number {
    const s = this.stats();
    let h = 0;
    for (const v of Object.values(s)) h = (Math.imul(h ^ v, 0x01000193) + 0x9e3779b9) >>> 0;
    const last = this.history.committedLength;
    return h * 0x200000 + ((last > 0 ? this.history.committedChain(last) : 0) % 0x200000);
  }
}

function confHas(conf: raftpb.ConfState, id: NodeId): boolean {
  return conf.voters.includes(id) || conf.learners.includes(id);
}
