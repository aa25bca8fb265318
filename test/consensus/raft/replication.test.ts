// Raft §5.3 log replication and §5.4.2 commitment, plus etcd's flow control.
import { raftpb } from '../../../protos';
import { MemoryStorage, ProgressState, RaftRole } from '../../../consensus/raft';
import { Network, text } from './network';
import { elect, MT, readyMessages, summarize } from './helpers';

/** Storage whose log is a snapshot at index 1 (term 1, voters) followed by entries of the given terms. */
function storageWithLog(voters: number[], termsFromIndex2: number[], hardTerm: number): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({
    data: new Uint8Array(0),
    metadata: { index: 1, term: 1, confState: { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
  });
  s.append(termsFromIndex2.map((term, i) => ({ type: raftpb.EntryType.EntryNormal, term, index: i + 2, data: text(`t${term}i${i + 2}`) })));
  s.setHardState({ term: hardTerm, vote: 0, commit: 1 });
  return s;
}

const termsOf = (net: Network, id: number): number[] => net.logOf(id).map((e) => e.term);

describe('log replication', () => {
  // Raft paper Figure 7: a leader at term 8 and followers in every kind of disagreement.
  const leaderTerms = [1, 1, 4, 4, 5, 5, 6, 6, 6]; // indexes 2..10 (index 1 is the snapshot, term 1)
  const cases: Array<[string, number[]]> = [
    ['a: missing one entry', [1, 1, 4, 4, 5, 5, 6, 6]],
    ['b: missing many entries', [1, 1, 4]],
    ['c: one extra entry', [1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
    ['d: extra entries of a later term', [1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
    ['e: missing and conflicting entries', [1, 1, 4, 4, 4, 4]],
    ['f: conflicting entries of old terms', [1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
  ];
  test.each(cases)('Figure 7 follower (%s) ends with the leader log, walking back one term per round trip', (_name, followerTerms) => {
    const net = new Network();
    net.add(1, storageWithLog([1, 2, 3], leaderTerms, 7));
    net.add(2, storageWithLog([1, 2, 3], followerTerms, 7));
    net.add(3, storageWithLog([1, 2, 3], leaderTerms, 7));
    elect(net, 1);
    expect(net.term(1)).toBe(8);
    net.stabilize();
    const expected = [...leaderTerms, 8];
    expect(termsOf(net, 2)).toEqual(expected);
    expect(termsOf(net, 1)).toEqual(expected);
    const rejections = net.sent.filter((m) => m.type === MT.MsgAppResp && m.from === 2 && m.reject);
    // Fast backtracking: at most one rejection per conflicting term, not one per entry.
    expect(rejections.length).toBeLessThanOrEqual(2);
    expect(net.get(1).node.status().commit).toBe(11);
    expect(net.get(2).node.status().commit).toBe(11);
  });

  test('follower rejects a MsgApp whose previous entry it does not have, with a hint', () => {
    const net = new Network();
    net.add(2, storageWithLog([1, 2], [1, 2, 2, 2], 2)); // indexes 2..5
    const app = raftpb.Message.decode(
      raftpb.Message.encode({ type: MT.MsgApp, from: 1, to: 2, term: 3, index: 7, logTerm: 3, entries: [], commit: 1 }),
    );
    net.get(2).node.step(app);
    // Our last index is 5 and its term 2 <= 3: the leader can resume probing from there.
    expect(readyMessages(net, 2)).toEqual([{ type: 'MsgAppResp', from: 2, to: 1, term: 3, index: 7, reject: true, rejectHint: 5, logTerm: 2 }]);
  });

  test('a stale MsgApp below the commit index is answered with the commit index', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    const stale = raftpb.Message.decode(
      raftpb.Message.encode({ type: MT.MsgApp, from: 1, to: 2, term: 2, index: 1, logTerm: 1, entries: [], commit: 1 }),
    );
    net.get(2).node.step(stale);
    expect(readyMessages(net, 2)).toEqual([{ type: 'MsgAppResp', from: 2, to: 1, term: 2, index: 4 }]);
  });

  test('proposals of one Ready travel in one MsgApp per follower; the commit index follows', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    for (let i = 0; i < 100; i++) net.propose(1, `p${i}`);
    const rd = net.processReady(1)!;
    expect(rd.entries).toHaveLength(100);
    expect(rd.messages.map(summarize)).toEqual([
      { type: 'MsgApp', from: 1, to: 2, term: 2, index: 4, logTerm: 2, commit: 4, entries: 100 },
      { type: 'MsgApp', from: 1, to: 3, term: 2, index: 4, logTerm: 2, commit: 4, entries: 100 },
    ]);
    net.deliver();
    expect(readyMessages(net, 2)).toEqual([{ type: 'MsgAppResp', from: 2, to: 1, term: 2, index: 104 }]);
    net.deliver();
    // Leader commits (itself + 2), tells both followers in the next MsgApp.
    expect(net.get(1).node.status().commit).toBe(104);
    const next = net.processReady(1)!;
    expect(next.committedEntries).toHaveLength(100);
    expect(next.messages.map(summarize)).toEqual([
      { type: 'MsgApp', from: 1, to: 2, term: 2, index: 104, logTerm: 2, commit: 104, entries: 0 },
      { type: 'MsgApp', from: 1, to: 3, term: 2, index: 104, logTerm: 2, commit: 104, entries: 0 },
    ]);
    net.stabilize();
    for (const id of [1, 2, 3]) expect(net.appliedData(id)).toHaveLength(100);
  });

  test('maxSizePerMsgBytes caps the entries of one MsgApp (at least one entry per message)', () => {
    const net = Network.cluster([1, 2], { maxSizePerMsgBytes: 3000 });
    elect(net, 1);
    const kb = new Uint8Array(1024);
    for (let i = 0; i < 10; i++) net.get(1).node.propose(kb);
    const rd = net.processReady(1)!;
    expect(rd.messages.map((m) => m.entries.length)).toEqual([2, 2, 2, 2, 2]);
    net.stabilize();
    const big = Network.cluster([1, 2], { maxSizePerMsgBytes: 100 });
    elect(big, 1);
    big.get(1).node.propose(kb);
    big.get(1).node.propose(kb);
    expect(big.processReady(1)!.messages.map((m) => m.entries.length)).toEqual([1, 1]);
  });

  test('at most maxInflightMsgs unacknowledged MsgApps per replicating follower', () => {
    const net = Network.cluster([1, 2, 3], { maxInflightMsgs: 3, maxSizePerMsgBytes: 0 });
    elect(net, 1);
    expect(net.get(1).node.status().progress.get(2)?.state).toBe(ProgressState.Replicate);
    for (let i = 0; i < 10; i++) net.propose(1, `p${i}`);
    const rd = net.processReady(1)!;
    const to2 = rd.messages.filter((m) => m.to === 2);
    expect(to2.map((m) => m.entries.map((e) => e.index))).toEqual([[5], [6], [7]]);
    expect(net.get(1).node.status().progress.get(2)).toMatchObject({ inflight: 3, next: 8 });
    net.propose(1, 'more');
    expect(net.processReady(1)!.messages).toEqual([]);
    // One acknowledgement frees one slot.
    net.deliver((m) => m.to === 2 && m.index === 4);
    net.processReady(2);
    net.queue = net.queue.filter((m) => m.from === 2);
    net.deliver();
    expect(readyMessages(net, 1).filter((m) => m.to === 2)).toEqual([
      { type: 'MsgApp', from: 1, to: 2, term: 2, index: 7, logTerm: 2, commit: 5, entries: 1 },
    ]);
  });

  test('heartbeats carry min(match, commit) so a lagging follower never commits what it lacks', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.isolate(3);
    net.propose(1, 'x');
    net.stabilize();
    expect(net.get(1).node.status().commit).toBe(5);
    net.heal();
    net.tick(1);
    expect(readyMessages(net, 1)).toEqual([
      { type: 'MsgHeartbeat', from: 1, to: 2, term: 2, commit: 5 },
      { type: 'MsgHeartbeat', from: 1, to: 3, term: 2, commit: 4 },
    ]);
    net.stabilize();
    expect(net.appliedData(3)).toEqual(['x']);
  });

  test('a follower that comes back is probed, then replicated to', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.get(1).node.reportUnreachable(3);
    expect(net.get(1).node.status().progress.get(3)?.state).toBe(ProgressState.Probe);
    net.propose(1, 'a');
    net.propose(1, 'b');
    const msgs = readyMessages(net, 1).filter((m) => m.to === 3);
    expect(msgs).toEqual([{ type: 'MsgApp', from: 1, to: 3, term: 2, index: 4, logTerm: 2, commit: 4, entries: 2 }]);
    net.propose(1, 'c');
    // Probe: one message at a time until the answer arrives.
    expect(readyMessages(net, 1).filter((m) => m.to === 3)).toEqual([]);
    net.stabilize();
    expect(net.get(1).node.status().progress.get(3)?.state).toBe(ProgressState.Replicate);
    expect(net.appliedData(3)).toEqual(['a', 'b', 'c']);
  });
});

describe('commitment (§5.4.2, Figure 8)', () => {
  /**
   * S1 leads term 2 and writes x at index 5 alone; S2 wins term 3 and writes its own entry 5
   * alone; S1 returns and wins term 4, then copies x to S3. x is now on a majority, but it
   * is from term 2, so S1 must not count it as committed.
   */
  function figure8(): Network {
    const net = Network.cluster([1, 2, 3], { maxSizePerMsgBytes: 0 });
    elect(net, 1);
    net.isolate(1);
    net.propose(1, 'x');
    net.stabilize();
    net.heal();
    net.isolate(1);
    const n2 = net.get(2).node;
    n2.campaign();
    net.processReady(2);
    net.deliver();
    net.processReady(3);
    net.deliver();
    expect(net.role(2)).toBe(RaftRole.Leader);
    net.isolate(2);
    net.processReady(2); // its entry 5 (term 3) stays local
    net.restart(2); // ... and S2 crashes
    net.processReady(2);
    net.heal();
    net.isolate(2);
    net.restart(1);
    // The restarted node re-applies its committed conf changes before it may campaign.
    net.processReady(1);
    const step = (): void => {
      net.processReady(1);
      net.deliver();
      net.processReady(3);
      net.deliver();
    };
    net.get(1).node.campaign(); // term 3: 3 already voted for 2
    step();
    expect(net.role(1)).toBe(RaftRole.Candidate);
    net.get(1).node.campaign(); // term 4
    step();
    expect(net.get(1).node.status()).toMatchObject({ role: RaftRole.Leader, term: 4 });
    step(); // empty entry 6 sent, 3 rejects (no index 5)
    step(); // x sent alone (one entry per message), 3 acknowledges index 5
    net.processReady(1);
    expect(net.logOf(3).map((e) => `${e.index}/${e.term}`)).toEqual(['1/1', '2/1', '3/1', '4/2', '5/2']);
    return net;
  }

  test('an entry of an earlier term on a majority is not committed by counting', () => {
    const net = figure8();
    expect(net.get(1).node.status().commit).toBe(4);
    // S1 crashes now: S2 (last entry term 3) can win and overwrite x everywhere, which is
    // safe exactly because x was never committed.
    net.isolate(1);
    net.heal();
    net.isolate(1);
    net.queue = [];
    net.get(2).node.campaign(); // term 4: 3 already voted for 1
    net.stabilize();
    net.get(2).node.campaign(); // term 5
    net.stabilize();
    expect(net.leaders()).toContain(2);
    net.stabilize();
    expect(net.logOf(3).map((e) => `${e.index}/${e.term}`)).toEqual(['1/1', '2/1', '3/1', '4/2', '5/3', '6/5']);
    expect(net.appliedData(3)).toEqual([]);
    expect(net.appliedData(2)).toEqual([]);
  });

  test('once an entry of the current term is on a majority, it and x commit; the old leader cannot win', () => {
    const net = figure8();
    net.deliver(); // entry 6 (term 4) reaches S3
    net.processReady(3);
    net.deliver();
    expect(net.get(1).node.status().commit).toBe(6);
    net.stabilize();
    expect(net.appliedData(3)).toEqual(['x']);
    net.heal();
    net.isolate(1);
    for (let i = 0; i < 3; i++) {
      net.get(2).node.campaign();
      net.stabilize();
    }
    expect(net.role(2)).not.toBe(RaftRole.Leader);
  });
});
