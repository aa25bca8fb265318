// The Prometheus implementation of the recorders (types.ts), with Fabric's metric names, types
// and labels (reference §6.5) plus a few of ours (README.md). The hot path stays cheap:
// - label children are looked up once per label combination and kept (a Map get per event,
//   no label-object allocation or hashing inside prom-client);
// - gauges that mirror state (term, leader, height, sizes…) are not set per event: a collect()
//   callback reads them from the node when Prometheus scrapes.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClusterMetrics } from '../../cluster/metrics';
import type { MessageKind } from '../../cluster/types';
import { common } from '../../protos';
import type {
  BroadcastMetrics,
  ConnectionMetrics,
  ChainMetrics,
  ChannelGaugeSource,
  ChannelGaugeValues,
  DeliverMetrics,
  GrpcServerMetrics,
  OrdererMetrics,
  RpcTracker,
} from './types';

/** Fabric's ledger_blockstorage_commit_time buckets (seconds). */
const COMMIT_TIME_BUCKETS = [0.005, 0.01, 0.015, 0.05, 0.1, 1, 10];

function headerTypeName(headerType: number | undefined): string {
  if (headerType === undefined) return 'unknown';
  return common.HeaderType[headerType] ?? 'unknown';
}

function statusLabel(status: number): string {
  return common.Status[status] ?? String(status);
}

/** Label children per label combination, created on first use. */
class ChildCache<T> {
  private readonly children = new Map<string, { labels: Record<string, string>; child: T }>();
  constructor(private readonly make: (labels: Record<string, string>) => T) {}

  get(key: string, labels: () => Record<string, string>): T {
    let entry = this.children.get(key);
    if (entry === undefined) {
      const l = labels();
      entry = { labels: l, child: this.make(l) };
      this.children.set(key, entry);
    }
    return entry.child;
  }

  /** Forgets (and returns the labels of) every child whose `channel` label is `channel`. */
  dropChannel(channel: string): Record<string, string>[] {
    const dropped: Record<string, string>[] = [];
    for (const [key, entry] of this.children) {
      if (entry.labels['channel'] === channel) {
        dropped.push(entry.labels);
        this.children.delete(key);
      }
    }
    return dropped;
  }
}

export class PrometheusOrdererMetrics implements OrdererMetrics {
  readonly registry = new Registry();
  readonly broadcast: BroadcastMetrics;
  readonly deliver: DeliverMetrics;
  readonly grpc: GrpcServerMetrics;
  readonly connections: ConnectionMetrics;
  readonly cluster: ClusterMetrics;

  private source: ChannelGaugeSource = () => [];
  private snapshot: readonly ChannelGaugeValues[] | undefined;
  private readonly releasers = new Set<(channel: string) => void>();

  private readonly loggingChecked: Counter<'level'>;
  private readonly loggingWritten: Counter<'level'>;

  constructor(options: { version: string; commitSha: string }) {
    const registry = this.registry;
    processGauges(registry);

    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
      new Counter<L>({ name, help, labelNames, registers: [registry] });
    const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets?: number[]): Histogram<L> =>
      new Histogram<L>({ name, help, labelNames, registers: [registry], ...(buckets !== undefined ? { buckets } : {}) });
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> =>
      new Gauge<L>({ name, help, labelNames, registers: [registry] });
    /** A per-channel gauge filled from the node's channels at scrape time. */
    const channelGauge = (name: string, help: string, read: (ch: ChannelGaugeValues) => number | undefined): void => {
      const snapshotOf = (): readonly ChannelGaugeValues[] => this.channelsNow();
      new Gauge<'channel'>({
        name,
        help,
        labelNames: ['channel'],
        registers: [registry],
        collect() {
          // Reset first: a removed channel's value disappears with it.
          this.reset();
          for (const ch of snapshotOf()) {
            const v = read(ch);
            if (v !== undefined) this.labels(ch.channel).set(v);
          }
        },
      });
    };

    // ---- fabric_version
    gauge('fabric_version', 'The version of this orderer (with the git commit it was built from).', ['version']).labels(
      options.commitSha.length > 0 ? `${options.version}-${options.commitSha}` : options.version,
    ).set(1);

    // ---- broadcast
    const validate = histogram('broadcast_validate_duration', 'Seconds to validate a broadcast envelope.', ['channel', 'type', 'status']);
    const enqueue = histogram('broadcast_enqueue_duration', 'Seconds to hand a valid envelope to its chain (until the chain answered).', ['channel', 'type', 'status']);
    const processed = counter('broadcast_processed_count', 'Broadcast envelopes answered.', ['channel', 'type', 'status']);
    const bLabels = (channel: string, headerType: number | undefined, status: number) => (): Record<string, string> => ({
      channel,
      type: headerTypeName(headerType),
      status: statusLabel(status),
    });
    const validateChildren = new ChildCache((l) => validate.labels(l));
    const enqueueChildren = new ChildCache((l) => enqueue.labels(l));
    const processedChildren = new ChildCache((l) => processed.labels(l));
    const key = (channel: string, headerType: number | undefined, status: number): string => `${channel}\u0000${headerType ?? -1}\u0000${status}`;
    this.broadcast = {
      validated: (channel, headerType, status, seconds) =>
        validateChildren.get(key(channel, headerType, status), bLabels(channel, headerType, status)).observe(seconds),
      enqueued: (channel, headerType, status, seconds) =>
        enqueueChildren.get(key(channel, headerType, status), bLabels(channel, headerType, status)).observe(seconds),
      processed: (channel, headerType, status) => processedChildren.get(key(channel, headerType, status), bLabels(channel, headerType, status)).inc(),
    };
    this.releasers.add((channel) => {
      for (const l of validateChildren.dropChannel(channel)) validate.remove(l);
      for (const l of enqueueChildren.dropChannel(channel)) enqueue.remove(l);
      for (const l of processedChildren.dropChannel(channel)) processed.remove(l);
    });

    // ---- deliver
    const streamsOpened = counter('deliver_streams_opened', 'Deliver streams opened.', []);
    const streamsClosed = counter('deliver_streams_closed', 'Deliver streams closed.', []);
    const requestsReceived = counter('deliver_requests_received', 'Deliver seek requests received.', ['channel', 'filtered', 'data_type']);
    const requestsCompleted = counter('deliver_requests_completed', 'Deliver seek requests completed.', ['channel', 'filtered', 'data_type', 'success']);
    const blocksSent = counter('deliver_blocks_sent', 'Blocks sent by Deliver.', ['channel', 'filtered', 'data_type']);
    const receivedChildren = new ChildCache((l) => requestsReceived.labels(l));
    const completedChildren = new ChildCache((l) => requestsCompleted.labels(l));
    const sentChildren = new ChildCache((l) => blocksSent.labels(l));
    const dLabels = (channel: string) => (): Record<string, string> => ({ channel, filtered: 'false', data_type: 'block' });
    this.deliver = {
      streamOpened: () => streamsOpened.inc(),
      streamClosed: () => streamsClosed.inc(),
      requestReceived: (channel) => receivedChildren.get(channel, dLabels(channel)).inc(),
      requestCompleted: (channel, success) =>
        completedChildren.get(`${channel}\u0000${success}`, () => ({ ...dLabels(channel)(), success: String(success) })).inc(),
      blockSent: (channel) => sentChildren.get(channel, dLabels(channel)).inc(),
    };
    this.releasers.add((channel) => {
      for (const l of receivedChildren.dropChannel(channel)) requestsReceived.remove(l);
      for (const l of completedChildren.dropChannel(channel)) requestsCompleted.remove(l);
      for (const l of sentChildren.dropChannel(channel)) blocksSent.remove(l);
    });

    // ---- gRPC server (Fabric's grpcmetrics interceptors); every call here is a stream
    histogram('grpc_server_unary_request_duration', 'Seconds to complete a unary call.', ['service', 'method', 'code']);
    counter('grpc_server_unary_requests_received', 'Unary calls received.', ['service', 'method']);
    counter('grpc_server_unary_requests_completed', 'Unary calls completed.', ['service', 'method', 'code']);
    const streamDuration = histogram('grpc_server_stream_request_duration', 'Seconds a streaming call lasted.', ['service', 'method', 'code']);
    const streamReceived = counter('grpc_server_stream_requests_received', 'Streaming calls received.', ['service', 'method']);
    const streamCompleted = counter('grpc_server_stream_requests_completed', 'Streaming calls completed.', ['service', 'method', 'code']);
    const msgsReceived = counter('grpc_server_stream_messages_received', 'Messages received on streaming calls.', ['service', 'method']);
    const msgsSent = counter('grpc_server_stream_messages_sent', 'Messages sent on streaming calls.', ['service', 'method']);
    const methodChildren = new Map<string, { received: { inc(): void }; msgIn: { inc(): void }; msgOut: { inc(): void } }>();
    this.grpc = {
      streamStarted: (service, method): RpcTracker => {
        const k = `${service}/${method}`;
        let c = methodChildren.get(k);
        if (c === undefined) {
          c = { received: streamReceived.labels(service, method), msgIn: msgsReceived.labels(service, method), msgOut: msgsSent.labels(service, method) };
          methodChildren.set(k, c);
        }
        const children = c;
        children.received.inc();
        const startedMs = performance.now();
        let ended = false;
        return {
          messageReceived: () => children.msgIn.inc(),
          messageSent: () => children.msgOut.inc(),
          done: (code) => {
            if (ended) return;
            ended = true;
            const codeName = GRPC_CODE_NAMES[code] ?? String(code);
            streamCompleted.labels(service, method, codeName).inc();
            streamDuration.labels(service, method, codeName).observe((performance.now() - startedMs) / 1000);
          },
        };
      },
    };
    const connOpened = counter('grpc_comm_conn_opened', 'gRPC connections opened.', []);
    const connClosed = counter('grpc_comm_conn_closed', 'gRPC connections closed.', []);
    this.connections = { opened: () => connOpened.inc(), closed: () => connClosed.inc() };

    // ---- blockcutter, etcdraft, ledger: recorded per channel through forChannel()
    const fill = histogram('blockcutter_block_fill_duration', 'Seconds from the first envelope of a batch to the batch being cut.', ['channel']);
    const leaderChanges = counter('consensus_etcdraft_leader_changes', 'Times the channel saw its leader change.', ['channel']);
    const proposalFailures = counter('consensus_etcdraft_proposal_failures', 'Proposals that Raft refused.', ['channel']);
    const normalProposals = counter('consensus_etcdraft_normal_proposals_received', 'Normal envelopes the chain received to order.', ['channel']);
    const configProposals = counter('consensus_etcdraft_config_proposals_received', 'Config envelopes the chain received to order.', ['channel']);
    const persist = histogram('consensus_etcdraft_data_persist_duration', 'Seconds to persist one Ready (WAL write and fsync).', ['channel']);
    const ready = histogram('consensus_etcdraft_ready_duration', 'Seconds to handle one Raft Ready (persist, send, apply, advance).', ['channel']);
    const fsync = histogram('consensus_etcdraft_wal_fsync_duration', 'Seconds of one WAL fdatasync.', ['channel']);
    const snapshots = counter('consensus_etcdraft_snapshot_count', 'Raft snapshots this node took.', ['channel']);
    // Set when this node takes a snapshot (rare), not read at scrape time: absent until the first one since start.
    const snapshotBlock = gauge('consensus_etcdraft_snapshot_block_number', 'Block number of the newest Raft snapshot this node took.', ['channel']);
    const commitTime = histogram('ledger_blockstorage_commit_time', 'Seconds to commit one block to the ledger.', ['channel'], COMMIT_TIME_BUCKETS);
    const lastCommit = gauge('ledger_last_block_commit_timestamp_seconds', 'Unix time (seconds) the last block was written to the ledger.', ['channel']);
    const perChannel: { remove(...values: string[]): void }[] = [
      fill, leaderChanges, proposalFailures, normalProposals, configProposals, persist, ready, fsync, snapshots, snapshotBlock, commitTime, lastCommit,
    ];
    this.chainFactory = (channel) => {
      const f = fill.labels(channel);
      const lc = leaderChanges.labels(channel);
      const pf = proposalFailures.labels(channel);
      const np = normalProposals.labels(channel);
      const cp = configProposals.labels(channel);
      const ps = persist.labels(channel);
      const rd = ready.labels(channel);
      const fs = fsync.labels(channel);
      const sn = snapshots.labels(channel);
      const ct = commitTime.labels(channel);
      const lt = lastCommit.labels(channel);
      return {
        leaderChanged: () => lc.inc(),
        proposalFailed: () => pf.inc(),
        normalProposalReceived: () => np.inc(),
        configProposalReceived: () => cp.inc(),
        dataPersisted: (s) => ps.observe(s),
        readyHandled: (s) => rd.observe(s),
        walFsynced: (s) => fs.observe(s),
        snapshotTaken: (blockNumber) => {
          sn.inc();
          snapshotBlock.labels(channel).set(blockNumber);
        },
        blockFilled: (s) => f.observe(s),
        blockCommitted: (s, at) => {
          ct.observe(s);
          lt.set(at);
        },
        release: () => {
          for (const m of perChannel) m.remove(channel);
          for (const r of this.releasers) r(channel);
        },
      };
    };

    // ---- gauges read at scrape time from the node's channels
    const chainValue = (read: (c: NonNullable<ChannelGaugeValues['chain']>) => number | undefined) => (ch: ChannelGaugeValues) =>
      ch.chain === undefined ? undefined : read(ch.chain);
    channelGauge('consensus_etcdraft_cluster_size', 'Consenters of the channel.', chainValue((c) => c.clusterSize));
    channelGauge('consensus_etcdraft_is_leader', '1 when this node leads the channel, else 0.', chainValue((c) => (c.isLeader ? 1 : 0)));
    channelGauge('consensus_etcdraft_active_nodes', 'Consenters the leader heard from recently (itself included); leader only.', chainValue((c) => c.activeNodes));
    channelGauge('consensus_etcdraft_committed_block_number', 'Number of the last block written to the ledger.', chainValue((c) => c.committedBlockNumber));
    channelGauge('consensus_etcdraft_term', 'Current Raft term.', chainValue((c) => c.term));
    channelGauge('consensus_etcdraft_commit_index', 'Raft commit index.', chainValue((c) => c.commitIndex));
    channelGauge('consensus_etcdraft_leader_id', 'Raft id of the leader this node knows (0 = none).', chainValue((c) => c.leaderId));
    channelGauge('consensus_etcdraft_node_id', 'Raft id of this node on the channel.', chainValue((c) => c.nodeId));
    channelGauge('consensus_etcdraft_halted', '1 when the chain halted, else 0.', chainValue((c) => (c.halted ? 1 : 0)));
    channelGauge('consensus_etcdraft_inflight_blocks', 'Blocks the leader proposed that are not committed yet.', chainValue((c) => c.inflightBlocks));
    channelGauge('consensus_etcdraft_intake_bytes', 'Bytes of envelopes waiting in the leader\'s intake.', chainValue((c) => c.intakeBytes));
    channelGauge('consensus_etcdraft_accepted_envelopes', 'Envelopes accepted (answered or forwarded) and not yet seen in a block.', chainValue((c) => c.acceptedEnvelopes));
    channelGauge('ledger_blockchain_height', 'Blocks in the channel\'s ledger.', (ch) => ch.height);
    channelGauge('participation_status', 'Channel participation status (0 inactive, 1 active, 2 onboarding, 3 failed).', (ch) => ch.participationStatus);
    channelGauge('participation_consensus_relation', 'Relation to the channel\'s consensus (0 other, 1 consenter, 2 follower, 3 config-tracker).', (ch) => ch.consensusRelation);

    // ---- cluster_comm (the transport's seam, cluster/metrics.ts)
    const queueLength = gauge('cluster_comm_egress_queue_length', 'Messages queued towards a host.', ['host', 'msg_type', 'channel']);
    const queueCapacity = gauge('cluster_comm_egress_queue_capacity', 'Capacity of the queue towards a host.', ['host', 'msg_type', 'channel']);
    const workers = gauge('cluster_comm_egress_queue_workers', 'Egress queues (one per destination and message type).', ['channel']);
    const egressStreams = gauge('cluster_comm_egress_stream_count', 'Outgoing Step streams open.', ['channel']);
    const ingressStreams = gauge('cluster_comm_ingress_stream_count', 'Incoming Step streams open.', []);
    const tlsConnections = gauge('cluster_comm_egress_tls_connection_count', 'Outgoing TLS connections to other orderers.', []);
    const sendTime = histogram('cluster_comm_msg_send_time', 'Seconds to hand a message to its stream.', ['host', 'channel']);
    const dropped = counter('cluster_comm_msg_dropped_count', 'Messages not sent: queue full, stream failed, unknown host or too large.', ['host', 'channel']);
    const droppedChildren = new ChildCache((l) => dropped.labels(l));
    const sendChildren = new ChildCache((l) => sendTime.labels(l));
    const kindLabel = (kind: MessageKind): string => (kind === 'consensus' ? 'consensus' : 'transaction');
    this.cluster = {
      messageDropped: (host, channel) => droppedChildren.get(`${host}\u0000${channel}`, () => ({ host, channel })).inc(),
      ingressStreamsChanged: (delta) => ingressStreams.inc(delta),
      egressStreamsChanged: (channel, delta) => egressStreams.labels(channel).inc(delta),
      ingressPaused: () => undefined,
      tlsConnectionsChanged: (delta) => tlsConnections.inc(delta),
      // The Step calls this node serves count with the AtomicBroadcast ones (service label orderer_Cluster).
      stepCallStarted: () => this.grpc.streamStarted('orderer_Cluster', 'Step'),
      egressQueueOpened: (host, channel, kind, capacity) => {
        const labels = { host, msg_type: kindLabel(kind), channel };
        const length = queueLength.labels(labels);
        const send = sendChildren.get(`${host}\u0000${channel}`, () => ({ host, channel }));
        length.set(0);
        queueCapacity.labels(labels).set(capacity);
        workers.labels(channel).inc();
        return {
          length: (queued) => length.set(queued),
          sent: (seconds) => send.observe(seconds),
          closed: () => {
            queueLength.remove(labels);
            queueCapacity.remove(labels);
            workers.labels(channel).dec();
          },
        };
      },
    };
    this.releasers.add((channel) => {
      for (const l of droppedChildren.dropChannel(channel)) dropped.remove(l);
      for (const l of sendChildren.dropChannel(channel)) sendTime.remove(l);
    });

    // ---- logging
    this.loggingChecked = counter('logging_entries_checked', 'Log entries checked against the enabled level (here: written entries, see onLogEntry).', ['level']);
    this.loggingWritten = counter('logging_entries_written', 'Log entries written.', ['level']);
  }

  private readonly chainFactory: (channel: string) => ChainMetrics;

  forChannel(channel: string): ChainMetrics {
    return this.chainFactory(channel);
  }

  setChannelSource(source: ChannelGaugeSource): void {
    this.source = source;
    this.snapshot = undefined;
  }

  onLogEntry(level: string): void {
    // Both counters count entries written at enabled levels: the logger drops disabled levels
    // before anything of ours sees them (types.ts, OrdererMetrics.onLogEntry).
    this.loggingChecked.labels(level).inc();
    this.loggingWritten.labels(level).inc();
  }

  private channelsNow(): readonly ChannelGaugeValues[] {
    if (this.snapshot === undefined) {
      this.snapshot = this.source();
      // One scrape runs every collect() in the same turn of the event loop (registry.metrics()
      // calls each metric's get() before awaiting any): they share one read of the node, and
      // the next scrape reads it afresh.
      setImmediate(() => (this.snapshot = undefined));
    }
    return this.snapshot;
  }
}

/** gRPC status names as Fabric's code label spells them. */
const GRPC_CODE_NAMES: Record<number, string> = {
  0: 'OK',
  1: 'Canceled',
  2: 'Unknown',
  3: 'InvalidArgument',
  4: 'DeadlineExceeded',
  5: 'NotFound',
  6: 'AlreadyExists',
  7: 'PermissionDenied',
  8: 'ResourceExhausted',
  9: 'FailedPrecondition',
  10: 'Aborted',
  11: 'OutOfRange',
  12: 'Unimplemented',
  13: 'Internal',
  14: 'Unavailable',
  15: 'DataLoss',
  16: 'Unauthenticated',
};

/**
 * The process figures, read when Prometheus scrapes (names as prom-client's default metrics and
 * Go's process collector write them). Not prom-client's collectDefaultMetrics: that one also
 * watches every garbage collection through a PerformanceObserver and samples the event loop,
 * work on the hot path between scrapes (the bench with --metrics on cost 8-9% of throughput
 * with it, in the noise without it).
 */
function processGauges(registry: Registry): void {
  const startSeconds = Math.round(Date.now() / 1000 - process.uptime());
  const memoryGauge = (name: string, help: string, read: (m: NodeJS.MemoryUsage) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(process.memoryUsage()));
      },
    });
  };
  memoryGauge('process_resident_memory_bytes', 'Resident memory size in bytes.', (m) => m.rss);
  memoryGauge('nodejs_heap_size_used_bytes', 'V8 heap in use, bytes.', (m) => m.heapUsed);
  memoryGauge('nodejs_heap_size_total_bytes', 'V8 heap reserved, bytes.', (m) => m.heapTotal);
  memoryGauge('nodejs_external_memory_bytes', 'Memory of C++ objects bound to JavaScript objects (Buffers among them), bytes.', (m) => m.external);
  new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since the unix epoch, seconds.', registers: [registry] }).set(startSeconds);
  new Counter({
    name: 'process_cpu_seconds_total',
    help: 'User and system CPU time spent, seconds.',
    registers: [registry],
    collect() {
      const u = process.cpuUsage();
      this.reset();
      this.inc((u.user + u.system) / 1e6);
    },
  });
}
