// `orderer config genesis`: a channel's genesis block from a profile, as configtxgen -outputBlock
// makes one from a configtx.yaml profile. The profile uses configtxgen's key names (Orderer,
// Application, Organizations with Name/ID/MSPDir/OrdererEndpoints, EtcdRaft.Consenters, BatchSize,
// Policies with Type/Rule, Capabilities) for a single profile per file; relative paths are taken
// from the profile's folder, as configtxgen does. The tree comes from buildChannelConfig
// (orderer/channelconfig) with the profile's policies and capabilities put in place of the
// defaults, and the result is checked the way an orderer checks a genesis block (settings parse,
// MSPs and policies build) before anything is written.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigToolError, readInput, UsageError, writeOutput } from './config-tool-io';
import {
  buildGenesisConfigEnvelope,
  configEnvelopeFromBlock,
  parseConfigBlock,
  type ChannelConfigSpec,
  type ConsenterSpec,
  type OrganizationSpec,
  type RaftOptionsSpec,
} from '../orderer/channelconfig';
import { ChannelConfigError } from '../orderer/errors';
import { decodePem } from '../orderer/msp/der';
import { mspConfigFromDir, MspDirError } from '../orderer/msp/msp-dir';
import { ConfigChannelAccess } from '../orderer/policies/channel-access';
import { parsePolicyDsl } from '../orderer/policies/dsl';
import { PolicyDslError } from '../orderer/policies/errors';
import { genesisBlock } from '../orderer/storage-tools';
import { jsonToProtoBytes } from '../orderer/configtx/json';
import { common, type msp } from '../protos';

export const GENESIS_USAGE = `usage: orderer config genesis --profile FILE.yaml [--profile-name NAME] --channel ID --output FILE

Writes the genesis block of channel ID as configtxgen -profile P -outputBlock FILE would, from a
YAML profile with configtxgen's key names (cmd/configtx.sample.yaml is a documented example that
works with the folders \`orderer crypto generate\` writes):

  Capabilities: {V2_0: true}                 channel capabilities (default V2_0)
  Policies: {Readers: {Type: ImplicitMeta, Rule: ANY Readers}, ...}   (default Fabric's)
  Orderer:
    OrdererType: etcdraft                    the only one supported
    Addresses: [host:port]                   /Channel/OrdererAddresses (default the consenters)
    BatchTimeout: 2s
    BatchSize: {MaxMessageCount: 500, AbsoluteMaxBytes: 10 MB, PreferredMaxBytes: 2 MB}
    EtcdRaft:
      Consenters: [{Host, Port, ClientTLSCert: FILE, ServerTLSCert: FILE}]
      Options: {TickInterval: 500ms, ElectionTick: 10, HeartbeatTick: 1, MaxInflightBlocks: 5,
                SnapshotIntervalSize: 16 MB}
    Organizations: [{Name, ID, MSPDir: DIR, OrdererEndpoints: [host:port], Policies}]
    Policies, Capabilities                   (defaults add BlockValidation: ANY Writers)
  Application:
    Organizations: [{Name, ID, MSPDir, Policies, AnchorPeers: [{Host, Port}]}]
    Policies, Capabilities, ACLs: {peer/Propose: /Channel/Application/Writers, ...}

A whole configtx.yaml works too: with a Profiles section, --profile-name NAME (or its only
profile) is the profile, and its other sections serve as YAML anchors, as with configtxgen.

Omitted settings take configtxgen's defaults. A Policies map, where given, is the whole set of
that level (as in configtxgen). Signature rules use Fabric's policy language, e.g.
"OR('Org1MSP.admin')". Relative paths are taken from the profile's folder.

Exit status: 0 written; 1 bad profile (the file, the key and the reason are printed; nothing is
written); 2 usage error.`;

/** A profile that cannot be used; names the file and the YAML key. */
export class ProfileError extends ConfigToolError {
  constructor(
    file: string,
    readonly key: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(file, `${key}: ${reason}`, options);
  }
}

type Yaml = Record<string, unknown>;

/** Reads one profile file and gives typed access to its keys, every error naming file and key. */
class ProfileReader {
  readonly dir: string;
  /** Where the profile sits in the file: "" for a profile file, "Profiles.NAME." in a configtx.yaml. */
  prefix = '';

  constructor(readonly file: string) {
    this.dir = path.dirname(path.resolve(file));
  }

  fail(key: string, reason: string, cause?: unknown): never {
    throw new ProfileError(this.file, `${this.prefix}${key}`, reason, cause === undefined ? undefined : { cause });
  }

  map(v: unknown, key: string, allowed: readonly string[]): Yaml {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(key, 'must be a map');
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) this.fail(key === '' ? k : `${key}.${k}`, `unknown key (known here: ${allowed.length === 0 ? 'none' : allowed.join(', ')})`);
    }
    return v as Yaml;
  }

  list(v: unknown, key: string): unknown[] {
    if (!Array.isArray(v)) this.fail(key, 'must be a list');
    return v;
  }

  string(v: unknown, key: string): string {
    if (typeof v !== 'string' || v === '') this.fail(key, 'must be a non-empty string');
    return v;
  }

  integer(v: unknown, key: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(key, `must be an integer from ${min} to ${max}`);
    return v;
  }

  /** configtxgen's sizes: a number of bytes or "<n> KB|MB|GB" (powers of 1024). */
  bytes(v: unknown, key: string): number {
    if (typeof v === 'number') return this.integer(v, key, 1, 0xffffffff);
    const match = typeof v === 'string' ? /^\s*(\d+)\s*(B|KB|MB|GB)?\s*$/i.exec(v) : null;
    if (match === null) this.fail(key, 'must be a size such as 524288, "512 KB" or "10 MB"');
    const unit = (match[2] ?? 'B').toUpperCase();
    const n = Number(match[1]) * (unit === 'GB' ? 1024 ** 3 : unit === 'MB' ? 1024 ** 2 : unit === 'KB' ? 1024 : 1);
    return this.integer(n, key, 1, 0xffffffff);
  }

  path(v: unknown, key: string): string {
    return path.resolve(this.dir, this.string(v, key));
  }

  pemFile(v: unknown, key: string): Uint8Array {
    const file = this.path(v, key);
    if (!existsSync(file) || !statSync(file).isFile()) this.fail(key, `${file} does not exist`);
    const bytes = new Uint8Array(readFileSync(file));
    if (decodePem(bytes) === undefined) this.fail(key, `${file} is not a PEM certificate`);
    return bytes;
  }

  hostPort(v: unknown, key: string): string {
    const s = this.string(v, key);
    const match = /^(.+):(\d{1,5})$/.exec(s);
    if (match === null || Number(match[2]) < 1 || Number(match[2]) > 65535) this.fail(key, `${JSON.stringify(s)} is not host:port`);
    return s;
  }
}

const ORG_KEYS = ['Name', 'ID', 'MSPDir', 'OrdererEndpoints', 'Policies', 'AnchorPeers'] as const;

interface Level {
  /** The profile's policies of this level, when it names them. */
  policies?: Record<string, common.ConfigPolicyInit>;
  capabilities?: string[];
  /** Values the builder does not write: Application ACLs, an application org's AnchorPeers. */
  values?: Record<string, common.ConfigValueInit>;
}

interface ParsedOrg {
  readonly spec: OrganizationSpec;
  readonly level: Level;
}

function parsePolicies(r: ProfileReader, v: unknown, key: string): Record<string, common.ConfigPolicyInit> {
  const out: Record<string, common.ConfigPolicyInit> = {};
  const policies = r.map(v, key, Object.keys((v ?? {}) as object));
  for (const [name, p] of Object.entries(policies)) {
    const at = `${key}.${name}`;
    const policy = r.map(p, at, ['Type', 'Rule', 'ModPolicy']);
    const type = r.string(policy['Type'], `${at}.Type`);
    const rule = r.string(policy['Rule'], `${at}.Rule`);
    const modPolicy = policy['ModPolicy'] === undefined ? 'Admins' : r.string(policy['ModPolicy'], `${at}.ModPolicy`);
    if (type === 'ImplicitMeta') {
      // "ANY Readers": the rule, then the sub-policy name (configtxgen's form).
      const match = /^\s*(ANY|ALL|MAJORITY)\s+(\S+)\s*$/.exec(rule);
      if (match === null) r.fail(`${at}.Rule`, `${JSON.stringify(rule)} is not an ImplicitMeta rule such as "ANY Readers" or "MAJORITY Admins"`);
      const value = common.ImplicitMetaPolicy.encode({ rule: common.ImplicitMetaPolicy_Rule[match[1] as 'ANY' | 'ALL' | 'MAJORITY'], subPolicy: match[2]! });
      out[name] = { policy: { type: common.Policy_PolicyType.IMPLICIT_META, value }, modPolicy };
    } else if (type === 'Signature') {
      let envelope: common.SignaturePolicyEnvelope;
      try {
        envelope = parsePolicyDsl(rule);
      } catch (err) {
        if (err instanceof PolicyDslError) r.fail(`${at}.Rule`, err.message, err);
        throw err;
      }
      out[name] = { policy: { type: common.Policy_PolicyType.SIGNATURE, value: common.SignaturePolicyEnvelope.encode(envelope) }, modPolicy };
    } else {
      r.fail(`${at}.Type`, `${JSON.stringify(type)} is not ImplicitMeta or Signature`);
    }
  }
  return out;
}

function parseCapabilities(r: ProfileReader, v: unknown, key: string): string[] {
  const caps = r.map(v, key, Object.keys((v ?? {}) as object));
  return Object.entries(caps)
    .filter(([name, on]) => {
      if (typeof on !== 'boolean') r.fail(`${key}.${name}`, 'must be true or false');
      return on;
    })
    .map(([name]) => name);
}

function parseLevel(r: ProfileReader, doc: Yaml, key: string): Level {
  const prefix = key === '' ? '' : `${key}.`;
  const level: Level = {};
  if (doc['Policies'] !== undefined) level.policies = parsePolicies(r, doc['Policies'], `${prefix}Policies`);
  if (doc['Capabilities'] !== undefined) level.capabilities = parseCapabilities(r, doc['Capabilities'], `${prefix}Capabilities`);
  return level;
}

function parseOrg(r: ProfileReader, v: unknown, key: string, isOrderer: boolean): ParsedOrg {
  const org = r.map(v, key, ORG_KEYS);
  const mspId = r.string(org['ID'], `${key}.ID`);
  const name = org['Name'] === undefined ? mspId : r.string(org['Name'], `${key}.Name`);
  const mspDir = r.path(org['MSPDir'], `${key}.MSPDir`);
  let mspConfig: msp.MSPConfig;
  try {
    mspConfig = mspConfigFromDir(mspDir, mspId);
  } catch (err) {
    if (err instanceof MspDirError) r.fail(`${key}.MSPDir`, err.message, err);
    throw err;
  }
  // An organization defined once may be listed under Orderer and Application (Fabric's SampleOrg):
  // as configtxgen does, its orderer endpoints count only under Orderer, its anchor peers only
  // under Application.
  let endpoints: string[] | undefined;
  if (isOrderer && org['OrdererEndpoints'] !== undefined) {
    endpoints = r.list(org['OrdererEndpoints'], `${key}.OrdererEndpoints`).map((e, i) => r.hostPort(e, `${key}.OrdererEndpoints[${i}]`));
  }
  const level = parseLevel(r, org, key);
  if (!isOrderer && org['AnchorPeers'] !== undefined && org['AnchorPeers'] !== null) {
    const anchorPeers = r.list(org['AnchorPeers'], `${key}.AnchorPeers`).map((p, i) => {
      const at = `${key}.AnchorPeers[${i}]`;
      const peer = r.map(p, at, ['Host', 'Port']);
      return { host: r.string(peer['Host'], `${at}.Host`), port: r.integer(peer['Port'], `${at}.Port`, 1, 65535) };
    });
    level.values = { AnchorPeers: { value: jsonToProtoBytes('peer.AnchorPeers', { anchor_peers: anchorPeers }), modPolicy: 'Admins' } };
  }
  return {
    spec: { mspId, name, msp: mspConfig, ...(endpoints !== undefined ? { endpoints } : {}) },
    level,
  };
}

/** Application.ACLs: API name → policy path, as peers read them (peer.ACLs). */
function parseAcls(r: ProfileReader, v: unknown, key: string): common.ConfigValueInit {
  const acls = r.map(v, key, Object.keys((v ?? {}) as object));
  const resources: Record<string, { policy_ref: string }> = {};
  for (const [name, ref] of Object.entries(acls)) resources[name] = { policy_ref: r.string(ref, `${key}.${name}`) };
  return { value: jsonToProtoBytes('peer.ACLs', { acls: resources }), modPolicy: 'Admins' };
}

function parseConsenter(r: ProfileReader, v: unknown, key: string): ConsenterSpec {
  const c = r.map(v, key, ['Host', 'Port', 'ClientTLSCert', 'ServerTLSCert', 'Identity']);
  if (c['Identity'] !== undefined) r.fail(`${key}.Identity`, 'is for BFT consenters; etcdraft consenters have none');
  return {
    host: r.string(c['Host'], `${key}.Host`),
    port: r.integer(c['Port'], `${key}.Port`, 1, 65535),
    clientTlsCert: r.pemFile(c['ClientTLSCert'], `${key}.ClientTLSCert`),
    serverTlsCert: r.pemFile(c['ServerTLSCert'], `${key}.ServerTLSCert`),
  };
}

function parseRaftOptions(r: ProfileReader, v: unknown, key: string): RaftOptionsSpec {
  const o = r.map(v, key, ['TickInterval', 'ElectionTick', 'HeartbeatTick', 'MaxInflightBlocks', 'SnapshotIntervalSize']);
  const u32 = (k: string): number | undefined => (o[k] === undefined ? undefined : r.integer(o[k], `${key}.${k}`, 1, 0xffffffff));
  const out: { -readonly [K in keyof RaftOptionsSpec]: RaftOptionsSpec[K] } = {};
  if (o['TickInterval'] !== undefined) out.tickInterval = r.string(o['TickInterval'], `${key}.TickInterval`);
  const electionTick = u32('ElectionTick');
  if (electionTick !== undefined) out.electionTick = electionTick;
  const heartbeatTick = u32('HeartbeatTick');
  if (heartbeatTick !== undefined) out.heartbeatTick = heartbeatTick;
  const maxInflightBlocks = u32('MaxInflightBlocks');
  if (maxInflightBlocks !== undefined) out.maxInflightBlocks = maxInflightBlocks;
  if (o['SnapshotIntervalSize'] !== undefined) out.snapshotIntervalSizeBytes = r.bytes(o['SnapshotIntervalSize'], `${key}.SnapshotIntervalSize`);
  return out;
}

/** What a profile asks for: the builder's spec plus the policies and capabilities it overrides. */
export interface GenesisProfile {
  readonly spec: ChannelConfigSpec;
  readonly channel: Level;
  readonly orderer: Level;
  readonly application: Level;
  /** Per org group key. */
  readonly ordererOrgs: Readonly<Record<string, Level>>;
  readonly applicationOrgs: Readonly<Record<string, Level>>;
}

/**
 * A profile from `text`: either a file that is one profile (the keys of a configtxgen profile at
 * the top, plus an Organizations list for anchors), or a configtx.yaml with a Profiles section,
 * of which `profileName` (or the only one) is taken; its other sections serve as anchors.
 */
export function parseGenesisProfile(file: string, text: string, channelId: string, profileName?: string): GenesisProfile {
  const r = new ProfileReader(file);
  const yamlDoc = parseDocument(text, { merge: true, uniqueKeys: true });
  if (yamlDoc.errors.length > 0) r.fail('(YAML)', yamlDoc.errors[0]!.message);
  const top = yamlDoc.toJS({ maxAliasCount: 1000 }) as unknown;
  const profileKeys = ['Organizations', 'Capabilities', 'Policies', 'Orderer', 'Application'];
  let doc: Yaml;
  if (typeof top === 'object' && top !== null && !Array.isArray(top) && Object.hasOwn(top, 'Profiles')) {
    const profiles = r.map((top as Yaml)['Profiles'], 'Profiles', Object.keys(((top as Yaml)['Profiles'] ?? {}) as object));
    const names = Object.keys(profiles);
    const name = profileName ?? (names.length === 1 ? names[0]! : r.fail('Profiles', `holds ${names.length} profiles (${names.join(', ')}): choose one with --profile-name`));
    if (!Object.hasOwn(profiles, name)) r.fail('Profiles', `has no profile ${JSON.stringify(name)} (it has ${names.join(', ')})`);
    r.prefix = `Profiles.${name}.`;
    const body = r.map(profiles[name], '', Object.keys((profiles[name] ?? {}) as object));
    for (const k of ['Consortium', 'Consortiums']) {
      if (Object.hasOwn(body, k)) r.fail(k, 'is for system channel profiles; an application channel profile has Orderer and Application');
    }
    doc = r.map(body, '', profileKeys);
  } else {
    if (profileName !== undefined) r.fail('Profiles', `is missing: --profile-name ${profileName} needs a configtx.yaml with a Profiles section`);
    doc = r.map(top, '', profileKeys);
  }

  const ord = r.map(doc['Orderer'], 'Orderer', ['OrdererType', 'Addresses', 'BatchTimeout', 'BatchSize', 'EtcdRaft', 'Organizations', 'Policies', 'Capabilities']);
  const type = ord['OrdererType'] === undefined ? 'etcdraft' : r.string(ord['OrdererType'], 'Orderer.OrdererType');
  if (type !== 'etcdraft') r.fail('Orderer.OrdererType', `${JSON.stringify(type)} is not supported (only etcdraft)`);
  const raft = r.map(ord['EtcdRaft'], 'Orderer.EtcdRaft', ['Consenters', 'Options']);
  const consenters = r.list(raft['Consenters'], 'Orderer.EtcdRaft.Consenters').map((c, i) => parseConsenter(r, c, `Orderer.EtcdRaft.Consenters[${i}]`));
  if (consenters.length === 0) r.fail('Orderer.EtcdRaft.Consenters', 'lists no consenter');

  const orgs = (v: unknown, key: string, isOrderer: boolean): ParsedOrg[] => {
    const list = r.list(v, key).map((o, i) => parseOrg(r, o, `${key}[${i}]`, isOrderer));
    if (list.length === 0) r.fail(key, 'lists no organization');
    return list;
  };
  const ordererOrgs = orgs(ord['Organizations'], 'Orderer.Organizations', true);
  if (doc['Application'] === undefined) r.fail('Application', 'is required (the channel\'s client organizations)');
  const app = r.map(doc['Application'], 'Application', ['Organizations', 'Policies', 'Capabilities', 'ACLs']);
  const applicationOrgs = orgs(app['Organizations'], 'Application.Organizations', false);

  let batchSize: { maxMessageCount?: number; absoluteMaxBytes?: number; preferredMaxBytes?: number } | undefined;
  if (ord['BatchSize'] !== undefined) {
    const b = r.map(ord['BatchSize'], 'Orderer.BatchSize', ['MaxMessageCount', 'AbsoluteMaxBytes', 'PreferredMaxBytes']);
    batchSize = {};
    if (b['MaxMessageCount'] !== undefined) batchSize.maxMessageCount = r.integer(b['MaxMessageCount'], 'Orderer.BatchSize.MaxMessageCount', 1, 0xffffffff);
    if (b['AbsoluteMaxBytes'] !== undefined) batchSize.absoluteMaxBytes = r.bytes(b['AbsoluteMaxBytes'], 'Orderer.BatchSize.AbsoluteMaxBytes');
    if (b['PreferredMaxBytes'] !== undefined) batchSize.preferredMaxBytes = r.bytes(b['PreferredMaxBytes'], 'Orderer.BatchSize.PreferredMaxBytes');
  }
  const spec: ChannelConfigSpec = {
    channelId,
    consenters,
    ordererOrgs: ordererOrgs.map((o) => o.spec),
    applicationOrgs: applicationOrgs.map((o) => o.spec),
    ...(batchSize !== undefined ? { batchSize } : {}),
    ...(ord['BatchTimeout'] !== undefined ? { batchTimeout: r.string(ord['BatchTimeout'], 'Orderer.BatchTimeout') } : {}),
    ...(raft['Options'] !== undefined ? { options: parseRaftOptions(r, raft['Options'], 'Orderer.EtcdRaft.Options') } : {}),
    ...(ord['Addresses'] !== undefined
      ? { ordererAddresses: r.list(ord['Addresses'], 'Orderer.Addresses').map((a, i) => r.hostPort(a, `Orderer.Addresses[${i}]`)) }
      : {}),
  };
  const orderer = parseLevel(r, ord, 'Orderer');
  if (orderer.policies !== undefined && !Object.hasOwn(orderer.policies, 'BlockValidation')) {
    r.fail('Orderer.Policies', 'has no BlockValidation policy (orderers and peers check block signatures with it; configtxgen uses ImplicitMeta "ANY Writers")');
  }
  const byName = (list: ParsedOrg[]): Record<string, Level> => Object.fromEntries(list.map((o) => [o.spec.name ?? o.spec.mspId, o.level]));
  return {
    spec,
    channel: parseLevel(r, doc, ''),
    orderer,
    application: { ...parseLevel(r, app, 'Application'), ...(app['ACLs'] !== undefined && app['ACLs'] !== null ? { values: { ACLs: parseAcls(r, app['ACLs'], 'Application.ACLs') } } : {}) },
    ordererOrgs: byName(ordererOrgs),
    applicationOrgs: byName(applicationOrgs),
  };
}

/** The profile's policies and capabilities in place of the builder's defaults, at one group. */
function applyLevel(group: common.ConfigGroupInit, level: Level | undefined): void {
  if (level === undefined) return;
  if (level.policies !== undefined) group.policies = level.policies;
  if (level.capabilities !== undefined) {
    const capabilities: Record<string, common.CapabilityInit> = {};
    for (const name of level.capabilities) capabilities[name] = {};
    group.values = { ...group.values, Capabilities: { value: common.Capabilities.encode({ capabilities }), modPolicy: 'Admins' } };
  }
  if (level.values !== undefined) group.values = { ...group.values, ...level.values };
}

/** The genesis block a profile describes, checked as an orderer would check it. */
export function genesisBlockFromProfile(profile: GenesisProfile, file: string): common.Block {
  let envelope: common.ConfigEnvelopeInit;
  try {
    envelope = buildGenesisConfigEnvelope(profile.spec);
  } catch (err) {
    if (err instanceof ChannelConfigError) throw new ConfigToolError(file, err.message, { cause: err });
    throw err;
  }
  const root = envelope.config!.channelGroup!;
  applyLevel(root, profile.channel);
  const ordererGroup = root.groups!['Orderer']!;
  const applicationGroup = root.groups!['Application']!;
  applyLevel(ordererGroup, profile.orderer);
  applyLevel(applicationGroup, profile.application);
  for (const [name, level] of Object.entries(profile.ordererOrgs)) applyLevel(ordererGroup.groups![name]!, level);
  for (const [name, level] of Object.entries(profile.applicationOrgs)) applyLevel(applicationGroup.groups![name]!, level);

  // Through bytes once: the block holds exactly what a reader of the file will decode.
  const block = common.Block.decode(common.Block.encode(genesisBlock({ channelId: profile.spec.channelId, configEnvelope: envelope })));
  try {
    parseConfigBlock(block);
    // The MSPs and policies build: an orderer given this block can evaluate its policies.
    ConfigChannelAccess.fromConfig(profile.spec.channelId, configEnvelopeFromBlock(block).configEnvelope.config!);
  } catch (err) {
    if (err instanceof ChannelConfigError) throw new ConfigToolError(file, `the channel config it describes is not valid: ${err.message}`, { cause: err });
    throw err;
  }
  return block;
}

export function runGenesis(flags: Record<string, string | boolean | undefined>): void {
  const profileFile = flags['profile'];
  const channelId = flags['channel'];
  const output = flags['output'];
  for (const [name, v] of [['profile', profileFile], ['channel', channelId], ['output', output]] as const) {
    if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  }
  const input = readInput(profileFile as string);
  const profileName = flags['profile-name'];
  if (profileName !== undefined && (typeof profileName !== 'string' || profileName === '')) throw new UsageError('--profile-name needs a value');
  const profile = parseGenesisProfile(input.name, Buffer.from(input.bytes).toString('utf8'), channelId as string, profileName);
  const block = genesisBlockFromProfile(profile, input.name);
  writeOutput(output as string, common.Block.encode(block), { binary: true });
}
