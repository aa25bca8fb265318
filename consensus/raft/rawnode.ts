// RawNode: the caller-facing driver of the Raft state machine. Inputs go in through
// tick/step/propose; everything the caller must do comes out in a Ready, in one batch:
// persist, then send, then apply, then advance().
import { raftpb } from '../../protos';
import type { NodeId, PeerProgress, RaftConfig, RaftIndex, RaftStatus, RaftTerm, Ready, SoftState, WritableStorage } from './api';
import { NONE, RaftRole, SnapshotStatus } from './api';
import { applyConfChange } from './configuration';
import { RaftError, RaftInvariantError, RaftMisaddressedError, StepRejectedError } from './errors';
import { Raft } from './raft';
import { flushPendingAppends } from './replication';
import { entriesSizeBytes, hardStateEqual, isEmptyHardState, isLocalMsg, isResponseMsg, newMessage, EMPTY } from './util';

const MessageType = raftpb.MessageType;

/** What a handed-out Ready promised, settled by advance(). */
interface ReadyInFlight {
  lastEntry?: { index: RaftIndex; term: RaftTerm };
  snapshotIndex?: RaftIndex;
  lastCommitted?: RaftIndex;
  committedBytes: number;
  stepsOnAdvance: raftpb.Message[];
}

function bootstrapEntries(peers: NodeId[]): raftpb.Entry[] {
  if (peers.length === 0) throw new RaftError('bootstrap needs at least one peer');
  if (new Set(peers).size !== peers.length) throw new RaftError(`bootstrap peers must be distinct: ${peers.join(',')}`);
  // etcd's StartNode/Bootstrap: one committed AddNode per peer at term 1, index 1..n, so
  // every member starts from the same log and a fresh node cannot elect itself alone.
  return peers.map((id, i) => ({
    type: raftpb.EntryType.EntryConfChange,
    term: 1,
    index: i + 1,
    data: raftpb.ConfChange.encode({ type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: id }),
  }));
}

export class RawNode {
  private readonly raft: Raft;
  private prevSoftState: SoftState;
  private prevHardState: raftpb.HardState;
  private inFlight: ReadyInFlight | undefined = undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoftState = this.raft.softState();
    // A restarted node's hard state is already durable: report only changes from here.
    this.prevHardState = this.raft.hardState();
  }

  /**
   * Write the initial membership straight into an empty storage: AddNode entries for the
   * peers at term 1, index 1..n, committed. A RawNode created on that storage hands them
   * out as committedEntries in its first Ready; the caller applies them with
   * applyConfChange like any other conf change.
   */
  static bootstrap(storage: WritableStorage, peers: NodeId[]): void {
    if (storage.lastIndex() !== 0 || storage.firstIndex() !== 1) {
      throw new RaftError("can't bootstrap a nonempty storage");
    }
    const ents = bootstrapEntries(peers);
    storage.append(ents);
    storage.setHardState({ term: 1, vote: NONE, commit: ents.length });
  }

  /**
   * Bootstrap through the node itself (like etcd's RawNode.Bootstrap): the configuration
   * takes effect at once and the first Ready carries the entries to persist, the hard state
   * and the committed entries to apply.
   */
  bootstrap(peers: NodeId[]): void {
    const r = this.raft;
    if (r.log.lastIndex() !== 0 || r.log.storage.lastIndex() !== 0) {
      throw new RaftError("can't bootstrap a nonempty storage");
    }
    const ents = bootstrapEntries(peers);
    this.prevHardState = { term: 0, vote: NONE, commit: 0 };
    r.becomeFollower(1, NONE);
    r.log.append(ents);
    r.log.commitTo(ents.length);
    for (const id of peers) {
      applyConfChange(r, { id: 0, type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: id, context: EMPTY });
    }
  }

  /** One logical clock tick: election timeout for followers, heartbeat for the leader. */
  tick(): void {
    this.raft.tick();
  }

  /** Start an election now (pre-vote first if enabled). */
  campaign(): void {
    this.raft.step(newMessage({ type: MessageType.MsgHup, from: this.raft.id }));
  }

  /** Propose data for the log. Throws ProposalDroppedError if it cannot be accepted now. */
  propose(data: Uint8Array): void {
    this.raft.step(
      newMessage({
        type: MessageType.MsgProp,
        from: this.raft.id,
        entries: [{ type: raftpb.EntryType.EntryNormal, term: 0, index: 0, data }],
      }),
    );
  }

  /**
   * Propose a membership change (v1). Throws ConfChangeRefusedError while another change is
   * not yet applied, ProposalDroppedError when the proposal cannot be accepted now.
   */
  proposeConfChange(cc: raftpb.ConfChangeInit): void {
    this.raft.step(
      newMessage({
        type: MessageType.MsgProp,
        from: this.raft.id,
        entries: [{ type: raftpb.EntryType.EntryConfChange, term: 0, index: 0, data: raftpb.ConfChange.encode(cc) }],
      }),
    );
  }

  /** Apply a committed conf change (call while applying committedEntries). Returns the new ConfState. */
  applyConfChange(cc: raftpb.ConfChange): raftpb.ConfState {
    return applyConfChange(this.raft, cc);
  }

  /**
   * Step a message received from a peer. Rejects (StepRejectedError) local-only message
   * types and responses from non-members (e.g. late answers of a removed node): a transport
   * logs and drops them. A message addressed to another node throws RaftMisaddressedError and
   * one that shows this node's log lost acknowledged entries RaftLogLostError (both
   * RaftInvariantError): the caller must stop this node. A proposal forwarded by a
   * follower (MsgProp) that this node cannot take throws ProposalDroppedError, as etcd's
   * Step returns ErrProposalDropped; the forwarder is not told.
   */
  step(msg: raftpb.Message): void {
    if (isLocalMsg(msg.type)) {
      throw new StepRejectedError(`message type ${MessageType[msg.type] ?? msg.type} is local-only and cannot come from the network`);
    }
    if (msg.to !== this.raft.id) {
      // Not a refusal: a vote or acknowledgement meant for another node must not be counted
      // here, and it means the cluster's ids are crossed (Fabric halts the chain on it).
      throw new RaftMisaddressedError(msg.to, this.raft.id, `message ${MessageType[msg.type] ?? msg.type} from node ${msg.from}`);
    }
    if (isResponseMsg(msg.type) && !this.raft.trk.progress.has(msg.from)) {
      throw new StepRejectedError(`response ${MessageType[msg.type]} from node ${msg.from}, which is not a member`);
    }
    this.raft.step(msg);
  }

  hasReady(): boolean {
    const r = this.raft;
    flushPendingAppends(r);
    if (r.lead !== this.prevSoftState.leaderId || r.role !== this.prevSoftState.role) return true;
    const prev = this.prevHardState;
    if (r.term !== prev.term || r.vote !== prev.vote || r.log.committed !== prev.commit) {
      if (r.term !== 0 || r.vote !== 0 || r.log.committed !== 0) return true;
    }
    if (r.log.nextUnstableSnapshot() !== undefined) return true;
    if (r.msgs.length > 0 || r.selfMsgs.length > 0) return true;
    return r.log.hasNextUnstableEntries() || r.log.hasNextCommittedEntries();
  }

  /** Everything to do now. Exactly one Ready may be outstanding: call advance() before the next. */
  ready(): Ready {
    if (this.inFlight !== undefined) throw new RaftInvariantError('ready() called again before advance()');
    const r = this.raft;
    flushPendingAppends(r);
    const rd: Ready = {
      entries: r.log.nextUnstableEntries(),
      committedEntries: r.log.nextCommittedEntries(),
      messages: r.msgs,
      mustSync: false,
    };
    const ss = r.softState();
    if (ss.leaderId !== this.prevSoftState.leaderId || ss.role !== this.prevSoftState.role) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    const hs = r.hardState();
    if (!isEmptyHardState(hs) && !hardStateEqual(hs, this.prevHardState)) rd.hardState = hs;
    const snapshot = r.log.nextUnstableSnapshot();
    if (snapshot !== undefined) rd.snapshot = snapshot;
    // A vote or term must be durable before any message relies on it, and so must entries
    // we acknowledge; a commit index alone can be recovered from the peers (etcd's MustSync).
    // We also sync a snapshot, which we acknowledge as our new log.
    rd.mustSync =
      rd.entries.length > 0 || snapshot !== undefined || hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote;
    if (rd.hardState !== undefined) this.prevHardState = hs;

    const inFlight: ReadyInFlight = { committedBytes: 0, stepsOnAdvance: r.selfMsgs };
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) inFlight.lastEntry = { index: lastEntry.index, term: lastEntry.term };
    if (snapshot !== undefined) inFlight.snapshotIndex = snapshot.metadata.index;
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined) {
      inFlight.lastCommitted = lastCommitted.index;
      inFlight.committedBytes = r.log.limitsApplyingBytes ? entriesSizeBytes(rd.committedEntries) : 0;
      r.log.acceptApplying(lastCommitted.index, inFlight.committedBytes);
    }
    r.msgs = [];
    r.selfMsgs = [];
    r.log.acceptUnstable();
    this.inFlight = inFlight;
    return rd;
  }

  /** The last Ready was persisted, sent and applied. */
  advance(): void {
    const inFlight = this.inFlight;
    if (inFlight === undefined) throw new RaftInvariantError('advance() called without an outstanding Ready');
    this.inFlight = undefined;
    const r = this.raft;
    if (inFlight.snapshotIndex !== undefined) {
      r.log.stableSnapTo(inFlight.snapshotIndex);
      r.log.appliedTo(Math.max(r.log.applied, inFlight.snapshotIndex), 0);
    }
    if (inFlight.lastEntry !== undefined) r.log.stableTo(inFlight.lastEntry.index, inFlight.lastEntry.term);
    if (inFlight.lastCommitted !== undefined) {
      r.log.appliedTo(Math.max(r.log.applied, inFlight.lastCommitted), inFlight.committedBytes);
    }
    // Our own votes and acknowledgements count only now that they are durable.
    for (const m of inFlight.stepsOnAdvance) r.step(m);
  }

  status(): RaftStatus {
    const r = this.raft;
    const progress = new Map<NodeId, PeerProgress>();
    if (r.role === RaftRole.Leader) {
      for (const id of r.trk.ids()) {
        const pr = r.trk.progress.get(id)!;
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          pendingSnapshot: pr.pendingSnapshot,
          recentActive: pr.recentActive,
          isLearner: pr.isLearner,
          inflight: pr.inflights.count,
        });
      }
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      leaderId: r.lead,
      role: r.role,
      progress,
      leadTransferee: r.leadTransferee,
      confState: r.trk.confState(),
    };
  }

  /** The transport failed to deliver to id: the leader stops streaming to it optimistically. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.MsgUnreachable, from: id }));
  }

  /** Outcome of sending a MsgSnap to id; either way the leader goes back to probing it. */
  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    this.raft.step(newMessage({ type: MessageType.MsgSnapStatus, from: id, reject: status === SnapshotStatus.Failure }));
  }

  /** Ask the leader (this node, or forwarded to it) to hand leadership to transferee. */
  transferLeadership(transferee: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.MsgTransferLeader, from: transferee }));
  }
}
