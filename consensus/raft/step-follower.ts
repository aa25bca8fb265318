// Messages handled by a follower, and the handlers for leader traffic that candidates
// share (a candidate that hears from a leader of its term becomes its follower).
import { raftpb } from '../../protos';
import { NONE } from './api';
import { ProposalDroppedError } from './errors';
import type { Raft } from './raft';
import { CampaignType } from './campaign-type';
import { restore } from './configuration';
import { hup } from './election';
import { newMessage } from './util';

const MessageType = raftpb.MessageType;

export function stepFollower(r: Raft, m: raftpb.Message): void {
  switch (m.type) {
    case MessageType.MsgProp:
      if (r.lead === NONE) throw new ProposalDroppedError(`no leader at term ${r.term}`);
      if (r.disableProposalForwarding) {
        throw new ProposalDroppedError(`not the leader (leader is node ${r.lead}) and proposal forwarding is disabled`);
      }
      r.send({ ...m, to: r.lead });
      return;
    case MessageType.MsgApp:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleAppendEntries(r, m);
      return;
    case MessageType.MsgHeartbeat:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleHeartbeat(r, m);
      return;
    case MessageType.MsgSnap:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleSnapshot(r, m);
      return;
    case MessageType.MsgTransferLeader:
      if (r.lead === NONE) {
        r.logger.info({ id: r.id, term: r.term }, 'no leader; dropping leadership transfer request');
        return;
      }
      r.send({ ...m, to: r.lead, term: 0 });
      return;
    case MessageType.MsgTimeoutNow:
      // Thesis §3.10: the leader asks us to campaign at once, skipping pre-vote and leases.
      r.logger.info({ id: r.id, term: r.term, from: m.from }, 'received MsgTimeoutNow; campaigning');
      hup(r, CampaignType.Transfer);
      return;
    case MessageType.MsgForgetLeader:
      if (r.lead !== NONE) {
        r.logger.info({ id: r.id, lead: r.lead, term: r.term }, 'forgetting leader');
        r.lead = NONE;
      }
      return;
    default:
      return;
  }
}

export function handleAppendEntries(r: Raft, m: raftpb.Message): void {
  if (m.index < r.log.committed) {
    // Everything up to our commit index is settled; tell the leader where we are.
    r.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: r.log.committed }));
    return;
  }
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    r.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: lastNew }));
    return;
  }
  // Raft §5.3 consistency check failed. Hint the leader: the largest index <= min(its prev
  // index, our last index) whose term is <= its prevTerm, with that term. Everything above
  // cannot match, so the leader jumps straight there (one round trip per term, not per entry).
  const hintIndex = Math.min(m.index, r.log.lastIndex());
  const [index, term] = r.log.findConflictByTerm(hintIndex, m.logTerm);
  r.logger.debug({ id: r.id, from: m.from, index: m.index, logTerm: m.logTerm, hintIndex: index, hintTerm: term }, 'rejected MsgApp');
  r.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: m.index, reject: true, rejectHint: index, logTerm: term }));
}

export function handleHeartbeat(r: Raft, m: raftpb.Message): void {
  r.log.commitTo(m.commit);
  r.send(newMessage({ type: MessageType.MsgHeartbeatResp, to: m.from, context: m.context }));
}

export function handleSnapshot(r: Raft, m: raftpb.Message): void {
  const s = m.snapshot;
  if (s === undefined) {
    r.logger.warn({ id: r.id, from: m.from }, 'MsgSnap without snapshot; ignored');
    return;
  }
  if (restore(r, s)) {
    r.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: r.log.lastIndex() }));
  } else {
    r.send(newMessage({ type: MessageType.MsgAppResp, to: m.from, index: r.log.committed }));
  }
}
