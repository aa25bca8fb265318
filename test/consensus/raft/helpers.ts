// Small helpers for asserting exact messages and driving single nodes in scenario tests.
import { raftpb } from '../../../protos';
import type { NodeId } from '../../../consensus/raft';
import { CAMPAIGN_TRANSFER_CONTEXT } from '../../../consensus/raft';
import type { Network } from './network';

export const MT = raftpb.MessageType;

export interface MsgSummary {
  type: string;
  from: NodeId;
  to: NodeId;
  term: number;
  index?: number;
  logTerm?: number;
  commit?: number;
  reject?: boolean;
  rejectHint?: number;
  entries?: number;
}

/** The fields that matter for each message type, so expectations read like etcd's traces. */
export function summarize(m: raftpb.Message): MsgSummary {
  const s: MsgSummary = { type: MT[m.type]!, from: m.from, to: m.to, term: m.term };
  switch (m.type) {
    case MT.MsgApp:
      s.index = m.index;
      s.logTerm = m.logTerm;
      s.commit = m.commit;
      s.entries = m.entries.length;
      break;
    case MT.MsgAppResp:
      s.index = m.index;
      if (m.reject) {
        s.reject = true;
        s.rejectHint = m.rejectHint;
        s.logTerm = m.logTerm;
      }
      break;
    case MT.MsgVote:
    case MT.MsgPreVote:
      s.index = m.index;
      s.logTerm = m.logTerm;
      break;
    case MT.MsgVoteResp:
    case MT.MsgPreVoteResp:
      s.reject = m.reject;
      break;
    case MT.MsgHeartbeat:
      s.commit = m.commit;
      break;
    default:
      break;
  }
  return s;
}

/** Process the Ready of node id (if any) and return its messages, summarized. */
export function readyMessages(net: Network, id: NodeId): MsgSummary[] {
  const rd = net.processReady(id);
  return rd === undefined ? [] : rd.messages.map(summarize);
}

export function isTransferVote(m: raftpb.Message): boolean {
  if (m.context.length !== CAMPAIGN_TRANSFER_CONTEXT.length) return false;
  return m.context.every((b, i) => b === CAMPAIGN_TRANSFER_CONTEXT[i]);
}

/** Make id the leader by campaigning and letting the cluster settle. */
export function elect(net: Network, id: NodeId): void {
  net.campaign(id);
  const leaders = net.leaders();
  if (leaders.length !== 1 || leaders[0] !== id) throw new Error(`expected ${id} to lead, leaders: ${leaders.join(',')}`);
}
