// One whole-orderer simulation run: 3 or 5 orderer nodes, each the real Chain, over the
// simulated network and clock, with seeded clients broadcasting to random nodes and seeded
// faults (crashes and restarts, partitions, leader strikes, a forged "your log is lost" report).
// Everything is decided by one Prng built from the seed, and the Chains' asynchronous work is
// drained between simulated instants, so a seed replays exactly.
//
// Phases: faults for faultMs, then the network heals and every node that did not halt on
// broken state restarts; clients keep broadcasting for the first half of the calm phase; at
// the end every acknowledged envelope must be ordered once and every running node must hold
// the same chain.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { RaftRole } from '../../../consensus/raft/api';
import { Chain } from '../../../orderer/chain/chain';
import type { ChainStatus } from '../../../orderer/chain/types';
import { EnvelopeFateUnknownError, OrdererError } from '../../../orderer/errors';
import type { ParsedEnvelope } from '../../../orderer/msgcheck';
import { common, orderer, raftpb } from '../../../protos';
import { calmNetwork } from '../params';
import { Network, type Envelope } from '../network';
import { Prng } from '../prng';
import { InvariantViolation, Trace } from '../trace';
import { LedgerChecker, type ClientRecord } from './checker';
import { simEnvelope } from './envelopes';
import { SIM_CHANNEL, SimOrdererNode, type ChainFactory, type OrdererEnv } from './orderer-node';
import { chooseOrdererParams, describeOrdererParams, type OrdererSimParams } from './params';
import { PREFERENCE_HOLD_MS, PreferenceWatch } from './preference';
import { SimClock } from './sim-clock';
import { consenterSlotsOf, simConsenterUpdate, simGenesisBlock } from './sim-config';
import { configEnvelopeOfBlock } from '../../../orderer/chain/channel-config';
import { parseBroadcastEnvelope } from '../../../orderer/msgcheck';
import { readConsenterMetadata, readLastConfigIndex } from '../../../ledger/metadata';

export interface OrdererRunOptions {
  durable?: boolean;
  /** Where durable runs make their temporary directory (default /dev/shm when it exists). */
  durableRoot?: string;
  newChain?: ChainFactory;
  trace?: boolean;
  traceSink?: (line: string) => void;
}

export interface OrdererRunStats {
  blocks: number;
  acknowledged: number;
  refused: number;
  crashes: number;
  restarts: number;
  partitions: number;
  leaderStrikes: number;
  lostLogHalts: number;
  leaderChanges: number;
  snapshots: number;
  pulls: number;
  retries: number;
  /** Broadcasts answered "fate unknown" (neither SUCCESS nor a refusal). */
  fateUnknown: number;
  /** Node-instants at which a node pulling beside its loop saw its commit index move (Raft went on while it pulled). */
  commitsWhilePulling: number;
  /** Node-instants at which entries committed during a pull waited for it (the backlog). */
  backlogsWhilePulling: number;
  /** Node-instants at which a node led while it pulled (it must take no envelopes). */
  leadersWhilePulling: number;
  /** Times a newer snapshot moved the target of a running pull. */
  pullRetargets: number;
  /** Consenter changes acknowledged (SUCCESS) / refused (stale, quorum guard, overtaken). */
  configUpdates: number;
  configRefused: number;
  /** Committed consenter changes: nodes added, removed, removals of the node leading at the time. */
  consentersAdded: number;
  consentersRemoved: number;
  leaderRemovals: number;
  /** Spare nodes onboarded and started as members. */
  joins: number;
  /** Runs with Consensus.PreferredLeaders, and those of them without faults. */
  preferenceRuns: number;
  preferenceCalmRuns: number;
  /** Leadership transfers the preference started (all nodes, all incarnations). */
  preferenceTransfers: number;
  /** Preference runs whose first leader was another node and that end with the preferred node leading. */
  preferenceHandovers: number;
  /** Forwards that arrived together handed to a Chain as one SubmitBatch, and the forwards in them. */
  submitBatches: number;
  batchedForwards: number;
}

export interface OrdererRunResult {
  seed: number;
  params: string;
  stats: OrdererRunStats;
  digest: string;
  violation?: InvariantViolation;
}

/** Simulated time handed to the Chains between two drains of their work. */
const WINDOW_MS = 10;
/** Clients keep broadcasting this long into the calm phase (through the restarts and a new election). */
const CLIENTS_AFTER_HEAL_MS = 1_000;

/** How far beyond a follower's log the forged "your log is lost" heartbeat claims the commit. */
const LOST_LOG_GAP = 1_000;
/** Share of the broken-state faults that deliver a message addressed to another node instead. */
const MISADDRESSED_SHARE = 0.3;
/** The run goes on at least this long after the last client answer (see execute). */
const QUIET_AFTER_ANSWERS_MS = 3_000;
/** ...but never longer than this past its planned end. */
const MAX_OVERTIME_MS = 30_000;
/** ...and this many election timeouts after a ledger last grew: a late resend's block must reach every follower. */
const QUIET_AFTER_BLOCK_ELECTIONS = 2;
/** Share of broadcasts that resend an earlier envelope (same tx id) to a random node. */
const RETRY_P = 0.1;
/** Chance per fault action, while a node's pull stalls, that the leader crashes (seeds with leader faults only). */
const STRIKE_WHILE_PULLING_P = 0.5;
/** Spare node slots of a membership run: added by config updates and joined. */
const SPARE_SLOTS = 2;
/** Chance per fault action of a membership run that an operator changes the consenters. */
const MEMBERSHIP_P = 0.08;
/** Membership runs keep at least this many consenters. */
const MIN_CONSENTERS = 3;

/** A third of the seeds change the consenters while they run (decided outside the run's Prng, so other seeds replay as before). */
export function isMembershipSeed(seed: number): boolean {
  return seed % 3 === 2;
}

const realChain: ChainFactory = (options) => new Chain(options);

export async function runOrdererSeed(seed: number, options: OrdererRunOptions = {}): Promise<OrdererRunResult> {
  const rng = new Prng(seed);
  const durable = options.durable ?? false;
  const p = chooseOrdererParams(seed, rng, durable);
  const run = new OrdererRun(seed, p, rng, options);
  try {
    await run.execute();
  } catch (e) {
    if (!(e instanceof InvariantViolation)) {
      run.violation ??= new InvariantViolation('no unexpected exceptions', e instanceof Error ? (e.stack ?? e.message) : String(e), run.clock.nowMs());
    } else run.violation ??= e;
  } finally {
    await run.close();
  }
  return { seed, params: describeOrdererParams(p), stats: run.stats, digest: run.checker.digest(), ...(run.violation !== undefined ? { violation: run.violation } : {}) };
}

class OrdererRun {
  readonly clock = new SimClock();
  readonly checker: LedgerChecker;
  readonly stats: OrdererRunStats = { blocks: 0, acknowledged: 0, refused: 0, crashes: 0, restarts: 0, partitions: 0, leaderStrikes: 0, lostLogHalts: 0, leaderChanges: 0, snapshots: 0, pulls: 0, retries: 0, commitsWhilePulling: 0, backlogsWhilePulling: 0, leadersWhilePulling: 0, pullRetargets: 0, fateUnknown: 0, configUpdates: 0, configRefused: 0, consentersAdded: 0, consentersRemoved: 0, leaderRemovals: 0, joins: 0, preferenceRuns: 0, preferenceCalmRuns: 0, preferenceTransfers: 0, preferenceHandovers: 0, submitBatches: 0, batchedForwards: 0 };
  violation: InvariantViolation | undefined;
  private readonly net: Network;
  private readonly nodes: SimOrdererNode[] = [];
  private readonly records: ClientRecord[] = [];
  private readonly trace: Trace;
  private readonly dir: string | undefined;
  private clientSeq = 0;
  /** Every envelope the clients made, for the ones that resend. */
  private readonly sent: ParsedEnvelope[] = [];
  /** Tx ids sent more than once. */
  private readonly retried = new Set<string>();
  private lostLogAtMs: number;
  private lastLeader = 0;
  /** When a client last heard an answer (SUCCESS, refusal, fate unknown). */
  private lastAnswerMs = 0;
  /** Leaders that confirmed holding a tx id (the Raft term and incarnation they answered in). */
  private readonly confirmedBy = new Map<string, Array<{ leader: number; incarnation: number; term: number }>>();
  /** Tx ids of which some forward was handed over and never answered. */
  private readonly unanswered = new Set<string>();
  private healed = false;
  /** Membership runs: their own Prng (other seeds' draws stay as they were). */
  private readonly memberRng: Prng | undefined;
  /** The consenters (slot ids) of the newest config block seen in any ledger, and its sequence. */
  private consenters: number[];
  private configSequence = 0;
  /** The sequence a consenter change was submitted for and not yet seen committed (one at a time). */
  private changeInFlight: { sequence: number; atMs: number } | undefined;
  /** Consenter updates acknowledged SUCCESS: the tx id of their CONFIG envelope and the config they were made against. */
  private readonly ackedUpdates: { txId: string; baseSequence: number; nodeId: number; incarnation: number }[] = [];
  /** When a config change last committed or a node last joined (the run's calm phase waits for it too). */
  private lastMembershipMs = 0;
  /** The greatest ledger height check() has seen on a running node, and when it last grew. */
  private topHeight = 0;
  private lastGrowthMs = 0;
  /** Spare slots the operator has joined at least once. */
  private readonly joinedSlots = new Set<number>();
  /** Per node, what check() last saw of a pull under way (for the catch-up stats). */
  private readonly lastPull = new Map<number, { incarnation: number; toBlock: number; commitIndex: number }>();
  /** Preference runs: the preferred-leader checks (preference.ts). */
  private preference: PreferenceWatch | undefined;

  constructor(
    private readonly seed: number,
    private readonly p: OrdererSimParams,
    private readonly rng: Prng,
    options: OrdererRunOptions,
  ) {
    this.trace = new Trace(options.trace ?? false, options.traceSink);
    this.checker = new LedgerChecker((inv, detail, nodeId) => {
      throw new InvariantViolation(inv, detail, this.clock.nowMs(), nodeId);
    });
    // On real IO the nodes' sends interleave as the disk decides: per link, they replay exactly.
    this.net = new Network(p.net, rng, p.durable ? 'per-link' : 'shared');
    this.lostLogAtMs = rng.chance(p.faults.lostLogReportP) ? rng.between(1_000, p.faults.faultMs - 500) : -1;
    if (p.durable) {
      const root = options.durableRoot ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
      this.dir = fs.mkdtempSync(path.join(root, `orderer-sim-${seed}-`));
    }
    const env: OrdererEnv = {
      clock: this.clock,
      net: this.net,
      rng,
      // With the trace on, the Chains' own log lines (debug and up) go into it.
      logger: this.trace.on ? pino({ level: 'debug', base: undefined, timestamp: false }, { write: (line: string) => this.trace.log(this.clock.nowMs(), line.trim()) }) : pino({ level: 'silent' }),
      newChain: options.newChain ?? realChain,
      settings: p.settings,
      intakeWaitTimeoutMs: p.intakeWaitTimeoutMs,
      resubmitAfterMs: p.faults.resubmitAfterMs,
      ...(p.preferred !== undefined ? { preferredLeaders: { endpoints: p.preferred.ranking.map((id) => `sim:${id}`), quietMs: p.preferred.quietMs } } : {}),
      ...(this.dir !== undefined ? { durableDir: this.dir } : {}),
      confirmations: {
        confirmed: (txId, by) => {
          const list = this.confirmedBy.get(txId);
          if (list === undefined) this.confirmedBy.set(txId, [by]);
          else list.push(by);
        },
        fateUnknown: (txId) => this.unanswered.add(txId),
      },
      peers: () => this.nodes,
      faultsOn: () => !this.healed,
      // Kept here too: a check that fires inside a Chain's storage call is also seen by the
      // Chain, which halts on it; the run reports the check, not the halt.
      fail: (inv, detail, nodeId) => {
        const v = new InvariantViolation(inv, detail, this.clock.nowMs(), nodeId);
        this.violation ??= v;
        throw v;
      },
      trace: (text) => this.trace.log(this.clock.nowMs(), text),
      genesis: common.Block.encode(simGenesisBlock(SIM_CHANNEL, p, p.nodes)),
    };
    this.memberRng = isMembershipSeed(seed) ? new Prng(seed ^ 0x6d656d62) : undefined;
    this.consenters = Array.from({ length: p.nodes }, (_, i) => i + 1);
    const slots = p.nodes + (this.memberRng !== undefined ? SPARE_SLOTS : 0);
    for (let id = 1; id <= slots; id++) this.nodes.push(new SimOrdererNode(id, env, id <= p.nodes));
  }

  async execute(): Promise<void> {
    const f = this.p.faults;
    for (const n of this.nodes) await n.start();
    const healAtMs = f.faultMs;
    const clientsUntilMs = f.faultMs + CLIENTS_AFTER_HEAL_MS;
    // The calm phase lasts healMs, and at least QUIET_AFTER_ANSWERS_MS past the last client
    // answer: a SUCCESS may come late (a forward's answer after a stream broke, a leader's after
    // its block committed), and what it acknowledged needs a batch timeout or a resend to be ordered.
    const plannedEndMs = f.faultMs + f.healMs;
    let endMs = plannedEndMs;
    const pref = this.p.preferred !== undefined ? new PreferenceWatch(this.p.preferred, this.p.settings.electionTick * this.p.settings.tickIntervalMs, this.stats) : undefined;
    this.preference = pref;
    let nextActionMs = f.actionEveryMs;
    let nextClientMs = this.rng.between(1, 2 * f.clientEveryMs);
    for (;;) {
      const next = Math.min(this.clock.nextAtMs() ?? Infinity, this.net.nextDueStep() ?? Infinity, nextActionMs, nextClientMs);
      if (next >= endMs) break;
      // Everything due within one window is handed over before the Chains run: fewer drains, same determinism.
      const t = Math.min(next + WINDOW_MS, this.healed ? endMs : healAtMs, endMs);
      await this.clock.advanceTo(t, () => Promise.resolve());
      this.deliverDue(t);
      // On real IO the Chains take what was just delivered as their disks let them: let them
      // finish before anything below reads their state or draws from the run's Prng.
      await this.settleDurable();
      // A node joining beside the run (onboarding on real IO in durable mode) reaches its next
      // wait on the clock before anything else happens, so a seed replays exactly.
      if (this.nodes.some((n) => n.joining !== undefined)) await this.settle();
      if (!this.healed && t >= healAtMs) {
        this.healed = true;
        await this.settle();
        await this.heal();
        // A node that kept running through the heal may still back off after a failed transfer.
        const bound = pref?.healed(t, this.nodes, this.p.settings.tickIntervalMs);
        if (bound !== undefined) this.trace.log(t, `preference: leadership must settle on the best-ranked running node by ${bound.settleByMs}ms (back-off carried ${bound.backoffMs}ms)`);
      }
      if (t >= nextActionMs) {
        nextActionMs = t + f.actionEveryMs;
        if (!this.healed) await this.faultAction(t);
      }
      if (t >= nextClientMs) {
        nextClientMs = t + this.rng.between(1, 2 * f.clientEveryMs);
        if (t < clientsUntilMs) this.broadcast();
      }
      await this.settle();
      await this.check();
      // Membership changes too: a consenter added late must have time to onboard and catch up.
      const quietFromMs = Math.max(this.lastAnswerMs, this.lastMembershipMs);
      const blockQuietMs = this.lastGrowthMs + QUIET_AFTER_BLOCK_ELECTIONS * this.p.settings.electionTick * this.p.settings.tickIntervalMs;
      if (this.healed) endMs = Math.min(Math.max(plannedEndMs, quietFromMs + QUIET_AFTER_ANSWERS_MS, blockQuietMs), plannedEndMs + MAX_OVERTIME_MS);
      // A preference run lasts until its bound has passed and the leader held on a while.
      if (this.healed && pref !== undefined) endMs = Math.max(endMs, pref.settleByMs + PREFERENCE_HOLD_MS);
    }
    await this.settle();
    await this.check();
    pref?.checkSettled(this.clock.nowMs(), this.nodes, this.p.nodes);
    const heights = new Map<number, number>();
    // The current consenters; a node removed while it was down never hears of it (Fabric's
    // eviction suspicion would find out), and has no place in the chain's convergence.
    for (const n of this.nodes) if (n.up && !n.removed) heights.set(n.id, n.blocks()!.height());
    for (const id of this.consenters) {
      const n = this.nodes[id - 1]!;
      if (!n.up && n.brokenReason === undefined) {
        throw new InvariantViolation('every consenter runs at the end', `node ${id} is a consenter (${this.consenters.join(',')}) and is not running (joined ${n.joined}, incarnation ${n.incarnation}, removed ${n.removed}, joining ${n.joining !== undefined})`, this.clock.nowMs(), id);
      }
    }
    this.checker.checkConverged(heights);
    this.checker.checkAcknowledged(
      this.records,
      (id, inc) => {
        const n = this.nodes[id - 1]!;
        return n.up && n.incarnation === inc;
      },
      (txId) => this.explainLoss(txId),
    );
    this.stats.blocks = this.checker.height;
    // An acknowledged config update is ordered, unless another update got there first (the
    // leader then checks it again against the newer config and drops it, as Fabric's does), or
    // the leader that confirmed holding it lost its leadership or died: the next leader checks it
    // again, and the quorum guard may refuse it then (who is active changed). Never half-applied.
    for (const u of this.ackedUpdates) {
      if (this.checker.isOrdered(u.txId) || this.configSequence > u.baseSequence) continue;
      if (this.explainLoss(u.txId) !== undefined) continue;
      throw new InvariantViolation('an acknowledged config update is ordered or superseded', `update ${u.txId.slice(0, 12)} (on config ${u.baseSequence}) acknowledged by node ${u.nodeId} is not in the chain, which is at config ${this.configSequence}`, this.clock.nowMs(), u.nodeId);
    }
  }

  async close(): Promise<void> {
    for (const n of this.nodes) {
      this.stats.snapshots += n.snapshotsTaken();
      this.stats.pulls += n.pulledBlocks;
      await n.close().catch(() => undefined);
    }
    if (this.dir !== undefined) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private deliverDue(t: number): void {
    for (;;) {
      const m = this.net.popDue(t);
      if (m === undefined) return;
      const to = this.nodes[m.to - 1];
      const chain = to?.chain;
      if (chain === undefined || !this.net.connected(m.from, m.to)) continue;
      if (m.reply !== undefined) to!.receiveReply(m.from, m.reply);
      else if (m.submit === true && m.ackId !== undefined) this.deliverSubmits(to!, m, this.takeBatch(m, m.ackId, t));
      else if (m.submit === true) this.deliverSubmit(to!, m.from, m.fromIncarnation, orderer.SubmitRequest.decode(m.bytes), m.ackId);
      else chain.onConsensus(m.from, raftpb.Message.decode(m.bytes));
    }
  }

  /**
   * The acknowledged forwards due right behind `first` from the same sender's incarnation to the
   * same node, checked against the same config: the real transport writes those in one
   * SubmitBatch when they are queued together (cluster/egress.ts), so the Chain takes them as one.
   */
  private takeBatch(first: Envelope, firstAckId: number, t: number): Array<{ req: orderer.SubmitRequest; ackId: number }> {
    const firstReq = orderer.SubmitRequest.decode(first.bytes);
    const batch = [{ req: firstReq, ackId: firstAckId }];
    for (;;) {
      const next = this.net.peekDue(t);
      if (next === undefined || next.submit !== true || next.ackId === undefined) break;
      if (next.from !== first.from || next.to !== first.to || next.fromIncarnation !== first.fromIncarnation) break;
      const req = orderer.SubmitRequest.decode(next.bytes);
      if (req.lastValidationSeq !== firstReq.lastValidationSeq) break;
      this.net.popDue(t);
      batch.push({ req, ackId: next.ackId });
    }
    return batch;
  }

  /** Acknowledged forwards reach a node: one alone as a SubmitRequest, several as one SubmitBatch, each answered over the network. */
  private deliverSubmits(to: SimOrdererNode, first: Envelope, batch: Array<{ req: orderer.SubmitRequest; ackId: number }>): void {
    if (batch.length === 1) {
      this.deliverSubmit(to, first.from, first.fromIncarnation, batch[0]!.req, batch[0]!.ackId);
      return;
    }
    const chain = to.chain!;
    const incarnation = to.incarnation;
    this.stats.submitBatches++;
    this.stats.batchedForwards += batch.length;
    const envelopes = batch.map(({ req }) => common.Envelope.encode(req.payload ?? {}));
    void Promise.resolve(chain.onSubmitBatch(first.from, { lastValidationSeq: batch[0]!.req.lastValidationSeq, envelopes })).then((outcomes) => {
      if (to.incarnation !== incarnation || to.chain === undefined) return; // crashed: nothing answers
      const term = to.status()?.term ?? 0;
      outcomes.forEach((o, i) => {
        const reply = { ackId: batch[i]!.ackId, status: o.status, info: o.info, incarnation, term, toIncarnation: first.fromIncarnation };
        this.net.sendReply(to.id, first.from, reply, incarnation, this.clock.nowMs());
      });
    });
  }

  /** A forward reaches a node; a sender that asked gets the answer back over the network, with who answered. */
  private deliverSubmit(to: SimOrdererNode, from: number, fromIncarnation: number, req: orderer.SubmitRequest, ackId: number | undefined): void {
    const chain = to.chain!;
    if (ackId === undefined) {
      chain.onSubmit(from, req, false);
      return;
    }
    const incarnation = to.incarnation;
    void Promise.resolve(chain.onSubmit(from, req, true)).then((outcome) => {
      if (to.incarnation !== incarnation || to.chain === undefined) return; // crashed: nothing answers
      const o = outcome ?? { status: common.Status.SUCCESS, info: '' };
      // The term as of this reaction: never earlier than the one the answer was decided in, and
      // a node leads in one term only, so "still leads this term" below means "never stepped down".
      const term = to.status()?.term ?? 0;
      this.net.sendReply(to.id, from, { ackId, status: o.status, info: o.info, incarnation, term, toIncarnation: fromIncarnation }, incarnation, this.clock.nowMs());
    });
  }

  /**
   * Why an envelope acknowledged SUCCESS by a node that later died may be lost: SUCCESS promises
   * that no single node's loss loses it, so a second fault must explain it: a leader that
   * confirmed holding it crashed or lost its leadership, or a forward of it went unanswered
   * (the client then heard "fate unknown", or a retry of the same tx id was confirmed).
   * Undefined: nothing explains it.
   */
  private explainLoss(txId: string): string | undefined {
    if (this.unanswered.has(txId)) return 'a forward went unanswered';
    for (const c of this.confirmedBy.get(txId) ?? []) {
      const n = this.nodes[c.leader - 1]!;
      const st = n.status();
      const stillLeads = n.up && n.incarnation === c.incarnation && st !== undefined && st.role === RaftRole.Leader && st.term === c.term;
      if (!stillLeads) return `leader ${c.leader} confirmed it in term ${c.term} and has since crashed or lost its leadership`;
    }
    return undefined;
  }

  /**
   * Lets every Chain finish what it was handed: its storage completes in microtasks (memory)
   * or on LMDB's and the WAL's IO (durable), so poll until no Ready is in flight and no pull
   * beside the loop is busy (a pull waiting on the simulated clock, for its stream or its
   * backoff, is quiet).
   */
  private async settle(): Promise<void> {
    for (let round = 0; ; round++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      // In memory every write completes in a microtask: one turn has run them all.
      if (!this.p.durable) return;
      // A joining node (onboarding, then its first start) is busy unless its pull waits on the clock.
      const quiet = (n: SimOrdererNode): boolean => (n.joining === undefined || n.clockWait) && (n.chain === undefined || (!n.pullBusy && !n.chain.status().processingReady));
      if (this.nodes.every(quiet)) return;
      if (round > 200_000) throw new Error('the chains never settled');
    }
  }

  /** Durable mode: Chains on real IO go on while a crash's IO is awaited; read them and draw once they are quiet. */
  private async settleDurable(): Promise<void> {
    if (this.p.durable) await this.settle();
  }

  private async check(): Promise<void> {
    if (this.violation !== undefined) throw this.violation;
    let leader = 0;
    for (const n of this.nodes) {
      const st = n.status();
      if (st === undefined) continue;
      if (st.halted) {
        if (!st.broken && n.removed && /removed from the channel/.test(st.haltReason ?? '')) {
          this.trace.log(this.clock.nowMs(), `node ${n.id} halted: ${st.haltReason}`);
          await n.crash('removed from the channel');
          continue;
        }
        if (!st.broken) throw new InvariantViolation('a chain halts only on broken state or when told', `node ${n.id} halted: ${st.haltReason}`, this.clock.nowMs(), n.id);
        if (n.expectBroken) {
          this.stats.lostLogHalts++;
          await n.retireBroken(st.haltReason ?? '');
          continue;
        }
        throw new InvariantViolation('a chain with sound state never halts as broken', `node ${n.id}: ${st.haltReason}`, this.clock.nowMs(), n.id);
      }
      if (st.role === RaftRole.Leader) leader = n.id;
      const height = n.blocks()!.height();
      if (height > this.topHeight) {
        this.topHeight = height;
        this.lastGrowthMs = this.clock.nowMs();
      }
      this.countCatchUp(n, st);
      this.checker.checkNode(n.id, n.blocks()!);
    }
    if (leader !== 0 && leader !== this.lastLeader) this.stats.leaderChanges++;
    if (leader !== 0) this.lastLeader = leader;
    if (this.memberRng !== undefined) this.followMembership();
    this.preference?.observe(this.clock.nowMs(), this.leader()?.id ?? 0, this.nodes);
  }

  /**
   * Membership runs: the newest config block any ledger holds decides the consenters. A node it
   * drops is marked removed (it must halt, and is never restarted); a spare slot it adds is
   * joined by the "operator" with that config block.
   */
  private followMembership(): void {
    let best: SimOrdererNode | undefined;
    for (const n of this.nodes) {
      const h = n.up ? (n.blocks()?.height() ?? 0) : 0;
      if (h > 0 && (best === undefined || h > best.blocks()!.height())) best = n;
    }
    const store = best?.blocks();
    if (store === undefined) return;
    const configNumber = readLastConfigIndex(store.lastBlock()!.block);
    const configBlock = store.getBlock(configNumber)!.block;
    const config = configEnvelopeOfBlock(configBlock)!.config!;
    if (config.sequence > this.configSequence) {
      const before = new Set(this.consenters);
      this.configSequence = config.sequence;
      this.consenters = consenterSlotsOf(config);
      const after = new Set(this.consenters);
      for (const id of after) if (!before.has(id)) this.stats.consentersAdded++;
      for (const id of before) {
        if (after.has(id)) continue;
        this.stats.consentersRemoved++;
        this.nodes[id - 1]!.removed = true;
      }
      this.trace.log(this.clock.nowMs(), `config ${config.sequence} (block ${configNumber}) committed: consenters ${this.consenters.join(',')}`);
      this.lastMembershipMs = this.clock.nowMs();
      if (this.changeInFlight !== undefined && config.sequence >= this.changeInFlight.sequence) this.changeInFlight = undefined;
    }
    for (const id of this.consenters) {
      const n = this.nodes[id - 1]!;
      if (!n.joined && n.joining === undefined) {
        if (!this.joinedSlots.has(id)) this.stats.joins++;
        this.lastMembershipMs = this.clock.nowMs();
        this.joinedSlots.add(id);
        this.trace.log(this.clock.nowMs(), `operator joins node ${id} with config block ${configNumber}`);
        n.join(configBlock);
      }
    }
  }

  /**
   * An operator changes the consenters: adds the next spare slot (its id is next_consenter_id)
   * or removes a member (the leader now and then), one change at a time, never below
   * MIN_CONSENTERS. The update is signed by the orderer org's admin and submitted through a
   * random running member, which validates it as Broadcast does and orders it.
   */
  private changeMembership(t: number): void {
    const rng = this.memberRng!;
    if (this.changeInFlight !== undefined && t - this.changeInFlight.atMs < 10_000) return;
    const candidates = this.nodes.filter((n) => n.up && !n.removed && n.chain?.processConfigUpdate !== undefined);
    if (candidates.length === 0) return;
    const via = rng.pick(candidates);
    const store = via.blocks()!;
    const last = store.lastBlock()!.block;
    const configBlock = store.getBlock(readLastConfigIndex(last))!.block;
    const config = configEnvelopeOfBlock(configBlock)!.config!;
    const current = consenterSlotsOf(config);
    const nextId = readConsenterMetadata(last)?.nextConsenterId ?? current.length + 1;
    const canAdd = nextId <= this.nodes.length && !current.includes(nextId);
    const canRemove = current.length > MIN_CONSENTERS;
    if (!canAdd && !canRemove) return;
    let slots: number[];
    let what: string;
    if (canAdd && (!canRemove || rng.chance(0.5))) {
      slots = [...current, nextId];
      what = `add node ${nextId}`;
    } else {
      const leader = this.leader();
      const target = leader !== undefined && current.includes(leader.id) && rng.chance(0.4) ? leader.id : rng.pick(current);
      if (target === leader?.id) this.stats.leaderRemovals++;
      slots = current.filter((id) => id !== target);
      what = `remove node ${target}${target === leader?.id ? ' (the leader)' : ''}`;
    }
    const bytes = simConsenterUpdate(SIM_CHANNEL, config, slots, rng, t);
    const chain = via.chain!;
    this.trace.log(t, `operator: ${what} through node ${via.id} (config ${config.sequence} -> ${config.sequence + 1})`);
    let wrapped: ParsedEnvelope;
    try {
      wrapped = chain.processConfigUpdate!(parseBroadcastEnvelope(bytes));
    } catch (err) {
      if (!(err instanceof OrdererError)) throw err;
      this.stats.configRefused++;
      this.trace.log(t, `operator: node ${via.id} refused: ${err.message}`);
      return;
    }
    this.changeInFlight = { sequence: config.sequence + 1, atMs: t };
    const incarnation = via.incarnation;
    chain.order(wrapped).then(
      () => {
        this.stats.configUpdates++;
        this.ackedUpdates.push({ txId: wrapped.txId, baseSequence: config.sequence, nodeId: via.id, incarnation });
        this.trace.log(this.clock.nowMs(), `operator: node ${via.id} acknowledged the config update`);
      },
      (err: unknown) => {
        this.stats.configRefused++;
        this.trace.log(this.clock.nowMs(), `operator: config update at node ${via.id} not acknowledged: ${String(err)}`);
      },
    );
  }

  /** What the pulls beside the Ready loop went through (the suite checks the seeds exercised it). */
  private countCatchUp(n: SimOrdererNode, st: ChainStatus): void {
    const c = st.catchingUp;
    if (c === undefined || !c.pulling) {
      this.lastPull.delete(n.id);
      return;
    }
    const last = this.lastPull.get(n.id);
    if (last !== undefined && last.incarnation === n.incarnation) {
      if (st.commitIndex > last.commitIndex) this.stats.commitsWhilePulling++;
      if (c.toBlock > last.toBlock) this.stats.pullRetargets++;
    }
    if (c.backlogToIndex > c.snapshotIndex) this.stats.backlogsWhilePulling++;
    if (st.role === RaftRole.Leader) this.stats.leadersWhilePulling++;
    this.lastPull.set(n.id, { incarnation: n.incarnation, toBlock: c.toBlock, commitIndex: st.commitIndex });
  }

  private broadcast(): void {
    const node = this.nodes[this.rng.nextInt(this.nodes.length)]!;
    const chain = node.chain;
    if (chain === undefined) return; // connection refused: nothing was sent
    // Some clients resend an envelope they sent before (no answer yet, or SUCCESS they did not
    // trust) to another node: the same tx id must still be ordered once. A refusal of either
    // attempt then says nothing about the other, so such tx ids are left out of the refusal check.
    const earlier = this.sent.length > 0 && this.rng.chance(RETRY_P) ? this.rng.pick(this.sent) : undefined;
    const env = earlier !== undefined && !this.checker.wasRefused(earlier.txId) ? earlier : simEnvelope(SIM_CHANNEL, `s${this.seed}-c${this.clientSeq++}`, this.rng.between(8, 200));
    if (env === earlier) {
      this.retried.add(env.txId);
      this.stats.retries++;
    } else this.sent.push(env);
    const record: ClientRecord = { txId: env.txId, nodeId: node.id, incarnation: node.incarnation, outcome: 'pending' };
    this.records.push(record);
    chain.order(env).then(
      () => {
        this.lastAnswerMs = this.clock.nowMs();
        this.trace.log(this.clock.nowMs(), `client: tx ${env.txId.slice(0, 12)} SUCCESS at node ${node.id}`);
        record.outcome = 'success';
        this.stats.acknowledged++;
      },
      (err: unknown) => {
        this.lastAnswerMs = this.clock.nowMs();
        if (err instanceof EnvelopeFateUnknownError) {
          // Neither answer: the envelope may or may not be ordered; nothing to check either way.
          record.outcome = 'unknown';
          this.stats.fateUnknown++;
          this.trace.log(this.clock.nowMs(), `client: tx ${env.txId.slice(0, 12)} fate unknown at node ${node.id}: ${err.message}`);
          return;
        }
        record.outcome = 'refused';
        this.trace.log(this.clock.nowMs(), `client: tx ${env.txId.slice(0, 12)} refused at node ${node.id}: ${String(err)}`);
        this.stats.refused++;
        if (!(err instanceof OrdererError) || err.status !== common.Status.SERVICE_UNAVAILABLE) {
          this.violation ??= new InvariantViolation('refusals are SERVICE_UNAVAILABLE', `tx ${env.txId.slice(0, 12)} at node ${node.id}: ${String(err)}`, this.clock.nowMs(), node.id);
          return;
        }
        if (this.retried.has(env.txId)) return;
        try {
          this.checker.recordRefusal(env.txId, err.message);
        } catch (e) {
          if (e instanceof InvariantViolation) this.violation ??= e;
        }
      },
    );
  }

  private async heal(): Promise<void> {
    this.trace.log(this.clock.nowMs(), 'HEAL: network calm, every node restarts');
    this.net.heal();
    this.net.setParams(calmNetwork(this.p.net));
    for (const n of this.nodes) {
      if (!n.up && n.brokenReason === undefined && n.joined && !n.removed) {
        this.stats.restarts++;
        await n.start();
      }
    }
  }

  private leader(): SimOrdererNode | undefined {
    let best: SimOrdererNode | undefined;
    let bestTerm = -1;
    for (const n of this.nodes) {
      const st = n.status();
      if (st !== undefined && st.role === RaftRole.Leader && st.term > bestTerm) {
        best = n;
        bestTerm = st.term;
      }
    }
    return best;
  }

  private async faultAction(t: number): Promise<void> {
    if (this.violation !== undefined) throw this.violation;
    const f = this.p.faults;
    const rng = this.rng;
    const ids = this.nodes.map((n) => n.id);
    if (this.lostLogAtMs >= 0 && t >= this.lostLogAtMs && (await this.reportLostLog())) this.lostLogAtMs = -1;
    if (rng.chance(f.crashP)) {
      const up = this.nodes.filter((n) => n.up);
      if (up.length > 0) {
        this.stats.crashes++;
        await rng.pick(up).crash('fault');
        await this.settleDurable();
      }
    }
    if (rng.chance(f.restartP)) {
      const down = this.nodes.filter((n) => !n.up && n.brokenReason === undefined && n.joined && !n.removed);
      if (down.length > 0) {
        this.stats.restarts++;
        await rng.pick(down).start();
        await this.settleDurable();
      }
    }
    if (rng.chance(f.leaderFaultP)) {
      const leader = this.leader();
      if (leader !== undefined) {
        this.stats.leaderStrikes++;
        if (rng.chance(0.5)) {
          await leader.crash('leader strike');
          await this.settleDurable();
        } else this.net.partition([[leader.id], ids.filter((id) => id !== leader.id)]);
      }
    }
    // A node pulling beside its loop may win the next election, and must then take no envelope
    // until it has applied everything: while a pull stalls for longer than an election takes,
    // the leader sometimes crashes (if the others still make a majority).
    const electionMs = this.p.settings.electionTick * this.p.settings.tickIntervalMs;
    const stalled = this.nodes.some((n) => n.up && (n.pullStalledUntilMs ?? 0) > t + electionMs);
    if (stalled && f.leaderFaultP > 0 && rng.chance(STRIKE_WHILE_PULLING_P)) {
      const leader = this.leader();
      const othersUp = this.nodes.filter((n) => n.up && n !== leader).length;
      if (leader !== undefined && leader.status()?.catchingUp === undefined && othersUp > this.nodes.length / 2) {
        this.stats.leaderStrikes++;
        await leader.crash('leader strike while a node pulls');
        await this.settleDurable();
      }
    }
    if (rng.chance(f.partitionP)) {
      this.stats.partitions++;
      const shuffled = rng.shuffled(ids);
      const cut = rng.between(1, Math.floor(ids.length / 2));
      this.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      this.trace.log(t, `partition ${this.net.describePartition()}`);
    }
    if (rng.chance(f.healP)) this.net.heal();
    if (this.memberRng !== undefined && this.memberRng.chance(MEMBERSHIP_P)) this.changeMembership(t);
  }

  /**
   * What a follower whose WAL lost acknowledged entries sees: its leader reports a commit index
   * beyond its log. The Chain must halt the channel on it (never log and go on); the node then
   * stays out of the run. Only done while the others still form a majority.
   */
  private async reportLostLog(): Promise<boolean> {
    const leader = this.leader();
    if (leader === undefined) return false;
    const lst = leader.status()!;
    const healthy = this.nodes.filter((n) => n.brokenReason === undefined).length;
    if (healthy - 1 < Math.floor(this.nodes.length / 2) + 1) return true; // never: give up on it
    const targets = this.nodes.filter((n) => {
      const st = n.status();
      return n !== leader && st !== undefined && st.role === RaftRole.Follower && st.term === lst.term && st.leaderId === leader.id;
    });
    if (targets.length === 0) return false;
    const target = this.rng.pick(targets);
    if (this.rng.chance(MISADDRESSED_SHARE)) {
      // The other broken state the issue names: a message for another node id reaching this one
      // (two orderers holding one id, a misrouted stream). Fabric §3.7 halts.
      const other = this.nodes.find((n) => n !== target && n !== leader) ?? leader;
      const stray = raftpb.Message.decode(raftpb.Message.encode({ type: raftpb.MessageType.MsgHeartbeat, from: leader.id, to: other.id, term: lst.term }));
      this.trace.log(this.clock.nowMs(), `heartbeat for node ${other.id} delivered to node ${target.id}`);
      target.expectBroken = true;
      target.chain!.onConsensus(leader.id, stray);
      await this.settle();
      const st = target.status();
      if (st === undefined || !st.halted || !st.broken) {
        throw new InvariantViolation('a message addressed to another node halts the channel', `node ${target.id} took a heartbeat for node ${other.id} and did not halt`, this.clock.nowMs(), target.id);
      }
      return true;
    }
    // Far beyond the log: appends queued at the target ahead of this message may still extend it.
    const claimedCommit = target.raftLastIndex() + LOST_LOG_GAP;
    const forged = raftpb.Message.decode(
      raftpb.Message.encode({ type: raftpb.MessageType.MsgHeartbeat, from: leader.id, to: target.id, term: lst.term, commit: claimedCommit }),
    );
    this.trace.log(this.clock.nowMs(), `forged lost-log heartbeat to node ${target.id}`);
    target.expectBroken = true;
    target.chain!.onConsensus(leader.id, forged);
    await this.settle();
    const st = target.status();
    if (st === undefined || !st.halted || !st.broken) {
      throw new InvariantViolation(
        'a broken Raft invariant halts the channel',
        `node ${target.id} was told commit ${claimedCommit} with its log ending at ${target.raftLastIndex()} and did not halt ` +
          `(role ${st?.role}, term ${st?.term}, commit ${st?.commitIndex}, busy ${st?.processingReady}, queued ${st?.queuedEvents}, catching up ${JSON.stringify(st?.catchingUp)})`,
        this.clock.nowMs(),
        target.id,
      );
    }
    return true;
  }
}
