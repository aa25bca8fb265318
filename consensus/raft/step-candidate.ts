// Messages handled by a candidate or pre-candidate: vote answers, and any sign of a
// leader for our term (Raft §5.2: a candidate that hears from a legitimate leader steps down).
import { raftpb } from '../../protos';
import { RaftRole } from './api';
import { poll } from './election';
import { ProposalDroppedError } from './errors';
import type { Raft } from './raft';
import { handleAppendEntries, handleHeartbeat, handleSnapshot } from './step-follower';

const MessageType = raftpb.MessageType;

export function stepCandidate(r: Raft, m: raftpb.Message): void {
  const myVoteResp = r.role === RaftRole.PreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
  switch (m.type) {
    case MessageType.MsgProp:
      throw new ProposalDroppedError(`no leader at term ${r.term} (election in progress)`);
    case MessageType.MsgApp:
      r.becomeFollower(m.term, m.from);
      handleAppendEntries(r, m);
      return;
    case MessageType.MsgHeartbeat:
      r.becomeFollower(m.term, m.from);
      handleHeartbeat(r, m);
      return;
    case MessageType.MsgSnap:
      r.becomeFollower(m.term, m.from);
      handleSnapshot(r, m);
      return;
    case myVoteResp:
      poll(r, m.from, m.type, !m.reject);
      return;
    case MessageType.MsgTimeoutNow:
      r.logger.debug({ id: r.id, term: r.term, from: m.from }, 'ignored MsgTimeoutNow while campaigning');
      return;
    default:
      return;
  }
}
