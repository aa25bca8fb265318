// Hot-path recording without prom-client on the hot path. prom-client's bound children re-hash
// their label object on every inc() or observe() (hashObject: sort and join the label names),
// which is most of what a metric costs at thousands of events per second. Here an event writes
// a plain field of a cell bound once per label set (a counter: one addition; a histogram: a
// bucket search over ~11 bounds and three additions), and the prom-client metric reads the
// cells when Prometheus scrapes. The exposition format stays prom-client's: counters and
// gauges are filled through prom-client's own API in collect(); histograms produce the values
// prom-client's Histogram produces (orderer/metrics README; cells.test.ts compares the text).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** prom-client's (and Fabric's) default histogram buckets, seconds. */
export const DEFAULT_BUCKETS_SECONDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class CounterCell {
  value = 0;
  inc(): void {
    this.value++;
  }
  add(by: number): void {
    this.value += by;
  }
}

export class GaugeCell {
  value = 0;
  set(value: number): void {
    this.value = value;
  }
  add(by: number): void {
    this.value += by;
  }
}

export class HistogramCell {
  /** bucketCounts[i] = observations in (upperBounds[i-1], upperBounds[i]]; the last slot counts those above every bound. */
  readonly bucketCounts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly upperBounds: readonly number[]) {
    this.bucketCounts = new Float64Array(upperBounds.length + 1);
  }
  observe(value: number): void {
    // A NaN or infinite duration would poison the sum for good; prom-client throws on them,
    // and a metric must never throw into the path it measures.
    if (!Number.isFinite(value)) return;
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.bucketCounts[i]!++;
    this.sum += value;
    this.count++;
  }
}

type Labels<L extends string> = Record<L, string>;

interface Entry<L extends string, C> {
  readonly labels: Labels<L>;
  readonly cell: C;
}

/** Cells keyed by their label values, one metric's worth. */
class CellMap<L extends string, C> {
  readonly entries = new Map<string, Entry<L, C>>();
  constructor(
    private readonly labelNames: readonly L[],
    private readonly make: () => C,
  ) {}

  /**
   * The cell of one label set, created on first use. Callers bind the cell once per label set
   * (or keep their own cache keyed more cheaply) rather than calling this per event.
   */
  cell(labels: Labels<L>): C {
    const key = this.labelNames.map((n) => labels[n]).join('\u0000');
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, cell: this.make() };
      this.entries.set(key, entry);
    }
    return entry.cell;
  }

  /** Forgets every label set whose `name` label is `value` (a removed channel's series disappear). */
  removeWhere(name: L, value: string): void {
    for (const [key, entry] of this.entries) if (entry.labels[name] === value) this.entries.delete(key);
  }

  /** Forgets one label set. */
  remove(labels: Labels<L>): void {
    this.entries.delete(this.labelNames.map((n) => labels[n]).join('\u0000'));
  }
}

interface FamilyOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly registry: Registry;
}

/**
 * What a counter's or gauge's collect() does at scrape time: forget the label sets, then write
 * each cell's value through prom-client's own API (`write` is inc for a counter, set for a gauge).
 */
function refill<L extends string>(entries: Map<string, Entry<L, { value: number }>>, unlabelled: boolean, reset: () => void, write: (labels: Labels<L> | undefined, value: number) => void): void {
  reset();
  for (const { labels, cell } of entries.values()) write(unlabelled ? undefined : labels, cell.value);
}

export class CounterFamily<L extends string> extends CellMap<L, CounterCell> {
  constructor(o: FamilyOptions<L>) {
    super(o.labelNames, () => new CounterCell());
    const entries = this.entries;
    const unlabelled = o.labelNames.length === 0;
    const counter: Counter<L> = new Counter<L>({
      name: o.name,
      help: o.help,
      labelNames: o.labelNames,
      registers: [o.registry],
      collect: () => refill(entries, unlabelled, () => counter.reset(), (l, v) => (l === undefined ? counter.inc(v) : counter.inc(l, v))),
    });
  }
}

export class GaugeFamily<L extends string> extends CellMap<L, GaugeCell> {
  constructor(o: FamilyOptions<L>) {
    super(o.labelNames, () => new GaugeCell());
    const entries = this.entries;
    const unlabelled = o.labelNames.length === 0;
    const gauge: Gauge<L> = new Gauge<L>({
      name: o.name,
      help: o.help,
      labelNames: o.labelNames,
      registers: [o.registry],
      collect: () => refill(entries, unlabelled, () => gauge.reset(), (l, v) => (l === undefined ? gauge.set(v) : gauge.set(l, v))),
    });
  }
}

/** The value rows prom-client's Histogram hands its registry (one per bucket, +Inf, _sum, _count). */
interface HistogramRow {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
}

/**
 * A prom-client Histogram whose label sets are read from HistogramCells. It overrides the two
 * methods the registry reads (get() for JSON, getForPromString() for the text format) and
 * returns the rows the stock Histogram would for the same observations.
 */
class CellHistogram<L extends string> extends Histogram<L> {
  private readonly metricName: string;
  private readonly metricHelp: string;
  constructor(
    o: FamilyOptions<L> & { buckets: readonly number[] },
    private readonly entries: Map<string, Entry<L, HistogramCell>>,
    private readonly bounds: readonly number[],
  ) {
    super({ name: o.name, help: o.help, labelNames: o.labelNames, buckets: [...o.buckets], registers: [o.registry] });
    this.metricName = o.name;
    this.metricHelp = o.help;
  }

  private rows(): HistogramRow[] {
    const rows: HistogramRow[] = [];
    for (const { labels, cell } of this.entries.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += cell.bucketCounts[i]!;
        rows.push({ labels: { le: this.bounds[i]! }, sharedLabels: labels, value: cumulative, metricName: `${this.metricName}_bucket` });
      }
      rows.push({ labels: { le: '+Inf' }, sharedLabels: labels, value: cell.count, metricName: `${this.metricName}_bucket` });
      rows.push({ labels: {}, sharedLabels: labels, value: cell.sum, metricName: `${this.metricName}_sum` });
      rows.push({ labels: {}, sharedLabels: labels, value: cell.count, metricName: `${this.metricName}_count` });
    }
    return rows;
  }

  /** What the registry formats as text (the stock Histogram's shape: labels apart from `le` as sharedLabels). */
  getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: HistogramRow[]; aggregator: 'sum' }> {
    return Promise.resolve({ name: this.metricName, help: this.metricHelp, type: 'histogram', values: this.rows(), aggregator: 'sum' });
  }

  override get(): ReturnType<Histogram<L>['get']> {
    // As the stock Histogram's JSON: bucket rows carry a null exemplar, the sum and count none.
    const values = this.rows().map((r) => ({
      value: r.value,
      metricName: r.metricName,
      labels: { ...r.labels, ...r.sharedLabels },
      ...('le' in r.labels ? { exemplar: null } : {}),
    }));
    const data = { name: this.metricName, help: this.metricHelp, type: 'histogram', values, aggregator: 'sum' };
    return Promise.resolve(data as unknown as Awaited<ReturnType<Histogram<L>['get']>>);
  }
}

export class HistogramFamily<L extends string> extends CellMap<L, HistogramCell> {
  constructor(o: FamilyOptions<L> & { buckets?: readonly number[] }) {
    const bounds = [...(o.buckets ?? DEFAULT_BUCKETS_SECONDS)].sort((a, b) => a - b);
    super(o.labelNames, () => new HistogramCell(bounds));
    new CellHistogram<L>({ ...o, buckets: bounds }, this.entries, bounds);
  }
}
