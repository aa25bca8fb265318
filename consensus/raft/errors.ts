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

/** step() received something it must not (local-only message type from the network, response from unknown peer...). */
export class StepRejectedError extends RaftError {}
