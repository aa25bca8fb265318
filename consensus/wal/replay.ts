// The log as a WAL replay reconstructs it, before a snapshot is chosen.
//
// Replay starts at the first remaining segment, whose first index F says that entries from F
// on are all in the WAL (older ones were released after a snapshot covered them). Records
// then apply the way MemoryStorage applies Readys: an entry at index i replaces the entry at
// i and everything after it (Raft §5.3), and an installed snapshot replaces the whole log.
import type { raftpb } from '../../protos';

export type SnapshotFit =
  | 'ok'
  /** The WAL starts after the snapshot: entries between them are gone. */
  | 'wal-starts-later'
  /** The snapshot is beyond the WAL's last index: its WAL records never became durable. */
  | 'ahead-of-wal'
  /** The WAL has a different term at the snapshot's index. */
  | 'term-mismatch';

export class ReplayLog {
  /** Index of entries[0], or where the next entry goes when entries is empty. */
  private firstKnown: number;
  private entries: raftpb.Entry[] = [];
  /** Term at firstKnown - 1 when an installed snapshot set it; unknown at a segment start. */
  private baseTerm: number | undefined;
  hardState: raftpb.HardState = { term: 0, vote: 0, commit: 0 };

  constructor(firstIndex: number) {
    this.firstKnown = firstIndex;
  }

  get firstIndex(): number {
    return this.firstKnown;
  }

  lastIndex(): number {
    return this.firstKnown + this.entries.length - 1;
  }

  /** Applies one entry; returns false when it would leave a gap after the last index. */
  applyEntry(entry: raftpb.Entry): boolean {
    const i = entry.index;
    if (i < this.firstKnown) {
      // Below an installed snapshot: MemoryStorage ignores such entries, so do we.
      if (this.baseTerm !== undefined) return true;
      // Below the segment start: a rewrite of older entries, from here on the log is known again.
      this.firstKnown = i;
      this.entries = [entry];
      return true;
    }
    if (i > this.lastIndex() + 1) return false;
    this.entries.length = i - this.firstKnown;
    this.entries.push(entry);
    return true;
  }

  applyInstalledSnapshot(index: number, term: number): void {
    this.firstKnown = index + 1;
    this.baseTerm = term;
    this.entries = [];
  }

  /** Whether replay can start from a snapshot at (index, term). */
  fit(index: number, term: number): SnapshotFit {
    if (index < this.firstKnown - 1) return 'wal-starts-later';
    if (index > this.lastIndex()) return 'ahead-of-wal';
    if (index === this.firstKnown - 1) {
      if (index === 0) return term === 0 ? 'ok' : 'term-mismatch';
      return this.baseTerm === undefined || this.baseTerm === term ? 'ok' : 'term-mismatch';
    }
    return this.entries[index - this.firstKnown]!.term === term ? 'ok' : 'term-mismatch';
  }

  /** Entries after the snapshot index; call only after fit(index, ...) returned 'ok'. */
  entriesAfter(index: number): raftpb.Entry[] {
    return this.entries.slice(index + 1 - this.firstKnown);
  }
}
