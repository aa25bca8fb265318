// Settings the loader reads (they are Fabric's) whose feature this orderer does not have yet, and
// whose silent neglect would mislead an operator. The node refuses to start with these, naming the
// key. Today: the StatsD metrics provider (an operator who asked for it would otherwise see no
// metrics anywhere and no error); Prometheus is implemented (orderer/metrics/).
import type { OrdererConfig } from './types';

export interface UnsupportedSetting {
  readonly key: string;
  readonly reason: string;
}

export function unsupportedSettings(config: OrdererConfig): UnsupportedSetting[] {
  const found: UnsupportedSetting[] = [];
  if (config.metrics.provider === 'statsd') {
    found.push({ key: 'Metrics.Provider', reason: 'statsd is not implemented by this orderer; use prometheus (GET /metrics on the Operations server) or disabled' });
  }
  return found;
}
