// Majority quorum arithmetic (Raft §5.2, §5.3). Only simple majorities: Fabric uses
// ConfChange v1, which never enters a joint configuration.
import type { NodeId, RaftIndex } from './api';

export enum VoteResult {
  Pending = 'pending',
  Lost = 'lost',
  Won = 'won',
}

export function majoritySize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index acknowledged by a majority of voters: sort match indexes descending
 * and take the quorum-th one. An empty voter set commits nothing.
 */
export function majorityCommittedIndex(
  voters: readonly NodeId[],
  matchOf: (id: NodeId) => RaftIndex,
): RaftIndex {
  const n = voters.length;
  if (n === 0) return 0;
  if (n === 1) return matchOf(voters[0]!);
  // Insertion sort, descending: clusters are small, and Array.prototype.sort allocates
  // on every call (this runs on every acknowledgement the leader receives).
  const matches = new Array<RaftIndex>(n);
  for (let i = 0; i < n; i++) {
    const m = matchOf(voters[i]!);
    let j = i;
    while (j > 0 && matches[j - 1]! < m) {
      matches[j] = matches[j - 1]!;
      j--;
    }
    matches[j] = m;
  }
  return matches[majoritySize(n) - 1]!;
}

/** Outcome of an election given the votes received so far (missing = not yet answered). */
export function majorityVoteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  if (voters.length === 0) return VoteResult.Won;
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = majoritySize(voters.length);
  if (granted >= q) return VoteResult.Won;
  if (granted + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}
