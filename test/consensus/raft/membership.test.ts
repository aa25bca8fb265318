// Membership changes one server at a time (thesis §4.1-4.2): add, remove, learners,
// promotion, one pending change at most, removing the leader.
import { raftpb } from '../../../protos';
import {
  ConfChangeRefusedError,
  MemoryStorage,
  ProposalDroppedError,
  RaftRole,
  RawNode,
} from '../../../consensus/raft';
import { makeConfig, Network } from './network';
import { elect, MT } from './helpers';

const CC = raftpb.ConfChangeType;

function change(net: Network, leader: number, type: raftpb.ConfChangeType, nodeId: number): void {
  net.get(leader).node.proposeConfChange({ type, nodeId });
  net.stabilize();
}

describe('membership', () => {
  test('adding a voter: the newcomer catches up from the log and counts in the quorum', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.propose(1, 'before');
    net.stabilize();
    change(net, 1, CC.ConfChangeAddNode, 4);
    for (const id of [1, 2, 3]) expect(net.get(id).confState?.voters).toEqual([1, 2, 3, 4]);
    net.add(4, new MemoryStorage()); // joins empty: no bootstrap
    net.tick(1);
    net.stabilize();
    expect(net.get(4).confState?.voters).toEqual([1, 2, 3, 4]);
    expect(net.appliedData(4)).toEqual(['before']);
    // 4 voters: quorum is 3, so 1 and 2 alone cannot commit.
    net.isolate(3);
    net.isolate(4);
    net.propose(1, 'needs-three');
    net.stabilize();
    expect(net.appliedData(1)).toEqual(['before']);
    net.heal();
    net.tick(1);
    net.stabilize();
    expect(net.appliedData(1)).toEqual(['before', 'needs-three']);
  });

  test('removing a follower: the rest commit without it, and it never campaigns', () => {
    const net = Network.cluster([1, 2, 3], { preVote: true });
    elect(net, 1);
    change(net, 1, CC.ConfChangeRemoveNode, 3);
    expect(net.get(1).confState?.voters).toEqual([1, 2]);
    expect(net.get(3).confState?.voters).toEqual([1, 2]);
    expect(net.get(1).node.status().progress.has(3)).toBe(false);
    // 3's last acknowledgement arrived after the leader dropped it: refused, harmlessly.
    expect(net.refused.map((r) => r.error.name)).toEqual(['StepRejectedError']);
    const termBefore = net.term(3);
    for (let i = 0; i < 100; i++) {
      net.tick(3);
      net.stabilize();
    }
    expect(net.get(3).node.status()).toMatchObject({ role: RaftRole.Follower, term: termBefore });
    expect(net.sent.filter((m) => m.from === 3 && (m.type === MT.MsgVote || m.type === MT.MsgPreVote))).toEqual([]);
    net.isolate(3);
    net.propose(1, 'two-of-two');
    net.stabilize();
    expect(net.appliedData(2)).toEqual(['two-of-two']);
  });

  test('a learner receives entries but neither votes nor counts in the quorum, and never campaigns', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    change(net, 1, CC.ConfChangeAddLearnerNode, 4);
    expect(net.get(1).confState).toMatchObject({ voters: [1, 2, 3], learners: [4] });
    net.add(4, new MemoryStorage());
    net.tick(1);
    net.stabilize();
    net.propose(1, 'x');
    net.stabilize();
    expect(net.appliedData(4)).toEqual(['x']);
    expect(net.get(1).node.status().progress.get(4)).toMatchObject({ isLearner: true, match: 6 });
    // Leader plus learner is not a majority of the voters.
    net.isolate(2);
    net.isolate(3);
    net.propose(1, 'y');
    net.stabilize();
    expect(net.appliedData(4)).toEqual(['x']);
    expect(net.get(1).node.status().commit).toBe(6);
    // Without a leader the learner still never campaigns.
    net.heal();
    net.isolate(1);
    const term = net.term(4);
    for (let i = 0; i < 60; i++) {
      net.tick(4);
      net.stabilize();
    }
    expect(net.get(4).node.status()).toMatchObject({ role: RaftRole.Follower, term });
    // MsgTimeoutNow does not make a learner campaign either.
    net.get(4).node.step(raftpb.Message.decode(raftpb.Message.encode({ type: MT.MsgTimeoutNow, from: 1, to: 4, term })));
    expect(net.role(4)).toBe(RaftRole.Follower);
  });

  test('AddNode on a learner promotes it to voter', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    change(net, 1, CC.ConfChangeAddLearnerNode, 4);
    net.add(4, new MemoryStorage());
    net.tick(1);
    net.stabilize();
    change(net, 1, CC.ConfChangeAddNode, 4);
    for (const id of [1, 2, 3, 4]) expect(net.get(id).confState).toMatchObject({ voters: [1, 2, 3, 4], learners: [] });
    expect(net.get(1).node.status().progress.get(4)?.isLearner).toBe(false);
    // Now 4 can lead.
    net.get(4).node.campaign();
    net.stabilize();
    expect(net.leaders()).toEqual([4]);
  });

  test('a second change is refused while the first is not applied; accepted afterwards', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    const leader = net.get(1).node;
    leader.proposeConfChange({ type: CC.ConfChangeAddLearnerNode, nodeId: 4 });
    expect(() => leader.proposeConfChange({ type: CC.ConfChangeAddLearnerNode, nodeId: 5 })).toThrow(ConfChangeRefusedError);
    expect(() => leader.proposeConfChange({ type: CC.ConfChangeAddLearnerNode, nodeId: 5 })).toThrow(/another configuration change is pending/);
    // Committed but not yet applied is still pending.
    net.processReady(1);
    net.deliver();
    net.processReady(2);
    net.processReady(3);
    net.deliver();
    expect(leader.status().commit).toBe(5);
    expect(() => leader.proposeConfChange({ type: CC.ConfChangeAddLearnerNode, nodeId: 5 })).toThrow(ConfChangeRefusedError);
    net.stabilize();
    leader.proposeConfChange({ type: CC.ConfChangeAddLearnerNode, nodeId: 5 });
    net.stabilize();
    expect(net.get(1).confState?.learners).toEqual([4, 5]);
  });

  test('a new leader accepts no change until it has applied every entry it was elected with', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.cutLink(1, 3);
    net.propose(1, 'x');
    net.processReady(1);
    net.deliver(); // x reaches 2 only, uncommitted
    net.processReady(2);
    net.heal();
    net.isolate(1);
    net.queue = [];
    net.get(2).node.campaign();
    net.processReady(2);
    net.deliver();
    net.processReady(3);
    net.deliver();
    expect(net.role(2)).toBe(RaftRole.Leader);
    // x may hide a conf change (it does not here, but the leader cannot know before applying).
    expect(() => net.get(2).node.proposeConfChange({ type: CC.ConfChangeRemoveNode, nodeId: 1 })).toThrow(ConfChangeRefusedError);
    net.stabilize();
    expect(net.appliedData(2)).toEqual(['x']);
    net.get(2).node.proposeConfChange({ type: CC.ConfChangeRemoveNode, nodeId: 1 });
    net.stabilize();
    expect(net.get(3).confState?.voters).toEqual([2, 3]);
  });

  test('a conf change forwarded by a follower while one is pending becomes an empty entry', () => {
    const net = Network.cluster([1, 2, 3]);
    elect(net, 1);
    net.get(1).node.proposeConfChange({ type: CC.ConfChangeAddLearnerNode, nodeId: 4 });
    net.get(2).node.proposeConfChange({ type: CC.ConfChangeAddLearnerNode, nodeId: 5 });
    net.stabilize();
    expect(net.get(1).confState?.learners).toEqual([4]);
    const last = net.get(1).appliedAll[net.get(1).appliedAll.length - 1]!;
    expect(last).toMatchObject({ type: raftpb.EntryType.EntryNormal, index: 6 });
    expect(last.data.length).toBe(0);
  });

  test('removing the leader: it steps down once the change is applied, the others elect a leader', () => {
    const net = Network.cluster([1, 2, 3], { checkQuorum: true, preVote: true });
    elect(net, 1);
    net.propose(1, 'a');
    net.stabilize();
    const sentBefore = net.sent.length;
    change(net, 1, CC.ConfChangeRemoveNode, 1);
    expect(net.get(1).node.status()).toMatchObject({ role: RaftRole.Follower, leaderId: 0, confState: { voters: [2, 3] } });
    expect(() => net.propose(1, 'from-removed')).toThrow(ProposalDroppedError);
    for (let i = 0; i < 40 && net.leaders().length === 0; i++) net.tickAndStabilize(1);
    const [leader] = net.leaders();
    expect([2, 3]).toContain(leader);
    net.propose(leader!, 'b');
    net.stabilize();
    expect(net.appliedData(2)).toEqual(['a', 'b']);
    expect(net.appliedData(3)).toEqual(['a', 'b']);
    // The removed node never campaigns.
    const after = net.sent.slice(sentBefore);
    expect(after.filter((m) => m.from === 1 && (m.type === MT.MsgVote || m.type === MT.MsgPreVote))).toEqual([]);
  });

  test('removing the last voter is refused at apply time', () => {
    const storage = new MemoryStorage();
    const node = new RawNode(makeConfig(1, storage));
    node.bootstrap([1]);
    expect(() =>
      node.applyConfChange({ id: 0, type: CC.ConfChangeRemoveNode, nodeId: 1, context: new Uint8Array(0) }),
    ).toThrow(ConfChangeRefusedError);
    expect(node.status().confState.voters).toEqual([1]);
  });
});
