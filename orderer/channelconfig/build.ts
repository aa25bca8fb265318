// Builds a fresh channel's genesis config, shaped like what configtxgen makes from an
// etcdraft sample profile (reference §1.8): the /Channel tree with its values,
// ImplicitMeta policies at the channel, Orderer and Application levels, signature
// policies per organization, mod_policy "Admins" everywhere, all versions 0. It is
// for our dev network and tests; production channels come from real configtxgen.
//
// Only the ConfigEnvelope is produced here: the genesis block around it (header,
// CONFIG envelope with nonce and tx id, metadata) is assembled by the ledger module.
import { common, etcdraft, msp, orderer } from '../../protos';
import { ChannelConfigError } from '../errors';
import {
  APPLICATION_GROUP,
  BATCH_SIZE_KEY,
  BATCH_TIMEOUT_KEY,
  BLOCK_DATA_HASHING_STRUCTURE_KEY,
  BLOCK_DATA_HASHING_WIDTH,
  CAPABILITIES_KEY,
  CHANNEL_RESTRICTIONS_KEY,
  CONSENSUS_TYPE_KEY,
  ENDPOINTS_KEY,
  ETCDRAFT_CONSENSUS_TYPE,
  HASHING_ALGORITHM_KEY,
  isValidChannelId,
  MSP_KEY,
  ORDERER_ADDRESSES_KEY,
  ORDERER_GROUP,
  parseChannelConfig,
  type BatchSizeSettings,
  type ChannelSettings,
  type ConsensusState,
} from './settings';

/** configtxgen's defaults for a new channel (reference §3.1). */
export const DEFAULT_BATCH_SIZE: BatchSizeSettings = Object.freeze({
  maxMessageCount: 500,
  absoluteMaxBytes: 10 * 1024 * 1024,
  preferredMaxBytes: 2 * 1024 * 1024,
});
export const DEFAULT_BATCH_TIMEOUT = '2s';
export const DEFAULT_RAFT_OPTIONS: Readonly<Required<RaftOptionsSpec>> = Object.freeze({
  tickInterval: '500ms',
  electionTick: 10,
  heartbeatTick: 1,
  maxInflightBlocks: 5,
  snapshotIntervalSizeBytes: 16 * 1024 * 1024,
});
/** Capability every level of a new channel requires (Fabric 2.x behaviour). */
export const DEFAULT_CAPABILITY = 'V2_0';

const ADMINS = 'Admins';

export interface ConsenterSpec {
  readonly host: string;
  readonly port: number;
  /** PEM. Empty until TLS exists; Fabric nodes need real certificates here. */
  readonly clientTlsCert?: Uint8Array;
  readonly serverTlsCert?: Uint8Array;
}

export interface OrganizationSpec {
  readonly mspId: string;
  /** Group key in the config tree; defaults to the MSP ID. */
  readonly name?: string;
  /** PEM certificates. Empty lists are allowed for now (the real MSP comes later). */
  readonly rootCerts?: readonly Uint8Array[];
  readonly intermediateCerts?: readonly Uint8Array[];
  readonly adminCerts?: readonly Uint8Array[];
  readonly tlsRootCerts?: readonly Uint8Array[];
  readonly tlsIntermediateCerts?: readonly Uint8Array[];
  /** Orderer orgs only: this org's orderer endpoints ("host:port"). */
  readonly endpoints?: readonly string[];
  /**
   * The whole MSP definition, as configtxgen reads it from an MSP folder (orderer/msp/msp-dir.ts
   * mspConfigFromDir): CAs, NodeOUs, admins, CRLs. Replaces the certificate lists above.
   */
  readonly msp?: msp.MSPConfigInit;
}

export interface RaftOptionsSpec {
  /** Go duration, e.g. "500ms". */
  readonly tickInterval?: string;
  readonly electionTick?: number;
  readonly heartbeatTick?: number;
  readonly maxInflightBlocks?: number;
  readonly snapshotIntervalSizeBytes?: number;
}

export interface ChannelConfigSpec {
  readonly channelId: string;
  readonly consenters: readonly ConsenterSpec[];
  readonly ordererOrgs: readonly OrganizationSpec[];
  /** Defaults to the orderer orgs (like Fabric's SampleOrg playing both parts). */
  readonly applicationOrgs?: readonly OrganizationSpec[];
  readonly batchSize?: Partial<BatchSizeSettings>;
  /** Go duration; default "2s". */
  readonly batchTimeout?: string;
  readonly options?: RaftOptionsSpec;
  /** /Channel/OrdererAddresses; defaults to the consenters' host:port. */
  readonly ordererAddresses?: readonly string[];
  readonly consensusState?: ConsensusState;
  /**
   * Application orgs' Readers and Writers become OutOf(0, '<org>.member'), as fabric-anchor's
   * OPEN_POLICY does: anyone may broadcast and deliver, unsigned too, while signatures that are
   * present are still verified (a signature policy verifies the set before counting). For
   * benchmarks and tests that send unsigned envelopes; never for a real network. The orderer
   * orgs keep their policies, so BlockValidation still requires an orderer's signature.
   */
  readonly openAccess?: boolean;
}

/** `defaults` overlaid with the fields of `overrides` that are set (undefined keeps the default). */
function withDefaults<T extends object>(defaults: T, overrides: Partial<T> | undefined): T {
  const out = { ...defaults };
  if (overrides !== undefined) {
    for (const key of Object.keys(overrides) as (keyof T)[]) {
      const v = overrides[key];
      if (v !== undefined) out[key] = v as T[keyof T];
    }
  }
  return out;
}

function value(bytes: Uint8Array, modPolicy = ADMINS): common.ConfigValueInit {
  return { value: bytes, modPolicy };
}

function implicitMeta(subPolicy: string, rule: common.ImplicitMetaPolicy_Rule): common.ConfigPolicyInit {
  return {
    policy: {
      type: common.Policy_PolicyType.IMPLICIT_META,
      value: common.ImplicitMetaPolicy.encode({ subPolicy, rule }),
    },
    modPolicy: ADMINS,
  };
}

/** OR('<mspId>.<role>'): one signature of that role, as configtxgen's policy DSL writes it
 *  (`n` 0 makes OutOf(0, ...): satisfied by any set, see ChannelConfigSpec.openAccess). */
function signedByRole(mspId: string, role: common.MSPRole_MSPRoleType, n = 1): common.ConfigPolicyInit {
  return {
    policy: {
      type: common.Policy_PolicyType.SIGNATURE,
      value: common.SignaturePolicyEnvelope.encode({
        version: 0,
        rule: { nOutOf: { n, rules: [{ signedBy: 0 }] } },
        identities: [
          {
            principalClassification: common.MSPPrincipal_Classification.ROLE,
            principal: common.MSPRole.encode({ mspIdentifier: mspId, role }),
          },
        ],
      }),
    },
    modPolicy: ADMINS,
  };
}

function capabilities(...names: string[]): common.ConfigValueInit {
  const caps: Record<string, common.CapabilityInit> = {};
  for (const n of names) caps[n] = {};
  return value(common.Capabilities.encode({ capabilities: caps }));
}

function standardPolicies(): Record<string, common.ConfigPolicyInit> {
  return {
    Readers: implicitMeta('Readers', common.ImplicitMetaPolicy_Rule.ANY),
    Writers: implicitMeta('Writers', common.ImplicitMetaPolicy_Rule.ANY),
    Admins: implicitMeta('Admins', common.ImplicitMetaPolicy_Rule.MAJORITY),
  };
}

function mspValue(org: OrganizationSpec): common.ConfigValueInit {
  if (org.msp !== undefined) return value(msp.MSPConfig.encode(org.msp));
  const fabricMsp: msp.FabricMSPConfigInit = {
    name: org.mspId,
    rootCerts: [...(org.rootCerts ?? [])],
    intermediateCerts: [...(org.intermediateCerts ?? [])],
    admins: [...(org.adminCerts ?? [])],
    tlsRootCerts: [...(org.tlsRootCerts ?? [])],
    tlsIntermediateCerts: [...(org.tlsIntermediateCerts ?? [])],
    // What configtxgen writes for an X.509 MSP.
    cryptoConfig: { signatureHashFamily: 'SHA2', identityIdentifierHashFunction: 'SHA256' },
  };
  return value(msp.MSPConfig.encode({ type: 0, config: msp.FabricMSPConfig.encode(fabricMsp) }));
}

function orgGroup(org: OrganizationSpec, isOrderer: boolean, openAccess: boolean): common.ConfigGroupInit {
  const values: Record<string, common.ConfigValueInit> = { [MSP_KEY]: mspValue(org) };
  if (isOrderer && org.endpoints !== undefined && org.endpoints.length > 0) {
    values[ENDPOINTS_KEY] = value(common.OrdererAddresses.encode({ addresses: [...org.endpoints] }));
  }
  const open = openAccess && !isOrderer ? 0 : 1;
  const policies: Record<string, common.ConfigPolicyInit> = {
    Readers: signedByRole(org.mspId, common.MSPRole_MSPRoleType.MEMBER, open),
    Writers: signedByRole(org.mspId, common.MSPRole_MSPRoleType.MEMBER, open),
    Admins: signedByRole(org.mspId, common.MSPRole_MSPRoleType.ADMIN),
  };
  // Peers' chaincode lifecycle evaluates the orgs' Endorsement policies.
  if (!isOrderer) policies['Endorsement'] = signedByRole(org.mspId, common.MSPRole_MSPRoleType.MEMBER);
  return { values, policies, modPolicy: ADMINS };
}

function orgGroups(orgs: readonly OrganizationSpec[], isOrderer: boolean, path: string, openAccess = false): Record<string, common.ConfigGroupInit> {
  if (orgs.length === 0) throw new ChannelConfigError(path, 'at least one organization is required');
  const groups: Record<string, common.ConfigGroupInit> = {};
  for (const org of orgs) {
    const name = org.name ?? org.mspId;
    if (org.mspId === '') throw new ChannelConfigError(`${path}/${name}`, 'MSP ID is empty');
    if (!/^[a-zA-Z0-9.-]+$/.test(name) || name.length > 249) {
      throw new ChannelConfigError(`${path}/${name}`, 'organization names use [a-zA-Z0-9.-], at most 249 characters');
    }
    if (Object.hasOwn(groups, name)) throw new ChannelConfigError(`${path}/${name}`, 'organization listed twice');
    groups[name] = orgGroup(org, isOrderer, openAccess);
  }
  return groups;
}

/**
 * The /Channel tree of a new channel (sequence 0). Validates the result the same way
 * a received config is validated, so a bad spec fails here, with the same
 * ChannelConfigError, rather than at join time.
 */
export function buildChannelConfig(spec: ChannelConfigSpec): common.ConfigInit {
  if (!isValidChannelId(spec.channelId)) {
    throw new ChannelConfigError('channel ID', `${JSON.stringify(spec.channelId)} does not match [a-z][a-z0-9.-]* (at most 249 characters)`);
  }
  const batchSize: BatchSizeSettings = withDefaults(DEFAULT_BATCH_SIZE, spec.batchSize);
  const o = withDefaults(DEFAULT_RAFT_OPTIONS, spec.options);
  const metadata: etcdraft.ConfigMetadataInit = {
    consenters: spec.consenters.map((c) => ({
      host: c.host,
      port: c.port,
      clientTlsCert: c.clientTlsCert,
      serverTlsCert: c.serverTlsCert,
    })),
    options: {
      tickInterval: o.tickInterval,
      electionTick: o.electionTick,
      heartbeatTick: o.heartbeatTick,
      maxInflightBlocks: o.maxInflightBlocks,
      snapshotIntervalSize: o.snapshotIntervalSizeBytes,
    },
  };
  const state =
    spec.consensusState === 'maintenance'
      ? orderer.ConsensusType_State.STATE_MAINTENANCE
      : orderer.ConsensusType_State.STATE_NORMAL;
  const ordererAddresses = spec.ordererAddresses ?? spec.consenters.map((c) => `${c.host}:${c.port}`);

  const ordererGroup: common.ConfigGroupInit = {
    groups: orgGroups(spec.ordererOrgs, true, `/Channel/${ORDERER_GROUP}`),
    values: {
      [CONSENSUS_TYPE_KEY]: value(
        orderer.ConsensusType.encode({
          type: ETCDRAFT_CONSENSUS_TYPE,
          metadata: etcdraft.ConfigMetadata.encode(metadata),
          state,
        }),
      ),
      [BATCH_SIZE_KEY]: value(orderer.BatchSize.encode(batchSize)),
      [BATCH_TIMEOUT_KEY]: value(orderer.BatchTimeout.encode({ timeout: spec.batchTimeout ?? DEFAULT_BATCH_TIMEOUT })),
      // configtxgen always writes it; max_count 0 means unlimited.
      [CHANNEL_RESTRICTIONS_KEY]: value(orderer.ChannelRestrictions.encode({ maxCount: 0 })),
      [CAPABILITIES_KEY]: capabilities(DEFAULT_CAPABILITY),
    },
    policies: {
      ...standardPolicies(),
      BlockValidation: implicitMeta('Writers', common.ImplicitMetaPolicy_Rule.ANY),
    },
    modPolicy: ADMINS,
  };

  const applicationGroup: common.ConfigGroupInit = {
    groups: orgGroups(spec.applicationOrgs ?? spec.ordererOrgs, false, `/Channel/${APPLICATION_GROUP}`, spec.openAccess === true),
    values: { [CAPABILITIES_KEY]: capabilities(DEFAULT_CAPABILITY) },
    policies: {
      ...standardPolicies(),
      LifecycleEndorsement: implicitMeta('Endorsement', common.ImplicitMetaPolicy_Rule.MAJORITY),
      Endorsement: implicitMeta('Endorsement', common.ImplicitMetaPolicy_Rule.MAJORITY),
    },
    modPolicy: ADMINS,
  };

  const config: common.ConfigInit = {
    sequence: 0,
    channelGroup: {
      groups: { [ORDERER_GROUP]: ordererGroup, [APPLICATION_GROUP]: applicationGroup },
      values: {
        [HASHING_ALGORITHM_KEY]: value(common.HashingAlgorithm.encode({ name: 'SHA256' })),
        [BLOCK_DATA_HASHING_STRUCTURE_KEY]: value(
          common.BlockDataHashingStructure.encode({ width: BLOCK_DATA_HASHING_WIDTH }),
        ),
        // Orderer admins, not channel admins, own the orderer addresses.
        [ORDERER_ADDRESSES_KEY]: value(
          common.OrdererAddresses.encode({ addresses: [...ordererAddresses] }),
          `/Channel/${ORDERER_GROUP}/${ADMINS}`,
        ),
        [CAPABILITIES_KEY]: capabilities(DEFAULT_CAPABILITY),
      },
      policies: standardPolicies(),
      modPolicy: ADMINS,
    },
  };

  // Same validation as a received config: encode, decode, parse.
  parseChannelConfig(spec.channelId, common.Config.decode(common.Config.encode(config)));
  return config;
}

/** The ConfigEnvelope of a genesis block: the config alone, no last_update (reference §2.5). */
export function buildGenesisConfigEnvelope(spec: ChannelConfigSpec): common.ConfigEnvelopeInit {
  return { config: buildChannelConfig(spec) };
}

/** Settings a node will run with once the genesis config of `spec` is in a block. */
export function genesisChannelSettings(spec: ChannelConfigSpec): ChannelSettings {
  const envelope = common.ConfigEnvelope.decode(common.ConfigEnvelope.encode(buildGenesisConfigEnvelope(spec)));
  return parseChannelConfig(spec.channelId, envelope.config!);
}
