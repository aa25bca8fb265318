// Raft §5.2 leader election: timeouts, terms, one vote per term, the up-to-date check.
import { raftpb } from '../../../protos';
import { MemoryStorage, RaftInvariantError, RaftMisaddressedError, RaftRole, RawNode, SeededRng, StepRejectedError } from '../../../consensus/raft';
import { makeConfig, Network } from './network';
import { elect, MT, readyMessages, summarize } from './helpers';

function voteMsg(from: number, to: number, term: number, index: number, logTerm: number): raftpb.Message {
  return raftpb.Message.decode(raftpb.Message.encode({ type: MT.MsgVote, from, to, term, index, logTerm }));
}

describe('election', () => {
  test('a candidate asks every voter with its last log position; the winner appends an empty entry', () => {
    const net = Network.cluster([1, 2, 3]);
    net.get(1).node.campaign();
    const rd = net.processReady(1)!;
    expect(rd.hardState).toEqual({ term: 2, vote: 1, commit: 3 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages.map(summarize)).toEqual([
      { type: 'MsgVote', from: 1, to: 2, term: 2, index: 3, logTerm: 1 },
      { type: 'MsgVote', from: 1, to: 3, term: 2, index: 3, logTerm: 1 },
    ]);
    net.deliver();
    expect(readyMessages(net, 2)).toEqual([{ type: 'MsgVoteResp', from: 2, to: 1, term: 2, reject: false }]);
    expect(net.get(2).storage.getHardState()).toEqual({ term: 2, vote: 1, commit: 3 });
    net.deliver();
    expect(net.role(1)).toBe(RaftRole.Leader);
    const lead = net.processReady(1)!;
    expect(lead.softState).toEqual({ leaderId: 1, role: RaftRole.Leader });
    // Raft §5.4.2 / §8: the new leader's first entry is an empty one of its own term.
    expect(lead.entries).toEqual([{ type: raftpb.EntryType.EntryNormal, term: 2, index: 4, data: new Uint8Array(0) }]);
    expect(lead.messages.map(summarize)).toEqual([
      { type: 'MsgApp', from: 1, to: 2, term: 2, index: 3, logTerm: 1, commit: 3, entries: 1 },
      { type: 'MsgApp', from: 1, to: 3, term: 2, index: 3, logTerm: 1, commit: 3, entries: 1 },
    ]);
    net.stabilize();
    for (const id of [1, 2, 3]) {
      expect(net.get(id).node.status()).toMatchObject({ term: 2, commit: 4, leaderId: 1 });
    }
  });

  test('own vote counts only once persisted: a single node leads after advance()', () => {
    const storage = new MemoryStorage();
    RawNode.bootstrap(storage, [1]);
    const node = new RawNode(makeConfig(1, storage));
    const first = node.ready();
    expect(first.committedEntries.map((e) => e.index)).toEqual([1]);
    node.applyConfChange(raftpb.ConfChange.decode(first.committedEntries[0]!.data));
    node.advance();
    node.campaign();
    expect(node.status().role).toBe(RaftRole.Candidate);
    const rd = node.ready();
    expect(rd.hardState).toEqual({ term: 2, vote: 1, commit: 1 });
    expect(rd.messages).toEqual([]);
    expect(node.status().role).toBe(RaftRole.Candidate);
    storage.setHardState(rd.hardState!);
    node.advance();
    expect(node.status().role).toBe(RaftRole.Leader);
  });

  test('election timeout is randomized in [electionTick, 2*electionTick) by the seeded rng', () => {
    const timeouts = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const storage = new MemoryStorage();
      RawNode.bootstrap(storage, [1, 2, 3]);
      const node = new RawNode(makeConfig(1, storage, { rng: new SeededRng(seed), electionTick: 10 }));
      const rd = node.ready();
      for (const e of rd.committedEntries) node.applyConfChange(raftpb.ConfChange.decode(e.data));
      node.advance();
      let ticks = 0;
      while (node.status().role === RaftRole.Follower) {
        node.tick();
        ticks++;
        expect(ticks).toBeLessThan(20);
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      timeouts.add(ticks);
    }
    expect(timeouts.size).toBeGreaterThan(4);
    // Same seed, same timeout: runs replay exactly.
    const again = (seed: number): number => {
      const storage = new MemoryStorage();
      RawNode.bootstrap(storage, [1, 2, 3]);
      const node = new RawNode(makeConfig(1, storage, { rng: new SeededRng(seed) }));
      const rd = node.ready();
      for (const e of rd.committedEntries) node.applyConfChange(raftpb.ConfChange.decode(e.data));
      node.advance();
      let ticks = 0;
      while (node.status().role === RaftRole.Follower) {
        node.tick();
        ticks++;
      }
      return ticks;
    };
    expect(again(7)).toBe(again(7));
  });

  test('a follower that hears nothing campaigns on its own after its timeout', () => {
    const net = Network.cluster([1, 2, 3]);
    for (let i = 0; i < 20 && net.leaders().length === 0; i++) net.tickAndStabilize(1);
    expect(net.leaders()).toHaveLength(1);
  });

  test('the leader sends heartbeats every heartbeatTick, carrying min(match, commit)', () => {
    const net = Network.cluster([1, 2, 3], { heartbeatTick: 3 });
    elect(net, 1);
    const beats: string[] = [];
    for (let t = 1; t <= 6; t++) {
      net.tick(1);
      for (const m of readyMessages(net, 1)) beats.push(`${t}:${m.type}->${m.to} commit=${String(m.commit)}`);
    }
    expect(beats).toEqual([
      '3:MsgHeartbeat->2 commit=4',
      '3:MsgHeartbeat->3 commit=4',
      '6:MsgHeartbeat->2 commit=4',
      '6:MsgHeartbeat->3 commit=4',
    ]);
  });

  test('one vote per term (§5.2), persisted in the hard state and kept across restart', () => {
    const net = Network.cluster([1, 2, 3]);
    const n3 = net.get(3);
    n3.node.step(voteMsg(1, 3, 2, 3, 1));
    expect(readyMessages(net, 3)).toEqual([{ type: 'MsgVoteResp', from: 3, to: 1, term: 2, reject: false }]);
    expect(n3.storage.getHardState()).toMatchObject({ term: 2, vote: 1 });
    n3.node.step(voteMsg(2, 3, 2, 3, 1));
    expect(readyMessages(net, 3)).toEqual([{ type: 'MsgVoteResp', from: 3, to: 2, term: 2, reject: true }]);
    // Asking again for the same candidate is answered the same way (lost responses are retried).
    n3.node.step(voteMsg(1, 3, 2, 3, 1));
    expect(readyMessages(net, 3)).toEqual([{ type: 'MsgVoteResp', from: 3, to: 1, term: 2, reject: false }]);
    const restarted = net.restart(3);
    restarted.node.step(voteMsg(2, 3, 2, 3, 1));
    expect(readyMessages(net, 3)).toEqual([{ type: 'MsgVoteResp', from: 3, to: 2, term: 2, reject: true }]);
    // A later term frees the vote.
    restarted.node.step(voteMsg(2, 3, 3, 3, 1));
    expect(readyMessages(net, 3)).toEqual([{ type: 'MsgVoteResp', from: 3, to: 2, term: 3, reject: false }]);
  });

  test('votes go only to candidates whose log is at least as up to date (§5.4.1)', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.propose(1, 'x');
    net.stabilize();
    // Everyone has index 5 at term 2 now.
    const n2 = net.get(2);
    n2.node.step(voteMsg(3, 2, 5, 4, 2)); // shorter log, same last term
    expect(readyMessages(net, 2)).toEqual([{ type: 'MsgVoteResp', from: 2, to: 3, term: 5, reject: true }]);
    n2.node.step(voteMsg(3, 2, 6, 9, 1)); // longer log but older last term
    expect(readyMessages(net, 2)).toEqual([{ type: 'MsgVoteResp', from: 2, to: 3, term: 6, reject: true }]);
    n2.node.step(voteMsg(3, 2, 7, 5, 2)); // equal
    expect(readyMessages(net, 2)).toEqual([{ type: 'MsgVoteResp', from: 2, to: 3, term: 7, reject: false }]);
  });

  test('a candidate missing a committed entry cannot win; one holding it can', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.cutLink(1, 3);
    net.propose(1, 'only-on-1-and-2');
    net.stabilize();
    expect(net.appliedData(1)).toEqual(['only-on-1-and-2']);
    expect(net.appliedData(3)).toEqual([]);
    net.heal();
    net.isolate(1);
    net.campaign(3);
    // 2 refuses; 3 has only its own vote and cannot reach a majority.
    expect(net.role(3)).toBe(RaftRole.Candidate);
    expect(net.leaders()).toEqual([1]); // the isolated old leader still thinks it leads
    net.campaign(2);
    expect(net.role(2)).toBe(RaftRole.Leader);
    net.stabilize();
    expect(net.appliedData(3)).toEqual(['only-on-1-and-2']);
  });

  test('a candidate that loses the vote becomes a follower', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.propose(1, 'x');
    net.stabilize();
    net.cutLink(1, 3);
    net.propose(1, 'y');
    net.stabilize();
    net.heal();
    net.get(3).node.campaign();
    net.stabilize();
    // Both others refuse (3 lacks 'y'): the election is lost, 3 waits as a follower.
    expect(net.role(3)).toBe(RaftRole.Follower);
    expect(net.term(3)).toBe(3);
    expect(net.leaders()).toEqual([]);
  });

  test('a leader steps down when it sees a higher term', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.get(1).node.step(
      raftpb.Message.decode(raftpb.Message.encode({ type: MT.MsgHeartbeat, from: 2, to: 1, term: 9, commit: 0 })),
    );
    expect(net.get(1).node.status()).toMatchObject({ role: RaftRole.Follower, term: 9, leaderId: 2 });
  });

  test('local-only message types and responses from strangers are refused; a misaddressed message is a broken invariant', () => {
    const net = Network.cluster([1, 2, 3]);
    const node = net.get(1).node;
    const localTypes = [MT.MsgHup, MT.MsgBeat, MT.MsgUnreachable, MT.MsgSnapStatus, MT.MsgCheckQuorum, MT.MsgStorageAppend, MT.MsgStorageAppendResp, MT.MsgStorageApply, MT.MsgStorageApplyResp];
    for (const type of localTypes) {
      expect(() => node.step(raftpb.Message.decode(raftpb.Message.encode({ type, from: 2, to: 1, term: 5 })))).toThrow(StepRejectedError);
    }
    const misaddressed = (): void => node.step(raftpb.Message.decode(raftpb.Message.encode({ type: MT.MsgApp, from: 2, to: 3, term: 5 })));
    expect(misaddressed).toThrow(RaftMisaddressedError);
    expect(misaddressed).toThrow(RaftInvariantError);
    const stranger = (): void => node.step(raftpb.Message.decode(raftpb.Message.encode({ type: MT.MsgAppResp, from: 9, to: 1, term: 5 })));
    expect(stranger).toThrow(StepRejectedError);
    expect(stranger).not.toThrow(RaftInvariantError);
    // Nothing changed.
    expect(node.status()).toMatchObject({ term: 1, role: RaftRole.Follower });
    expect(node.hasReady()).toBe(false);
  });
});
