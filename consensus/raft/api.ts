// The public contract of the Raft core. consensus/raft/ is a pure state machine:
// no IO, no timers, no clock, no global randomness. Everything comes in through
// RawNode's methods (ticks, messages, proposals, a seeded Rng) and leaves in a Ready.
// Messages and entries are the raftpb wire types, so the cluster layer ships them as is.
import type { raftpb } from '../../protos';

export type NodeId = number;
export type RaftIndex = number;
export type RaftTerm = number;

/** NodeId 0 means "nobody" (no leader known, no vote cast), as in etcd. */
export const NONE: NodeId = 0;

/** Seeded randomness handed in by the caller; the core never reads Math.random. */
export interface Rng {
  /** A uniformly distributed integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
}

/** Minimal logger the core writes to; the orderer passes a pino child. */
export interface RaftLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RaftConfig {
  id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns; randomized in [electionTick, 2*electionTick). */
  electionTick: number;
  /** Ticks between leader heartbeats. Must be < electionTick. */
  heartbeatTick: number;
  storage: Storage;
  /** Last index the application has applied (0 = start from the storage's snapshot). */
  applied?: RaftIndex;
  /** Byte cap on the entries of one MsgApp (at least one entry is always sent). */
  maxSizePerMsgBytes: number;
  /** Maximum in-flight MsgApp per follower while replicating. */
  maxInflightMsgs: number;
  /** Byte cap on committed-entry batches handed out in one Ready (0 = unlimited). */
  maxCommittedSizePerReadyBytes?: number;
  checkQuorum: boolean;
  preVote: boolean;
  /** When true a follower refuses proposals instead of forwarding them to the leader. */
  disableProposalForwarding: boolean;
  rng: Rng;
  logger?: RaftLogger;
}

export enum RaftRole {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

export interface SoftState {
  leaderId: NodeId;
  role: RaftRole;
}

/**
 * What the caller must do, in this order: persist hardState/entries/snapshot (fsync if
 * mustSync), then send messages, then apply the snapshot and committedEntries, then advance().
 */
export interface Ready {
  /** Present only when it changed since the previous Ready. */
  softState?: SoftState;
  /** Present only when it changed since the previous Ready. */
  hardState?: raftpb.HardState;
  /** Entries to append to stable storage before sending messages. */
  entries: raftpb.Entry[];
  /** Snapshot to persist and apply, if any. */
  snapshot?: raftpb.Snapshot;
  committedEntries: raftpb.Entry[];
  messages: raftpb.Message[];
  /** True when hardState or entries must be fsynced before messages go out. */
  mustSync: boolean;
}

export enum ProgressState {
  Probe = 'probe',
  Replicate = 'replicate',
  Snapshot = 'snapshot',
}

export interface PeerProgress {
  match: RaftIndex;
  next: RaftIndex;
  state: ProgressState;
  pendingSnapshot: RaftIndex;
  recentActive: boolean;
  isLearner: boolean;
  inflight: number;
}

export interface RaftStatus {
  id: NodeId;
  term: RaftTerm;
  vote: NodeId;
  commit: RaftIndex;
  applied: RaftIndex;
  leaderId: NodeId;
  role: RaftRole;
  /** Only on the leader: progress of every member, keyed by id. */
  progress: Map<NodeId, PeerProgress>;
  leadTransferee: NodeId;
  confState: raftpb.ConfState;
}

export enum SnapshotStatus {
  Finish = 'finish',
  Failure = 'failure',
}

/**
 * Raft's view of stable storage. Reads only: the caller writes (append, hard state,
 * snapshot) itself after each Ready. Implementations: MemoryStorage (tests, simulator)
 * and the WAL-backed storage in consensus/wal/.
 */
export interface Storage {
  initialState(): { hardState: raftpb.HardState; confState: raftpb.ConfState };
  /**
   * Entries [lo, hi) limited to maxBytes in total (at least one entry when lo < hi, so a cap
   * of 0 yields one entry; Number.POSITIVE_INFINITY means no cap). Sizes are the entries'
   * protobuf encoding sizes. Throws CompactedError, UnavailableError.
   */
  entries(lo: RaftIndex, hi: RaftIndex, maxBytes: number): raftpb.Entry[];
  /** Term of entry i; valid for firstIndex()-1 ..lastIndex(). Throws CompactedError, UnavailableError. */
  term(i: RaftIndex): RaftTerm;
  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): RaftIndex;
  lastIndex(): RaftIndex;
  /** Most recent snapshot. Throws SnapshotTemporarilyUnavailableError if it is being built. */
  snapshot(): raftpb.Snapshot;
}

/** A mutable Storage: what the caller updates after persisting a Ready. */
export interface WritableStorage extends Storage {
  setHardState(hardState: raftpb.HardState): void;
  append(entries: raftpb.Entry[]): void;
  applySnapshot(snapshot: raftpb.Snapshot): void;
  /** Build a snapshot at index (<= last applied) with the given data and conf state. */
  createSnapshot(index: RaftIndex, confState: raftpb.ConfState, data: Uint8Array): raftpb.Snapshot;
  /** Discard entries before compactIndex (the entry at compactIndex stays as the log's dummy). */
  compact(compactIndex: RaftIndex): void;
}
