// Protolator-compatible JSON (orderer/configtx/json.ts): the jq paths of Fabric's docs, decode →
// encode byte for byte, and clear errors for JSON that does not fit.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildGenesisConfigEnvelope, type ChannelConfigSpec } from '../../../orderer/channelconfig';
import { computeConfigUpdate } from '../../../orderer/configtx/compute-update';
import {
  formatJson,
  jsonTextToProto,
  jsonToProtoBytes,
  ProtoJsonError,
  protoBytesToJson,
  protoToJsonText,
  type JsonValue,
} from '../../../orderer/configtx/json';
import { buildEnvelope } from '../../../orderer/envelopes';
import { genesisBlock } from '../../../ledger/block';
import { common, orderer } from '../../../protos';
import { writeTestMsps, type TestMsps } from '../../support/test-msps';

let dir: string;
let msps: TestMsps;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'configtx-json-'));
  msps = writeTestMsps(dir, 3);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spec(): ChannelConfigSpec {
  return {
    channelId: 'mychannel',
    consenters: [1, 2, 3].map((i) => ({
      host: `orderer${i}.example.com`,
      port: 7050,
      clientTlsCert: new TextEncoder().encode(`-----BEGIN CERTIFICATE-----\nclient${i}\n-----END CERTIFICATE-----\n`),
      serverTlsCert: new TextEncoder().encode(`-----BEGIN CERTIFICATE-----\nserver${i}\n-----END CERTIFICATE-----\n`),
    })),
    ordererOrgs: [msps.ordererOrg(['orderer1.example.com:7050'])],
    applicationOrgs: [msps.clientOrg],
  };
}

function genesisBytes(): Uint8Array {
  return common.Block.encode(genesisBlock({ channelId: 'mychannel', configEnvelope: buildGenesisConfigEnvelope(spec()), timestampSeconds: 1_700_000_000 }));
}

/** jq's `.a.b[0].c` over a parsed tree. */
function at(tree: JsonValue, jqPath: string): JsonValue | undefined {
  let cur: JsonValue | undefined = tree;
  for (const part of jqPath.match(/[^.[\]]+/g) ?? []) {
    if (cur === null || typeof cur !== 'object' || cur === undefined) return undefined;
    cur = Array.isArray(cur) ? cur[Number(part)] : cur[part];
  }
  return cur;
}

describe('protolator JSON of a genesis block', () => {
  test('the jq paths of Fabric documentation reach decoded values', () => {
    const tree = protoBytesToJson('common.Block', genesisBytes());
    const cfg = '.data.data[0].payload.data.config';
    expect(at(tree, `${cfg}.channel_group.groups.Orderer.values.BatchSize.value.max_message_count`)).toBe(500);
    expect(at(tree, `${cfg}.channel_group.groups.Orderer.values.BatchTimeout.value.timeout`)).toBe('2s');
    expect(at(tree, `${cfg}.channel_group.groups.Orderer.values.ConsensusType.value.type`)).toBe('etcdraft');
    expect(at(tree, `${cfg}.channel_group.groups.Orderer.values.ConsensusType.value.state`)).toBe('STATE_NORMAL');
    expect(at(tree, `${cfg}.channel_group.groups.Orderer.values.ConsensusType.value.metadata.consenters[1].host`)).toBe('orderer2.example.com');
    expect(at(tree, `${cfg}.channel_group.groups.Orderer.values.ConsensusType.value.metadata.options.snapshot_interval_size`)).toBe(16 * 1024 * 1024);
    expect(at(tree, `${cfg}.channel_group.groups.Orderer.groups.OrdererMSP.values.MSP.value.config.name`)).toBe('OrdererMSP');
    expect(at(tree, `${cfg}.channel_group.groups.Orderer.groups.OrdererMSP.values.Endpoints.value.addresses[0]`)).toBe('orderer1.example.com:7050');
    expect(at(tree, `${cfg}.channel_group.groups.Application.groups.Org1MSP.values.MSP.value.config.fabric_node_ous.enable`)).toBe(true);
    expect(at(tree, `${cfg}.channel_group.groups.Application.groups.Org1MSP.policies.Admins.policy.value.identities[0].principal.role`)).toBe('ADMIN');
    expect(at(tree, `${cfg}.channel_group.groups.Application.groups.Org1MSP.policies.Admins.policy.value.rule.n_out_of.rules[0].signed_by`)).toBe(0);
    expect(at(tree, `${cfg}.channel_group.policies.Admins.policy.value.rule`)).toBe('MAJORITY');
    expect(at(tree, `${cfg}.channel_group.policies.Admins.policy.type`)).toBe(3);
    expect(at(tree, `${cfg}.channel_group.values.Capabilities.value.capabilities.V2_0`)).toEqual({});
    expect(at(tree, `${cfg}.channel_group.values.HashingAlgorithm.value.name`)).toBe('SHA256');
    expect(at(tree, `${cfg}.channel_group.values.OrdererAddresses.mod_policy`)).toBe('/Channel/Orderer/Admins');
    expect(at(tree, `${cfg}.sequence`)).toBe('0');
    expect(at(tree, `${cfg}.channel_group.version`)).toBe('0');
    expect(at(tree, '.data.data[0].payload.data.last_update')).toBeNull();
    expect(at(tree, '.data.data[0].payload.header.channel_header.type')).toBe(1);
    expect(at(tree, '.data.data[0].payload.header.channel_header.channel_id')).toBe('mychannel');
    expect(at(tree, '.data.data[0].payload.header.channel_header.timestamp')).toBe('2023-11-14T22:13:20Z');
    expect(at(tree, '.data.data[0].payload.header.channel_header.extension')).toBeNull();
    expect(at(tree, '.data.data[0].payload.header.signature_header.creator')).toBeNull();
    expect(at(tree, '.data.data[0].signature')).toBe('');
    expect(at(tree, '.header.number')).toBe('0');
    expect(at(tree, '.metadata.metadata[0]')).toBe('CgIKAA==');
  });

  test('decode → encode gives back the same bytes, through the text form too', () => {
    const bytes = genesisBytes();
    expect(Buffer.from(jsonToProtoBytes('common.Block', protoBytesToJson('common.Block', bytes)))).toEqual(Buffer.from(bytes));
    const text = protoToJsonText('common.Block', bytes);
    expect(Buffer.from(jsonTextToProto('common.Block', text))).toEqual(Buffer.from(bytes));
    // Go's json.Encoder layout: tabs, sorted keys, HTML characters escaped, final newline.
    expect(text.startsWith('{\n\t"data": {\n')).toBe(true);
    expect(text.endsWith('}\n')).toBe(true);
    expect(formatJson({ b: '<&>', a: [] })).toBe('{\n\t"a": [],\n\t"b": "\\u003c\\u0026\\u003e"\n}\n');
    // Go's escapes for control characters, a literal backslash before "b", and a lone surrogate.
    expect(formatJson(['\b\f\n\u0001', '\\b', '\ud800x'])).toBe('[\n\t"\\u0008\\u000c\\n\\u0001",\n\t"\\\\b",\n\t"\ufffdx"\n]\n');
  });

  test('a Config and a ConfigEnvelope round-trip on their own', () => {
    const env = common.ConfigEnvelope.encode(buildGenesisConfigEnvelope(spec()));
    expect(Buffer.from(jsonTextToProto('common.ConfigEnvelope', protoToJsonText('common.ConfigEnvelope', env)))).toEqual(Buffer.from(env));
    const config = common.Config.encode(buildGenesisConfigEnvelope(spec()).config!);
    const tree = protoBytesToJson('common.Config', config);
    expect(at(tree, '.channel_group.groups.Orderer.values.BatchSize.value.absolute_max_bytes')).toBe(10 * 1024 * 1024);
    expect(Buffer.from(jsonToProtoBytes('common.Config', tree))).toEqual(Buffer.from(config));
  });

  test('an edited JSON encodes the edit', () => {
    const config = common.Config.encode(buildGenesisConfigEnvelope(spec()).config!);
    const tree = protoBytesToJson('common.Config', config);
    const batchSize = at(tree, '.channel_group.groups.Orderer.values.BatchSize.value') as { [k: string]: JsonValue };
    batchSize['max_message_count'] = 10;
    const edited = common.Config.decode(jsonToProtoBytes('common.Config', tree));
    const value = edited.channelGroup!.groups['Orderer']!.values['BatchSize']!.value;
    expect(common.Config.decode(config).channelGroup!.groups['Orderer']!.values['BatchSize']!.value).not.toEqual(value);
    expect(orderer.BatchSize.decode(value).maxMessageCount).toBe(10);
  });
});

describe('protolator JSON of config updates', () => {
  test('a signed CONFIG_UPDATE envelope round-trips and shows its update and signatures decoded', () => {
    const original = buildGenesisConfigEnvelope(spec()).config!;
    const updatedSpec: ChannelConfigSpec = { ...spec(), batchTimeout: '1s' };
    const update = computeConfigUpdate('mychannel', original, buildGenesisConfigEnvelope(updatedSpec).config!);
    const cue = common.ConfigUpdateEnvelope.encode({
      configUpdate: common.ConfigUpdate.encode(update),
      signatures: [{ signatureHeader: common.SignatureHeader.encode({ nonce: new Uint8Array([9]) }), signature: new Uint8Array([4, 5]) }],
    });
    const built = buildEnvelope({ type: common.HeaderType.CONFIG_UPDATE, channelId: 'mychannel', data: cue, nowMs: 1_700_000_000_123 });
    const tree = protoBytesToJson('common.Envelope', built.bytes);
    expect(at(tree, '.payload.header.channel_header.type')).toBe(2);
    expect(at(tree, '.payload.header.channel_header.timestamp')).toBe('2023-11-14T22:13:20.123Z');
    expect(at(tree, '.payload.data.config_update.channel_id')).toBe('mychannel');
    expect(at(tree, '.payload.data.config_update.write_set.groups.Orderer.values.BatchTimeout.value.timeout')).toBe('1s');
    expect(at(tree, '.payload.data.config_update.write_set.groups.Orderer.values.BatchTimeout.version')).toBe('1');
    expect(at(tree, '.payload.data.signatures[0].signature_header.nonce')).toBe('CQ==');
    expect(at(tree, '.payload.data.signatures[0].signature_header.creator')).toBeNull();
    expect(Buffer.from(jsonToProtoBytes('common.Envelope', tree))).toEqual(Buffer.from(built.bytes));
    expect(Buffer.from(jsonToProtoBytes('common.ConfigUpdateEnvelope', protoBytesToJson('common.ConfigUpdateEnvelope', cue)))).toEqual(Buffer.from(cue));
    const updateBytes = common.ConfigUpdate.encode(update);
    expect(Buffer.from(jsonTextToProto('common.ConfigUpdate', protoToJsonText('common.ConfigUpdate', updateBytes)))).toEqual(Buffer.from(updateBytes));
  });

  test('values whose type is not known stay base64 and come back unchanged', () => {
    const config: common.ConfigInit = {
      channelGroup: {
        groups: { Application: { values: { PeerSomething: { value: new Uint8Array([1, 2, 3]), modPolicy: 'Admins' } } } },
        values: { SomethingNew: { value: new Uint8Array([7]) } },
      },
    };
    const bytes = common.Config.encode(config);
    const tree = protoBytesToJson('common.Config', bytes);
    expect(at(tree, '.channel_group.groups.Application.values.PeerSomething.value')).toBe('AQID');
    expect(at(tree, '.channel_group.values.SomethingNew.value')).toBe('Bw==');
    expect(Buffer.from(jsonToProtoBytes('common.Config', tree))).toEqual(Buffer.from(bytes));
  });
});

describe('JSON that does not fit', () => {
  const bad = (type: string, json: JsonValue): string => {
    try {
      jsonToProtoBytes(type, json);
    } catch (err) {
      expect(err).toBeInstanceOf(ProtoJsonError);
      return (err as Error).message;
    }
    throw new Error('expected a ProtoJsonError');
  };

  test('names the path and the problem', () => {
    expect(bad('common.Config', { sequence: 'x' })).toBe('.sequence: expected uint64, got string "x"');
    expect(bad('common.Config', { sequence: '1', chanel_group: {} })).toBe('.chanel_group: common.Config has no field chanel_group');
    expect(bad('common.Config', { channel_group: { groups: { Orderer: { values: { BatchSize: { value: { max_message_count: -1 } } } } } } })).toBe(
      '.channel_group.groups.Orderer.values.BatchSize.value.max_message_count: -1 is not a uint32',
    );
    expect(bad('common.ConfigPolicy', { policy: { type: 3, value: { rule: 'SOME' } } })).toMatch(/^\.policy\.value\.rule: "SOME" is not one of ANY, ALL, MAJORITY$/);
    expect(bad('common.Envelope', { signature: 12 })).toBe('.signature: expected base64 bytes, got number 12');
    expect(bad('common.Envelope', [])).toBe('.: expected a common.Envelope object, got an array');
    expect(() => protoBytesToJson('common.Block', new Uint8Array([0x0a, 0x05]))).toThrow(ProtoJsonError);
    expect(() => protoBytesToJson('common.Nope', new Uint8Array())).toThrow(/not supported/);
  });
});

describe('peer values of a channel config (ACLs, AnchorPeers)', () => {
  // Fabric's own codecs (google-protobuf, @hyperledger/fabric-protos) give the bytes to match.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fabricPeer = require('@hyperledger/fabric-protos').peer as {
    AnchorPeers: new () => { addAnchorPeers(p: unknown): void; serializeBinary(): Uint8Array };
    AnchorPeer: new () => { setHost(h: string): void; setPort(p: number): void };
    ACLs: new () => { getAclsMap(): { set(k: string, v: unknown): void }; serializeBinary(): Uint8Array };
    APIResource: new () => { setPolicyRef(p: string): void };
  };

  test('decode as protolator shows them and encode to the bytes Fabric writes', () => {
    const anchors = new fabricPeer.AnchorPeers();
    for (const [host, port] of [['peer0.org1.example.com', 7051], ['peer1.org1.example.com', 8051]] as const) {
      const p = new fabricPeer.AnchorPeer();
      p.setHost(host);
      p.setPort(port);
      anchors.addAnchorPeers(p);
    }
    const acls = new fabricPeer.ACLs();
    for (const [name, ref] of [['peer/Propose', '/Channel/Application/Writers'], ['event/Block', '/Channel/Application/Readers']] as const) {
      const r = new fabricPeer.APIResource();
      r.setPolicyRef(ref);
      acls.getAclsMap().set(name, r);
    }
    const config: common.ConfigInit = {
      channelGroup: {
        groups: {
          Application: {
            values: { ACLs: { value: acls.serializeBinary(), modPolicy: 'Admins' } },
            groups: { Org1MSP: { values: { AnchorPeers: { value: anchors.serializeBinary(), modPolicy: 'Admins' } } } },
          },
        },
      },
    };
    const bytes = common.Config.encode(config);
    const tree = protoBytesToJson('common.Config', bytes);
    expect(at(tree, '.channel_group.groups.Application.groups.Org1MSP.values.AnchorPeers.value.anchor_peers[1]')).toEqual({ host: 'peer1.org1.example.com', port: 8051 });
    expect(at(tree, '.channel_group.groups.Application.values.ACLs.value.acls')).toEqual({
      'event/Block': { policy_ref: '/Channel/Application/Readers' },
      'peer/Propose': { policy_ref: '/Channel/Application/Writers' },
    });
    expect(Buffer.from(jsonToProtoBytes('common.Config', tree))).toEqual(Buffer.from(bytes));
    // An anchor peer added by editing the JSON, as Fabric's tutorial does with jq.
    (at(tree, '.channel_group.groups.Application.groups.Org1MSP.values.AnchorPeers.value.anchor_peers') as JsonValue[]).push({ host: 'peer2.org1.example.com', port: 9051 });
    const p = new fabricPeer.AnchorPeer();
    p.setHost('peer2.org1.example.com');
    p.setPort(9051);
    anchors.addAnchorPeers(p);
    const edited = common.Config.decode(jsonToProtoBytes('common.Config', tree));
    expect(Buffer.from(edited.channelGroup!.groups['Application']!.groups['Org1MSP']!.values['AnchorPeers']!.value)).toEqual(Buffer.from(anchors.serializeBinary()));
  });
});

describe("Fabric's own block and the JSON Fabric's protolator printed for it", () => {
  const fixture = (name: string): Buffer => readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'fabric', name));

  test('decode prints the same text, byte for byte', () => {
    expect(protoToJsonText('common.Block', fixture('protolator-block.pb'))).toBe(fixture('protolator-block.json').toString('utf8'));
  });

  test("encode gives Fabric's block back, up to the order of map entries Go wrote at random", () => {
    const bytes = jsonTextToProto('common.Block', fixture('protolator-block.json').toString('utf8'));
    expect(bytes.length).toBe(fixture('protolator-block.pb').length);
    expect(protoToJsonText('common.Block', bytes)).toBe(fixture('protolator-block.json').toString('utf8'));
    // The config values and policies inside are the very bytes Fabric wrote.
    const config = (block: Uint8Array): common.ConfigGroup => {
      const envelope = common.Envelope.decode(common.Block.decode(block).data!.data[0]!);
      return common.ConfigEnvelope.decode(common.Payload.decode(envelope.payload).data).config!.channelGroup!;
    };
    const leaves = (g: common.ConfigGroup, p: string, out: Map<string, string>): Map<string, string> => {
      for (const [k, v] of Object.entries(g.values)) out.set(`${p}/values/${k}`, Buffer.from(v.value).toString('hex'));
      for (const [k, v] of Object.entries(g.policies)) out.set(`${p}/policies/${k}`, Buffer.from(common.Policy.encode(v.policy ?? {})).toString('hex'));
      for (const [k, v] of Object.entries(g.groups)) leaves(v, `${p}/${k}`, out);
      return out;
    };
    const theirs = leaves(config(fixture('protolator-block.pb')), '', new Map());
    expect(theirs.size).toBeGreaterThan(20);
    expect(leaves(config(bytes), '', new Map())).toEqual(theirs);
  });
});

describe("a config block as Fabric's configtxlator printed it", () => {
  // hyperledger/fabric common/channelconfig/testdata/test_configblock.json (Apache-2.0): written
  // by an older protolator that left default fields out, which protojson reads as defaults.
  test('encodes, and decodes back to the same values', () => {
    const fabricJson = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'fabric', 'test_configblock.json'), 'utf8')) as JsonValue;
    const bytes = jsonToProtoBytes('common.Block', fabricJson);
    const ours = protoBytesToJson('common.Block', bytes);
    // Every value Fabric wrote is there, unchanged; ours adds only the defaults Fabric omitted.
    const leaves = (v: JsonValue, p: string, out: Map<string, JsonValue>): Map<string, JsonValue> => {
      if (v !== null && typeof v === 'object') {
        for (const [k, x] of Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v)) leaves(x, `${p}.${k}`, out);
      } else out.set(p, v);
      return out;
    };
    const theirs = leaves(fabricJson, '', new Map());
    const mine = leaves(ours, '', new Map());
    expect(theirs.size).toBeGreaterThan(40);
    for (const [p, v] of theirs) expect([p, mine.get(p)]).toEqual([p, v]);
    expect(at(ours, '.data.data[0].payload.data.config.channel_group.groups.Application.groups.Org1.values.MSP.value.config.name')).toBe('Org1MSP');
    expect(Buffer.from(jsonToProtoBytes('common.Block', ours))).toEqual(Buffer.from(bytes));
  });
});

test('a map key "__proto__" is just a key, both ways', () => {
  const bytes = common.ConfigUpdate.encode({ channelId: 'c', isolatedData: Object.fromEntries([['__proto__', new Uint8Array([1])], ['other', new Uint8Array([2])]]) });
  const tree = protoBytesToJson('common.ConfigUpdate', bytes);
  expect(Object.keys(tree['isolated_data'] as object).sort()).toEqual(['__proto__', 'other']);
  const text = formatJson(tree);
  expect(text).toContain('"__proto__": "AQ=="');
  expect(Buffer.from(jsonTextToProto('common.ConfigUpdate', text))).toEqual(Buffer.from(bytes));
});
