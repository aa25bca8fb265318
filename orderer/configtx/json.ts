// Fabric's JSON form of config messages, as configtxlator's proto_decode / proto_encode write and
// read it (fabric-config's protolator): protojson with proto field names and every field present
// (bytes base64, 64-bit integers as strings, enums by name, empty bytes as ""), and the opaque
// bytes fields a config is made of decoded in place: Envelope.payload, the headers, Payload.data by
// header type, config values by their key and group, policies by their type, MSP configs and
// principals by their kind. An opaque field holding nothing is null, as in protolator.
//
// So the jq paths of Fabric's documentation work on our output, e.g.
// `.data.data[0].payload.data.config.channel_group.groups.Orderer.values.BatchSize.value.max_message_count`,
// and JSON → proto → JSON is stable. Where protolator would refuse (a value key it does not know,
// messages we have no codec for: endorser transactions, Idemix MSPs, BFT options) the
// field stays base64 bytes instead, so any config still decodes, and encodes back to the same content
// (and the same bytes, for bytes written with map keys sorted as ours are).
//
// The output text follows Go's encoding/json as protolator uses it: keys sorted, tab indentation,
// '<', '>' and '&' escaped as \u003c..., a final newline.
import { common, etcdraft, google_protobuf, msp, orderer, type MessageCodec } from '../../protos';
import { formatJson } from './json-text';
import { PEER_CODECS } from './peer-codecs';

export { formatJson } from './json-text';

/** A JSON document or an element of one. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
type JsonObject = { [key: string]: JsonValue };

/** JSON that does not describe the message, or bytes that do not decode; `path` is a jq-like path. */
export class ProtoJsonError extends Error {
  override readonly name = 'ProtoJsonError';

  constructor(
    readonly path: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path === '' ? '.' : path}: ${reason}`, options);
  }
}

/** A decoded message or a message being built, seen field by field. */
type ProtoObject = Record<string, unknown>;

interface AnyCodec {
  readonly typeName: string;
  encode(message: ProtoObject): Uint8Array;
  decode(bytes: Uint8Array): ProtoObject;
}

/** The generated codecs take their own interfaces; the JSON walker builds them field by field from
 *  the table below, which lists exactly the interfaces' properties. */
function erase<T, I>(codec: MessageCodec<T, I>): AnyCodec {
  return codec as unknown as AnyCodec;
}

type Scalar = 'string' | 'bool' | 'int32' | 'uint32' | 'uint64' | 'bytes';

/** Which part of the config tree a ConfigGroup is: decides how its values decode (protolator's Dynamic*Group). */
type GroupKind =
  | 'channel'
  | 'orderer'
  | 'ordererOrg'
  | 'application'
  | 'applicationOrg'
  | 'consortiums'
  | 'consortium'
  | 'consortiumOrg'
  | 'unknown';

interface Context {
  readonly group: GroupKind;
  /** The key of the ConfigValue being converted. */
  readonly valueKey?: string;
}

/** The message an opaque bytes field holds, given the message around it; undefined = leave as bytes. */
type Resolver = (parent: ProtoObject, ctx: Context) => string | undefined;

type FieldSpec = { readonly json: string; readonly prop: string } & (
  | { readonly kind: 'scalar'; readonly type: Scalar; readonly label?: 'repeated' | 'map'; readonly oneof?: true }
  | { readonly kind: 'enum'; readonly names: Readonly<Record<number, string>> }
  | {
      readonly kind: 'message';
      readonly type: string;
      readonly label?: 'repeated' | 'map';
      readonly oneof?: true;
      /** A ConfigGroup at the root of a config tree (Config.channel_group, the update's sets). */
      readonly root?: true;
    }
  | { readonly kind: 'opaque'; readonly resolve: Resolver; readonly label?: 'repeated' }
);

interface MessageSpec {
  readonly codec: AnyCodec;
  readonly fields: readonly FieldSpec[];
}

function camel(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

// Field builders, in proto field order (the order matters: a resolver reads fields converted before it).
const s = (json: string, type: Scalar, label?: 'repeated' | 'map'): FieldSpec => ({ json, prop: camel(json), kind: 'scalar', type, ...(label ? { label } : {}) });
const e = (json: string, names: Readonly<Record<number, string>>): FieldSpec => ({ json, prop: camel(json), kind: 'enum', names });
const m = (json: string, type: string, label?: 'repeated' | 'map'): FieldSpec => ({ json, prop: camel(json), kind: 'message', type, ...(label ? { label } : {}) });
const o = (json: string, resolve: Resolver, label?: 'repeated'): FieldSpec => ({ json, prop: camel(json), kind: 'opaque', resolve, ...(label ? { label } : {}) });
const fixed = (type: string): Resolver => () => type;

function headerType(parent: ProtoObject): number | undefined {
  const header = parent['header'] as common.HeaderInit | undefined;
  const bytes = header?.channelHeader;
  if (bytes === undefined || bytes.length === 0) return undefined;
  return common.ChannelHeader.decode(bytes).type;
}

/** Payload.data by the channel header's type (protolator's Payload extension). */
const payloadData: Resolver = (parent) => {
  switch (headerType(parent)) {
    case common.HeaderType.CONFIG:
      return 'common.ConfigEnvelope';
    case common.HeaderType.CONFIG_UPDATE:
      return 'common.ConfigUpdateEnvelope';
    case common.HeaderType.ORDERER_TRANSACTION:
      return 'common.Envelope';
    case common.HeaderType.MESSAGE:
      return 'common.ConfigValue';
    default:
      // Endorser transactions are peer messages: no codec here.
      return undefined;
  }
};

const CONFIG_VALUE_TYPES: Readonly<Record<GroupKind, Readonly<Record<string, string>>>> = {
  channel: {
    HashingAlgorithm: 'common.HashingAlgorithm',
    BlockDataHashingStructure: 'common.BlockDataHashingStructure',
    OrdererAddresses: 'common.OrdererAddresses',
    Consortium: 'common.Consortium',
    Capabilities: 'common.Capabilities',
  },
  orderer: {
    ConsensusType: 'orderer.ConsensusType',
    BatchSize: 'orderer.BatchSize',
    BatchTimeout: 'orderer.BatchTimeout',
    KafkaBrokers: 'orderer.KafkaBrokers',
    ChannelRestrictions: 'orderer.ChannelRestrictions',
    Capabilities: 'common.Capabilities',
  },
  ordererOrg: { MSP: 'msp.MSPConfig', Endpoints: 'common.OrdererAddresses' },
  application: { Capabilities: 'common.Capabilities', ACLs: 'peer.ACLs' },
  applicationOrg: { MSP: 'msp.MSPConfig', AnchorPeers: 'peer.AnchorPeers' },
  consortiums: {},
  consortium: { ChannelCreationPolicy: 'common.Policy' },
  consortiumOrg: { MSP: 'msp.MSPConfig' },
  unknown: {},
};

function subgroupKind(parent: GroupKind, key: string): GroupKind {
  switch (parent) {
    case 'channel':
      return key === 'Orderer' ? 'orderer' : key === 'Application' ? 'application' : key === 'Consortiums' ? 'consortiums' : 'unknown';
    case 'orderer':
      return 'ordererOrg';
    case 'application':
      return 'applicationOrg';
    case 'consortiums':
      return 'consortium';
    case 'consortium':
      return 'consortiumOrg';
    default:
      return 'unknown';
  }
}

/**
 * The message type of the config value `key` in a group at `groupPath` (group names below
 * /Channel, e.g. ['Orderer', 'OrdererOrg']), or undefined when it is not one we decode.
 */
export function configValueType(groupPath: readonly string[], key: string): string | undefined {
  let kind: GroupKind = 'channel';
  for (const name of groupPath) kind = subgroupKind(kind, name);
  return Object.hasOwn(CONFIG_VALUE_TYPES[kind], key) ? CONFIG_VALUE_TYPES[kind][key] : undefined;
}

const configValue: Resolver = (_parent, ctx) => {
  const types = CONFIG_VALUE_TYPES[ctx.group];
  return ctx.valueKey !== undefined && Object.hasOwn(types, ctx.valueKey) ? types[ctx.valueKey] : undefined;
};

const policyValue: Resolver = (parent) => {
  switch (parent['type']) {
    case common.Policy_PolicyType.SIGNATURE:
      return 'common.SignaturePolicyEnvelope';
    case common.Policy_PolicyType.IMPLICIT_META:
      return 'common.ImplicitMetaPolicy';
    default:
      return undefined;
  }
};

const principal: Resolver = (parent) => {
  switch (parent['principalClassification'] ?? common.MSPPrincipal_Classification.ROLE) {
    case common.MSPPrincipal_Classification.ROLE:
      return 'common.MSPRole';
    case common.MSPPrincipal_Classification.ORGANIZATION_UNIT:
      return 'common.OrganizationUnit';
    case common.MSPPrincipal_Classification.IDENTITY:
      return 'msp.SerializedIdentity';
    default:
      return undefined;
  }
};

// MSP type 0 is Fabric's X.509 MSP; Idemix (1) has no codec here.
const mspConfig: Resolver = (parent) => ((parent['type'] ?? 0) === 0 ? 'msp.FabricMSPConfig' : undefined);

// Only etcdraft carries metadata we know (BFT's smartbft.Options has no codec here).
const consensusMetadata: Resolver = (parent) => (parent['type'] === 'etcdraft' ? 'etcdraft.ConfigMetadata' : undefined);

const MESSAGES: Readonly<Record<string, MessageSpec>> = {
  'peer.ACLs': { codec: PEER_CODECS['peer.ACLs']!, fields: [m('acls', 'peer.APIResource', 'map')] },
  'peer.APIResource': { codec: PEER_CODECS['peer.APIResource']!, fields: [s('policy_ref', 'string')] },
  'peer.AnchorPeers': { codec: PEER_CODECS['peer.AnchorPeers']!, fields: [m('anchor_peers', 'peer.AnchorPeer', 'repeated')] },
  'peer.AnchorPeer': { codec: PEER_CODECS['peer.AnchorPeer']!, fields: [s('host', 'string'), s('port', 'int32')] },
  'common.Block': { codec: erase(common.Block), fields: [m('header', 'common.BlockHeader'), m('data', 'common.BlockData'), m('metadata', 'common.BlockMetadata')] },
  'common.BlockHeader': { codec: erase(common.BlockHeader), fields: [s('number', 'uint64'), s('previous_hash', 'bytes'), s('data_hash', 'bytes')] },
  'common.BlockData': { codec: erase(common.BlockData), fields: [o('data', fixed('common.Envelope'), 'repeated')] },
  // protolator leaves block metadata as bytes.
  'common.BlockMetadata': { codec: erase(common.BlockMetadata), fields: [s('metadata', 'bytes', 'repeated')] },
  'common.Envelope': { codec: erase(common.Envelope), fields: [o('payload', fixed('common.Payload')), s('signature', 'bytes')] },
  'common.Payload': { codec: erase(common.Payload), fields: [m('header', 'common.Header'), o('data', payloadData)] },
  'common.Header': {
    codec: erase(common.Header),
    fields: [o('channel_header', fixed('common.ChannelHeader')), o('signature_header', fixed('common.SignatureHeader'))],
  },
  'common.ChannelHeader': {
    codec: erase(common.ChannelHeader),
    fields: [
      s('type', 'int32'),
      s('version', 'int32'),
      m('timestamp', 'google.protobuf.Timestamp'),
      s('channel_id', 'string'),
      s('tx_id', 'string'),
      s('epoch', 'uint64'),
      // Only endorser transactions have one (a peer message): bytes, null when empty.
      o('extension', () => undefined),
      s('tls_cert_hash', 'bytes'),
    ],
  },
  'common.SignatureHeader': { codec: erase(common.SignatureHeader), fields: [o('creator', fixed('msp.SerializedIdentity')), s('nonce', 'bytes')] },
  'common.ConfigEnvelope': { codec: erase(common.ConfigEnvelope), fields: [m('config', 'common.Config'), m('last_update', 'common.Envelope')] },
  'common.Config': { codec: erase(common.Config), fields: [s('sequence', 'uint64'), { ...m('channel_group', 'common.ConfigGroup'), root: true } as FieldSpec] },
  'common.ConfigUpdateEnvelope': {
    codec: erase(common.ConfigUpdateEnvelope),
    fields: [o('config_update', fixed('common.ConfigUpdate')), m('signatures', 'common.ConfigSignature', 'repeated')],
  },
  'common.ConfigUpdate': {
    codec: erase(common.ConfigUpdate),
    fields: [
      s('channel_id', 'string'),
      { ...m('read_set', 'common.ConfigGroup'), root: true } as FieldSpec,
      { ...m('write_set', 'common.ConfigGroup'), root: true } as FieldSpec,
      s('isolated_data', 'bytes', 'map'),
    ],
  },
  'common.ConfigGroup': {
    codec: erase(common.ConfigGroup),
    fields: [
      s('version', 'uint64'),
      m('groups', 'common.ConfigGroup', 'map'),
      m('values', 'common.ConfigValue', 'map'),
      m('policies', 'common.ConfigPolicy', 'map'),
      s('mod_policy', 'string'),
    ],
  },
  'common.ConfigValue': { codec: erase(common.ConfigValue), fields: [s('version', 'uint64'), o('value', configValue), s('mod_policy', 'string')] },
  'common.ConfigPolicy': { codec: erase(common.ConfigPolicy), fields: [s('version', 'uint64'), m('policy', 'common.Policy'), s('mod_policy', 'string')] },
  'common.ConfigSignature': { codec: erase(common.ConfigSignature), fields: [o('signature_header', fixed('common.SignatureHeader')), s('signature', 'bytes')] },
  'common.Policy': { codec: erase(common.Policy), fields: [s('type', 'int32'), o('value', policyValue)] },
  'common.SignaturePolicyEnvelope': {
    codec: erase(common.SignaturePolicyEnvelope),
    fields: [s('version', 'int32'), m('rule', 'common.SignaturePolicy'), m('identities', 'common.MSPPrincipal', 'repeated')],
  },
  'common.SignaturePolicy': {
    codec: erase(common.SignaturePolicy),
    fields: [
      { ...s('signed_by', 'int32'), oneof: true } as FieldSpec,
      { ...m('n_out_of', 'common.SignaturePolicy.NOutOf'), oneof: true } as FieldSpec,
    ],
  },
  'common.SignaturePolicy.NOutOf': { codec: erase(common.SignaturePolicy_NOutOf), fields: [s('n', 'int32'), m('rules', 'common.SignaturePolicy', 'repeated')] },
  'common.ImplicitMetaPolicy': { codec: erase(common.ImplicitMetaPolicy), fields: [s('sub_policy', 'string'), e('rule', common.ImplicitMetaPolicy_Rule)] },
  'common.MSPPrincipal': {
    codec: erase(common.MSPPrincipal),
    fields: [e('principal_classification', common.MSPPrincipal_Classification), o('principal', principal)],
  },
  'common.MSPRole': { codec: erase(common.MSPRole), fields: [s('msp_identifier', 'string'), e('role', common.MSPRole_MSPRoleType)] },
  'common.OrganizationUnit': {
    codec: erase(common.OrganizationUnit),
    fields: [s('msp_identifier', 'string'), s('organizational_unit_identifier', 'string'), s('certifiers_identifier', 'bytes')],
  },
  'common.HashingAlgorithm': { codec: erase(common.HashingAlgorithm), fields: [s('name', 'string')] },
  'common.BlockDataHashingStructure': { codec: erase(common.BlockDataHashingStructure), fields: [s('width', 'uint32')] },
  'common.OrdererAddresses': { codec: erase(common.OrdererAddresses), fields: [s('addresses', 'string', 'repeated')] },
  'common.Consortium': { codec: erase(common.Consortium), fields: [s('name', 'string')] },
  'common.Capabilities': { codec: erase(common.Capabilities), fields: [m('capabilities', 'common.Capability', 'map')] },
  'common.Capability': { codec: erase(common.Capability), fields: [] },
  'msp.SerializedIdentity': { codec: erase(msp.SerializedIdentity), fields: [s('mspid', 'string'), s('id_bytes', 'bytes')] },
  'msp.MSPConfig': { codec: erase(msp.MSPConfig), fields: [s('type', 'int32'), o('config', mspConfig)] },
  'msp.FabricMSPConfig': {
    codec: erase(msp.FabricMSPConfig),
    fields: [
      s('name', 'string'),
      s('root_certs', 'bytes', 'repeated'),
      s('intermediate_certs', 'bytes', 'repeated'),
      s('admins', 'bytes', 'repeated'),
      s('revocation_list', 'bytes', 'repeated'),
      m('signing_identity', 'msp.SigningIdentityInfo'),
      m('organizational_unit_identifiers', 'msp.FabricOUIdentifier', 'repeated'),
      m('crypto_config', 'msp.FabricCryptoConfig'),
      s('tls_root_certs', 'bytes', 'repeated'),
      s('tls_intermediate_certs', 'bytes', 'repeated'),
      m('fabric_node_ous', 'msp.FabricNodeOUs'),
    ],
  },
  'msp.FabricCryptoConfig': {
    codec: erase(msp.FabricCryptoConfig),
    fields: [s('signature_hash_family', 'string'), s('identity_identifier_hash_function', 'string')],
  },
  'msp.SigningIdentityInfo': { codec: erase(msp.SigningIdentityInfo), fields: [s('public_signer', 'bytes'), m('private_signer', 'msp.KeyInfo')] },
  'msp.KeyInfo': { codec: erase(msp.KeyInfo), fields: [s('key_identifier', 'string'), s('key_material', 'bytes')] },
  'msp.FabricOUIdentifier': { codec: erase(msp.FabricOUIdentifier), fields: [s('certificate', 'bytes'), s('organizational_unit_identifier', 'string')] },
  'msp.FabricNodeOUs': {
    codec: erase(msp.FabricNodeOUs),
    fields: [
      s('enable', 'bool'),
      m('client_ou_identifier', 'msp.FabricOUIdentifier'),
      m('peer_ou_identifier', 'msp.FabricOUIdentifier'),
      m('admin_ou_identifier', 'msp.FabricOUIdentifier'),
      m('orderer_ou_identifier', 'msp.FabricOUIdentifier'),
    ],
  },
  'orderer.ConsensusType': {
    codec: erase(orderer.ConsensusType),
    fields: [s('type', 'string'), o('metadata', consensusMetadata), e('state', orderer.ConsensusType_State)],
  },
  'orderer.BatchSize': {
    codec: erase(orderer.BatchSize),
    fields: [s('max_message_count', 'uint32'), s('absolute_max_bytes', 'uint32'), s('preferred_max_bytes', 'uint32')],
  },
  'orderer.BatchTimeout': { codec: erase(orderer.BatchTimeout), fields: [s('timeout', 'string')] },
  'orderer.KafkaBrokers': { codec: erase(orderer.KafkaBrokers), fields: [s('brokers', 'string', 'repeated')] },
  'orderer.ChannelRestrictions': { codec: erase(orderer.ChannelRestrictions), fields: [s('max_count', 'uint64')] },
  'etcdraft.ConfigMetadata': { codec: erase(etcdraft.ConfigMetadata), fields: [m('consenters', 'etcdraft.Consenter', 'repeated'), m('options', 'etcdraft.Options')] },
  'etcdraft.Consenter': {
    codec: erase(etcdraft.Consenter),
    fields: [s('host', 'string'), s('port', 'uint32'), s('client_tls_cert', 'bytes'), s('server_tls_cert', 'bytes')],
  },
  'etcdraft.Options': {
    codec: erase(etcdraft.Options),
    fields: [
      s('tick_interval', 'string'),
      s('election_tick', 'uint32'),
      s('heartbeat_tick', 'uint32'),
      s('max_inflight_blocks', 'uint32'),
      s('snapshot_interval_size', 'uint32'),
    ],
  },
};

const TIMESTAMP = 'google.protobuf.Timestamp';

/** The message types `orderer config decode/encode --type` accept (Fabric's names). */
export const JSON_MESSAGE_TYPES: readonly string[] = Object.keys(MESSAGES).sort();

function spec(type: string, path: string): MessageSpec {
  const found = Object.hasOwn(MESSAGES, type) ? MESSAGES[type] : undefined;
  if (found === undefined) throw new ProtoJsonError(path, `message type ${type} is not supported (known: ${JSON_MESSAGE_TYPES.join(', ')})`);
  return found;
}

export function isJsonMessageType(type: string): boolean {
  return Object.hasOwn(MESSAGES, type);
}

// ---------------------------------------------------------------------------------------------
// proto → JSON

const TWO_POW_64 = 18446744073709551616;

function uint64ToJson(n: number): string {
  // Numbers from 2^64 up are how the codecs carry 2^64-1 (protos/README.md).
  if (n >= TWO_POW_64) return '18446744073709551615';
  return BigInt(n).toString();
}

function scalarToJson(type: Scalar, v: unknown): JsonValue {
  switch (type) {
    case 'bytes':
      return Buffer.from((v as Uint8Array | undefined) ?? new Uint8Array(0)).toString('base64');
    case 'uint64':
      return uint64ToJson((v as number | undefined) ?? 0);
    case 'int32':
    case 'uint32':
      return (v as number | undefined) ?? 0;
    case 'bool':
      return (v as boolean | undefined) ?? false;
    case 'string':
      return (v as string | undefined) ?? '';
  }
}

function timestampToJson(t: google_protobuf.Timestamp): string {
  // protojson: RFC 3339 in UTC, with 0, 3, 6 or 9 fractional digits.
  const iso = new Date(t.seconds * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  if (t.nanos === 0) return `${iso}Z`;
  let frac = String(t.nanos).padStart(9, '0');
  while (frac.endsWith('000')) frac = frac.slice(0, -3);
  return `${iso}.${frac}Z`;
}

function opaqueToJson(field: FieldSpec & { kind: 'opaque' }, bytes: Uint8Array, parent: ProtoObject, ctx: Context, path: string): JsonValue {
  // protolator writes null for an opaque field that holds nothing.
  if (bytes.length === 0) return null;
  const type = field.resolve(parent, ctx);
  if (type === undefined) return Buffer.from(bytes).toString('base64');
  let decoded: ProtoObject;
  try {
    decoded = spec(type, path).codec.decode(bytes);
  } catch (err) {
    throw new ProtoJsonError(path, `does not decode as ${type}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return messageToJson(type, decoded, ctx, path);
}

function childContext(field: FieldSpec, ctx: Context, key: string | undefined): Context {
  if (field.kind !== 'message') return ctx;
  if (field.root === true) return { group: 'channel' };
  if (key !== undefined && field.type === 'common.ConfigGroup') return { group: subgroupKind(ctx.group, key) };
  if (key !== undefined && field.type === 'common.ConfigValue') return { group: ctx.group, valueKey: key };
  return ctx;
}

/** A JSON object for map entries: no prototype, so a key such as "__proto__" is just a key. */
function jsonMap(): JsonObject {
  return Object.create(null) as JsonObject;
}

function messageToJson(type: string, message: ProtoObject, ctx: Context, path: string): JsonObject {
  const out: JsonObject = {};
  for (const field of spec(type, path).fields) {
    const v = message[field.prop];
    const at = `${path}.${field.json}`;
    switch (field.kind) {
      case 'scalar':
        if (field.oneof === true && v === undefined) break;
        if (field.label === 'repeated') out[field.json] = ((v as unknown[] | undefined) ?? []).map((x) => scalarToJson(field.type, x));
        else if (field.label === 'map') {
          const map = jsonMap();
          for (const [k, x] of Object.entries((v as Record<string, unknown> | undefined) ?? {})) map[k] = scalarToJson(field.type, x);
          out[field.json] = map;
        } else out[field.json] = scalarToJson(field.type, v);
        break;
      case 'enum': {
        const n = (v as number | undefined) ?? 0;
        out[field.json] = field.names[n] ?? n;
        break;
      }
      case 'message': {
        if (field.oneof === true && v === undefined) break;
        const one = (x: unknown, key: string | undefined, p: string): JsonValue =>
          field.type === TIMESTAMP ? timestampToJson(x as google_protobuf.Timestamp) : messageToJson(field.type, x as ProtoObject, childContext(field, ctx, key), p);
        if (field.label === 'repeated') out[field.json] = ((v as unknown[] | undefined) ?? []).map((x, i) => one(x, undefined, `${at}[${i}]`));
        else if (field.label === 'map') {
          const map = jsonMap();
          for (const [k, x] of Object.entries((v as Record<string, unknown> | undefined) ?? {})) map[k] = one(x, k, `${at}.${k}`);
          out[field.json] = map;
        } else out[field.json] = v === undefined ? null : one(v, undefined, at);
        break;
      }
      case 'opaque':
        if (field.label === 'repeated') {
          out[field.json] = ((v as Uint8Array[] | undefined) ?? []).map((x, i) => opaqueToJson(field, x, message, ctx, `${at}[${i}]`));
        } else out[field.json] = opaqueToJson(field, (v as Uint8Array | undefined) ?? new Uint8Array(0), message, ctx, at);
        break;
    }
  }
  return out;
}

/** The protolator JSON tree of `bytes`, a marshaled message of `type` (e.g. 'common.Block'). */
export function protoBytesToJson(type: string, bytes: Uint8Array): JsonObject {
  const { codec } = spec(type, '');
  let decoded: ProtoObject;
  try {
    decoded = codec.decode(bytes);
  } catch (err) {
    throw new ProtoJsonError('', `does not decode as ${type}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return messageToJson(type, decoded, { group: 'unknown' }, '');
}

// ---------------------------------------------------------------------------------------------
// JSON → proto

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: JsonValue): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function base64ToBytes(v: JsonValue, path: string): Uint8Array {
  if (v === null) return new Uint8Array(0);
  // protojson takes standard and URL-safe base64, padded or not.
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/\-_]*={0,2}$/.test(v)) throw new ProtoJsonError(path, `expected base64 bytes, got ${describe(v)}`);
  return new Uint8Array(Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
}

function integerFromJson(v: JsonValue, path: string, min: number, max: number, what: string): number {
  // protojson accepts integers as numbers or as decimal strings.
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^-?\d+$/.test(v)) n = Number(v);
  else throw new ProtoJsonError(path, `expected ${what}, got ${describe(v)}`);
  if (!Number.isInteger(n) || n < min || n > max) throw new ProtoJsonError(path, `${String(v)} is not a ${what}`);
  return n;
}

function scalarFromJson(type: Scalar, v: JsonValue, path: string): unknown {
  switch (type) {
    case 'bytes':
      return base64ToBytes(v, path);
    case 'uint64':
      if (v === null) return 0;
      return integerFromJson(v, path, 0, TWO_POW_64, 'uint64');
    case 'int32':
      if (v === null) return 0;
      return integerFromJson(v, path, -2147483648, 2147483647, 'int32');
    case 'uint32':
      if (v === null) return 0;
      return integerFromJson(v, path, 0, 4294967295, 'uint32');
    case 'bool':
      if (v === null) return false;
      if (typeof v !== 'boolean') throw new ProtoJsonError(path, `expected true or false, got ${describe(v)}`);
      return v;
    case 'string':
      if (v === null) return '';
      if (typeof v !== 'string') throw new ProtoJsonError(path, `expected a string, got ${describe(v)}`);
      return v;
  }
}

function timestampFromJson(v: JsonValue, path: string): google_protobuf.TimestampInit {
  const match = typeof v === 'string' ? /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(v) : null;
  if (match === null) throw new ProtoJsonError(path, `expected an RFC 3339 timestamp such as "2024-01-02T03:04:05Z", got ${describe(v)}`);
  const ms = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(ms)) throw new ProtoJsonError(path, `${String(v)} is not a valid time`);
  return { seconds: Math.floor(ms / 1000), nanos: Number((match[2] ?? '').padEnd(9, '0')) };
}

function arrayOf(v: JsonValue, path: string): JsonValue[] {
  if (v === null) return [];
  if (!Array.isArray(v)) throw new ProtoJsonError(path, `expected an array, got ${describe(v)}`);
  return v;
}

function mapOf(v: JsonValue, path: string): JsonObject {
  if (v === null) return {};
  if (!isObject(v)) throw new ProtoJsonError(path, `expected an object, got ${describe(v)}`);
  return v;
}

function opaqueFromJson(field: FieldSpec & { kind: 'opaque' }, v: JsonValue, parent: ProtoObject, ctx: Context, path: string): Uint8Array {
  if (v === null) return new Uint8Array(0);
  // Bytes we left undecoded (or a user's own base64) go back as they are.
  if (typeof v === 'string') return base64ToBytes(v, path);
  const type = field.resolve(parent, ctx);
  if (type === undefined) throw new ProtoJsonError(path, 'expected base64 bytes: this field\'s message type is not known here');
  return spec(type, path).codec.encode(messageFromJson(type, v, ctx, path));
}

function messageFromJson(type: string, v: JsonValue, ctx: Context, path: string): ProtoObject {
  if (!isObject(v)) throw new ProtoJsonError(path, `expected a ${type} object, got ${describe(v)}`);
  const { fields } = spec(type, path);
  for (const key of Object.keys(v)) {
    if (!fields.some((f) => f.json === key)) throw new ProtoJsonError(`${path}.${key}`, `${type} has no field ${key}`);
  }
  const out: ProtoObject = {};
  for (const field of fields) {
    if (!Object.hasOwn(v, field.json)) continue;
    const x = v[field.json]!;
    const at = `${path}.${field.json}`;
    switch (field.kind) {
      case 'scalar':
        if (field.label === 'repeated') out[field.prop] = arrayOf(x, at).map((y, i) => scalarFromJson(field.type, y, `${at}[${i}]`));
        else if (field.label === 'map') {
          const map: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
          for (const [k, y] of Object.entries(mapOf(x, at))) map[k] = scalarFromJson(field.type, y, `${at}.${k}`);
          out[field.prop] = map;
        } else if (!(field.oneof === true && x === null)) out[field.prop] = scalarFromJson(field.type, x, at);
        break;
      case 'enum': {
        if (x === null) break;
        const names = field.names;
        if (typeof x === 'string') {
          const n = Object.keys(names).map(Number).find((k) => names[k] === x);
          if (n === undefined) throw new ProtoJsonError(at, `${JSON.stringify(x)} is not one of ${Object.values(names).filter((n) => typeof n === 'string').join(', ')}`);
          out[field.prop] = n;
        } else out[field.prop] = integerFromJson(x, at, -2147483648, 2147483647, 'enum number');
        break;
      }
      case 'message': {
        const one = (y: JsonValue, key: string | undefined, p: string): unknown =>
          field.type === TIMESTAMP ? timestampFromJson(y, p) : messageFromJson(field.type, y, childContext(field, ctx, key), p);
        if (field.label === 'repeated') out[field.prop] = arrayOf(x, at).map((y, i) => one(y, undefined, `${at}[${i}]`));
        else if (field.label === 'map') {
          const map: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
          for (const [k, y] of Object.entries(mapOf(x, at))) map[k] = one(y, k, `${at}.${k}`);
          out[field.prop] = map;
        } else if (x !== null) out[field.prop] = one(x, undefined, at);
        break;
      }
      case 'opaque':
        if (field.label === 'repeated') out[field.prop] = arrayOf(x, at).map((y, i) => opaqueFromJson(field, y, out, ctx, `${at}[${i}]`));
        else out[field.prop] = opaqueFromJson(field, x, out, ctx, at);
        break;
    }
  }
  return out;
}

/** The marshaled message of `type` that the protolator JSON tree `json` describes. */
export function jsonToProtoBytes(type: string, json: JsonValue): Uint8Array {
  const { codec } = spec(type, '');
  return codec.encode(messageFromJson(type, json, { group: 'unknown' }, ''));
}

// ---------------------------------------------------------------------------------------------
// Text (the output format itself is in json-text.ts)

/** Parses JSON text; a syntax error becomes a ProtoJsonError. */
export function parseJson(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new ProtoJsonError('', `not JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** `bytes` (a marshaled `type`) as protolator JSON text. */
export function protoToJsonText(type: string, bytes: Uint8Array): string {
  return formatJson(protoBytesToJson(type, bytes));
}

/** Protolator JSON text back to the marshaled `type`. */
export function jsonTextToProto(type: string, text: string): Uint8Array {
  return jsonToProtoBytes(type, parseJson(text));
}

/**
 * `bytes` as they would be after a decode/encode through their known message type (map keys
 * sorted, defaults omitted), so two encodings of the same message compare equal. Unknown types
 * and undecodable bytes come back unchanged.
 */
export function canonicalBytes(type: string | undefined, bytes: Uint8Array): Uint8Array {
  if (type === undefined || bytes.length === 0) return bytes;
  try {
    return jsonToProtoBytes(type, protoBytesToJson(type, bytes));
  } catch (err) {
    // Not decodable as its type: only byte equality can compare it.
    if (err instanceof ProtoJsonError) return bytes;
    throw err;
  }
}
