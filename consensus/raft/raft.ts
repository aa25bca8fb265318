// The Raft state machine: roles, terms, votes, timers counted in ticks, and the dispatch
// of every message to the step function of the current role. Replication and the
// per-role handlers live in their own files; this one owns the state and transitions.
import { raftpb } from '../../protos';
import type { NodeId, RaftConfig, RaftLogger, RaftTerm, Rng, SoftState } from './api';
import { NONE, RaftRole } from './api';
import { CAMPAIGN_TRANSFER_CONTEXT, CampaignType } from './campaign-type';
import { restoreConfState } from './confchange';
import { replayAppliedConfChanges } from './configuration';
import { handleVoteRequest, hup } from './election';
import { RaftError, RaftInvariantError } from './errors';
import { RaftLog } from './log';
import { Progress } from './progress';
import { stepCandidate } from './step-candidate';
import { stepFollower } from './step-follower';
import { stepLeader } from './step-leader';
import { ProgressTracker } from './tracker';
import { isEmptyHardState, newMessage } from './util';

const MessageType = raftpb.MessageType;

const NOOP_LOGGER: RaftLogger = { debug() {}, info() {}, warn() {} };

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function validateConfig(c: RaftConfig): void {
  const fail = (why: string): never => {
    throw new RaftError(`invalid raft config: ${why}`);
  };
  if (!Number.isInteger(c.id) || c.id <= 0) fail('id must be a positive integer');
  if (!Number.isInteger(c.heartbeatTick) || c.heartbeatTick <= 0) fail('heartbeatTick must be a positive integer');
  if (!Number.isInteger(c.electionTick) || c.electionTick <= c.heartbeatTick) {
    fail('electionTick must be an integer greater than heartbeatTick');
  }
  if (!Number.isInteger(c.maxInflightMsgs) || c.maxInflightMsgs <= 0) fail('maxInflightMsgs must be a positive integer');
  if (!(c.maxSizePerMsgBytes >= 0)) fail('maxSizePerMsgBytes must be >= 0');
  if (c.applied !== undefined && (!Number.isInteger(c.applied) || c.applied < 0)) fail('applied must be >= 0');
}

export class Raft {
  readonly id: NodeId;
  term: RaftTerm = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: RaftRole = RaftRole.Follower;
  isLearner = false;
  readonly log: RaftLog;
  readonly trk: ProgressTracker;
  /** Voter the leader is handing leadership to (NONE when no transfer is in progress). */
  leadTransferee: NodeId = NONE;
  /**
   * Index of the latest conf change the leader appended (or its last index at election):
   * a new one is refused until the application has applied past it (one change at a time).
   */
  pendingConfIndex = 0;
  /** Ticks since the last election timeout reset (as follower: since we last heard the leader). */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly disableProposalForwarding: boolean;
  readonly maxMsgSizeBytes: number;
  readonly logger: RaftLogger;
  private readonly rng: Rng;
  /** Messages to other nodes, sent by the caller once the current Ready is persisted. */
  msgs: raftpb.Message[] = [];
  /**
   * Answers to ourselves (our own vote, the leader's acknowledgement of its own entries):
   * stepped back in at advance(), i.e. only once the state they vouch for is durable.
   */
  selfMsgs: raftpb.Message[] = [];
  /** New proposals were appended; MsgApps are cut once per Ready so proposals batch. */
  appendFlushPending = false;

  constructor(config: RaftConfig) {
    validateConfig(config);
    this.id = config.id;
    this.electionTimeout = config.electionTick;
    this.heartbeatTimeout = config.heartbeatTick;
    this.checkQuorum = config.checkQuorum;
    this.preVote = config.preVote;
    this.disableProposalForwarding = config.disableProposalForwarding;
    this.maxMsgSizeBytes = config.maxSizePerMsgBytes;
    this.logger = config.logger ?? NOOP_LOGGER;
    this.rng = config.rng;
    this.log = new RaftLog(config.storage, this.logger, config.maxCommittedSizePerReadyBytes ?? 0);
    this.trk = new ProgressTracker(config.maxInflightMsgs);

    const { hardState, confState } = config.storage.initialState();
    restoreConfState(this.trk, confState, this.log.lastIndex());
    this.isLearner = this.trk.progress.get(this.id)?.isLearner ?? false;
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (config.applied !== undefined && config.applied > this.log.applied) {
      const from = this.log.applied + 1;
      this.log.appliedTo(config.applied, 0);
      replayAppliedConfChanges(this, from, config.applied);
    }
    this.becomeFollower(this.term, NONE);
    this.logger.info(
      {
        id: this.id,
        voters: this.trk.voters,
        term: this.term,
        commit: this.log.committed,
        applied: this.log.applied,
        lastIndex: this.log.lastIndex(),
      },
      'raft node created',
    );
  }

  private loadState(hs: raftpb.HardState): void {
    if (hs.commit < this.log.committed || hs.commit > this.log.lastIndex()) {
      throw new RaftInvariantError(`hard state commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`);
    }
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): raftpb.HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leaderId: this.lead, role: this.role };
  }

  /** Queue a message. Fills in from and (except for votes and proposals) the current term. */
  send(m: raftpb.Message): void {
    if (m.from === NONE) m.from = this.id;
    const t = m.type;
    if (t === MessageType.MsgVote || t === MessageType.MsgVoteResp || t === MessageType.MsgPreVote || t === MessageType.MsgPreVoteResp) {
      // Vote traffic carries the term it is about (a pre-vote asks for term+1).
      if (m.term === 0) throw new RaftInvariantError(`term must be set when sending ${MessageType[t]}`);
    } else if (t !== MessageType.MsgProp) {
      m.term = this.term;
    }
    if (m.to === this.id) {
      if (t !== MessageType.MsgAppResp && t !== MessageType.MsgVoteResp && t !== MessageType.MsgPreVoteResp) {
        throw new RaftInvariantError(`message ${MessageType[t]} must not be addressed to ourselves`);
      }
      this.selfMsgs.push(m);
      return;
    }
    this.msgs.push(m);
  }

  // ---- timers ----

  tick(): void {
    if (this.role === RaftRole.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.MsgHup, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(newMessage({ type: MessageType.MsgCheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned (thesis §3.10).
      if (this.role === RaftRole.Leader && this.leadTransferee !== NONE) {
        this.logger.info({ id: this.id, transferee: this.leadTransferee }, 'leadership transfer timed out; aborting');
        this.abortLeaderTransfer();
      }
    }
    if (this.role !== RaftRole.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.MsgBeat, from: this.id }));
    }
  }

  private resetRandomizedElectionTimeout(): void {
    // Raft §5.2: randomized timeouts in [electionTimeout, 2*electionTimeout) make split votes rare.
    this.randomizedElectionTimeout = this.electionTimeout + this.rng.nextInt(this.electionTimeout);
  }

  // ---- role transitions ----

  private reset(term: RaftTerm): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const lastIndex = this.log.lastIndex();
    for (const [id, old] of this.trk.progress) {
      const pr = new Progress(lastIndex + 1, this.trk.maxInflightMsgs, old.isLearner);
      if (id === this.id) pr.match = lastIndex;
      this.trk.progress.set(id, pr);
    }
    this.pendingConfIndex = 0;
    this.appendFlushPending = false;
  }

  becomeFollower(term: RaftTerm, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = RaftRole.Follower;
    this.logger.info({ id: this.id, term: this.term, lead }, 'became follower');
  }

  becomeCandidate(): void {
    if (this.role === RaftRole.Leader) throw new RaftInvariantError('invalid transition leader -> candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = RaftRole.Candidate;
    this.logger.info({ id: this.id, term: this.term }, 'became candidate');
  }

  becomePreCandidate(): void {
    if (this.role === RaftRole.Leader) throw new RaftInvariantError('invalid transition leader -> pre-candidate');
    // Raft thesis §9.6: a pre-candidate changes neither its term nor its vote.
    this.trk.resetVotes();
    this.lead = NONE;
    this.role = RaftRole.PreCandidate;
    this.logger.info({ id: this.id, term: this.term }, 'became pre-candidate');
  }

  becomeLeader(): void {
    if (this.role === RaftRole.Follower) throw new RaftInvariantError('invalid transition follower -> leader');
    this.reset(this.term);
    this.lead = this.id;
    this.role = RaftRole.Leader;
    const self = this.trk.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Entries from earlier terms may hold a conf change we cannot see yet: refuse new
    // changes until everything up to here is applied.
    this.pendingConfIndex = this.log.lastIndex();
    // Raft §8 / §5.4.2: an empty entry of the new term lets earlier entries commit.
    this.appendEntries([{ type: raftpb.EntryType.EntryNormal, term: 0, index: 0, data: new Uint8Array(0) }]);
    this.logger.info({ id: this.id, term: this.term }, 'became leader');
  }

  /** Leader: stamp term/index on new entries, append them, and self-acknowledge after persistence. */
  appendEntries(ents: raftpb.Entry[]): void {
    let index = this.log.lastIndex();
    for (const e of ents) {
      e.term = this.term;
      e.index = ++index;
    }
    const last = this.log.append(ents);
    // Coalesce: one pending self-ack covers every entry appended before the next Ready.
    const prev = this.selfMsgs[this.selfMsgs.length - 1];
    if (prev !== undefined && prev.type === MessageType.MsgAppResp && prev.term === this.term && !prev.reject) {
      prev.index = last;
      return;
    }
    this.send(newMessage({ type: MessageType.MsgAppResp, to: this.id, index: last }));
  }

  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.log.hasNextOrInProgressSnapshot();
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---- message dispatch ----

  /** Step a message. Throws ProposalDroppedError / ConfChangeRefusedError for refused proposals. */
  step(m: raftpb.Message): void {
    if (m.term === 0) {
      // Local message (tick, proposal, report), no term rules apply.
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER_CONTEXT);
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // Raft thesis §4.2.3: we heard from a live leader within the minimum election
          // timeout, so this candidate cannot be needed; ignore it without bumping our term.
          this.logger.info(
            { id: this.id, from: m.from, type: MessageType[m.type], term: this.term, remainingTicks: this.electionTimeout - this.electionElapsed },
            'ignored vote request: leader lease not expired',
          );
          return;
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // Pre-votes never change our term.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the term we will campaign for, not a newer leader's term.
      } else {
        this.logger.info({ id: this.id, term: this.term, from: m.from, msgTerm: m.term, type: MessageType[m.type] }, 'message with higher term');
        const fromLeader = m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgSnap;
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        hup(this, this.preVote ? CampaignType.PreElection : CampaignType.Election);
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        handleVoteRequest(this, m);
        return;
      default:
        if (this.role === RaftRole.Leader) stepLeader(this, m);
        else if (this.role === RaftRole.Follower) stepFollower(this, m);
        else stepCandidate(this, m);
    }
  }

  private stepLowerTerm(m: raftpb.Message): void {
    if ((this.checkQuorum || this.preVote) && (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)) {
      // A stale leader (e.g. partitioned, its term overtaken while we ignored pre-votes)
      // would otherwise never learn it was deposed; our answer carries the higher term.
      this.send(newMessage({ type: MessageType.MsgAppResp, to: m.from }));
    } else if (m.type === MessageType.MsgPreVote) {
      // Reject explicitly so the pre-candidate learns our term and does not wait forever.
      this.send(newMessage({ type: MessageType.MsgPreVoteResp, to: m.from, term: this.term, reject: true }));
    } else {
      this.logger.debug({ id: this.id, term: this.term, from: m.from, msgTerm: m.term, type: MessageType[m.type] }, 'ignored message with lower term');
    }
  }

  maybeCommit(): boolean {
    return this.log.maybeCommit(this.trk.committed(), this.term);
  }
}
