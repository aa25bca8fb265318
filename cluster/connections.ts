// One gRPC client (one HTTP/2 connection) per remote endpoint, shared by every channel's
// streams to that endpoint and closed when the last of them goes. Streams are cheap on a
// connection; connections (and later TLS handshakes) are not.
import * as grpc from '@grpc/grpc-js';

export interface ConnectionPoolOptions {
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions: grpc.ChannelOptions;
}

interface Entry {
  readonly client: grpc.Client;
  refs: number;
}

export class ConnectionPool {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: ConnectionPoolOptions) {}

  acquire(host: string, port: number): grpc.Client {
    const key = `${host}:${port}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = { client: new grpc.Client(key, this.options.credentials, this.options.channelOptions), refs: 0 };
      this.entries.set(key, entry);
    }
    entry.refs += 1;
    return entry.client;
  }

  release(host: string, port: number): void {
    const key = `${host}:${port}`;
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    entry.refs -= 1;
    if (entry.refs > 0) return;
    this.entries.delete(key);
    entry.client.close();
  }

  closeAll(): void {
    for (const entry of this.entries.values()) entry.client.close();
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
