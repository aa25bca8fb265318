// Messages handled by the leader: proposals, acknowledgements (which move commit),
// heartbeat answers, CheckQuorum, snapshot and reachability reports, leadership transfer.
import { raftpb } from '../../protos';
import { NONE, ProgressState } from './api';
import { ConfChangePendingError, ConfChangeRefusedError, ProposalDroppedError, RaftError } from './errors';
import type { Progress } from './progress';
import type { Raft } from './raft';
import { bcastAppend, bcastHeartbeat, maybeSendAppend, sendAppend } from './replication';
import { EMPTY, newMessage } from './util';

const MessageType = raftpb.MessageType;
const EntryType = raftpb.EntryType;

export function stepLeader(r: Raft, m: raftpb.Message): void {
  switch (m.type) {
    case MessageType.MsgBeat:
      bcastHeartbeat(r);
      return;
    case MessageType.MsgCheckQuorum:
      checkQuorum(r);
      return;
    case MessageType.MsgProp:
      propose(r, m);
      return;
    case MessageType.MsgReadIndex:
    case MessageType.MsgForgetLeader:
      // ReadIndex is not used by the orderer; ForgetLeader means nothing to a leader.
      r.logger.debug({ id: r.id, type: MessageType[m.type] }, 'ignored message on leader');
      return;
    default:
      break;
  }
  const pr = r.trk.progress.get(m.from);
  if (pr === undefined) {
    r.logger.debug({ id: r.id, from: m.from, type: MessageType[m.type] }, 'no progress for sender; ignored');
    return;
  }
  switch (m.type) {
    case MessageType.MsgAppResp:
      pr.recentActive = true;
      if (m.reject) handleAppReject(r, m, pr);
      else handleAppAck(r, m, pr);
      return;
    case MessageType.MsgHeartbeatResp:
      pr.recentActive = true;
      pr.msgAppFlowPaused = false;
      // The follower is alive: resume a stalled probe or a lagging follower.
      if (pr.match < r.log.lastIndex() || pr.state === ProgressState.Probe) sendAppend(r, m.from);
      return;
    case MessageType.MsgSnapStatus:
      if (pr.state !== ProgressState.Snapshot) return;
      if (m.reject) pr.pendingSnapshot = 0;
      // Success or failure, probe from here: on success the follower answers the probe with
      // its new last index; on failure the probe finds out what it still needs.
      pr.becomeProbe();
      // Wait for a heartbeat answer before probing, the snapshot may still be in transit.
      pr.msgAppFlowPaused = true;
      r.logger.debug({ id: r.id, to: m.from, failed: m.reject }, 'snapshot reported; back to probe');
      return;
    case MessageType.MsgUnreachable:
      // Optimistic streaming to an unreachable peer loses messages: fall back to probing.
      if (pr.state === ProgressState.Replicate) pr.becomeProbe();
      r.logger.debug({ id: r.id, to: m.from }, 'peer unreachable');
      return;
    case MessageType.MsgTransferLeader:
      transferLeader(r, m, pr);
      return;
    default:
      return;
  }
}

function checkQuorum(r: Raft): void {
  // Raft thesis §6.2: a leader that has not heard from a majority within an election
  // timeout may be partitioned away; stepping down lets clients find the real leader.
  if (!r.trk.quorumActive()) {
    r.logger.warn({ id: r.id, term: r.term }, 'stepped down to follower: quorum not active');
    r.becomeFollower(r.term, NONE);
  }
  for (const [id, pr] of r.trk.progress) if (id !== r.id) pr.recentActive = false;
}

function propose(r: Raft, m: raftpb.Message): void {
  if (m.entries.length === 0) throw new RaftError('empty proposal');
  if (!r.trk.progress.has(r.id)) throw new ProposalDroppedError('this leader is not a member of the cluster any more');
  if (r.leadTransferee !== NONE) {
    throw new ProposalDroppedError(`leadership transfer to node ${r.leadTransferee} is in progress`);
  }
  const local = m.from === r.id;
  // Fresh entry objects: index and term are stamped on them, the message stays untouched.
  const ents: raftpb.Entry[] = [];
  let pendingConfIndex = r.pendingConfIndex;
  const lastIndex = r.log.lastIndex();
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    let entry: raftpb.Entry = { type: e.type, term: 0, index: 0, data: e.data };
    if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) {
      const refusal = confChangeRefusal(r, e, pendingConfIndex);
      if (refusal !== undefined) {
        if (local) throw refusal;
        // Forwarded from a follower that cannot be told: keep the slot, drop the change (etcd).
        r.logger.info({ id: r.id, from: m.from, reason: refusal.message }, 'ignoring forwarded conf change');
        entry = { type: EntryType.EntryNormal, term: 0, index: 0, data: EMPTY };
      } else {
        pendingConfIndex = lastIndex + i + 1;
      }
    }
    ents.push(entry);
  }
  r.pendingConfIndex = pendingConfIndex;
  r.appendEntries(ents);
  r.appendFlushPending = true;
}

function confChangeRefusal(r: Raft, e: raftpb.Entry, pendingConfIndex: number): ConfChangeRefusedError | undefined {
  if (e.type === EntryType.EntryConfChangeV2) return new ConfChangeRefusedError('ConfChangeV2 (joint consensus) is not supported');
  if (pendingConfIndex > r.log.applied) {
    // Thesis §4.1: one change at a time; the next may only start once the previous one is
    // applied (and, on a new leader, once every entry of earlier terms is applied).
    return new ConfChangePendingError(pendingConfIndex, r.log.applied);
  }
  return undefined;
}

function handleAppReject(r: Raft, m: raftpb.Message, pr: Progress): void {
  r.logger.debug({ id: r.id, from: m.from, index: m.index, hint: m.rejectHint, hintTerm: m.logTerm }, 'MsgApp rejected');
  // Fast backtracking: the follower said its log at rejectHint has term logTerm; skip
  // every index of ours whose term is larger, they cannot match.
  let nextProbeIndex = m.rejectHint;
  if (m.logTerm > 0) nextProbeIndex = r.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
  if (pr.maybeDecrTo(m.index, nextProbeIndex)) {
    if (pr.state === ProgressState.Replicate) pr.becomeProbe();
    sendAppend(r, m.from);
  }
}

function handleAppAck(r: Raft, m: raftpb.Message, pr: Progress): void {
  const from = m.from;
  if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === ProgressState.Probe)) return;
  if (pr.state === ProgressState.Probe) {
    pr.becomeReplicate();
  } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= r.log.firstIndex()) {
    // The follower caught up past our compaction point (e.g. from the snapshot, or from
    // entries it already had): resume normal replication.
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === ProgressState.Replicate) {
    pr.inflights.freeLE(m.index);
  }
  if (r.maybeCommit()) {
    // Followers learn the new commit index with the next MsgApp.
    bcastAppend(r);
  } else if (from !== r.id && pr.canBumpCommit(r.log.committed)) {
    sendAppend(r, from);
  }
  if (from !== r.id) {
    while (maybeSendAppend(r, from, false)) {
      // stream as much as the window allows
    }
  }
  if (from === r.leadTransferee && pr.match === r.log.lastIndex()) {
    // Thesis §3.10: the transferee is caught up; tell it to campaign now.
    r.logger.info({ id: r.id, to: from }, 'transferee caught up; sending MsgTimeoutNow');
    r.send(newMessage({ type: MessageType.MsgTimeoutNow, to: from }));
  }
}

function transferLeader(r: Raft, m: raftpb.Message, pr: Progress): void {
  const transferee = m.from;
  if (pr.isLearner) {
    r.logger.debug({ id: r.id, transferee }, 'ignored leadership transfer to a learner');
    return;
  }
  if (r.leadTransferee !== NONE) {
    if (r.leadTransferee === transferee) {
      r.logger.info({ id: r.id, transferee }, 'leadership transfer to this node already in progress');
      return;
    }
    r.logger.info({ id: r.id, previous: r.leadTransferee, transferee }, 'aborting previous leadership transfer');
    r.abortLeaderTransfer();
  }
  if (transferee === r.id) {
    r.logger.debug({ id: r.id }, 'already leader; ignored transfer to self');
    return;
  }
  r.logger.info({ id: r.id, term: r.term, transferee }, 'starting leadership transfer');
  // The transfer must finish within one election timeout (checked on tick).
  r.electionElapsed = 0;
  r.leadTransferee = transferee;
  if (pr.match === r.log.lastIndex()) {
    r.send(newMessage({ type: MessageType.MsgTimeoutNow, to: transferee }));
  } else {
    sendAppend(r, transferee);
  }
}
