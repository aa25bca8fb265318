// Leadership transfer (thesis §3.10): catch the transferee up, send MsgTimeoutNow, and
// give up after an election timeout.
import { ProposalDroppedError, RaftRole } from '../../../consensus/raft';
import { raftpb } from '../../../protos';
import { Network } from './network';
import { elect, isTransferVote, MT, readyMessages } from './helpers';

describe('leadership transfer', () => {
  test('to an up-to-date follower: MsgTimeoutNow at once, a transfer vote that beats leases', () => {
    const net = Network.cluster([1, 2, 3], { checkQuorum: true, preVote: true });
    elect(net, 1);
    net.get(1).node.transferLeadership(2);
    expect(net.get(1).node.status().leadTransferee).toBe(2);
    expect(readyMessages(net, 1)).toEqual([{ type: 'MsgTimeoutNow', from: 1, to: 2, term: 2 }]);
    net.deliver();
    // No pre-vote: the transferee campaigns for real, marking its votes as a transfer.
    const rd = net.processReady(2)!;
    expect(rd.messages.map((m) => [MT[m.type], m.to, m.term, isTransferVote(m)])).toEqual([
      ['MsgVote', 1, 3, true],
      ['MsgVote', 3, 3, true],
    ]);
    net.stabilize();
    expect(net.leaders()).toEqual([2]);
    expect(net.get(1).node.status()).toMatchObject({ role: RaftRole.Follower, term: 3, leaderId: 2, leadTransferee: 0 });
  });

  test('to a lagging follower: the leader catches it up first, then sends MsgTimeoutNow', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.isolate(3);
    for (let i = 0; i < 5; i++) net.propose(1, `p${i}`);
    net.stabilize();
    net.heal();
    net.get(1).node.transferLeadership(3);
    const first = readyMessages(net, 1);
    expect(first.map((m) => m.type)).not.toContain('MsgTimeoutNow');
    net.deliver();
    for (let i = 0; i < 5 && !net.sent.some((m) => m.type === MT.MsgTimeoutNow); i++) {
      net.tick(1);
      net.stabilize();
    }
    const timeoutNow = net.sent.filter((m) => m.type === MT.MsgTimeoutNow);
    expect(timeoutNow.map((m) => m.to)).toEqual([3]);
    net.stabilize();
    expect(net.leaders()).toEqual([3]);
    expect(net.appliedData(3)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
  });

  test('proposals are dropped while a transfer is in progress', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.isolate(3);
    net.get(1).node.transferLeadership(3);
    expect(() => net.propose(1, 'x')).toThrow(ProposalDroppedError);
    expect(() => net.propose(1, 'x')).toThrow(/transfer to node 3 is in progress/);
  });

  test('a transfer that does not finish within an election timeout is aborted', () => {
    const net = Network.cluster([1, 2, 3], { electionTick: 10 });
    elect(net, 1);
    net.isolate(3);
    net.get(1).node.transferLeadership(3);
    for (let i = 0; i < 9; i++) {
      net.tick(1);
      net.stabilize();
    }
    expect(net.get(1).node.status().leadTransferee).toBe(3);
    net.tick(1);
    expect(net.get(1).node.status()).toMatchObject({ leadTransferee: 0, role: RaftRole.Leader });
    net.propose(1, 'accepted-again');
    net.stabilize();
    expect(net.appliedData(2)).toEqual(['accepted-again']);
  });

  test('a follower forwards a transfer request to the leader', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.get(3).node.transferLeadership(3);
    expect(readyMessages(net, 3)).toEqual([{ type: 'MsgTransferLeader', from: 3, to: 1, term: 2 }]);
    net.stabilize();
    expect(net.leaders()).toEqual([3]);
  });

  test('transfers to itself, to a learner or to a stranger are ignored', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.get(1).node.proposeConfChange({ type: raftpb.ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4 });
    net.stabilize();
    for (const target of [1, 4, 9]) {
      net.get(1).node.transferLeadership(target);
      expect(net.get(1).node.status().leadTransferee).toBe(0);
      expect(readyMessages(net, 1).filter((m) => m.type === 'MsgTimeoutNow')).toEqual([]);
    }
  });

  test('a new transfer request replaces one in progress', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.isolate(3);
    net.get(1).node.transferLeadership(3);
    net.processReady(1);
    net.get(1).node.transferLeadership(2);
    expect(readyMessages(net, 1)).toEqual([{ type: 'MsgTimeoutNow', from: 1, to: 2, term: 2 }]);
    net.stabilize();
    expect(net.leaders()).toEqual([2]);
  });

  test('transfer then remove: the old leader leaves without an election gap', () => {
    const net = Network.cluster([1, 2, 3], { checkQuorum: true, preVote: true });
    elect(net, 1);
    net.get(1).node.transferLeadership(2);
    net.stabilize();
    expect(net.leaders()).toEqual([2]);
    net.get(2).node.proposeConfChange({ type: raftpb.ConfChangeType.ConfChangeRemoveNode, nodeId: 1 });
    net.stabilize();
    expect(net.leaders()).toEqual([2]);
    expect(net.get(3).confState?.voters).toEqual([2, 3]);
  });
});
