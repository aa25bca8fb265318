// Settings the loader reads (they are Fabric's) whose feature this orderer does not have yet, and
// whose silent neglect would mislead an operator. The node refuses to start with these, naming the
// key. Empty today: TLS and the separate cluster listener, the two it used to list, exist now
// (orderer/tls.ts); the seam stays for the next such feature.
import type { OrdererConfig } from './types';

export interface UnsupportedSetting {
  readonly key: string;
  readonly reason: string;
}

export function unsupportedSettings(_config: OrdererConfig): UnsupportedSetting[] {
  return [];
}
