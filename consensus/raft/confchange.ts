// Membership changes, one server at a time (Raft thesis §4.1): ConfChange v1 adds a voter,
// adds a learner, promotes a learner (AddNode on a learner), demotes a voter (AddLearnerNode
// on a voter) or removes a member. Each change moves at most one voter, so the old and the
// new majorities always overlap and no joint configuration is needed.
import { raftpb } from '../../protos';
import type { NodeId, RaftIndex } from './api';
import { ConfChangeRefusedError } from './errors';
import { Progress } from './progress';
import type { ProgressTracker } from './tracker';

const ConfChangeType = raftpb.ConfChangeType;

function newProgress(trk: ProgressTracker, lastIndex: RaftIndex, isLearner: boolean): Progress {
  // Probe the newcomer from our last index: it most likely has nothing and will be walked
  // back (and sent a snapshot if needed). Mark it active so CheckQuorum does not count it
  // as silent before it had any chance to answer.
  const pr = new Progress(Math.max(lastIndex, 1), trk.maxInflightMsgs, isLearner);
  pr.recentActive = true;
  return pr;
}

/** Apply one v1 change to the tracker. Throws ConfChangeRefusedError if it would leave no voter. */
export function applyConfChangeV1(trk: ProgressTracker, cc: raftpb.ConfChange, lastIndex: RaftIndex): void {
  const id = cc.nodeId;
  // Node id 0 marks a change the application decided not to apply (etcd convention).
  if (id === 0) return;
  const voters = new Set<NodeId>(trk.voters);
  const learners = new Set<NodeId>(trk.learners);
  const existing = trk.progress.get(id);
  let added: Progress | undefined;
  switch (cc.type) {
    case ConfChangeType.ConfChangeAddNode:
      if (existing === undefined) added = newProgress(trk, lastIndex, false);
      learners.delete(id);
      voters.add(id);
      break;
    case ConfChangeType.ConfChangeAddLearnerNode:
      if (existing === undefined) added = newProgress(trk, lastIndex, true);
      voters.delete(id);
      learners.add(id);
      break;
    case ConfChangeType.ConfChangeRemoveNode:
      voters.delete(id);
      learners.delete(id);
      break;
    case ConfChangeType.ConfChangeUpdateNode:
      return;
    default:
      throw new ConfChangeRefusedError(`unknown conf change type ${String(cc.type)}`);
  }
  if (voters.size === 0) {
    throw new ConfChangeRefusedError(`conf change ${ConfChangeType[cc.type]} of node ${id} would remove all voters`);
  }
  if (added !== undefined) trk.progress.set(id, added);
  if (cc.type === ConfChangeType.ConfChangeRemoveNode) trk.progress.delete(id);
  const pr = trk.progress.get(id);
  if (pr !== undefined) pr.isLearner = learners.has(id);
  trk.setConfig([...voters], [...learners]);
}

/** Rebuild the tracker from a ConfState (restart, or a snapshot from the leader). */
export function restoreConfState(trk: ProgressTracker, cs: raftpb.ConfState, lastIndex: RaftIndex): void {
  if (cs.votersOutgoing.length > 0 || cs.learnersNext.length > 0 || cs.autoLeave) {
    throw new ConfChangeRefusedError('joint configurations (ConfChangeV2) are not supported');
  }
  trk.progress.clear();
  for (const id of cs.voters) trk.progress.set(id, newProgress(trk, lastIndex, false));
  for (const id of cs.learners) {
    if (trk.progress.has(id)) throw new ConfChangeRefusedError(`node ${id} is both voter and learner`);
    trk.progress.set(id, newProgress(trk, lastIndex, true));
  }
  trk.setConfig(cs.voters, cs.learners);
}
