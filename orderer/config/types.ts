// The orderer's local configuration, typed, with units in names. Loaded from an
// orderer.yaml shaped like Fabric's (reference §6.1) plus ORDERER_* overrides; see
// load.ts and the documented sample cmd/orderer.yaml.
import type { HostPort, LoggingSpec } from './values';

export type { HostPort, LoggingSpec, LogLevel } from './values';

export interface GrpcTlsConfig {
  readonly enabled: boolean;
  readonly privateKeyPath: string | undefined;
  readonly certificatePath: string | undefined;
  readonly rootCaPaths: readonly string[];
  readonly clientAuthRequired: boolean;
  readonly clientRootCaPaths: readonly string[];
}

export interface HttpTlsConfig {
  readonly enabled: boolean;
  readonly certificatePath: string | undefined;
  readonly privateKeyPath: string | undefined;
  readonly clientAuthRequired: boolean;
  readonly clientRootCaPaths: readonly string[];
}

export interface KeepaliveConfig {
  readonly serverMinIntervalMs: number;
  readonly serverIntervalMs: number;
  readonly serverTimeoutMs: number;
}

export interface ClusterConfig {
  /** Separate cluster listener; both undefined means Cluster.Step shares the main port. */
  readonly listenAddress: string | undefined;
  readonly listenPort: number | undefined;
  readonly serverCertificatePath: string | undefined;
  readonly serverPrivateKeyPath: string | undefined;
  readonly clientCertificatePath: string | undefined;
  readonly clientPrivateKeyPath: string | undefined;
  readonly rootCaPaths: readonly string[];
  /** Messages buffered per (channel, destination, stream kind). */
  readonly sendBufferSize: number;
  readonly dialTimeoutMs: number;
  readonly rpcTimeoutMs: number;
  readonly replicationBufferSizeBytes: number;
  readonly replicationPullTimeoutMs: number;
  readonly replicationRetryTimeoutMs: number;
  readonly replicationBackgroundRefreshIntervalMs: number;
  readonly replicationMaxRetries: number;
  readonly certExpirationWarningThresholdMs: number;
  readonly tlsHandshakeTimeShiftMs: number;
  /**
   * Ours: the host:port this node is listed as among a channel's consenters, which is how a
   * node finds itself on a plaintext cluster. With TLS the node's server certificate does
   * (Fabric's way) and this is not used. Defaults to the cluster listener (or the main
   * listener) unless that is a wildcard.
   */
  readonly selfEndpoint: HostPort | undefined;
  /**
   * Ours, for test networks only: lets the cluster run without TLS. Step senders are then
   * identified by a header they write themselves, so anyone who can reach the port can act as a
   * consenter. Fabric refuses to run etcdraft without cluster TLS; so does this orderer unless
   * this is true.
   */
  readonly allowPlaintext: boolean;
}

/** Ours: a channel to serve from its genesis (or join) block at startup. */
export interface BootstrapChannel {
  readonly name: string;
  readonly genesisBlockPath: string;
}

export interface GeneralConfig {
  readonly listenAddress: string;
  readonly listenPort: number;
  readonly tls: GrpcTlsConfig;
  readonly keepalive: KeepaliveConfig;
  readonly maxRecvMsgSizeBytes: number;
  readonly maxSendMsgSizeBytes: number;
  readonly cluster: ClusterConfig;
  readonly bootstrapChannels: readonly BootstrapChannel[];
  readonly localMspDir: string;
  readonly localMspId: string;
  readonly authentication: {
    readonly timeWindowMs: number;
    readonly noExpirationChecks: boolean;
  };
}

export type MetricsProvider = 'disabled' | 'prometheus' | 'statsd';

export interface OrdererConfig {
  readonly general: GeneralConfig;
  /** From FABRIC_LOGGING_SPEC, else General.LogLevel, else "info". */
  readonly logging: LoggingSpec;
  readonly fileLedger: { readonly location: string };
  readonly consensus: {
    readonly walDir: string;
    readonly snapDir: string;
    readonly evictionSuspicionMs: number;
    /** Replaces the channel's etcdraft TickInterval on this node when set. */
    readonly tickIntervalOverrideMs: number | undefined;
    /** Consenter endpoints (host:port), highest rank first: the leader hands over to the best healthy one. Empty: off. */
    readonly preferredLeaders: readonly string[];
    /** How long a better-ranked consenter (and the leader) must be healthy before a hand-over. */
    readonly preferredLeaderQuietPeriodMs: number;
  };
  readonly operations: { readonly listenAddress: string; readonly tls: HttpTlsConfig };
  readonly metrics: {
    readonly provider: MetricsProvider;
    readonly statsd: {
      readonly network: string;
      readonly address: string;
      readonly writeIntervalMs: number;
      readonly prefix: string;
    };
  };
  readonly admin: { readonly listenAddress: string; readonly tls: HttpTlsConfig };
  readonly channelParticipation: { readonly enabled: boolean; readonly maxRequestBodySizeBytes: number };
}

export interface LoadedOrdererConfig {
  readonly config: OrdererConfig;
  /** Unknown keys and ignored settings, for the caller to log. */
  readonly warnings: readonly string[];
  /** The file read, if any. */
  readonly filePath: string | undefined;
}
