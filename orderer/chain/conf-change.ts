// The leader's side of a consenter change (Fabric §3.5-3.7): once a config block changed the
// consenters, the ready leader proposes the one Raft conf change that brings Raft's voters to
// them (a new leader re-proposes what its predecessor could not), retried if Raft dropped it; a
// leader that is itself removed hands leadership to a caught-up follower first, and the next
// leader proposes the removal. The Chain calls it on its ticks; Raft itself is reached through
// the three RawNode calls below.
import type { Logger } from 'pino';
import type { NodeId } from '../../cluster/types';
import { ConfChangePendingError, ProposalDroppedError } from '../../consensus/raft/errors';
import type { RawNode } from '../../consensus/raft/rawnode';
import { raftpb } from '../../protos';

/** What the proposer needs of the chain at each step. */
export interface ConfChangeView {
  readonly tick: number;
  /** The consenters of the last config block, by Raft id. */
  readonly members: readonly NodeId[];
  /** Raft's voters as of the last conf change it applied. */
  readonly voters: ReadonlySet<NodeId>;
  readonly electionTick: number;
}

/** The consenters of the last config block are not (yet) Raft's voters. */
export function membershipPending(members: readonly NodeId[], voters: ReadonlySet<NodeId>): boolean {
  if (members.length !== voters.size) return true;
  return members.some((id) => !voters.has(id));
}

export class ConfChangeProposer {
  /** The conf change proposed and waited for (at `atTick`; retried if Raft dropped it). */
  private proposed: { atTick: number } | undefined;
  /** The last hand-over of a leader that is removed (one try per two election timeouts). */
  private lastTransferTick = -Infinity;

  constructor(
    private readonly o: {
      selfId: NodeId;
      node: Pick<RawNode, 'status' | 'proposeConfChange' | 'transferLeadership'>;
      /** The last index of this node's Raft log (logged with a hand-over). */
      lastIndex(): number;
      logger: Logger;
    },
  ) {}

  /** A conf change was proposed and not applied yet. */
  get waiting(): boolean {
    return this.proposed !== undefined;
  }

  /** Ticks since this leader last handed its leadership over for its own removal. */
  ticksSinceRemovalTransfer(tick: number): number {
    return tick - this.lastTransferTick;
  }

  /** Raft applied a conf change: the next one may be proposed. */
  applied(): void {
    this.proposed = undefined;
  }

  /** On a ready leader with membership pending: the next conf change, or the hand-over of a removed leader. */
  step(v: ConfChangeView): void {
    const retryTicks = 2 * v.electionTick;
    if (this.proposed !== undefined && v.tick - this.proposed.atTick < retryTicks) return;
    const toAdd = v.members.filter((id) => !v.voters.has(id));
    const toRemove = [...v.voters].filter((id) => !v.members.includes(id));
    if (toRemove.includes(this.o.selfId)) {
      this.transferAway(v, retryTicks);
      return;
    }
    let cc: raftpb.ConfChangeInit;
    if (toAdd.length > 0) cc = { type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: toAdd[0]! };
    else if (toRemove.length > 0) cc = { type: raftpb.ConfChangeType.ConfChangeRemoveNode, nodeId: toRemove[0]! };
    else return;
    this.proposed = { atTick: v.tick };
    this.o.logger.info({ type: raftpb.ConfChangeType[cc.type!], nodeId: cc.nodeId }, 'proposing the raft membership change of the last config block');
    try {
      this.o.node.proposeConfChange(cc);
    } catch (err) {
      if (err instanceof ConfChangePendingError) {
        // The retry of a change Raft still holds, uncommitted (a quorum down since it was
        // proposed): it commits when the quorum is back, or a new leader overwrites it and
        // proposes again. Waiting is all there is to do; halting the channel for it was wrong.
        this.o.logger.info({ pendingIndex: err.pendingIndex, appliedIndex: err.appliedIndex }, 'raft membership change still pending; waiting for it');
        return;
      }
      if (!(err instanceof ProposalDroppedError)) throw err;
      this.o.logger.warn({ reason: err.reason }, 'raft membership change proposal dropped; retrying later');
    }
  }

  /** A removed leader hands over to the consenter with the most of its log that answered recently. */
  private transferAway(v: ConfChangeView, retryTicks: number): void {
    if (v.tick - this.lastTransferTick < retryTicks) return;
    const st = this.o.node.status();
    if (st.leadTransferee !== 0) return;
    let best: NodeId = 0;
    let bestMatch = -1;
    for (const [id, pr] of st.progress) {
      if (id === this.o.selfId || !v.members.includes(id) || !pr.recentActive) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === 0) return;
    this.lastTransferTick = v.tick;
    this.o.logger.info({ to: best, match: bestMatch, lastIndex: this.o.lastIndex() }, 'this leader is removed from the channel: handing leadership over first');
    this.o.node.transferLeadership(best);
  }
}
