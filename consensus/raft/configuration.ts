// Installing snapshots and applying membership changes to the running state machine.
import { raftpb } from '../../protos';
import { NONE, RaftRole } from './api';
import { applyConfChangeV1, restoreConfState } from './confchange';
import { RaftError } from './errors';
import type { Raft } from './raft';
import { bcastAppend, maybeSendAppend } from './replication';

/**
 * The storage's ConfState is the one of its snapshot. Conf changes applied after it (up to
 * config.applied) will not be handed out again, so the tracker replays them here: the
 * membership after a restart is the one the application last applied. (etcd leaves this
 * to the application; v1 changes are idempotent, so replaying is safe.)
 */
export function replayAppliedConfChanges(r: Raft, from: number, to: number): void {
  let lo = from;
  while (lo <= to) {
    const page = r.log.slice(lo, to + 1, 1 << 20);
    for (const e of page) {
      if (e.type === raftpb.EntryType.EntryConfChange) {
        applyConfChangeV1(r.trk, raftpb.ConfChange.decode(e.data), r.log.lastIndex());
      } else if (e.type === raftpb.EntryType.EntryConfChangeV2) {
        throw new RaftError(`entry ${e.index} is a ConfChangeV2, which is not supported`);
      }
    }
    lo += page.length;
  }
  r.isLearner = r.trk.progress.get(r.id)?.isLearner ?? false;
}

/**
 * Follower: install a snapshot from the leader unless our log already covers it.
 * Returns true when the snapshot replaced our log.
 */
export function restore(r: Raft, s: raftpb.Snapshot): boolean {
  const { index, term, confState } = s.metadata;
  if (index <= r.log.committed) return false;
  if (r.role !== RaftRole.Follower) {
    // Only a leader of this term sends snapshots; as a non-follower we must be confused.
    r.logger.warn({ id: r.id }, 'attempted to restore snapshot while not a follower');
    r.becomeFollower(r.term + 1, NONE);
    return false;
  }
  const member = confState.voters.includes(r.id) || confState.learners.includes(r.id) || confState.votersOutgoing.includes(r.id);
  if (!member) {
    r.logger.warn({ id: r.id, confState }, 'snapshot does not include this node; ignored');
    return false;
  }
  if (r.log.matchTerm(index, term)) {
    // We already have the entry: just fast-forward the commit index.
    r.log.commitTo(index);
    return false;
  }
  r.log.restore(s);
  restoreConfState(r.trk, confState, r.log.lastIndex());
  r.isLearner = r.trk.progress.get(r.id)?.isLearner ?? false;
  r.logger.info({ id: r.id, index, term }, 'restored snapshot');
  return true;
}

export function applyConfChange(r: Raft, cc: raftpb.ConfChange): raftpb.ConfState {
  applyConfChangeV1(r.trk, cc, r.log.lastIndex());
  return switchToConfig(r);
}

function switchToConfig(r: Raft): raftpb.ConfState {
  const cs = r.trk.confState();
  const self = r.trk.progress.get(r.id);
  r.isLearner = self?.isLearner ?? false;
  r.logger.info({ id: r.id, voters: cs.voters, learners: cs.learners }, 'switched configuration');
  if ((self === undefined || r.isLearner) && r.role === RaftRole.Leader) {
    // Thesis §4.2.2: a leader removed from the configuration steps down once the change
    // is applied; the remaining voters elect a new leader.
    r.becomeFollower(r.term, NONE);
    return cs;
  }
  if (r.role !== RaftRole.Leader || cs.voters.length === 0) return cs;
  // The quorum changed: entries may now be committed, and new members need entries.
  if (r.maybeCommit()) {
    bcastAppend(r);
  } else {
    for (const id of r.trk.ids()) if (id !== r.id) maybeSendAppend(r, id, false);
  }
  if (r.leadTransferee !== NONE && !r.trk.isVoter(r.leadTransferee)) r.abortLeaderTransfer();
  return cs;
}
