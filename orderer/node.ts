// One orderer process: the gRPC server (AtomicBroadcast, and Cluster unless it has a listener of its own), the
// cluster transport, and a Chain per channel with its ledger and Raft storage.
import * as grpc from '@grpc/grpc-js';
import path from 'node:path';
import type { Logger } from 'pino';
import { Comm, type SenderIdentification } from '../cluster/comm';
import { ClusterServer } from '../cluster/server';
import type { ClusterMember } from '../cluster/types';
import type { ClusterDialTls } from '../cluster/step-transport';
import { channelStoreDir, openBlockStore } from '../ledger/lmdb-block-store';
import { CorruptionError as WalCorruptionError } from '../consensus/wal/errors';
import type { BlockStore } from '../ledger/block-store';
import { readConsenterMetadata, readLastConfigIndex } from '../ledger/metadata';
import { common } from '../protos';
import { pullBlocks } from './blockpuller';
import { Chain } from './chain/chain';
import { RaftRole } from '../consensus/raft/api';
import { openRaftPersistence } from './chain/raft-persistence';
import type { ChainOptions, ChainSettings, EvictionVerdict, RaftMember, RaftPersistence } from './chain/types';
import { deliverBlocks } from './deliver-client';
import type { BroadcastOptions } from './broadcast';
import { parseConfigBlock, type ChannelSettings } from './channelconfig';
import {
  ChannelExistsError,
  ChannelNotFoundError,
  ChannelPendingRemovalError,
  ChannelRemovalFailedError,
  InvalidJoinBlockError,
  ParticipationError,
  type ChannelInfo,
  type ChannelParticipation,
} from './participation/types';
import { ChannelConfigState, chainSettingsOf, pullEndpointsOf } from './chain/channel-config';
import {
  deletePendingJoin,
  ledgerChannels,
  ledgerExists,
  ledgerHeight,
  pendingJoins,
  readGenesisBlock,
  removeChannelData,
  writePendingJoin,
  type ChannelBootstrap,
} from './channel-storage';

export { pullEndpointsOf };
export { ensureDirs, StorageDirError, type ChannelBootstrap } from './channel-storage';
import { onboardLedger } from './chain/onboard';
import { registerAtomicBroadcast } from './grpc-service';
import { takeOverStreams } from './grpc-direct';
import { ConfigChannelAccess } from './policies/channel-access';
import { envelopeSignerOf, metadataSignerOf } from './msp/signers';
import { PulledBlockVerifier } from './policies/block-signatures';
import type { SigningIdentity } from './msp/types';
import type { MetadataSigner } from '../ledger/metadata';
import type { ChainHandle, ChainRegistry } from './types';
import { widenServerWindows } from '../cluster/http2-window';
import { clusterMembersOf, findSelf } from './tls';
import { CONSENSUS_RELATION, countServerConnections, DISABLED_METRICS, PARTICIPATION_STATUS, type ChannelGaugeValues, type OrdererMetrics } from './metrics';


/** The Chain's memory limits (defaults in orderer/chain/); the flood test makes them small. */
export type ChainLimits = Pick<
  ChainOptions,
  | 'maxIntakeEnvelopes'
  | 'intakeHighWater'
  | 'maxIntakeBytes'
  | 'intakeHighWaterBytes'
  | 'intakeWaitTimeoutMs'
  | 'maxAcceptedBytes'
  | 'eventQueueHighWaterBytes'
  | 'eventQueueLowWaterBytes'
  | 'eventQueueMaxBytes'
>;

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
  /** Consensus.EvictionSuspicion: how long a chain goes without a leader before it asks whether it was removed (Fabric default 10m). */
  readonly evictionSuspicionMs?: number;
  /** Consensus.PreferredLeaders: consenter endpoints, highest rank first (orderer/chain/preferred-leader.ts). */
  readonly preferredLeaders?: readonly string[];
  /** Consensus.PreferredLeaderQuietPeriod. */
  readonly preferredLeaderQuietPeriodMs?: number;
  /** Overrides every channel's TickInterval (Consensus.TickIntervalOverride). */
  readonly tickIntervalOverrideMs?: number;
  /** Client port TLS (orderer/tls.ts builds it from General.TLS); plaintext when absent. */
  readonly serverCredentials?: grpc.ServerCredentials;
  /** The block puller's TLS (it dials client ports), and the cluster dialer's unless clusterCredentialsFor is given; plaintext when absent. */
  readonly clientCredentials?: grpc.ChannelCredentials;
  /**
   * The node's own identity (General.LocalMSPDir / LocalMSPID): signs every block it writes
   * (SIGNATURES metadata, reference §2.4) and its seek requests to other orderers. Blocks are
   * written unsigned without it, which Fabric peers refuse: `orderer start` always passes one.
   */
  readonly signingIdentity?: SigningIdentity;
  /** General.Authentication.NoExpirationChecks. */
  readonly noExpirationChecks?: boolean;
  /** General.Authentication.TimeWindow: how far a seek request's timestamp may be off. */
  readonly authTimeWindowMs?: number;
  /** SHA-256 of the certificate the block puller presents (clientCredentials): its seek requests carry it. */
  readonly pullTlsCertHash?: Uint8Array;
  /** General.TLS.Enabled and ClientAuthRequired: Deliver checks seek requests' tls_cert_hash (DeliverServiceOptions.requireTlsBinding). */
  readonly requireTlsBinding?: boolean;
  /** Per-destination cluster dialing credentials pinning each consenter's server certificate (orderer/tls.ts); `clientCredentials` when absent. */
  readonly clusterCredentialsFor?: (member: ClusterMember) => grpc.ChannelCredentials;
  /** The same TLS as material, for the cluster's own gRPC client (cluster/step-transport.ts); without it a TLS cluster dials through grpc-js. */
  readonly clusterDialTlsFor?: (member: ClusterMember) => ClusterDialTls;
  /** A separate listener serving only Cluster.Step (General.Cluster.ListenAddress/Port); shares the client port when absent. */
  readonly clusterListener?: { readonly host: string; readonly port: number; readonly credentials?: grpc.ServerCredentials };
  /** How incoming cluster senders are identified: 'tls-certificate' on a TLS cluster, else the header. */
  readonly clusterSenderIdentification?: SenderIdentification;
  /** DER of this node's cluster server certificate: finds its Raft id among the consenters (else selfHost/selfPort). */
  readonly selfServerTlsCert?: Uint8Array;
  /** Overrides of every Chain's memory limits; `orderer start` passes none (the defaults). */
  readonly chainLimits?: ChainLimits;
  /** Broadcast service options (the per-stream in-flight bound); `orderer start` passes none. */
  readonly broadcast?: BroadcastOptions;
  /**
   * Wraps each channel's Raft persistence once it is opened. A seam for tests (test/support/
   * flood-node.ts slows the disk with it); `orderer start` passes none.
   */
  readonly wrapRaftPersistence?: (raft: RaftPersistence, channelId: string) => RaftPersistence;
  /** Where broadcast, deliver, the chains, the cluster transport and the ledger record (orderer/metrics); DISABLED_METRICS when absent. */
  readonly metrics?: OrdererMetrics;
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


/** Longest wait for another orderer's answer during an eviction check. */
const EVICTION_CHECK_TIMEOUT_MS = 5_000;

/** How long a stop lets open streams end by themselves once the chains are closed. */
const STREAM_DRAIN_MS = 500;

/** A channel joined with a config block after its genesis: the blocks up to it are being pulled (reference §3.12). */
interface Onboarding {
  readonly joinBlockNumber: number;
  /** Blocks in the ledger so far. */
  height: number;
  readonly abort: AbortController;
  readonly task: Promise<void>;
  /** Set when it failed: the channel shows "failed" until it is removed. */
  failure: string | undefined;
}

export class OrdererNode implements ChainRegistry, ChannelParticipation {
  readonly noExpirationChecks: boolean;
  private readonly server: grpc.Server;
  private readonly comm: Comm;
  private readonly channels = new Map<string, RunningChannel>();
  private readonly onboarding = new Map<string, Onboarding>();
  private readonly removing = new Set<string>();
  /** Names reserved by a join under way (before anything is on disk). */
  private readonly joiningNames = new Set<string>();
  /** Channels whose ledger is here but whose newest config no longer lists this node (found at start). */
  private readonly retired = new Map<string, { height: number; reason: string }>();
  private started = false;
  private boundPort = 0;
  private clusterServer: ClusterServer | undefined;
  private readonly logger: Logger;
  readonly metrics: OrdererMetrics;

  /** Signs the SIGNATURES metadata of every block written here. */
  private readonly signer: MetadataSigner | undefined;

  constructor(private readonly options: OrdererNodeOptions) {
    this.logger = options.logger.child({ logger: 'orderer.node' });
    this.signer = options.signingIdentity !== undefined ? metadataSignerOf(options.signingIdentity) : undefined;
    this.noExpirationChecks = options.noExpirationChecks === true;
    this.metrics = options.metrics ?? DISABLED_METRICS;
    this.metrics.setChannelSource(() => this.gaugeValues());
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxRecvMsgSizeBytes ?? 100 * 1024 * 1024,
      'grpc.max_send_message_length': options.maxSendMsgSizeBytes ?? 100 * 1024 * 1024,
    });
    this.comm = new Comm({
      logger: options.logger,
      metrics: this.metrics.cluster,
      ...(options.sendBufferSize !== undefined ? { sendBufferSize: options.sendBufferSize } : {}),
      ...(options.rpcTimeoutMs !== undefined ? { rpcTimeoutMs: options.rpcTimeoutMs } : {}),
      ...(options.dialTimeoutMs !== undefined ? { dialTimeoutMs: options.dialTimeoutMs } : {}),
      ...(options.maxSendMsgSizeBytes !== undefined ? { maxSendMessageBytes: options.maxSendMsgSizeBytes } : {}),
      ...(options.maxRecvMsgSizeBytes !== undefined ? { maxRecvMessageBytes: options.maxRecvMsgSizeBytes } : {}),
      ...(options.clientCredentials !== undefined ? { tls: options.clientCredentials } : {}),
      ...(options.clusterCredentialsFor !== undefined ? { tlsFor: options.clusterCredentialsFor } : {}),
      ...(options.clusterDialTlsFor !== undefined ? { dialTlsFor: options.clusterDialTlsFor } : {}),
      ...(options.clusterSenderIdentification !== undefined ? { senderIdentification: options.clusterSenderIdentification } : {}),
      onUnreachable: (channel, nodeId) => this.channels.get(channel)?.chain.reportUnreachable(nodeId),
      onSnapshotFailed: (channel, nodeId) => this.channels.get(channel)?.chain.reportSnapshotFailed(nodeId),
    });
    if (options.clusterListener === undefined) this.comm.registerOn(this.server);
    registerAtomicBroadcast(this.server, this, options.logger, {
      metrics: this.metrics,
      ...(options.broadcast !== undefined ? { broadcast: options.broadcast } : {}),
      deliver: {
        ...(options.authTimeWindowMs !== undefined ? { timeWindowMs: options.authTimeWindowMs } : {}),
        requireTlsBinding: options.requireTlsBinding === true,
      },
    });
  }

  get port(): number {
    return this.boundPort;
  }

  /** Where Cluster.Step is served: the separate listener's port, else the client port. */
  get clusterPort(): number {
    return this.clusterServer?.port ?? this.boundPort;
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
    // The channels of the config file, then those joined through the participation API (their
    // ledgers are on disk: a channel is removed together with its ledger).
    const bootstrap = new Map(this.options.channels.map((c) => [c.name, c]));
    const pending = await pendingJoins(this.options.ledgerDir);
    for (const ch of this.options.channels) {
      if (pending.has(ch.name)) continue;
      await this.openOrRetire(ch.name, () => readGenesisBlock(ch), ch.genesisBlockPath);
    }
    for (const name of await ledgerChannels(this.options.ledgerDir)) {
      if (bootstrap.has(name) || this.channels.has(name) || pending.has(name)) continue;
      await this.openOrRetire(name, undefined, 'its ledger');
    }
    // Joins interrupted by a stop or a crash: onboarding goes on from where the ledger is.
    for (const [name, joinBlock] of pending) this.startOnboarding(name, joinBlock, parseConfigBlock(joinBlock));
    const creds = this.options.serverCredentials ?? grpc.ServerCredentials.createInsecure();
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${this.options.listenHost}:${this.options.listenPort}`, creds, (err, port) => (err ? reject(err) : resolve(port)));
    });
    widenServerWindows(this.server);
    takeOverStreams(this.server);
    if (this.metrics.registry !== undefined) countServerConnections(this.server, this.metrics.connections);
    const cl = this.options.clusterListener;
    if (cl !== undefined) {
      this.clusterServer = await ClusterServer.listen({
        host: cl.host,
        port: cl.port,
        dispatcher: this.comm.dispatcher,
        ...(cl.credentials !== undefined ? { tls: cl.credentials } : {}),
        ...(this.options.maxRecvMsgSizeBytes !== undefined ? { maxRecvMessageBytes: this.options.maxRecvMsgSizeBytes } : {}),
        ...(this.options.maxSendMsgSizeBytes !== undefined ? { maxSendMessageBytes: this.options.maxSendMsgSizeBytes } : {}),
      });
      if (this.metrics.registry !== undefined) countServerConnections(this.clusterServer.server, this.metrics.connections);
    }
    for (const { chain } of this.channels.values()) chain.start();
    this.started = true;
    this.logger.info(
      { address: `${this.options.listenHost}:${this.boundPort}`, ...(cl !== undefined ? { clusterAddress: `${cl.host}:${this.clusterPort}` } : {}), channels: this.channelIds() },
      'orderer started',
    );
  }

  /** openChannel, but a channel whose config removed this node is kept as inactive instead of failing the start. */
  private async openOrRetire(name: string, genesis: (() => Promise<common.Block>) | undefined, source: string): Promise<void> {
    try {
      await this.openChannel(name, genesis, source);
    } catch (err) {
      if (!(err instanceof NotAConsenterError)) throw err;
      const height = await ledgerHeight(this.options.ledgerDir, name, this.options.logger);
      this.retired.set(name, { height, reason: err.message });
      this.logger.warn({ channel: name, configBlock: err.configBlockNumber }, 'not a consenter of the channel any more (a config block removed this node): the channel is inactive here; remove it with the participation API');
    }
  }

  /**
   * Opens a channel's ledger, WAL and chain (not started). `genesis` gives the first block when
   * the ledger is empty (`source` names where it comes from, for the log); without it an empty
   * ledger is an error.
   */
  private async openChannel(name: string, genesis: (() => Promise<common.Block>) | undefined, source: string): Promise<void> {
    const ch = { name };
    const log = this.logger.child({ channel: ch.name });
    // The block store, the block puller and the Chain add the channel to their lines themselves:
    // they get the node's base logger, or every line would carry "channel" twice (and "logger":
    // each names its own, orderer.node is this node's).
    const blockStore = await openBlockStore({ dir: this.options.ledgerDir, channelId: ch.name, logger: this.options.logger });
    const chainMetrics = this.metrics.forChannel(ch.name);
    const existed = blockStore.height() > 0;
    try {
      if (blockStore.height() === 0) {
        if (genesis === undefined) throw new Error(`the ledger of channel ${ch.name} (${channelStoreDir(this.options.ledgerDir, ch.name)}) is empty and no genesis block is configured for it`);
        await blockStore.append(await genesis());
        log.info({ source }, 'channel ledger created from its genesis block');
      }
      const last = blockStore.lastBlock()!;
      const configBlock = blockStore.getBlock(readLastConfigIndex(last.block));
      if (configBlock === undefined) throw new Error(`last config block of ${ch.name} is missing from the ledger`);
      const settings = parseConfigBlock(configBlock.block);
      if (settings.channelId !== ch.name) throw new Error(`the ledger of ${ch.name} (${channelStoreDir(this.options.ledgerDir, ch.name)}) holds channel ${settings.channelId}`);
      // The channel's MSPs and policies; a config whose MSPs or policies do not build serves nobody.
      let access: ConfigChannelAccess;
      try {
        access = ConfigChannelAccess.fromConfig(ch.name, settings.config);
      } catch (err) {
        throw new Error(`channel ${ch.name}: the config of block ${configBlock.number} cannot be used: ${(err as Error).message}`, { cause: err });
      }
      const { members, nextConsenterId } = raftMembers(settings, last.block);
      const consenters = settings.orderer.consensus.consenters;
      let self: RaftMember;
      try {
        self = findSelf(ch.name, members, consenters, { serverTlsCert: this.options.selfServerTlsCert, host: this.options.selfHost, port: this.options.selfPort });
      } catch (err) {
        // A ledger of ours whose newest config no longer lists us: a config block removed this
        // node. Not a misconfiguration (that is a new channel this node is not a consenter of).
        if (existed) throw new NotAConsenterError(ch.name, configBlock.number, (err as Error).message);
        throw err;
      }
      let opened: RaftPersistence;
      try {
        opened = await openRaftPersistence({
          walDir: path.join(this.options.walDir, ch.name),
          snapDir: path.join(this.options.snapDir, ch.name),
          logger: this.options.logger.child({ channel: ch.name }),
          onSynced: (seconds) => chainMetrics.walFsynced(seconds),
        });
      } catch (err) {
        if (!(err instanceof WalCorruptionError)) throw err;
        // Damage in the middle of the WAL is never skipped silently; the operator decides.
        throw new Error(
          `${err.message}. To see what a repair would drop: orderer wal repair --channel ${ch.name} --config <this orderer.yaml> --dry-run; ` +
            'then run it without --dry-run (what the other orderers still hold is sent again)',
          { cause: err },
        );
      }
      const raft = this.options.wrapRaftPersistence?.(opened, ch.name) ?? opened;
      const configState = new ChannelConfigState(
        ch.name,
        { config: settings.config, settings, access, blockNumber: configBlock.number, consenterIds: members.map((m) => m.id), nextConsenterId },
        this.options.signingIdentity,
      );
      const chainSettings: ChainSettings = chainSettingsOf(configState.snapshot, this.options.tickIntervalOverrideMs);
      const chain: Chain = new Chain({
        channelId: ch.name,
        metrics: chainMetrics,
        selfId: self.id,
        ledgerDir: channelStoreDir(this.options.ledgerDir, ch.name),
        settings: chainSettings,
        blockStore,
        raft,
        transport: this.comm,
        pullBlocks: (args) => {
          // Every pulled block must carry orderer signatures that satisfy BlockValidation (§2.7),
          // starting from the config this node runs with now.
          const verifier = new PulledBlockVerifier(ch.name, configState.snapshot.access.policies);
          return pullBlocks({
            ...args,
            logger: this.options.logger,
            verifyBlock: (block) => verifier.verify(block),
            // Other orderers serve only their channel's Readers: the pull requests are signed.
            ...(this.options.signingIdentity !== undefined ? { signer: envelopeSignerOf(this.options.signingIdentity) } : {}),
            ...(this.options.clientCredentials !== undefined ? { tls: this.options.clientCredentials } : {}),
            ...(this.options.pullTlsCertHash !== undefined ? { tlsCertHash: this.options.pullTlsCertHash } : {}),
          });
        },
        logger: this.options.logger,
        access,
        config: configState,
        noExpirationChecks: this.noExpirationChecks,
        ...(this.options.evictionSuspicionMs !== undefined ? { evictionSuspicionMs: this.options.evictionSuspicionMs } : {}),
        checkEviction: () => this.checkEviction(ch.name, configState),
        ...(this.options.preferredLeaders !== undefined ? { preferredLeaders: this.options.preferredLeaders } : {}),
        ...(this.options.preferredLeaderQuietPeriodMs !== undefined ? { preferredLeaderQuietPeriodMs: this.options.preferredLeaderQuietPeriodMs } : {}),
        ...(this.options.tickIntervalOverrideMs !== undefined ? { tickIntervalOverrideMs: this.options.tickIntervalOverrideMs } : {}),
        onClusterMembersChanged: (clusterMembers, clusterConsenters) => {
          // New consenters are dialled and recognised, removed ones no longer once Raft let them
          // go (a rotated certificate is pinned from now on).
          this.comm.configure(ch.name, { selfId: self.id, members: clusterMembersOf(clusterMembers, clusterConsenters) });
        },
        ...(this.signer !== undefined ? { signer: this.signer } : {}),
        ...this.options.chainLimits,
      });
      const clusterMembers = clusterMembersOf(members, consenters);
      if (this.options.clusterSenderIdentification === 'tls-certificate') {
        // On a TLS cluster a consenter without a readable certificate could be neither pinned
        // when dialled nor recognised when it dials in: refuse the channel rather than fail open.
        for (const m of clusterMembers) {
          const missing = [m.clientTlsCert === undefined ? 'client_tls_cert' : '', m.serverTlsCert === undefined ? 'server_tls_cert' : ''].filter((x) => x !== '');
          if (missing.length > 0) throw new Error(`channel ${ch.name}: consenter ${m.host}:${m.port} has no usable ${missing.join(' or ')} (not a PEM certificate) in the config of block ${configBlock.number}`);
        }
      }
      this.comm.configure(ch.name, { selfId: self.id, members: clusterMembers });
      this.comm.register(ch.name, chain);
      this.channels.set(ch.name, {
        chain,
        blockStore,
        close: async () => {
          await chain.halt();
          await raft.close();
          await blockStore.close();
          chainMetrics.release();
        },
      });
    } catch (err) {
      chainMetrics.release();
      await blockStore.close();
      throw err;
    }
  }

  /** Every channel of this node as the scrape-time gauges read it (orderer/metrics). */
  private gaugeValues(): ChannelGaugeValues[] {
    const out: ChannelGaugeValues[] = [];
    for (const info of this.listChannels()) {
      const chain = this.channels.get(info.name)?.chain;
      let chainValues: ChannelGaugeValues['chain'];
      if (chain !== undefined) {
        const st = chain.status();
        const counts = chain.membershipCounts();
        chainValues = {
          nodeId: st.nodeId,
          term: st.term,
          commitIndex: st.commitIndex,
          leaderId: st.leaderId,
          isLeader: st.role === RaftRole.Leader,
          halted: st.halted,
          inflightBlocks: st.inflightBlocks,
          intakeBytes: st.intakeBytes,
          acceptedEnvelopes: st.acceptedUnordered,
          clusterSize: counts.clusterSize,
          activeNodes: counts.activeNodes,
          committedBlockNumber: st.height - 1,
        };
      }
      out.push({
        channel: info.name,
        participationStatus: PARTICIPATION_STATUS[info.status],
        consensusRelation: CONSENSUS_RELATION[info.consensusRelation],
        height: info.height,
        chain: chainValues,
      });
    }
    return out;
  }

  // ---- channel participation (reference §6.2) -------------------------------------------

  listChannels(): ChannelInfo[] {
    const names = new Set([...this.channels.keys(), ...this.onboarding.keys(), ...this.retired.keys()]);
    return [...names].map((n) => this.channelInfo(n)!).filter((i) => i !== undefined);
  }

  channelInfo(channelId: string): ChannelInfo | undefined {
    const running = this.channels.get(channelId);
    if (running !== undefined) {
      const st = running.chain.status();
      const height = running.blockStore.height();
      // A chain halted because a config block removed this node, or on broken state, no longer
      // takes part in consensus.
      // Removed by a config block: inactive (as Fabric 2.3 reports a removed etcdraft node; 2.4+
      // goes on as a follower, which this orderer does not do).
      if (st.halted) return { name: channelId, consensusRelation: st.broken ? 'consenter' : 'config-tracker', status: st.broken ? 'failed' : 'inactive', height };
      return { name: channelId, consensusRelation: 'consenter', status: 'active', height };
    }
    const ob = this.onboarding.get(channelId);
    if (ob !== undefined) return { name: channelId, consensusRelation: 'consenter', status: ob.failure !== undefined ? 'failed' : 'onboarding', height: ob.height };
    const retired = this.retired.get(channelId);
    if (retired !== undefined) return { name: channelId, consensusRelation: 'config-tracker', status: 'inactive', height: retired.height };
    return undefined;
  }

  /**
   * Joins the channel of `configBlock`, which must list this node among its consenters (joining
   * as a follower is not supported). Block 0: the ledger starts with it and the chain starts.
   * A later config block: the blocks before it are pulled from the channel's orderers and must
   * chain up to it (its hash anchors them), then it is appended and the chain starts as a new
   * Raft member; meanwhile the channel is "onboarding".
   */
  async joinChannel(configBlock: common.Block): Promise<ChannelInfo> {
    if (this.stopping !== undefined || !this.started) throw new ParticipationError(503, 'the orderer is not running');
    let settings: ChannelSettings;
    try {
      settings = parseConfigBlock(configBlock);
      ConfigChannelAccess.fromConfig(settings.channelId, settings.config);
    } catch (err) {
      throw new InvalidJoinBlockError(`the config block cannot be used: ${(err as Error).message}`, { cause: err });
    }
    const name = settings.channelId;
    if (this.removing.has(name)) throw new ChannelPendingRemovalError(name);
    if (this.channels.has(name) || this.onboarding.has(name) || this.retired.has(name) || this.joiningNames.has(name)) throw new ChannelExistsError(name);
    // Reserved before the first await: a second join of the same channel meanwhile is refused.
    this.joiningNames.add(name);
    try {
      return await this.joinReserved(name, configBlock, settings);
    } finally {
      this.joiningNames.delete(name);
    }
  }

  private async joinReserved(name: string, configBlock: common.Block, settings: ChannelSettings): Promise<ChannelInfo> {
    if (await ledgerExists(this.options.ledgerDir, name)) throw new ChannelExistsError(name);
    const { members } = raftMembers(settings, configBlock);
    try {
      findSelf(name, members, settings.orderer.consensus.consenters, { serverTlsCert: this.options.selfServerTlsCert, host: this.options.selfHost, port: this.options.selfPort });
    } catch (err) {
      throw new InvalidJoinBlockError(
        `this orderer is not a consenter of channel ${name} in config block ${configBlock.header?.number ?? 0} (joining as a follower is not supported): ${(err as Error).message}`,
        { cause: err },
      );
    }
    const number = configBlock.header?.number ?? 0;
    if (number === 0) {
      try {
        await this.openChannel(name, () => Promise.resolve(configBlock), 'the participation API');
      } catch (err) {
        // Nothing of a failed join stays behind (the ledger did not exist before it).
        await removeChannelData(this.options, name).catch((cleanupErr: unknown) => this.logger.error({ err: cleanupErr, channel: name }, 'could not delete what a failed join created'));
        throw err;
      }
      this.channels.get(name)!.chain.start();
      this.logger.info({ channel: name }, 'joined channel with its genesis block');
      return this.channelInfo(name)!;
    }
    // Kept until onboarding is done: a stop or crash meanwhile resumes it at the next start.
    await writePendingJoin(this.options.ledgerDir, name, configBlock);
    this.startOnboarding(name, configBlock, settings);
    this.logger.info({ channel: name, joinBlock: number }, 'joining channel: pulling the blocks before the join block');
    return this.channelInfo(name)!;
  }

  private startOnboarding(name: string, configBlock: common.Block, settings: ChannelSettings): void {
    const number = configBlock.header?.number ?? 0;
    const abort = new AbortController();
    const ob: Onboarding = { joinBlockNumber: number, height: 0, abort, failure: undefined, task: Promise.resolve() };
    this.onboarding.set(name, ob);
    (ob as { task: Promise<void> }).task = this.onboard(name, configBlock, settings, ob).then(
      () => {
        if (this.onboarding.get(name) === ob) this.onboarding.delete(name);
      },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        ob.failure = (err as Error).message;
        this.logger.error({ err, channel: name }, 'onboarding failed; remove the channel and join it again');
      },
    );
  }

  private async onboard(name: string, joinBlock: common.Block, settings: ChannelSettings, ob: Onboarding): Promise<void> {
    const store = await openBlockStore({ dir: this.options.ledgerDir, channelId: name, logger: this.options.logger });
    try {
      ob.height = store.height();
      // Every pulled block's orderer signatures must satisfy BlockValidation (reference §2.7),
      // from the config of block 0 (or of the ledger's newest config block, resuming) on; the
      // join block's hash anchors their headers and data, not their metadata.
      let verifier: PulledBlockVerifier | undefined;
      if (store.height() > 0) {
        const lastConfig = store.getBlock(readLastConfigIndex(store.lastBlock()!.block));
        if (lastConfig !== undefined) verifier = new PulledBlockVerifier(name, ConfigChannelAccess.fromConfig(name, parseConfigBlock(lastConfig.block).config).policies);
      }
      const verifyBlock = (block: common.Block): void => {
        if (verifier === undefined) {
          // Block 0 carries no orderer signature (configtxgen's); its config seeds the check.
          verifier = new PulledBlockVerifier(name, ConfigChannelAccess.fromConfig(name, parseConfigBlock(block).config).policies);
          return;
        }
        verifier.verify(block);
      };
      await onboardLedger({
        channelId: name,
        blockStore: store,
        joinBlock,
        endpoints: pullEndpointsOf(settings),
        signal: ob.abort.signal,
        logger: this.options.logger,
        onProgress: (height) => (ob.height = height),
        pullBlocks: (req) =>
          pullBlocks({
            ...req,
            logger: this.options.logger,
            verifyBlock,
            ...(this.options.signingIdentity !== undefined ? { signer: envelopeSignerOf(this.options.signingIdentity) } : {}),
            ...(this.options.clientCredentials !== undefined ? { tls: this.options.clientCredentials } : {}),
            ...(this.options.pullTlsCertHash !== undefined ? { tlsCertHash: this.options.pullTlsCertHash } : {}),
          }),
      });
    } finally {
      await store.close();
    }
    if (ob.abort.signal.aborted || this.stopping !== undefined) return;
    await this.openChannel(name, undefined, 'onboarding');
    if (ob.abort.signal.aborted || this.stopping !== undefined) {
      // Removed or stopping while the chain opened: it never starts.
      const opened = this.channels.get(name);
      this.channels.delete(name);
      this.comm.removeChannel(name);
      await opened?.close();
      return;
    }
    await deletePendingJoin(this.options.ledgerDir, name);
    this.onboarding.delete(name);
    this.channels.get(name)!.chain.start();
    this.logger.info({ channel: name, height: (joinBlock.header?.number ?? 0) + 1 }, 'onboarded: the channel runs as a raft member');
  }

  /**
   * Eviction suspicion (reference §3.11): the newest config block the channel's other orderers
   * have, verified against BlockValidation of the config this node runs with, and whether it
   * still lists this node. Undefined when no orderer answered or the block does not verify.
   */
  private async checkEviction(name: string, configState: ChannelConfigState): Promise<EvictionVerdict | undefined> {
    const snapshot = configState.snapshot;
    const access = {
      ...(this.options.signingIdentity !== undefined ? { signer: envelopeSignerOf(this.options.signingIdentity) } : {}),
      ...(this.options.clientCredentials !== undefined ? { tls: this.options.clientCredentials } : {}),
      ...(this.options.pullTlsCertHash !== undefined ? { tlsCertHash: this.options.pullTlsCertHash } : {}),
      receiveTimeoutMs: EVICTION_CHECK_TIMEOUT_MS,
    };
    let newest: { endpoint: string; number: number; block: common.Block } | undefined;
    for (const endpoint of pullEndpointsOf(snapshot.settings)) {
      try {
        for await (const b of deliverBlocks({ address: endpoint, channelId: name, start: 'newest', stop: 'newest', ...access })) {
          if (newest === undefined || b.number > newest.number) newest = { endpoint, number: b.number, block: b.block };
        }
      } catch (err) {
        this.logger.debug({ err, channel: name, endpoint }, 'eviction check: no newest block from this orderer');
      }
    }
    if (newest === undefined) return undefined;
    const index = readLastConfigIndex(newest.block);
    // A lagging orderer's newest config may predate this node's own (even its addition): only a
    // newer config than the one this node runs with can say it was removed.
    if (index <= snapshot.blockNumber) return { removed: false, configBlockNumber: snapshot.blockNumber };
    let configBlock: common.Block | undefined = index === newest.number ? newest.block : undefined;
    if (configBlock === undefined) {
      for await (const b of deliverBlocks({ address: newest.endpoint, channelId: name, start: index, stop: index, ...access })) configBlock = b.block;
    }
    if (configBlock === undefined) return undefined;
    try {
      new PulledBlockVerifier(name, snapshot.access.policies).verify(configBlock);
    } catch (err) {
      this.logger.warn({ err, channel: name, block: index }, 'eviction check: the newest config block does not verify against this node\'s config');
      return undefined;
    }
    const settings = parseConfigBlock(configBlock);
    const { members } = raftMembers(settings, configBlock);
    try {
      findSelf(name, members, settings.orderer.consensus.consenters, { serverTlsCert: this.options.selfServerTlsCert, host: this.options.selfHost, port: this.options.selfPort });
      return { removed: false, configBlockNumber: index };
    } catch {
      return { removed: true, configBlockNumber: index };
    }
  }

  /** Stops the channel and deletes its ledger, WAL and snapshots (only those of this channel). */
  async removeChannel(channelId: string): Promise<void> {
    if (this.removing.has(channelId)) throw new ChannelPendingRemovalError(channelId);
    const ob = this.onboarding.get(channelId);
    if (this.channels.get(channelId) === undefined && ob === undefined && !this.retired.has(channelId)) throw new ChannelNotFoundError(channelId);
    this.removing.add(channelId);
    try {
      if (ob !== undefined) {
        ob.abort.abort();
        await ob.task;
        this.onboarding.delete(channelId);
      }
      this.retired.delete(channelId);
      // Looked up after the onboarding settled: it may have opened the chain meanwhile.
      const running = this.channels.get(channelId);
      if (running !== undefined) {
        this.comm.removeChannel(channelId);
        this.channels.delete(channelId);
        await running.close();
      }
      await removeChannelData(this.options, channelId);
      await deletePendingJoin(this.options.ledgerDir, channelId);
    } catch (err) {
      this.logger.error({ err, channel: channelId }, 'channel removal failed');
      throw new ChannelRemovalFailedError(channelId, { cause: err });
    } finally {
      this.removing.delete(channelId);
    }
    const inConfig = this.options.channels.some((c) => c.name === channelId);
    this.logger.info({ channel: channelId }, 'channel removed: chain stopped, ledger, WAL and snapshots deleted');
    if (inConfig) this.logger.warn({ channel: channelId }, 'the removed channel is still listed in General.BootstrapChannels: it is created again from its genesis block at the next start');
  }

  private stopping: Promise<void> | undefined;

  /**
   * A clean stop: no new calls, the cluster streams we opened closed, every chain halted and its WAL
   * and ledger closed (locks released), then whatever streams remain are cut. Waiting for streams to
   * end by themselves would wait forever: Deliver streams that follow new blocks, and the other
   * orderers' Step streams into this server, never end on their own.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    for (const ob of this.onboarding.values()) ob.abort.abort();
    await Promise.all([...this.onboarding.values()].map((ob) => ob.task));
    const drained = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.comm.close();
    const failures: unknown[] = [];
    for (const [name, ch] of this.channels) {
      this.comm.removeChannel(name);
      // One channel failing to close must not leave the others' WAL and ledger open.
      try {
        await ch.close();
      } catch (err) {
        failures.push(err);
        this.logger.error({ err, channel: name }, 'channel did not close cleanly');
      }
    }
    this.channels.clear();
    // Streams answered by closed chains end within moments; cut those still open.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, STREAM_DRAIN_MS)))]);
    clearTimeout(timer);
    this.server.forceShutdown();
    await this.clusterServer?.close();
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} channel(s) did not close cleanly`);
    this.logger.info('orderer stopped');
  }

  /** Stops at once: open streams are cut before the chains close (a second signal, tests). */
  async forceStop(): Promise<void> {
    this.server.forceShutdown();
    void this.clusterServer?.close();
    await this.stop();
  }
}

/** A channel whose newest config block (in this node's ledger) does not list this node. */
class NotAConsenterError extends Error {
  override readonly name = 'NotAConsenterError';
  constructor(
    readonly channelId: string,
    readonly configBlockNumber: number,
    reason: string,
  ) {
    super(`channel ${channelId}: config block ${configBlockNumber} does not list this node as a consenter (${reason})`);
  }
}
