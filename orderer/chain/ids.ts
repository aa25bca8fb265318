// Where Raft indexes and block numbers meet: one Raft entry carries one block, but the two
// counters differ (conf changes and empty entries take indexes, not block numbers; a snapshot
// stands for many blocks). Branded so that one cannot be passed for the other by mistake.
// The Raft core keeps plain numbers (consensus/raft/api.ts); values are branded as they
// enter the Chain.

export type BlockNumber = number & { readonly __unit: 'block-number' };
/** A Raft log index as the Chain tracks it (applied, leader-ready, the raft_index of a block's metadata). */
export type ChainRaftIndex = number & { readonly __unit: 'raft-index' };

export function blockNumber(n: number): BlockNumber {
  return n as BlockNumber;
}

export function raftIndex(n: number): ChainRaftIndex {
  return n as ChainRaftIndex;
}
