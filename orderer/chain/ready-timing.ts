// How long a Ready takes, for the metrics: its persist step (data_persist_duration) and the
// whole Ready from persist to advance (consensus_etcdraft_ready_duration).
//
// No promise is chained to the save: an extra promise turn changes when the Ready loop resumes,
// and the simulator showed (seed 5 of test/sim/orderer-sim.test.ts) that the chain's behaviour
// depends on that turn. The save's end is taken at the loop's stopped() check, which the loop
// makes right after the save resolves.
import type { ChainMetrics } from '../metrics/types';

export class ReadyTiming {
  /** When the Ready being handled began to be persisted. */
  private readyStartedMs: number | undefined;
  /** Same, until afterPersist() observed the save. */
  private persistStartedMs: number | undefined;

  constructor(private readonly metrics: ChainMetrics | undefined) {}

  persistStarting(): void {
    if (this.metrics === undefined) return;
    this.readyStartedMs = performance.now();
    this.persistStartedMs = this.readyStartedMs;
  }

  /** Called at every stopped() check; the first one after a save ends that save's timing. */
  afterPersist(): void {
    if (this.persistStartedMs === undefined) return;
    this.metrics?.dataPersisted((performance.now() - this.persistStartedMs) / 1000);
    this.persistStartedMs = undefined;
  }

  advanced(): void {
    if (this.readyStartedMs === undefined) return;
    this.metrics?.readyHandled((performance.now() - this.readyStartedMs) / 1000);
    this.readyStartedMs = undefined;
  }
}
