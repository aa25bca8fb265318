// The chain's durable Raft state: the WAL-backed DurableStorage, plus Fabric's rule for
// how much log to keep behind a snapshot.
import type { Logger } from 'pino';
import type { Ready } from '../../consensus/raft/api';
import { DurableStorage } from '../../consensus/wal/durable-storage';
import type { raftpb } from '../../protos';
import type { RaftPersistence } from './types';

export interface OpenRaftPersistenceOptions {
  walDir: string;
  snapDir: string;
  logger: Logger;
  segmentSizeBytes?: number;
  /** Entries kept in memory behind a snapshot so a slightly lagging follower needs no snapshot. */
  keepEntriesAfterSnapshot?: number;
  /** Each WAL fdatasync's duration (consensus_etcdraft_wal_fsync_duration). */
  onSynced?: (seconds: number) => void;
}

export async function openRaftPersistence(options: OpenRaftPersistenceOptions): Promise<RaftPersistence> {
  const storage = await DurableStorage.open(options.walDir, {
    logger: options.logger.child({ logger: 'consensus.wal' }),
    snapDir: options.snapDir,
    ...(options.onSynced !== undefined ? { onSynced: options.onSynced } : {}),
    ...(options.segmentSizeBytes !== undefined ? { segmentSizeBytes: options.segmentSizeBytes } : {}),
  });
  const initial = storage.initialState();
  const fresh = storage.lastIndex() === 0 && initial.hardState.term === 0 && storage.snapshot().metadata.index === 0;
  const keep = options.keepEntriesAfterSnapshot ?? 4;
  let closing: Promise<void> | undefined;
  return {
    storage,
    fresh,
    walDir: options.walDir,
    snapDir: options.snapDir,
    saveReady: (ready: Ready) => storage.saveReady(ready),
    async snapshot(index: number, confState: raftpb.ConfState, data: Uint8Array): Promise<void> {
      await storage.createSnapshot(index, confState, data);
      if (index - keep > storage.firstIndex()) storage.compact(index - keep);
    },
    // The chain closes it when it halts on its own, and the orderer again at shutdown.
    close: () => (closing ??= storage.close()),
  };
}
