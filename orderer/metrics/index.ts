// The orderer's metrics (issue #15): Fabric's names, types and labels (reference §6.5) plus
// a few of ours, in a prom-client registry that the operations server serves at /metrics.
// The orderer's parts record through the interfaces of types.ts; see README.md.
import { NO_METRICS } from '../../cluster/metrics';
import { PrometheusOrdererMetrics } from './prometheus';
import type { ChainMetrics, OrdererMetrics, RpcTracker } from './types';

export * from './types';
export { PrometheusOrdererMetrics } from './prometheus';
export { countServerConnections } from './connections';

/** A registry with every metric, prom-client's process metrics included (Metrics.Provider: prometheus). */
export function createOrdererMetrics(options: { version: string; commitSha: string }): OrdererMetrics {
  return new PrometheusOrdererMetrics(options);
}

const noop = (): void => undefined;
const NO_RPC: RpcTracker = { messageReceived: noop, messageSent: noop, done: noop };
const NO_CHAIN: ChainMetrics = {
  leaderChanged: noop,
  proposalFailed: noop,
  normalProposalReceived: noop,
  configProposalReceived: noop,
  dataPersisted: noop,
  readyHandled: noop,
  walFsynced: noop,
  snapshotTaken: noop,
  blockFilled: noop,
  blockCommitted: noop,
  release: noop,
};

/** Metrics.Provider: disabled (Fabric's default): no registry, every recorder does nothing. */
export const DISABLED_METRICS: OrdererMetrics = Object.freeze({
  registry: undefined,
  broadcast: { validated: noop, enqueued: noop, processed: noop },
  deliver: { streamOpened: noop, streamClosed: noop, requestReceived: noop, requestCompleted: noop, blockSent: noop },
  grpc: { streamStarted: () => NO_RPC },
  connections: { opened: noop, closed: noop },
  cluster: NO_METRICS,
  forChannel: () => NO_CHAIN,
  setChannelSource: noop,
  onLogEntry: noop,
});
