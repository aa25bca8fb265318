// The local development network `npm start` runs: three orderers on 127.0.0.1 sharing one
// channel. Kept out of cmd/ so tests and the benchmark can create the same network.
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { genesisBlock } from '../ledger/block';
import { common } from '../protos';
import { buildGenesisConfigEnvelope, type ChannelConfigSpec } from './channelconfig';

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
 */
export const COLOCATED_NODE_FLAGS: readonly string[] = ['--single-threaded-gc', '--heap-growing-percent=100'];

export interface DevnetNode {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  readonly configPath: string;
}

export interface DevnetLayout {
  readonly dataDir: string;
  readonly channels: readonly string[];
  readonly nodes: readonly DevnetNode[];
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
}

export const DEVNET_PORTS: readonly number[] = [7050, 8050, 9050];

export function devnetLayout(options: Pick<DevnetOptions, 'dataDir' | 'ports' | 'channels' | 'host'>): DevnetLayout {
  const ports = options.ports ?? DEVNET_PORTS;
  const host = options.host ?? '127.0.0.1';
  const nodes = ports.map((port, i) => {
    const dir = path.join(options.dataDir, `orderer${i + 1}`);
    return { name: `orderer${i + 1}`, host, port, dir, configPath: path.join(dir, 'orderer.yaml') };
  });
  return { dataDir: options.dataDir, channels: options.channels ?? ['mychannel'], nodes };
}

function channelSpec(channelId: string, layout: DevnetLayout, o: DevnetOptions): ChannelConfigSpec {
  return {
    channelId,
    consenters: layout.nodes.map((n) => ({ host: n.host, port: n.port })),
    ordererOrgs: [{ mspId: 'OrdererMSP', endpoints: layout.nodes.map((n) => `${n.host}:${n.port}`) }],
    applicationOrgs: [{ mspId: 'Org1MSP' }],
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

function nodeYaml(node: DevnetNode, layout: DevnetLayout, logLevel: string): string {
  const channels = layout.channels
    .map((c) => `    - name: ${c}\n      genesisBlock: ${path.join(layout.dataDir, 'genesis', `${c}.block`)}`)
    .join('\n');
  return [
    `# ${node.name} of the local development network (written by npm start).`,
    'General:',
    `  ListenAddress: ${node.host}`,
    `  ListenPort: ${node.port}`,
    `  LogLevel: ${logLevel}`,
    '  BootstrapChannels:',
    channels,
    '  Cluster:',
    `    SelfEndpoint: ${node.host}:${node.port}`,
    'FileLedger:',
    `  Location: ${path.join(node.dir, 'ledger')}`,
    'Consensus:',
    `  WALDir: ${path.join(node.dir, 'etcdraft', 'wal')}`,
    `  SnapDir: ${path.join(node.dir, 'etcdraft', 'snapshot')}`,
    '',
  ].join('\n');
}

/** Writes genesis blocks and one orderer.yaml per node. Existing ledgers are not touched. */
export async function writeDevnet(options: DevnetOptions): Promise<DevnetLayout> {
  const layout = devnetLayout(options);
  await mkdir(path.join(layout.dataDir, 'genesis'), { recursive: true });
  for (const channelId of layout.channels) {
    const file = path.join(layout.dataDir, 'genesis', `${channelId}.block`);
    // A restart must serve the same channel: never replace a genesis block that exists.
    if (await access(file).then(() => true, () => false)) continue;
    const block = genesisBlock({ channelId, configEnvelope: buildGenesisConfigEnvelope(channelSpec(channelId, layout, options)) });
    await writeFile(file, common.Block.encode(block));
  }
  for (const node of layout.nodes) {
    await mkdir(node.dir, { recursive: true });
    await writeFile(node.configPath, nodeYaml(node, layout, options.logLevel ?? 'info'));
  }
  return layout;
}
