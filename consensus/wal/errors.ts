// Typed errors of the durable Raft storage (WAL, snapshots, directory lock).

export class WalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Stored data that fails its checks somewhere recovery must not guess: a bad record before
 * the end of the log, a missing segment, a snapshot the WAL cannot continue from.
 * `filePath` and `offsetBytes` say where, so an operator can inspect or repair it.
 */
export class CorruptionError extends WalError {
  constructor(
    readonly filePath: string,
    readonly offsetBytes: number,
    readonly reason: string,
  ) {
    super(`corrupt raft storage at ${filePath} offset ${offsetBytes}: ${reason}`);
  }
}

/** Another live process (or another open instance in this one) holds the directory's lock. */
export class WalLockedError extends WalError {
  constructor(
    readonly dir: string,
    readonly holderPid: number,
    readonly lockPath: string,
  ) {
    super(`raft storage directory ${dir} is locked by process ${holderPid} (lock file ${lockPath})`);
  }
}

/** Used after close(). */
export class WalClosedError extends WalError {
  constructor(dir: string) {
    super(`WAL in ${dir} is closed`);
  }
}

/**
 * A write or fsync failed earlier. After a failed fsync the kernel may have dropped the dirty
 * pages, so retrying could report durable what is not: the WAL refuses all further writes and
 * the process must reopen it (which replays what really reached the disk).
 */
export class WalFailedError extends WalError {
  constructor(dir: string, cause: unknown) {
    super(`WAL in ${dir} failed earlier and accepts no more writes: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}
