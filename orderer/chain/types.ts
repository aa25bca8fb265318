// What a Chain is built from. Every dependency is an interface so the real-process
// tests, the benchmark and (later) the simulator can all drive the same Chain.
import type { ChainMetrics } from '../metrics/types';
import type { Logger } from 'pino';
import type { ChannelAccess } from '../policies/channel-access';
import type { ClusterTransport, NodeId } from '../../cluster/types';
import type { Ready, Storage } from '../../consensus/raft/api';
import type { RaftRole } from '../../consensus/raft/api';
import type { BlockStore } from '../../ledger/block-store';
import type { MetadataSigner } from '../../ledger/metadata';
import type { raftpb, common } from '../../protos';
import type { ChannelConfigState } from './channel-config';
import type { RaftConsenter } from '../channelconfig';
import type { PreferredLeaderStatus } from './preferred-leader';

/** Consensus.PreferredLeaderQuietPeriod when not set. */
export const DEFAULT_PREFERRED_LEADER_QUIET_PERIOD_MS = 10_000;

/** A consenter of the channel with its Raft id (etcdraft consenter list + BlockMetadata.consenter_ids). */
export interface RaftMember {
  readonly id: NodeId;
  readonly host: string;
  readonly port: number;
}

/** The channel settings a chain runs with, taken from its latest config block. */
export interface ChainSettings {
  readonly configSequence: number;
  readonly maintenanceMode: boolean;
  readonly members: readonly RaftMember[];
  readonly nextConsenterId: number;
  readonly tickIntervalMs: number;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly maxInflightBlocks: number;
  readonly snapshotIntervalSizeBytes: number;
  readonly maxMessageCount: number;
  readonly absoluteMaxBytes: number;
  readonly preferredMaxBytes: number;
  readonly batchTimeoutMs: number;
  /** Block number of the newest config block (LAST_CONFIG). */
  /**
   * Where the blocks behind a snapshot are pulled from: the orderer organisations' Deliver
   * endpoints in the channel config (reference §3.13). Absent: the other consenters' host:port
   * (tests, the simulator), which is right only when Step and Deliver share a port.
   */
  readonly pullEndpoints?: readonly string[];
  readonly lastConfigIndex: number;
}

/** Durable Raft state as the chain needs it: WAL + snapshots in production. */
export interface RaftPersistence {
  /** What RawNode reads; updated by saveReady. */
  readonly storage: Storage;
  /** True when no Raft state existed on disk (a brand-new member of the channel). */
  readonly fresh: boolean;
  /** Persists a Ready's hard state, entries and snapshot (one fsync when mustSync), then updates storage. */
  saveReady(ready: Ready): Promise<void>;
  /** Takes a snapshot at `index` holding `data`, then compacts the log up to index - keepEntries. */
  snapshot(index: number, confState: raftpb.ConfState, data: Uint8Array): Promise<void>;
  /** Closes the WAL (syncs it, releases its lock). Safe to call more than once. */
  close(): Promise<void>;
  /** The channel's WAL directory, named when the chain halts and an operator must act on it. */
  readonly walDir?: string;
  /** The channel's snapshot directory, named likewise. */
  readonly snapDir?: string;
}

/** What the chain asks a block puller for when it catches up to a snapshot. */
export interface BlockPullRequest {
  channelId: string;
  fromNumber: number;
  toNumber: number;
  previousHash: Uint8Array;
  endpoints: readonly string[];
  signal: AbortSignal;
}

/** Pulls blocks [fromNumber, toNumber] from the other orderers, hash chain verified. */
export type BlockPullFn = (request: BlockPullRequest) => AsyncIterable<{ block: common.Block; bytes: Uint8Array }>;

export interface ChainTimers {
  setInterval(fn: () => void, ms: number): () => void;
  setTimeout(fn: () => void, ms: number): () => void;
  nowMs(): number;
}

export const REAL_TIMERS: ChainTimers = {
  setInterval(fn, ms) {
    const h = setInterval(fn, ms);
    return () => clearInterval(h);
  },
  setTimeout(fn, ms) {
    const h = setTimeout(fn, ms);
    return () => clearTimeout(h);
  },
  nowMs: () => Date.now(),
};

export interface ChainOptions {
  channelId: string;
  /** This channel's recorders (orderer/metrics forChannel); nothing recorded when absent. */
  metrics?: ChainMetrics;
  selfId: NodeId;
  settings: ChainSettings;
  blockStore: BlockStore;
  raft: RaftPersistence;
  transport: ClusterTransport;
  pullBlocks: BlockPullFn;
  logger: Logger;
  /**
   * Who may write and read at the channel's config (its MSPs and policies), served to Broadcast
   * and Deliver through ChainHandle.access(). Built by the node from the config block the
   * settings came from.
   */
  access: ChannelAccess;
  /** Signs each block's SIGNATURES metadata with the node's identity (General.LocalMSPDir); unsigned without. */
  signer?: MetadataSigner;
  /**
   * The channel's config and how config updates change it (orderer/chain/channel-config.ts).
   * Without it (tests of other parts, the simulator) a CONFIG_UPDATE is NOT_IMPLEMENTED and a
   * config block halts the chain.
   */
  config?: ChannelConfigState;
  /**
   * Whom the cluster transport must know changed: the consenters of the last config block, plus
   * Raft voters a config block removed whose removal Raft has not applied yet (a removed leader
   * hands its leadership over through them). `consenters[i]` belongs to `members[i]`.
   */
  onClusterMembersChanged?(members: readonly RaftMember[], consenters: readonly RaftConsenter[]): void;
  /**
   * Consensus.EvictionSuspicion: after this long without a leader the chain asks checkEviction
   * whether the channel's newest config block, as the other orderers have it, still lists this
   * node (Fabric §3.11); again after each further such period. Off without checkEviction.
   */
  evictionSuspicionMs?: number;
  /**
   * Asks the other orderers for the channel's newest config block (verified against
   * BlockValidation) and says whether it lists this node; undefined when none could say.
   */
  checkEviction?(): Promise<EvictionVerdict | undefined>;
  /** Consensus.TickIntervalOverride: kept when a config block changes the channel's TickInterval. */
  tickIntervalOverrideMs?: number;
  /**
   * Consensus.PreferredLeaders: consenter endpoints (host:port as in the consenter list), highest
   * rank first. A leader hands over to a better-ranked healthy, caught-up consenter after the
   * quiet period (preferred-leader.ts). Empty or absent: off.
   */
  preferredLeaders?: readonly string[];
  /** Consensus.PreferredLeaderQuietPeriod (default 10 s). */
  preferredLeaderQuietPeriodMs?: number;
  /** General.Authentication.NoExpirationChecks, for the leader's re-check of envelopes after a config change. */
  noExpirationChecks?: boolean;
  timers?: ChainTimers;
  /** Seed of the Raft core's election-timeout randomness. */
  rngSeed?: number;
  /** Envelopes waiting for the block cutter on the leader before Broadcast hears SERVICE_UNAVAILABLE. */
  maxIntakeEnvelopes?: number;
  /** Client envelopes the leader takes ahead of its block pipeline before Broadcast waits (default max(2 x MaxMessageCount, 1000)). */
  intakeHighWater?: number;
  /** Bytes (sum of envelope bytes) waiting for the block cutter before Broadcast hears SERVICE_UNAVAILABLE (default 256 MiB). */
  maxIntakeBytes?: number;
  /** Bytes the leader takes ahead of its block pipeline before client Broadcasts wait (default 64 MiB). */
  intakeHighWaterBytes?: number;
  /** How long a Broadcast waits for room on a busy leader before SERVICE_UNAVAILABLE. */
  intakeWaitTimeoutMs?: number;
  /**
   * Bytes (sum of envelope bytes) of envelopes acknowledged and not yet seen in a block; beyond
   * this (or maxIntakeEnvelopes of them) Broadcast answers SERVICE_UNAVAILABLE. Default 256 MiB.
   */
  maxAcceptedBytes?: number;
  /** Bytes of queued inputs above which the cluster stops reading peers' streams (default 64 MiB). */
  eventQueueHighWaterBytes?: number;
  /** Streams paused on a full event queue read again once it drained below this (default 16 MiB). */
  eventQueueLowWaterBytes?: number;
  /** Hard cap: beyond it Raft messages and forwarded envelopes are dropped, retransmitted later (default 256 MiB). */
  eventQueueMaxBytes?: number;
  /** How long an accepted, not yet ordered envelope is kept for resubmission. */
  resubmitTtlMs?: number;
  /** Unordered envelopes older than this are sent to the leader again. */
  resubmitAfterMs?: number;
  /** How long a Broadcast on the leader waits for its block to commit before "fate unknown" (default 20 s). */
  commitWaitTimeoutMs?: number;
  /**
   * The channel's ledger directory (<FileLedger.Location>/chains/<channel>), named in the
   * recovery advice when the chain halts on broken state.
   */
  ledgerDir?: string;
}

/** A ledger catching up to a Raft snapshot, as status() shows it. */
export interface CatchUpStatus {
  /** Ledger height when the catch-up began. */
  fromHeight: number;
  /** The snapshot's block: the last one the catch-up appends (those before it are pulled). */
  toBlock: number;
  snapshotIndex: number;
  /** True while blocks are pulled; false once they are in and the loop applies the backlog. */
  pulling: boolean;
  /** Committed entries up to this index wait to be applied after the snapshot's block. */
  backlogToIndex: number;
}

/** What a chain reports to operators (SIGUSR2) and tests. */
export interface ChainStatus {
  channelId: string;
  nodeId: NodeId;
  role: RaftRole;
  leaderId: NodeId;
  term: number;
  commitIndex: number;
  /** Everything up to this Raft index is in the ledger (behind commitIndex while catching up). */
  appliedIndex: number;
  height: number;
  /** Set while the ledger is behind a Raft snapshot: pulling its blocks, then applying what committed meanwhile. */
  catchingUp: CatchUpStatus | undefined;
  inflightBlocks: number;
  intakeEnvelopes: number;
  /** Bytes of the envelopes in the leader's intake. */
  intakeBytes: number;
  acceptedUnordered: number;
  halted: boolean;
  /** Why the chain halted (undefined while it runs). */
  haltReason: string | undefined;
  /**
   * True when it halted because its own state is broken (a Raft invariant, lost WAL entries):
   * it serves neither Broadcast nor Deliver until an operator recovers it.
   */
  broken: boolean;
  leaderReady: boolean;
  pendingInCutter: number;
  inflightBlockNumbers: number[];
  lastCreatedBlock: number;
  processingReady: boolean;
  queuedEvents: number;
  /** Bytes of the queued inputs, as the event queue's bound counts them. */
  queuedEventBytes: number;
  forwardedReceived: number;
  forwardedQueued: number;
  acknowledged: number;
  resubmitted: number;
  /** Set when Consensus.PreferredLeaders is: the preferred leader and this node's back-off. */
  preferredLeader?: PreferredLeaderStatus;
}

/** What the other orderers' newest config block says of this node. */
export interface EvictionVerdict {
  /** True when this node is not among its consenters. */
  readonly removed: boolean;
  /** The config block's number. */
  readonly configBlockNumber: number;
}
