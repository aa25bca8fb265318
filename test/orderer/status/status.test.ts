// orderer status: reading prom-client's exposition, the figures of the view (rates, p99 over a
// window, roles), the table, and the CLI's flags.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { parsePromText, PromTextError, type Sample } from '../../../orderer/status/prom-text';
import { scrapeMetrics, ScrapeError } from '../../../orderer/status/scrape';
import { buildStatusView, quantileBetween, trimHistory, type NodeHistory, type Scrape } from '../../../orderer/status/view';
import { parseStatusArgs, renderStatus, runStatus } from '../../../cmd/status';

function nodeRegistry(): { registry: Registry; processed: Counter; enqueue: Histogram; height: Gauge; role: Record<string, Gauge> } {
  const registry = new Registry();
  const processed = new Counter({ name: 'broadcast_processed_count', help: 'h', labelNames: ['channel', 'type', 'status'], registers: [registry] });
  const enqueue = new Histogram({ name: 'broadcast_enqueue_duration', help: 'h', labelNames: ['channel', 'type', 'status'], registers: [registry] });
  const height = new Gauge({ name: 'ledger_blockchain_height', help: 'h', labelNames: ['channel'], registers: [registry] });
  const role: Record<string, Gauge> = {};
  for (const name of ['consensus_etcdraft_is_leader', 'consensus_etcdraft_leader_id', 'consensus_etcdraft_node_id', 'consensus_etcdraft_term', 'consensus_etcdraft_commit_index', 'consensus_etcdraft_halted']) {
    role[name] = new Gauge({ name, help: 'h', labelNames: ['channel'], registers: [registry] });
  }
  return { registry, processed, enqueue, height, role };
}

async function samplesOf(registry: Registry): Promise<Sample[]> {
  return parsePromText(await registry.metrics());
}

describe('Prometheus text format', () => {
  test('reads what prom-client writes, labels with escapes included', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'x_total', help: 'a "help" line\\', labelNames: ['channel', 'note'], registers: [registry] });
    c.inc({ channel: 'mychannel', note: 'a "quoted"\nline\\' }, 3);
    const h = new Histogram({ name: 'd', help: 'h', labelNames: ['channel'], buckets: [0.1, 1], registers: [registry] });
    h.observe({ channel: 'c' }, 0.5);
    const samples = await samplesOf(registry);
    expect(samples).toContainEqual({ name: 'x_total', labels: { channel: 'mychannel', note: 'a "quoted"\nline\\' }, value: 3 });
    expect(samples).toContainEqual({ name: 'd_bucket', labels: { le: '+Inf', channel: 'c' }, value: 1 });
    expect(samples).toContainEqual({ name: 'd_bucket', labels: { le: '0.1', channel: 'c' }, value: 0 });
    expect(samples).toContainEqual({ name: 'd_sum', labels: { channel: 'c' }, value: 0.5 });
  });

  test('a line that is not a sample is an error naming the line', () => {
    expect(() => parsePromText('# HELP a b\na 1\nb{x="1" 2\n')).toThrow(new PromTextError('line 3: expected , or } at column 9'));
    expect(() => parsePromText('a one\n')).toThrow(/line 1: bad sample value "one"/);
  });
});

describe('the view', () => {
  test('p99 over a window is the quantile of the observations between the two scrapes', async () => {
    const n = nodeRegistry();
    for (let i = 0; i < 1000; i++) n.enqueue.observe({ channel: 'c', type: 'ENDORSER_TRANSACTION', status: 'SUCCESS' }, 5); // old, slow
    const older = await samplesOf(n.registry);
    for (let i = 0; i < 100; i++) n.enqueue.observe({ channel: 'c', type: 'ENDORSER_TRANSACTION', status: 'SUCCESS' }, 0.003);
    const newer = await samplesOf(n.registry);
    // Only the 100 fast observations are in the window: all in the first bucket (0..0.005).
    const p99 = quantileBetween(0.99, newer, older, 'broadcast_enqueue_duration', { channel: 'c' })!;
    expect(p99).toBeGreaterThan(0);
    expect(p99).toBeLessThanOrEqual(0.005);
    // Since the start, the slow ones dominate the p99.
    expect(quantileBetween(0.99, newer, undefined, 'broadcast_enqueue_duration', { channel: 'c' })!).toBeGreaterThan(2.5);
    expect(quantileBetween(0.99, newer, newer, 'broadcast_enqueue_duration', { channel: 'c' })).toBeNull();
  });

  test('rates, roles and the leader come from two scrapes of each node', async () => {
    const histories: NodeHistory[] = [];
    for (const id of [1, 2, 3]) {
      const n = nodeRegistry();
      const leader = id === 2;
      n.role['consensus_etcdraft_node_id']!.set({ channel: 'mychannel' }, id);
      n.role['consensus_etcdraft_leader_id']!.set({ channel: 'mychannel' }, 2);
      n.role['consensus_etcdraft_is_leader']!.set({ channel: 'mychannel' }, leader ? 1 : 0);
      n.role['consensus_etcdraft_term']!.set({ channel: 'mychannel' }, 4);
      n.height.set({ channel: 'mychannel' }, 10);
      n.processed.inc({ channel: 'mychannel', type: 'ENDORSER_TRANSACTION', status: 'SUCCESS' }, 100);
      const first: Scrape = { atMs: 1_000, samples: await samplesOf(n.registry) };
      n.height.set({ channel: 'mychannel' }, 30);
      n.processed.inc({ channel: 'mychannel', type: 'ENDORSER_TRANSACTION', status: 'SUCCESS' }, 400 * id);
      n.processed.inc({ channel: 'mychannel', type: 'ENDORSER_TRANSACTION', status: 'FORBIDDEN' }, 999);
      const second: Scrape = { atMs: 3_000, samples: await samplesOf(n.registry) };
      histories.push({ name: `orderer${id}`, address: `127.0.0.1:${9000 + id}`, scrapes: [first, second], error: undefined });
    }
    histories.push({ name: 'orderer4', address: '127.0.0.1:9004', scrapes: [], error: 'connect ECONNREFUSED' });
    const view = buildStatusView(histories, 3_000);
    expect(view.channels).toHaveLength(1);
    const ch = view.channels[0]!;
    expect(ch.leaderId).toBe(2);
    expect(ch.maxTerm).toBe(4);
    expect(ch.nodes.map((r) => r.role)).toEqual(['follower', 'leader', 'follower']);
    // 400·id SUCCESS envelopes in 2 s; the refused ones do not count.
    expect(ch.nodes.map((r) => r.envelopesPerSecond)).toEqual([200, 400, 600]);
    expect(ch.nodes.every((r) => r.blocksPerSecond === 10 && r.windowSeconds === 2)).toBe(true);
    expect(view.nodes.map((n) => n.up)).toEqual([true, true, true, false]);
    const text = renderStatus(view, 2_000);
    expect(text).toMatch(/channel mychannel {3}leader 2 {3}term 4/);
    expect(text).toMatch(/orderer2 +2 +LEADER +4 /);
    expect(text).toMatch(/orderer4 +127\.0\.0\.1:9004 +DOWN .*ECONNREFUSED/);
  });

  test('a restarted node (counter went down) counts from zero, and the history keeps a minute', () => {
    const s = (atMs: number, v: number): Scrape => ({
      atMs,
      samples: [
        { name: 'ledger_blockchain_height', labels: { channel: 'c' }, value: 1 },
        { name: 'broadcast_processed_count', labels: { channel: 'c', status: 'SUCCESS' }, value: v },
      ],
    });
    const view = buildStatusView([{ name: 'n', address: 'a', scrapes: [s(0, 5_000), s(10_000, 100)], error: undefined }], 10_000);
    expect(view.channels[0]!.nodes[0]!.envelopesPerSecond).toBe(10);
    const scrapes = [s(0, 0), s(30_000, 0), s(61_000, 0), s(95_000, 0)];
    trimHistory(scrapes, 95_000);
    expect(scrapes.map((x) => x.atMs)).toEqual([30_000, 61_000, 95_000]);
  });
});

describe('scraping a node', () => {
  let server: http.Server;
  let address: string;
  let answer: { status: number; body: string } = { status: 200, body: '' };
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      res.writeHead(req.url === '/metrics' ? answer.status : 404, { 'Content-Type': 'text/plain' });
      res.end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('GET /metrics is read and parsed; a 401 says which flags are missing', async () => {
    const n = nodeRegistry();
    n.height.set({ channel: 'mychannel' }, 7);
    answer = { status: 200, body: await n.registry.metrics() };
    const samples = await scrapeMetrics({ name: 'n', address, tls: undefined });
    expect(samples).toContainEqual({ name: 'ledger_blockchain_height', labels: { channel: 'mychannel' }, value: 7 });
    answer = { status: 401, body: '' };
    await expect(scrapeMetrics({ name: 'n', address, tls: undefined })).rejects.toThrow(new ScrapeError(`http://${address}/metrics: HTTP 401 (the endpoint wants a client certificate its ClientRootCAs trust: --client-cert/--client-key)`));
  });

  test('orderer status --json prints the view and exits 1 when a node is down', async () => {
    const n = nodeRegistry();
    n.height.set({ channel: 'mychannel' }, 7);
    n.role['consensus_etcdraft_is_leader']!.set({ channel: 'mychannel' }, 1);
    answer = { status: 200, body: await n.registry.metrics() };
    const lines: string[] = [];
    const spy = jest.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(s));
    try {
      expect(await runStatus(['-o', address, '--json', '--interval', '100ms'])).toBe(0);
      const view = JSON.parse(lines.join('\n')) as { channels: { channel: string; nodes: { role: string; height: number }[] }[] };
      expect(view.channels[0]).toMatchObject({ channel: 'mychannel', nodes: [{ role: 'leader', height: 7 }] });
      lines.length = 0;
      expect(await runStatus(['-o', `${address},127.0.0.1:1`, '--once', '--interval', '100ms'])).toBe(1);
      expect(lines.join('\n')).toMatch(/127\.0\.0\.1:1 +DOWN/);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('flags', () => {
  test('bad flags are usage errors', () => {
    expect(() => parseStatusArgs(['-o', 'nohostport'])).toThrow(/expected host:port/);
    expect(() => parseStatusArgs(['-o', 'a:1', '--interval', 'soon'])).toThrow(/--interval soon/);
    expect(() => parseStatusArgs(['-o', 'a:1', '--json', '--once'])).toThrow(/exclude each other/);
    expect(() => parseStatusArgs(['-o', 'a:1', '--client-cert', 'x'])).toThrow(/go together/);
    expect(() => parseStatusArgs(['--devnet', '/nonexistent/devnet'])).toThrow(/no such directory/);
    expect(parseStatusArgs(['-o', 'a:1,b:2', '-o', 'c:3']).targets.map((t) => t.address)).toEqual(['a:1', 'b:2', 'c:3']);
  });
});
