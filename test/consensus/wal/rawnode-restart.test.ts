// The real Raft state machine on DurableStorage: a single-node cluster commits proposals,
// snapshots and compacts, is closed, and a new RawNode on the reopened storage carries on
// from exactly where the first stopped (same term history, same log, commits continue).
import { raftpb } from '../../../protos';
import { RawNode, RaftRole, SeededRng, type RaftConfig } from '../../../consensus/raft';
import { DurableStorage } from '../../../consensus/wal';
import { captureLogger, makeTempDir, removeDir } from './helpers';

const ONE_VOTER: raftpb.ConfState = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

function config(storage: DurableStorage, applied: number): RaftConfig {
  return {
    id: 1,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    applied,
    maxSizePerMsgBytes: 1024 * 1024,
    maxInflightMsgs: 256,
    checkQuorum: false,
    preVote: false,
    disableProposalForwarding: false,
    rng: new SeededRng(7),
  };
}

/** Runs Readys until there are none; returns the data of applied normal entries. */
async function drain(node: RawNode, storage: DurableStorage, applied: { index: number; data: string[] }): Promise<void> {
  while (node.hasReady()) {
    const rd = node.ready();
    await storage.saveReady(rd); // WAL first, fsync once when rd.mustSync
    for (const e of rd.committedEntries) {
      if (e.type === raftpb.EntryType.EntryConfChange) node.applyConfChange(raftpb.ConfChange.decode(e.data));
      else if (e.data.length > 0) applied.data.push(Buffer.from(e.data).toString());
      applied.index = e.index;
    }
    node.advance();
  }
}

describe('RawNode on DurableStorage', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('wal-rawnode-');
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('restarts where it stopped, through snapshots and compaction', async () => {
    const { logger } = captureLogger();
    const opts = { logger, segmentSizeBytes: 8 * 1024 };

    let storage = await DurableStorage.open(dir, opts);
    let node = new RawNode(config(storage, 0));
    node.bootstrap([1]);
    const applied = { index: 0, data: [] as string[] };
    await drain(node, storage, applied);
    node.campaign();
    await drain(node, storage, applied);
    expect(node.status().role).toBe(RaftRole.Leader);

    for (let i = 0; i < 120; i++) {
      node.propose(Buffer.from(`block-${i}`.padEnd(200, '.')));
      await drain(node, storage, applied);
      if (i === 80) {
        await storage.createSnapshot(applied.index, ONE_VOTER, Buffer.from(`state@${applied.index}`));
        storage.compact(applied.index - 4);
      }
    }
    expect(applied.data).toHaveLength(120);
    const before = { status: node.status(), last: storage.lastIndex(), hs: storage.initialState().hardState };
    const snapshotIndex = storage.snapshot().metadata.index;
    expect(snapshotIndex).toBeGreaterThan(80);
    const afterSnapshot = storage
      .entries(snapshotIndex + 1, before.last + 1, Infinity)
      .filter((e) => e.type === raftpb.EntryType.EntryNormal && e.data.length > 0)
      .map((e) => Buffer.from(e.data).toString());
    expect(afterSnapshot.length).toBeGreaterThan(10);
    await storage.close();

    storage = await DurableStorage.open(dir, opts);
    expect(storage.lastIndex()).toBe(before.last);
    expect(storage.initialState().hardState).toEqual(before.hs);
    expect(storage.firstIndex()).toBe(snapshotIndex + 1);
    // The application restarts from the snapshot and re-applies what follows it.
    node = new RawNode(config(storage, snapshotIndex));
    const reapplied = { index: snapshotIndex, data: [] as string[] };
    node.campaign();
    await drain(node, storage, reapplied);
    expect(node.status().role).toBe(RaftRole.Leader);
    expect(node.status().term).toBe(before.status.term + 1);
    expect(reapplied.data).toEqual(afterSnapshot);
    expect(applied.data.slice(-afterSnapshot.length)).toEqual(afterSnapshot);

    node.propose(Buffer.from('after-restart'));
    await drain(node, storage, reapplied);
    expect(reapplied.data.at(-1)).toBe('after-restart');
    await storage.close();
  });
});
