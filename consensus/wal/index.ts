// Durable Raft storage: WAL segments, snapshot files, and the Storage built on them.
export { Wal, openWal, DEFAULT_SEGMENT_SIZE_BYTES, type WalOptions, type OpenedWal, type ReplayedState } from './wal';
export { Snapshotter, DEFAULT_SNAPSHOTS_TO_KEEP, snapshotFileName, type SnapshotFile, type SnapshotterOptions } from './snapshotter';
export { CorruptionError, WalLockedError, WalClosedError, WalFailedError, WalError } from './errors';
export { crc32 } from './crc32';
export { DurableStorage, type DurableStorageOptions, type PersistedReady } from './durable-storage';
export { repairWal, WalRepairRefusedError, type WalRepairOptions, type WalRepairReport } from './repair';
