// The Raft Storage a production node runs on: a MemoryStorage that RawNode reads from, kept
// in step with the WAL and snapshot files that make it survive a restart. Every change is
// made durable first and applied to memory after, so memory never shows Raft anything the
// disk would not give back after a crash.
import type { raftpb } from '../../protos';
import type { RaftIndex, RaftTerm, Ready, Storage } from '../raft/api';
import { MemoryStorage } from '../raft/memory-storage';
import { Wal, type WalOptions } from './wal';

export type DurableStorageOptions = WalOptions;

/** The parts of a Ready that storage persists. */
export type PersistedReady = Pick<Ready, 'hardState' | 'entries' | 'snapshot' | 'mustSync'>;

export class DurableStorage implements Storage {
  private constructor(
    private readonly wal: Wal,
    /** The in-memory view; hand `this` or this to RawNode, never write to it directly. */
    readonly memory: MemoryStorage,
  ) {}

  /** Opens (or creates) the WAL in `dir` and replays it into a fresh MemoryStorage. */
  static async open(dir: string, opts: DurableStorageOptions): Promise<DurableStorage> {
    const { wal, snapshot, hardState, entries } = await Wal.open(dir, opts);
    const memory = new MemoryStorage();
    try {
      if (snapshot !== undefined) memory.applySnapshot(snapshot);
      memory.append(entries);
      memory.setHardState(hardState);
    } catch (err) {
      await wal.close();
      throw err;
    }
    return new DurableStorage(wal, memory);
  }

  initialState(): { hardState: raftpb.HardState; confState: raftpb.ConfState } {
    return this.memory.initialState();
  }

  entries(lo: RaftIndex, hi: RaftIndex, maxBytes: number): raftpb.Entry[] {
    return this.memory.entries(lo, hi, maxBytes);
  }

  term(i: RaftIndex): RaftTerm {
    return this.memory.term(i);
  }

  firstIndex(): RaftIndex {
    return this.memory.firstIndex();
  }

  lastIndex(): RaftIndex {
    return this.memory.lastIndex();
  }

  snapshot(): raftpb.Snapshot {
    return this.memory.snapshot();
  }

  /**
   * Step 1 of the Ready loop: persists the snapshot, entries and hard state (one WAL write,
   * one fdatasync when ready.mustSync or a snapshot is present), then applies them to memory.
   * Resolve before sending the Ready's messages.
   */
  async saveReady(ready: PersistedReady): Promise<void> {
    const snapshot = ready.snapshot !== undefined && ready.snapshot.metadata.index > 0 ? ready.snapshot : undefined;
    if (snapshot !== undefined) {
      await this.wal.saveInstalledSnapshot(snapshot, ready.hardState, ready.entries);
      this.memory.applySnapshot(snapshot);
    } else {
      await this.wal.save(ready.hardState, ready.entries, ready.mustSync);
    }
    this.memory.append(ready.entries);
    if (ready.hardState !== undefined) this.memory.setHardState(ready.hardState);
  }

  /**
   * Takes a snapshot of the applied state at `index` (<= applied): the .snap file and a WAL
   * marker are made durable, WAL segments it covers are released and old snapshot files pruned.
   */
  async createSnapshot(index: RaftIndex, confState: raftpb.ConfState, data: Uint8Array): Promise<raftpb.Snapshot> {
    const snapshot = this.memory.createSnapshot(index, confState, data);
    await this.wal.saveSnapshot(snapshot);
    return snapshot;
  }

  /**
   * Drops entries before compactIndex from memory (Fabric keeps a few entries after the
   * snapshot for slow followers). The disk side was released by createSnapshot.
   */
  compact(compactIndex: RaftIndex): void {
    this.memory.compact(compactIndex);
  }

  /** WAL segment files in use (for tests and operators). */
  walSegments(): ReturnType<Wal['segmentFiles']> {
    return this.wal.segmentFiles();
  }

  async close(): Promise<void> {
    await this.wal.close();
  }
}
