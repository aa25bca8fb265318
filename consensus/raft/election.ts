// Elections (Raft §5.2, thesis §9.6 pre-vote): starting a campaign, answering vote
// requests, and counting the answers.
import { raftpb } from '../../protos';
import type { NodeId, RaftTerm } from './api';
import { NONE, RaftRole } from './api';
import { CAMPAIGN_TRANSFER_CONTEXT, CampaignType } from './campaign-type';
import { VoteResult } from './quorum';
import type { Raft } from './raft';
import { bcastAppend } from './replication';
import { newMessage, voteRespMsgType } from './util';

const MessageType = raftpb.MessageType;

function isConfChangeEntry(e: raftpb.Entry): boolean {
  return e.type === raftpb.EntryType.EntryConfChange || e.type === raftpb.EntryType.EntryConfChangeV2;
}

export function hup(r: Raft, t: CampaignType): void {
  if (r.role === RaftRole.Leader) {
    r.logger.debug({ id: r.id }, 'ignoring MsgHup: already leader');
    return;
  }
  if (!r.promotable()) {
    r.logger.warn({ id: r.id }, 'not a voter (removed, learner, or restoring a snapshot); cannot campaign');
    return;
  }
  // A conf change committed but not applied may change who votes: wait for it.
  if (r.log.hasUnappliedConfChanges(isConfChangeEntry)) {
    r.logger.warn({ id: r.id, term: r.term }, 'cannot campaign: committed conf changes are not applied yet');
    return;
  }
  r.logger.info({ id: r.id, term: r.term, type: t }, 'starting a new election');
  campaign(r, t);
}

function campaign(r: Raft, t: CampaignType): void {
  let term: RaftTerm;
  let voteMsg: raftpb.MessageType;
  if (t === CampaignType.PreElection) {
    r.becomePreCandidate();
    voteMsg = MessageType.MsgPreVote;
    // Ask whether we *would* win at term+1 without incrementing our own term.
    term = r.term + 1;
  } else {
    r.becomeCandidate();
    voteMsg = MessageType.MsgVote;
    term = r.term;
  }
  const lastIndex = r.log.lastIndex();
  const lastTerm = r.log.lastTerm();
  for (const id of r.trk.voters) {
    if (id === r.id) {
      // Our own vote counts once it is durable: it comes back at advance().
      r.send(newMessage({ type: voteRespMsgType(voteMsg), to: id, term }));
      continue;
    }
    r.send(
      newMessage({
        type: voteMsg,
        to: id,
        term,
        index: lastIndex,
        logTerm: lastTerm,
        context: t === CampaignType.Transfer ? CAMPAIGN_TRANSFER_CONTEXT : new Uint8Array(0),
      }),
    );
  }
}

/** Count a (pre-)vote answer and act on the outcome. */
export function poll(r: Raft, from: NodeId, type: raftpb.MessageType, granted: boolean): void {
  r.trk.recordVote(from, granted);
  const tally = r.trk.tallyVotes();
  r.logger.info({ id: r.id, from, type: MessageType[type], voteGranted: granted, ...tally }, 'vote received');
  if (tally.result === VoteResult.Won) {
    if (r.role === RaftRole.PreCandidate) {
      campaign(r, CampaignType.Election);
    } else {
      r.becomeLeader();
      bcastAppend(r);
    }
  } else if (tally.result === VoteResult.Lost) {
    // Raft §5.2: lost the election; wait for a leader or the next timeout as follower.
    r.becomeFollower(r.term, NONE);
  }
}

export function handleVoteRequest(r: Raft, m: raftpb.Message): void {
  // Raft §5.2: one vote per term (repeating it to the same candidate is fine). A
  // pre-vote for a later term promises nothing, so it may be granted whatever our vote.
  const canVote =
    r.vote === m.from ||
    (r.vote === NONE && r.lead === NONE) ||
    (m.type === MessageType.MsgPreVote && m.term > r.term);
  const respType = voteRespMsgType(m.type);
  // Raft §5.4.1: grant only to a candidate whose log is at least as up to date as ours.
  if (canVote && r.log.isUpToDate(m.index, m.logTerm)) {
    r.logger.info({ id: r.id, to: m.from, type: MessageType[m.type], term: m.term }, 'cast vote');
    r.send(newMessage({ type: respType, to: m.from, term: m.term }));
    if (m.type === MessageType.MsgVote) {
      r.electionElapsed = 0;
      r.vote = m.from;
    }
  } else {
    r.logger.info({ id: r.id, to: m.from, type: MessageType[m.type], term: m.term, vote: r.vote }, 'rejected vote');
    r.send(newMessage({ type: respType, to: m.from, term: r.term, reject: true }));
  }
}
