// In-memory Storage, the counterpart of etcd's MemoryStorage: the log is an array whose
// first element is a dummy entry carrying the index and term of the last snapshot (or of
// the last compaction point), so term(snapshotIndex) stays answerable after compaction.
import type { raftpb } from '../../protos';
import type { RaftIndex, RaftTerm, WritableStorage } from './api';
import {
  CompactedError,
  RaftInvariantError,
  SnapshotOutOfDateError,
  UnavailableError,
} from './errors';
import { cloneConfState, emptySnapshot, limitSize, EMPTY } from './util';

function dummyEntry(index: RaftIndex, term: RaftTerm): raftpb.Entry {
  return { type: 0, term, index, data: EMPTY };
}

export class MemoryStorage implements WritableStorage {
  private hardState: raftpb.HardState = { term: 0, vote: 0, commit: 0 };
  private snap: raftpb.Snapshot = emptySnapshot();
  /** entries[0] is the dummy entry at the snapshot/compaction index. */
  private ents: raftpb.Entry[] = [dummyEntry(0, 0)];

  initialState(): { hardState: raftpb.HardState; confState: raftpb.ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConfState(this.snap.metadata.confState) };
  }

  getHardState(): raftpb.HardState {
    return { ...this.hardState };
  }

  setHardState(hardState: raftpb.HardState): void {
    this.hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
  }

  private offset(): RaftIndex {
    return this.ents[0]!.index;
  }

  entries(lo: RaftIndex, hi: RaftIndex, maxBytes: number): raftpb.Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    if (lo >= hi) return [];
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(i: RaftIndex): RaftTerm {
    const offset = this.offset();
    if (i < offset) throw new CompactedError(i);
    const e = this.ents[i - offset];
    if (e === undefined) throw new UnavailableError(i);
    return e.term;
  }

  firstIndex(): RaftIndex {
    return this.offset() + 1;
  }

  lastIndex(): RaftIndex {
    return this.offset() + this.ents.length - 1;
  }

  snapshot(): raftpb.Snapshot {
    return this.snap;
  }

  /** Replace the whole state with a snapshot received from the leader. */
  applySnapshot(snapshot: raftpb.Snapshot): void {
    const index = snapshot.metadata.index;
    const current = this.snap.metadata.index;
    if (index <= current) throw new SnapshotOutOfDateError(index, current);
    this.snap = snapshot;
    this.ents = [dummyEntry(index, snapshot.metadata.term)];
  }

  createSnapshot(index: RaftIndex, confState: raftpb.ConfState, data: Uint8Array): raftpb.Snapshot {
    const current = this.snap.metadata.index;
    if (index <= current) throw new SnapshotOutOfDateError(index, current);
    if (index > this.lastIndex()) throw new UnavailableError(index);
    const term = this.ents[index - this.offset()]!.term;
    this.snap = { data, metadata: { confState: cloneConfState(confState), index, term } };
    return this.snap;
  }

  compact(compactIndex: RaftIndex): void {
    const offset = this.offset();
    if (compactIndex <= offset) throw new CompactedError(compactIndex);
    if (compactIndex > this.lastIndex()) throw new UnavailableError(compactIndex);
    const i = compactIndex - offset;
    const kept = this.ents.slice(i);
    kept[0] = dummyEntry(compactIndex, this.ents[i]!.term);
    this.ents = kept;
  }

  /**
   * Append entries, which must be contiguous. Entries at or below the compaction point are
   * ignored; an entry that overlaps the log replaces it and everything after (Raft §5.3:
   * a conflicting suffix is deleted).
   */
  append(entries: raftpb.Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const lastNew = entries[0]!.index + entries.length - 1;
    if (lastNew < first) return;
    let start = 0;
    if (first > entries[0]!.index) start = first - entries[0]!.index;
    const at = entries[start]!.index - this.offset();
    if (at > this.ents.length) {
      throw new RaftInvariantError(`missing log entry [last: ${this.lastIndex()}, append at: ${entries[start]!.index}]`);
    }
    this.ents.length = at;
    for (let k = start; k < entries.length; k++) this.ents.push(entries[k]!);
  }
}
