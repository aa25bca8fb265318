// The leader's conf-change proposer (orderer/chain/conf-change.ts) when its retry finds the first
// proposal still in Raft's log, uncommitted: a quorum went down after it was proposed. Found by
// the whole-orderer simulation (memory seed 5600): the retry two election timeouts later threw
// "another configuration change is pending" and the leader halted its channel, where all there
// was to do was wait for the quorum.
import pino from 'pino';
import { ConfChangePendingError, ConfChangeRefusedError } from '../../consensus/raft/errors';
import { ConfChangeProposer } from '../../orderer/chain/conf-change';
import type { raftpb } from '../../protos';

function proposer(propose: (cc: raftpb.ConfChangeInit) => void): { p: ConfChangeProposer; proposed: raftpb.ConfChangeInit[] } {
  const proposed: raftpb.ConfChangeInit[] = [];
  const node = {
    status: () => {
      throw new Error('not used: this leader is not removed');
    },
    proposeConfChange: (cc: raftpb.ConfChangeInit) => {
      proposed.push(cc);
      propose(cc);
    },
    transferLeadership: () => undefined,
  } as unknown as ConstructorParameters<typeof ConfChangeProposer>[0]['node'];
  return { p: new ConfChangeProposer({ selfId: 1, node, lastIndex: () => 0, logger: pino({ level: 'silent' }) }), proposed };
}

const view = (tick: number) => ({ tick, members: [1, 2, 3, 4], voters: new Set([1, 2, 3]), electionTick: 10 });

test('a retry that finds the first proposal still pending waits, and tries again later without halting', () => {
  let calls = 0;
  const { p, proposed } = proposer(() => {
    if (calls++ > 0) throw new ConfChangePendingError(14, 13);
  });
  p.step(view(0));
  expect(proposed).toHaveLength(1);
  expect(p.waiting).toBe(true);
  p.step(view(5)); // within two election timeouts: nothing
  expect(proposed).toHaveLength(1);
  expect(() => p.step(view(20))).not.toThrow(); // the retry: still pending in Raft
  expect(p.waiting).toBe(true);
  expect(proposed).toHaveLength(2);
  p.step(view(30)); // waits two more election timeouts before the next try
  expect(proposed).toHaveLength(2);
  p.step(view(40));
  expect(proposed).toHaveLength(3);
  p.applied();
  expect(p.waiting).toBe(false);
});

test('any other refusal of the conf change still reaches the chain (which halts on it)', () => {
  const { p } = proposer(() => {
    throw new ConfChangeRefusedError('conf change ConfChangeAddNode of node 4 would remove all voters');
  });
  expect(() => p.step(view(0))).toThrow(ConfChangeRefusedError);
});
