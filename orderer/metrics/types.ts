// The recorders the orderer's parts call, without prom-client: broadcast, deliver, the chains
// and the gRPC handlers depend on these interfaces only. orderer/metrics/prometheus.ts records
// them into a registry; DISABLED_METRICS (index.ts) drops them.
import type { ClusterMetrics } from '../../cluster/metrics';

/** Broadcast (broadcast_* metrics). `headerType` undefined when the envelope did not parse. */
export interface BroadcastMetrics {
  /** checkForBroadcast finished with `status` after `seconds` (broadcast_validate_duration). */
  validated(channel: string, headerType: number | undefined, status: number, seconds: number): void;
  /** The chain settled order() with `status` after `seconds` (broadcast_enqueue_duration). */
  enqueued(channel: string, headerType: number | undefined, status: number, seconds: number): void;
  /** The answer for one envelope was chosen (broadcast_processed_count). */
  processed(channel: string, headerType: number | undefined, status: number): void;
}

/** Deliver (deliver_* metrics); Fabric's filtered="false", data_type="block" are the only values here. */
export interface DeliverMetrics {
  streamOpened(): void;
  streamClosed(): void;
  requestReceived(channel: string): void;
  requestCompleted(channel: string, success: boolean): void;
  blockSent(channel: string): void;
}

/** One served gRPC call (grpc_server_* metrics); created when the call starts. */
export interface RpcTracker {
  messageReceived(): void;
  messageSent(): void;
  /** The call ended with gRPC status `code` (0 = OK). Called once. */
  done(code: number): void;
}

/** Connections accepted by the orderer's gRPC servers (grpc_comm_conn_opened / _closed). */
export interface ConnectionMetrics {
  opened(): void;
  closed(): void;
}

export interface GrpcServerMetrics {
  /** A streaming call of `service` (dots already replaced by `_`) and `method` started. */
  streamStarted(service: string, method: string): RpcTracker;
}

/**
 * What one chain records itself, bound to its channel once (no label lookups per event). The
 * gauges that mirror its state (term, leader, height…) are read at scrape time instead, from
 * the ChannelGaugeSource the node installs.
 */
export interface ChainMetrics {
  leaderChanged(): void;
  proposalFailed(): void;
  normalProposalReceived(): void;
  configProposalReceived(): void;
  /** One Ready's snapshot, entries and hard state written (and fsynced) (data_persist_duration). */
  dataPersisted(seconds: number): void;
  /** One Ready handled from persist to advance (consensus_etcdraft_ready_duration). */
  readyHandled(seconds: number): void;
  /** One WAL fdatasync (consensus_etcdraft_wal_fsync_duration). */
  walFsynced(seconds: number): void;
  /** This node took a Raft snapshot holding block `blockNumber` (snapshot_count, snapshot_block_number). */
  snapshotTaken(blockNumber: number): void;
  /** From the first envelope of a batch to the batch being cut (blockcutter_block_fill_duration). */
  blockFilled(seconds: number): void;
  /** A block written to the ledger in `seconds` (ledger_blockstorage_commit_time), at unix time `atSeconds`. */
  blockCommitted(seconds: number, atSeconds: number): void;
  /** The channel is gone from this node: its label values are removed from the registry. */
  release(): void;
}

/** Fabric's participation_status values. */
export const PARTICIPATION_STATUS = { inactive: 0, active: 1, onboarding: 2, failed: 3 } as const;
/** Fabric's participation_consensus_relation values. */
export const CONSENSUS_RELATION = { other: 0, consenter: 1, follower: 2, 'config-tracker': 3 } as const;

/** A running chain's state as a scrape reads it. */
export interface ChainGaugeValues {
  readonly nodeId: number;
  readonly term: number;
  readonly commitIndex: number;
  /** 0 = no leader known. */
  readonly leaderId: number;
  readonly isLeader: boolean;
  readonly halted: boolean;
  readonly inflightBlocks: number;
  readonly intakeBytes: number;
  readonly acceptedEnvelopes: number;
  readonly clusterSize: number;
  /** Known on the leader only (the consenters it heard from recently, itself included). */
  readonly activeNodes: number | undefined;
  readonly committedBlockNumber: number;
}

/** One channel of the node at scrape time. */
export interface ChannelGaugeValues {
  readonly channel: string;
  readonly participationStatus: number;
  readonly consensusRelation: number;
  readonly height: number;
  /** Undefined while onboarding or inactive (no chain runs). */
  readonly chain: ChainGaugeValues | undefined;
}

/** The node's channels, read at scrape time. */
export type ChannelGaugeSource = () => readonly ChannelGaugeValues[];

export interface OrdererMetrics {
  /** The prom-client registry to serve at /metrics; undefined when metrics are disabled. */
  readonly registry: import('prom-client').Registry | undefined;
  readonly broadcast: BroadcastMetrics;
  readonly deliver: DeliverMetrics;
  readonly grpc: GrpcServerMetrics;
  readonly connections: ConnectionMetrics;
  readonly cluster: ClusterMetrics;
  /** Binds the chain recorders of one channel (call once per channel open). */
  forChannel(channel: string): ChainMetrics;
  /** Installs what the per-channel gauges read at scrape time (the node calls it once). */
  setChannelSource(source: ChannelGaugeSource): void;
  /**
   * A log entry was written at `level` (logging_entries_checked and logging_entries_written).
   * Both count written entries at enabled levels: pino filters disabled levels before any hook
   * of ours runs, so "checked but not written" cannot be seen from here.
   */
  onLogEntry(level: string): void;
}
