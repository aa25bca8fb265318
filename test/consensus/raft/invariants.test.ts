// Broken invariants and benign refusals are different errors: a caller must stop a node on
// RaftInvariantError (its log lost acknowledged entries, a committed entry would be replaced,
// a message reached the wrong node) and may log and go on after a refusal.
import { raftpb } from '../../../protos';
import {
  ConfChangePendingError,
  ConfChangeRefusedError,
  MemoryStorage,
  ProposalDroppedError,
  RaftInvariantError,
  RaftLogLostError,
  RaftMisaddressedError,
  RawNode,
  StepRejectedError,
} from '../../../consensus/raft';
import { RaftLog } from '../../../consensus/raft/log';
import { MT } from './helpers';
import { makeConfig, Network } from './network';

/** Node 1 of {1,2,3} right after bootstrap: entries 1..3 (term 1), all committed, nothing applied yet. */
function follower(): RawNode {
  const storage = new MemoryStorage();
  RawNode.bootstrap(storage, [1, 2, 3]);
  return new RawNode(makeConfig(1, storage));
}

function msg(init: raftpb.MessageInit): raftpb.Message {
  return raftpb.Message.decode(raftpb.Message.encode(init));
}

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('raft invariants', () => {
  test('a heartbeat committing beyond the last index is a lost log: RaftLogLostError with both indexes', () => {
    const node = follower();
    const err = thrown(() => node.step(msg({ type: MT.MsgHeartbeat, from: 2, to: 1, term: 2, commit: 10 })));
    expect(err).toBeInstanceOf(RaftLogLostError);
    expect(err).toBeInstanceOf(RaftInvariantError);
    expect(err).toMatchObject({ commitIndex: 10, lastIndex: 3 });
    expect((err as Error).message).toBe(
      'commit index 10 is beyond the last log index 3: entries this node acknowledged are missing from its log',
    );
  });

  test('an append that would replace a committed entry is a broken invariant', () => {
    // Unreachable through step() (a MsgApp below the commit index is answered, not appended),
    // so the log's own guard is exercised directly.
    const storage = new MemoryStorage();
    RawNode.bootstrap(storage, [1, 2, 3]);
    const log = new RaftLog(storage, { debug() {}, info() {}, warn() {} }, 0);
    log.commitTo(3);
    const err = thrown(() => log.maybeAppend(2, 1, 3, [{ type: raftpb.EntryType.EntryNormal, index: 3, term: 2, data: new Uint8Array([1]) }]));
    expect(err).toBeInstanceOf(RaftInvariantError);
    expect(err).not.toBeInstanceOf(RaftLogLostError);
    expect((err as Error).message).toMatch(/entry 3 conflicts with committed entry/);
    expect(() => log.append([{ type: raftpb.EntryType.EntryNormal, index: 2, term: 2, data: new Uint8Array([1]) }])).toThrow(RaftInvariantError);
  });

  test('a message addressed to another node is a broken invariant naming both ids', () => {
    const node = follower();
    const err = thrown(() => node.step(msg({ type: MT.MsgHeartbeat, from: 2, to: 3, term: 2, commit: 1 })));
    expect(err).toBeInstanceOf(RaftMisaddressedError);
    expect(err).toBeInstanceOf(RaftInvariantError);
    expect(err).toMatchObject({ messageTo: 3, selfId: 1 });
    expect((err as Error).message).toBe('message MsgHeartbeat from node 2 is addressed to node 3, but this is node 1');
  });

  test('breaking the Ready contract is a broken invariant', () => {
    const node = follower();
    expect(() => node.advance()).toThrow(RaftInvariantError);
    node.ready();
    expect(() => node.ready()).toThrow(RaftInvariantError);
  });

  test('benign refusals are not invariant errors', () => {
    const refusals: unknown[] = [];
    const node = follower();
    refusals.push(thrown(() => node.propose(new Uint8Array([1])))); // no leader
    refusals.push(thrown(() => node.step(msg({ type: MT.MsgHup, from: 2, to: 1, term: 1 })))); // local-only type
    refusals.push(thrown(() => node.step(msg({ type: MT.MsgAppResp, from: 9, to: 1, term: 1 })))); // not a member

    const net = Network.cluster([1, 2, 3]);
    net.campaign(1);
    net.get(1).node.proposeConfChange({ type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: 4 });
    refusals.push(thrown(() => net.get(1).node.proposeConfChange({ type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: 5 })));

    expect(refusals.map((e) => (e as Error).constructor)).toEqual([
      ProposalDroppedError,
      StepRejectedError,
      StepRejectedError,
      ConfChangePendingError, // a ConfChangeRefusedError: the first change is not applied yet
    ]);
    expect(refusals[3]).toBeInstanceOf(ConfChangeRefusedError);
    for (const e of refusals) expect(e).not.toBeInstanceOf(RaftInvariantError);
  });
});
