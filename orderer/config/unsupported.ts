// Settings the loader reads (they are Fabric's) whose feature this orderer does not have yet, and
// whose silent neglect would mislead an operator: asking for TLS and getting plaintext, or naming a
// cluster listener that nobody listens on. The node refuses to start with these, naming the key.
import type { OrdererConfig } from './types';

export interface UnsupportedSetting {
  readonly key: string;
  readonly reason: string;
}

export function unsupportedSettings(config: OrdererConfig): UnsupportedSetting[] {
  const found: UnsupportedSetting[] = [];
  const g = config.general;
  if (g.tls.enabled) {
    found.push({
      key: 'General.TLS.Enabled',
      reason: 'TLS is not implemented yet, so this node would serve plaintext gRPC; set it to false (traffic is then unencrypted)',
    });
  }
  const c = g.cluster;
  if (c.listenAddress !== undefined && c.listenPort !== undefined && (c.listenAddress !== g.listenAddress || c.listenPort !== g.listenPort)) {
    found.push({
      key: 'General.Cluster.ListenAddress',
      reason:
        `a separate cluster listener is not implemented yet: the cluster is served on General.ListenAddress:ListenPort (${g.listenAddress}:${g.listenPort}), ` +
        `nothing would listen on ${c.listenAddress}:${c.listenPort}; remove General.Cluster.ListenAddress and ListenPort`,
    });
  }
  return found;
}
