// What one simulated node has on its disk: the Raft WAL (hard state, entries, snapshot)
// as plain arrays the simulator owns, separate from the MemoryStorage the live RawNode
// reads. A crash throws the RawNode and its MemoryStorage away; a restart rebuilds a fresh
// MemoryStorage from this copy, so anything not persisted here is lost.
//
// Power loss: a Ready with mustSync=false may be written without fsync. The simulator
// keeps the last fsynced commit index apart, and a crash with power loss falls back to it
// (a process crash keeps unsynced writes, as the page cache survives kill -9).
import type { raftpb } from '../../protos';
import type { RaftIndex, WritableStorage } from '../../consensus/raft/api';

export interface AppendResult {
  /** Index of the first entry written (entries at or below the snapshot are skipped). */
  fromIndex: RaftIndex;
  /** Last index before the append: entries fromIndex..previousLastIndex were replaced. */
  previousLastIndex: RaftIndex;
}

export class Disk {
  hardState: raftpb.HardState = { term: 0, vote: 0, commit: 0 };
  /** Commit index as of the last fsync: what survives a power loss. */
  private syncedCommit = 0;
  snapshot: raftpb.Snapshot | undefined;
  /** Entries after the snapshot (or compaction) point, contiguous, starting at offset + 1. */
  private entries: raftpb.Entry[] = [];
  /** Index just before entries[0]. */
  private offset = 0;

  get snapshotIndex(): RaftIndex {
    return this.snapshot?.metadata.index ?? 0;
  }

  get firstIndex(): RaftIndex {
    return this.offset + 1;
  }

  get lastIndex(): RaftIndex {
    return this.offset + this.entries.length;
  }

  entry(i: RaftIndex): raftpb.Entry | undefined {
    return i > this.offset ? this.entries[i - this.offset - 1] : undefined;
  }

  /** Copies of the entries on disk, first to last. */
  copyEntries(): raftpb.Entry[] {
    return this.entries.map(copyEntry);
  }

  /** Take over a storage's state as it stands (after RawNode.bootstrap wrote to it). */
  captureFrom(storage: WritableStorage): void {
    const snap = storage.snapshot();
    this.snapshot = snap.metadata.index > 0 ? snap : undefined;
    this.offset = storage.firstIndex() - 1;
    const last = storage.lastIndex();
    this.entries = last >= storage.firstIndex() ? storage.entries(storage.firstIndex(), last + 1, Number.POSITIVE_INFINITY).map(copyEntry) : [];
    this.hardState = { ...storage.initialState().hardState };
    this.syncedCommit = this.hardState.commit;
  }

  /** Fill a fresh storage for a restarting node. */
  loadInto(storage: WritableStorage): void {
    if (this.snapshot !== undefined) storage.applySnapshot(this.snapshot);
    storage.append(this.entries.map(copyEntry));
    storage.setHardState({ ...this.hardState });
  }

  /** A snapshot received from the leader replaces the whole log (it is synced: a separate file plus fsync). */
  applySnapshot(snap: raftpb.Snapshot): void {
    this.snapshot = snap;
    this.offset = snap.metadata.index;
    this.entries = [];
    this.syncedCommit = this.hardState.commit;
  }

  /** Append with Raft's overwrite rule: a new entry replaces the one at its index and everything after. */
  append(newEntries: readonly raftpb.Entry[]): AppendResult {
    const previousLastIndex = this.lastIndex;
    const first = newEntries[0];
    if (first === undefined) return { fromIndex: previousLastIndex + 1, previousLastIndex };
    let start = 0;
    if (first.index <= this.offset) start = this.offset + 1 - first.index;
    if (start >= newEntries.length) return { fromIndex: previousLastIndex + 1, previousLastIndex };
    const fromIndex = newEntries[start]!.index;
    if (fromIndex > previousLastIndex + 1) {
      throw new Error(`disk append leaves a gap: last ${previousLastIndex}, appending at ${fromIndex}`);
    }
    this.entries.length = fromIndex - this.offset - 1;
    for (let k = start; k < newEntries.length; k++) this.entries.push(copyEntry(newEntries[k]!));
    return { fromIndex, previousLastIndex };
  }

  setHardState(hs: raftpb.HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  /** fsync: everything written so far is durable, the hard state of earlier unsynced Readys included. */
  sync(): void {
    this.syncedCommit = this.hardState.commit;
  }

  /** The node's own snapshot (written and fsynced by the application). */
  saveOwnSnapshot(snap: raftpb.Snapshot): void {
    this.snapshot = snap;
    this.syncedCommit = this.hardState.commit;
  }

  /** Drop entries before compactIndex, as MemoryStorage.compact does. */
  compact(compactIndex: RaftIndex): void {
    if (compactIndex <= this.offset) return;
    const drop = Math.min(compactIndex - this.offset, this.entries.length);
    this.entries = this.entries.slice(drop);
    this.offset += drop;
  }

  /** A crash. With power loss the unsynced commit index is lost. */
  crash(powerLoss: boolean): void {
    if (powerLoss) this.hardState = { ...this.hardState, commit: this.syncedCommit };
  }
}

/**
 * Entries are copied in and out so no node shares a mutable object with another or with its
 * past self. `new Uint8Array(data)` copies; a decoded field may be a Buffer, whose slice()
 * would share memory.
 */
function copyEntry(e: raftpb.Entry): raftpb.Entry {
  return { type: e.type, term: e.term, index: e.index, data: new Uint8Array(e.data) };
}
