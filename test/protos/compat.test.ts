// Wire compatibility with Fabric's published JS bindings (@hyperledger/fabric-protos,
// google-protobuf): every message of the Fabric packages, with every field set, is built on
// one side and read on the other, in both directions, and the bytes must be identical.
import protobuf from 'protobufjs';
import { common, etcdraft, google_protobuf, msp, orderer, type MessageCodec } from '../../protos';
import {
  buildFabric,
  camel,
  canonFabric,
  enumTypes,
  FABRIC_ONLY,
  fabricClass,
  fabricThing,
  jspbKeys,
  loadSchema,
  markSetFields,
  messageTypes,
  toJspbShape,
  type Obj,
} from './jspb-bridge';

const schema = loadSchema();
const FABRIC_PACKAGES = ['common', 'msp', 'orderer', 'etcdraft'];
const OUR_MODULES: Record<string, object> = { common, msp, orderer, etcdraft, 'google.protobuf': google_protobuf };

const utf8 = new TextEncoder();
const b = (s: string): Uint8Array => utf8.encode(s);
const hex = (x: Uint8Array): string => Buffer.from(x).toString('hex');

interface Row {
  codec: MessageCodec<unknown, unknown>;
  samples: Obj[];
}
function row<T, I>(codec: MessageCodec<T, I>, ...samples: I[]): Row {
  return { codec, samples: samples as unknown as Obj[] };
}

// ---- samples: every field non-default somewhere, shared pieces reused ----
const envelope: common.EnvelopeInit = { payload: b('payload bytes'), signature: b('signature') };
const timestamp: google_protobuf.TimestampInit = { seconds: 1_700_000_000, nanos: 123_456_789 };
const channelHeader: common.ChannelHeaderInit = {
  type: common.HeaderType.ENDORSER_TRANSACTION,
  version: 1,
  timestamp,
  channelId: 'mychannel',
  txId: 'f00dcafe',
  epoch: 7,
  extension: b('extension'),
  tlsCertHash: b('tls cert hash'),
};
// Negative int32/int64 go out as ten-byte varints on both sides.
const negativeHeader: common.ChannelHeaderInit = { type: -1, version: -2, timestamp: { seconds: -62_135_596_800, nanos: 1 } };
const header: common.HeaderInit = { channelHeader: common.ChannelHeader.encode(channelHeader), signatureHeader: b('sig header') };
const blockHeader: common.BlockHeaderInit = { number: 2 ** 53 - 1, previousHash: b('previous'), dataHash: b('data hash') };
const block: common.BlockInit = {
  header: blockHeader,
  data: { data: [common.Envelope.encode(envelope), new Uint8Array(0), b('x')] },
  // Empty slots are real repeated elements and must stay in place.
  metadata: { metadata: [b('signatures'), new Uint8Array(0), b(''), b('orderer'), b('commit hash')] },
};
const metadataSignature: common.MetadataSignatureInit = { signatureHeader: b('creator+nonce'), signature: b('sig') };
const lastConfig: common.LastConfigInit = { index: 12 };

const implicitMeta: common.ImplicitMetaPolicyInit = { subPolicy: 'Admins', rule: common.ImplicitMetaPolicy_Rule.MAJORITY };
const policy: common.PolicyInit = { type: common.Policy_PolicyType.IMPLICIT_META, value: common.ImplicitMetaPolicy.encode(implicitMeta) };
const configValue: common.ConfigValueInit = { version: 1, value: b('value'), modPolicy: 'Admins' };
const configPolicy: common.ConfigPolicyInit = { version: 2, policy, modPolicy: 'Admins' };
const configGroup: common.ConfigGroupInit = {
  version: 3,
  groups: {
    Orderer: {
      version: 1,
      groups: { OrdererOrg: { values: { MSP: configValue }, policies: { Admins: configPolicy }, modPolicy: 'Admins' } },
      values: { BatchSize: configValue },
      modPolicy: 'Admins',
    },
    Application: {}, // an empty group is still an entry on the wire
  },
  // keys out of order on purpose: both sides write map entries sorted by key
  values: { OrdererAddresses: configValue, HashingAlgorithm: configValue, Empty: {} },
  policies: { Writers: { policy: { type: common.Policy_PolicyType.SIGNATURE } }, Readers: configPolicy },
  modPolicy: 'Admins',
};
const configSignature: common.ConfigSignatureInit = { signatureHeader: b('sh'), signature: b('s') };
const configUpdate: common.ConfigUpdateInit = {
  channelId: 'mychannel',
  readSet: { version: 1, groups: { Orderer: {} } },
  writeSet: configGroup,
  isolatedData: { zeta: b('z'), alpha: b('a'), empty: new Uint8Array(0) },
};
const config: common.ConfigInit = { sequence: 4, channelGroup: configGroup };

const mspRole: common.MSPRoleInit = { mspIdentifier: 'Org1MSP', role: common.MSPRole_MSPRoleType.ADMIN };
const principal: common.MSPPrincipalInit = {
  principalClassification: common.MSPPrincipal_Classification.ORGANIZATION_UNIT,
  principal: common.MSPRole.encode(mspRole),
};
const nOutOf: common.SignaturePolicy_NOutOfInit = {
  n: 2,
  // signedBy 0 is a set oneof member and must be written although it is the default
  rules: [{ signedBy: 0 }, { signedBy: 1 }, { nOutOf: { n: 1, rules: [{ signedBy: 2 }] } }],
};

const ouIdentifier: msp.FabricOUIdentifierInit = { certificate: b('ou cert'), organizationalUnitIdentifier: 'client' };
const nodeOUs: msp.FabricNodeOUsInit = {
  enable: true,
  clientOuIdentifier: ouIdentifier,
  peerOuIdentifier: { certificate: b('peer cert'), organizationalUnitIdentifier: 'peer' },
  adminOuIdentifier: { organizationalUnitIdentifier: 'admin' },
  ordererOuIdentifier: { certificate: b('orderer cert'), organizationalUnitIdentifier: 'orderer' },
};
const fabricMspConfig: msp.FabricMSPConfigInit = {
  name: 'Org1MSP',
  rootCerts: [b('root 1'), b('root 2')],
  intermediateCerts: [b('intermediate')],
  admins: [b('admin 1'), b('admin 2')],
  revocationList: [b('crl')],
  signingIdentity: { publicSigner: b('public'), privateSigner: { keyIdentifier: 'key-id', keyMaterial: b('key') } },
  organizationalUnitIdentifiers: [ouIdentifier, { certificate: b('c2'), organizationalUnitIdentifier: 'ou2' }],
  cryptoConfig: { signatureHashFamily: 'SHA2', identityIdentifierHashFunction: 'SHA256' },
  tlsRootCerts: [b('tls root')],
  tlsIntermediateCerts: [b('tls intermediate 1'), b('tls intermediate 2')],
  fabricNodeOus: nodeOUs,
};

const consensusRequest: orderer.ConsensusRequestInit = { channel: 'mychannel', payload: b('raft message'), metadata: b('cluster metadata') };
const submitRequest: orderer.SubmitRequestInit = { channel: 'mychannel', lastValidationSeq: 9, payload: envelope };
const submitResponse: orderer.SubmitResponseInit = { channel: 'mychannel', status: common.Status.SERVICE_UNAVAILABLE, info: 'no leader' };
const consenter: etcdraft.ConsenterInit = { host: 'orderer0.example.com', port: 7050, clientTlsCert: b('client pem'), serverTlsCert: b('server pem') };
const options: etcdraft.OptionsInit = {
  tickInterval: '500ms',
  electionTick: 10,
  heartbeatTick: 1,
  maxInflightBlocks: 5,
  snapshotIntervalSize: 16 * 1024 * 1024,
};

const rows: Row[] = [
  // common
  row(common.Envelope, envelope),
  row(common.Payload, { header, data: b('data') }),
  row(common.Header, header),
  row(common.ChannelHeader, channelHeader, negativeHeader),
  row(google_protobuf.Timestamp, timestamp),
  row(common.SignatureHeader, { creator: b('creator'), nonce: b('nonce') }),
  row(common.Block, block),
  row(common.BlockHeader, blockHeader),
  row(common.BlockData, block.data!),
  row(common.BlockMetadata, block.metadata!),
  row(common.Metadata, { value: b('value'), signatures: [metadataSignature, { signature: b('second') }] }),
  row(common.MetadataSignature, metadataSignature),
  row(common.LastConfig, lastConfig),
  row(common.OrdererBlockMetadata, { lastConfig, consenterMetadata: b('etcdraft block metadata') }),
  // configtx
  row(common.ConfigEnvelope, { config, lastUpdate: envelope }),
  row(common.Config, config),
  row(common.ConfigUpdateEnvelope, { configUpdate: common.ConfigUpdate.encode(configUpdate), signatures: [configSignature, configSignature] }),
  row(common.ConfigUpdate, configUpdate),
  row(common.ConfigGroup, configGroup),
  row(common.ConfigValue, configValue),
  row(common.ConfigPolicy, configPolicy),
  row(common.ConfigSignature, configSignature),
  // configuration
  row(common.HashingAlgorithm, { name: 'SHA256' }),
  row(common.BlockDataHashingStructure, { width: 0xffffffff }),
  row(common.OrdererAddresses, { addresses: ['orderer0:7050', 'orderer1:7050'] }),
  row(common.Consortium, { name: 'SampleConsortium' }),
  row(common.Capabilities, { capabilities: { V2_0: {}, V1_4_3: {} } }),
  row(common.Capability, {}),
  // policies and principals
  row(common.Policy, policy),
  row(common.SignaturePolicyEnvelope, { version: 1, rule: { nOutOf }, identities: [principal, { principal: b('member') }] }),
  row(common.SignaturePolicy, { signedBy: 3 }, { nOutOf }),
  row(common.SignaturePolicy_NOutOf, nOutOf),
  row(common.ImplicitMetaPolicy, implicitMeta),
  row(common.MSPPrincipal, principal),
  row(common.MSPRole, mspRole),
  row(common.OrganizationUnit, { mspIdentifier: 'Org1MSP', organizationalUnitIdentifier: 'ou', certifiersIdentifier: b('hash') }),
  row(common.MSPIdentityAnonymity, { anonymityType: common.MSPIdentityAnonymity_MSPIdentityAnonymityType.ANONYMOUS }),
  row(common.CombinedPrincipal, { principals: [principal, { principalClassification: common.MSPPrincipal_Classification.IDENTITY }] }),
  // msp
  row(msp.SerializedIdentity, { mspid: 'Org1MSP', idBytes: b('-----BEGIN CERTIFICATE-----') }),
  row(msp.SerializedIdemixIdentity, { nymX: b('x'), nymY: b('y'), ou: b('ou'), role: b('role'), proof: b('proof') }),
  row(msp.MSPConfig, { type: 1, config: msp.FabricMSPConfig.encode(fabricMspConfig) }),
  row(msp.FabricMSPConfig, fabricMspConfig),
  row(msp.FabricCryptoConfig, fabricMspConfig.cryptoConfig!),
  row(msp.SigningIdentityInfo, fabricMspConfig.signingIdentity!),
  row(msp.KeyInfo, { keyIdentifier: 'key-id', keyMaterial: b('key') }),
  row(msp.FabricOUIdentifier, ouIdentifier),
  row(msp.FabricNodeOUs, nodeOUs),
  // orderer ab
  row(orderer.BroadcastResponse, { status: common.Status.BAD_REQUEST, info: 'rejected' }),
  row(orderer.SeekNewest, {}),
  row(orderer.SeekOldest, {}),
  row(orderer.SeekNextCommit, {}),
  row(orderer.SeekSpecified, { number: 77 }),
  row(orderer.SeekPosition, { newest: {} }, { oldest: {} }, { specified: { number: 5 } }, { specified: {} }, { nextCommit: {} }),
  row(
    orderer.SeekInfo,
    { start: { specified: { number: 5 } }, stop: { newest: {} }, behavior: orderer.SeekInfo_SeekBehavior.FAIL_IF_NOT_READY, errorResponse: orderer.SeekInfo_SeekErrorResponse.BEST_EFFORT },
    { start: { oldest: {} }, stop: { nextCommit: {} } },
  ),
  row(orderer.DeliverResponse, { status: common.Status.NOT_FOUND }, { status: common.Status.UNKNOWN }, { block }),
  // cluster
  row(orderer.StepRequest, { consensusRequest }, { submitRequest }),
  row(orderer.StepResponse, { submitRes: submitResponse }),
  row(orderer.ConsensusRequest, consensusRequest),
  row(orderer.SubmitRequest, submitRequest),
  row(orderer.SubmitResponse, submitResponse),
  // orderer configuration
  row(orderer.ConsensusType, { type: 'etcdraft', metadata: b('config metadata'), state: orderer.ConsensusType_State.STATE_MAINTENANCE }),
  row(orderer.BatchSize, { maxMessageCount: 500, absoluteMaxBytes: 10 * 1024 * 1024, preferredMaxBytes: 2 * 1024 * 1024 }),
  row(orderer.BatchTimeout, { timeout: '2s' }),
  row(orderer.KafkaBrokers, { brokers: ['kafka0:9092', 'kafka1:9092'] }),
  row(orderer.ChannelRestrictions, { maxCount: 1000 }),
  // etcdraft
  row(etcdraft.ConfigMetadata, { consenters: [consenter, { host: 'orderer1', port: 7051 }], options }),
  row(etcdraft.Consenter, consenter),
  row(etcdraft.Options, options),
  row(etcdraft.BlockMetadata, { consenterIds: [1, 2, 300], nextConsenterId: 301, raftIndex: 100_000 }),
  row(etcdraft.ClusterMetadata, { activeNodes: [1, 300] }),
];

const cases = rows.flatMap(({ codec, samples }) =>
  samples.map((sample, i) => ({ name: `${codec.typeName}${samples.length > 1 ? ` #${i + 1}` : ''}`, codec, sample })),
);
const typeOf = (codec: MessageCodec<unknown, unknown>): protobuf.Type => schema.lookupType(codec.typeName);
const expectedShape = (typeName: string, value: Obj | undefined): Obj => toJspbShape(schema.lookupType(typeName), value);
const fabricTypes = FABRIC_PACKAGES.flatMap((p) => messageTypes(schema.lookup(p) as protobuf.Namespace)).concat(
  schema.lookupType('google.protobuf.Timestamp'),
);

describe('our encoding read by fabric-protos', () => {
  test.each(cases)('$name', ({ codec, sample }) => {
    const bytes = codec.encode(sample);
    const theirs = fabricClass(codec.typeName).deserializeBinary(bytes);
    expect(canonFabric(theirs.toObject())).toEqual(expectedShape(codec.typeName, sample));
    // Canonical form: google-protobuf, like Go, omits defaults, writes fields in number
    // order and map entries sorted by key, so the same values must give the same bytes.
    expect(hex(bytes)).toBe(hex(buildFabric(typeOf(codec), sample).serializeBinary()));
  });
});

describe('fabric-protos encoding read by us', () => {
  test.each(cases)('$name', ({ codec, sample }) => {
    const theirs = buildFabric(typeOf(codec), sample);
    const expected = expectedShape(codec.typeName, sample);
    expect(canonFabric(theirs.toObject())).toEqual(expected); // the bridge built what we meant
    const bytes = theirs.serializeBinary();
    const decoded = codec.decode(bytes);
    expect(expectedShape(codec.typeName, decoded as Obj)).toEqual(expected);
    // Decoded values re-encode to exactly the bytes we were given.
    expect(hex(codec.encode(decoded))).toBe(hex(bytes));
  });
});

describe('defaults', () => {
  test.each(fabricTypes.map((t) => ({ name: t.fullName.slice(1), type: t })))('$name', ({ name, type }) => {
    const codec = rows.find((r) => r.codec.typeName === name)!.codec;
    // Every plain field explicitly at its default still encodes to nothing (proto3).
    const defaults: Obj = {};
    for (const f of type.fieldsArray) {
      if (f.partOf || (f.resolvedType instanceof protobuf.Type && !f.repeated && !f.map)) continue;
      const key = camel(f.name);
      defaults[key] = f.map ? {} : f.repeated ? [] : f.type === 'bytes' ? new Uint8Array(0) : f.type === 'string' ? '' : f.type === 'bool' ? false : 0;
    }
    expect(codec.encode({}).length).toBe(0);
    expect(codec.encode(defaults).length).toBe(0);
    expect(new (fabricClass(name))().serializeBinary().length).toBe(0);
    // Zero bytes decode to a message whose plain fields are all present with their defaults.
    const decoded = codec.decode(new Uint8Array(0)) as Obj;
    expect(decoded).toEqual(defaults);
    expect(Object.keys(decoded).sort()).toEqual(Object.keys(defaults).sort());
  });
});

describe('coverage of the Fabric packages', () => {
  test('our messages have exactly the fields fabric-protos has (v0.3 additions aside)', () => {
    const mismatched = fabricTypes
      .map((t) => {
        const name = t.fullName.slice(1);
        const theirs = Object.keys(new (fabricClass(name))().toObject() as Obj).sort();
        const ours = jspbKeys(t).concat(Object.keys(FABRIC_ONLY[name] ?? {})).sort();
        return { name, ours, theirs };
      })
      .filter(({ ours, theirs }) => ours.join() !== theirs.join());
    expect(mismatched).toEqual([]);
  });

  test('every message type has a row and every field is set non-default in some sample', () => {
    const seen = new Map<string, Set<string>>();
    for (const { codec, sample } of cases) markSetFields(typeOf(codec), sample, seen);
    const withRow = new Set(rows.map((r) => r.codec.typeName));
    const withoutRow = fabricTypes.map((t) => t.fullName.slice(1)).filter((n) => !withRow.has(n));
    expect(withoutRow).toEqual([]);
    const unset = fabricTypes.flatMap((t) =>
      t.fieldsArray.filter((f) => !seen.get(t.fullName.slice(1))?.has(f.name)).map((f) => `${t.fullName.slice(1)}.${f.name}`),
    );
    expect(unset).toEqual([]);
  });

  test('enums have Fabric names and numbers', () => {
    const enums = FABRIC_PACKAGES.flatMap((p) => enumTypes(schema.lookup(p) as protobuf.Namespace));
    expect(enums.length).toBeGreaterThanOrEqual(11);
    for (const e of enums) {
      const fullName = e.fullName.slice(1);
      const pkg = Object.keys(OUR_MODULES).find((p) => fullName.startsWith(`${p}.`))!;
      const ourEnum = Reflect.get(OUR_MODULES[pkg]!, fullName.slice(pkg.length + 1).replace(/\./g, '_')) as Obj;
      const theirEnum = fabricThing(fullName) as Obj;
      expect({ fullName, values: theirEnum }).toEqual({ fullName, values: e.values });
      for (const [k, v] of Object.entries(e.values)) expect({ fullName, k, v: ourEnum[k] }).toEqual({ fullName, k, v });
    }
    // Spot checks against the numbers Fabric documents, independent of both bindings.
    expect([common.HeaderType.CONFIG, common.HeaderType.CONFIG_UPDATE, common.HeaderType.DELIVER_SEEK_INFO]).toEqual([1, 2, 5]);
    expect([common.Status.SUCCESS, common.Status.REQUEST_ENTITY_TOO_LARGE, common.Status.SERVICE_UNAVAILABLE]).toEqual([200, 413, 503]);
    expect([common.BlockMetadataIndex.LAST_CONFIG, common.BlockMetadataIndex.ORDERER, common.BlockMetadataIndex.COMMIT_HASH]).toEqual([1, 3, 4]);
  });
});

describe("our extensions, as a Fabric node's bindings read them", () => {
  // A Fabric orderer never gets these (each is sent only to a peer that answered its header), but
  // if one did, it must not take part of the message: it dispatches on the oneof, and finds neither case.
  interface StepRequestJspb {
    getPayloadCase(): number;
    getConsensusRequest(): unknown;
    getSubmitRequest(): unknown;
  }
  interface StepResponseJspb {
    getPayloadCase(): number;
    getSubmitRes(): unknown;
  }

  test('a StepRequest carrying a SubmitBatch is neither a consensus nor a submit request', () => {
    const bytes = orderer.StepRequest.encode({ submitBatch: { channel: 'mychannel', lastValidationSeq: 3, envelopes: [common.Envelope.encode(envelope), b('x')] } });
    const theirs = fabricClass('orderer.StepRequest').deserializeBinary(bytes) as unknown as StepRequestJspb;
    expect(theirs.getPayloadCase()).toBe(0); // PAYLOAD_NOT_SET
    expect(theirs.getConsensusRequest()).toBeUndefined();
    expect(theirs.getSubmitRequest()).toBeUndefined();
  });

  test('a StepResponse carrying a SubmitBatchResponse holds no SubmitResponse', () => {
    const bytes = orderer.StepResponse.encode({ submitBatchRes: { channel: 'mychannel', results: [{ status: common.Status.SUCCESS }] } });
    const theirs = fabricClass('orderer.StepResponse').deserializeBinary(bytes) as unknown as StepResponseJspb;
    expect(theirs.getPayloadCase()).toBe(0);
    expect(theirs.getSubmitRes()).toBeUndefined();
  });
});
