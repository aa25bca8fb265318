// Serving AtomicBroadcast: registers the Broadcast and Deliver handlers on a grpc-js server,
// with Fabric's message size limits, and binds it.
//
// Dependencies point one way: this module imports the services (broadcast.ts, deliver.ts), and
// they import only the service declaration (atomic-broadcast.ts) and the stream plumbing
// (grpc-streams.ts), never this module. (Until these were split out, broadcast.ts and
// deliver.ts imported their stream helpers from here while this module imported them: a
// runtime import cycle that worked only because neither side used the other while loading.)
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { widenServerWindows } from '../cluster/http2-window';
import type { orderer } from '../protos';
import { atomicBroadcastServiceDefinition, DEFAULT_MAX_MESSAGE_BYTES, type BroadcastCall, type DeliverCall } from './atomic-broadcast';
import { handleBroadcast, type BroadcastOptions } from './broadcast';
import { DeliverService, type DeliverServiceOptions } from './deliver';
import { failCall } from './grpc-streams';
import { serveDirectly, takeOverStreams } from './grpc-direct';
import type { ChainRegistry } from './types';
import { DISABLED_METRICS, type GrpcServerMetrics, type OrdererMetrics, type RpcTracker } from './metrics';

// The call types the handlers take, and what callers imported from here before the split
// (the block puller and the benchmarks dial through dialOrderer; the ack-only benchmark sink
// writes with failCall and writeWithBackpressure). New code imports atomic-broadcast.ts and
// grpc-streams.ts directly; these re-exports add no cycle, since neither imports this module.
export { dialOrderer, type BroadcastCall, type DeliverCall, type DialOptions } from './atomic-broadcast';
export { failCall, writeWithBackpressure } from './grpc-streams';

export interface AtomicBroadcastHandlers {
  broadcast(call: BroadcastCall, rpc: RpcTracker): Promise<void>;
  deliver(call: DeliverCall, rpc: RpcTracker): Promise<void>;
}

/** Fabric's grpc_server_* `service` label: the full service name with dots as underscores. */
const SERVICE_LABEL = 'orderer_AtomicBroadcast';

/**
 * Registers AtomicBroadcast on `server`, and has its calls served on the HTTP/2 stream directly
 * once the server is bound (grpc-direct.ts; bindServer, or takeOverStreams after bindAsync).
 * The handlers are expected not to reject; if one does, the call ends INTERNAL.
 */
export function addAtomicBroadcastService(server: grpc.Server, handlers: AtomicBroadcastHandlers, metrics: GrpcServerMetrics = DISABLED_METRICS.grpc): void {
  const run = <Call extends BroadcastCall | DeliverCall>(method: string, call: Call, handle: (call: Call, rpc: RpcTracker) => Promise<void>): Promise<void> => {
    const rpc = metrics.streamStarted(SERVICE_LABEL, method);
    return handle(call, rpc).then(
      // A handler that returns ended its stream with OK or with the status it sent itself;
      // 'cancelled' marks a client that went away first.
      () => rpc.done(call.cancelled ? grpc.status.CANCELLED : grpc.status.OK),
      (err: unknown) => {
        rpc.done(grpc.status.INTERNAL);
        failCall(call, grpc.status.INTERNAL, `internal error: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  };
  const broadcast = (call: BroadcastCall): Promise<void> => run('Broadcast', call, (c, rpc) => handlers.broadcast(c, rpc));
  const deliver = (call: DeliverCall): Promise<void> => run('Deliver', call, (c, rpc) => handlers.deliver(c, rpc));
  server.addService(atomicBroadcastServiceDefinition, {
    Broadcast: (call: BroadcastCall): void => void broadcast(call),
    Deliver: (call: DeliverCall): void => void deliver(call),
  });
  serveDirectly(server, { broadcast, deliver });
}

export interface AtomicBroadcastServiceOptions {
  /** Where Broadcast, Deliver and their gRPC calls record; DISABLED_METRICS when absent. */
  metrics?: OrdererMetrics;
  broadcast?: BroadcastOptions;
  deliver?: Omit<DeliverServiceOptions, 'registry' | 'logger'>;
}

/**
 * Serves Broadcast and Deliver for the channels of `registry` on `server`. Returns the Deliver
 * service (stream counts; close() ends its streams on shutdown).
 */
export function registerAtomicBroadcast(
  server: grpc.Server,
  registry: ChainRegistry,
  logger: Logger,
  options: AtomicBroadcastServiceOptions = {},
): DeliverService {
  const metrics = options.metrics ?? DISABLED_METRICS;
  const deliver = new DeliverService({ registry, logger: logger.child({ logger: 'orderer.deliver' }), metrics: metrics.deliver, ...options.deliver });
  const broadcastLog = logger.child({ logger: 'orderer.broadcast' });
  addAtomicBroadcastService(
    server,
    {
      // Disabled metrics: no timing wrapper around each envelope's answer at all.
      broadcast: (call, rpc) =>
        handleBroadcast(call, registry, broadcastLog, { ...options.broadcast, ...(metrics.registry !== undefined ? { metrics: metrics.broadcast, rpc } : {}) }),
      deliver: (call, rpc) => deliver.handle(call, rpc),
    },
    metrics.grpc,
  );
  return deliver;
}

/** Server options with Fabric's default message size limits (General.MaxRecvMsgSize/MaxSendMsgSize). */
export function atomicBroadcastServerOptions(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
  };
}

/** Binds `server` to host:port (port 0 picks a free one) and resolves with the port. */
export function bindServer(server: grpc.Server, address: string, credentials?: grpc.ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials ?? grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err !== null) {
        reject(new Error(`cannot listen on ${address}: ${err.message}`, { cause: err }));
        return;
      }
      widenServerWindows(server);
      takeOverStreams(server);
      resolve(port);
    });
  });
}
