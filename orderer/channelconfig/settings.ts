// Reads a channel config (common.Config) into the typed settings the orderer runs
// on, validating what Fabric validates when it builds a config bundle for an
// orderer: hashing, batch size and timeout, etcdraft consensus metadata (reference
// §3.8 steps 1-2), supported capabilities, organization MSP names. Checks that need
// certificates (§3.8 steps 3-7) and policy parsing belong to later modules; they can
// reach the raw tree through ChannelSettings.config.
import { common, etcdraft, msp, orderer, ProtoDecodeError, type MessageCodec } from '../../protos';
import { decodeWith } from '../../protos/runtime';
import { ChannelConfigError } from '../errors';
import { InvalidDurationError, parseGoDurationMs } from './duration';

// Keys of the channel config tree (reference §1.8).
export const CHANNEL_GROUP = 'Channel';
export const ORDERER_GROUP = 'Orderer';
export const APPLICATION_GROUP = 'Application';
export const CONSORTIUMS_GROUP = 'Consortiums';
export const HASHING_ALGORITHM_KEY = 'HashingAlgorithm';
export const BLOCK_DATA_HASHING_STRUCTURE_KEY = 'BlockDataHashingStructure';
export const ORDERER_ADDRESSES_KEY = 'OrdererAddresses';
export const CAPABILITIES_KEY = 'Capabilities';
export const CONSENSUS_TYPE_KEY = 'ConsensusType';
export const BATCH_SIZE_KEY = 'BatchSize';
export const BATCH_TIMEOUT_KEY = 'BatchTimeout';
export const CHANNEL_RESTRICTIONS_KEY = 'ChannelRestrictions';
export const MSP_KEY = 'MSP';
export const ENDPOINTS_KEY = 'Endpoints';

export const ETCDRAFT_CONSENSUS_TYPE = 'etcdraft';
/** The only BlockDataHashingStructure width Fabric supports (MaxUint32). */
export const BLOCK_DATA_HASHING_WIDTH = 4294967295;
export const SUPPORTED_HASHING_ALGORITHMS: readonly string[] = ['SHA256', 'SHA3_256'];
/** Fabric 2.5 refuses a channel requiring capabilities it does not know; so do we. */
export const SUPPORTED_CHANNEL_CAPABILITIES: readonly string[] = ['V1_1', 'V1_3', 'V1_4_2', 'V1_4_3', 'V2_0'];
export const SUPPORTED_ORDERER_CAPABILITIES: readonly string[] = ['V1_1', 'V1_4_2', 'V2_0'];

/** Used when etcdraft Options.SnapshotIntervalSize is 0 (reference §3.1). */
export const DEFAULT_SNAPSHOT_INTERVAL_SIZE_BYTES = 16 * 1024 * 1024;

export type ConsensusState = 'normal' | 'maintenance';

export interface BatchSizeSettings {
  readonly maxMessageCount: number;
  readonly absoluteMaxBytes: number;
  readonly preferredMaxBytes: number;
}

export interface RaftConsenter {
  readonly host: string;
  readonly port: number;
  /** PEM; identifies the node when it dials us. */
  readonly clientTlsCert: Uint8Array;
  /** PEM; identifies the node when we dial it (and tells a node its own raft ID). */
  readonly serverTlsCert: Uint8Array;
}

export interface RaftOptions {
  /** As written in the config (Go duration). */
  readonly tickInterval: string;
  readonly tickIntervalMs: number;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly maxInflightBlocks: number;
  /** 0 in the config means the default, 16 MiB. */
  readonly snapshotIntervalSizeBytes: number;
}

export interface ConsensusSettings {
  readonly type: typeof ETCDRAFT_CONSENSUS_TYPE;
  readonly state: ConsensusState;
  /** In config order: consenterIds[i] of the block metadata belongs to consenters[i]. */
  readonly consenters: readonly RaftConsenter[];
  readonly options: RaftOptions;
}

export interface OrganizationSettings {
  /** Group key under /Channel/Orderer or /Channel/Application. */
  readonly name: string;
  readonly mspId: string;
  /** msp.MSPConfig type: 0 X.509 (FabricMSPConfig), 1 Idemix. */
  readonly mspType: number;
  /** Decoded for X.509 MSPs; the TLS roots here verify consenter certificates. */
  readonly fabricMsp: msp.FabricMSPConfig | undefined;
  /** Orderer orgs' Endpoints value ("host:port"), empty if absent. */
  readonly endpoints: readonly string[];
}

export interface OrdererSettings {
  readonly batchSize: BatchSizeSettings;
  /** As written in the config (Go duration). */
  readonly batchTimeout: string;
  readonly batchTimeoutMs: number;
  readonly consensus: ConsensusSettings;
  readonly capabilities: readonly string[];
  readonly organizations: readonly OrganizationSettings[];
}

export interface ApplicationSettings {
  readonly capabilities: readonly string[];
  readonly organizations: readonly OrganizationSettings[];
}

export interface ChannelSettings {
  readonly channelId: string;
  /** Config.sequence: grows by one with every config update. */
  readonly sequence: number;
  readonly hashingAlgorithm: string;
  readonly ordererAddresses: readonly string[];
  readonly capabilities: readonly string[];
  readonly orderer: OrdererSettings;
  /** Absent in a system channel's config (which we do not serve). */
  readonly application: ApplicationSettings | undefined;
  /** The decoded config these settings came from, for policies and config updates. */
  readonly config: common.Config;
}

/** An own property of a decoded proto map (maps are plain objects: avoid inherited keys). */
export function getOwn<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Decodes config bytes; a ProtoDecodeError becomes a ChannelConfigError at `path`
 *  (`what` names the part of the element, e.g. "metadata"). */
function decodeAt<T>(path: string, decode: (bytes: Uint8Array) => T, bytes: Uint8Array, what?: string): T {
  try {
    return decode(bytes);
  } catch (err) {
    if (err instanceof ProtoDecodeError) {
      throw new ChannelConfigError(path, what === undefined ? err.message : `${what}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function optionalValue<T, I>(group: common.ConfigGroup, groupPath: string, key: string, codec: MessageCodec<T, I>): T | undefined {
  const value = getOwn(group.values, key);
  return value === undefined ? undefined : decodeAt(`${groupPath}/${key}`, codec.decode, value.value);
}

function requiredValue<T, I>(group: common.ConfigGroup, groupPath: string, key: string, codec: MessageCodec<T, I>): T {
  const value = optionalValue(group, groupPath, key, codec);
  if (value === undefined) throw new ChannelConfigError(`${groupPath}/${key}`, 'missing');
  return value;
}

function parseDurationAt(path: string, text: string, what: string): number {
  try {
    return parseGoDurationMs(text);
  } catch (err) {
    if (err instanceof InvalidDurationError) throw new ChannelConfigError(path, `${what}: ${err.message}`, { cause: err });
    throw err;
  }
}

function capabilityNames(group: common.ConfigGroup, groupPath: string, supported?: readonly string[]): string[] {
  const caps = optionalValue(group, groupPath, CAPABILITIES_KEY, common.Capabilities);
  const names = caps === undefined ? [] : Object.keys(caps.capabilities).sort();
  if (supported !== undefined) {
    const unknown = names.filter((n) => !supported.includes(n));
    if (unknown.length > 0) {
      throw new ChannelConfigError(
        `${groupPath}/${CAPABILITIES_KEY}`,
        `requires capabilities this orderer does not support: ${unknown.join(', ')}`,
      );
    }
  }
  return names;
}

/** Fabric's rules for BatchSize: nothing zero, Preferred <= Absolute. */
export function validateBatchSize(path: string, b: BatchSizeSettings): void {
  if (b.maxMessageCount === 0) throw new ChannelConfigError(path, 'MaxMessageCount must be greater than 0');
  if (b.absoluteMaxBytes === 0) throw new ChannelConfigError(path, 'AbsoluteMaxBytes must be greater than 0');
  if (b.preferredMaxBytes === 0) throw new ChannelConfigError(path, 'PreferredMaxBytes must be greater than 0');
  if (b.preferredMaxBytes > b.absoluteMaxBytes) {
    throw new ChannelConfigError(
      path,
      `PreferredMaxBytes (${b.preferredMaxBytes}) must not exceed AbsoluteMaxBytes (${b.absoluteMaxBytes})`,
    );
  }
}

/** Parses and checks a BatchTimeout string; returns milliseconds (> 0). */
export function parseBatchTimeoutMs(path: string, timeout: string): number {
  const ms = parseDurationAt(path, timeout, 'BatchTimeout');
  if (!(ms > 0)) throw new ChannelConfigError(path, `BatchTimeout must be positive, got ${JSON.stringify(timeout)}`);
  return ms;
}

/** Reference §3.8 steps 1-2 on decoded etcdraft metadata; fills the snapshot default. */
export function validateRaftMetadata(
  path: string,
  metadata: etcdraft.ConfigMetadata,
): { consenters: RaftConsenter[]; options: RaftOptions } {
  const o = metadata.options;
  if (o === undefined) throw new ChannelConfigError(path, 'etcdraft options are missing');
  if (o.tickInterval === '') throw new ChannelConfigError(path, 'TickInterval is missing');
  const tickIntervalMs = parseDurationAt(path, o.tickInterval, 'TickInterval');
  // Fabric only rejects zero; a negative tick makes no sense to a timer either.
  if (!(tickIntervalMs > 0)) throw new ChannelConfigError(path, `TickInterval must be positive, got ${JSON.stringify(o.tickInterval)}`);
  if (o.heartbeatTick === 0) throw new ChannelConfigError(path, 'HeartbeatTick must be greater than 0');
  if (o.electionTick === 0) throw new ChannelConfigError(path, 'ElectionTick must be greater than 0');
  if (o.maxInflightBlocks === 0) throw new ChannelConfigError(path, 'MaxInflightBlocks must be greater than 0');
  if (o.electionTick <= o.heartbeatTick) {
    throw new ChannelConfigError(
      path,
      `ElectionTick (${o.electionTick}) must be greater than HeartbeatTick (${o.heartbeatTick})`,
    );
  }
  if (metadata.consenters.length === 0) throw new ChannelConfigError(path, 'at least one consenter is required');
  return {
    consenters: metadata.consenters.map((c) =>
      Object.freeze({ host: c.host, port: c.port, clientTlsCert: c.clientTlsCert, serverTlsCert: c.serverTlsCert }),
    ),
    options: Object.freeze({
      tickInterval: o.tickInterval,
      tickIntervalMs,
      electionTick: o.electionTick,
      heartbeatTick: o.heartbeatTick,
      maxInflightBlocks: o.maxInflightBlocks,
      snapshotIntervalSizeBytes: o.snapshotIntervalSize === 0 ? DEFAULT_SNAPSHOT_INTERVAL_SIZE_BYTES : o.snapshotIntervalSize,
    }),
  };
}

function parseConsensus(group: common.ConfigGroup, groupPath: string): ConsensusSettings {
  const path = `${groupPath}/${CONSENSUS_TYPE_KEY}`;
  const ct = requiredValue(group, groupPath, CONSENSUS_TYPE_KEY, orderer.ConsensusType);
  if (ct.type !== ETCDRAFT_CONSENSUS_TYPE) {
    throw new ChannelConfigError(path, `consensus type ${JSON.stringify(ct.type)} is not supported (only etcdraft)`);
  }
  let state: ConsensusState;
  if (ct.state === orderer.ConsensusType_State.STATE_NORMAL) state = 'normal';
  else if (ct.state === orderer.ConsensusType_State.STATE_MAINTENANCE) state = 'maintenance';
  else throw new ChannelConfigError(path, `unknown consensus state ${ct.state}`);
  const metadata = decodeAt(path, etcdraft.ConfigMetadata.decode, ct.metadata, 'metadata');
  const { consenters, options } = validateRaftMetadata(path, metadata);
  return Object.freeze({ type: ETCDRAFT_CONSENSUS_TYPE, state, consenters: Object.freeze(consenters), options });
}

function parseOrganizations(parent: common.ConfigGroup, parentPath: string, withEndpoints: boolean): OrganizationSettings[] {
  return Object.keys(parent.groups)
    .sort()
    .map((name) => {
      const org = parent.groups[name]!;
      const orgPath = `${parentPath}/${name}`;
      const mspConfig = requiredValue(org, orgPath, MSP_KEY, msp.MSPConfig);
      let fabricMsp: msp.FabricMSPConfig | undefined;
      let mspId: string;
      if (mspConfig.type === 0) {
        fabricMsp = decodeAt(`${orgPath}/${MSP_KEY}`, msp.FabricMSPConfig.decode, mspConfig.config);
        mspId = fabricMsp.name;
      } else if (mspConfig.type === 1) {
        mspId = idemixMspName(`${orgPath}/${MSP_KEY}`, mspConfig.config);
      } else {
        throw new ChannelConfigError(`${orgPath}/${MSP_KEY}`, `unknown MSP type ${mspConfig.type}`);
      }
      if (mspId === '') throw new ChannelConfigError(`${orgPath}/${MSP_KEY}`, 'MSP name (MSP ID) is empty');
      const endpoints = withEndpoints ? (optionalValue(org, orgPath, ENDPOINTS_KEY, common.OrdererAddresses)?.addresses ?? []) : [];
      return Object.freeze({ name, mspId, mspType: mspConfig.type, fabricMsp, endpoints: Object.freeze(endpoints) });
    });
}

// IdemixMSPConfig (msp/msp_config.proto) is not among our generated types. Its name
// is field 1 (string), like FabricMSPConfig.name, but other fields differ in wire
// type, so read field 1 alone and skip the rest.
function idemixMspName(path: string, config: Uint8Array): string {
  return decodeAt(path, (bytes) =>
    decodeWith(bytes, 'msp.IdemixMSPConfig', (r, end) => {
      let name = '';
      while (r.pos < end) {
        const tag = r.uint32();
        if (tag === ((1 << 3) | 2)) name = r.string();
        else r.skipType(tag & 7);
      }
      return name;
    }),
  config);
}

/**
 * Typed, validated settings of a channel config. Throws ChannelConfigError naming
 * the offending element.
 */
export function parseChannelConfig(channelId: string, config: common.Config): ChannelSettings {
  const root = config.channelGroup;
  const rootPath = `/${CHANNEL_GROUP}`;
  if (root === undefined) throw new ChannelConfigError(rootPath, 'config has no channel group');

  const hashing = requiredValue(root, rootPath, HASHING_ALGORITHM_KEY, common.HashingAlgorithm);
  if (!SUPPORTED_HASHING_ALGORITHMS.includes(hashing.name)) {
    throw new ChannelConfigError(`${rootPath}/${HASHING_ALGORITHM_KEY}`, `unknown hashing algorithm ${JSON.stringify(hashing.name)}`);
  }
  const dataHashing = requiredValue(root, rootPath, BLOCK_DATA_HASHING_STRUCTURE_KEY, common.BlockDataHashingStructure);
  if (dataHashing.width !== BLOCK_DATA_HASHING_WIDTH) {
    throw new ChannelConfigError(
      `${rootPath}/${BLOCK_DATA_HASHING_STRUCTURE_KEY}`,
      `width must be ${BLOCK_DATA_HASHING_WIDTH}, got ${dataHashing.width}`,
    );
  }
  const ordererAddresses = optionalValue(root, rootPath, ORDERER_ADDRESSES_KEY, common.OrdererAddresses)?.addresses ?? [];
  const channelCapabilities = capabilityNames(root, rootPath, SUPPORTED_CHANNEL_CAPABILITIES);

  const ordererGroup = getOwn(root.groups, ORDERER_GROUP);
  const ordererPath = `${rootPath}/${ORDERER_GROUP}`;
  if (ordererGroup === undefined) throw new ChannelConfigError(ordererPath, 'missing');
  const bs = requiredValue(ordererGroup, ordererPath, BATCH_SIZE_KEY, orderer.BatchSize);
  const batchSize: BatchSizeSettings = Object.freeze({
    maxMessageCount: bs.maxMessageCount,
    absoluteMaxBytes: bs.absoluteMaxBytes,
    preferredMaxBytes: bs.preferredMaxBytes,
  });
  validateBatchSize(`${ordererPath}/${BATCH_SIZE_KEY}`, batchSize);
  const batchTimeout = requiredValue(ordererGroup, ordererPath, BATCH_TIMEOUT_KEY, orderer.BatchTimeout).timeout;
  const batchTimeoutMs = parseBatchTimeoutMs(`${ordererPath}/${BATCH_TIMEOUT_KEY}`, batchTimeout);
  const consensus = parseConsensus(ordererGroup, ordererPath);
  const ordererCapabilities = capabilityNames(ordererGroup, ordererPath, SUPPORTED_ORDERER_CAPABILITIES);
  const ordererOrgs = parseOrganizations(ordererGroup, ordererPath, true);

  const applicationGroup = getOwn(root.groups, APPLICATION_GROUP);
  const applicationPath = `${rootPath}/${APPLICATION_GROUP}`;
  const application: ApplicationSettings | undefined =
    applicationGroup === undefined
      ? undefined
      : Object.freeze({
          // The orderer does not act on application capabilities; peers check them.
          capabilities: Object.freeze(capabilityNames(applicationGroup, applicationPath)),
          organizations: Object.freeze(parseOrganizations(applicationGroup, applicationPath, false)),
        });

  return Object.freeze({
    channelId,
    sequence: config.sequence,
    hashingAlgorithm: hashing.name,
    ordererAddresses: Object.freeze(ordererAddresses),
    capabilities: Object.freeze(channelCapabilities),
    orderer: Object.freeze({
      batchSize,
      batchTimeout,
      batchTimeoutMs,
      consensus,
      capabilities: Object.freeze(ordererCapabilities),
      organizations: Object.freeze(ordererOrgs),
    }),
    application,
    config,
  });
}

/** Channel ID and ConfigEnvelope carried by a config block (reference §2.3, §2.5). */
/**
 * The ConfigEnvelope of a config block (one envelope of type CONFIG), or undefined for any other
 * block. Cheap for normal blocks: a block of several envelopes is never decoded. A block of type
 * CONFIG whose ConfigEnvelope does not decode is a broken config block: ChannelConfigError.
 */
export function configEnvelopeOfBlock(block: common.Block): common.ConfigEnvelope | undefined {
  const data = block.data?.data ?? [];
  if (data.length !== 1) return undefined;
  let payload: common.Payload;
  try {
    payload = common.Payload.decode(common.Envelope.decode(data[0]!).payload);
    const channelHeader = common.ChannelHeader.decode(payload.header?.channelHeader ?? new Uint8Array(0));
    if (channelHeader.type !== common.HeaderType.CONFIG) return undefined;
  } catch (err) {
    if (err instanceof ProtoDecodeError) return undefined;
    throw err;
  }
  return configEnvelopeFromBlock(block).configEnvelope;
}

export function configEnvelopeFromBlock(block: common.Block): { channelId: string; configEnvelope: common.ConfigEnvelope } {
  const path = `config block ${block.header?.number ?? '?'}`;
  const data = block.data?.data ?? [];
  if (data.length !== 1) throw new ChannelConfigError(path, `a config block holds exactly one envelope, found ${data.length}`);
  const envelope = decodeAt(path, common.Envelope.decode, data[0]!);
  const payload = decodeAt(path, common.Payload.decode, envelope.payload);
  if (payload.header === undefined) throw new ChannelConfigError(path, 'envelope payload has no header');
  const channelHeader = decodeAt(path, common.ChannelHeader.decode, payload.header.channelHeader);
  if (channelHeader.type !== common.HeaderType.CONFIG) {
    throw new ChannelConfigError(
      path,
      `envelope type is ${common.HeaderType[channelHeader.type] ?? channelHeader.type}, expected CONFIG`,
    );
  }
  if (channelHeader.channelId === '') throw new ChannelConfigError(path, 'channel header has no channel ID');
  const configEnvelope = decodeAt(path, common.ConfigEnvelope.decode, payload.data);
  if (configEnvelope.config === undefined) throw new ChannelConfigError(path, 'config envelope has no config');
  return { channelId: channelHeader.channelId, configEnvelope };
}

/** Settings of the config carried by a config block (genesis/join block or later). */
export function parseConfigBlock(block: common.Block): ChannelSettings {
  const { channelId, configEnvelope } = configEnvelopeFromBlock(block);
  return parseChannelConfig(channelId, configEnvelope.config!);
}

/** Channel ID rule of Fabric's channel participation API: [a-z][a-z0-9.-]*, at most 249 chars. */
export function isValidChannelId(channelId: string): boolean {
  return channelId.length <= 249 && /^[a-z][a-z0-9.-]*$/.test(channelId);
}
