// The preferred-leader checks of a whole-orderer run (a sixth of the seeds rank the consenters,
// issue #15): who leads since when, the transfers the nodes started, and the two invariants.
// - Without faults the preferred node leads once the bound passed, and keeps leading.
// - At the end leadership rests on the best-ranked running consenter since before the bound,
//   after at most one transfer (no faults) or one per rank climbed after the heal (no ping-pong).
import { InvariantViolation } from '../trace';
import type { SimOrdererNode } from './orderer-node';
import type { OrdererSimParams } from './params';

type Preference = NonNullable<OrdererSimParams['preferred']>;

/** The counters of the run's stats this watch fills. */
export interface PreferenceStats {
  preferenceRuns: number;
  preferenceCalmRuns: number;
  preferenceTransfers: number;
  preferenceHandovers: number;
}

/**
 * How long after the start (no faults) or the heal (with faults) leadership may take to settle on
 * the best-ranked running consenter, beyond the quiet period. Without faults: the first election
 * (the designated campaigner's or a randomized timeout, at most two election timeouts), the quiet
 * period, then Raft's transfer (the target catches up and campaigns at once; one more election
 * timeout covers a vote lost to a pre-vote in flight). After the heal: elections among the
 * restarted nodes (up to four election timeouts), the restarted nodes' catch-up (a pull's stream
 * opens within 1 s), and any back-off a node carried out of the fault phase (added at the heal).
 */
function settleMs(quietMs: number, electionMs: number, noFaults: boolean): number {
  return noFaults ? quietMs + 3 * electionMs + 500 : quietMs + 6 * electionMs + 2_000;
}

/** After the bound, the preferred node must have kept its leadership this long for the run to end. */
export const PREFERENCE_HOLD_MS = 1_000;

export class PreferenceWatch {
  /** Transfers started per node incarnation ("id#incarnation"), as its status counts them. */
  private readonly transfersBy = new Map<string, number>();
  private transfersAtHeal = 0;
  /** The leader (highest term) since when. */
  private leading = { id: 0, sinceMs: 0 };
  private firstLeader = 0;
  /** By when leadership must have settled on the best-ranked running consenter. */
  settleByMs = Infinity;

  constructor(
    private readonly pref: Preference,
    private readonly electionMs: number,
    private readonly stats: PreferenceStats,
  ) {
    stats.preferenceRuns++;
    if (pref.noFaults) {
      stats.preferenceCalmRuns++;
      this.settleByMs = settleMs(pref.quietMs, electionMs, true);
    }
  }

  /** At the heal of a run with faults: the bound starts now, plus the longest back-off a running node carries. Returns it for the trace. */
  healed(nowMs: number, nodes: readonly SimOrdererNode[], tickIntervalMs: number): { settleByMs: number; backoffMs: number } | undefined {
    if (this.pref.noFaults) return undefined;
    let backoffMs = 0;
    for (const n of nodes) backoffMs = Math.max(backoffMs, (n.status()?.preferredLeader?.backoffRemainingTicks ?? 0) * tickIntervalMs);
    this.settleByMs = nowMs + settleMs(this.pref.quietMs, this.electionMs, false) + backoffMs;
    this.transfersAtHeal = this.transfersStarted();
    return { settleByMs: this.settleByMs, backoffMs };
  }

  /** After every instant: who leads since when, transfers counted; without faults the preferred node leads once the bound passed. */
  observe(nowMs: number, leader: number, nodes: readonly SimOrdererNode[]): void {
    for (const n of nodes) {
      const started = n.status()?.preferredLeader?.transfersStarted;
      if (started !== undefined) this.transfersBy.set(`${n.id}#${n.incarnation}`, started);
    }
    if (leader !== this.leading.id) {
      if (leader !== 0 && this.firstLeader === 0) this.firstLeader = leader;
      this.leading = { id: leader, sinceMs: nowMs };
    }
    const pref = this.pref;
    if (pref.noFaults && nowMs >= this.settleByMs && leader !== pref.ranking[0]) {
      throw new InvariantViolation(
        'with no faults the preferred node leads within the bound and stays leader',
        `node ${pref.ranking[0]} ranks first (${pref.ranking.join('>')}); at ${nowMs}ms (bound ${this.settleByMs}ms) the leader is ${leader || 'none'} (first leader ${this.firstLeader}), ${this.transfersStarted()} transfers`,
        nowMs,
        pref.ranking[0],
      );
    }
  }

  /** At the end: settled on the best-ranked running consenter in time, without ping-pong. */
  checkSettled(nowMs: number, nodes: readonly SimOrdererNode[], nodeCount: number): void {
    const pref = this.pref;
    const transfers = this.transfersStarted();
    this.stats.preferenceTransfers += transfers;
    const best = pref.ranking.find((id) => {
      const n = nodes[id - 1]!;
      return n.up && n.brokenReason === undefined && n.status()?.halted === false;
    });
    const { id, sinceMs } = this.leading;
    if (id !== best || sinceMs > this.settleByMs) {
      throw new InvariantViolation(
        'leadership settles on the best-ranked running consenter within the bound',
        `ranking ${pref.ranking.join('>')}, best running ${best}; leader ${id || 'none'} since ${sinceMs}ms, bound ${this.settleByMs}ms, end ${nowMs}ms, ${transfers} transfers`,
        nowMs,
        best,
      );
    }
    if (this.firstLeader !== pref.ranking[0] && id === pref.ranking[0]) this.stats.preferenceHandovers++;
    // No ping-pong: without faults one hand-over at most; after the heal, at most one per rank climbed.
    const allowed = pref.noFaults ? 1 : nodeCount - 1;
    const counted = pref.noFaults ? transfers : transfers - this.transfersAtHeal;
    if (counted > allowed) {
      throw new InvariantViolation('no leadership ping-pong', `${counted} preference transfers ${pref.noFaults ? 'in the run' : 'after the heal'} (at most ${allowed})`, nowMs, id);
    }
  }

  private transfersStarted(): number {
    let n = 0;
    for (const v of this.transfersBy.values()) n += v;
    return n;
  }
}
