// grpc_comm_conn_opened / grpc_comm_conn_closed: connections to this orderer's gRPC servers.
// grpc-js tells a server about calls, not connections; the HTTP/2 sessions are seen the way
// cluster/http2-window.ts widens their windows, on the listeners grpc-js keeps internally. If
// those internals change shape, nothing is counted (the counters stay at 0), nothing breaks.
import { EventEmitter } from 'node:events';
import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import type { ConnectionMetrics } from './types';

/** Counts every HTTP/2 connection accepted by `server` from now on. Call it after bindAsync. */
export function countServerConnections(server: grpc.Server, metrics: ConnectionMetrics): void {
  const listeners: unknown = Reflect.get(server, 'http2Servers');
  if (!(listeners instanceof Map)) return;
  for (const listener of listeners.keys()) {
    if (!(listener instanceof EventEmitter) || Reflect.get(listener, 'countedConnections') === true) continue;
    Reflect.set(listener, 'countedConnections', true);
    listener.on('session', (session: http2.ServerHttp2Session) => {
      metrics.opened();
      session.once('close', () => metrics.closed());
    });
  }
}
