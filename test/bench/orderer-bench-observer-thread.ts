// The block observer on its own thread. In the benchmark's main thread it shared the event loop
// with the load generator (thousands of sends per second), so a block's arrival was stamped
// whenever that loop got round to it: 4 ms after the ledger append at the median, 40 ms at p99,
// measured against the orderers' own logs. On a worker thread the arrival stamps depend only on
// the Deliver streams. Send times are recorded by the load generator on the main thread and
// handed over with the 'finish' message. The client identity and TLS material cross as file
// paths (ClientFiles) and are loaded again here: key objects and gRPC credentials do not cross
// threads.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadClientCredentials, type ClientFiles } from '../../orderer/client-credentials';
import { BlockObserver, type ObservationReport } from './orderer-bench-observer';

interface ObserverWorkerData {
  kind: 'block-observer';
  addresses: readonly string[];
  channelId: string;
  startHeights: readonly number[];
  txIds: readonly string[];
  client: ClientFiles;
}

interface FinishMessage {
  type: 'finish';
  sentAtMs: Float64Array;
}

type FromWorker =
  | { type: 'ready'; error?: string }
  | { type: 'progress'; envelopesPerNode: number[]; error?: string }
  | { type: 'final'; report: ObservationReport; timelineCsv: string; error?: string };

export interface ObserverResult {
  report: ObservationReport;
  timelineCsv: string;
}

/** Main-thread handle of a BlockObserver running on a worker thread. */
export class ObserverThread {
  envelopesPerNode: number[];
  private readonly worker: Worker;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private final: ((result: ObserverResult) => void) | undefined;
  private exited = false;
  private isReady = false;

  /**
   * @param txIds the tx ids of the run's prepared load, in load order
   * @param client how the Deliver streams connect and sign (files, loaded on the thread)
   */
  constructor(addresses: readonly string[], channelId: string, startHeights: readonly number[], txIds: readonly string[], client: ClientFiles = {}) {
    this.envelopesPerNode = addresses.map(() => 0);
    const data: ObserverWorkerData = { kind: 'block-observer', addresses, channelId, startHeights, txIds, client };
    this.worker = new Worker(__filename, { workerData: data });
    this.worker.on('message', (m: FromWorker) => {
      if (m.error !== undefined) this.failure ??= new Error(m.error);
      if (m.type === 'ready') this.isReady = true;
      else if (m.type === 'progress') this.envelopesPerNode = m.envelopesPerNode;
      else this.final?.({ report: m.report, timelineCsv: m.timelineCsv });
      this.notify();
    });
    this.worker.on('error', (err) => {
      this.failure ??= err;
      this.notify();
    });
    this.worker.on('exit', () => {
      this.exited = true;
      this.notify();
    });
  }

  get error(): Error | undefined {
    return this.failure;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Resolves once the thread runs and every Deliver stream is live (BlockObserver.onReady); the load starts after it. */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isReady) {
      if (this.failure !== undefined) throw this.failure;
      if (this.exited) throw new Error('the block observer thread exited');
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) throw new Error(`the block observer's Deliver streams were not live within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(leftMs, 1000));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Resolves once every node delivered at least `count` load envelopes; rejects after timeoutMs or on a stream failure. */
  async waitForAll(count: number, timeoutMs: number, onWait: () => void = () => undefined): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.envelopesPerNode.some((n) => n < count)) {
      if (this.failure !== undefined) throw this.failure;
      if (this.exited) throw new Error('the block observer thread exited');
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) {
        throw new Error(`only ${this.envelopesPerNode.join('/')} of ${count} envelopes were delivered by the nodes within ${timeoutMs} ms`);
      }
      onWait();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(leftMs, 1000));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Stops the Deliver streams and returns what was observed; `sentAtMs` as PreparedLoad.sentAtMs. */
  async finish(sentAtMs: Float64Array): Promise<ObserverResult> {
    const result = new Promise<ObserverResult>((resolve, reject) => {
      this.final = resolve;
      this.worker.once('exit', () => reject(new Error('the block observer thread exited before reporting')));
    });
    this.worker.postMessage({ type: 'finish', sentAtMs } satisfies FinishMessage);
    try {
      return await result;
    } finally {
      await this.worker.terminate();
    }
  }

  /** Ends the thread without a report (after a failure). */
  async stop(): Promise<void> {
    if (!this.exited) await this.worker.terminate();
  }
}

function runWorker(data: ObserverWorkerData): void {
  const port = parentPort;
  if (port === null) return;
  const observer = new BlockObserver(data.addresses, data.channelId, data.startHeights, data.txIds, loadClientCredentials(data.client));
  observer.onReady = () => port.postMessage({ type: 'ready' } satisfies FromWorker);
  observer.onProgress = () => {
    const error = observer.error?.message;
    port.postMessage({ type: 'progress', envelopesPerNode: observer.envelopesPerNode, ...(error !== undefined ? { error } : {}) } satisfies FromWorker);
  };
  port.on('message', (m: FinishMessage) => {
    if (m.type !== 'finish') return;
    void observer.stop().then(() => {
      port.postMessage({ type: 'final', report: observer.report(m.sentAtMs), timelineCsv: observer.timelineCsv(m.sentAtMs) } satisfies FromWorker);
    });
  });
  observer.start();
}

if (!isMainThread && (workerData as Partial<ObserverWorkerData> | null)?.kind === 'block-observer') runWorker(workerData as ObserverWorkerData);
