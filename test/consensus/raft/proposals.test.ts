// Proposals are accepted by a leader, forwarded by followers when allowed, and otherwise
// refused with ProposalDroppedError: never silently lost.
import { raftpb } from '../../../protos';
import { MemoryStorage, ProposalDroppedError, RaftRole, RawNode } from '../../../consensus/raft';
import { makeConfig, Network } from './network';
import { elect, readyMessages } from './helpers';

describe('proposals', () => {
  test('a follower without a known leader drops proposals', () => {
    const net = Network.cluster([1, 2, 3]);
    expect(() => net.propose(2, 'x')).toThrow(ProposalDroppedError);
    expect(() => net.propose(2, 'x')).toThrow(/no leader at term 1/);
  });

  test('candidates and pre-candidates drop proposals', () => {
    const net = Network.cluster([1, 2, 3], { preVote: true });
    net.get(1).node.campaign();
    expect(net.role(1)).toBe(RaftRole.PreCandidate);
    expect(() => net.propose(1, 'x')).toThrow(/election in progress/);
    net.processReady(1);
    net.deliver();
    net.processReady(2);
    net.deliver();
    expect(net.role(1)).toBe(RaftRole.Candidate);
    expect(() => net.propose(1, 'x')).toThrow(ProposalDroppedError);
  });

  test('with forwarding disabled a follower refuses, naming the leader', () => {
    const net = Network.cluster([1, 2, 3], { disableProposalForwarding: true });
    elect(net, 1);
    expect(() => net.propose(2, 'x')).toThrow(/leader is node 1\) and proposal forwarding is disabled/);
    expect(() => net.get(2).node.proposeConfChange({ type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: 4 })).toThrow(
      ProposalDroppedError,
    );
    expect(net.get(2).node.hasReady()).toBe(false);
  });

  test('with forwarding enabled a follower sends the proposal to the leader', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.propose(2, 'via-2');
    expect(readyMessages(net, 2)).toEqual([{ type: 'MsgProp', from: 2, to: 1, term: 0 }]);
    net.stabilize();
    for (const id of [1, 2, 3]) expect(net.appliedData(id)).toEqual(['via-2']);
  });

  test('a forwarded proposal reaching a node that cannot take it is refused at that node', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.propose(2, 'lost-in-transit');
    net.processReady(2);
    // 1 loses leadership before the proposal arrives.
    net.get(1).node.step(
      raftpb.Message.decode(raftpb.Message.encode({ type: raftpb.MessageType.MsgHeartbeat, from: 3, to: 1, term: 7 })),
    );
    net.get(1).node.step(
      raftpb.Message.decode(raftpb.Message.encode({ type: raftpb.MessageType.MsgTimeoutNow, from: 3, to: 1, term: 7 })),
    );
    expect(net.role(1)).toBe(RaftRole.Candidate);
    net.deliver();
    expect(net.refused.map((r) => [r.error.name, r.message.type])).toEqual([['ProposalDroppedError', raftpb.MessageType.MsgProp]]);
  });

  test('proposals on a leader are appended, numbered and replicated', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.propose(1, 'a');
    net.propose(1, 'b');
    const rd = net.processReady(1)!;
    expect(rd.entries.map((e) => [e.index, e.term])).toEqual([
      [5, 2],
      [6, 2],
    ]);
    net.stabilize();
    expect(net.appliedData(3)).toEqual(['a', 'b']);
  });

  test('a node outside the configuration cannot propose (it never becomes leader)', () => {
    const storage = new MemoryStorage();
    const node = new RawNode(makeConfig(5, storage));
    node.campaign();
    expect(node.status().role).toBe(RaftRole.Follower);
    expect(() => node.propose(new Uint8Array([1]))).toThrow(ProposalDroppedError);
  });
});
