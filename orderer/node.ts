// One orderer process: the gRPC server (AtomicBroadcast + Cluster on one port), the
// cluster transport, and a Chain per channel with its ledger and Raft storage.
import * as grpc from '@grpc/grpc-js';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { Comm } from '../cluster/comm';
import type { ClusterMember } from '../cluster/types';
import { openBlockStore } from '../ledger/lmdb-block-store';
import type { BlockStore } from '../ledger/block-store';
import { readConsenterMetadata, readLastConfigIndex } from '../ledger/metadata';
import { common } from '../protos';
import { pullBlocks } from './blockpuller';
import { Chain } from './chain/chain';
import { openRaftPersistence } from './chain/raft-persistence';
import type { ChainSettings, RaftMember } from './chain/types';
import { parseConfigBlock, type ChannelSettings } from './channelconfig';
import { registerAtomicBroadcast } from './grpc-service';
import { InsecureAcceptAllPolicyEvaluator, type PolicyEvaluator } from './msgcheck';
import type { ChainHandle, ChainRegistry } from './types';
import { widenServerWindows } from '../cluster/http2-window';

export interface ChannelBootstrap {
  readonly name: string;
  /** A config block file (the channel's genesis block) used when the ledger is empty. */
  readonly genesisBlockPath: string;
}

export interface OrdererNodeOptions {
  readonly listenHost: string;
  readonly listenPort: number;
  /** host:port under which this node appears in the channels' consenter lists. */
  readonly selfHost: string;
  readonly selfPort: number;
  readonly ledgerDir: string;
  readonly walDir: string;
  readonly snapDir: string;
  readonly channels: readonly ChannelBootstrap[];
  readonly logger: Logger;
  readonly maxRecvMsgSizeBytes?: number;
  readonly maxSendMsgSizeBytes?: number;
  readonly sendBufferSize?: number;
  readonly rpcTimeoutMs?: number;
  readonly dialTimeoutMs?: number;
  /** Overrides every channel's TickInterval (Consensus.TickIntervalOverride). */
  readonly tickIntervalOverrideMs?: number;
  /** TLS for the listener and the cluster dialer arrives with the TLS issue; plaintext until then. */
  readonly serverCredentials?: grpc.ServerCredentials;
  readonly clientCredentials?: grpc.ChannelCredentials;
  readonly policyEvaluator?: PolicyEvaluator;
}

interface RunningChannel {
  readonly chain: Chain;
  readonly blockStore: BlockStore;
  readonly close: () => Promise<void>;
}

/** Raft members of a channel: consenters of its config with ids from the newest block metadata. */
export function raftMembers(settings: ChannelSettings, lastBlock: common.Block): { members: RaftMember[]; nextConsenterId: number } {
  const consenters = settings.orderer.consensus.consenters;
  const meta = readConsenterMetadata(lastBlock);
  // Fabric: a block without consenter metadata (the genesis block) means ids 1..n in consenter order.
  const ids = meta !== undefined && meta.consenterIds.length === consenters.length ? meta.consenterIds : consenters.map((_, i) => i + 1);
  const nextConsenterId = meta !== undefined && meta.nextConsenterId > 0 ? meta.nextConsenterId : consenters.length + 1;
  return { members: consenters.map((c, i) => ({ id: ids[i]!, host: c.host, port: c.port })), nextConsenterId };
}

export class OrdererNode implements ChainRegistry {
  readonly policyEvaluator: PolicyEvaluator;
  private readonly server: grpc.Server;
  private readonly comm: Comm;
  private readonly channels = new Map<string, RunningChannel>();
  private boundPort = 0;
  private readonly logger: Logger;

  constructor(private readonly options: OrdererNodeOptions) {
    this.logger = options.logger;
    this.policyEvaluator = options.policyEvaluator ?? new InsecureAcceptAllPolicyEvaluator();
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxRecvMsgSizeBytes ?? 100 * 1024 * 1024,
      'grpc.max_send_message_length': options.maxSendMsgSizeBytes ?? 100 * 1024 * 1024,
    });
    this.comm = new Comm({
      logger: options.logger,
      ...(options.sendBufferSize !== undefined ? { sendBufferSize: options.sendBufferSize } : {}),
      ...(options.rpcTimeoutMs !== undefined ? { rpcTimeoutMs: options.rpcTimeoutMs } : {}),
      ...(options.dialTimeoutMs !== undefined ? { dialTimeoutMs: options.dialTimeoutMs } : {}),
      ...(options.maxSendMsgSizeBytes !== undefined ? { maxSendMessageBytes: options.maxSendMsgSizeBytes } : {}),
      ...(options.maxRecvMsgSizeBytes !== undefined ? { maxRecvMessageBytes: options.maxRecvMsgSizeBytes } : {}),
      ...(options.clientCredentials !== undefined ? { tls: options.clientCredentials } : {}),
      onUnreachable: (channel, nodeId) => this.channels.get(channel)?.chain.reportUnreachable(nodeId),
      onSnapshotFailed: (channel, nodeId) => this.channels.get(channel)?.chain.reportSnapshotFailed(nodeId),
    });
    this.comm.registerOn(this.server);
    registerAtomicBroadcast(this.server, this, options.logger);
  }

  get port(): number {
    return this.boundPort;
  }

  get(channelId: string): ChainHandle | undefined {
    return this.channels.get(channelId)?.chain;
  }

  chain(channelId: string): Chain | undefined {
    return this.channels.get(channelId)?.chain;
  }

  channelIds(): string[] {
    return [...this.channels.keys()];
  }

  async start(): Promise<void> {
    for (const ch of this.options.channels) await this.openChannel(ch);
    const creds = this.options.serverCredentials ?? grpc.ServerCredentials.createInsecure();
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${this.options.listenHost}:${this.options.listenPort}`, creds, (err, port) => (err ? reject(err) : resolve(port)));
    });
    widenServerWindows(this.server);
    for (const { chain } of this.channels.values()) chain.start();
    this.logger.info({ address: `${this.options.listenHost}:${this.boundPort}`, channels: this.channelIds() }, 'orderer started');
  }

  private async openChannel(ch: ChannelBootstrap): Promise<void> {
    const log = this.logger.child({ channel: ch.name });
    const blockStore = await openBlockStore({ dir: this.options.ledgerDir, channelId: ch.name, logger: log });
    try {
      if (blockStore.height() === 0) {
        const genesis = common.Block.decode(await readFile(ch.genesisBlockPath));
        await blockStore.append(genesis);
        log.info({ file: ch.genesisBlockPath }, 'channel ledger created from its genesis block');
      }
      const last = blockStore.lastBlock()!;
      const configBlock = blockStore.getBlock(readLastConfigIndex(last.block));
      if (configBlock === undefined) throw new Error(`last config block of ${ch.name} is missing from the ledger`);
      const settings = parseConfigBlock(configBlock.block);
      if (settings.channelId !== ch.name) throw new Error(`genesis block is for channel ${settings.channelId}, not ${ch.name}`);
      const { members, nextConsenterId } = raftMembers(settings, last.block);
      const self = members.find((m) => m.host === this.options.selfHost && m.port === this.options.selfPort);
      if (self === undefined) {
        throw new Error(
          `this node (${this.options.selfHost}:${this.options.selfPort}) is not a consenter of ${ch.name}; consenters: ${members.map((m) => `${m.host}:${m.port}`).join(', ')}`,
        );
      }
      const raft = await openRaftPersistence({
        walDir: path.join(this.options.walDir, ch.name),
        snapDir: path.join(this.options.snapDir, ch.name),
        logger: log,
      });
      const opts = settings.orderer.consensus.options;
      const chainSettings: ChainSettings = {
        configSequence: settings.sequence,
        maintenanceMode: settings.orderer.consensus.state === 'maintenance',
        members,
        nextConsenterId,
        tickIntervalMs: this.options.tickIntervalOverrideMs ?? opts.tickIntervalMs,
        electionTick: opts.electionTick,
        heartbeatTick: opts.heartbeatTick,
        maxInflightBlocks: opts.maxInflightBlocks,
        snapshotIntervalSizeBytes: opts.snapshotIntervalSizeBytes,
        maxMessageCount: settings.orderer.batchSize.maxMessageCount,
        absoluteMaxBytes: settings.orderer.batchSize.absoluteMaxBytes,
        preferredMaxBytes: settings.orderer.batchSize.preferredMaxBytes,
        batchTimeoutMs: settings.orderer.batchTimeoutMs,
        lastConfigIndex: configBlock.number,
      };
      const chain = new Chain({
        channelId: ch.name,
        selfId: self.id,
        settings: chainSettings,
        blockStore,
        raft,
        transport: this.comm,
        pullBlocks: (args) => pullBlocks({ ...args, logger: log, ...(this.options.clientCredentials !== undefined ? { tls: this.options.clientCredentials } : {}) }),
        logger: this.logger,
      });
      const clusterMembers: ClusterMember[] = members.map((m) => ({ id: m.id, host: m.host, port: m.port }));
      this.comm.configure(ch.name, { selfId: self.id, members: clusterMembers });
      this.comm.register(ch.name, chain);
      this.channels.set(ch.name, {
        chain,
        blockStore,
        close: async () => {
          await chain.halt();
          await raft.close();
          await blockStore.close();
        },
      });
    } catch (err) {
      await blockStore.close();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.comm.close();
    for (const [name, ch] of this.channels) {
      this.comm.removeChannel(name);
      await ch.close();
    }
    this.channels.clear();
    this.logger.info('orderer stopped');
  }

  /** Stops at once: open streams are cut (Ctrl-C twice, tests). */
  async forceStop(): Promise<void> {
    this.server.forceShutdown();
    await this.stop();
  }
}

export async function ensureDirs(options: Pick<OrdererNodeOptions, 'ledgerDir' | 'walDir' | 'snapDir'>): Promise<void> {
  for (const dir of [options.ledgerDir, options.walDir, options.snapDir]) await mkdir(dir, { recursive: true });
}
