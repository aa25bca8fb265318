// `orderer config <verb>` as a user runs it: `node dist/cmd/orderer.js config ...` in a child
// process, over crypto material in cryptogen's layout and the documented sample profile
// (cmd/configtx.sample.yaml). The flow of Fabric's channel-update tutorial end to end (genesis,
// decode, edit, encode, compute-update, sign-update, wrap-update), with the signatures checked
// against the channel's own policies; and every kind of bad input refused with the file named,
// exit status 1 and no output written. Needs `npm run build` first.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfigBlock, configEnvelopeFromBlock } from '../../orderer/channelconfig';
import { defaultSpec, generateCryptoMaterial } from '../../orderer/msp/generate';
import { configUpdateSignedData } from '../../orderer/policies/config-signatures';
import { ConfigChannelAccess } from '../../orderer/policies/channel-access';
import { common, etcdraft, orderer } from '../../protos';

const ORDERER_JS = path.join(__dirname, '..', '..', 'dist', 'cmd', 'orderer.js');
const SAMPLE = path.join(__dirname, '..', '..', 'cmd', 'configtx.sample.yaml');
const ADMIN_MSP = 'crypto/ordererOrganizations/example.com/users/Admin@example.com/msp';
const ORG1_ADMIN_MSP = 'crypto/peerOrganizations/org1.example.com/users/Admin@org1.example.com/msp';

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function run(args: string[], stdin?: Uint8Array): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ORDERER_JS, 'config', ...args], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
    child.stdin.end(stdin === undefined ? undefined : Buffer.from(stdin));
  });
}

let dir: string;
const file = (name: string): string => path.join(dir, name);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'config-tool-'));
  generateCryptoMaterial(file('crypto'), defaultSpec(3, 1));
  copyFileSync(SAMPLE, file('configtx.yaml'));
  const r = await run(['genesis', '--profile', 'configtx.yaml', '--channel', 'mychannel', '--output', 'genesis.block']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function genesis(): common.Block {
  return common.Block.decode(readFileSync(file('genesis.block')));
}

/** No file but the expected ones (no temporary files left behind by a failure). */
function expectNoStrayFiles(): void {
  expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
}

describe('orderer config genesis', () => {
  test('the sample profile makes a block an orderer accepts, with the profile in it', () => {
    const block = genesis();
    const settings = parseConfigBlock(block);
    expect(settings.channelId).toBe('mychannel');
    const { configEnvelope } = configEnvelopeFromBlock(block);
    const config = configEnvelope.config!;
    // The MSPs and policies build as an orderer builds them.
    const access = ConfigChannelAccess.fromConfig('mychannel', config);
    expect(access.configSequence).toBe(0);
    const ordererGroup = config.channelGroup!.groups['Orderer']!;
    const ct = orderer.ConsensusType.decode(ordererGroup.values['ConsensusType']!.value);
    const meta = etcdraft.ConfigMetadata.decode(ct.metadata);
    expect(meta.consenters.map((c) => `${c.host}:${c.port}`)).toEqual(['orderer1.example.com:7050', 'orderer2.example.com:7050', 'orderer3.example.com:7050']);
    expect(Buffer.from(meta.consenters[0]!.serverTlsCert).toString()).toBe(
      readFileSync(file('crypto/ordererOrganizations/example.com/orderers/orderer1.example.com/tls/server.crt'), 'utf8'),
    );
    expect(meta.options!.snapshotIntervalSize).toBe(16 * 1024 * 1024);
    const org1Readers = config.channelGroup!.groups['Application']!.groups['Org1MSP']!.policies['Readers']!.policy!;
    expect(common.SignaturePolicyEnvelope.decode(org1Readers.value).identities).toHaveLength(3);
    expect(Object.keys(ordererGroup.policies).sort()).toEqual(['Admins', 'BlockValidation', 'Readers', 'Writers']);
  });

  test('a minimal profile takes the defaults', async () => {
    writeFileSync(
      file('minimal.yaml'),
      [
        'Orderer:',
        '  EtcdRaft:',
        '    Consenters:',
        '      - {Host: orderer1.example.com, Port: 7050, ClientTLSCert: crypto/ordererOrganizations/example.com/orderers/orderer1.example.com/tls/server.crt, ServerTLSCert: crypto/ordererOrganizations/example.com/orderers/orderer1.example.com/tls/server.crt}',
        '  Organizations:',
        '    - {ID: OrdererMSP, MSPDir: crypto/ordererOrganizations/example.com/msp}',
        'Application:',
        '  Organizations:',
        '    - {ID: Org1MSP, MSPDir: crypto/peerOrganizations/org1.example.com/msp}',
      ].join('\n'),
    );
    const r = await run(['genesis', '--profile', 'minimal.yaml', '--channel', 'minimal', '--output', 'minimal.block']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const settings = parseConfigBlock(common.Block.decode(readFileSync(file('minimal.block'))));
    expect(settings.orderer.batchSize.maxMessageCount).toBe(500);
    expect(settings.orderer.batchTimeoutMs).toBe(2000);
    expect(settings.capabilities).toEqual(['V2_0']);
  });

  test.each([
    ['an unknown key', (y: string) => y.replace('  BatchTimeout: 2s', '  BatchTimeOut: 2s'), 'Orderer.BatchTimeOut: unknown key'],
    ['a missing MSP folder', (y: string) => y.replace('crypto/peerOrganizations/org1.example.com/msp', 'crypto/nowhere/msp'), 'Application.Organizations[0].MSPDir: MSP folder'],
    ['a bad signature rule', (y: string) => y.replace(`"OR('Org1MSP.admin')" }\n      Endorsement`, `"OR('Org1MSP.boss')" }\n      Endorsement`), 'Application.Organizations[0].Policies.Admins.Rule'],
    ['a bad ImplicitMeta rule', (y: string) => y.replace('Rule: "ANY Readers" }\n  Writers', 'Rule: "SOME Readers" }\n  Writers'), 'Policies.Readers.Rule: "SOME Readers" is not an ImplicitMeta rule'],
    ['a missing TLS certificate', (y: string) => y.replace('orderer2.example.com/tls/server.crt', 'orderer2.example.com/tls/missing.crt'), 'Orderer.EtcdRaft.Consenters[1].ClientTLSCert'],
    ['a bad size', (y: string) => y.replace('AbsoluteMaxBytes: 10 MB', 'AbsoluteMaxBytes: ten'), 'Orderer.BatchSize.AbsoluteMaxBytes: must be a size'],
    ['a bad batch timeout', (y: string) => y.replace('BatchTimeout: 2s', 'BatchTimeout: soon'), '/Channel/Orderer/BatchTimeout'],
    ['no BlockValidation', (y: string) => y.replace('    BlockValidation: { Type: ImplicitMeta, Rule: "ANY Writers" }\n', ''), 'Orderer.Policies: has no BlockValidation policy'],
    ['not YAML', () => 'Orderer: [unclosed', 'configtx-bad.yaml: (YAML)'],
  ])('%s is refused naming the file and the key, nothing written', async (_what, edit, expected) => {
    writeFileSync(file('configtx-bad.yaml'), edit(readFileSync(SAMPLE, 'utf8')));
    const r = await run(['genesis', '--profile', 'configtx-bad.yaml', '--channel', 'mychannel', '--output', 'bad.block']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('orderer config genesis: configtx-bad.yaml: ');
    expect(r.stderr).toContain(expected);
    expect(existsSync(file('bad.block'))).toBe(false);
    expectNoStrayFiles();
  });

  test("a whole configtx.yaml in Fabric's test-network style: Profiles, anchors and merges, ACLs, anchor peers", async () => {
    const tls = (n: number): string => `crypto/ordererOrganizations/example.com/orderers/orderer${n}.example.com/tls/server.crt`;
    writeFileSync(
      file('fabric-configtx.yaml'),
      `
Organizations:
  - &OrdererOrg
    Name: OrdererOrg
    ID: OrdererMSP
    MSPDir: crypto/ordererOrganizations/example.com/msp
    Policies:
      Readers: { Type: Signature, Rule: "OR('OrdererMSP.member')" }
      Writers: { Type: Signature, Rule: "OR('OrdererMSP.member')" }
      Admins: { Type: Signature, Rule: "OR('OrdererMSP.admin')" }
    OrdererEndpoints: [orderer1.example.com:7050]
  - &Org1
    Name: Org1MSP
    ID: Org1MSP
    MSPDir: crypto/peerOrganizations/org1.example.com/msp
    Policies:
      Readers: { Type: Signature, Rule: "OR('Org1MSP.admin', 'Org1MSP.peer', 'Org1MSP.client')" }
      Writers: { Type: Signature, Rule: "OR('Org1MSP.admin', 'Org1MSP.client')" }
      Admins: { Type: Signature, Rule: "OR('Org1MSP.admin')" }
      Endorsement: { Type: Signature, Rule: "OR('Org1MSP.peer')" }
    AnchorPeers:
      - Host: peer0.org1.example.com
        Port: 7051
Capabilities:
  Channel: &ChannelCapabilities { V2_0: true }
  Orderer: &OrdererCapabilities { V2_0: true }
  Application: &ApplicationCapabilities { V2_0: true }
Application: &ApplicationDefaults
  Organizations:
  Policies:
    Readers: { Type: ImplicitMeta, Rule: "ANY Readers" }
    Writers: { Type: ImplicitMeta, Rule: "ANY Writers" }
    Admins: { Type: ImplicitMeta, Rule: "MAJORITY Admins" }
    LifecycleEndorsement: { Type: ImplicitMeta, Rule: "MAJORITY Endorsement" }
    Endorsement: { Type: ImplicitMeta, Rule: "MAJORITY Endorsement" }
  ACLs:
    peer/Propose: /Channel/Application/Writers
    event/Block: /Channel/Application/Readers
  Capabilities:
    <<: *ApplicationCapabilities
Orderer: &OrdererDefaults
  OrdererType: etcdraft
  Addresses: [orderer1.example.com:7050]
  BatchTimeout: 2s
  BatchSize: { MaxMessageCount: 10, AbsoluteMaxBytes: 99 MB, PreferredMaxBytes: 512 KB }
  Organizations:
  Policies:
    Readers: { Type: ImplicitMeta, Rule: "ANY Readers" }
    Writers: { Type: ImplicitMeta, Rule: "ANY Writers" }
    Admins: { Type: ImplicitMeta, Rule: "MAJORITY Admins" }
    BlockValidation: { Type: ImplicitMeta, Rule: "ANY Writers" }
Channel: &ChannelDefaults
  Policies:
    Readers: { Type: ImplicitMeta, Rule: "ANY Readers" }
    Writers: { Type: ImplicitMeta, Rule: "ANY Writers" }
    Admins: { Type: ImplicitMeta, Rule: "MAJORITY Admins" }
  Capabilities:
    <<: *ChannelCapabilities
Profiles:
  ChannelUsingRaft:
    <<: *ChannelDefaults
    Orderer:
      <<: *OrdererDefaults
      OrdererType: etcdraft
      EtcdRaft:
        Consenters:
          - { Host: orderer1.example.com, Port: 7050, ClientTLSCert: ${tls(1)}, ServerTLSCert: ${tls(1)} }
          - { Host: orderer2.example.com, Port: 7050, ClientTLSCert: ${tls(2)}, ServerTLSCert: ${tls(2)} }
      Organizations:
        - *OrdererOrg
      Capabilities: *OrdererCapabilities
    Application:
      <<: *ApplicationDefaults
      Organizations:
        - *Org1
      Capabilities: *ApplicationCapabilities
  TwoOrgsOrdererGenesis:
    <<: *ChannelDefaults
    Consortiums: {}
`,
    );
    const ambiguous = await run(['genesis', '--profile', 'fabric-configtx.yaml', '--channel', 'mychannel', '--output', 'raft.block']);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('fabric-configtx.yaml: Profiles: holds 2 profiles (ChannelUsingRaft, TwoOrgsOrdererGenesis): choose one with --profile-name');
    const system = await run(['genesis', '--profile', 'fabric-configtx.yaml', '--profile-name', 'TwoOrgsOrdererGenesis', '--channel', 'mychannel', '--output', 'raft.block']);
    expect(system.code).toBe(1);
    expect(system.stderr).toContain('Profiles.TwoOrgsOrdererGenesis.Consortiums: is for system channel profiles');
    expect(existsSync(file('raft.block'))).toBe(false);

    const r = await run(['genesis', '--profile', 'fabric-configtx.yaml', '--profile-name', 'ChannelUsingRaft', '--channel', 'mychannel', '--output', 'raft.block']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const block = common.Block.decode(readFileSync(file('raft.block')));
    const settings = parseConfigBlock(block);
    expect(settings.orderer.batchSize).toEqual({ maxMessageCount: 10, absoluteMaxBytes: 99 * 1024 * 1024, preferredMaxBytes: 512 * 1024 });
    ConfigChannelAccess.fromConfig('mychannel', configEnvelopeFromBlock(block).configEnvelope.config!);
    const d = await run(['decode', '--type', 'common.Block', '--input', 'raft.block']);
    const tree = JSON.parse(d.stdout.toString()) as { data: { data: { payload: { data: { config: { channel_group: { groups: Record<string, { values: Record<string, { value: unknown }>; groups: Record<string, { values: Record<string, { value: unknown }> }> }> } } } } }[] } };
    const groups = tree.data.data[0]!.payload.data.config.channel_group.groups;
    expect(groups['Application']!.groups['Org1MSP']!.values['AnchorPeers']!.value).toEqual({ anchor_peers: [{ host: 'peer0.org1.example.com', port: 7051 }] });
    expect(groups['Application']!.values['ACLs']!.value).toEqual({ acls: { 'event/Block': { policy_ref: '/Channel/Application/Readers' }, 'peer/Propose': { policy_ref: '/Channel/Application/Writers' } } });
    expect(Object.keys(groups['Orderer']!.groups)).toEqual(['OrdererOrg']);
    expect(groups['Orderer']!.groups['OrdererOrg']!.values['Endpoints']!.value).toEqual({ addresses: ['orderer1.example.com:7050'] });
  });

  test('a bad channel ID and missing flags', async () => {
    const r = await run(['genesis', '--profile', 'configtx.yaml', '--channel', 'MyChannel', '--output', 'bad.block']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('does not match [a-z][a-z0-9.-]*');
    expect(existsSync(file('bad.block'))).toBe(false);
    const u = await run(['genesis', '--profile', 'configtx.yaml', '--output', 'bad.block']);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('--channel is required');
  });
});

describe('decode and encode', () => {
  test('a block decodes to protolator JSON and encodes back to the same bytes, by file and by pipe', async () => {
    const d = await run(['decode', '--type', 'common.Block', '--input', 'genesis.block', '--output', 'genesis.json']);
    expect(d.stderr).toBe('');
    expect(d.code).toBe(0);
    const tree = JSON.parse(readFileSync(file('genesis.json'), 'utf8')) as {
      data: { data: { payload: { data: { config: { channel_group: { groups: { Orderer: { values: { BatchSize: { value: { max_message_count: number } } } } } } } } } }[] };
    };
    expect(tree.data.data[0]!.payload.data.config.channel_group.groups.Orderer.values.BatchSize.value.max_message_count).toBe(500);
    const e = await run(['encode', '--type', 'common.Block', '--input', 'genesis.json', '--output', 'again.block']);
    expect(e.code).toBe(0);
    expect(readFileSync(file('again.block'))).toEqual(readFileSync(file('genesis.block')));
    // Standard input and output, as configtxlator proto_decode is used in pipes.
    const piped = await run(['decode', '--type', 'common.Block'], readFileSync(file('genesis.block')));
    expect(piped.code).toBe(0);
    expect(piped.stdout.toString()).toBe(readFileSync(file('genesis.json'), 'utf8'));
    const back = await run(['encode', '--type', 'common.Block'], piped.stdout);
    expect(back.stdout).toEqual(readFileSync(file('genesis.block')));
  });

  test('bad inputs name the file; an existing output file is left as it was', async () => {
    writeFileSync(file('keep.json'), 'previous');
    const missing = await run(['decode', '--type', 'common.Block', '--input', 'nothing.block', '--output', 'keep.json']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nothing.block: does not exist');
    writeFileSync(file('garbage.block'), Buffer.from([0x0a, 0xff, 0xff]));
    const garbage = await run(['decode', '--type', 'common.Block', '--input', 'garbage.block', '--output', 'keep.json']);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain('garbage.block: ');
    expect(garbage.stderr).toContain('does not decode as common.Block');
    writeFileSync(file('bad.json'), JSON.stringify({ header: { numbr: '1' } }));
    const bad = await run(['encode', '--type', 'common.Block', '--input', 'bad.json', '--output', 'keep.json']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('bad.json: .header.numbr: common.BlockHeader has no field numbr');
    writeFileSync(file('notjson.json'), '{');
    const notJson = await run(['encode', '--type', 'common.Config', '--input', 'notjson.json', '--output', 'keep.json']);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toContain('notjson.json: .: not JSON');
    expect(readFileSync(file('keep.json'), 'utf8')).toBe('previous');
    const noDir = await run(['decode', '--type', 'common.Block', '--input', 'genesis.block', '--output', 'no/such/dir.json']);
    expect(noDir.code).toBe(1);
    expect(noDir.stderr).toContain('no/such/dir.json: its folder does not exist');
    expectNoStrayFiles();
  });

  test('usage errors exit 2', async () => {
    const unknownType = await run(['decode', '--type', 'common.Blok', '--input', 'genesis.block']);
    expect(unknownType.code).toBe(2);
    expect(unknownType.stderr).toContain('--type common.Blok is not a message type this tool knows');
    const unknownVerb = await run(['translate']);
    expect(unknownVerb.code).toBe(2);
    expect(unknownVerb.stderr).toContain('unknown command "config translate"');
    const unknownFlag = await run(['decode', '--type', 'common.Block', '--inptu', 'x']);
    expect(unknownFlag.code).toBe(2);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toContain('orderer config compute-update');
  });
});

describe('the channel update flow: compute-update, sign-update, wrap-update', () => {
  async function extractConfig(): Promise<void> {
    const tree = JSON.parse(readFileSync(file('genesis.json'), 'utf8')) as { data: { data: { payload: { data: { config: unknown } } }[] } };
    const config = tree.data.data[0]!.payload.data.config as { channel_group: { groups: { Orderer: { values: { BatchSize: { value: { max_message_count: number } } } } } } };
    writeFileSync(file('config.json'), JSON.stringify(config));
    config.channel_group.groups.Orderer.values.BatchSize.value.max_message_count = 100;
    writeFileSync(file('modified.json'), JSON.stringify(config));
    for (const name of ['config', 'modified']) {
      const r = await run(['encode', '--type', 'common.Config', '--input', `${name}.json`, '--output', `${name}.pb`]);
      expect(r.code).toBe(0);
    }
  }

  test('an update signed by the orderer admin satisfies the mod_policy, and its envelope the Writers', async () => {
    if (!existsSync(file('genesis.json'))) await run(['decode', '--type', 'common.Block', '--input', 'genesis.block', '--output', 'genesis.json']);
    await extractConfig();
    const c = await run(['compute-update', '--channel', 'mychannel', '--original', 'config.pb', '--updated', 'modified.pb', '--output', 'update.pb']);
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);
    const update = common.ConfigUpdate.decode(readFileSync(file('update.pb')));
    expect(update.channelId).toBe('mychannel');
    const batchSize = update.writeSet!.groups['Orderer']!.values['BatchSize']!;
    expect(batchSize.version).toBe(1);
    expect(orderer.BatchSize.decode(batchSize.value).maxMessageCount).toBe(100);

    const s = await run(['sign-update', '--input', 'update.pb', '--mspid', 'OrdererMSP', '--msp-dir', ADMIN_MSP, '--output', 'signed.pb']);
    expect(s.stderr).toBe('');
    expect(s.code).toBe(0);
    const signed = common.ConfigUpdateEnvelope.decode(readFileSync(file('signed.pb')));
    expect(signed.signatures).toHaveLength(1);
    // Signing an envelope again adds a signature (another admin's, in a real flow).
    const s2 = await run(['sign-update', '--input', 'signed.pb', '--mspid', 'Org1MSP', '--msp-dir', ORG1_ADMIN_MSP, '--output', 'signed2.pb']);
    expect(s2.code).toBe(0);
    expect(common.ConfigUpdateEnvelope.decode(readFileSync(file('signed2.pb'))).signatures).toHaveLength(2);

    const access = ConfigChannelAccess.fromConfig('mychannel', configEnvelopeFromBlock(genesis()).configEnvelope.config!);
    expect(access.policies.evaluate('/Channel/Orderer/Admins', configUpdateSignedData(signed))).toEqual({ satisfied: true });

    const w = await run(['wrap-update', '--channel', 'mychannel', '--input', 'update.pb', '--mspid', 'OrdererMSP', '--msp-dir', ADMIN_MSP, '--output', 'envelope.pb']);
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    const envelope = common.Envelope.decode(readFileSync(file('envelope.pb')));
    const payload = common.Payload.decode(envelope.payload);
    const channelHeader = common.ChannelHeader.decode(payload.header!.channelHeader);
    expect(channelHeader.type).toBe(common.HeaderType.CONFIG_UPDATE);
    expect(channelHeader.channelId).toBe('mychannel');
    const creator = common.SignatureHeader.decode(payload.header!.signatureHeader).creator;
    expect(access.policies.evaluate('/Channel/Writers', [{ data: envelope.payload, identity: creator, signature: envelope.signature }])).toEqual({ satisfied: true });
    // wrap-update signs the update too, as peer channel update does.
    const inner = common.ConfigUpdateEnvelope.decode(payload.data);
    expect(access.policies.evaluate('/Channel/Orderer/Admins', configUpdateSignedData(inner))).toEqual({ satisfied: true });
    expect(Buffer.from(inner.configUpdate)).toEqual(readFileSync(file('update.pb')));

    // peer channel signconfigtx's form: an Envelope in, the Envelope out with one more signature,
    // re-signed by the new signer.
    const o = await run(['sign-update', '--input', 'envelope.pb', '--mspid', 'Org1MSP', '--msp-dir', ORG1_ADMIN_MSP, '--output', 'envelope2.pb']);
    expect(o.stderr).toBe('');
    expect(o.code).toBe(0);
    const envelope2 = common.Envelope.decode(readFileSync(file('envelope2.pb')));
    const payload2 = common.Payload.decode(envelope2.payload);
    expect(common.ChannelHeader.decode(payload2.header!.channelHeader).channelId).toBe('mychannel');
    const inner2 = common.ConfigUpdateEnvelope.decode(payload2.data);
    expect(inner2.signatures).toHaveLength(2);
    expect(Buffer.from(inner2.configUpdate)).toEqual(readFileSync(file('update.pb')));
    const creator2 = common.SignatureHeader.decode(payload2.header!.signatureHeader).creator;
    expect(access.policies.evaluate('/Channel/Writers', [{ data: envelope2.payload, identity: creator2, signature: envelope2.signature }])).toEqual({ satisfied: true });
    expect(access.policies.evaluate('/Channel/Application/Admins', configUpdateSignedData(inner2))).toEqual({ satisfied: true });
  });

  test('refusals: no difference, a wrong channel, no identity, not an update', async () => {
    if (!existsSync(file('config.pb'))) await extractConfig();
    const same = await run(['compute-update', '--channel', 'mychannel', '--original', 'config.pb', '--updated', 'config.pb', '--output', 'none.pb']);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain('no differences detected');
    const notConfig = await run(['compute-update', '--channel', 'mychannel', '--original', 'genesis.json', '--updated', 'config.pb', '--output', 'none.pb']);
    expect(notConfig.code).toBe(1);
    expect(notConfig.stderr).toContain('genesis.json: ');
    const wrongChannel = await run(['wrap-update', '--channel', 'other', '--input', 'update.pb', '--mspid', 'OrdererMSP', '--msp-dir', ADMIN_MSP, '--output', 'none.pb']);
    expect(wrongChannel.code).toBe(1);
    expect(wrongChannel.stderr).toContain('update.pb: the update is for channel "mychannel", not --channel "other"');
    const noIdentity = await run(['sign-update', '--input', 'update.pb', '--output', 'none.pb']);
    expect(noIdentity.code).toBe(2);
    expect(noIdentity.stderr).toContain('a signing identity is required');
    const badMsp = await run(['sign-update', '--input', 'update.pb', '--mspid', 'OrdererMSP', '--msp-dir', 'crypto/nowhere', '--output', 'none.pb']);
    expect(badMsp.code).toBe(1);
    expect(badMsp.stderr).toContain('crypto/nowhere');
    const notUpdate = await run(['sign-update', '--input', 'genesis.json', '--mspid', 'OrdererMSP', '--msp-dir', ADMIN_MSP, '--output', 'none.pb']);
    expect(notUpdate.code).toBe(1);
    expect(notUpdate.stderr).toContain('genesis.json: is neither a CONFIG_UPDATE common.Envelope, a common.ConfigUpdateEnvelope nor a common.ConfigUpdate');
    // A block's CONFIG envelope is an Envelope, but not of an update.
    writeFileSync(file('config-envelope.pb'), genesis().data!.data[0]!);
    const notUpdateEnvelope = await run(['sign-update', '--input', 'config-envelope.pb', '--mspid', 'OrdererMSP', '--msp-dir', ADMIN_MSP, '--output', 'none.pb']);
    expect(notUpdateEnvelope.code).toBe(1);
    expect(notUpdateEnvelope.stderr).toContain('config-envelope.pb: is neither');
    expect(existsSync(file('none.pb'))).toBe(false);
    expectNoStrayFiles();
  });
});
