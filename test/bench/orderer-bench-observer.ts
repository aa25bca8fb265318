// Watches a channel on every node while the benchmark's load runs: one Deliver stream per node
// from a start height, forever, waiting for blocks not written yet. Records when each block
// arrived from each node and, once per block, which envelopes of the run's load it holds (by tx
// id: the load is prepared ahead, so the observer knows every tx id before the first send). The
// load generator records when it wrote each envelope (PreparedLoad.sentAtMs) and hands those
// times over at the end, so latency is block arrival minus send time, to the millisecond. (The
// channel header timestamp is no send time here: a prepared envelope is stamped when it is built.)
import { envelopeHeaders } from '../../ledger/block';
import type { ClientCredentials } from '../../orderer/client-credentials';
import { deliverBlocks } from '../../orderer/deliver-client';
import { common } from '../../protos';

/** How the observer's Deliver streams connect and sign (a Fabric orderer wants signed seek requests). */
export type ObserverClient = Pick<ClientCredentials, 'signer' | 'tls' | 'channelOptions' | 'tlsCertHash'>;

interface ObservedBlock {
  /** Indexes (into the run's load) of the load envelopes in the block. */
  readonly loadIndexes: Uint32Array;
  readonly envelopes: number;
  readonly bytes: number;
  /** Arrival time per node (NaN until it arrived there). */
  readonly arrivedAtMs: Float64Array;
}

export interface LatencyStats {
  samples: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export interface ObservationReport {
  /** Load envelopes seen on every node. */
  envelopes: number;
  /** First send (the oldest load envelope stamp) to the moment the last one was on every node. */
  endToEndMs: number;
  envelopesPerSecond: number;
  /** Blocks holding load envelopes, their average number of envelopes and bytes. */
  blocks: number;
  averageBlockEnvelopes: number;
  averageBlockBytes: number;
  /** Send to the block's arrival on every node (the slowest of them). */
  latencyAllNodes: LatencyStats;
  /** Send to the block's first arrival on any node. */
  latencyFirstNode: LatencyStats;
}

function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] as number;
}

function latencyStats(values: Float64Array): LatencyStats {
  const sorted = values.slice().sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const round = (v: number): number => Math.round(v * 10) / 10;
  return {
    samples: sorted.length,
    p50Ms: round(percentile(sorted, 0.5)),
    p90Ms: round(percentile(sorted, 0.9)),
    p99Ms: round(percentile(sorted, 0.99)),
    maxMs: round(sorted.length > 0 ? (sorted[sorted.length - 1] as number) : 0),
    meanMs: round(sorted.length > 0 ? sum / sorted.length : 0),
  };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

export class BlockObserver {
  private readonly blocks = new Map<number, ObservedBlock>();
  private readonly indexOfTxId: ReadonlyMap<string, number>;
  /** Load envelopes received so far per node. */
  readonly envelopesPerNode: number[];
  private readonly controller = new AbortController();
  private readonly streams: Promise<void>[] = [];
  private failure: Error | undefined;

  /**
   * @param txIds the tx ids of the run's load, in load order; other envelopes (warm-up, probes,
   *   earlier runs) are not counted
   */
  constructor(
    private readonly addresses: readonly string[],
    private readonly channelId: string,
    private readonly startHeights: readonly number[],
    txIds: readonly string[],
    private readonly client: ObserverClient = { signer: undefined, tls: undefined, channelOptions: {}, tlsCertHash: undefined },
  ) {
    this.envelopesPerNode = addresses.map(() => 0);
    this.indexOfTxId = new Map(txIds.map((txId, i) => [txId, i]));
  }

  start(): void {
    this.addresses.forEach((address, node) => {
      this.streams.push(this.follow(address, node));
    });
  }

  /**
   * Called once every stream is live: it delivered the block just below its start height (or,
   * for a start at 0, was opened). Load sent before that would be stamped late by a thread still
   * loading its modules and connecting, which once put 500-700 ms into the first blocks of a
   * paced run and made them its p99.
   */
  onReady: (() => void) | undefined;
  private readonly live = new Set<number>();

  private markLive(node: number): void {
    if (this.live.has(node)) return;
    this.live.add(node);
    if (this.live.size === this.addresses.length) this.onReady?.();
  }

  get error(): Error | undefined {
    return this.failure;
  }

  private async follow(address: string, node: number): Promise<void> {
    const start = this.startHeights[node] as number;
    // From the block below the start: its arrival shows the stream is live (see onReady).
    if (start === 0) this.markLive(node);
    try {
      for await (const delivered of deliverBlocks({
        address,
        channelId: this.channelId,
        start: Math.max(0, start - 1),
        stop: 'forever',
        signal: this.controller.signal,
        maxBufferedResponses: 64,
        tls: this.client.tls,
        channelOptions: this.client.channelOptions,
        signer: this.client.signer,
        tlsCertHash: this.client.tlsCertHash,
      })) {
        if (delivered.number < start) {
          this.markLive(node);
          continue;
        }
        const nowMs = Date.now();
        let observed = this.blocks.get(delivered.number);
        if (observed === undefined) {
          observed = this.decode(delivered.block, delivered.bytes.length);
          this.blocks.set(delivered.number, observed);
        }
        observed.arrivedAtMs[node] = nowMs;
        this.envelopesPerNode[node]! += observed.loadIndexes.length;
        this.notify();
      }
    } catch (err) {
      if (!this.controller.signal.aborted) {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
        this.notify();
      }
    }
  }

  private decode(block: common.Block, bytes: number): ObservedBlock {
    const envelopes = block.data?.data ?? [];
    const indexes: number[] = [];
    for (const envelope of envelopes) {
      let headers: ReturnType<typeof envelopeHeaders>;
      try {
        headers = envelopeHeaders(envelope);
      } catch {
        continue;
      }
      const { channelHeader } = headers;
      if (channelHeader.type !== common.HeaderType.ENDORSER_TRANSACTION) continue;
      const index = this.indexOfTxId.get(channelHeader.txId);
      if (index !== undefined) indexes.push(index);
    }
    const arrivedAtMs = new Float64Array(this.addresses.length).fill(Number.NaN);
    return { loadIndexes: Uint32Array.from(indexes), envelopes: envelopes.length, bytes, arrivedAtMs };
  }

  /** Called after every received block and on a stream failure. */
  onProgress: (() => void) | undefined;

  private notify(): void {
    this.onProgress?.();
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await Promise.all(this.streams);
  }

  /** One CSV line per block: number, envelopes, bytes, first and last send, arrival per node (ms since the epoch). */
  timelineCsv(sentAtMs: Float64Array): string {
    const nodes = this.addresses.map((_, i) => `arrived_node${i + 1}_ms`).join(',');
    const rows = [`block,envelopes,bytes,first_sent_ms,last_sent_ms,${nodes}`];
    for (const [number, b] of [...this.blocks].sort((x, y) => x[0] - y[0])) {
      let first = Number.POSITIVE_INFINITY;
      let last = 0;
      for (const i of b.loadIndexes) {
        const t = sentAtMs[i] as number;
        first = Math.min(first, t);
        last = Math.max(last, t);
      }
      rows.push([number, b.envelopes, b.bytes, b.loadIndexes.length > 0 ? first : '', b.loadIndexes.length > 0 ? last : '', ...b.arrivedAtMs].join(','));
    }
    return `${rows.join('\n')}\n`;
  }

  /** @param sentAtMs when each load envelope was sent (PreparedLoad.sentAtMs), by load index */
  report(sentAtMs: Float64Array): ObservationReport {
    const all: number[] = [];
    const first: number[] = [];
    let firstSentMs = Number.POSITIVE_INFINITY;
    let lastOnAllMs = 0;
    let blocks = 0;
    let envelopes = 0;
    let bytes = 0;
    for (const b of this.blocks.values()) {
      if (b.loadIndexes.length === 0) continue;
      let slowest = 0;
      let fastest = Number.POSITIVE_INFINITY;
      for (const t of b.arrivedAtMs) {
        slowest = Math.max(slowest, t); // NaN (not on every node) propagates
        fastest = Math.min(fastest, t);
      }
      if (Number.isNaN(slowest)) continue;
      blocks++;
      envelopes += b.envelopes;
      bytes += b.bytes;
      lastOnAllMs = Math.max(lastOnAllMs, slowest);
      for (const i of b.loadIndexes) {
        const sent = sentAtMs[i] as number;
        firstSentMs = Math.min(firstSentMs, sent);
        all.push(slowest - sent);
        first.push(fastest - sent);
      }
    }
    const endToEndMs = all.length > 0 ? lastOnAllMs - firstSentMs : 0;
    return {
      envelopes: all.length,
      endToEndMs,
      envelopesPerSecond: endToEndMs > 0 ? Math.round((all.length * 1000) / endToEndMs) : 0,
      blocks,
      averageBlockEnvelopes: blocks > 0 ? Math.round((envelopes / blocks) * 10) / 10 : 0,
      averageBlockBytes: blocks > 0 ? Math.round(bytes / blocks) : 0,
      latencyAllNodes: latencyStats(Float64Array.from(all)),
      latencyFirstNode: latencyStats(Float64Array.from(first)),
    };
  }
}
