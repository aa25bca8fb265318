// The local development network `npm start` runs: three orderers on 127.0.0.1 sharing one
// channel. Kept out of cmd/ so tests and the benchmark can create the same network.
import { constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { access, lstat, mkdir, open, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DirLock, type LockProbe } from '../consensus/wal/lock';
import { WalLockedError } from '../consensus/wal/errors';
import { genesisBlock } from '../ledger/block';
import { channelStoreDir } from '../ledger/lmdb-block-store';
import { common } from '../protos';
import { buildGenesisConfigEnvelope, parseConfigBlock, type ChannelConfigSpec } from './channelconfig';
import { defaultSpec, generateCryptoMaterial } from './msp/generate';
import { mspConfigFromDir } from './msp/msp-dir';
import type { AdminClientOptions } from './participation/admin-client';

/**
 * Node flags for orderers that share a machine's cores with each other (the devnet, the
 * benchmark). An orderer alone on its machine may do better without them.
 * - `--single-threaded-gc`: V8's parallel and concurrent GC runs helper threads next to the main
 *   thread; with three orderers and a client on two cores those threads only compete with the
 *   other processes. At 5,500 envelopes/s (`npm run bench`): p99 81-85 ms with it, 108-120 ms
 *   without, and 5% less CPU.
 * - `--heap-growing-percent=100`: the old generation may double before the next full GC. The live
 *   heap is small (15-30 MB) and V8 chose limits so close to it that each node ran about 1.6 full
 *   collections a second. Full benchmark runs: p99 88-89 ms with it, 92-132 ms without, peak RSS
 *   233-251 MB; with 200 (triple) p99 71-91 ms but a node once peaked at 296 MB.
 * - `--max-semi-space-size=4` (MB): a young generation of 4 MB instead of V8's 16. Envelopes and
 *   their decoded headers live for a block or two; a smaller nursery is scavenged more often but
 *   each scavenge is cheaper, and the heap stays smaller. Alternating 30,000-envelope runs: against
 *   V8's default, 8 MB gave 4-11% more envelopes/s, 4-11% less orderer CPU and 10-25 MB less peak
 *   RSS per node in each of three rounds; 4 MB matched 8 MB's rate and CPU with another 10-20 MB
 *   less (176-185 MB against 186-210); 2 MB took 5% more CPU; 64 MB more CPU and 30-80 MB more.
 */
export const COLOCATED_NODE_FLAGS: readonly string[] = ['--single-threaded-gc', '--heap-growing-percent=100', '--max-semi-space-size=4'];

/**
 * The environment for orderers started the same way: `env` (this process's by default) with glibc's
 * malloc limited to one arena, unless `env` already sets MALLOC_ARENA_MAX. Each thread that
 * allocates (the libuv pool threads where lmdb-js commits and the WAL writes and syncs) otherwise
 * gets an arena of its own, and each keeps the memory freed in it apart from the others. Alternating
 * full benchmark runs (60,000 unsigned then 60,000 signed envelopes, 4 pairs): peak RSS of the
 * largest node 223-258 MB (median 229) against 246-308 (median 257), every node lower in 3 of the 4
 * pairs; the rate and the orderers' CPU moved within their noise. Ignored where malloc is not glibc's.
 */
export function colocatedNodeEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { MALLOC_ARENA_MAX: '1', ...env };
}

export interface DevnetNode {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  readonly configPath: string;
  /** Its separate cluster listener's port (DevnetOptions.clusterPorts); undefined when Step shares the client port. */
  readonly clusterPort: number | undefined;
  /** Its Admin server's port (channel participation API, DevnetOptions.adminPorts); undefined: no Admin server. */
  readonly adminPort: number | undefined;
  /** Its operations endpoint's port (/healthz, /metrics, /logspec, /version; DevnetOptions.operationsPorts); undefined: any free port (Fabric's default 127.0.0.1:0). */
  readonly operationsPort: number | undefined;
  /** Its FileLedger.Location: a channel it serves has a ledger under <ledgerDir>/chains/. */
  readonly ledgerDir: string;
  /** A consenter of the genesis blocks (false: a spare node, added later by a config update and a join). */
  readonly consenter: boolean;
  /** The node's MSP folder (General.LocalMSPDir; MSP ID DEVNET_ORDERER_MSP_ID): signs its blocks. */
  readonly mspDir: string;
  /** Its TLS folder: server.crt / server.key (server and cluster client pair), ca.crt. */
  readonly tlsDir: string;
}

/** Where the devnet's crypto material is (cryptogen's layout, written by writeDevnet once). */
export interface DevnetCrypto {
  readonly dir: string;
  readonly ordererMspId: string;
  /** The organisations' MSP folders (what configtxgen reads for the channel config). */
  readonly ordererOrgMspDir: string;
  readonly clientOrgMspDir: string;
  /** The application org's client identity (User1): what the CLI and the bench sign with. */
  readonly clientMspId: string;
  readonly clientMspDir: string;
  readonly clientCertPath: string;
  readonly clientKeyPath: string;
  /** The client's TLS pair, for orderers that require client certificates. */
  readonly clientTlsCertPath: string;
  readonly clientTlsKeyPath: string;
  /** The application org's admin identity (Admin). */
  readonly adminMspDir: string;
  /** The orderer org's admin identity (Admin): signs config updates of the orderer settings (/Channel/Orderer/Admins). */
  readonly ordererAdminMspDir: string;
  /** The orderer org admin's TLS client pair: what osnadmin presents to the nodes' Admin servers (mutual TLS). */
  readonly ordererAdminTlsCertPath: string;
  readonly ordererAdminTlsKeyPath: string;
  /** The TLS CA that issued the orderers' TLS certificates: what clients trust (--tls-ca). */
  readonly ordererTlsCaPath: string;
}

export interface DevnetLayout {
  readonly dataDir: string;
  readonly channels: readonly string[];
  readonly nodes: readonly DevnetNode[];
  readonly crypto: DevnetCrypto;
}

export interface DevnetOptions {
  dataDir: string;
  ports?: readonly number[];
  channels?: readonly string[];
  host?: string;
  /** Channel config knobs (tests use small snapshot intervals, short timeouts). */
  batchTimeout?: string;
  maxMessageCount?: number;
  preferredMaxBytes?: number;
  absoluteMaxBytes?: number;
  tickInterval?: string;
  electionTick?: number;
  heartbeatTick?: number;
  snapshotIntervalSizeBytes?: number;
  maxInflightBlocks?: number;
  logLevel?: string;
  /**
   * Anyone may broadcast and deliver, unsigned too (ChannelConfigSpec.openAccess): for tests and
   * the benchmark's unsigned figure. Signatures that are present are still verified, and blocks
   * are signed either way. `npm start` leaves it off: only Org1MSP and OrdererMSP members write
   * and read.
   */
  openAccess?: boolean;
  /**
   * TLS on the client port and mutual TLS between the nodes, with each node's cryptogen TLS pair
   * (General.TLS; the cluster uses the same pair, as in Fabric's sample networks). `npm start`
   * turns it on; tests and the benchmark leave it off unless they test it.
   */
  tls?: boolean;
  /**
   * Ports of a separate cluster listener per node, with mutual TLS, while the client port stays
   * as `tls` says: the fabric-anchor's layout (plaintext clients, mutual TLS between the orderers),
   * which the benchmark copies so both systems pay the same cluster costs. Consenters are then
   * listed at these ports and the orderer endpoints at the client ports.
   */
  clusterPorts?: readonly number[];
  /** Consensus.EvictionSuspicion of every node (Go duration; Fabric's default 10m when absent). */
  evictionSuspicion?: string;
  /**
   * Consensus.PreferredLeaders of every node, as indexes of the nodes (highest rank first; each
   * written as the node's consenter endpoint), and Consensus.PreferredLeaderQuietPeriod (Go duration).
   */
  preferredLeaders?: { readonly nodes: readonly number[]; readonly quietPeriod?: string };
  /** Ports of each node's Admin server, which then serves the channel participation API (mutual TLS with `tls`). */
  adminPorts?: readonly number[];
  /**
   * Ports of each node's operations endpoint (/healthz, /version, /logspec, /metrics; mutual TLS
   * for the protected ones with `tls`, the orderer org admin's TLS pair as client).
   */
  operationsPorts?: readonly number[];
  /** Metrics.Provider of every node ('disabled' when absent, Fabric's default; /metrics needs 'prometheus'). */
  metricsProvider?: 'disabled' | 'prometheus';
  /**
   * How many of the nodes (the first ones) are the channels' consenters in their genesis blocks;
   * the others start with no channel, ready to be added by a config update and a join. All by default.
   */
  consenterCount?: number;
  /**
   * How the consenters get their channels. 'bootstrap' (default): listed in General.BootstrapChannels
   * with their genesis blocks, as the tests and the benchmark want them, serving from the first start.
   * 'participation': not listed; the nodes start with no channel and an operator (npm start, as one)
   * joins each to it through the channel participation API with the genesis block this writes.
   * Needs `adminPorts`.
   */
  joinWith?: 'bootstrap' | 'participation';
}

export const DEVNET_DOMAIN = 'example.com';
export const DEVNET_ORDERER_MSP_ID = 'OrdererMSP';
export const DEVNET_CLIENT_MSP_ID = 'Org1MSP';

export const DEVNET_PORTS: readonly number[] = [7050, 8050, 9050];

export function devnetLayout(options: Pick<DevnetOptions, 'dataDir' | 'ports' | 'channels' | 'host' | 'clusterPorts' | 'adminPorts' | 'operationsPorts' | 'consenterCount'>): DevnetLayout {
  const ports = options.ports ?? DEVNET_PORTS;
  const host = options.host ?? '127.0.0.1';
  const cryptoDir = path.join(options.dataDir, 'crypto');
  // cryptogen's layout (orderer/msp/generate.ts), one orderer org and one application org.
  const ordererOrgDir = path.join(cryptoDir, 'ordererOrganizations', DEVNET_DOMAIN);
  const clientDomain = `org1.${DEVNET_DOMAIN}`;
  const clientOrgDir = path.join(cryptoDir, 'peerOrganizations', clientDomain);
  const nodes = ports.map((port, i) => {
    const name = `orderer${i + 1}`;
    const dir = path.join(options.dataDir, name);
    const home = path.join(ordererOrgDir, 'orderers', `${name}.${DEVNET_DOMAIN}`);
    return {
      name,
      host,
      port,
      clusterPort: options.clusterPorts?.[i],
      adminPort: options.adminPorts?.[i],
      operationsPort: options.operationsPorts?.[i],
      ledgerDir: path.join(dir, 'ledger'),
      consenter: i < (options.consenterCount ?? ports.length),
      dir,
      configPath: path.join(dir, 'orderer.yaml'),
      mspDir: path.join(home, 'msp'),
      tlsDir: path.join(home, 'tls'),
    };
  });
  const ordererAdminHome = path.join(ordererOrgDir, 'users', `Admin@${DEVNET_DOMAIN}`);
  const user = `User1@${clientDomain}`;
  const clientHome = path.join(clientOrgDir, 'users', user);
  const crypto: DevnetCrypto = {
    dir: cryptoDir,
    ordererMspId: DEVNET_ORDERER_MSP_ID,
    ordererOrgMspDir: path.join(ordererOrgDir, 'msp'),
    clientOrgMspDir: path.join(clientOrgDir, 'msp'),
    clientMspId: DEVNET_CLIENT_MSP_ID,
    clientMspDir: path.join(clientHome, 'msp'),
    clientCertPath: path.join(clientHome, 'msp', 'signcerts', `${user}-cert.pem`),
    clientKeyPath: path.join(clientHome, 'msp', 'keystore', 'priv_sk'),
    clientTlsCertPath: path.join(clientHome, 'tls', 'client.crt'),
    clientTlsKeyPath: path.join(clientHome, 'tls', 'client.key'),
    adminMspDir: path.join(clientOrgDir, 'users', `Admin@${clientDomain}`, 'msp'),
    ordererAdminMspDir: path.join(ordererAdminHome, 'msp'),
    ordererAdminTlsCertPath: path.join(ordererAdminHome, 'tls', 'client.crt'),
    ordererAdminTlsKeyPath: path.join(ordererAdminHome, 'tls', 'client.key'),
    ordererTlsCaPath: path.join(ordererOrgDir, 'tlsca', `tlsca.${DEVNET_DOMAIN}-cert.pem`),
  };
  return { dataDir: options.dataDir, channels: options.channels ?? ['mychannel'], nodes, crypto };
}

/** The crypto material of `layout`, generated once: a restart must keep the identities its genesis block names. */
function ensureDevnetCrypto(layout: DevnetLayout): void {
  if (existsSync(layout.crypto.dir)) return;
  generateCryptoMaterial(layout.crypto.dir, defaultSpec(layout.nodes.length, 1, DEVNET_DOMAIN));
}

function channelSpec(channelId: string, layout: DevnetLayout, o: DevnetOptions): ChannelConfigSpec {
  return {
    channelId,
    consenters: layout.nodes.filter((n) => n.consenter).map((n) => {
      // cryptogen's orderer TLS pair serves both sides, as in Fabric's sample networks.
      const cert = readFileSync(path.join(n.tlsDir, 'server.crt'));
      return { host: n.host, port: n.clusterPort ?? n.port, clientTlsCert: cert, serverTlsCert: cert };
    }),
    ordererOrgs: [
      {
        mspId: DEVNET_ORDERER_MSP_ID,
        msp: mspConfigFromDir(layout.crypto.ordererOrgMspDir, DEVNET_ORDERER_MSP_ID),
        endpoints: layout.nodes.filter((n) => n.consenter).map((n) => `${n.host}:${n.port}`),
      },
    ],
    // Clients and pulling orderers use the client ports, whatever port the cluster listens on.
    ordererAddresses: layout.nodes.filter((n) => n.consenter).map((n) => `${n.host}:${n.port}`),
    applicationOrgs: [{ mspId: DEVNET_CLIENT_MSP_ID, msp: mspConfigFromDir(layout.crypto.clientOrgMspDir, DEVNET_CLIENT_MSP_ID) }],
    ...(o.openAccess === true ? { openAccess: true } : {}),
    batchSize: {
      ...(o.maxMessageCount !== undefined ? { maxMessageCount: o.maxMessageCount } : {}),
      ...(o.preferredMaxBytes !== undefined ? { preferredMaxBytes: o.preferredMaxBytes } : {}),
      ...(o.absoluteMaxBytes !== undefined ? { absoluteMaxBytes: o.absoluteMaxBytes } : {}),
    },
    ...(o.batchTimeout !== undefined ? { batchTimeout: o.batchTimeout } : {}),
    options: {
      ...(o.tickInterval !== undefined ? { tickInterval: o.tickInterval } : {}),
      ...(o.electionTick !== undefined ? { electionTick: o.electionTick } : {}),
      ...(o.heartbeatTick !== undefined ? { heartbeatTick: o.heartbeatTick } : {}),
      ...(o.snapshotIntervalSizeBytes !== undefined ? { snapshotIntervalSizeBytes: o.snapshotIntervalSizeBytes } : {}),
      ...(o.maxInflightBlocks !== undefined ? { maxInflightBlocks: o.maxInflightBlocks } : {}),
    },
  };
}

function nodeYaml(
  node: DevnetNode,
  layout: DevnetLayout,
  logLevel: string,
  tls: boolean,
  joinWith: 'bootstrap' | 'participation',
  evictionSuspicion: string | undefined,
  metricsProvider: 'disabled' | 'prometheus',
  preferredLeaders: DevnetOptions['preferredLeaders'],
): string {
  const preferred = (preferredLeaders?.nodes ?? []).map((i) => {
    const n = layout.nodes[i];
    if (n === undefined) throw new Error(`preferredLeaders names node ${i}; the network has ${layout.nodes.length}`);
    return `${n.host}:${n.clusterPort ?? n.port}`;
  });
  const channels = layout.channels
    .map((c) => `    - name: ${c}\n      genesisBlock: ${path.join(layout.dataDir, 'genesis', `${c}.block`)}`)
    .join('\n');
  return [
    `# ${node.name} of the local development network (written by npm start).`,
    'General:',
    `  ListenAddress: ${node.host}`,
    `  ListenPort: ${node.port}`,
    `  LogLevel: ${logLevel}`,
    ...(node.consenter && joinWith === 'bootstrap' ? ['  BootstrapChannels:', channels] : []),
    ...(tls
      ? [
          '  TLS:',
          '    Enabled: true',
          `    Certificate: ${path.join(node.tlsDir, 'server.crt')}`,
          `    PrivateKey: ${path.join(node.tlsDir, 'server.key')}`,
          `    RootCAs: [${path.join(node.tlsDir, 'ca.crt')}]`,
          '    ClientAuthRequired: false',
        ]
      : []),
    `  LocalMSPDir: ${node.mspDir}`,
    `  LocalMSPID: ${layout.crypto.ordererMspId}`,
    '  Cluster:',
    `    SelfEndpoint: ${node.host}:${node.port}`,
    ...(node.clusterPort !== undefined
      ? [
          `    ListenAddress: ${node.host}`,
          `    ListenPort: ${node.clusterPort}`,
          `    ServerCertificate: ${path.join(node.tlsDir, 'server.crt')}`,
          `    ServerPrivateKey: ${path.join(node.tlsDir, 'server.key')}`,
          `    ClientCertificate: ${path.join(node.tlsDir, 'server.crt')}`,
          `    ClientPrivateKey: ${path.join(node.tlsDir, 'server.key')}`,
          `    RootCAs: [${path.join(node.tlsDir, 'ca.crt')}]`,
        ]
      : tls
        ? []
        : // Tests only: without TLS, Step senders are not authenticated (orderer/tls.ts refuses it otherwise).
          ['    AllowPlaintext: true']),
    ...(node.adminPort !== undefined
      ? [
          'Admin:',
          `  ListenAddress: ${node.host}:${node.adminPort}`,
          // The orderer organisation's admins (their TLS certificates come from its TLS CA).
          ...(tls ? httpServerTlsYaml(node, true) : []),
          'ChannelParticipation:',
          '  Enabled: true',
        ]
      : []),
    ...(node.operationsPort !== undefined
      ? [
          'Operations:',
          `  ListenAddress: ${node.host}:${node.operationsPort}`,
          // /metrics and /logspec want a client certificate from the orderer org's TLS CA; /healthz and /version do not.
          ...(tls ? httpServerTlsYaml(node, false) : []),
        ]
      : []),
    'Metrics:',
    `  Provider: ${metricsProvider}`,
    'FileLedger:',
    `  Location: ${node.ledgerDir}`,
    'Consensus:',
    `  WALDir: ${path.join(node.dir, 'etcdraft', 'wal')}`,
    `  SnapDir: ${path.join(node.dir, 'etcdraft', 'snapshot')}`,
    ...(evictionSuspicion !== undefined ? [`  EvictionSuspicion: ${evictionSuspicion}`] : []),
    ...(preferred.length > 0 ? [`  PreferredLeaders: [${preferred.join(', ')}]`] : []),
    ...(preferredLeaders?.quietPeriod !== undefined ? [`  PreferredLeaderQuietPeriod: ${preferredLeaders.quietPeriod}`] : []),
    '',
  ].join('\n');
}

/** The TLS section of an HTTP server (Admin, Operations) with the node's TLS pair, trusting its TLS CA's clients. */
function httpServerTlsYaml(node: DevnetNode, clientAuthRequired: boolean): string[] {
  return [
    '  TLS:',
    '    Enabled: true',
    `    Certificate: ${path.join(node.tlsDir, 'server.crt')}`,
    `    PrivateKey: ${path.join(node.tlsDir, 'server.key')}`,
    `    ClientAuthRequired: ${clientAuthRequired}`,
    `    ClientRootCAs: [${path.join(node.tlsDir, 'ca.crt')}]`,
  ];
}

/** Whether `node` has a ledger for `channelId` (it serves the channel from it at its next start). */
export function devnetNodeHasLedger(node: DevnetNode, channelId: string): boolean {
  return existsSync(channelStoreDir(node.ledgerDir, channelId));
}

/**
 * How an operator reaches `node`'s Admin server, as osnadmin would: with `tls`, over https trusting
 * the orderer org's TLS CA and presenting its admin's TLS client pair (the Admin servers require
 * client certificates from that CA); plain http otherwise.
 */
export function devnetAdminClient(layout: DevnetLayout, node: DevnetNode, tls: boolean): AdminClientOptions {
  if (node.adminPort === undefined) throw new Error(`${node.name} has no Admin port`);
  const address = `${node.host}:${node.adminPort}`;
  if (!tls) return { address, tls: undefined };
  const c = layout.crypto;
  return { address, tls: { caPem: readFileSync(c.ordererTlsCaPath), certPem: readFileSync(c.ordererAdminTlsCertPath), keyPem: readFileSync(c.ordererAdminTlsKeyPath) } };
}

/** Writes genesis blocks and one orderer.yaml per node. Existing ledgers are not touched. */
export async function writeDevnet(options: DevnetOptions): Promise<DevnetLayout> {
  const layout = devnetLayout(options);
  const joinWith = options.joinWith ?? 'bootstrap';
  if (joinWith === 'participation') {
    // Without an Admin server a node with no bootstrap channel could never be given one.
    const missing = layout.nodes.filter((n) => n.adminPort === undefined).map((n) => n.name);
    if (missing.length > 0) throw new Error(`joinWith 'participation' needs an Admin port for every node (none for ${missing.join(', ')})`);
  }
  await mkdir(path.join(layout.dataDir, 'genesis'), { recursive: true });
  ensureDevnetCrypto(layout);
  for (const channelId of layout.channels) {
    const file = path.join(layout.dataDir, 'genesis', `${channelId}.block`);
    // A restart must serve the same channel: never replace a genesis block that exists.
    if (await access(file).then(() => true, () => false)) continue;
    const block = genesisBlock({ channelId, configEnvelope: buildGenesisConfigEnvelope(channelSpec(channelId, layout, options)) });
    await writeFile(file, common.Block.encode(block));
  }
  for (const node of layout.nodes) {
    await mkdir(node.dir, { recursive: true });
    await writeFile(
      node.configPath,
      nodeYaml(node, layout, options.logLevel ?? 'info', options.tls === true, joinWith, options.evictionSuspicion, options.metricsProvider ?? 'disabled', options.preferredLeaders),
    );
  }
  return layout;
}

/**
 * The file that marks a directory as the devnet's own. `--fresh` deletes a directory only when it
 * holds this marker, so a mistyped `--dir` can never delete a checkout or a home directory.
 */
export const DEVNET_MARKER_FILE = '.fabric-raft-devnet';
const MARKER_CREATED_BY = 'npm start (fabric-raft-orderer devnet)';

/** The devnet refuses a data directory (not ours, not usable): the message says why and what to do. */
export class DevnetDirError extends Error {
  override readonly name = 'DevnetDirError';
}

export type DevnetDirState =
  /** Created now (or found empty): a new network. */
  | 'new'
  /** Holds the devnet's marker and data: the network resumes. */
  | 'resumed'
  /** Deleted by --fresh (it held the marker) and created anew. */
  | 'recreated';

export interface PreparedDevnetDir {
  readonly state: DevnetDirState;
  /** Client ports of the network stored in the directory, read from its genesis block (resumed only). */
  readonly storedPorts: readonly number[] | undefined;
  /** Set when a directory written before the marker existed was recognised and marked. */
  readonly adoptedLegacy: boolean;
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

async function pathKind(p: string): Promise<'missing' | 'dir' | 'symlink' | 'other'> {
  try {
    const st = await lstat(p);
    return st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : 'other';
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'missing';
    throw err;
  }
}

async function hasMarker(dir: string): Promise<boolean> {
  const file = path.join(dir, DEVNET_MARKER_FILE);
  // A symlinked marker could point anywhere: only a regular file written by us counts.
  if ((await pathKind(file)) !== 'other') return false;
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { createdBy?: unknown };
    return parsed.createdBy === MARKER_CREATED_BY;
  } catch {
    return false;
  }
}

/** Writes the marker and makes it (and the directory's own entry) durable. */
async function writeMarker(dir: string): Promise<void> {
  const file = path.join(dir, DEVNET_MARKER_FILE);
  const body = `${JSON.stringify({ createdBy: MARKER_CREATED_BY, createdAt: new Date().toISOString() }, null, 2)}\n`;
  const handle = await open(file, 'w');
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
  for (const d of [dir, path.dirname(dir)]) {
    const dh = await open(d, fsConstants.O_RDONLY);
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}

/**
 * A data directory written by a devnet from before the marker: nothing in it but `genesis/` (block
 * files only) and `ordererN/` folders whose orderer.yaml carries the header the devnet writes.
 */
async function isLegacyDevnet(dir: string, entries: readonly string[]): Promise<boolean> {
  if (!entries.includes('genesis') || !entries.includes('orderer1')) return false;
  for (const name of entries) {
    if (name === 'genesis') {
      if ((await pathKind(path.join(dir, name))) !== 'dir') return false;
      const files = await readdir(path.join(dir, name));
      if (!files.every((f) => f.endsWith('.block'))) return false;
    } else if (name === 'crypto') {
      // Written by writeDevnet beside genesis/ (cryptogen's layout).
      if ((await pathKind(path.join(dir, name))) !== 'dir') return false;
    } else if (/^orderer[1-9]\d*$/.test(name)) {
      try {
        const yaml = await readFile(path.join(dir, name, 'orderer.yaml'), 'utf8');
        if (!yaml.startsWith(`# ${name} of the local development network (written by npm start).`)) return false;
      } catch {
        return false;
      }
    } else {
      return false;
    }
  }
  return true;
}

/**
 * Directories no command of ours deletes, whatever marker they hold: the file system root, the home
 * directory, the current directory and every directory above it, and anything holding a `.git`.
 */
async function refuseToDelete(dir: string): Promise<string | undefined> {
  const real = await realpath(dir);
  const cwd = await realpath(process.cwd());
  const home = await realpath(os.homedir()).catch(() => os.homedir());
  if (real === path.parse(real).root) return 'it is the root of the file system';
  if (real === home) return 'it is the home directory';
  const rel = path.relative(real, cwd);
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) return 'it contains the current directory';
  if ((await pathKind(path.join(real, '.git'))) !== 'missing') return 'it contains a .git repository';
  return undefined;
}

/** Client ports of the network in `dataDir`, read from the consenters of its first channel's genesis block. */
export async function storedDevnetPorts(dataDir: string, channelId = 'mychannel'): Promise<number[] | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(dataDir, 'genesis', `${channelId}.block`));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const settings = parseConfigBlock(common.Block.decode(bytes));
  return settings.orderer.consensus.consenters.map((c) => c.port);
}

/**
 * Whether the network stored in `dataDir` was created with identities: its genesis block names
 * each consenter's TLS certificate. Networks written by npm start before identities existed do
 * not, and cannot run with TLS and enforced policies. Undefined when there is no stored network.
 */
export async function storedDevnetHasIdentities(dataDir: string, channelId = 'mychannel'): Promise<boolean | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(dataDir, 'genesis', `${channelId}.block`));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const settings = parseConfigBlock(common.Block.decode(bytes));
  return settings.orderer.consensus.consenters.every((c) => c.serverTlsCert.length > 0 && c.clientTlsCert.length > 0);
}

/** Locks of every node's channel WALs under `dir` (ordererN/etcdraft/wal/<channel>/LOCK). */
async function nodeLockProbes(dir: string): Promise<{ node: string; probe: LockProbe }[]> {
  const found: { node: string; probe: LockProbe }[] = [];
  for (const node of (await readdir(dir)).filter((n) => /^orderer[1-9]\d*$/.test(n))) {
    const walRoot = path.join(dir, node, 'etcdraft', 'wal');
    const channels = await readdir(walRoot).catch(() => [] as string[]);
    for (const channel of channels) found.push({ node, probe: await DirLock.probe(path.join(walRoot, channel)) });
  }
  return found;
}

/** Why `dir` is in use right now (a launcher or one of its nodes is running from it), if it is. */
async function runningFrom(dir: string): Promise<string | undefined> {
  const launcher = await DirLock.probe(dir);
  if (launcher.state === 'held') return `npm start is running from it (process ${launcher.pid})`;
  for (const { node, probe } of await nodeLockProbes(dir)) {
    if (probe.state === 'held') return `its node ${node} is running (process ${probe.pid} holds ${probe.lockPath})`;
  }
  return undefined;
}

/** The closest directory above `dir` that holds the devnet marker (a devnet inside a devnet is refused). */
async function enclosingDevnet(dir: string): Promise<string | undefined> {
  for (let d = path.dirname(dir); d !== path.dirname(d); d = path.dirname(d)) {
    if (await hasMarker(d).catch(() => false)) return d;
  }
  return undefined;
}

/**
 * Makes `dataDir` ready for the devnet, checking first that it is the devnet's own: a new or empty
 * directory is marked as ours; one holding the marker resumes (or, with `fresh`, is deleted and
 * created anew); anything else is refused with a DevnetDirError, and nothing is written or deleted.
 * A directory a devnet (or one of its nodes) is running from is refused too: deleting it would
 * leave running nodes acknowledging envelopes into deleted files.
 */
export async function prepareDevnetDir(dataDir: string, options: { fresh: boolean; channelId?: string }): Promise<PreparedDevnetDir> {
  const dir = path.resolve(dataDir);
  try {
    return await prepareDevnetDirChecked(dir, options);
  } catch (err) {
    if (err instanceof DevnetDirError) throw err;
    // A path the file system refuses (a file in the middle, a symlink loop, no permission): say
    // which path and why, in one line.
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code === 'string') throw new DevnetDirError(`cannot use ${dir} as the data directory: ${e.message}`);
    throw err;
  }
}

async function prepareDevnetDirChecked(dir: string, options: { fresh: boolean; channelId?: string }): Promise<PreparedDevnetDir> {
  const kind = await pathKind(dir);
  if (kind === 'symlink') {
    throw new DevnetDirError(`${dir} is a symbolic link; give the directory it points to as --dir (the devnet deletes nothing through links)`);
  }
  if (kind === 'other') throw new DevnetDirError(`${dir} exists and is not a directory`);
  const outer = await enclosingDevnet(dir);
  if (outer !== undefined) throw new DevnetDirError(`${dir} lies inside the devnet in ${outer}; choose a directory outside it`);
  if (kind === 'missing') {
    await mkdir(dir, { recursive: true });
    await writeMarker(dir);
    return { state: 'new', storedPorts: undefined, adoptedLegacy: false };
  }
  const entries = await readdir(dir);
  if (entries.length === 0) {
    await writeMarker(dir);
    return { state: 'new', storedPorts: undefined, adoptedLegacy: false };
  }
  let adoptedLegacy = false;
  if (!(await hasMarker(dir))) {
    if (!(await isLegacyDevnet(dir, entries))) {
      const what = options.fresh ? 'refusing to delete' : 'refusing to use';
      throw new DevnetDirError(
        `${what} ${dir}: it is not empty and was not created by npm start (no ${DEVNET_MARKER_FILE} marker in it). ` +
          'Choose a new or empty directory with --dir DIR, or remove it yourself if it really is a devnet.',
      );
    }
  }
  const running = await runningFrom(dir);
  if (running !== undefined) throw new DevnetDirError(`refusing to ${options.fresh ? 'delete' : 'use'} ${dir}: ${running}; stop it first`);
  if (!(await hasMarker(dir))) {
    await writeMarker(dir);
    adoptedLegacy = true;
  }
  if (options.fresh) {
    const reason = await refuseToDelete(dir);
    if (reason !== undefined) throw new DevnetDirError(`refusing to delete ${dir}: ${reason}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    await writeMarker(dir);
    return { state: 'recreated', storedPorts: undefined, adoptedLegacy };
  }
  const storedPorts = await storedDevnetPorts(dir, options.channelId);
  return { state: storedPorts === undefined ? 'new' : 'resumed', storedPorts, adoptedLegacy };
}

/**
 * Held by a running launcher for as long as it runs (`<dir>/LOCK`, the WAL's lock format), so a
 * second `npm start` on the same directory, with --fresh or without, is refused while it runs.
 */
export async function lockDevnetDir(dataDir: string): Promise<{ release(): Promise<void> }> {
  try {
    return await DirLock.acquire(path.resolve(dataDir), pino({ level: 'silent' }));
  } catch (err) {
    if (err instanceof WalLockedError) throw new DevnetDirError(`npm start is already running from ${path.resolve(dataDir)} (process ${err.holderPid})`);
    throw err;
  }
}
