// The Raft log as the state machine sees it: stable storage (read-only here) followed by
// the unstable tail, with the commit, applying and applied positions.
//   firstIndex ... applied <= applying <= committed ... lastIndex
import type { raftpb } from '../../protos';
import type { RaftIndex, RaftLogger, RaftTerm, Storage } from './api';
import { CompactedError, RaftInvariantError, RaftLogLostError, UnavailableError } from './errors';
import { Unstable } from './unstable';
import { entriesSizeBytes, limitSize } from './util';

export const NO_LIMIT = Number.POSITIVE_INFINITY;

export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known committed (Raft §5.3). */
  committed: RaftIndex;
  /** Highest index handed to the application in a Ready, not yet confirmed by advance(). */
  applying: RaftIndex;
  /** Highest index the application has applied. */
  applied: RaftIndex;
  private readonly maxApplyingBytes: number;
  private applyingBytes = 0;
  /** Committed entries are withheld while too many bytes are being applied. */
  private applyingPaused = false;

  constructor(
    readonly storage: Storage,
    private readonly logger: RaftLogger,
    maxApplyingBytes: number,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
    this.maxApplyingBytes = maxApplyingBytes > 0 ? maxApplyingBytes : NO_LIMIT;
  }

  firstIndex(): RaftIndex {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): RaftIndex {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term of entry i, or undefined if i is compacted or beyond the log. */
  maybeTerm(i: RaftIndex): RaftTerm | undefined {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    // The term of the entry just before the first one is kept (snapshot / dummy entry).
    if (i + 1 < this.firstIndex() || i > this.lastIndex()) return undefined;
    if (i >= this.unstable.offset) return undefined;
    return this.storage.term(i);
  }

  /** Term of entry i; throws CompactedError / UnavailableError. */
  term(i: RaftIndex): RaftTerm {
    const t = this.maybeTerm(i);
    if (t !== undefined) return t;
    if (i + 1 < this.firstIndex()) throw new CompactedError(i);
    throw new UnavailableError(i);
  }

  lastTerm(): RaftTerm {
    return this.term(this.lastIndex());
  }

  matchTerm(i: RaftIndex, term: RaftTerm): boolean {
    return this.maybeTerm(i) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: RaftIndex, lastTerm: RaftTerm): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of MsgApp (Raft §5.3): if our log has (prevIndex, prevTerm), append the
   * entries, dropping a conflicting suffix, and commit up to min(commit, last new index).
   * Returns the last index covered by the message, or undefined when the log does not match.
   */
  maybeAppend(prevIndex: RaftIndex, prevTerm: RaftTerm, commit: RaftIndex, ents: raftpb.Entry[]): RaftIndex | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new RaftInvariantError(`entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(ents.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  append(ents: raftpb.Entry[]): RaftIndex {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) {
      throw new RaftInvariantError(`cannot append after ${after}: below committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * Index of the first entry that is new or whose term differs from ours, 0 if all of them
   * are already in the log with the same terms.
   */
  findConflict(ents: raftpb.Entry[]): RaftIndex {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) {
        if (e.index <= this.lastIndex()) {
          this.logger.info({ index: e.index, existingTerm: this.maybeTerm(e.index) ?? 0, conflictingTerm: e.term }, 'found conflict');
        }
        return e.index;
      }
    }
    return 0;
  }

  /**
   * Fast backtracking (etcd's findConflictByTerm): the largest index <= index whose term is
   * <= term, with that term. Entries above it cannot match a log whose entry at `index` has
   * `term`, so the leader can skip them in one round trip. Returns [index, 0] when the
   * term at index is not known (compacted).
   */
  findConflictByTerm(index: RaftIndex, term: RaftTerm): [RaftIndex, RaftTerm] {
    for (let i = index; i > 0; i--) {
      const ourTerm = this.maybeTerm(i);
      if (ourTerm === undefined) return [i, 0];
      if (ourTerm <= term) return [i, ourTerm];
    }
    return [0, 0];
  }

  commitTo(toCommit: RaftIndex): void {
    if (this.committed >= toCommit) return;
    // Nobody may report an index committed that this log does not hold: a leader sends at most
    // what we acknowledged as durable, so the entries between were lost here.
    if (this.lastIndex() < toCommit) throw new RaftLogLostError(toCommit, this.lastIndex());
    this.committed = toCommit;
  }

  /** Raft §5.4.2: only an entry of the current term commits by counting replicas. */
  maybeCommit(index: RaftIndex, term: RaftTerm): boolean {
    if (index > this.committed && this.matchTerm(index, term)) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  nextUnstableEntries(): raftpb.Entry[] {
    return this.unstable.nextEntries();
  }

  hasNextUnstableEntries(): boolean {
    return this.unstable.hasNextEntries();
  }

  nextUnstableSnapshot(): raftpb.Snapshot | undefined {
    return this.unstable.nextSnapshot();
  }

  hasNextOrInProgressSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  hasNextCommittedEntries(): boolean {
    if (this.applyingPaused || this.hasNextOrInProgressSnapshot()) return false;
    return this.applying < this.committed;
  }

  /** Committed entries not yet handed out, bounded by maxCommittedSizePerReadyBytes. */
  nextCommittedEntries(): raftpb.Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const maxBytes = this.maxApplyingBytes - this.applyingBytes;
    return this.slice(this.applying + 1, this.committed + 1, maxBytes);
  }

  /** Whether committed-entry batches are byte-limited (sizes need computing at all). */
  get limitsApplyingBytes(): boolean {
    return this.maxApplyingBytes !== NO_LIMIT;
  }

  acceptApplying(index: RaftIndex, sizeBytes: number): void {
    this.applying = index;
    this.applyingBytes += sizeBytes;
    // Pause while over budget, or while a partial batch is out (the rest waits for advance()).
    this.applyingPaused = this.applyingBytes >= this.maxApplyingBytes || index < this.committed;
  }

  appliedTo(index: RaftIndex, sizeBytes: number): void {
    if (index > this.committed || index < this.applied) {
      throw new RaftInvariantError(`applied ${index} is out of range [${this.applied}, ${this.committed}]`);
    }
    this.applied = index;
    this.applying = Math.max(this.applying, index);
    this.applyingBytes = Math.max(0, this.applyingBytes - sizeBytes);
    this.applyingPaused = this.applyingBytes >= this.maxApplyingBytes;
  }

  stableTo(index: RaftIndex, term: RaftTerm): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: RaftIndex): void {
    this.unstable.stableSnapTo(index);
  }

  acceptUnstable(): void {
    this.unstable.acceptInProgress();
  }

  snapshot(): raftpb.Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(s: raftpb.Snapshot): void {
    this.logger.info({ index: s.metadata.index, term: s.metadata.term }, 'log restores snapshot');
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries from i to the end, at most maxBytes (at least one). Throws CompactedError. */
  entries(i: RaftIndex, maxBytes: number): raftpb.Entry[] {
    const last = this.lastIndex();
    if (i > last) return [];
    return this.slice(i, last + 1, maxBytes);
  }

  /** Entries [lo, hi) limited to maxBytes (at least one). Throws CompactedError below firstIndex. */
  slice(lo: RaftIndex, hi: RaftIndex, maxBytes: number): raftpb.Entry[] {
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new RaftInvariantError(`slice [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    if (lo >= hi) return [];
    const offset = this.unstable.offset;
    if (lo >= offset) return limitSize(this.unstable.slice(lo, hi), maxBytes);
    const cut = Math.min(hi, offset);
    const stored = this.storage.entries(lo, cut, maxBytes);
    if (hi <= offset || stored.length < cut - lo) return stored;
    const storedBytes = entriesSizeBytes(stored);
    if (storedBytes >= maxBytes) return stored;
    const more = limitSize(this.unstable.slice(offset, hi), maxBytes - storedBytes);
    // limitSize keeps one entry even if it is too big; here we already have some.
    if (more.length === 1 && storedBytes + entriesSizeBytes(more) > maxBytes) return stored;
    return stored.concat(more);
  }

  /** Does any committed but unapplied entry change the configuration? */
  hasUnappliedConfChanges(isConfChange: (e: raftpb.Entry) => boolean): boolean {
    let lo = this.applied + 1;
    const hi = this.committed + 1;
    while (lo < hi) {
      const page = this.slice(lo, hi, 1 << 20);
      if (page.length === 0) break;
      for (const e of page) if (isConfChange(e)) return true;
      lo += page.length;
    }
    return false;
  }
}
