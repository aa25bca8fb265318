// PreVote (thesis §9.6) and CheckQuorum with leader leases (thesis §6.2, §4.2.3).
import { raftpb } from '../../../protos';
import { RaftRole } from '../../../consensus/raft';
import { Network } from './network';
import { elect, MT, readyMessages, summarize } from './helpers';

function tickUntilLeader(net: Network, ids: number[], maxTicks = 200): number {
  for (let t = 0; t < maxTicks; t++) {
    for (const id of ids) net.tick(id);
    net.stabilize();
    const leaders = net.leaders().filter((l) => ids.includes(l));
    if (leaders.length === 1) return leaders[0]!;
  }
  throw new Error('no leader elected');
}

describe('pre-vote', () => {
  test('pre-vote asks for term+1 without changing term or vote, then a real vote follows', () => {
    const net = Network.cluster([1, 2, 3], { preVote: true });
    net.get(1).node.campaign();
    expect(net.get(1).node.status()).toMatchObject({ role: RaftRole.PreCandidate, term: 1, vote: 0 });
    const rd = net.processReady(1)!;
    expect(rd.hardState).toBeUndefined();
    expect(rd.messages.map(summarize)).toEqual([
      { type: 'MsgPreVote', from: 1, to: 2, term: 2, index: 3, logTerm: 1 },
      { type: 'MsgPreVote', from: 1, to: 3, term: 2, index: 3, logTerm: 1 },
    ]);
    net.deliver();
    expect(readyMessages(net, 2)).toEqual([{ type: 'MsgPreVoteResp', from: 2, to: 1, term: 2, reject: false }]);
    expect(net.get(2).node.status()).toMatchObject({ term: 1, vote: 0 });
    readyMessages(net, 3);
    net.deliver();
    // Majority of pre-votes: now the real election at term 2.
    expect(net.get(1).node.status()).toMatchObject({ role: RaftRole.Candidate, term: 2, vote: 1 });
    expect(readyMessages(net, 1).map((m) => m.type)).toEqual(['MsgVote', 'MsgVote']);
    net.stabilize();
    expect(net.leaders()).toEqual([1]);
    expect(net.term(1)).toBe(2);
  });

  test('an isolated node keeps its term while pre-campaigning, and does not disrupt on return', () => {
    const net = Network.cluster([1, 2, 3], { preVote: true });
    elect(net, 1);
    net.isolate(3);
    net.propose(1, 'while-3-was-away');
    net.stabilize();
    for (let i = 0; i < 100; i++) {
      net.tick(3);
      net.stabilize();
    }
    expect(net.get(3).node.status()).toMatchObject({ term: 2, role: RaftRole.PreCandidate });
    net.heal();
    // 3 pre-campaigns again: refused (its log is behind), nobody's term moves.
    for (let i = 0; i < 30; i++) net.tick(3);
    net.stabilize();
    net.tickAndStabilize(3);
    expect(net.leaders()).toEqual([1]);
    for (const id of [1, 2, 3]) expect(net.term(id)).toBe(2);
    expect(net.get(3).node.status().leaderId).toBe(1);
    expect(net.appliedData(3)).toEqual(['while-3-was-away']);
  });

  test('without pre-vote the same rejoin disrupts the leader (the contrast)', () => {
    const net = Network.cluster([1, 2, 3], { preVote: false });
    elect(net, 1);
    net.isolate(3);
    for (let i = 0; i < 100; i++) {
      net.tick(3);
      net.stabilize();
    }
    const isolatedTerm = net.term(3);
    expect(isolatedTerm).toBeGreaterThan(5);
    net.heal();
    net.tickAndStabilize(30);
    // 3's next campaign at its inflated term forces everyone, the leader included, to that
    // term: a needless election.
    expect(net.term(1)).toBeGreaterThanOrEqual(isolatedTerm);
    expect(net.leaders()).toHaveLength(1);
  });
});

describe('check quorum', () => {
  test('a leader that hears from no majority for an election timeout steps down', () => {
    const net = Network.cluster([1, 2, 3], { checkQuorum: true, electionTick: 10 });
    elect(net, 1);
    net.isolate(1);
    // Tick 10 checks activity since election (followers answered): still leader.
    for (let t = 1; t <= 19; t++) {
      net.tick(1);
      net.stabilize();
    }
    expect(net.role(1)).toBe(RaftRole.Leader);
    net.tick(1);
    expect(net.get(1).node.status()).toMatchObject({ role: RaftRole.Follower, leaderId: 0, term: 2 });
  });

  test('a leader in contact with a majority stays', () => {
    const net = Network.cluster([1, 2, 3], { checkQuorum: true });
    elect(net, 1);
    net.isolate(3);
    net.tickAndStabilize(50);
    expect(net.leaders()).toEqual([1]);
  });

  test('followers that heard from a leader within the election timeout ignore vote requests (lease)', () => {
    const net = Network.cluster([1, 2, 3], { checkQuorum: true });
    elect(net, 1);
    const vote = (term: number): raftpb.Message =>
      raftpb.Message.decode(raftpb.Message.encode({ type: MT.MsgVote, from: 3, to: 2, term, index: 4, logTerm: 2 }));
    net.get(2).node.step(vote(5));
    expect(readyMessages(net, 2)).toEqual([]);
    expect(net.get(2).node.status()).toMatchObject({ term: 2, leaderId: 1, vote: 1 });
    // Without heartbeats for an election timeout the lease is over.
    net.isolate(1);
    for (let i = 0; i < 10; i++) net.tick(2);
    net.get(2).node.step(vote(5));
    expect(readyMessages(net, 2)).toEqual([{ type: 'MsgVoteResp', from: 2, to: 3, term: 5, reject: false }]);
  });

  test('a rejoining node with an up-to-date log does not disrupt (pre-vote + lease)', () => {
    const net = Network.cluster([1, 2, 3], { checkQuorum: true, preVote: true });
    elect(net, 1);
    net.isolate(3);
    for (let i = 0; i < 60; i++) {
      net.tick(3);
      net.stabilize();
    }
    expect(net.term(3)).toBe(2);
    net.heal();
    net.tickAndStabilize(40);
    expect(net.leaders()).toEqual([1]);
    for (const id of [1, 2, 3]) expect(net.term(id)).toBe(2);
  });

  test('a deposed leader learns the new term from the answers to its stale appends', () => {
    const net = Network.cluster([1, 2, 3], { checkQuorum: true, preVote: true });
    elect(net, 1);
    net.isolate(1);
    const newLeader = tickUntilLeader(net, [2, 3]);
    const newTerm = net.term(newLeader);
    expect(newTerm).toBe(3);
    expect(net.role(1)).toBe(RaftRole.Leader);
    net.heal();
    net.tick(1); // heartbeat at the stale term 2
    net.processReady(1);
    const follower = newLeader === 2 ? 3 : 2;
    net.deliver((m) => m.to === follower);
    expect(readyMessages(net, follower)).toEqual([{ type: 'MsgAppResp', from: follower, to: 1, term: 3, index: 0 }]);
    net.deliver((m) => m.to === 1 && m.from === follower);
    expect(net.get(1).node.status()).toMatchObject({ role: RaftRole.Follower, term: 3 });
    net.stabilize();
    net.tickAndStabilize(3);
    expect(net.leaders()).toEqual([newLeader]);
  });
});
