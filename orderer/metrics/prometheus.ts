// The Prometheus implementation of the recorders (types.ts), with Fabric's metric names, types
// and labels (reference §6.5) plus a few of ours (README.md). The hot path stays cheap:
// - every metric recorded per envelope, message or block writes a plain cell (cells.ts) bound
//   once per label set; prom-client reads the cells when Prometheus scrapes;
// - gauges that mirror state (term, leader, height, sizes…) are not set per event: a collect()
//   callback reads them from the node when Prometheus scrapes;
// - rare events (a stream opening, a connection, a log line) use prom-client directly.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CounterFamily, GaugeFamily, HistogramFamily, type CounterCell, type HistogramCell } from './cells';
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

    // ---- broadcast: three cells per (channel, type, status), found through two Map gets with
    // no string built per envelope.
    const validate = new HistogramFamily({ registry, name: 'broadcast_validate_duration', help: 'Seconds to validate a broadcast envelope.', labelNames: ['channel', 'type', 'status'] });
    const enqueue = new HistogramFamily({ registry, name: 'broadcast_enqueue_duration', help: 'Seconds to hand a valid envelope to its chain (until the chain answered).', labelNames: ['channel', 'type', 'status'] });
    const processed = new CounterFamily({ registry, name: 'broadcast_processed_count', help: 'Broadcast envelopes answered.', labelNames: ['channel', 'type', 'status'] });
    interface BroadcastCells {
      validate: HistogramCell;
      enqueue: HistogramCell;
      processed: CounterCell;
    }
    const broadcastCells = new Map<string, Map<number, BroadcastCells>>();
    const cellsOf = (channel: string, headerType: number | undefined, status: number): BroadcastCells => {
      let perChannel = broadcastCells.get(channel);
      if (perChannel === undefined) broadcastCells.set(channel, (perChannel = new Map()));
      // Statuses are HTTP-like codes below 1000; an unparsed type is -1.
      const key = (headerType ?? -1) * 1000 + status;
      let cells = perChannel.get(key);
      if (cells === undefined) {
        const labels = { channel, type: headerTypeName(headerType), status: statusLabel(status) };
        cells = { validate: validate.cell(labels), enqueue: enqueue.cell(labels), processed: processed.cell(labels) };
        perChannel.set(key, cells);
      }
      return cells;
    };
    this.broadcast = {
      validated: (channel, headerType, status, seconds) => cellsOf(channel, headerType, status).validate.observe(seconds),
      enqueued: (channel, headerType, status, seconds) => cellsOf(channel, headerType, status).enqueue.observe(seconds),
      processed: (channel, headerType, status) => cellsOf(channel, headerType, status).processed.inc(),
    };
    this.releasers.add((channel) => {
      broadcastCells.delete(channel);
      for (const f of [validate, enqueue, processed]) f.removeWhere('channel', channel);
    });

    // ---- deliver
    const streamsOpened = counter('deliver_streams_opened', 'Deliver streams opened.', []);
    const streamsClosed = counter('deliver_streams_closed', 'Deliver streams closed.', []);
    const requestsReceived = new CounterFamily({ registry, name: 'deliver_requests_received', help: 'Deliver seek requests received.', labelNames: ['channel', 'filtered', 'data_type'] });
    const requestsCompleted = new CounterFamily({ registry, name: 'deliver_requests_completed', help: 'Deliver seek requests completed.', labelNames: ['channel', 'filtered', 'data_type', 'success'] });
    const blocksSent = new CounterFamily({ registry, name: 'deliver_blocks_sent', help: 'Blocks sent by Deliver.', labelNames: ['channel', 'filtered', 'data_type'] });
    interface DeliverCells {
      received: CounterCell;
      succeeded: CounterCell;
      failed: CounterCell;
      sent: CounterCell;
    }
    const deliverCells = new Map<string, DeliverCells>();
    const deliverOf = (channel: string): DeliverCells => {
      let cells = deliverCells.get(channel);
      if (cells === undefined) {
        const labels = { channel, filtered: 'false', data_type: 'block' };
        cells = {
          received: requestsReceived.cell(labels),
          succeeded: requestsCompleted.cell({ ...labels, success: 'true' }),
          failed: requestsCompleted.cell({ ...labels, success: 'false' }),
          sent: blocksSent.cell(labels),
        };
        deliverCells.set(channel, cells);
      }
      return cells;
    };
    this.deliver = {
      streamOpened: () => streamsOpened.inc(),
      streamClosed: () => streamsClosed.inc(),
      requestReceived: (channel) => deliverOf(channel).received.inc(),
      requestCompleted: (channel, success) => (success ? deliverOf(channel).succeeded : deliverOf(channel).failed).inc(),
      blockSent: (channel) => deliverOf(channel).sent.inc(),
    };
    this.releasers.add((channel) => {
      deliverCells.delete(channel);
      for (const f of [requestsReceived, requestsCompleted, blocksSent]) f.removeWhere('channel', channel);
    });

    // ---- gRPC server (Fabric's grpcmetrics interceptors); every call here is a stream
    histogram('grpc_server_unary_request_duration', 'Seconds to complete a unary call.', ['service', 'method', 'code']);
    counter('grpc_server_unary_requests_received', 'Unary calls received.', ['service', 'method']);
    counter('grpc_server_unary_requests_completed', 'Unary calls completed.', ['service', 'method', 'code']);
    const streamDuration = histogram('grpc_server_stream_request_duration', 'Seconds a streaming call lasted.', ['service', 'method', 'code']);
    const streamReceived = counter('grpc_server_stream_requests_received', 'Streaming calls received.', ['service', 'method']);
    const streamCompleted = counter('grpc_server_stream_requests_completed', 'Streaming calls completed.', ['service', 'method', 'code']);
    const msgsReceived = new CounterFamily({ registry, name: 'grpc_server_stream_messages_received', help: 'Messages received on streaming calls.', labelNames: ['service', 'method'] });
    const msgsSent = new CounterFamily({ registry, name: 'grpc_server_stream_messages_sent', help: 'Messages sent on streaming calls.', labelNames: ['service', 'method'] });
    const methodChildren = new Map<string, { received: { inc(): void }; msgIn: CounterCell; msgOut: CounterCell }>();
    this.grpc = {
      streamStarted: (service, method): RpcTracker => {
        const k = `${service}/${method}`;
        let c = methodChildren.get(k);
        if (c === undefined) {
          c = { received: streamReceived.labels(service, method), msgIn: msgsReceived.cell({ service, method }), msgOut: msgsSent.cell({ service, method }) };
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
    const chHistogram = (name: string, help: string, buckets?: readonly number[]): HistogramFamily<'channel'> =>
      new HistogramFamily({ registry, name, help, labelNames: ['channel'], ...(buckets !== undefined ? { buckets } : {}) });
    const chCounter = (name: string, help: string): CounterFamily<'channel'> => new CounterFamily({ registry, name, help, labelNames: ['channel'] });
    const chGauge = (name: string, help: string): GaugeFamily<'channel'> => new GaugeFamily({ registry, name, help, labelNames: ['channel'] });
    const fill = chHistogram('blockcutter_block_fill_duration', 'Seconds from the first envelope of a batch to the batch being cut.');
    const leaderChanges = chCounter('consensus_etcdraft_leader_changes', 'Times the channel saw its leader change.');
    const proposalFailures = chCounter('consensus_etcdraft_proposal_failures', 'Proposals that Raft refused.');
    const normalProposals = chCounter('consensus_etcdraft_normal_proposals_received', 'Normal envelopes the chain received to order.');
    const configProposals = chCounter('consensus_etcdraft_config_proposals_received', 'Config envelopes the chain received to order.');
    const persist = chHistogram('consensus_etcdraft_data_persist_duration', 'Seconds to persist one Ready (WAL write and fsync).');
    const ready = chHistogram('consensus_etcdraft_ready_duration', 'Seconds to handle one Raft Ready (persist, send, apply, advance).');
    const fsync = chHistogram('consensus_etcdraft_wal_fsync_duration', 'Seconds of one WAL fdatasync.');
    const snapshots = chCounter('consensus_etcdraft_snapshot_count', 'Raft snapshots this node took.');
    const snapshotBlock = chGauge('consensus_etcdraft_snapshot_block_number', 'Block number of the newest Raft snapshot this node took.');
    const commitTime = chHistogram('ledger_blockstorage_commit_time', 'Seconds to commit one block to the ledger.', COMMIT_TIME_BUCKETS);
    const lastCommit = chGauge('ledger_last_block_commit_timestamp_seconds', 'Unix time (seconds) the last block was written to the ledger.');
    const perChannel: { removeWhere(label: 'channel', value: string): void }[] = [
      fill, leaderChanges, proposalFailures, normalProposals, configProposals, persist, ready, fsync, snapshots, snapshotBlock, commitTime, lastCommit,
    ];
    this.chainFactory = (channel) => {
      const labels = { channel };
      const f = fill.cell(labels);
      const lc = leaderChanges.cell(labels);
      const pf = proposalFailures.cell(labels);
      const np = normalProposals.cell(labels);
      const cp = configProposals.cell(labels);
      const ps = persist.cell(labels);
      const rd = ready.cell(labels);
      const fs = fsync.cell(labels);
      const sn = snapshots.cell(labels);
      const ct = commitTime.cell(labels);
      const lt = lastCommit.cell(labels);
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
          snapshotBlock.cell(labels).set(blockNumber);
        },
        blockFilled: (s) => f.observe(s),
        blockCommitted: (s, at) => {
          ct.observe(s);
          lt.set(at);
        },
        release: () => {
          for (const m of perChannel) m.removeWhere('channel', channel);
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
    const queueLength = new GaugeFamily({ registry, name: 'cluster_comm_egress_queue_length', help: 'Messages queued towards a host.', labelNames: ['host', 'msg_type', 'channel'] });
    const queueCapacity = gauge('cluster_comm_egress_queue_capacity', 'Capacity of the queue towards a host.', ['host', 'msg_type', 'channel']);
    const workers = gauge('cluster_comm_egress_queue_workers', 'Egress queues (one per destination and message type).', ['channel']);
    const egressStreams = gauge('cluster_comm_egress_stream_count', 'Outgoing Step streams open.', ['channel']);
    const ingressStreams = gauge('cluster_comm_ingress_stream_count', 'Incoming Step streams open.', []);
    const tlsConnections = gauge('cluster_comm_egress_tls_connection_count', 'Outgoing TLS connections to other orderers.', []);
    const sendTime = new HistogramFamily({ registry, name: 'cluster_comm_msg_send_time', help: 'Seconds to hand a message to its stream.', labelNames: ['host', 'channel'] });
    const dropped = new CounterFamily({ registry, name: 'cluster_comm_msg_dropped_count', help: 'Messages not sent: queue full, stream failed, unknown host or too large.', labelNames: ['host', 'channel'] });
    const kindLabel = (kind: MessageKind): string => (kind === 'consensus' ? 'consensus' : 'transaction');
    this.cluster = {
      // Rare (a full queue, a failed stream): the cell is looked up per drop.
      messageDropped: (host, channel) => dropped.cell({ host, channel }).inc(),
      ingressStreamsChanged: (delta) => ingressStreams.inc(delta),
      egressStreamsChanged: (channel, delta) => egressStreams.labels(channel).inc(delta),
      ingressPaused: () => undefined,
      tlsConnectionsChanged: (delta) => tlsConnections.inc(delta),
      // The Step calls this node serves count with the AtomicBroadcast ones (service label orderer_Cluster).
      stepCallStarted: () => this.grpc.streamStarted('orderer_Cluster', 'Step'),
      egressQueueOpened: (host, channel, kind, capacity) => {
        const labels = { host, msg_type: kindLabel(kind), channel };
        const length = queueLength.cell(labels);
        const send = sendTime.cell({ host, channel });
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
      dropped.removeWhere('channel', channel);
      sendTime.removeWhere('channel', channel);
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
