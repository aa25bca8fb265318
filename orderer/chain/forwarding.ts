// Broadcast on any node, and what it promises. An envelope goes into this node's intake when it
// leads (and is ready), or is forwarded to the leader on the cluster's submit stream (Fabric §3.3).
// Three answers, each true:
//   - SUCCESS: no single node's loss loses the envelope. A follower answers once the leader
//     confirmed it holds the envelope (our ack extension of the submit stream, cluster/README.md)
//     and keeps it itself (AcceptedEnvelopes) until it sees it in a committed block, handing it
//     to every new leader and resending it when it stays unordered; the leader's tx-id checks
//     drop the duplicates this creates. The leader answers its own clients once the envelope's
//     block is committed, i.e. on a majority's disks. (Fabric answers once the envelope is in
//     the leader's memory or in the follower's send queue, so killing that one node loses it.)
//     A leader without the extension (a Fabric orderer) cannot confirm: then, as in Fabric,
//     SUCCESS once the envelope is written to its stream.
//   - a refusal means "not ordered": nobody took it, and no forward of it is still on its way.
//   - fate unknown (EnvelopeFateUnknownError, the Broadcast stream ends without an answer): a
//     forward was handed over but never answered, or the block did not commit in time. The
//     envelope is kept and resent, so it is usually ordered; a client resends it with the same
//     tx id.
import type { Logger } from 'pino';
import { SubmitFateUnknownError } from '../../cluster/errors';
import type { ClusterTransport, ForwardedEnvelope, NodeId, SubmitAck, SubmitAnswerHandle } from '../../cluster/types';
import type { BlockStore } from '../../ledger/block-store';
import { common, type orderer } from '../../protos';
import { EnvelopeFateUnknownError, OrdererError } from '../errors';
import type { ParsedEnvelope } from '../msgcheck';
import { AcceptedEnvelopes, DEFAULT_MAX_ACCEPTED_BYTES, type AcceptedEnvelope } from './accepted';
import type { IntakeItem, LeaderPipeline } from './leader-pipeline';
import type { ChainTimers } from './types';

/** How many leader changes one Broadcast rides out before it is refused. */
const MAX_FORWARD_ATTEMPTS = 4;
/**
 * Resends to a leader go out in chunks of about this many envelope bytes; the next chunk once the
 * previous one is queued on the stream, so a leader change does not put the whole accepted set
 * (up to its byte bound) into the egress queue at once.
 */
export const DEFAULT_RESEND_BUDGET_BYTES = 4 * 1024 * 1024;
/**
 * How long the leader's Broadcast waits for the envelope's block to commit before it answers
 * "fate unknown". Fabric's gateway gives a Broadcast 30 s (BroadcastTimeout); this stays below.
 */
export const DEFAULT_COMMIT_WAIT_TIMEOUT_MS = 20_000;

/** Where an envelope went. */
type Placed =
  /** A leader confirmed it holds it (or a leader without the extension has it written to its stream). */
  | { readonly kind: 'leader-held' }
  /** This node leads and took it: safe once its block commits. */
  | { readonly kind: 'own-intake'; readonly committed: Promise<void> };

const LEADER_HELD: Placed = Object.freeze({ kind: 'leader-held' });

/** What the forwards of one Broadcast left behind, deciding between a refusal and "fate unknown". */
interface ForwardAttempts {
  /**
   * Forwards overtaken by a leader change: each resolves true when the deposed leader may have
   * taken it. Made at the first one (most forwards see no leader change).
   */
  overtaken: Promise<boolean>[] | undefined;
  /** A forward was handed over and never answered. */
  fateUnknown: boolean;
}

interface CommitWaiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  /** When the Broadcast gives up waiting (ChainTimers.nowMs). */
  readonly deadlineMs: number;
}

const UNACKNOWLEDGED: SubmitAck = Object.freeze({ kind: 'unacknowledged' });

/**
 * What the forwarder keeps of a checked envelope while it is forwarded or waits for its block:
 * its bytes and what the intake and the accepted set need, not the decoded headers. Those are a
 * dozen objects per envelope, and a forward waits long enough (under load, for room on the
 * leader's stream and then its answer) for all of them to be promoted out of the young
 * generation.
 */
interface Forwardable {
  readonly txId: string;
  readonly envelopeBytes: Uint8Array;
  readonly messageSizeBytes: number;
  readonly configSeq: number | undefined;
  readonly kind: ParsedEnvelope['kind'];
}

/** The Broadcast's refusal when `leader` refused the forward: its status (UNKNOWN as SERVICE_UNAVAILABLE) and reason. */
function refusedBy(leader: NodeId, ack: SubmitAck): OrdererError {
  const info = ack.kind === 'acked' ? ack.info : '';
  const status = ack.kind === 'acked' && ack.status !== common.Status.UNKNOWN ? ack.status : common.Status.SERVICE_UNAVAILABLE;
  return new OrdererError(status, `leader ${leader} did not take the envelope: ${info}`);
}

/** The leader holds it (SUCCESS), or it went to a leader that cannot tell (a Fabric orderer). */
function maybeTaken(ack: SubmitAck): boolean {
  return ack.kind === 'unacknowledged' || ack.status === common.Status.SUCCESS;
}

export interface ForwarderOptions {
  channelId: string;
  selfId: NodeId;
  transport: ClusterTransport;
  blockStore: BlockStore;
  pipeline: LeaderPipeline;
  timers: ChainTimers;
  logger: Logger;
  /** Acknowledged, unordered envelopes kept for resubmission; beyond this Broadcast is refused. */
  maxAccepted: number;
  /** The same bound in bytes (sum of envelope bytes); default DEFAULT_MAX_ACCEPTED_BYTES. */
  maxAcceptedBytes?: number;
  /** How long an accepted, unordered envelope is kept for resubmission. */
  resubmitTtlMs: number;
  /** Envelope bytes per chunk of a resend to the leader (default DEFAULT_RESEND_BUDGET_BYTES). */
  resendBudgetBytes?: number;
  /** The leader's wait for its own clients' blocks (default DEFAULT_COMMIT_WAIT_TIMEOUT_MS). */
  commitWaitTimeoutMs?: number;
  leaderId(): NodeId;
  configSequence(): number;
  /** The reason the chain halted, undefined while it runs. */
  haltedReason(): string | undefined;
  /** The leader's intake changed: the Chain's loop must run. */
  kick(): void;
}

export class Forwarder {
  private readonly accepted: AcceptedEnvelopes;
  /**
   * Forwards waiting for room on the leader's stream, woken when the leader changes so they move
   * on instead of waiting out a dead leader. A set of per-call callbacks rather than one shared
   * "leader changed" promise: racing each forward against a long-lived promise left one reaction
   * on it per envelope, about 34,000 per follower in one benchmark run, until the next election.
   */
  private readonly waiters = new Set<LeaderChangeWaiter>();
  /** Broadcasts on this leader waiting for their envelope's block, by tx id. */
  private readonly commitWaiters = new Map<string, CommitWaiter[]>();
  private readonly commitWaitTimeoutMs: number;
  readonly counters = { acknowledged: 0, resubmitted: 0 };

  constructor(private readonly o: ForwarderOptions) {
    this.accepted = new AcceptedEnvelopes(o.maxAccepted, o.maxAcceptedBytes ?? DEFAULT_MAX_ACCEPTED_BYTES);
    this.commitWaitTimeoutMs = o.commitWaitTimeoutMs ?? DEFAULT_COMMIT_WAIT_TIMEOUT_MS;
  }

  get acceptedSize(): number {
    return this.accepted.size;
  }

  get acceptedBytes(): number {
    return this.accepted.bytes;
  }

  /**
   * Broadcast: resolves (SUCCESS) once the envelope is safe from the loss of any one node: on a
   * follower once the leader confirmed it holds it (this node keeps it too until it is in a
   * block); on the leader once its block is committed, i.e. on a majority's disks. Rejects with
   * OrdererError when it was not ordered, with EnvelopeFateUnknownError when it may be.
   */
  order(parsed: ParsedEnvelope): Promise<void> {
    const { txId, envelopeBytes, messageSizeBytes, configSeq, kind } = parsed;
    const env: Forwardable = { txId, envelopeBytes, messageSizeBytes, configSeq, kind };
    // A follower's usual case: its first forward, to a leader that answers, as one object
    // (FirstForward) instead of two async functions, a race and their promises.
    const leader = this.o.leaderId();
    if (txId !== '' && leader !== 0 && this.o.haltedReason() === undefined) {
      if (leader !== this.o.selfId && this.o.transport.submitAcked !== undefined) {
        return new Promise<void>((resolve, reject) => new FirstForward(this, env, leader, resolve, reject).start());
      }
      // A ready leader with room: the leader's usual case, answered by the commit waiter itself.
      if (leader === this.o.selfId && this.o.pipeline.ready && !this.o.pipeline.intakeFull) {
        return new Promise<void>((resolve, reject) => this.takeIntoOwnIntake(env, resolve, reject));
      }
    }
    return this.orderForwardable(env);
  }

  /**
   * This ready leader takes a client's envelope into its intake and answers once its block is
   * committed, through the commit waiter: no async function or promise per envelope beside the
   * Broadcast's own, where the general path (forwardOrTake, finishOrder) kept two async
   * functions' state and a promise alive until the commit, long enough to be promoted. The
   * steps and their order are the general path's.
   */
  private takeIntoOwnIntake(env: Forwardable, done: () => void, fail: (err: unknown) => void): void {
    let reserved: boolean;
    try {
      reserved = this.reserve(env);
    } catch (err) {
      fail(err);
      return;
    }
    const waiter: CommitWaiter = {
      resolve: () => {
        this.counters.acknowledged++;
        done();
      },
      reject: fail,
      deadlineMs: this.o.timers.nowMs() + this.commitWaitTimeoutMs,
    };
    let placed: 'waiting' | 'ordered';
    try {
      placed = this.takeIntoIntake(env, waiter);
    } catch (err) {
      this.unreserve(env, reserved);
      fail(err);
      return;
    }
    // Kept like any acknowledged envelope (resent if this node loses the lead before ordering it).
    this.track(env);
    this.unreserve(env, reserved);
    if (placed === 'ordered') waiter.resolve();
  }

  /**
   * This leader's intake takes the envelope, `waiter` hearing when its block commits (registered
   * first, so that commit cannot be missed). 'ordered': a client's retry of an envelope already in
   * a block (the waiter is removed, not called). 'waiting' also when the same tx id is in the
   * intake or a proposed block: the waiter hears that one's commit. Throws what the intake threw
   * (overloaded), the waiter removed.
   */
  private takeIntoIntake(env: Forwardable, waiter: CommitWaiter): 'waiting' | 'ordered' {
    this.addCommitWaiter(env.txId, waiter);
    let taken: boolean;
    try {
      taken = this.o.pipeline.enqueue(intakeItemOf(env, this.o.configSequence()), true);
    } catch (err) {
      this.removeCommitWaiter(env.txId, waiter);
      throw err;
    }
    if (taken) {
      this.o.kick();
      return 'waiting';
    }
    if (this.o.blockStore.getByTxId(env.txId) !== undefined) {
      this.removeCommitWaiter(env.txId, waiter);
      return 'ordered';
    }
    return 'waiting';
  }

  private async orderForwardable(env: Forwardable): Promise<void> {
    const reserved = this.reserve(env);
    const attempts: ForwardAttempts = { overtaken: undefined, fateUnknown: false };
    return this.finishOrder(env, reserved, attempts, this.forwardOrTake(env, attempts, 0));
  }

  /**
   * Room in the accepted set is reserved before the envelope is taken or forwarded: when the set
   * is full the refusal means "not ordered", and nothing acknowledged is ever evicted. A client
   * retry of a tracked tx id needs no new room. True when room was reserved (release it once the
   * envelope is tracked, or refused).
   */
  reserve(env: Forwardable): boolean {
    const reserved = env.txId !== '' && !this.accepted.has(env.txId);
    if (reserved && !this.accepted.tryReserve(env.envelopeBytes.length)) {
      throw OrdererError.serviceUnavailable('too many envelopes accepted and not yet ordered');
    }
    return reserved;
  }

  /** A leader holds the envelope: kept until it is in a block, and the Broadcast answered SUCCESS. */
  leaderHolds(env: Forwardable, reserved: boolean): void {
    this.track(env);
    // Tracked now: counted by the set itself.
    if (reserved) this.accepted.release(env.envelopeBytes.length);
    this.counters.acknowledged++;
  }

  /** Not ordered: its reserved room goes back. */
  unreserve(env: Forwardable, reserved: boolean): void {
    if (reserved) this.accepted.release(env.envelopeBytes.length);
  }

  /** What `forwarding` came to, as the Broadcast's answer: SUCCESS, a refusal, or "fate unknown". */
  async finishOrder(env: Forwardable, reservedRoom: boolean, attempts: ForwardAttempts, forwarding: Promise<Placed>): Promise<void> {
    const bytes = env.envelopeBytes.length;
    let reserved = reservedRoom;
    try {
      let placed: Placed;
      try {
        placed = await forwarding;
      } catch (err) {
        if (!(err instanceof OrdererError)) throw err;
        const maybeOrdered = attempts.fateUnknown || (await Promise.all(attempts.overtaken ?? [])).some((m) => m);
        if (!maybeOrdered) throw err;
        // An earlier forward may have reached a leader: not a refusal. Kept and resent like any
        // acknowledged envelope, so it is usually ordered; the client hears "fate unknown".
        this.track(env);
        throw new EnvelopeFateUnknownError(`${err.message} (an earlier forward may have reached a leader)`, { cause: err });
      }
      this.track(env);
      // Tracked now: counted by the set itself.
      if (reserved) this.accepted.release(bytes);
      reserved = false;
      if (placed.kind === 'own-intake') await placed.committed;
      this.counters.acknowledged++;
    } finally {
      if (reserved) this.accepted.release(bytes);
    }
  }

  private track(env: Forwardable): void {
    if (env.txId === '') return;
    const now = this.o.timers.nowMs();
    this.accepted.add({
      txId: env.txId,
      envelopeBytes: env.envelopeBytes,
      messageSizeBytes: env.messageSizeBytes,
      configSeq: env.configSeq ?? this.o.configSequence(),
      ...(env.kind === 'config' ? { isConfig: true } : {}),
      acceptedAtMs: now,
      lastSentAtMs: now,
    });
  }

  /**
   * Takes the envelope into this leader's intake or has a leader confirm it; throws OrdererError
   * when neither happened. `firstAttempt` > 0: earlier attempts were made (FirstForward).
   */
  async forwardOrTake(env: Forwardable, attempts: ForwardAttempts, firstAttempt: number): Promise<Placed> {
    const pipeline = this.o.pipeline;
    for (let attempt = firstAttempt; ; attempt++) {
      const halted = this.o.haltedReason();
      if (halted !== undefined) throw OrdererError.serviceUnavailable(`channel ${this.o.channelId} is halted: ${halted}`);
      const leader = this.o.leaderId();
      if (leader === 0) throw OrdererError.serviceUnavailable('no Raft leader');
      if (leader === this.o.selfId) {
        // Fabric §3.5: a new leader takes nothing until it has applied its whole log. Until
        // then its ledger cannot tell whether an envelope is already in a block of the old
        // term, so the client waits (bounded); a timeout refuses it unordered.
        if (!pipeline.ready) {
          if (!(await pipeline.waitForRoom())) throw OrdererError.serviceUnavailable('the new Raft leader is still applying its log; try again');
          attempt--;
          continue;
        }
        // Backpressure, as Fabric's leader stops taking envelopes while its pipeline is full:
        // every envelope acknowledged here and not yet in a block dies with this process, so
        // their number stays bounded instead of growing with the client's speed.
        if (pipeline.intakeFull) {
          if (!(await pipeline.waitForRoom())) throw OrdererError.serviceUnavailable('the leader is overloaded: too many envelopes waiting to be ordered');
          attempt--;
          continue;
        }
        if (env.txId === '') {
          if (pipeline.enqueue(intakeItemOf(env, this.o.configSequence()), true)) this.o.kick();
          return { kind: 'own-intake', committed: Promise.resolve() }; // nothing to recognise its block by
        }
        const { waiter, committed } = this.commitPromise();
        if (this.takeIntoIntake(env, waiter) === 'ordered') return { kind: 'own-intake', committed: Promise.resolve() };
        return { kind: 'own-intake', committed };
      }
      // A forward waits for room on the leader's stream (up to the RPC timeout), then for the
      // leader's answer; if the leader changes meanwhile we move on to the next one instead of
      // waiting that out.
      const sent = this.submit(leader, env);
      let outcome: SubmitAck | 'leader-changed';
      try {
        outcome = await new Promise<SubmitAck | 'leader-changed'>((resolve, reject) => {
          const waiter: LeaderChangeWaiter = { leaderChanged: () => resolve('leader-changed') };
          this.waiters.add(waiter);
          sent.then(
            (ack) => {
              this.waiters.delete(waiter);
              resolve(ack);
            },
            (err: unknown) => {
              this.waiters.delete(waiter);
              reject(err);
            },
          );
        });
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        if (!(err instanceof SubmitFateUnknownError)) throw OrdererError.serviceUnavailable(`could not forward to leader ${leader}: ${reason}`, { cause: err });
        // Handed over, then no answer: it may have arrived. Asked again (the same leader on a new
        // stream, or the next one), the leader's tx-id checks answer SUCCESS if it already has it.
        attempts.fateUnknown = true;
        if (attempt + 1 >= MAX_FORWARD_ATTEMPTS) throw OrdererError.serviceUnavailable(`leader ${leader} did not answer: ${reason}`, { cause: err });
        continue;
      }
      if (outcome === 'leader-changed') {
        // Still on its way to a deposed leader, which may yet take it: remembered, so that a
        // later refusal is not answered while it may be ordered.
        (attempts.overtaken ??= []).push(sent.then(maybeTaken, (err: unknown) => err instanceof SubmitFateUnknownError));
        if (attempt + 1 >= MAX_FORWARD_ATTEMPTS) throw OrdererError.serviceUnavailable('the Raft leader keeps changing; try again');
        continue;
      }
      if (maybeTaken(outcome)) return LEADER_HELD;
      // Refused: not taken. A leader that has just lost its leadership is followed to the next.
      if (this.o.leaderId() !== leader && attempt + 1 < MAX_FORWARD_ATTEMPTS) continue;
      throw refusedBy(leader, outcome);
    }
  }

  /** Forwards with the leader's answer when the transport can ask for it (our extension), else as Fabric. */
  private submit(leader: NodeId, env: Forwardable): Promise<SubmitAck> {
    const t = this.o.transport;
    const lastValidationSeq = env.configSeq ?? this.o.configSequence();
    // As the client sent it: nothing to encode again.
    if (t.sendSubmitAcked !== undefined) return t.sendSubmitAcked(this.o.channelId, leader, { lastValidationSeq, envelope: env.envelopeBytes });
    // A leader without our extension (a Fabric orderer) gets a SubmitRequest, written from the decoded envelope.
    return t.sendSubmit(this.o.channelId, leader, { channel: this.o.channelId, lastValidationSeq, payload: common.Envelope.decode(env.envelopeBytes) }).then(() => UNACKNOWLEDGED);
  }

  /** A commit waiter whose answer is the promise `committed` (takeIntoIntake registers the waiter). */
  private commitPromise(): { waiter: CommitWaiter; committed: Promise<void> } {
    let waiter!: CommitWaiter;
    const committed = new Promise<void>((resolve, reject) => {
      waiter = { resolve, reject, deadlineMs: this.o.timers.nowMs() + this.commitWaitTimeoutMs };
    });
    return { waiter, committed };
  }

  /**
   * `waiter` resolves when `txId` is in a committed block; rejects (fate unknown) on halt, or once
   * past its deadline when sweepCommitWaiters runs (a sweep rather than a timer per envelope: at
   * thousands of envelopes a second the timers cost more than the waiting).
   */
  private addCommitWaiter(txId: string, waiter: CommitWaiter): void {
    const list = this.commitWaiters.get(txId);
    if (list === undefined) this.commitWaiters.set(txId, [waiter]);
    else list.push(waiter);
  }

  /** Periodic: Broadcasts whose block did not commit in time hear "fate unknown" (the envelope stays accepted and is resent). */
  sweepCommitWaiters(): void {
    const now = this.o.timers.nowMs();
    // Insertion order is deadline order for each tx id's first waiter: stop at the first one not due.
    for (const [txId, list] of this.commitWaiters) {
      if (list[0]!.deadlineMs > now) break;
      const due = list.filter((w) => w.deadlineMs <= now);
      const rest = list.filter((w) => w.deadlineMs > now);
      if (rest.length === 0) this.commitWaiters.delete(txId);
      else this.commitWaiters.set(txId, rest);
      for (const w of due) w.reject(new EnvelopeFateUnknownError(`its block was not committed within ${this.commitWaitTimeoutMs} ms; it is kept and resent to the leader`));
    }
  }

  private removeCommitWaiter(txId: string, waiter: CommitWaiter): void {
    const list = this.commitWaiters.get(txId);
    if (list === undefined) return;
    const i = list.indexOf(waiter);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.commitWaiters.delete(txId);
  }

  /**
   * The chain halted: Broadcasts waiting for their block hear "fate unknown" (the block may
   * still be committed by the others), and forwards waiting for room move on.
   */
  halt(reason: string): void {
    const waiting = [...this.commitWaiters.values()].flat();
    this.commitWaiters.clear();
    for (const w of waiting) {
      w.reject(new EnvelopeFateUnknownError(`channel ${this.o.channelId} halted before its block was committed: ${reason}`));
    }
    this.wakeWaiters();
  }

  /** The leader changed (or the chain halted): forwards waiting for room move on now. */
  wakeWaiters(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w.leaderChanged();
  }

  /** `w` hears of the next leader change (or halt) unless it is forgotten first. */
  watchLeader(w: LeaderChangeWaiter): void {
    this.waiters.add(w);
  }

  forgetWaiter(w: LeaderChangeWaiter): void {
    this.waiters.delete(w);
  }

  /** FirstForward's send: the transport answers through `handle`. */
  submitTo(leader: NodeId, env: Forwardable, handle: SubmitAnswerHandle): void {
    const lastValidationSeq = env.configSeq ?? this.o.configSequence();
    this.o.transport.submitAcked!(this.o.channelId, leader, { lastValidationSeq, envelope: env.envelopeBytes }, handle);
  }

  /** The Raft leader as this node knows it now. */
  currentLeader(): NodeId {
    return this.o.leaderId();
  }

  /** A forward reached this node, which does not lead: Fabric forwards it again. */
  forwardAgain(from: NodeId, forward: ForwardedEnvelope): void {
    const leader = this.o.leaderId();
    if (leader === 0 || leader === this.o.selfId || leader === from) return;
    let payload: common.Envelope;
    try {
      payload = common.Envelope.decode(forward.envelope);
    } catch {
      return; // it came as an Envelope, so it decodes; nothing to forward if it does not
    }
    this.o.transport.sendSubmit(this.o.channelId, leader, { channel: this.o.channelId, lastValidationSeq: forward.lastValidationSeq, payload }).catch(() => undefined);
  }

  /** These tx ids are in a committed block. */
  settle(txIds: readonly string[]): void {
    for (const txId of txIds) {
      this.accepted.settle(txId);
      if (this.commitWaiters.size === 0) continue;
      const waiting = this.commitWaiters.get(txId);
      if (waiting === undefined) continue;
      this.commitWaiters.delete(txId);
      for (const w of waiting) w.resolve();
    }
  }

  /** True while Broadcasts on this node wait for their blocks (the Chain then decodes committed tx ids). */
  get waitingForCommits(): boolean {
    return this.commitWaiters.size > 0;
  }

  /**
   * Leadership lost: what this node took as leader and had not proposed yet (its intake and the
   * cutter's batch) is kept like an acknowledged envelope and resent to the next leader. The
   * followers that forwarded those envelopes keep copies too, but the next leader is often one of
   * them (always, after a hand-over): without this, that node alone would hold what it
   * acknowledged until it orders it, and its crash right after the hand-over would lose it.
   * Bounded by the accepted set's limits; what does not fit stays with its forwarders only.
   */
  keepUnproposed(items: readonly IntakeItem[], why = 'leadership lost: keeping the envelopes taken and not yet proposed, to resend them to the next leader'): void {
    const now = this.o.timers.nowMs();
    let kept = 0;
    let noRoom = 0;
    for (const item of items) {
      if (item.txId === '' || this.accepted.has(item.txId)) continue;
      const bytes = item.envelopeBytes.length;
      if (!this.accepted.tryReserve(bytes)) {
        noRoom++;
        continue;
      }
      this.accepted.add({ ...item, acceptedAtMs: now, lastSentAtMs: now });
      this.accepted.release(bytes);
      kept++;
    }
    if (kept > 0 || noRoom > 0) this.o.logger.info({ kept, noRoom }, why);
  }

  /** A new leader (or this node, newly ready as leader): everything unordered goes to it. */
  resubmitAccepted(): void {
    if (this.o.leaderId() === 0 || this.accepted.size === 0) return;
    this.resend(this.accepted.all());
  }

  /** Periodic: forget what exceeded its TTL, resend what stayed unordered too long. */
  resubmitOverdue(resubmitAfterMs: number): void {
    if (this.o.haltedReason() !== undefined) return;
    const now = this.o.timers.nowMs();
    const expired = this.accepted.expire(now - this.o.resubmitTtlMs);
    if (expired > 0) this.o.logger.warn({ expired, ttlMs: this.o.resubmitTtlMs }, 'gave up resubmitting envelopes that were never ordered');
    if (this.o.leaderId() === 0) return;
    this.resend(this.accepted.due(now - resubmitAfterMs));
  }

  private resend(items: AcceptedEnvelope[]): void {
    if (items.length === 0) return;
    const now = this.o.timers.nowMs();
    const leader = this.o.leaderId();
    if (leader === this.o.selfId) {
      if (!this.o.pipeline.ready) return; // the pipeline's readiness resubmits
      let queued = 0;
      for (const item of items) {
        item.lastSentAtMs = now;
        if (this.o.blockStore.getByTxId(item.txId) !== undefined) {
          this.accepted.settle(item.txId);
          continue;
        }
        if (this.o.pipeline.enqueue(item, false)) queued++;
      }
      if (queued > 0) {
        this.o.logger.info({ queued }, 'resubmitted accepted envelopes to ourselves as the new leader');
        this.o.kick();
      }
      return;
    }
    // Scheduled now, sent in paced chunks: the periodic sweep does not send them again meanwhile.
    for (const item of items) item.lastSentAtMs = now;
    this.resendChunk(leader, items, 0);
  }

  /** Sends items[from..] to `leader` up to the byte budget; the rest once those are queued, if it still leads. */
  private resendChunk(leader: NodeId, items: AcceptedEnvelope[], from: number): void {
    const budget = this.o.resendBudgetBytes ?? DEFAULT_RESEND_BUDGET_BYTES;
    const queued: Promise<void>[] = [];
    let bytes = 0;
    let sent = 0;
    let i = from;
    for (; i < items.length && (sent === 0 || bytes < budget); i++) {
      const item = items[i]!;
      if (!this.accepted.has(item.txId)) continue; // settled meanwhile
      if (this.o.blockStore.getByTxId(item.txId) !== undefined) {
        this.accepted.settle(item.txId);
        continue;
      }
      let payload: common.Envelope;
      try {
        payload = common.Envelope.decode(item.envelopeBytes);
      } catch {
        this.accepted.settle(item.txId);
        continue;
      }
      sent++;
      bytes += item.envelopeBytes.length;
      this.counters.resubmitted++;
      queued.push(
        this.o.transport
          .sendSubmit(this.o.channelId, leader, { channel: this.o.channelId, lastValidationSeq: item.configSeq ?? this.o.configSequence(), payload })
          .catch(() => undefined), // retried by the next sweep
      );
    }
    if (sent > 0) this.o.logger.info({ sent, leader }, 'resubmitted unordered envelopes to the leader');
    if (i >= items.length) return;
    void Promise.all(queued).then(() => {
      // A new leader got the whole set from resubmitAccepted; a halted chain sends nothing.
      if (this.o.leaderId() !== leader || this.o.haltedReason() !== undefined) return;
      this.resendChunk(leader, items, i);
    });
  }
}

/** A forward waiting for its answer, to be told when the leader changes (or the chain halts). */
interface LeaderChangeWaiter {
  leaderChanged(): void;
}

/**
 * A follower's first forward of an envelope, to the leader it knows, with an answer expected
 * (our extension): one object is the answer handle the transport settles, the leader-change
 * waiter and the state between them. Most envelopes end here: the leader holds it (SUCCESS), or
 * refuses it. Everything else (no answer, a leader change, a refusal by a leader that has just
 * lost its leadership) continues in Forwarder.forwardOrTake from the second attempt, with what
 * this attempt left behind, exactly as if the first attempt had been made there.
 */
class FirstForward implements SubmitAnswerHandle, LeaderChangeWaiter {
  /** waiting: for the answer; moved: handed to forwardOrTake (a late answer goes to `late`); done. */
  private state: 'waiting' | 'moved' | 'done' = 'waiting';
  /** After a leader change: whether the deposed leader may have taken it, once it answers. */
  private late: ((maybeTaken: boolean) => void) | undefined;
  private reserved = false;

  constructor(
    private readonly f: Forwarder,
    private readonly env: Forwardable,
    private readonly leader: NodeId,
    private readonly done: () => void,
    private readonly fail: (err: unknown) => void,
  ) {}

  start(): void {
    try {
      this.reserved = this.f.reserve(this.env);
    } catch (err) {
      this.fail(err);
      return;
    }
    this.f.watchLeader(this);
    try {
      this.f.submitTo(this.leader, this.env, this);
    } catch (err) {
      // A transport should answer through the handle; one that throws is heard the same way.
      this.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  resolve(ack: SubmitAck): void {
    if (this.state === 'moved') {
      this.late?.(maybeTaken(ack));
      return;
    }
    if (this.state !== 'waiting') return;
    this.state = 'done';
    this.f.forgetWaiter(this);
    if (maybeTaken(ack)) {
      this.f.leaderHolds(this.env, this.reserved);
      this.done();
      return;
    }
    // Refused: not taken. A leader that has just lost its leadership is followed to the next.
    if (this.f.currentLeader() !== this.leader && 1 < MAX_FORWARD_ATTEMPTS) {
      this.continueFrom({ overtaken: undefined, fateUnknown: false });
      return;
    }
    this.f.unreserve(this.env, this.reserved);
    this.fail(refusedBy(this.leader, ack));
  }

  reject(err: Error): void {
    if (this.state === 'moved') {
      this.late?.(err instanceof SubmitFateUnknownError);
      return;
    }
    if (this.state !== 'waiting') return;
    this.state = 'done';
    this.f.forgetWaiter(this);
    if (!(err instanceof SubmitFateUnknownError)) {
      this.f.unreserve(this.env, this.reserved);
      this.fail(OrdererError.serviceUnavailable(`could not forward to leader ${this.leader}: ${err.message}`, { cause: err }));
      return;
    }
    // Handed over, then no answer: it may have arrived. Asked again (the same leader on a new
    // stream, or the next one), the leader's tx-id checks answer SUCCESS if it already has it.
    this.continueFrom({ overtaken: undefined, fateUnknown: true });
  }

  leaderChanged(): void {
    if (this.state !== 'waiting') return;
    // Still on its way to a deposed leader, which may yet take it: remembered, so that a later
    // refusal is not answered while it may be ordered.
    this.state = 'moved';
    const overtaken = new Promise<boolean>((resolve) => {
      this.late = resolve;
    });
    this.continueFrom({ overtaken: [overtaken], fateUnknown: false });
  }

  private continueFrom(attempts: ForwardAttempts): void {
    this.f.finishOrder(this.env, this.reserved, attempts, this.f.forwardOrTake(this.env, attempts, 1)).then(this.done, this.fail);
  }
}

/** What the leader's intake holds of a checked envelope: the config it was checked against, whether it is a CONFIG envelope. */
function intakeItemOf(env: Forwardable, currentConfigSeq: number): IntakeItem {
  return {
    txId: env.txId,
    envelopeBytes: env.envelopeBytes,
    messageSizeBytes: env.messageSizeBytes,
    configSeq: env.configSeq ?? currentConfigSeq,
    ...(env.kind === 'config' ? { isConfig: true } : {}),
  };
}
