// The Chain's Raft persistence held in memory (MemoryStorage), for in-process Chain tests and
// the whole-orderer simulator: everything saveReady is handed is "durable" once it returns, so
// a simulated crash between steps loses only what the Chain held in memory (intake, cutter,
// accepted envelopes), as kill -9 after an fsync does. Restarting builds a new Chain over the
// same object.
import { MemoryStorage } from '../../../consensus/raft/memory-storage';
import type { Ready } from '../../../consensus/raft/api';
import type { raftpb } from '../../../protos';
import type { RaftPersistence } from '../../../orderer/chain/types';

export class MemoryRaftPersistence implements RaftPersistence {
  readonly storage = new MemoryStorage();
  private everSaved = false;
  /** Snapshots taken by the Chain (the simulator counts them). */
  snapshotsTaken = 0;

  constructor(private readonly keepEntriesAfterSnapshot = 4) {}

  /** A brand-new member until its first Ready is saved (as a WAL directory that was empty). */
  get fresh(): boolean {
    return !this.everSaved && this.storage.lastIndex() === 0;
  }

  saveReady(rd: Ready): Promise<void> {
    try {
      this.everSaved = true;
      if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) this.storage.applySnapshot(rd.snapshot);
      if (rd.entries.length > 0) this.storage.append(rd.entries);
      if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  snapshot(index: number, confState: raftpb.ConfState, data: Uint8Array): Promise<void> {
    try {
      this.storage.createSnapshot(index, confState, data);
      this.snapshotsTaken++;
      if (index - this.keepEntriesAfterSnapshot > this.storage.firstIndex()) this.storage.compact(index - this.keepEntriesAfterSnapshot);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

