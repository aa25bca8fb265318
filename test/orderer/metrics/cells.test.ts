// The cells that hot paths write, read by prom-client at scrape time, must expose exactly what
// prom-client's own metrics expose for the same events: an operator's dashboards and alerts
// read the text, so these tests compare the text of a stock registry with ours.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CounterFamily, GaugeFamily, HistogramFamily } from '../../../orderer/metrics/cells';

const OBSERVATIONS_SECONDS = [0, 0.004, 0.005, 0.0051, 0.02, 0.3, 0.3, 1, 7, 10, 11, 250];

test('a cell histogram writes the same exposition text and JSON as prom-client\'s Histogram', async () => {
  const stock = new Registry();
  const ours = new Registry();
  const h = new Histogram({ name: 'x_duration', help: 'h', labelNames: ['channel', 'type'], registers: [stock] });
  const f = new HistogramFamily({ name: 'x_duration', help: 'h', labelNames: ['channel', 'type'], registry: ours });
  for (const [i, v] of OBSERVATIONS_SECONDS.entries()) {
    const labels = { channel: i % 3 === 0 ? 'a' : 'b', type: 'ENDORSER_TRANSACTION' };
    h.labels(labels).observe(v);
    f.cell(labels).observe(v);
  }
  expect(await ours.metrics()).toBe(await stock.metrics());
  expect(await ours.getMetricsAsJSON()).toEqual(await stock.getMetricsAsJSON());
  expect(await ours.metrics()).toContain('x_duration_bucket{le="+Inf",channel="a",type="ENDORSER_TRANSACTION"} 4');
});

test('custom buckets, and a removed label set disappears from the scrape', async () => {
  const stock = new Registry();
  const ours = new Registry();
  const buckets = [0.005, 0.01, 0.015, 0.05, 0.1, 1, 10];
  const h = new Histogram({ name: 'c', help: 'h', labelNames: ['channel'], buckets, registers: [stock] });
  const f = new HistogramFamily({ name: 'c', help: 'h', labelNames: ['channel'], buckets, registry: ours });
  for (const v of OBSERVATIONS_SECONDS) {
    h.labels('keep').observe(v);
    f.cell({ channel: 'keep' }).observe(v);
    f.cell({ channel: 'gone' }).observe(v);
  }
  f.removeWhere('channel', 'gone');
  expect(await ours.metrics()).toBe(await stock.metrics());
});

test('counters and gauges read from cells at scrape time match prom-client\'s, labelled or not', async () => {
  const stock = new Registry();
  const ours = new Registry();
  const c = new Counter({ name: 'n_count', help: 'h', labelNames: ['channel', 'status'], registers: [stock] });
  const u = new Counter({ name: 'u_count', help: 'h', registers: [stock] });
  const g = new Gauge({ name: 'q_length', help: 'h', labelNames: ['host'], registers: [stock] });
  const cf = new CounterFamily({ name: 'n_count', help: 'h', labelNames: ['channel', 'status'], registry: ours });
  const uf = new CounterFamily({ name: 'u_count', help: 'h', labelNames: [], registry: ours });
  const gf = new GaugeFamily({ name: 'q_length', help: 'h', labelNames: ['host'], registry: ours });
  const success = cf.cell({ channel: 'a', status: 'SUCCESS' });
  for (let i = 0; i < 5; i++) {
    c.labels('a', 'SUCCESS').inc();
    success.inc();
  }
  c.labels('a', 'BAD_REQUEST').inc(2);
  cf.cell({ channel: 'a', status: 'BAD_REQUEST' }).add(2);
  u.inc(3);
  uf.cell({}).add(3);
  g.labels('o1').set(4);
  gf.cell({ host: 'o1' }).set(4);
  expect(await ours.metrics()).toBe(await stock.metrics());
  // Read afresh at every scrape.
  success.inc();
  expect(await ours.metrics()).toContain('n_count{channel="a",status="SUCCESS"} 6');
});

test('a non-finite observation is dropped instead of poisoning the sum', async () => {
  const ours = new Registry();
  const f = new HistogramFamily({ name: 'd', help: 'h', labelNames: [], registry: ours });
  f.cell({}).observe(Number.NaN);
  f.cell({}).observe(0.5);
  const text = await ours.metrics();
  expect(text).toContain('d_sum 0.5');
  expect(text).toContain('d_count 1');
});
