// Where a simulated node keeps its Raft state: the Storage its RawNode reads, and what the
// Ready loop persists to. Two kinds:
// - memory (default): a MemoryStorage filled from the simulator's Disk model at every start;
//   everything is synchronous;
// - durable (durable.ts): consensus/wal's DurableStorage on a real directory per node,
//   reopened from that directory at every start, so the WAL's replay is what a restarted
//   node runs on.
// Either way the Disk stays the simulator's record of what the node persisted: the invariants
// read it, and a start checks that the store gives back exactly that (node.ts).
import type { raftpb } from '../../protos';
import type { NodeId, RaftIndex, Storage } from '../../consensus/raft/api';
import type { PersistedReady } from '../../consensus/wal/durable-storage';
import type { Disk } from './disk';
import type { RaftImpl } from './impl';

/** Raises an InvariantViolation (the run stops). */
export type Fail = (invariant: string, detail: string) => never;

export interface NodeStore {
  /** What the RawNode reads. */
  readonly storage: Storage;
  /** Persists a Ready's snapshot, entries and hard state, then shows them to the RawNode. */
  persist(rd: PersistedReady): void | Promise<void>;
  /** The node's own snapshot of its applied state at `index` (durable before it returns). */
  createSnapshot(index: RaftIndex, confState: raftpb.ConfState, data: Uint8Array): raftpb.Snapshot | Promise<raftpb.Snapshot>;
  /** Drops entries before compactIndex from what the RawNode reads. */
  compact(compactIndex: RaftIndex): void;
  /** A crash: the store is dropped; nothing more is written. */
  close(): void | Promise<void>;
  /** For the trace: where the store stands on disk. */
  describe(): string;
}

export interface StoreFactory {
  readonly kind: 'memory' | 'durable';
  /**
   * The store of node `id` for a new incarnation. `disk` is the simulator's model of what
   * the node persisted: a memory store is filled from it; a durable store is reopened from
   * the node's directory (its first open writes `disk`'s bootstrap state through saveReady).
   */
  open(id: NodeId, disk: Disk, fail: Fail): NodeStore | Promise<NodeStore>;
}

/** MemoryStorage rebuilt from the Disk model at every start (the implementation's own copy for planted bugs). */
export function memoryStores(impl: RaftImpl): StoreFactory {
  return {
    kind: 'memory',
    open: (_id, disk) => {
      const storage = impl.newStorage();
      disk.loadInto(storage);
      return {
        storage,
        persist: (rd) => {
          if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) storage.applySnapshot(rd.snapshot);
          storage.append(rd.entries);
          if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
        },
        createSnapshot: (index, confState, data) => storage.createSnapshot(index, confState, data),
        compact: (compactIndex) => storage.compact(compactIndex),
        close: () => undefined,
        describe: () => 'memory',
      };
    },
  };
}
