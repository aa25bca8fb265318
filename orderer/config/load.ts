// Loads orderer.yaml (reference §6.1) into a frozen OrdererConfig. Defaults are
// Fabric's; keys and ORDERER_* overrides behave like Fabric's; relative file paths
// (TLS material, MSP dir, genesis blocks) resolve against the config file's directory
// as Fabric resolves them, while data directories are taken as written.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseDocument, parse as parseYaml } from 'yaml';
import { isValidChannelId } from '../channelconfig/settings';
import { LocalConfigError } from '../errors';
import { ConfigSource, convertAt, envName } from './source';
import type {
  BootstrapChannel,
  ClusterConfig,
  GrpcTlsConfig,
  HttpTlsConfig,
  LoadedOrdererConfig,
  MetricsProvider,
  OrdererConfig,
} from './types';
import {
  toBool,
  toByteSize,
  toDurationMs,
  toHostPort,
  toInt,
  toLoggingSpec,
  toStr,
  toStringList,
  ValueError,
  type HostPort,
  type LoggingSpec,
} from './values';

export const CONFIG_FILE_NAME = 'orderer.yaml';
/** Fabric's last-resort config directory. */
export const OFFICIAL_CONFIG_DIR = '/etc/hyperledger/fabric';
export const LOGGING_SPEC_ENV = 'FABRIC_LOGGING_SPEC';

type Env = Readonly<Record<string, string | undefined>>;

// ---- typed getters over a ConfigSource -------------------------------------------

class Reader {
  constructor(
    readonly src: ConfigSource,
    /** Relative file paths resolve against this directory. */
    readonly baseDir: string,
  ) {}

  private fail(key: string, source: string, reason: string): never {
    throw new LocalConfigError(key, source, reason);
  }

  str(key: string, def: string): string {
    return this.src.get(key, toStr)?.value ?? def;
  }

  optStr(key: string): string | undefined {
    const v = this.src.get(key, toStr)?.value;
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  oneOf<T extends string>(key: string, def: T, allowed: readonly T[]): T {
    const got = this.src.get(key, toStr);
    if (got === undefined) return def;
    const match = allowed.find((a) => a.toLowerCase() === got.value.trim().toLowerCase());
    if (match === undefined) this.fail(key, got.source, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(got.value)}`);
    return match;
  }

  int(key: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const got = this.src.get(key, toInt);
    if (got === undefined) return def;
    if (got.value < min || got.value > max) this.fail(key, got.source, `must be between ${min} and ${max}, got ${got.value}`);
    return got.value;
  }

  optInt(key: string, min: number, max: number): number | undefined {
    const got = this.src.get(key, toInt);
    if (got === undefined) return undefined;
    if (got.value < min || got.value > max) this.fail(key, got.source, `must be between ${min} and ${max}, got ${got.value}`);
    return got.value;
  }

  bool(key: string, def: boolean): boolean {
    return this.src.get(key, toBool)?.value ?? def;
  }

  /** A duration in ms; `positive` rejects 0, negative durations are always rejected. */
  durationMs(key: string, def: string, positive: boolean): number {
    const got = this.src.get(key, toDurationMs) ?? { value: toDurationMs(def), source: 'default' };
    this.checkDuration(key, got, positive);
    return got.value;
  }

  optDurationMs(key: string, positive: boolean): number | undefined {
    const got = this.src.get(key, (raw) => (typeof raw === 'string' && raw.trim() === '' ? undefined : toDurationMs(raw)));
    if (got === undefined || got.value === undefined) return undefined;
    this.checkDuration(key, { value: got.value, source: got.source }, positive);
    return got.value;
  }

  private checkDuration(key: string, got: { value: number; source: string }, positive: boolean): void {
    if (got.value < 0 || (positive && got.value === 0)) {
      this.fail(key, got.source, `must be ${positive ? 'positive' : 'zero or more'}, got ${got.value} ms`);
    }
  }

  bytes(key: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const got = this.src.get(key, toByteSize);
    if (got === undefined) return def;
    if (got.value < min || got.value > max) this.fail(key, got.source, `must be between ${min} and ${max} bytes, got ${got.value}`);
    return got.value;
  }

  list(key: string): string[] {
    return this.src.get(key, toStringList)?.value ?? [];
  }

  resolve(p: string): string {
    return path.isAbsolute(p) ? p : path.resolve(this.baseDir, p);
  }

  optPath(key: string): string | undefined {
    const p = this.optStr(key);
    return p === undefined ? undefined : this.resolve(p);
  }

  pathList(key: string): string[] {
    return this.list(key).map((p) => this.resolve(p));
  }

  hostPort(key: string): HostPort | undefined {
    const got = this.src.get(key, (raw) => (typeof raw === 'string' && raw.trim() === '' ? undefined : toHostPort(raw)));
    return got?.value;
  }
}

// ---- sections ------------------------------------------------------------------------

function grpcTls(r: Reader, prefix: string): GrpcTlsConfig {
  const tls: GrpcTlsConfig = {
    enabled: r.bool(`${prefix}.Enabled`, false),
    privateKeyPath: r.optPath(`${prefix}.PrivateKey`),
    certificatePath: r.optPath(`${prefix}.Certificate`),
    rootCaPaths: r.pathList(`${prefix}.RootCAs`),
    clientAuthRequired: r.bool(`${prefix}.ClientAuthRequired`, false),
    clientRootCaPaths: r.pathList(`${prefix}.ClientRootCAs`),
  };
  if (tls.enabled && (tls.privateKeyPath === undefined || tls.certificatePath === undefined)) {
    throw new LocalConfigError(prefix, r.src.fileLabel, 'TLS is enabled, so PrivateKey and Certificate are required');
  }
  return tls;
}

function httpTls(r: Reader, prefix: string): HttpTlsConfig {
  const tls: HttpTlsConfig = {
    enabled: r.bool(`${prefix}.Enabled`, false),
    certificatePath: r.optPath(`${prefix}.Certificate`),
    privateKeyPath: r.optPath(`${prefix}.PrivateKey`),
    clientAuthRequired: r.bool(`${prefix}.ClientAuthRequired`, false),
    clientRootCaPaths: r.pathList(`${prefix}.ClientRootCAs`),
  };
  if (tls.enabled && (tls.privateKeyPath === undefined || tls.certificatePath === undefined)) {
    throw new LocalConfigError(prefix, r.src.fileLabel, 'TLS is enabled, so PrivateKey and Certificate are required');
  }
  return tls;
}

const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);

function cluster(r: Reader, listenAddress: string, listenPort: number, tlsEnabled: boolean, warnings: string[]): ClusterConfig {
  const p = 'General.Cluster';
  const clusterAddress = r.optStr(`${p}.ListenAddress`);
  const clusterPort = r.optInt(`${p}.ListenPort`, 0, 65535);
  // Fabric needs these together (with ServerCertificate and ServerPrivateKey: orderer/tls.ts checks those).
  if ((clusterAddress === undefined) !== (clusterPort === undefined)) {
    throw new LocalConfigError(`${p}.ListenAddress`, r.src.fileLabel, `${p}.ListenAddress and ${p}.ListenPort must be set together`);
  }
  const serverCertificatePath = r.optPath(`${p}.ServerCertificate`);
  let selfEndpoint = r.hostPort(`${p}.SelfEndpoint`);
  // With TLS the node finds itself by its server certificate (orderer/tls.ts); SelfEndpoint is the plaintext way.
  const findsSelfByCertificate = tlsEnabled || serverCertificatePath !== undefined;
  if (selfEndpoint === undefined && !findsSelfByCertificate) {
    const host = clusterAddress ?? listenAddress;
    const port = clusterPort ?? listenPort;
    if (WILDCARD_HOSTS.has(host) || port === 0) {
      warnings.push(
        `${p}.SelfEndpoint is not set and the cluster listener ${host}:${port} is not an address consenters can list; ` +
          'this node will not recognise itself as a consenter of any channel',
      );
    } else {
      selfEndpoint = { host, port };
    }
  }
  return {
    listenAddress: clusterAddress,
    listenPort: clusterPort,
    serverCertificatePath,
    serverPrivateKeyPath: r.optPath(`${p}.ServerPrivateKey`),
    clientCertificatePath: r.optPath(`${p}.ClientCertificate`),
    clientPrivateKeyPath: r.optPath(`${p}.ClientPrivateKey`),
    rootCaPaths: r.pathList(`${p}.RootCAs`),
    sendBufferSize: r.int(`${p}.SendBufferSize`, 100, 1),
    dialTimeoutMs: r.durationMs(`${p}.DialTimeout`, '5s', true),
    rpcTimeoutMs: r.durationMs(`${p}.RPCTimeout`, '7s', true),
    replicationBufferSizeBytes: r.bytes(`${p}.ReplicationBufferSize`, 20971520, 1),
    replicationPullTimeoutMs: r.durationMs(`${p}.ReplicationPullTimeout`, '5s', true),
    replicationRetryTimeoutMs: r.durationMs(`${p}.ReplicationRetryTimeout`, '5s', true),
    replicationBackgroundRefreshIntervalMs: r.durationMs(`${p}.ReplicationBackgroundRefreshInterval`, '5m', true),
    replicationMaxRetries: r.int(`${p}.ReplicationMaxRetries`, 12, 0),
    certExpirationWarningThresholdMs: r.durationMs(`${p}.CertExpirationWarningThreshold`, '168h', false),
    tlsHandshakeTimeShiftMs: r.durationMs(`${p}.TLSHandshakeTimeShift`, '0', false),
    selfEndpoint,
    allowPlaintext: r.bool(`${p}.AllowPlaintext`, false),
  };
}

function parseChannelList(raw: unknown): unknown {
  // From the environment: a YAML flow list ("[{name: a, genesisBlock: /x.block}]")
  // or the shorthand "a=/x.block,b=/y.block".
  if (typeof raw !== 'string') return raw;
  const s = raw.trim();
  if (s.startsWith('[')) {
    try {
      return parseYaml(s) as unknown;
    } catch (err) {
      throw new ValueError(`not a YAML list: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return s
    .split(',')
    .filter((x) => x.trim() !== '')
    .map((item) => {
      const eq = item.indexOf('=');
      if (eq < 0) throw new ValueError(`expected name=path items, got ${JSON.stringify(item.trim())}`);
      return { name: item.slice(0, eq).trim(), genesisBlock: item.slice(eq + 1).trim() };
    });
}

function bootstrapChannels(r: Reader): BootstrapChannel[] {
  const key = 'General.BootstrapChannels';
  const raw = r.src.raw(key);
  if (raw === undefined) return [];
  return convertAt(key, raw, (value) => {
    const list = parseChannelList(value);
    if (!Array.isArray(list)) throw new ValueError('expected a list of {name, genesisBlock}');
    const seen = new Set<string>();
    return list.map((item: unknown, i): BootstrapChannel => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw new ValueError(`item ${i}: expected {name, genesisBlock}`);
      }
      let name: unknown;
      let block: unknown;
      for (const [k, v] of Object.entries(item)) {
        if (k.toLowerCase() === 'name') name = v;
        else if (k.toLowerCase() === 'genesisblock') block = v;
        else throw new ValueError(`item ${i}: unknown key ${JSON.stringify(k)} (name, genesisBlock)`);
      }
      if (typeof name !== 'string' || !isValidChannelId(name)) {
        throw new ValueError(`item ${i}: name must match [a-z][a-z0-9.-]* (at most 249 characters), got ${JSON.stringify(name)}`);
      }
      if (typeof block !== 'string' || block.trim() === '') throw new ValueError(`item ${i} (${name}): genesisBlock path is required`);
      if (seen.has(name)) throw new ValueError(`channel ${name} is listed twice`);
      seen.add(name);
      return { name, genesisBlockPath: r.resolve(block.trim()) };
    });
  });
}

function logging(r: Reader): LoggingSpec {
  // Both are read so that neither is reported as unknown; Fabric's variable wins.
  const fromKey = r.src.raw('General.LogLevel');
  const fromEnv = r.src.otherEnv(LOGGING_SPEC_ENV);
  if (fromEnv !== undefined) return convertAt(LOGGING_SPEC_ENV, fromEnv, toLoggingSpec);
  if (fromKey !== undefined) return convertAt('General.LogLevel', fromKey, toLoggingSpec);
  return toLoggingSpec('info');
}

function readConfig(r: Reader, warnings: string[]): OrdererConfig {
  const note = (w: string | undefined): void => {
    if (w !== undefined) warnings.push(w);
  };
  note(r.src.ignore('General.BCCSP', 'keys are software ECDSA'));
  note(r.src.ignore('General.Profile', 'no Go profiler'));
  note(r.src.ignore('Kafka', 'etcdraft only'));
  note(r.src.ignore('Debug', 'no broadcast/deliver trace dirs'));
  note(r.src.ignore('FileLedger.Prefix', 'deprecated in Fabric'));
  note(r.src.ignore('General.TLS.TLSHandshakeTimeShift', 'handshakes always check certificate validity against the local clock'));

  const bootstrapMethod = r.oneOf('General.BootstrapMethod', 'none', ['none', 'file']);
  if (bootstrapMethod === 'file') {
    throw new LocalConfigError(
      'General.BootstrapMethod',
      r.src.raw('General.BootstrapMethod')?.source ?? r.src.fileLabel,
      'only "none" is supported (there is no system channel); list channels under General.BootstrapChannels',
    );
  }
  r.src.raw('General.BootstrapFile'); // meaningless without a system channel; read so it is not "unknown"

  const listenAddress = r.str('General.ListenAddress', '127.0.0.1').trim();
  const listenPort = r.int('General.ListenPort', 7050, 0, 65535);
  const walRoot = '/var/hyperledger/production/orderer';
  const provider: MetricsProvider = r.oneOf<MetricsProvider>('Metrics.Provider', 'disabled', ['disabled', 'prometheus', 'statsd']);

  const tls = grpcTls(r, 'General.TLS');
  return {
    general: {
      listenAddress,
      listenPort,
      tls,
      keepalive: {
        serverMinIntervalMs: r.durationMs('General.Keepalive.ServerMinInterval', '60s', true),
        serverIntervalMs: r.durationMs('General.Keepalive.ServerInterval', '7200s', true),
        serverTimeoutMs: r.durationMs('General.Keepalive.ServerTimeout', '20s', true),
      },
      maxRecvMsgSizeBytes: r.bytes('General.MaxRecvMsgSize', 104857600, 1, 2 ** 31 - 1),
      maxSendMsgSizeBytes: r.bytes('General.MaxSendMsgSize', 104857600, 1, 2 ** 31 - 1),
      cluster: cluster(r, listenAddress, listenPort, tls.enabled, warnings),
      bootstrapChannels: bootstrapChannels(r),
      localMspDir: r.optPath('General.LocalMSPDir') ?? r.resolve('msp'),
      localMspId: r.str('General.LocalMSPID', 'SampleOrg'),
      authentication: {
        timeWindowMs: r.durationMs('General.Authentication.TimeWindow', '15m', false),
        noExpirationChecks: r.bool('General.Authentication.NoExpirationChecks', false),
      },
    },
    logging: logging(r),
    fileLedger: { location: r.str('FileLedger.Location', walRoot) },
    consensus: {
      walDir: r.str('Consensus.WALDir', `${walRoot}/etcdraft/wal`),
      snapDir: r.str('Consensus.SnapDir', `${walRoot}/etcdraft/snapshot`),
      evictionSuspicionMs: r.durationMs('Consensus.EvictionSuspicion', '10m', true),
      tickIntervalOverrideMs: r.optDurationMs('Consensus.TickIntervalOverride', true),
      preferredLeaders: r.list('Consensus.PreferredLeaders').map((e) => e.trim()).filter((e) => e !== ''),
      preferredLeaderQuietPeriodMs: r.durationMs('Consensus.PreferredLeaderQuietPeriod', '10s', true),
    },
    // Fabric's built-in default (localconfig Defaults): any free port on loopback; the sample file says 8443.
    operations: { listenAddress: r.str('Operations.ListenAddress', '127.0.0.1:0'), tls: httpTls(r, 'Operations.TLS') },
    metrics: {
      provider,
      statsd: {
        network: r.oneOf('Metrics.Statsd.Network', 'udp', ['udp', 'tcp']),
        address: r.str('Metrics.Statsd.Address', '127.0.0.1:8125'),
        writeIntervalMs: r.durationMs('Metrics.Statsd.WriteInterval', '30s', true),
        prefix: r.str('Metrics.Statsd.Prefix', ''),
      },
    },
    admin: { listenAddress: r.str('Admin.ListenAddress', '127.0.0.1:9443'), tls: httpTls(r, 'Admin.TLS') },
    channelParticipation: {
      enabled: r.bool('ChannelParticipation.Enabled', false),
      maxRequestBodySizeBytes: r.bytes('ChannelParticipation.MaxRequestBodySize', 1024 * 1024, 1),
    },
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

// ---- entry points --------------------------------------------------------------------

export interface ParseOrdererConfigOptions {
  /** Environment for ORDERER_* overrides and FABRIC_LOGGING_SPEC; defaults to none. */
  readonly env?: Env;
  /** Directory relative file paths resolve against (the config file's). Default: cwd. */
  readonly baseDir?: string;
  /** Name used in messages. */
  readonly fileLabel?: string;
}

/** Parses orderer.yaml text (empty text = all defaults). */
export function parseOrdererConfig(yamlText: string, options: ParseOrdererConfigOptions = {}): LoadedOrdererConfig {
  const fileLabel = options.fileLabel ?? CONFIG_FILE_NAME;
  const doc = parseDocument(yamlText);
  if (doc.errors.length > 0) {
    throw new LocalConfigError('(document)', fileLabel, `not valid YAML: ${doc.errors[0]!.message}`);
  }
  const src = new ConfigSource(doc.toJS() as unknown, options.env ?? {}, fileLabel);
  const reader = new Reader(src, options.baseDir ?? process.cwd());
  const warnings: string[] = [];
  const config = readConfig(reader, warnings);
  warnings.push(...src.leftovers());
  return { config: deepFreeze(config), warnings: Object.freeze(warnings), filePath: undefined };
}

/**
 * Where Fabric looks for orderer.yaml: only $FABRIC_CFG_PATH when it is set, else the
 * working directory, then /etc/hyperledger/fabric.
 */
export function findOrdererConfigFile(env: Env, cwd: string): { found: string | undefined; searched: string[] } {
  const cfgPath = env['FABRIC_CFG_PATH'];
  const dirs = cfgPath !== undefined && cfgPath !== '' ? [path.resolve(cwd, cfgPath)] : [cwd, OFFICIAL_CONFIG_DIR];
  const searched = dirs.map((d) => path.join(d, CONFIG_FILE_NAME));
  return { found: searched.find((f) => existsSync(f)), searched };
}

export interface LoadOrdererConfigOptions {
  /** The file to read; otherwise searched for like Fabric does. */
  readonly filePath?: string;
  /** Defaults to process.env. */
  readonly env?: Env;
  /** Defaults to process.cwd(). */
  readonly cwd?: string;
}

/** Reads orderer.yaml, applies ORDERER_* overrides and returns the frozen config. */
export function loadOrdererConfig(options: LoadOrdererConfigOptions = {}): LoadedOrdererConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  let filePath = options.filePath === undefined ? undefined : path.resolve(cwd, options.filePath);
  if (filePath === undefined) {
    const { found, searched } = findOrdererConfigFile(env, cwd);
    if (found === undefined) throw new LocalConfigError(CONFIG_FILE_NAME, 'search', `not found; looked for ${searched.join(', ')}`);
    filePath = found;
  }
  let text: string;
  try {
    text = readFileSync(filePath, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new LocalConfigError(CONFIG_FILE_NAME, filePath, `cannot be read: ${reason}`, { cause: err });
  }
  const loaded = parseOrdererConfig(text, { env, baseDir: path.dirname(filePath), fileLabel: filePath });
  return { ...loaded, filePath };
}

/** The environment variable that overrides `key` ("General.ListenPort" → ORDERER_GENERAL_LISTENPORT). */
export { envName as overrideEnvName };
