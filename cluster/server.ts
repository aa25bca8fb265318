// A listener serving only Cluster.Step: Fabric's separate cluster listener
// (General.Cluster.ListenAddress/Port) and the tests. On a shared port the orderer builds
// its own grpc.Server with clusterServerOptions() and calls registerClusterService().
import * as grpc from '@grpc/grpc-js';
import { widenServerWindows } from './http2-window';
import { ClusterError } from './errors';
import { registerClusterService, type ClusterDispatcher } from './dispatcher';
import { DEFAULT_MAX_MESSAGE_BYTES } from './types';

export interface MessageSizeLimits {
  /** Larger incoming messages end their stream with RESOURCE_EXHAUSTED (General.MaxRecvMsgSize). */
  readonly maxRecvMessageBytes?: number;
  /** Larger outgoing messages are refused (General.MaxSendMsgSize). */
  readonly maxSendMessageBytes?: number;
}

export function clusterServerOptions(limits: MessageSizeLimits = {}): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': limits.maxRecvMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': limits.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
  };
}

export interface ClusterServerOptions extends MessageSizeLimits {
  readonly host: string;
  /** 0 picks a free port; read it back from `port`. */
  readonly port: number;
  readonly dispatcher: ClusterDispatcher;
  /** Plaintext when absent (TLS arrives with its own issue). */
  readonly tls?: grpc.ServerCredentials;
}

export class ClusterServer {
  private closing: Promise<void> | undefined;

  private constructor(
    readonly server: grpc.Server,
    readonly host: string,
    readonly port: number,
  ) {}

  static async listen(options: ClusterServerOptions): Promise<ClusterServer> {
    const server = new grpc.Server(clusterServerOptions(options));
    registerClusterService(server, options.dispatcher);
    const credentials = options.tls ?? grpc.ServerCredentials.createInsecure();
    const address = `${options.host}:${options.port}`;
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, credentials, (err, boundPort) => {
        if (err !== null) reject(new ClusterError(`cannot listen on ${address}: ${err.message}`, { cause: err }));
        else resolve(boundPort);
      });
    });
    widenServerWindows(server);
    return new ClusterServer(server, options.host, port);
  }

  /**
   * Stops at once and resolves when the port is released. Step streams never end on their
   * own (senders keep them open), so waiting for them would wait forever; peers reconnect
   * to whoever listens next.
   */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closing = new Promise<void>((resolve) => {
        // tryShutdown reports when listeners and connections are gone; forceShutdown makes that now.
        this.server.tryShutdown(() => resolve());
        this.server.forceShutdown();
      });
    }
    return this.closing;
  }
}
