// One connection (one HTTP/2 connection, step-transport.ts) per remote endpoint, shared by every
// channel's streams to that endpoint and closed when the last of them goes. Streams are cheap on a
// connection; connections (and TLS handshakes) are not. With TLS the server certificate a
// connection accepts is pinned per destination, so the pin is part of what is shared: two
// channels expecting different certificates at one endpoint get a connection each.
import type { StepConnection } from './step-transport';
import type { ClusterMember } from './types';

export interface ConnectionPoolOptions {
  /** A new connection to the member's endpoint, with the TLS (and pin) it is to be reached with. */
  readonly open: (member: ClusterMember) => StepConnection;
  /** A pooled connection was created (+1) or closed (-1): the TLS connection count's seam. */
  readonly onConnectionsChanged?: (delta: 1 | -1) => void;
}

function poolKey(member: ClusterMember): string {
  const pin = member.serverTlsCert === undefined ? '' : `#${Buffer.from(member.serverTlsCert).toString('base64')}`;
  return `${member.host}:${member.port}${pin}`;
}

interface Entry {
  readonly connection: StepConnection;
  refs: number;
}

export class ConnectionPool {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: ConnectionPoolOptions) {}

  acquire(member: ClusterMember): StepConnection {
    const key = poolKey(member);
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { connection: this.options.open(member), refs: 0 };
      this.entries.set(key, entry);
      this.options.onConnectionsChanged?.(1);
    }
    entry.refs += 1;
    return entry.connection;
  }

  release(member: ClusterMember): void {
    const key = poolKey(member);
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    entry.refs -= 1;
    if (entry.refs > 0) return;
    this.entries.delete(key);
    entry.connection.close();
    this.options.onConnectionsChanged?.(-1);
  }

  closeAll(): void {
    for (const entry of this.entries.values()) {
      entry.connection.close();
      this.options.onConnectionsChanged?.(-1);
    }
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
