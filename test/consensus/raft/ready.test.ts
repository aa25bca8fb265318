// The Ready/advance contract (api.ts) and restarts from persisted state.
import { raftpb } from '../../../protos';
import { MemoryStorage, RaftError, RaftRole, RawNode } from '../../../consensus/raft';
import { makeConfig, Network, str, text } from './network';
import { elect, MT } from './helpers';

function appMsg(init: raftpb.MessageInit): raftpb.Message {
  return raftpb.Message.decode(raftpb.Message.encode({ type: MT.MsgApp, ...init }));
}

describe('Ready', () => {
  test('bootstrap(peers) on the node: one Ready with hard state, entries and committed conf changes', () => {
    const storage = new MemoryStorage();
    const node = new RawNode(makeConfig(1, storage));
    node.bootstrap([1, 2, 3]);
    expect(node.status().confState.voters).toEqual([1, 2, 3]);
    const rd = node.ready();
    expect(rd.hardState).toEqual({ term: 1, vote: 0, commit: 3 });
    expect(rd.mustSync).toBe(true);
    expect(rd.entries.map((e) => [e.type, e.term, e.index])).toEqual([
      [raftpb.EntryType.EntryConfChange, 1, 1],
      [raftpb.EntryType.EntryConfChange, 1, 2],
      [raftpb.EntryType.EntryConfChange, 1, 3],
    ]);
    expect(rd.committedEntries.map((e) => raftpb.ConfChange.decode(e.data))).toEqual([
      { id: 0, type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: 1, context: new Uint8Array(0) },
      { id: 0, type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: 2, context: new Uint8Array(0) },
      { id: 0, type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: 3, context: new Uint8Array(0) },
    ]);
    // Bytes as etcd writes them: ConfChange{AddNode, node 1} = 08 00 10 00 18 01.
    expect(Buffer.from(rd.committedEntries[0]!.data).toString('hex')).toBe('080010001801');
    storage.append(rd.entries);
    storage.setHardState(rd.hardState!);
    node.advance();
    expect(node.hasReady()).toBe(false);
    expect(() => node.bootstrap([1])).toThrow(RaftError);
    expect(() => RawNode.bootstrap(storage, [1])).toThrow(/nonempty storage/);
  });

  test('static bootstrap writes the same log into storage; the first Ready applies it', () => {
    const storage = new MemoryStorage();
    RawNode.bootstrap(storage, [1, 2, 3]);
    expect(storage.getHardState()).toEqual({ term: 1, vote: 0, commit: 3 });
    expect(storage.lastIndex()).toBe(3);
    const node = new RawNode(makeConfig(1, storage));
    const rd = node.ready();
    expect(rd.hardState).toBeUndefined();
    expect(rd.entries).toEqual([]);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([1, 2, 3]);
  });

  test('hard state appears only when it changed; mustSync for entries, term and vote, not for commit alone', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    const n2 = net.get(2).node;
    expect(n2.hasReady()).toBe(false);
    // Entries: must sync.
    n2.step(appMsg({ from: 1, to: 2, term: 2, index: 4, logTerm: 2, commit: 4, entries: [{ term: 2, index: 5, data: text('x') }] }));
    let rd = net.processReady(2)!;
    expect(rd.hardState).toBeUndefined();
    expect(rd.entries).toHaveLength(1);
    expect(rd.mustSync).toBe(true);
    // Commit only: hard state changes, no sync needed.
    n2.step(appMsg({ from: 1, to: 2, term: 2, index: 5, logTerm: 2, commit: 5 }));
    rd = net.processReady(2)!;
    expect(rd.hardState).toEqual({ term: 2, vote: 1, commit: 5 });
    expect(rd.entries).toEqual([]);
    expect(rd.mustSync).toBe(false);
    expect(rd.committedEntries.map((e) => str(e.data))).toEqual(['x']);
    // Term (and vote reset): must sync.
    n2.step(appMsg({ from: 3, to: 2, term: 3, index: 5, logTerm: 2, commit: 5 }));
    rd = net.processReady(2)!;
    expect(rd.hardState).toEqual({ term: 3, vote: 0, commit: 5 });
    expect(rd.mustSync).toBe(true);
    expect(rd.softState).toEqual({ leaderId: 3, role: RaftRole.Follower });
  });

  test('committed entries are handed out in batches of maxCommittedSizePerReadyBytes, in order', () => {
    const net = Network.cluster([1, 2, 3], { maxCommittedSizePerReadyBytes: 2500 });
    elect(net, 1);
    const kb = new Uint8Array(1024);
    for (let i = 0; i < 7; i++) net.get(1).node.propose(kb);
    net.processReady(1);
    net.deliver();
    net.processReady(2);
    net.processReady(3);
    net.deliver();
    const sizes: number[] = [];
    const indexes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const rd = net.processReady(1);
      if (rd === undefined) break;
      if (rd.committedEntries.length > 0) sizes.push(rd.committedEntries.length);
      indexes.push(...rd.committedEntries.map((e) => e.index));
    }
    expect(indexes).toEqual([5, 6, 7, 8, 9, 10, 11]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
  });

  test('one Ready at a time: ready() twice or advance() without ready() is an error', () => {
    const storage = new MemoryStorage();
    const node = new RawNode(makeConfig(1, storage));
    node.bootstrap([1]);
    node.ready();
    expect(() => node.ready()).toThrow(/before advance/);
    node.advance();
    expect(() => node.advance()).toThrow(/without an outstanding Ready/);
  });

  test('messages of a leader go out with the Ready that persists what they promise', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.propose(1, 'x');
    const rd = net.get(1).node.ready();
    // The MsgApp is in the same Ready as the entry it carries; the leader counts its own
    // copy only after advance() (i.e. once persisted).
    expect(rd.entries.map((e) => e.index)).toEqual([5]);
    expect(rd.messages.map((m) => MT[m.type])).toEqual(['MsgApp', 'MsgApp']);
    expect(net.get(1).node.status().progress.get(1)?.match).toBe(4);
    net.get(1).storage.append(rd.entries);
    net.get(1).node.advance();
    expect(net.get(1).node.status().progress.get(1)?.match).toBe(5);
  });

  test('entries proposed between ready() and advance() come in the next Ready', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    const leader = net.get(1);
    net.propose(1, 'a');
    const rd = leader.node.ready();
    net.propose(1, 'b');
    leader.storage.append(rd.entries);
    leader.node.advance();
    const next = leader.node.ready();
    expect(next.entries.map((e) => str(e.data))).toEqual(['b']);
    leader.storage.append(next.entries);
    leader.node.advance();
  });

  test('entries replaced between ready() and advance() are not marked stable', () => {
    const storage = new MemoryStorage();
    storage.applySnapshot({
      data: new Uint8Array(0),
      metadata: { index: 1, term: 1, confState: { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
    });
    const node = new RawNode(makeConfig(2, storage));
    node.step(appMsg({ from: 1, to: 2, term: 2, index: 1, logTerm: 1, commit: 1, entries: [{ term: 2, index: 2, data: text('old') }] }));
    const rd = node.ready();
    expect(rd.entries.map((e) => str(e.data))).toEqual(['old']);
    // A new leader overwrites index 2 before the first Ready is advanced.
    node.step(appMsg({ from: 3, to: 2, term: 3, index: 1, logTerm: 1, commit: 1, entries: [{ term: 3, index: 2, data: text('new') }] }));
    storage.append(rd.entries);
    storage.setHardState(rd.hardState!);
    node.advance();
    const next = node.ready();
    expect(next.entries.map((e) => [e.term, str(e.data)])).toEqual([[3, 'new']]);
    storage.append(next.entries);
    node.advance();
    expect(storage.term(2)).toBe(3);
  });

  test('restart: hard state, log and membership come back; nothing is applied twice with config.applied', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    for (const s of ['a', 'b', 'c']) net.propose(1, s);
    net.stabilize();
    net.get(1).node.proposeConfChange({ type: raftpb.ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4 });
    net.stabilize();
    const applied = net.get(2).node.status().applied;
    const before = net.get(2).node.status();
    const restarted = net.restart(2, { applied });
    // The storage holds no snapshot: the membership is rebuilt from the applied conf changes.
    expect(restarted.node.status()).toMatchObject({
      term: before.term,
      vote: before.vote,
      commit: before.commit,
      applied,
      confState: { voters: [1, 2, 3], learners: [4] },
    });
    expect(restarted.node.hasReady()).toBe(false);
    net.propose(1, 'd');
    net.stabilize();
    expect(net.appliedData(2)).toEqual(['a', 'b', 'c', 'd']);
  });

  test('restart without config.applied replays committed entries from the snapshot on', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    for (const s of ['a', 'b', 'c']) net.propose(1, s);
    net.stabilize();
    const n2 = net.get(2);
    n2.storage.createSnapshot(6, n2.confState!, text('upto6'));
    n2.storage.compact(6);
    const restarted = net.restart(2);
    restarted.applied = [];
    const rd = net.processReady(2)!;
    expect(rd.committedEntries.map((e) => e.index)).toEqual([7]);
    expect(net.appliedData(2)).toEqual(['c']);
    expect(restarted.node.status().confState.voters).toEqual([1, 2, 3]);
  });

  test('status reports progress only on the leader', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    const st = net.get(1).node.status();
    expect(st).toMatchObject({ id: 1, term: 2, vote: 1, commit: 4, applied: 4, leaderId: 1, role: RaftRole.Leader, leadTransferee: 0 });
    expect([...st.progress.keys()]).toEqual([1, 2, 3]);
    expect(st.progress.get(2)).toMatchObject({ match: 4, next: 5, state: 'replicate', recentActive: true, isLearner: false, inflight: 0 });
    expect(net.get(2).node.status().progress.size).toBe(0);
  });
});
