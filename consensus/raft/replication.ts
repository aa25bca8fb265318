// Leader -> follower traffic: MsgApp (with the log-matching pair prevIndex/prevTerm, Raft
// §5.3), MsgSnap when the needed entries are compacted, and heartbeats.
import { raftpb } from '../../protos';
import type { NodeId } from './api';
import { ProgressState, RaftRole } from './api';
import { CompactedError, RaftInvariantError, SnapshotTemporarilyUnavailableError } from './errors';
import type { Progress } from './progress';
import type { Raft } from './raft';
import { newMessage } from './util';

const MessageType = raftpb.MessageType;

/**
 * Send the follower its next entries if flow control allows. With sendIfEmpty false
 * nothing is sent when there are no new entries. Returns whether a message was sent.
 */
export function maybeSendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = r.trk.progress.get(to);
  if (pr === undefined || pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.maybeTerm(prevIndex);
  if (prevTerm === undefined) return maybeSendSnapshot(r, to, pr);
  let ents: raftpb.Entry[] = [];
  if (pr.state !== ProgressState.Replicate || !pr.inflights.full()) {
    try {
      ents = r.log.entries(pr.next, r.maxMsgSizeBytes);
    } catch (err) {
      if (err instanceof CompactedError) return maybeSendSnapshot(r, to, pr);
      throw err;
    }
  }
  if (ents.length === 0 && !sendIfEmpty) return false;
  const commit = r.log.committed;
  r.send(newMessage({ type: MessageType.MsgApp, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit }));
  pr.sentEntries(ents.length);
  pr.sentCommitIndex(commit);
  return true;
}

export function sendAppend(r: Raft, to: NodeId): void {
  maybeSendAppend(r, to, true);
}

function maybeSendSnapshot(r: Raft, to: NodeId, pr: Progress): boolean {
  if (!pr.recentActive) {
    // Snapshots are expensive: only for followers we know to be alive.
    r.logger.debug({ id: r.id, to }, 'not sending snapshot to a follower that is not recently active');
    return false;
  }
  let snapshot: raftpb.Snapshot;
  try {
    snapshot = r.log.snapshot();
  } catch (err) {
    if (err instanceof SnapshotTemporarilyUnavailableError) {
      r.logger.debug({ id: r.id, to }, 'snapshot temporarily unavailable');
      return false;
    }
    throw err;
  }
  if (snapshot.metadata.index === 0) throw new RaftInvariantError(`need a non-empty snapshot to catch up node ${to}`);
  pr.becomeSnapshot(snapshot.metadata.index);
  r.logger.debug({ id: r.id, to, index: snapshot.metadata.index, term: snapshot.metadata.term }, 'sent snapshot');
  r.send(newMessage({ type: MessageType.MsgSnap, to, snapshot }));
  return true;
}

export function sendHeartbeat(r: Raft, to: NodeId): void {
  const pr = r.trk.progress.get(to);
  if (pr === undefined) return;
  // The follower may not have our entries up to commit yet; it must never commit an index
  // it does not hold, so only tell it as much as it is known to match.
  const commit = Math.min(pr.match, r.log.committed);
  r.send(newMessage({ type: MessageType.MsgHeartbeat, to, commit }));
  pr.sentCommitIndex(commit);
}

export function bcastAppend(r: Raft): void {
  for (const id of r.trk.ids()) if (id !== r.id) sendAppend(r, id);
}

export function bcastHeartbeat(r: Raft): void {
  for (const id of r.trk.ids()) if (id !== r.id) sendHeartbeat(r, id);
}

/**
 * Proposals only append to the leader's log; the MsgApps carrying them are cut here, once
 * per Ready, so many proposals travel in few messages (bounded by maxSizePerMsgBytes and
 * the inflight window).
 */
export function flushPendingAppends(r: Raft): void {
  if (!r.appendFlushPending) return;
  r.appendFlushPending = false;
  if (r.role !== RaftRole.Leader) return;
  for (const id of r.trk.ids()) {
    if (id === r.id) continue;
    while (maybeSendAppend(r, id, false)) {
      // keep filling the window
    }
  }
}
