// npm run bench:metrics — what recording the metrics costs per envelope, in nanoseconds of one
// core: everything a node records for one envelope it receives from a client and forwards to
// the leader, plus what the leader records when it takes it (issue #15: "recording a metric on
// the hot path must cost almost nothing"). Three cases in one run:
// - disabled: Metrics.Provider disabled (Fabric's default), the recorders do nothing;
// - cells: Metrics.Provider prometheus, as the orderer records (orderer/metrics/cells.ts);
// - prom-client children: the same events through prom-client's own bound label children,
//   what the orderer did before the cells, for comparison.
// The end-to-end comparison is `npm run bench -- --metrics on|off` (docs/performance.md); at a
// few thousand envelopes/s its rounds move by ±10% from machine noise alone, far more than the
// cost measured here, so this bench is what shows the cost. Prints one JSON object, then
// `metrics_ns_per_envelope=N disabled_ns=N prom_client_children_ns=N share_of_envelope_cpu=P`.
import { cpus, loadavg } from 'node:os';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { common } from '../../protos';
import { createOrdererMetrics, DISABLED_METRICS, type OrdererMetrics } from '../../orderer/metrics';
import { timedLoop } from './timed-loop';

const SECONDS_PER_CASE = Number(process.env.BENCH_SECONDS ?? 2);
/**
 * Orderer CPU per envelope per node at full load, unsigned, from `npm run bench` on the 2-core
 * machine of docs/performance.md (322 ms per 1,000 envelopes for three nodes): the yardstick the
 * metrics' share is given against.
 */
const ENVELOPE_CPU_NS_PER_NODE = 107_000;
const CHANNEL = 'bench';
const TYPE = common.HeaderType.ENDORSER_TRANSACTION;
const SUCCESS = common.Status.SUCCESS;

/** Nanoseconds per call of `op`, run for SECONDS_PER_CASE after a warm-up. */
function nsPerOp(op: () => void): number {
  const { ops, elapsedNs } = timedLoop(op, SECONDS_PER_CASE, 100_000, 1000);
  return elapsedNs / ops;
}

/** One envelope through the recorders: Broadcast on the receiving node, the Step hop, the leader's intake. */
function envelopeThrough(m: OrdererMetrics): () => void {
  // As broadcast.ts: the clock is read only when metrics are on.
  const now = m.registry === undefined ? (): number => 0 : (): number => performance.now();
  const broadcastRpc = m.grpc.streamStarted('orderer_AtomicBroadcast', 'Broadcast');
  const stepOut = m.cluster.egressQueueOpened('orderer2:7050', CHANNEL, 'submit', 100);
  const stepIn = m.cluster.stepCallStarted();
  const chain = m.forChannel(CHANNEL);
  let queued = 0;
  return () => {
    broadcastRpc.messageReceived();
    const validateStartedMs = now();
    const enqueueStartedMs = now();
    m.broadcast.validated(CHANNEL, TYPE, SUCCESS, (enqueueStartedMs - validateStartedMs) / 1000);
    stepOut.length(++queued);
    stepOut.length(--queued);
    stepOut.sent(0.00002);
    stepIn.messageReceived();
    chain.normalProposalReceived();
    stepIn.messageSent();
    m.broadcast.enqueued(CHANNEL, TYPE, SUCCESS, (now() - enqueueStartedMs) / 1000);
    m.broadcast.processed(CHANNEL, TYPE, SUCCESS);
    broadcastRpc.messageSent();
  };
}

/** The same events through prom-client's bound children (labels hashed again on every call). */
function promClientChildren(): () => void {
  const registry = new Registry();
  const h = (name: string, labelNames: string[]): Histogram => new Histogram({ name, help: name, labelNames, registers: [registry] });
  const c = (name: string, labelNames: string[]): Counter => new Counter({ name, help: name, labelNames, registers: [registry] });
  const b = { channel: CHANNEL, type: 'ENDORSER_TRANSACTION', status: 'SUCCESS' };
  const validate = h('v', ['channel', 'type', 'status']).labels(b);
  const enqueue = h('e', ['channel', 'type', 'status']).labels(b);
  const processed = c('p', ['channel', 'type', 'status']).labels(b);
  const msgIn = c('mi', ['service', 'method']).labels('orderer_AtomicBroadcast', 'Broadcast');
  const msgOut = c('mo', ['service', 'method']).labels('orderer_AtomicBroadcast', 'Broadcast');
  const stepIn = c('si', ['service', 'method']).labels('orderer_Cluster', 'Step');
  const stepOut = c('so', ['service', 'method']).labels('orderer_Cluster', 'Step');
  const length = new Gauge({ name: 'l', help: 'l', labelNames: ['host', 'msg_type', 'channel'], registers: [registry] }).labels('orderer2:7050', 'transaction', CHANNEL);
  const send = h('s', ['host', 'channel']).labels('orderer2:7050', CHANNEL);
  const proposals = c('np', ['channel']).labels(CHANNEL);
  let queued = 0;
  return () => {
    msgIn.inc();
    const validateStartedMs = performance.now();
    const enqueueStartedMs = performance.now();
    validate.observe((enqueueStartedMs - validateStartedMs) / 1000);
    length.set(++queued);
    length.set(--queued);
    send.observe(0.00002);
    stepIn.inc();
    proposals.inc();
    stepOut.inc();
    enqueue.observe((performance.now() - enqueueStartedMs) / 1000);
    processed.inc();
    msgOut.inc();
  };
}

async function main(): Promise<void> {
  const metrics = createOrdererMetrics({ version: 'bench', commitSha: '' });
  const disabledNs = nsPerOp(envelopeThrough(DISABLED_METRICS));
  const cellsNs = nsPerOp(envelopeThrough(metrics));
  const childrenNs = nsPerOp(promClientChildren());
  // A scrape still reads what the cells recorded (and costs what it costs, off the hot path).
  const scrapeStarted = performance.now();
  const text = await metrics.registry!.metrics();
  const scrapeMs = performance.now() - scrapeStarted;
  if (!/broadcast_processed_count\{channel="bench",type="ENDORSER_TRANSACTION",status="SUCCESS"\} [1-9]/.test(text)) {
    throw new Error('the scrape does not show the envelopes the bench recorded');
  }
  const metricsNs = cellsNs - disabledNs;
  const result = {
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', loadavg1m: loadavg()[0] },
    secondsPerCase: SECONDS_PER_CASE,
    nsPerEnvelope: { disabled: round(disabledNs), cells: round(cellsNs), promClientChildren: round(childrenNs) },
    metricsNsPerEnvelope: round(metricsNs),
    envelopeCpuNsPerNode: ENVELOPE_CPU_NS_PER_NODE,
    shareOfEnvelopeCpu: metricsNs / ENVELOPE_CPU_NS_PER_NODE,
    scrapeMs: round(scrapeMs),
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `metrics_ns_per_envelope=${round(metricsNs)} disabled_ns=${round(disabledNs)} prom_client_children_ns=${round(childrenNs)} share_of_envelope_cpu=${(100 * result.shareOfEnvelopeCpu).toFixed(2)}%`,
  );
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
