// Broadcast on any node, and what it promises. An envelope goes into this node's intake when it
// leads (and is ready), or is forwarded to the leader on the cluster's submit stream (Fabric §3.3).
// Two promises hold both ways:
//   - SUCCESS: the node keeps the envelope (AcceptedEnvelopes) until it sees it in a committed
//     block, hands it to every new leader and resends it when it stays unordered; the leader's
//     tx-id checks drop the duplicates this creates.
//   - a refusal means "not ordered": a forward overtaken by a leader change may still be queued
//     to the deposed leader and ordered, so before refusing, such forwards are waited for; if one
//     was queued after all, the envelope is acknowledged instead.
import type { Logger } from 'pino';
import type { ClusterTransport, NodeId } from '../../cluster/types';
import type { BlockStore } from '../../ledger/block-store';
import { common, type orderer } from '../../protos';
import { OrdererError } from '../errors';
import type { ParsedEnvelope } from '../msgcheck';
import { AcceptedEnvelopes, DEFAULT_MAX_ACCEPTED_BYTES, type AcceptedEnvelope } from './accepted';
import type { LeaderPipeline } from './leader-pipeline';
import type { ChainTimers } from './types';

/** How many leader changes one Broadcast rides out before it is refused. */
const MAX_FORWARD_ATTEMPTS = 4;
/**
 * Resends to a leader go out in chunks of about this many envelope bytes; the next chunk once the
 * previous one is queued on the stream, so a leader change does not put the whole accepted set
 * (up to its byte bound) into the egress queue at once.
 */
export const DEFAULT_RESEND_BUDGET_BYTES = 4 * 1024 * 1024;

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
  private readonly waiters = new Set<() => void>();
  readonly counters = { acknowledged: 0, resubmitted: 0 };

  constructor(private readonly o: ForwarderOptions) {
    this.accepted = new AcceptedEnvelopes(o.maxAccepted, o.maxAcceptedBytes ?? DEFAULT_MAX_ACCEPTED_BYTES);
  }

  get acceptedSize(): number {
    return this.accepted.size;
  }

  get acceptedBytes(): number {
    return this.accepted.bytes;
  }

  /** Broadcast: resolves once the envelope is in this leader's intake or queued to the leader. */
  async order(env: ParsedEnvelope): Promise<void> {
    // Room in the accepted set is reserved before the envelope is taken or forwarded: when the
    // set is full the refusal means "not ordered", and nothing acknowledged is ever evicted.
    // A client retry of a tracked tx id needs no new room.
    const bytes = env.envelopeBytes.length;
    const reserved = env.txId !== '' && !this.accepted.has(env.txId);
    if (reserved && !this.accepted.tryReserve(bytes)) {
      throw OrdererError.serviceUnavailable('too many envelopes accepted and not yet ordered');
    }
    try {
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
      if (env.txId !== '') {
        const now = this.o.timers.nowMs();
        this.accepted.add({ txId: env.txId, envelopeBytes: env.envelopeBytes, messageSizeBytes: env.messageSizeBytes, acceptedAtMs: now, lastSentAtMs: now });
      }
    } finally {
      if (reserved) this.accepted.release(bytes);
    }
  }

  /** Takes the envelope into this leader's intake or forwards it; throws OrdererError when neither happened. */
  private async forwardOrTake(env: ParsedEnvelope, overtaken: Promise<void>[]): Promise<void> {
    const pipeline = this.o.pipeline;
    for (let attempt = 0; ; attempt++) {
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
        if (pipeline.enqueue({ txId: env.txId, envelopeBytes: env.envelopeBytes, messageSizeBytes: env.messageSizeBytes }, true)) this.o.kick();
        return;
      }
      // A forward waits for room on the leader's stream (up to the RPC timeout); if the
      // leader changes meanwhile we move on to the next one instead of waiting that out.
      const req: orderer.SubmitRequestInit = { channel: this.o.channelId, lastValidationSeq: this.o.configSequence(), payload: env.envelope };
      const sent = this.o.transport.sendSubmit(this.o.channelId, leader, req);
      let outcome: 'sent' | 'leader-changed';
      try {
        outcome = await new Promise<'sent' | 'leader-changed'>((resolve, reject) => {
          const onLeaderChange = (): void => resolve('leader-changed');
          this.waiters.add(onLeaderChange);
          sent.then(
            () => {
              this.waiters.delete(onLeaderChange);
              resolve('sent');
            },
            (err: unknown) => {
              this.waiters.delete(onLeaderChange);
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
      if (attempt + 1 >= MAX_FORWARD_ATTEMPTS) throw OrdererError.serviceUnavailable('the Raft leader keeps changing; try again');
    }
  }

  /** The leader changed (or the chain halted): forwards waiting for room move on now. */
  wakeWaiters(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }

  /** A forward reached this node, which does not lead: Fabric forwards it again. */
  forwardAgain(from: NodeId, req: orderer.SubmitRequest): void {
    const leader = this.o.leaderId();
    if (req.payload === undefined || leader === 0 || leader === this.o.selfId || leader === from) return;
    this.o.transport
      .sendSubmit(this.o.channelId, leader, { channel: this.o.channelId, lastValidationSeq: req.lastValidationSeq, payload: req.payload })
      .catch(() => undefined);
  }

  /** These tx ids are in a committed block. */
  settle(txIds: readonly string[]): void {
    for (const txId of txIds) this.accepted.settle(txId);
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
          .sendSubmit(this.o.channelId, leader, { channel: this.o.channelId, lastValidationSeq: this.o.configSequence(), payload })
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
