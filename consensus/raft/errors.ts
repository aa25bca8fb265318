// Typed errors of the Raft core and its storage.

export class RaftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Requested entries were compacted away; the peer needs a snapshot. */
export class CompactedError extends RaftError {
  constructor(index: number) {
    super(`requested index ${index} is unavailable due to compaction`);
  }
}

/** Requested entries are beyond the last index in storage. */
export class UnavailableError extends RaftError {
  constructor(index: number) {
    super(`requested entry at index ${index} is unavailable`);
  }
}

export class SnapshotOutOfDateError extends RaftError {
  constructor(index: number, current: number) {
    super(`snapshot at index ${index} is older than the current snapshot at ${current}`);
  }
}

export class SnapshotTemporarilyUnavailableError extends RaftError {
  constructor() {
    super('snapshot is temporarily unavailable');
  }
}

/** A proposal that Raft did not accept: no leader, forwarding disabled, transfer in progress, removed node... */
export class ProposalDroppedError extends RaftError {
  constructor(readonly reason: string) {
    super(`raft proposal dropped: ${reason}`);
  }
}

/** A configuration change refused because another is still pending, or invalid. */
export class ConfChangeRefusedError extends RaftError {}

/**
 * Refused because an earlier conf change (or a new leader's first entry) is not applied yet:
 * only one change at a time (thesis §4.1). Benign: the earlier one commits or is overwritten.
 */
export class ConfChangePendingError extends ConfChangeRefusedError {
  constructor(
    readonly pendingIndex: number,
    readonly appliedIndex: number,
  ) {
    super(`another configuration change is pending: conf change or leader entry at index ${pendingIndex} is not applied yet (applied ${appliedIndex})`);
  }
}

/** step() received something it must not (local-only message type from the network, response from unknown peer...). */
export class StepRejectedError extends RaftError {}

/**
 * A broken invariant, not a refusal: the state this node holds or was handed cannot be right
 * (its log lost entries it had acknowledged, a committed entry would be overwritten, a message
 * meant for another node reached it, the caller broke the Ready contract). Continuing could
 * fork the log or count a vote twice, so the caller must stop this Raft node: etcd panics and
 * Fabric halts the chain. Benign refusals (ProposalDroppedError, ConfChangeRefusedError,
 * StepRejectedError) never use this type.
 */
export class RaftInvariantError extends RaftError {}

/**
 * The leader reports index `commitIndex` committed while this node's log ends at `lastIndex`.
 * The leader only reports what this node acknowledged as durable, so entries it once held are
 * gone: its storage lost them (a WAL truncated by repair, a disk that lied about fsync, a
 * directory restored from an old copy).
 */
export class RaftLogLostError extends RaftInvariantError {
  constructor(
    readonly commitIndex: number,
    readonly lastIndex: number,
  ) {
    super(`commit index ${commitIndex} is beyond the last log index ${lastIndex}: entries this node acknowledged are missing from its log`);
  }
}

/** A message from the network whose `to` is not this node: misrouted, or two nodes hold the same id. */
export class RaftMisaddressedError extends RaftInvariantError {
  constructor(
    readonly messageTo: number,
    readonly selfId: number,
    description: string,
  ) {
    super(`${description} is addressed to node ${messageTo}, but this is node ${selfId}`);
  }
}
