// The preferred leader (issue #15): an operator ranks consenters (Consensus.PreferredLeaders,
// highest first) and a leader that is not the best-ranked healthy consenter hands leadership to
// it, after a quiet period. The idea is the rank priority of Ceph's monitor elector; the
// hand-over is Raft's own leadership transfer (MsgTransferLeader), so a preference can delay
// a hand-over but never elect anyone: Raft's safety is untouched.
//
// It must never hurt liveness, hence the guards, each one a reason to do nothing this tick:
//   - only a leader that has been leader and ready (log applied, no membership change pending)
//     for the quiet period acts: no transfer while an election settles;
//   - none while a transfer is in progress (Raft's leadTransferee);
//   - the target must have answered recently and been in replicate state for the quiet period
//     without a gap (a node that was unreachable, probed or sent a snapshot starts again), and
//     keep pace: hold everything committed half an election timeout ago. Not "match equals the
//     last index": under a steady stream a follower with a slower link is always an entry or a
//     few behind (the simulator showed it), and Raft's transfer itself closes that gap: the
//     leader takes no proposals while it transfers, tells the target to campaign only once it
//     holds the last index, and gives up after an election timeout;
//   - after a transfer that did not make the target leader, an exponential back-off (capped).
// Pure and deterministic: it counts the chain's ticks, never a clock, so the simulator replays it.
import type { Logger } from 'pino';
import type { NodeId } from '../../cluster/types';
import { ProgressState, type PeerProgress } from '../../consensus/raft/api';

export interface PreferredLeaderConfig {
  /** Ticks the leader and the target must have been healthy before a transfer. */
  readonly quietTicks: number;
  /** The channel's ElectionTick: how stale an answer may be, and how long a transfer may take. */
  readonly electionTick: number;
}

/** What the chain tells the policy on each tick. */
export interface PreferredLeaderInput {
  readonly tick: number;
  readonly selfId: NodeId;
  /** Raft ids ranked, highest first, restricted to the channel's current consenters. */
  readonly ranking: readonly NodeId[];
  readonly leaderId: NodeId;
  readonly isLeader: boolean;
  /** Leader with its log applied, no membership change pending, not halted, not catching up. */
  readonly leaderReady: boolean;
  /** Raft's leadTransferee is set. */
  readonly transferInProgress: boolean;
  readonly commitIndex: number;
  /** The leader's view of its peers (empty on a follower). */
  readonly progress: ReadonlyMap<NodeId, Pick<PeerProgress, 'match' | 'state' | 'recentActive'>>;
}

export type PreferredLeaderEvent =
  | { kind: 'transfer'; to: NodeId; match: number; commitIndex: number }
  | { kind: 'transfer-succeeded'; to: NodeId }
  | { kind: 'transfer-failed'; to: NodeId; leaderId: NodeId; failures: number; backoffTicks: number };

/** For status(): where the preference stands on this node. */
export interface PreferredLeaderStatus {
  /** The best-ranked consenter of the channel (0 when the list names none of them). */
  preferredLeaderId: NodeId;
  /** A transfer this node started and is waiting on (0 when none). */
  transferringTo: NodeId;
  /** Transfers in a row that did not make their target leader. */
  consecutiveFailures: number;
  /** Ticks left before this node tries again (0 when not backing off). */
  backoffRemainingTicks: number;
  /** Transfers this node started since it started. */
  transfersStarted: number;
}

/** The back-off after the n-th failure in a row is base x 2^(n-1), at most this many bases. */
const MAX_BACKOFF_FACTOR = 16;

export class PreferredLeaderPolicy {
  /** The tick since which this node has been leader and ready without a break. */
  private readySince: number | undefined;
  /** Per peer: since when it has been answering and in replicate state without a break, and when it last answered. */
  private readonly health = new Map<NodeId, { healthySince: number; lastActiveTick: number; lastReplicateTick: number }>();
  private pending: { to: NodeId; atTick: number } | undefined;
  private failures = 0;
  private backoffUntilTick = 0;
  private transfersStarted = 0;
  private lastTick = 0;
  private preferredId: NodeId = 0;
  /** The commit index at each of the last ticks as leader, oldest first (the pace a target must keep). */
  private readonly commits: number[] = [];

  constructor(private readonly config: PreferredLeaderConfig) {}

  /** One tick: the events to log, and at most one transfer to start. */
  onTick(input: PreferredLeaderInput): PreferredLeaderEvent[] {
    const events: PreferredLeaderEvent[] = [];
    this.lastTick = input.tick;
    this.preferredId = input.ranking[0] ?? 0;
    this.settlePending(input, events);
    if (!input.isLeader) {
      this.readySince = undefined;
      this.health.clear();
      this.commits.length = 0;
      return events;
    }
    this.trackHealth(input);
    this.commits.push(input.commitIndex);
    if (this.commits.length > Math.max(1, Math.ceil(this.config.electionTick / 2)) + 1) this.commits.shift();
    if (!input.leaderReady) {
      this.readySince = undefined;
      return events;
    }
    this.readySince ??= input.tick;
    const target = this.target(input);
    if (target === undefined) return events;
    if (input.tick - this.readySince < this.config.quietTicks) return events;
    if (input.transferInProgress || this.pending !== undefined) return events;
    if (input.tick < this.backoffUntilTick) return events;
    const pr = input.progress.get(target);
    const paceIndex = this.commits[0]!;
    if (pr === undefined || pr.state !== ProgressState.Replicate || pr.match < paceIndex) return events;
    this.pending = { to: target, atTick: input.tick };
    this.transfersStarted++;
    events.push({ kind: 'transfer', to: target, match: pr.match, commitIndex: input.commitIndex });
    return events;
  }

  status(): PreferredLeaderStatus {
    return {
      preferredLeaderId: this.preferredId,
      transferringTo: this.pending?.to ?? 0,
      consecutiveFailures: this.failures,
      backoffRemainingTicks: Math.max(0, this.backoffUntilTick - this.lastTick),
      transfersStarted: this.transfersStarted,
    };
  }

  /**
   * The best-ranked consenter above this leader that answers, once it has been healthy for the
   * quiet period (until then: wait for it rather than hand over to one ranked lower, which
   * would make two transfers of one). Consenters that do not answer are passed over (they may
   * be down for good); when one comes back, the leader then in place hands over to it in turn.
   */
  private target(input: PreferredLeaderInput): NodeId | undefined {
    for (const id of input.ranking) {
      if (id === input.selfId) return undefined; // nobody answering ranks above this leader
      const h = this.health.get(id);
      if (h === undefined || input.tick - h.lastActiveTick > this.config.electionTick) continue;
      return input.tick - h.healthySince >= this.config.quietTicks ? id : undefined;
    }
    return undefined;
  }

  private trackHealth(input: PreferredLeaderInput): void {
    for (const [id, pr] of input.progress) {
      if (id === input.selfId) continue;
      const h = this.health.get(id);
      const lastActiveTick = pr.recentActive ? input.tick : (h?.lastActiveTick ?? -Infinity);
      const lastReplicateTick = pr.state === ProgressState.Replicate ? input.tick : (h?.lastReplicateTick ?? -Infinity);
      // Raft clears recentActive at each quorum check (every election timeout) until the next
      // answer, and a reordered append sends a follower back to probing for a round trip: an
      // answer, and replication, within an election timeout count as healthy. An unreachable
      // node (probing on and on, or silent) or one being sent a snapshot starts again.
      const healthy = input.tick - lastActiveTick <= this.config.electionTick && input.tick - lastReplicateTick <= this.config.electionTick;
      const healthySince = !healthy ? Infinity : h !== undefined && h.healthySince !== Infinity ? h.healthySince : input.tick;
      this.health.set(id, { healthySince, lastActiveTick, lastReplicateTick });
    }
    for (const id of [...this.health.keys()]) if (!input.progress.has(id)) this.health.delete(id);
  }

  /** A transfer is judged two election timeouts after it started: its target leads, or it failed. */
  private settlePending(input: PreferredLeaderInput, events: PreferredLeaderEvent[]): void {
    const p = this.pending;
    if (p === undefined) return;
    if (input.leaderId === p.to && !input.isLeader) {
      this.pending = undefined;
      this.failures = 0;
      this.backoffUntilTick = 0;
      events.push({ kind: 'transfer-succeeded', to: p.to });
      return;
    }
    if (input.tick - p.atTick < 2 * this.config.electionTick) return;
    this.pending = undefined;
    this.failures++;
    const baseTicks = Math.max(this.config.quietTicks, 2 * this.config.electionTick);
    const backoffTicks = baseTicks * Math.min(MAX_BACKOFF_FACTOR, 2 ** (this.failures - 1));
    this.backoffUntilTick = input.tick + backoffTicks;
    events.push({ kind: 'transfer-failed', to: p.to, leaderId: input.leaderId, failures: this.failures, backoffTicks });
  }
}

/**
 * The configured endpoints (host:port, highest first) as Raft ids of the channel's consenters;
 * entries that name no consenter are returned apart (warned about once per channel).
 */
export function rankConsenters(
  endpoints: readonly string[],
  members: readonly { id: NodeId; host: string; port: number }[],
): { ranking: NodeId[]; unknown: string[] } {
  const ranking: NodeId[] = [];
  const unknown: string[] = [];
  for (const endpoint of endpoints) {
    const m = members.find((c) => `${c.host}:${c.port}` === endpoint.trim());
    if (m === undefined) unknown.push(endpoint);
    else if (!ranking.includes(m.id)) ranking.push(m.id);
  }
  return { ranking, unknown };
}

/**
 * The Chain's side of the preference: ranks the channel's current consenters (again whenever a
 * config block changes them), feeds the policy each tick, logs its decisions and starts the
 * transfers it asks for.
 */
export class PreferredLeaderDriver {
  private readonly policy: PreferredLeaderPolicy;
  private ranked: { members: readonly { id: NodeId; host: string; port: number }[]; ids: readonly NodeId[] } | undefined;

  constructor(
    private readonly o: {
      /** Consensus.PreferredLeaders: consenter endpoints, highest rank first. */
      endpoints: readonly string[];
      config: PreferredLeaderConfig;
      logger: Logger;
      /** Starts Raft's leadership transfer to `to`. */
      transfer(to: NodeId): void;
    },
  ) {
    this.policy = new PreferredLeaderPolicy(o.config);
  }

  status(): PreferredLeaderStatus {
    return this.policy.status();
  }

  onTick(members: readonly { id: NodeId; host: string; port: number }[], input: Omit<PreferredLeaderInput, 'ranking'>): void {
    if (this.ranked?.members !== members) {
      const { ranking, unknown } = rankConsenters(this.o.endpoints, members);
      if (unknown.length > 0 && this.ranked === undefined) {
        this.o.logger.warn({ unknown }, 'Consensus.PreferredLeaders names endpoints that are not consenters of this channel; ignored');
      }
      this.ranked = { members, ids: ranking };
    }
    for (const ev of this.policy.onTick({ ...input, ranking: this.ranked.ids })) {
      switch (ev.kind) {
        case 'transfer':
          this.o.logger.info({ to: ev.to, match: ev.match, commit: ev.commitIndex }, 'handing leadership to the preferred leader');
          this.o.transfer(ev.to);
          break;
        case 'transfer-succeeded':
          this.o.logger.info({ leader: ev.to }, 'the preferred leader took over');
          break;
        case 'transfer-failed':
          this.o.logger.info({ to: ev.to, leader: ev.leaderId, failures: ev.failures, backoffTicks: ev.backoffTicks }, 'leadership transfer to the preferred leader failed; backing off');
          break;
      }
    }
  }
}
