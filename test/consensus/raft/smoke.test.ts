import { RaftRole } from '../../../consensus/raft';
import { Network } from './network';

test('smoke: elect and replicate', () => {
  const net = Network.cluster([1, 2, 3]);
  net.campaign(1);
  expect(net.leaders()).toEqual([1]);
  net.propose(1, 'a');
  net.propose(1, 'b');
  net.stabilize();
  for (const id of [1, 2, 3]) expect(net.appliedData(id)).toEqual(['a', 'b']);
  expect(net.role(2)).toBe(RaftRole.Follower);
});
