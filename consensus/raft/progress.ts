// The leader's view of one follower (Raft thesis §3.5 nextIndex/matchIndex), with etcd's
// three replication states:
//  - probe: we do not know the follower's log end; send one MsgApp at a time and wait for
//    its answer (or a heartbeat response) before the next, backing off on rejections;
//  - replicate: the follower accepts our appends; stream entries optimistically, bounded by
//    the inflights window;
//  - snapshot: the entries it needs are compacted; a MsgSnap is in flight and nothing else
//    is sent until the caller reports the snapshot's fate.
import type { RaftIndex } from './api';
import { ProgressState } from './api';
import { RaftInvariantError } from './errors';
import { Inflights } from './inflights';

export class Progress {
  /** Highest index known to be replicated on the follower. */
  match: RaftIndex = 0;
  /** Index of the next entry to send. Invariant: match < next. */
  next: RaftIndex;
  /** Highest commit index sent to the follower (it may know less if messages were lost). */
  sentCommit: RaftIndex = 0;
  state: ProgressState = ProgressState.Probe;
  /** Index of the snapshot being sent, while in the snapshot state. */
  pendingSnapshot: RaftIndex = 0;
  /** Heard from since the last CheckQuorum round (or newly added). */
  recentActive = false;
  /** No MsgApp may be sent until this is cleared (probe sent, or window full). */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;

  constructor(
    next: RaftIndex,
    maxInflightMsgs: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      // After a snapshot the follower holds at least the snapshot; probe from just after it.
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: RaftIndex): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
    this.sentCommit = snapshotIndex;
  }

  /** Account for a MsgApp carrying entryCount entries just sent. */
  sentEntries(entryCount: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entryCount > 0) {
        this.next += entryCount;
        this.inflights.add(this.next - 1);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === ProgressState.Probe) {
      // One probe at a time: wait for its answer before sending more entries.
      if (entryCount > 0) this.msgAppFlowPaused = true;
    } else {
      throw new RaftInvariantError('sending entries to a follower in snapshot state');
    }
  }

  /** True if the follower may not know commit index `commit` and an (empty) MsgApp can tell it. */
  canBumpCommit(commit: RaftIndex): boolean {
    return commit > this.sentCommit && this.sentCommit < this.next - 1;
  }

  sentCommitIndex(commit: RaftIndex): void {
    this.sentCommit = commit;
  }

  /** An acknowledgement up to n; false if it tells us nothing new (stale or duplicate). */
  maybeUpdate(n: RaftIndex): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * A rejection of the MsgApp whose previous index was `rejected`; matchHint is the highest
   * index the follower may share with us. False when the rejection is stale.
   */
  maybeDecrTo(rejected: RaftIndex, matchHint: RaftIndex): boolean {
    if (this.state === ProgressState.Replicate) {
      // In replicate, next ran ahead optimistically: a rejection at or below match is stale.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      this.sentCommit = Math.min(this.sentCommit, this.next - 1);
      return true;
    }
    // In probe only the answer to the probe in flight (at next-1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.sentCommit = Math.min(this.sentCommit, this.next - 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    if (this.state === ProgressState.Snapshot) return true;
    return this.msgAppFlowPaused;
  }
}
