// Log compaction and snapshots (thesis §5): a follower that needs compacted entries gets
// the leader's snapshot; the caller reports the transfer's fate.
import { raftpb } from '../../../protos';
import {
  MemoryStorage,
  ProgressState,
  RawNode,
  SnapshotStatus,
  SnapshotTemporarilyUnavailableError,
} from '../../../consensus/raft';
import { makeConfig, Network, str, text } from './network';
import { elect, MT, readyMessages } from './helpers';

/** Leader 1 commits 10 entries while 3 is away, then snapshots and compacts its log. */
function leaderCompactedWhile3Away(): { net: Network; snapIndex: number } {
  const net = Network.cluster([1, 2, 3]);
  elect(net, 1);
  net.isolate(3);
  for (let i = 0; i < 10; i++) net.propose(1, `e${i}`);
  net.stabilize();
  const leader = net.get(1);
  const snapIndex = leader.node.status().applied;
  expect(snapIndex).toBe(14);
  leader.storage.createSnapshot(snapIndex, leader.confState!, text(`state@${snapIndex}`));
  leader.storage.compact(snapIndex);
  return { net, snapIndex };
}

describe('snapshots', () => {
  test('a follower behind the compaction point gets MsgSnap, restores it and catches up', () => {
    const { net, snapIndex } = leaderCompactedWhile3Away();
    net.heal();
    net.tick(1);
    net.stabilize();
    const snaps = net.sent.filter((m) => m.type === MT.MsgSnap);
    expect(snaps).toHaveLength(1);
    expect(snaps[0]!.to).toBe(3);
    expect(snaps[0]!.snapshot!.metadata).toMatchObject({ index: snapIndex, term: 2, confState: { voters: [1, 2, 3] } });
    const follower = net.get(3);
    expect(follower.snapshotsApplied.map((s) => str(s.data))).toEqual([`state@${snapIndex}`]);
    expect(follower.storage.firstIndex()).toBe(snapIndex + 1);
    expect(follower.node.status()).toMatchObject({ commit: snapIndex, applied: snapIndex, confState: { voters: [1, 2, 3] } });
    // The follower acknowledged the snapshot and is replicated to normally again.
    expect(net.get(1).node.status().progress.get(3)).toMatchObject({ state: ProgressState.Replicate, match: snapIndex });
    net.propose(1, 'after');
    net.stabilize();
    expect(net.appliedData(3)).toEqual(['after']);
  });

  test('the Ready carrying a snapshot must be synced and sets the commit index', () => {
    const { net, snapIndex } = leaderCompactedWhile3Away();
    net.heal();
    net.tick(1);
    for (let i = 0; i < 10; i++) {
      net.processReady(1);
      net.processReady(3);
      if (net.queue.some((m) => m.type === MT.MsgSnap)) break;
      net.deliver();
    }
    expect(net.deliver((m) => m.type === MT.MsgSnap)).toHaveLength(1);
    const rd = net.processReady(3)!;
    expect(rd.snapshot?.metadata.index).toBe(snapIndex);
    expect(rd.mustSync).toBe(true);
    expect(rd.hardState).toMatchObject({ commit: snapIndex });
    expect(rd.committedEntries).toEqual([]);
    expect(rd.messages.map((m) => [MT[m.type], m.index])).toEqual([['MsgAppResp', snapIndex]]);
  });

  test('a failed snapshot is reported, the follower goes back to probe and gets it again', () => {
    const { net, snapIndex } = leaderCompactedWhile3Away();
    net.heal();
    net.dropType(MT.MsgSnap);
    net.tick(1);
    net.stabilize();
    const leader = net.get(1).node;
    expect(leader.status().progress.get(3)).toMatchObject({ state: ProgressState.Snapshot, pendingSnapshot: snapIndex });
    // Nothing else goes to a follower waiting for a snapshot.
    net.propose(1, 'x');
    expect(readyMessages(net, 1).filter((m) => m.to === 3)).toEqual([]);
    leader.reportSnapshot(3, SnapshotStatus.Failure);
    expect(leader.status().progress.get(3)).toMatchObject({ state: ProgressState.Probe, pendingSnapshot: 0 });
    net.heal();
    net.stabilize();
    // Paused until the follower shows life: the next heartbeat answer triggers the resend.
    expect(net.sent.filter((m) => m.type === MT.MsgSnap)).toHaveLength(1);
    net.tick(1);
    net.stabilize();
    expect(net.sent.filter((m) => m.type === MT.MsgSnap)).toHaveLength(2);
    expect(net.get(3).snapshotsApplied).toHaveLength(1);
    expect(net.appliedData(3)).toEqual(['x']);
  });

  test('a successful snapshot report moves the follower to probe after the snapshot', () => {
    const { net, snapIndex } = leaderCompactedWhile3Away();
    net.heal();
    net.dropType(MT.MsgSnap);
    net.tick(1);
    net.stabilize();
    const leader = net.get(1).node;
    leader.reportSnapshot(3, SnapshotStatus.Finish);
    expect(leader.status().progress.get(3)).toMatchObject({ state: ProgressState.Probe, next: snapIndex + 1 });
  });

  test('a snapshot the follower already covers only fast-forwards its commit', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.propose(1, 'a');
    net.stabilize();
    const n2 = net.get(2).node;
    const snap: raftpb.Snapshot = {
      data: new Uint8Array(0),
      metadata: { index: 4, term: 2, confState: { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
    };
    n2.step(raftpb.Message.decode(raftpb.Message.encode({ type: MT.MsgSnap, from: 1, to: 2, term: 2, snapshot: snap })));
    const rd = net.processReady(2)!;
    expect(rd.snapshot).toBeUndefined();
    expect(rd.messages.map((m) => [MT[m.type], m.index])).toEqual([['MsgAppResp', 5]]);
  });

  test('no snapshot is sent while the storage says it is temporarily unavailable', () => {
    class BusySnapshots extends MemoryStorage {
      busy = true;
      override snapshot(): raftpb.Snapshot {
        if (this.busy) throw new SnapshotTemporarilyUnavailableError();
        return super.snapshot();
      }
    }
    const net = new Network();
    const leaderStorage = new BusySnapshots();
    for (const id of [1, 2, 3]) {
      const s = id === 1 ? leaderStorage : new MemoryStorage();
      RawNode.bootstrap(s, [1, 2, 3]);
      net.add(id, s);
    }
    net.stabilize();
    elect(net, 1);
    net.isolate(3);
    net.propose(1, 'a');
    net.stabilize();
    leaderStorage.createSnapshot(5, net.get(1).confState!, new Uint8Array(0));
    leaderStorage.compact(5);
    net.heal();
    net.tick(1);
    net.stabilize();
    expect(net.sent.filter((m) => m.type === MT.MsgSnap)).toHaveLength(0);
    expect(net.get(1).node.status().progress.get(3)?.state).toBe(ProgressState.Probe);
    leaderStorage.busy = false;
    net.tick(1);
    net.stabilize();
    expect(net.sent.filter((m) => m.type === MT.MsgSnap)).toHaveLength(1);
    expect(net.get(3).node.status().commit).toBe(5);
  });

  test('restart from a snapshot plus entries resumes after the snapshot, no double apply', () => {
    const storage = new MemoryStorage();
    storage.applySnapshot({
      data: text('snap'),
      metadata: { index: 10, term: 3, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
    });
    storage.append([
      { type: raftpb.EntryType.EntryNormal, term: 3, index: 11, data: text('a') },
      { type: raftpb.EntryType.EntryNormal, term: 3, index: 12, data: text('b') },
    ]);
    storage.setHardState({ term: 3, vote: 1, commit: 12 });
    const node = new RawNode(makeConfig(1, storage));
    expect(node.status()).toMatchObject({ term: 3, vote: 1, commit: 12, applied: 10, confState: { voters: [1] } });
    const rd = node.ready();
    expect(rd.hardState).toBeUndefined();
    expect(rd.committedEntries.map((e) => str(e.data))).toEqual(['a', 'b']);
    node.advance();
    expect(node.hasReady()).toBe(false);
  });
});
