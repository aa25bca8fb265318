#!/usr/bin/env node
// `orderer start --config FILE`: runs one orderer node until SIGINT/SIGTERM.
import * as grpc from '@grpc/grpc-js';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { runStatus, STATUS_USAGE } from './status';
import { loadOrdererConfig, unsupportedSettings, type OrdererConfig } from '../orderer/config';
import { runConfigTool } from './config-tool';
import { runCryptoGenerate } from './crypto-generate';
import { runLedgerCheck } from './ledger-check';
import { runWalRepair } from './wal-repair';
import { ensureDirs, OrdererNode, type OrdererNodeOptions } from '../orderer/node';
import { createOrdererMetrics } from '../orderer/metrics';
import { LocalMspError, loadLocalSigningIdentity } from '../orderer/msp/local-msp';
import { loadOrdererTls } from '../orderer/tls';
import { adminServerFromConfig, type AdminServer } from '../orderer/participation';
import { OrdererLogging } from '../orderer/logging';
import { channelHealthCheckers, diskSpaceChecker, operationsServerFromConfig, type MetricsSource, type OperationsServer } from '../orderer/operations';

const USAGE = `usage: orderer start [--config FILE] [--stop-on-stdin-eof]
       orderer wal repair --channel NAME [--config FILE] [--dry-run]   (orderer wal repair --help)
       orderer ledger check --channel NAME [--config FILE]              (orderer ledger check --help)
       orderer crypto generate --output DIR [--orderers N] [--orgs N]   (orderer crypto generate --help)
       orderer config decode|encode|compute-update|sign-update|wrap-update|genesis ...   (orderer config --help)
       orderer status [--devnet DIR | -o HOST:PORT ...] [--json|--once]   (orderer status --help)

Runs one ordering node. Without --config, orderer.yaml is looked up in $FABRIC_CFG_PATH,
the current directory and /etc/hyperledger/fabric. Every key can be overridden by an
environment variable: General.ListenPort -> ORDERER_GENERAL_LISTENPORT.

SIGINT or SIGTERM stops the node cleanly (streams closed, WAL and ledger closed, locks released);
a second signal stops it at once.
  --stop-on-stdin-eof   also stop cleanly when standard input closes (npm start uses it, so its
                        nodes never outlive it)`;

/**
 * The node's options from its config. Reads and checks the TLS files the config names, so it
 * throws LocalConfigError (naming the key and the file) when one is missing or bad.
 */
export function nodeOptionsFromConfig(config: OrdererConfig, logger: pino.Logger, configFile?: string): OrdererNodeOptions {
  const g = config.general;
  const self = g.cluster.selfEndpoint ?? { host: g.listenAddress, port: g.listenPort };
  const tls = loadOrdererTls(config, configFile, logger);
  return {
    listenHost: g.listenAddress,
    listenPort: g.listenPort,
    selfHost: self.host,
    selfPort: self.port,
    ledgerDir: config.fileLedger.location,
    walDir: config.consensus.walDir,
    snapDir: config.consensus.snapDir,
    channels: g.bootstrapChannels.map((c) => ({ name: c.name, genesisBlockPath: c.genesisBlockPath })),
    logger,
    maxRecvMsgSizeBytes: g.maxRecvMsgSizeBytes,
    maxSendMsgSizeBytes: g.maxSendMsgSizeBytes,
    sendBufferSize: g.cluster.sendBufferSize,
    rpcTimeoutMs: g.cluster.rpcTimeoutMs,
    dialTimeoutMs: g.cluster.dialTimeoutMs,
    noExpirationChecks: g.authentication.noExpirationChecks,
    authTimeWindowMs: g.authentication.timeWindowMs,
    requireTlsBinding: g.tls.enabled && g.tls.clientAuthRequired,
    ...(config.consensus.tickIntervalOverrideMs !== undefined ? { tickIntervalOverrideMs: config.consensus.tickIntervalOverrideMs } : {}),
    evictionSuspicionMs: config.consensus.evictionSuspicionMs,
    preferredLeaders: config.consensus.preferredLeaders,
    preferredLeaderQuietPeriodMs: config.consensus.preferredLeaderQuietPeriodMs,
    ...(tls.serverCredentials !== undefined ? { serverCredentials: tls.serverCredentials } : {}),
    ...(tls.pullCredentials !== undefined ? { clientCredentials: tls.pullCredentials } : {}),
    ...(tls.pullTlsCertHash !== undefined ? { pullTlsCertHash: tls.pullTlsCertHash } : {}),
    ...(tls.clusterDialCredentialsFor !== undefined ? { clusterCredentialsFor: tls.clusterDialCredentialsFor } : {}),
    ...(tls.clusterDialTlsFor !== undefined ? { clusterDialTlsFor: tls.clusterDialTlsFor } : {}),
    ...(tls.clusterListener !== undefined ? { clusterListener: tls.clusterListener } : {}),
    ...(tls.selfServerCert !== undefined ? { selfServerTlsCert: tls.selfServerCert } : {}),
    clusterSenderIdentification: tls.senderIdentification,
  };
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'wal') {
    if (rest[0] === 'repair') return runWalRepair(rest.slice(1));
    console.error(`unknown command ${JSON.stringify(['wal', ...rest.slice(0, 1)].join(' '))}\n\n${USAGE}`);
    return 2;
  }
  if (command === 'ledger') {
    if (rest[0] === 'check') return runLedgerCheck(rest.slice(1));
    console.error(`unknown command ${JSON.stringify(['ledger', ...rest.slice(0, 1)].join(' '))}\n\n${USAGE}`);
    return 2;
  }
  if (command === 'crypto') {
    if (rest[0] === 'generate') return runCryptoGenerate(rest.slice(1));
    console.error(`unknown command ${JSON.stringify(['crypto', ...rest.slice(0, 1)].join(' '))}\n\n${USAGE}`);
    return 2;
  }
  if (command === 'config') return runConfigTool(rest);
  if (command === 'status') {
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(STATUS_USAGE);
      return 0;
    }
    return runStatus(rest);
  }
  if (command !== 'start') {
    console.error(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  let configPath: string | undefined;
  let stopOnStdinEof = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--config' || arg === '-c') {
      configPath = rest[++i];
      if (configPath === undefined || configPath.length === 0 || configPath.startsWith('-')) {
        console.error(`${arg} needs a file\n\n${USAGE}`);
        return 2;
      }
    } else if (arg.startsWith('--config=')) configPath = arg.slice('--config='.length);
    else if (arg === '--stop-on-stdin-eof') stopOnStdinEof = true;
    else {
      console.error(`unknown argument ${JSON.stringify(arg)}\n\n${USAGE}`);
      return 2;
    }
  }
  let loaded;
  try {
    loaded = loadOrdererConfig(configPath !== undefined ? { filePath: path.resolve(configPath) } : {});
  } catch (err) {
    console.error(`orderer: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const { config } = loaded;
  const unsupported = unsupportedSettings(config);
  if (unsupported.length > 0) {
    for (const u of unsupported) console.error(`orderer: ${u.key} in ${loaded.filePath}: ${u.reason}`);
    return 1;
  }
  // Every logger of the process descends from this root, so PUT /logspec reaches them all.
  const logging = new OrdererLogging({ spec: config.logging, base: { pid: process.pid } });
  const logger = logging.root;
  // SIGUSR2 asks for a status dump (below, once the node runs). Node's default action for it is
  // to exit, so it is caught from here on: during start-up (a WAL replay can take a while) it only
  // says the node is starting, instead of killing it.
  let statusDump = (): void => logger.info('status requested while the orderer is starting');
  process.on('SIGUSR2', () => statusDump());
  // grpc-js writes its own diagnostics to stderr as bare "E ..." lines, outside the JSON log; they
  // repeat what our own error lines say (a port in use, a peer gone), so they go into the log as
  // pino lines of their own component.
  const grpcLog = logger.child({ component: 'grpc-js', logger: 'grpc' });
  grpc.setLogger({
    error: (...args: unknown[]) => grpcLog.warn(args.map(String).join(' ')),
    info: (...args: unknown[]) => grpcLog.debug(args.map(String).join(' ')),
    debug: (...args: unknown[]) => grpcLog.debug(args.map(String).join(' ')),
  });
  for (const w of loaded.warnings) logger.warn({ config: loaded.filePath }, w);
  // Why a start failed, once in the JSON log (for the launcher and log collectors) and once as a
  // plain line on stderr for the person at the terminal, without a stack.
  const startFailed = (err: unknown): number => {
    logger.error({ err }, 'orderer failed to start');
    console.error(`orderer: failed to start: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  };
  let options: OrdererNodeOptions;
  try {
    // TLS files are read and checked here: a bad one names its key and file before anything starts.
    options = nodeOptionsFromConfig(config, logger, loaded.filePath);
    await ensureDirs(options);
    // Fabric's orderer does not start without its signing identity: every block it writes is signed.
    const identity = loadLocalSigningIdentity(config.general.localMspDir, config.general.localMspId);
    logger.info({ mspId: identity.mspId, mspDir: config.general.localMspDir }, 'local MSP loaded: blocks are signed by this identity');
    options = { ...options, signingIdentity: identity };
  } catch (err) {
    if (err instanceof LocalMspError) return startFailed(new Error(`General.LocalMSPDir / LocalMSPID: ${err.message}`, { cause: err }));
    return startFailed(err);
  }
  // Metrics.Provider: prometheus records into a registry the operations server serves at /metrics.
  if (config.metrics.provider === 'prometheus') {
    const metrics = createOrdererMetrics(buildInfo());
    options = { ...options, metrics };
    logging.setOnEntry((level) => metrics.onLogEntry(level));
  }
  const node = new OrdererNode(options);
  // The Admin server serves the channel participation API (reference §6.2); it runs when the API
  // is enabled (Fabric also starts it to answer 503 when disabled; with nothing else on it, we don't).
  let admin: AdminServer | undefined;
  // The Operations server (/healthz, /version, /logspec, /metrics) always runs, as in Fabric.
  let operations: OperationsServer | undefined;
  try {
    if (config.channelParticipation.enabled) admin = adminServerFromConfig(config, node, logger, loaded.filePath);
    const metrics: MetricsSource | undefined = options.metrics?.registry;
    const diskCheckers = [
      diskSpaceChecker('disk:ledger', options.ledgerDir),
      diskSpaceChecker('disk:wal', options.walDir),
      diskSpaceChecker('disk:snapshot', options.snapDir),
    ];
    operations = operationsServerFromConfig(
      config,
      { logger, logging, metrics, healthCheckers: () => [...channelHealthCheckers(node), ...diskCheckers] },
      loaded.filePath,
    );
    await node.start();
    if (admin !== undefined) {
      await admin.start();
      logger.info({ address: admin.address, tls: config.admin.tls.enabled }, 'channel participation API listening');
    }
    await operations.start();
  } catch (err) {
    await operations?.stop().catch(() => undefined);
    await admin?.stop().catch(() => undefined);
    await node.forceStop().catch(() => undefined);
    return startFailed(err);
  }
  const stopNode = async (force: boolean): Promise<void> => {
    await admin?.stop().catch((err: unknown) => logger.warn({ err }, 'admin server did not stop cleanly'));
    await operations?.stop().catch((err: unknown) => logger.warn({ err }, 'operations server did not stop cleanly'));
    await (force ? node.forceStop() : node.stop());
  };
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: stopping at once');
        void stopNode(true).finally(() => resolve(1));
        return;
      }
      stopping = true;
      logger.info({ signal }, 'stopping');
      // Open Deliver streams would keep a graceful shutdown waiting forever; give them a moment.
      const force = setTimeout(() => void node.forceStop(), 3_000);
      void stopNode(false).then(
        () => {
          clearTimeout(force);
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'error while stopping');
          resolve(1);
        },
      );
    };
    // Operators (and the real-process tests) can ask a running node what its chains are doing.
    statusDump = () => {
      for (const id of node.channelIds()) logger.info({ status: node.chain(id)?.status() }, 'chain status');
      const m = process.memoryUsage();
      const mb = (bytes: number): number => Math.round(bytes / 104857.6) / 10;
      logger.info(
        { rssMB: mb(m.rss), heapUsedMB: mb(m.heapUsed), heapTotalMB: mb(m.heapTotal), externalMB: mb(m.external), arrayBuffersMB: mb(m.arrayBuffers) },
        'process memory',
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    if (stopOnStdinEof) {
      // The launcher holds the other end: it closing (launcher gone) is a stop request.
      process.stdin.on('end', () => stop('stdin closed'));
      process.stdin.on('error', () => stop('stdin closed'));
      process.stdin.resume();
    }
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

/** fabric_version's value: package.json's version, and the commit when the build says it (ORDERER_COMMIT_SHA). */
function buildInfo(): { version: string; commitSha: string } {
  let version = 'unknown';
  // dist/cmd/orderer.js sits two levels below package.json, cmd/orderer.ts (tests) one.
  for (const dir of [path.join(__dirname, '..', '..'), path.join(__dirname, '..')]) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'fabric-raft-orderer' && typeof pkg.version === 'string') {
        version = pkg.version;
        break;
      }
    } catch {
      // Not there: the label says "unknown" rather than the start failing over a label.
    }
  }
  return { version, commitSha: process.env['ORDERER_COMMIT_SHA'] ?? '' };
}
