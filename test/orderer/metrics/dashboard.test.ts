// Metrics of real orderers under load: three in-process nodes built as `orderer start` builds
// them (writeDevnet → orderer.yaml → nodeOptionsFromConfig → OrdererNode), each with its own
// Prometheus registry (Metrics.Provider: prometheus). One network serves both tests (starting
// it is most of their time):
// - every metric the Grafana dashboard (docs/grafana/orderer-dashboard.json) queries exists in
//   a node's registry, so the dashboard shows data and not "No data" after a rename;
// - the numbers say what happened: N envelopes broadcast are N SUCCESS answers summed over the
//   nodes, the height gauges equal the ledgers' heights, exactly one node says it leads.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Registry } from 'prom-client';
import { nodeOptionsFromConfig } from '../../../cmd/orderer';
import { loadOrdererConfig } from '../../../orderer/config';
import { writeDevnet } from '../../../orderer/devnet';
import { createOrdererMetrics, type OrdererMetrics } from '../../../orderer/metrics';
import { ensureDirs, OrdererNode } from '../../../orderer/node';
import { makeEnvelope, readChain, sendLoad } from '../../e2e/harness';
import { freePorts } from '../../support/ports';
import { waitFor } from '../../support/wait';

const CHANNEL = 'metricschannel';
const DASHBOARD = path.join(__dirname, '..', '..', '..', 'docs', 'grafana', 'orderer-dashboard.json');
const ENVELOPES = 120;

interface Running {
  readonly node: OrdererNode;
  readonly metrics: OrdererMetrics;
  readonly registry: Registry;
  readonly address: string;
}

let dir: string;
let nodes: Running[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'orderer-metrics-'));
  const ports = await freePorts(3);
  const layout = await writeDevnet({
    dataDir: dir,
    ports,
    channels: [CHANNEL],
    tickInterval: '100ms',
    electionTick: 10,
    heartbeatTick: 1,
    batchTimeout: '100ms',
    maxMessageCount: 10,
    openAccess: true,
    metricsProvider: 'prometheus',
    logLevel: 'error',
  });
  for (const n of layout.nodes) {
    const loaded = loadOrdererConfig({ filePath: n.configPath, env: {} });
    expect(loaded.config.metrics.provider).toBe('prometheus');
    const logger = pino({ level: 'error' });
    const metrics = createOrdererMetrics({ version: '0.1.0', commitSha: 'test' });
    const options = { ...nodeOptionsFromConfig(loaded.config, logger, loaded.filePath), metrics };
    await ensureDirs(options);
    const node = new OrdererNode(options);
    nodes.push({ node, metrics, registry: metrics.registry!, address: `${n.host}:${n.port}` });
  }
  await Promise.all(nodes.map((r) => r.node.start()));
}, 60_000);

afterAll(async () => {
  await Promise.all(nodes.map((r) => r.node.stop().catch(() => undefined)));
  nodes = [];
  rmSync(dir, { recursive: true, force: true });
});

/** Sum of a metric's samples over the nodes whose labels include `labels`. */
async function sumOver(name: string, labels: Record<string, string>): Promise<number> {
  let total = 0;
  for (const r of nodes) {
    const metric = r.registry.getSingleMetric(name);
    if (metric === undefined) throw new Error(`${name} is not registered`);
    for (const v of (await metric.get()).values) {
      if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) total += v.value;
    }
  }
  return total;
}

async function gauge(r: Running, name: string, channel: string): Promise<number | undefined> {
  const values = (await r.registry.getSingleMetric(name)!.get()).values;
  return values.find((v) => v.labels['channel'] === channel)?.value;
}

/** Metric names (from # TYPE lines) and their types, as a scrape sees them. */
function typesOf(exposition: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const line of exposition.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m !== null) types.set(m[1]!, m[2]!);
  }
  return types;
}

/** The metric names a PromQL expression selects: every identifier followed by a `{` selector. */
function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) => m[1]!);
}

test('N envelopes broadcast are N SUCCESS answers over the nodes; heights and leadership match the chains', async () => {
  const leader = await waitFor('one leader', 30_000, async () => {
    const leaders: Running[] = [];
    for (const r of nodes) if ((await gauge(r, 'consensus_etcdraft_is_leader', CHANNEL)) === 1) leaders.push(r);
    return leaders.length === 1 ? leaders[0] : undefined;
  });
  const labels = { channel: CHANNEL, type: 'ENDORSER_TRANSACTION', status: 'SUCCESS' };
  const before = await sumOver('broadcast_processed_count', labels);
  const envelopes = Array.from({ length: ENVELOPES }, () => makeEnvelope(CHANNEL, 64));
  // To a follower and the leader both: the followers' answers count where the client was answered.
  const load = await sendLoad(nodes.map((r) => r.address), envelopes, 1, { retries: 0 });
  expect(load.acknowledged).toHaveLength(ENVELOPES);
  expect((await sumOver('broadcast_processed_count', labels)) - before).toBe(ENVELOPES);
  expect(await sumOver('broadcast_enqueue_duration', { ...labels })).toBeGreaterThan(0);

  // Every node wrote every block: the gauges equal what Deliver serves.
  const blocks = await waitFor('all envelopes in every ledger', 30_000, async () => {
    const chains = await Promise.all(nodes.map((r) => readChain(r.address, CHANNEL)));
    const heights = new Set(chains.map((c) => c.length));
    const txs = chains[0]!.reduce((n, b) => n + (b.block.data?.data.length ?? 0), 0);
    return heights.size === 1 && txs >= ENVELOPES ? chains[0]!.length : undefined;
  });
  // Deliver may serve a block a moment before its commit is durable (readableHeight); the height
  // gauge counts durable blocks, so it may trail by that moment.
  await waitFor('every height gauge at the delivered height', 10_000, async () => {
    for (const r of nodes) if ((await gauge(r, 'ledger_blockchain_height', CHANNEL)) !== blocks) return undefined;
    return true;
  });
  for (const r of nodes) {
    expect(await gauge(r, 'ledger_blockchain_height', CHANNEL)).toBe(blocks);
    expect(await gauge(r, 'consensus_etcdraft_committed_block_number', CHANNEL)).toBe(blocks - 1);
    expect(await gauge(r, 'participation_status', CHANNEL)).toBe(1);
    expect(await gauge(r, 'consensus_etcdraft_cluster_size', CHANNEL)).toBe(3);
    expect(await gauge(r, 'consensus_etcdraft_leader_id', CHANNEL)).toBe(leader.node.chain(CHANNEL)!.status().nodeId);
  }
  let leaders = 0;
  for (const r of nodes) leaders += (await gauge(r, 'consensus_etcdraft_is_leader', CHANNEL)) ?? 0;
  expect(leaders).toBe(1);
  expect(await gauge(leader, 'consensus_etcdraft_active_nodes', CHANNEL)).toBe(3);
  // The calls and connections that carried all this were counted.
  expect(await sumOver('grpc_server_stream_requests_received', { service: 'orderer_AtomicBroadcast', method: 'Broadcast' })).toBeGreaterThanOrEqual(3);
  expect(await sumOver('grpc_server_stream_messages_received', { service: 'orderer_AtomicBroadcast', method: 'Broadcast' })).toBeGreaterThanOrEqual(ENVELOPES);
  expect(await sumOver('grpc_server_stream_requests_received', { service: 'orderer_Cluster', method: 'Step' })).toBeGreaterThan(0);
  expect(await sumOver('deliver_blocks_sent', { channel: CHANNEL, filtered: 'false', data_type: 'block' })).toBeGreaterThanOrEqual(blocks);
  expect(await sumOver('grpc_comm_conn_opened', {})).toBeGreaterThan(0);
  expect(await sumOver('consensus_etcdraft_normal_proposals_received', { channel: CHANNEL })).toBeGreaterThanOrEqual(ENVELOPES);
  // The blocks were written here: the commit time histogram counted them on every node.
  const commits = await sumOver('ledger_blockstorage_commit_time', { channel: CHANNEL });
  expect(commits).toBeGreaterThan(0);
}, 90_000);

test('every metric the Grafana dashboard queries exists in a loaded node\'s registry', async () => {
  // Load first (when run alone): some series appear only once something happened.
  const load = await sendLoad([nodes[0]!.address], Array.from({ length: 20 }, () => makeEnvelope(CHANNEL, 64)), 1);
  expect(load.acknowledged).toHaveLength(20);
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
    templating: { list: { name: string; type: string; definition?: string }[] };
  };
  const wanted = new Set<string>();
  for (const p of dashboard.panels) {
    for (const t of p.targets) {
      const names = metricNamesIn(t.expr);
      // An expression without a selector would escape this check.
      expect({ panel: p.title, expr: t.expr, names: names.length > 0 }).toEqual({ panel: p.title, expr: t.expr, names: true });
      for (const n of names) wanted.add(n);
    }
  }
  for (const v of dashboard.templating.list) {
    const m = /label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),/.exec(v.definition ?? '');
    if (m !== null) wanted.add(m[1]!);
  }
  expect(dashboard.templating.list.map((v) => v.name)).toEqual(expect.arrayContaining(['datasource', 'channel']));

  const types = typesOf(await nodes[0]!.registry.metrics());
  const missing: string[] = [];
  for (const name of wanted) {
    if (types.has(name)) continue;
    // A histogram's series: <name>_bucket, <name>_sum, <name>_count.
    const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
    if (base !== undefined && types.get(base) === 'histogram') continue;
    missing.push(name);
  }
  expect(missing).toEqual([]);
  expect(wanted.size).toBeGreaterThanOrEqual(15);
}, 60_000);
