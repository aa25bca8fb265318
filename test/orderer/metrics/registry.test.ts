// The registry on its own: Fabric's names, types and labels, our own metrics under the names the
// status CLI reads, values read at scrape time, and a removed channel leaving no series behind.
import { common } from '../../../protos';
import { createOrdererMetrics, DISABLED_METRICS, type ChannelGaugeValues } from '../../../orderer/metrics';

function types(exposition: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

const chainValues = (channel: string, leader: boolean): ChannelGaugeValues => ({
  channel,
  participationStatus: 1,
  consensusRelation: 1,
  height: 7,
  chain: {
    nodeId: 2,
    term: 5,
    commitIndex: 40,
    leaderId: leader ? 2 : 1,
    isLeader: leader,
    halted: false,
    inflightBlocks: 1,
    intakeBytes: 1024,
    acceptedEnvelopes: 3,
    clusterSize: 3,
    activeNodes: leader ? 3 : undefined,
    committedBlockNumber: 6,
  },
});

test('Fabric\'s metrics and ours are registered with their types; the status CLI\'s names are among them', async () => {
  const metrics = createOrdererMetrics({ version: '0.1.0', commitSha: 'abc123' });
  const t = types(await metrics.registry!.metrics());
  const expected: Record<string, string> = {
    broadcast_validate_duration: 'histogram',
    broadcast_enqueue_duration: 'histogram',
    broadcast_processed_count: 'counter',
    deliver_streams_opened: 'counter',
    deliver_streams_closed: 'counter',
    deliver_requests_received: 'counter',
    deliver_requests_completed: 'counter',
    deliver_blocks_sent: 'counter',
    blockcutter_block_fill_duration: 'histogram',
    consensus_etcdraft_cluster_size: 'gauge',
    consensus_etcdraft_is_leader: 'gauge',
    consensus_etcdraft_active_nodes: 'gauge',
    consensus_etcdraft_committed_block_number: 'gauge',
    consensus_etcdraft_snapshot_block_number: 'gauge',
    consensus_etcdraft_leader_changes: 'counter',
    consensus_etcdraft_proposal_failures: 'counter',
    consensus_etcdraft_normal_proposals_received: 'counter',
    consensus_etcdraft_config_proposals_received: 'counter',
    consensus_etcdraft_data_persist_duration: 'histogram',
    cluster_comm_egress_queue_length: 'gauge',
    cluster_comm_egress_queue_capacity: 'gauge',
    cluster_comm_egress_queue_workers: 'gauge',
    cluster_comm_egress_stream_count: 'gauge',
    cluster_comm_ingress_stream_count: 'gauge',
    cluster_comm_egress_tls_connection_count: 'gauge',
    cluster_comm_msg_send_time: 'histogram',
    cluster_comm_msg_dropped_count: 'counter',
    participation_status: 'gauge',
    participation_consensus_relation: 'gauge',
    ledger_blockchain_height: 'gauge',
    ledger_blockstorage_commit_time: 'histogram',
    grpc_server_unary_request_duration: 'histogram',
    grpc_server_stream_request_duration: 'histogram',
    grpc_server_unary_requests_received: 'counter',
    grpc_server_stream_requests_received: 'counter',
    grpc_server_unary_requests_completed: 'counter',
    grpc_server_stream_requests_completed: 'counter',
    grpc_server_stream_messages_received: 'counter',
    grpc_server_stream_messages_sent: 'counter',
    grpc_comm_conn_opened: 'counter',
    grpc_comm_conn_closed: 'counter',
    fabric_version: 'gauge',
    logging_entries_checked: 'counter',
    logging_entries_written: 'counter',
    consensus_etcdraft_term: 'gauge',
    consensus_etcdraft_commit_index: 'gauge',
    consensus_etcdraft_leader_id: 'gauge',
    consensus_etcdraft_node_id: 'gauge',
    consensus_etcdraft_halted: 'gauge',
    consensus_etcdraft_inflight_blocks: 'gauge',
    consensus_etcdraft_intake_bytes: 'gauge',
    consensus_etcdraft_accepted_envelopes: 'gauge',
    consensus_etcdraft_ready_duration: 'histogram',
    consensus_etcdraft_wal_fsync_duration: 'histogram',
    consensus_etcdraft_snapshot_count: 'counter',
    ledger_last_block_commit_timestamp_seconds: 'gauge',
    process_resident_memory_bytes: 'gauge',
    nodejs_heap_size_used_bytes: 'gauge',
  };
  const actual: Record<string, string | undefined> = {};
  for (const name of Object.keys(expected)) actual[name] = t.get(name);
  expect(actual).toEqual(expected);
  const text = await metrics.registry!.metrics();
  expect(text).toContain('fabric_version{version="0.1.0-abc123"} 1');
});

test('broadcast labels are the header type and status names; a removed channel leaves no series', async () => {
  const metrics = createOrdererMetrics({ version: '0.1.0', commitSha: '' });
  const registry = metrics.registry!;
  const a = metrics.forChannel('a');
  metrics.forChannel('b');
  metrics.broadcast.processed('a', common.HeaderType.ENDORSER_TRANSACTION, common.Status.SUCCESS);
  metrics.broadcast.processed('a', common.HeaderType.ENDORSER_TRANSACTION, common.Status.SUCCESS);
  metrics.broadcast.processed('', undefined, common.Status.BAD_REQUEST);
  metrics.broadcast.processed('b', common.HeaderType.CONFIG_UPDATE, common.Status.FORBIDDEN);
  a.blockCommitted(0.012, 1_700_000_000);
  metrics.setChannelSource(() => [chainValues('a', true), chainValues('b', false)]);
  let text = await registry.metrics();
  expect(text).toContain('broadcast_processed_count{channel="a",type="ENDORSER_TRANSACTION",status="SUCCESS"} 2');
  expect(text).toContain('broadcast_processed_count{channel="",type="unknown",status="BAD_REQUEST"} 1');
  expect(text).toContain('broadcast_processed_count{channel="b",type="CONFIG_UPDATE",status="FORBIDDEN"} 1');
  // Fabric's buckets for the ledger commit time.
  expect(text).toContain('ledger_blockstorage_commit_time_bucket{le="0.015",channel="a"} 1');
  expect(text).toContain('ledger_blockstorage_commit_time_bucket{le="0.01",channel="a"} 0');
  expect(text).toContain('ledger_last_block_commit_timestamp_seconds{channel="a"} 1700000000');
  expect(text).toContain('consensus_etcdraft_is_leader{channel="a"} 1');
  expect(text).toContain('consensus_etcdraft_is_leader{channel="b"} 0');
  expect(text).toContain('consensus_etcdraft_active_nodes{channel="a"} 3');
  expect(text).not.toContain('consensus_etcdraft_active_nodes{channel="b"}');
  expect(text).toContain('ledger_blockchain_height{channel="a"} 7');

  // Channel a removed: its recorders released, the node no longer lists it.
  a.release();
  metrics.setChannelSource(() => [chainValues('b', true)]);
  text = await registry.metrics();
  expect(text).not.toMatch(/channel="a"/);
  expect(text).toContain('broadcast_processed_count{channel="b",type="CONFIG_UPDATE",status="FORBIDDEN"} 1');
  expect(text).toContain('consensus_etcdraft_is_leader{channel="b"} 1');
});

test('a log entry counts in both logging counters; disabled metrics have no registry and record nothing', async () => {
  const metrics = createOrdererMetrics({ version: '0.1.0', commitSha: '' });
  metrics.onLogEntry('info');
  metrics.onLogEntry('info');
  const text = await metrics.registry!.metrics();
  expect(text).toContain('logging_entries_checked{level="info"} 2');
  expect(text).toContain('logging_entries_written{level="info"} 2');
  expect(DISABLED_METRICS.registry).toBeUndefined();
  // Every recorder is callable and does nothing.
  const chain = DISABLED_METRICS.forChannel('x');
  chain.blockCommitted(1, 2);
  chain.release();
  DISABLED_METRICS.broadcast.processed('x', 3, 200);
  DISABLED_METRICS.grpc.streamStarted('s', 'm').done(0);
  DISABLED_METRICS.cluster.egressQueueOpened('h', 'x', 'consensus', 10).length(3);
});
