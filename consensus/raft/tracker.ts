// The configuration (voters, learners) and the per-member Progress the leader keeps, plus
// the votes of the current election. Ids are kept sorted so every walk over the members
// (broadcasts, campaigns) happens in the same order on every run.
import type { raftpb } from '../../protos';
import type { NodeId, RaftIndex } from './api';
import { Progress } from './progress';
import { majorityCommittedIndex, majorityVoteResult, VoteResult } from './quorum';

export interface VoteTally {
  granted: number;
  rejected: number;
  result: VoteResult;
}

export class ProgressTracker {
  /** Sorted ids of voters. */
  voters: NodeId[] = [];
  /** Sorted ids of learners (disjoint from voters). */
  learners: NodeId[] = [];
  readonly progress = new Map<NodeId, Progress>();
  /** Sorted ids of all members (voters and learners). */
  private memberIds: NodeId[] = [];
  private readonly votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflightMsgs: number) {}

  /** All members in ascending id order. */
  ids(): readonly NodeId[] {
    return this.memberIds;
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** Replace the membership; progress must already hold exactly voters + learners. */
  setConfig(voters: NodeId[], learners: NodeId[]): void {
    this.voters = [...voters].sort((a, b) => a - b);
    this.learners = [...learners].sort((a, b) => a - b);
    this.memberIds = [...this.voters, ...this.learners].sort((a, b) => a - b);
  }

  /** Highest index replicated on a majority of voters. */
  committed(): RaftIndex {
    return majorityCommittedIndex(this.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  isSingleton(): boolean {
    return this.voters.length === 1 && this.learners.length === 0;
  }

  /** CheckQuorum: did a majority of voters talk to us during the last election timeout? */
  quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.voters) active.set(id, this.progress.get(id)?.recentActive ?? false);
    return majorityVoteResult(this.voters, active) === VoteResult.Won;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Record a vote; only the first answer of each voter counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): VoteTally {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: majorityVoteResult(this.voters, this.votes) };
  }

  confState(): raftpb.ConfState {
    return {
      voters: [...this.voters],
      learners: [...this.learners],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
  }
}
