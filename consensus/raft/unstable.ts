// The part of the log not yet in stable storage: entries appended since the last Ready was
// persisted, and possibly a snapshot received from the leader. Entries handed out in a
// Ready but not yet confirmed by advance() are "in progress": not handed out twice, but
// still answerable here until they are known to be stable.
import type { raftpb } from '../../protos';
import type { RaftIndex, RaftTerm } from './api';

export class Unstable {
  snapshot: raftpb.Snapshot | undefined = undefined;
  snapshotInProgress = false;
  entries: raftpb.Entry[] = [];
  /** Index of entries[0]. */
  offset: RaftIndex;
  /** Entries below this index were already handed out in a Ready. */
  offsetInProgress: RaftIndex;

  constructor(offset: RaftIndex) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  maybeFirstIndex(): RaftIndex | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): RaftIndex | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index;
  }

  maybeTerm(i: RaftIndex): RaftTerm | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return undefined;
    }
    const e = this.entries[i - this.offset];
    return e === undefined ? undefined : e.term;
  }

  nextEntries(): raftpb.Entry[] {
    const start = this.offsetInProgress - this.offset;
    if (start >= this.entries.length) return [];
    return this.entries.slice(start);
  }

  hasNextEntries(): boolean {
    return this.offsetInProgress - this.offset < this.entries.length;
  }

  nextSnapshot(): raftpb.Snapshot | undefined {
    return this.snapshotInProgress ? undefined : this.snapshot;
  }

  /** Everything currently unstable has been handed out in a Ready. */
  acceptInProgress(): void {
    if (this.entries.length > 0) this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot !== undefined) this.snapshotInProgress = true;
  }

  /**
   * Entries up to (index, term) are in stable storage. Ignored if that entry was replaced
   * meanwhile (a new leader truncated it): the replacement still has to be persisted.
   */
  stableTo(index: RaftIndex, term: RaftTerm): void {
    if (index < this.offset) return;
    const t = this.maybeTerm(index);
    if (t === undefined || t !== term) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  stableSnapTo(index: RaftIndex): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  restore(snapshot: raftpb.Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = snapshot;
    this.snapshotInProgress = false;
  }

  /** Append entries, first dropping any suffix they replace (Raft §5.3). */
  truncateAndAppend(ents: raftpb.Entry[]): void {
    const from = ents[0]!.index;
    if (from === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
      return;
    }
    if (from <= this.offset) {
      // Replaces everything unstable; storage must be overwritten from `from` on.
      this.entries = ents.slice();
      this.offset = from;
      this.offsetInProgress = from;
      return;
    }
    this.entries.length = from - this.offset;
    for (const e of ents) this.entries.push(e);
    this.offsetInProgress = Math.min(this.offsetInProgress, from);
  }

  /** Entries [lo, hi), which must lie within the unstable range. */
  slice(lo: RaftIndex, hi: RaftIndex): raftpb.Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
