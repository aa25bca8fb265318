import * as fabric from '@hyperledger/fabric-protos';
import {
  buildChannelConfig,
  buildGenesisConfigEnvelope,
  configEnvelopeFromBlock,
  DEFAULT_SNAPSHOT_INTERVAL_SIZE_BYTES,
  formatGoDurationMs,
  genesisChannelSettings,
  InvalidDurationError,
  isValidChannelId,
  parseChannelConfig,
  parseConfigBlock,
  parseGoDurationMs,
  parseGoDurationNs,
  type ChannelConfigSpec,
} from '../../orderer/channelconfig';
import { genesisBlock as ledgerGenesisBlock } from '../../ledger/block';
import { ChannelConfigError } from '../../orderer/errors';
import { common, etcdraft, msp, orderer } from '../../protos';

const enc = new TextEncoder();
const pem = (s: string): Uint8Array => enc.encode(`-----BEGIN CERTIFICATE-----\n${s}\n-----END CERTIFICATE-----\n`);

const spec: ChannelConfigSpec = {
  channelId: 'mychannel',
  consenters: [
    { host: 'orderer1.example.com', port: 7050, clientTlsCert: pem('c1'), serverTlsCert: pem('s1') },
    { host: 'orderer2.example.com', port: 7050, clientTlsCert: pem('c2'), serverTlsCert: pem('s2') },
    { host: 'orderer3.example.com', port: 7050 },
  ],
  ordererOrgs: [{ mspId: 'OrdererMSP', endpoints: ['orderer1.example.com:7050'] }],
};

/** A genesis block as the ledger module assembles it (reference §2.5), enough to parse. */
function genesisBlock(channelId: string, configEnvelope: common.ConfigEnvelopeInit): common.Block {
  const payload = common.Payload.encode({
    header: {
      channelHeader: common.ChannelHeader.encode({ type: common.HeaderType.CONFIG, version: 1, channelId, txId: 'tx0' }),
      signatureHeader: common.SignatureHeader.encode({ nonce: new Uint8Array(24) }),
    },
    data: common.ConfigEnvelope.encode(configEnvelope),
  });
  const bytes = common.Block.encode({
    header: { number: 0 },
    data: { data: [common.Envelope.encode({ payload })] },
    metadata: { metadata: [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)] },
  });
  return common.Block.decode(bytes);
}

/** Built config, through the wire, decoded; tests mutate it to make bad configs. */
function decodedConfig(s: ChannelConfigSpec = spec): common.Config {
  return common.Config.decode(common.Config.encode(buildChannelConfig(s)));
}

function configError(fn: () => unknown): ChannelConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ChannelConfigError) return err;
    throw err;
  }
  throw new Error('expected a ChannelConfigError');
}

function ordererGroup(config: common.Config): common.ConfigGroup {
  return config.channelGroup!.groups['Orderer']!;
}

function setConsensusType(config: common.Config, ct: orderer.ConsensusTypeInit): void {
  ordererGroup(config).values['ConsensusType']!.value = orderer.ConsensusType.encode(ct);
}

function raftMetadata(
  options: etcdraft.OptionsInit | undefined,
  consenters: etcdraft.ConsenterInit[] = [{ host: 'a', port: 1 }],
): Uint8Array {
  return etcdraft.ConfigMetadata.encode({ consenters, ...(options === undefined ? {} : { options }) });
}

const goodOptions: etcdraft.OptionsInit = { tickInterval: '500ms', electionTick: 10, heartbeatTick: 1, maxInflightBlocks: 5 };

describe('Go durations', () => {
  it.each<[string, number]>([
    ['0', 0],
    ['0s', 0],
    ['-0', 0],
    ['2s', 2000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1h0m0s', 3_600_000],
    ['1.5h', 5_400_000],
    ['3h2m1.5s', 10_921_500],
    ['+5s', 5000],
    ['-2s', -2000],
    ['.5s', 500],
    ['1.s', 1000],
    ['1ns', 0.000001],
    ['1500us', 1.5],
    ['1\u00b5s', 0.001],
    ['1\u03bcs', 0.001],
    ['0.000000001s', 0.000001],
    ['1.0000000001s', 1000], // below a nanosecond is dropped, like Go
    ['100ms100ms', 200],
  ])('parses %j as %d ms', (text, ms) => {
    expect(parseGoDurationMs(text)).toBeCloseTo(ms, 9);
  });

  it.each(['', '2', 's', '1 s', ' 2s', '2s ', '1sec', '1S', '.s', '-', '+', '1.2.3s', '1e3s', '2d', '5m-3s', '9999999999999999999h', '2562048h'])(
    'rejects %j',
    (text) => {
      expect(() => parseGoDurationMs(text)).toThrow(InvalidDurationError);
    },
  );

  it('accepts the largest Go duration and rejects one nanosecond more', () => {
    expect(parseGoDurationNs('9223372036854775807ns')).toBe(9223372036854775807n);
    expect(() => parseGoDurationNs('9223372036854775808ns')).toThrow(InvalidDurationError);
    expect(parseGoDurationNs('-9223372036854775808ns')).toBe(-9223372036854775808n);
  });

  it('names the input and the problem', () => {
    expect(() => parseGoDurationMs('2x')).toThrow('invalid duration "2x": unknown unit "x"');
    expect(() => parseGoDurationMs('2')).toThrow('invalid duration "2": missing unit');
  });

  it.each<[number, string]>([
    [0, '0s'],
    [2000, '2s'],
    [500, '500ms'],
    [90_000, '1m30s'],
    [3_600_000, '1h0m0s'],
    [5_400_500, '1h30m0.5s'],
    [1500, '1.5s'],
    [1.5, '1.5ms'],
    [0.001, '1\u00b5s'],
    [0.000001, '1ns'],
    [-2000, '-2s'],
  ])('formats %d ms like Go: %j', (ms, text) => {
    expect(formatGoDurationMs(ms)).toBe(text);
    expect(parseGoDurationMs(text)).toBeCloseTo(ms, 9);
  });
});

describe('buildChannelConfig → parse round trip', () => {
  it('gives back the settings it was built from, with configtxgen defaults', () => {
    const envelope = buildGenesisConfigEnvelope(spec);
    const settings = parseConfigBlock(genesisBlock('mychannel', envelope));
    expect(settings.channelId).toBe('mychannel');
    expect(settings.sequence).toBe(0);
    expect(settings.hashingAlgorithm).toBe('SHA256');
    expect(settings.capabilities).toEqual(['V2_0']);
    expect(settings.ordererAddresses).toEqual([
      'orderer1.example.com:7050',
      'orderer2.example.com:7050',
      'orderer3.example.com:7050',
    ]);
    expect(settings.orderer.batchSize).toEqual({
      maxMessageCount: 500,
      absoluteMaxBytes: 10 * 1024 * 1024,
      preferredMaxBytes: 2 * 1024 * 1024,
    });
    expect(settings.orderer.batchTimeout).toBe('2s');
    expect(settings.orderer.batchTimeoutMs).toBe(2000);
    expect(settings.orderer.capabilities).toEqual(['V2_0']);
    expect(settings.orderer.consensus.type).toBe('etcdraft');
    expect(settings.orderer.consensus.state).toBe('normal');
    expect(settings.orderer.consensus.options).toEqual({
      tickInterval: '500ms',
      tickIntervalMs: 500,
      electionTick: 10,
      heartbeatTick: 1,
      maxInflightBlocks: 5,
      snapshotIntervalSizeBytes: 16 * 1024 * 1024,
    });
    expect(settings.orderer.consensus.consenters).toEqual([
      { host: 'orderer1.example.com', port: 7050, clientTlsCert: pem('c1'), serverTlsCert: pem('s1') },
      { host: 'orderer2.example.com', port: 7050, clientTlsCert: pem('c2'), serverTlsCert: pem('s2') },
      { host: 'orderer3.example.com', port: 7050, clientTlsCert: new Uint8Array(0), serverTlsCert: new Uint8Array(0) },
    ]);
    expect(settings.orderer.organizations.map((o) => [o.name, o.mspId, o.endpoints])).toEqual([
      ['OrdererMSP', 'OrdererMSP', ['orderer1.example.com:7050']],
    ]);
    expect(settings.orderer.organizations[0]!.fabricMsp?.cryptoConfig).toEqual({
      signatureHashFamily: 'SHA2',
      identityIdentifierHashFunction: 'SHA256',
    });
    expect(settings.application?.capabilities).toEqual(['V2_0']);
    expect(settings.application?.organizations.map((o) => o.mspId)).toEqual(['OrdererMSP']);
  });

  it('survives the ledger module’s genesis block and the wire', () => {
    const block = ledgerGenesisBlock({ channelId: 'mychannel', configEnvelope: buildGenesisConfigEnvelope(spec) });
    const settings = parseConfigBlock(common.Block.decode(common.Block.encode(block)));
    expect(settings.channelId).toBe('mychannel');
    expect(settings.orderer.consensus.consenters.map((c) => c.host)).toEqual([
      'orderer1.example.com',
      'orderer2.example.com',
      'orderer3.example.com',
    ]);
  });

  it('carries explicit batch, timeout, options, state, addresses and orgs', () => {
    const s = genesisChannelSettings({
      ...spec,
      batchSize: { maxMessageCount: 10, preferredMaxBytes: 1024, absoluteMaxBytes: undefined },
      batchTimeout: '250ms',
      options: { tickInterval: '100ms', electionTick: 20, heartbeatTick: 2, maxInflightBlocks: 3, snapshotIntervalSizeBytes: 1000 },
      consensusState: 'maintenance',
      ordererAddresses: ['lb.example.com:7050'],
      ordererOrgs: [{ mspId: 'OrdererMSP', name: 'OrdererOrg', tlsRootCerts: [pem('tlsca')] }],
      applicationOrgs: [{ mspId: 'Org1MSP' }, { mspId: 'Org2MSP' }],
    });
    expect(s.orderer.batchSize).toEqual({ maxMessageCount: 10, absoluteMaxBytes: 10 * 1024 * 1024, preferredMaxBytes: 1024 });
    expect(s.orderer.batchTimeoutMs).toBe(250);
    expect(s.orderer.consensus.options).toEqual({
      tickInterval: '100ms',
      tickIntervalMs: 100,
      electionTick: 20,
      heartbeatTick: 2,
      maxInflightBlocks: 3,
      snapshotIntervalSizeBytes: 1000,
    });
    expect(s.orderer.consensus.state).toBe('maintenance');
    expect(s.ordererAddresses).toEqual(['lb.example.com:7050']);
    expect(s.orderer.organizations[0]!.name).toBe('OrdererOrg');
    expect(s.orderer.organizations[0]!.endpoints).toEqual([]);
    expect(s.orderer.organizations[0]!.fabricMsp?.tlsRootCerts).toEqual([pem('tlsca')]);
    expect(s.application?.organizations.map((o) => o.name)).toEqual(['Org1MSP', 'Org2MSP']);
  });

  it('fills SnapshotIntervalSize 0 with the 16 MiB default', () => {
    const s = genesisChannelSettings({ ...spec, options: { snapshotIntervalSizeBytes: 0 } });
    expect(s.orderer.consensus.options.snapshotIntervalSizeBytes).toBe(DEFAULT_SNAPSHOT_INTERVAL_SIZE_BYTES);
  });

  it('returns frozen settings', () => {
    const s = genesisChannelSettings(spec);
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.orderer.batchSize)).toBe(true);
    expect(Object.isFrozen(s.orderer.consensus.consenters)).toBe(true);
  });

  it('builds the /Channel tree of configtxgen: policies, mod policies, values', () => {
    const c = decodedConfig();
    const root = c.channelGroup!;
    expect(Object.keys(root.groups).sort()).toEqual(['Application', 'Orderer']);
    expect(Object.keys(root.values).sort()).toEqual(['BlockDataHashingStructure', 'Capabilities', 'HashingAlgorithm', 'OrdererAddresses']);
    expect(common.BlockDataHashingStructure.decode(root.values['BlockDataHashingStructure']!.value).width).toBe(4294967295);
    expect(root.values['OrdererAddresses']!.modPolicy).toBe('/Channel/Orderer/Admins');
    const ord = root.groups['Orderer']!;
    expect(Object.keys(ord.values).sort()).toEqual(['BatchSize', 'BatchTimeout', 'Capabilities', 'ChannelRestrictions', 'ConsensusType']);
    expect(Object.keys(ord.policies).sort()).toEqual(['Admins', 'BlockValidation', 'Readers', 'Writers']);
    const implicit = (p: common.ConfigPolicy): common.ImplicitMetaPolicy => {
      expect(p.policy?.type).toBe(common.Policy_PolicyType.IMPLICIT_META);
      return common.ImplicitMetaPolicy.decode(p.policy!.value);
    };
    expect(implicit(ord.policies['BlockValidation']!)).toEqual({ subPolicy: 'Writers', rule: common.ImplicitMetaPolicy_Rule.ANY });
    expect(implicit(root.policies['Admins']!)).toEqual({ subPolicy: 'Admins', rule: common.ImplicitMetaPolicy_Rule.MAJORITY });
    expect(implicit(root.policies['Readers']!)).toEqual({ subPolicy: 'Readers', rule: common.ImplicitMetaPolicy_Rule.ANY });
    const app = root.groups['Application']!;
    expect(Object.keys(app.policies).sort()).toEqual(['Admins', 'Endorsement', 'LifecycleEndorsement', 'Readers', 'Writers']);

    // OR('OrdererMSP.admin'): 1 of [signed by principal 0], principal = ADMIN role of the MSP.
    const admins = ord.groups['OrdererMSP']!.policies['Admins']!;
    expect(admins.policy?.type).toBe(common.Policy_PolicyType.SIGNATURE);
    const env = common.SignaturePolicyEnvelope.decode(admins.policy!.value);
    expect(env.version).toBe(0);
    expect(env.rule).toEqual({ nOutOf: { n: 1, rules: [{ signedBy: 0 }] } });
    expect(env.identities).toHaveLength(1);
    expect(env.identities[0]!.principalClassification).toBe(common.MSPPrincipal_Classification.ROLE);
    expect(common.MSPRole.decode(env.identities[0]!.principal)).toEqual({
      mspIdentifier: 'OrdererMSP',
      role: common.MSPRole_MSPRoleType.ADMIN,
    });

    // Every group, value and policy has a mod_policy, all at version 0.
    const walk = (g: common.ConfigGroup, path: string): void => {
      expect([path, g.modPolicy, g.version]).toEqual([path, 'Admins', 0]);
      for (const [k, v] of Object.entries(g.values)) {
        expect([`${path}/${k}`, v.modPolicy === '' ? 'missing' : 'ok', v.version]).toEqual([`${path}/${k}`, 'ok', 0]);
      }
      for (const [k, p] of Object.entries(g.policies)) expect([`${path}/${k}`, p.modPolicy, p.version]).toEqual([`${path}/${k}`, 'Admins', 0]);
      for (const [k, child] of Object.entries(g.groups)) walk(child, `${path}/${k}`);
    };
    walk(root, '/Channel');
  });

  it('is read by Fabric’s own protobuf bindings the same way', () => {
    const bytes = common.Config.encode(buildChannelConfig(spec));
    const fc = fabric.common.Config.deserializeBinary(bytes);
    expect(fc.getSequence()).toBe(0);
    const ord = fc.getChannelGroup()!.getGroupsMap().get('Orderer')!;
    const ct = fabric.orderer.ConsensusType.deserializeBinary(ord.getValuesMap().get('ConsensusType')!.getValue_asU8());
    expect(ct.getType()).toBe('etcdraft');
    const md = fabric.orderer.etcdraft.ConfigMetadata.deserializeBinary(ct.getMetadata_asU8());
    expect(md.getConsentersList().map((c) => `${c.getHost()}:${c.getPort()}`)).toEqual([
      'orderer1.example.com:7050',
      'orderer2.example.com:7050',
      'orderer3.example.com:7050',
    ]);
    expect(md.getOptions()!.getTickInterval()).toBe('500ms');
    expect(md.getOptions()!.getSnapshotIntervalSize()).toBe(16 * 1024 * 1024);
    const bs = fabric.orderer.BatchSize.deserializeBinary(ord.getValuesMap().get('BatchSize')!.getValue_asU8());
    expect([bs.getMaxMessageCount(), bs.getAbsoluteMaxBytes(), bs.getPreferredMaxBytes()]).toEqual([500, 10485760, 2097152]);
    const mspValue = fabric.msp.MSPConfig.deserializeBinary(
      ord.getGroupsMap().get('OrdererMSP')!.getValuesMap().get('MSP')!.getValue_asU8(),
    );
    expect(mspValue.getType()).toBe(0);
    expect(fabric.msp.FabricMSPConfig.deserializeBinary(mspValue.getConfig_asU8()).getName()).toBe('OrdererMSP');
  });
});

describe('builder input checks', () => {
  it.each([
    ['an empty channel ID', { channelId: '' }, 'channel ID'],
    ['an upper-case channel ID', { channelId: 'MyChannel' }, 'channel ID'],
    ['no orderer orgs', { ordererOrgs: [] }, '/Channel/Orderer'],
    ['an empty MSP ID', { ordererOrgs: [{ mspId: '', name: 'Org' }] }, '/Channel/Orderer/Org'],
    ['a duplicate org', { ordererOrgs: [{ mspId: 'A' }, { mspId: 'A' }] }, '/Channel/Orderer/A'],
    ['a bad org name', { ordererOrgs: [{ mspId: 'A', name: 'has space' }] }, '/Channel/Orderer/has space'],
    ['no consenters', { consenters: [] }, '/Channel/Orderer/ConsensusType'],
    ['zero MaxMessageCount', { batchSize: { maxMessageCount: 0 } }, '/Channel/Orderer/BatchSize'],
    ['a bad BatchTimeout', { batchTimeout: '2' }, '/Channel/Orderer/BatchTimeout'],
    ['ElectionTick <= HeartbeatTick', { options: { electionTick: 2, heartbeatTick: 2 } }, '/Channel/Orderer/ConsensusType'],
  ] as [string, Partial<ChannelConfigSpec>, string][])('rejects %s', (_name, override, path) => {
    expect(configError(() => buildChannelConfig({ ...spec, ...override })).path).toBe(path);
  });

  it('channel ID rule', () => {
    expect(isValidChannelId('mychannel')).toBe(true);
    expect(isValidChannelId('a.b-c9')).toBe(true);
    expect(isValidChannelId('9chan')).toBe(false);
    expect(isValidChannelId('a'.repeat(249))).toBe(true);
    expect(isValidChannelId('a'.repeat(250))).toBe(false);
  });
});

describe('parseChannelConfig validation', () => {
  const bad = (mutate: (c: common.Config) => void): ChannelConfigError => {
    const c = decodedConfig();
    mutate(c);
    return configError(() => parseChannelConfig('mychannel', c));
  };

  it.each<[string, orderer.BatchSizeInit, string]>([
    ['MaxMessageCount 0', { maxMessageCount: 0, absoluteMaxBytes: 10, preferredMaxBytes: 5 }, 'MaxMessageCount must be greater than 0'],
    ['AbsoluteMaxBytes 0', { maxMessageCount: 1, absoluteMaxBytes: 0, preferredMaxBytes: 5 }, 'AbsoluteMaxBytes must be greater than 0'],
    ['PreferredMaxBytes 0', { maxMessageCount: 1, absoluteMaxBytes: 10, preferredMaxBytes: 0 }, 'PreferredMaxBytes must be greater than 0'],
    ['Preferred > Absolute', { maxMessageCount: 1, absoluteMaxBytes: 10, preferredMaxBytes: 11 }, 'PreferredMaxBytes (11) must not exceed AbsoluteMaxBytes (10)'],
  ])('BatchSize: %s', (_name, bs, message) => {
    const err = bad((c) => {
      ordererGroup(c).values['BatchSize']!.value = orderer.BatchSize.encode(bs);
    });
    expect(err.path).toBe('/Channel/Orderer/BatchSize');
    expect(err.message).toBe(`/Channel/Orderer/BatchSize: ${message}`);
    expect(err.status).toBe(common.Status.BAD_REQUEST);
  });

  it('BatchSize: Preferred == Absolute is fine', () => {
    const c = decodedConfig();
    ordererGroup(c).values['BatchSize']!.value = orderer.BatchSize.encode({ maxMessageCount: 1, absoluteMaxBytes: 10, preferredMaxBytes: 10 });
    expect(parseChannelConfig('mychannel', c).orderer.batchSize.preferredMaxBytes).toBe(10);
  });

  it.each(['0s', '-1s', '', 'soon'])('BatchTimeout %j is rejected', (timeout) => {
    const err = bad((c) => {
      ordererGroup(c).values['BatchTimeout']!.value = orderer.BatchTimeout.encode({ timeout });
    });
    expect(err.path).toBe('/Channel/Orderer/BatchTimeout');
  });

  it('BatchTimeout of one nanosecond is accepted', () => {
    const c = decodedConfig();
    ordererGroup(c).values['BatchTimeout']!.value = orderer.BatchTimeout.encode({ timeout: '1ns' });
    expect(parseChannelConfig('mychannel', c).orderer.batchTimeoutMs).toBeGreaterThan(0);
  });

  it('a value that is not its protobuf type is named', () => {
    const err = bad((c) => {
      ordererGroup(c).values['BatchSize']!.value = Uint8Array.of(0x0a, 0x10);
    });
    expect(err.path).toBe('/Channel/Orderer/BatchSize');
    expect(err.message).toContain('malformed orderer.BatchSize');
  });

  it.each([
    ['the Orderer group', (c: common.Config) => delete c.channelGroup!.groups['Orderer'], '/Channel/Orderer'],
    ['BatchSize', (c: common.Config) => delete ordererGroup(c).values['BatchSize'], '/Channel/Orderer/BatchSize'],
    ['BatchTimeout', (c: common.Config) => delete ordererGroup(c).values['BatchTimeout'], '/Channel/Orderer/BatchTimeout'],
    ['ConsensusType', (c: common.Config) => delete ordererGroup(c).values['ConsensusType'], '/Channel/Orderer/ConsensusType'],
    ['HashingAlgorithm', (c: common.Config) => delete c.channelGroup!.values['HashingAlgorithm'], '/Channel/HashingAlgorithm'],
    ['an org MSP', (c: common.Config) => delete ordererGroup(c).groups['OrdererMSP']!.values['MSP'], '/Channel/Orderer/OrdererMSP/MSP'],
    ['the channel group', (c: common.Config) => delete c.channelGroup, '/Channel'],
  ])('a missing %s is named', (_name, mutate, path) => {
    expect(bad(mutate).path).toBe(path);
  });

  it('only etcdraft consensus is served', () => {
    const err = bad((c) => setConsensusType(c, { type: 'kafka' }));
    expect(err.message).toBe('/Channel/Orderer/ConsensusType: consensus type "kafka" is not supported (only etcdraft)');
  });

  it('an unknown consensus state is rejected', () => {
    expect(bad((c) => setConsensusType(c, { type: 'etcdraft', metadata: raftMetadata(goodOptions), state: 7 as orderer.ConsensusType_State })).message).toContain(
      'unknown consensus state 7',
    );
  });

  it.each<[string, etcdraft.OptionsInit | undefined, string]>([
    ['missing options', undefined, 'etcdraft options are missing'],
    ['missing TickInterval', { ...goodOptions, tickInterval: '' }, 'TickInterval is missing'],
    ['a bad TickInterval', { ...goodOptions, tickInterval: '500' }, 'TickInterval: invalid duration "500"'],
    ['a zero TickInterval', { ...goodOptions, tickInterval: '0s' }, 'TickInterval must be positive'],
    ['HeartbeatTick 0', { ...goodOptions, heartbeatTick: 0 }, 'HeartbeatTick must be greater than 0'],
    ['ElectionTick 0', { ...goodOptions, electionTick: 0 }, 'ElectionTick must be greater than 0'],
    ['MaxInflightBlocks 0', { ...goodOptions, maxInflightBlocks: 0 }, 'MaxInflightBlocks must be greater than 0'],
    ['ElectionTick == HeartbeatTick', { ...goodOptions, electionTick: 3, heartbeatTick: 3 }, 'ElectionTick (3) must be greater than HeartbeatTick (3)'],
    ['ElectionTick < HeartbeatTick', { ...goodOptions, electionTick: 2, heartbeatTick: 3 }, 'ElectionTick (2) must be greater than HeartbeatTick (3)'],
  ])('etcdraft metadata: %s', (_name, options, message) => {
    const err = bad((c) => setConsensusType(c, { type: 'etcdraft', metadata: raftMetadata(options) }));
    expect(err.path).toBe('/Channel/Orderer/ConsensusType');
    expect(err.message).toContain(message);
  });

  it('etcdraft metadata: no consenters', () => {
    const err = bad((c) => setConsensusType(c, { type: 'etcdraft', metadata: raftMetadata(goodOptions, []) }));
    expect(err.message).toBe('/Channel/Orderer/ConsensusType: at least one consenter is required');
  });

  it('etcdraft metadata that is not a ConfigMetadata', () => {
    const err = bad((c) => setConsensusType(c, { type: 'etcdraft', metadata: Uint8Array.of(0x12, 0x05) }));
    expect(err.message).toContain('/Channel/Orderer/ConsensusType: metadata: malformed etcdraft.ConfigMetadata');
  });

  it('an ElectionTick of 2 over HeartbeatTick 1 is the smallest valid pair', () => {
    const c = decodedConfig();
    setConsensusType(c, { type: 'etcdraft', metadata: raftMetadata({ ...goodOptions, electionTick: 2, heartbeatTick: 1 }) });
    expect(parseChannelConfig('mychannel', c).orderer.consensus.options.electionTick).toBe(2);
  });

  it('unsupported channel or orderer capabilities are rejected; application ones are not checked', () => {
    const caps = (...names: string[]): Uint8Array =>
      common.Capabilities.encode({ capabilities: Object.fromEntries(names.map((n) => [n, {}])) });
    expect(bad((c) => (c.channelGroup!.values['Capabilities']!.value = caps('V2_0', 'V3_0'))).message).toBe(
      '/Channel/Capabilities: requires capabilities this orderer does not support: V3_0',
    );
    expect(bad((c) => (ordererGroup(c).values['Capabilities']!.value = caps('V2_5'))).path).toBe('/Channel/Orderer/Capabilities');
    const c = decodedConfig();
    c.channelGroup!.groups['Application']!.values['Capabilities']!.value = caps('V2_0', 'V2_5');
    expect(parseChannelConfig('mychannel', c).application?.capabilities).toEqual(['V2_0', 'V2_5']);
  });

  it('hashing settings are checked', () => {
    expect(bad((c) => (c.channelGroup!.values['HashingAlgorithm']!.value = common.HashingAlgorithm.encode({ name: 'MD5' }))).message).toBe(
      '/Channel/HashingAlgorithm: unknown hashing algorithm "MD5"',
    );
    expect(
      bad((c) => (c.channelGroup!.values['BlockDataHashingStructure']!.value = common.BlockDataHashingStructure.encode({ width: 2 }))).path,
    ).toBe('/Channel/BlockDataHashingStructure');
  });

  it('an org MSP with an empty name or unknown type is rejected; an Idemix org is read', () => {
    const mspVal = (m: msp.MSPConfigInit): Uint8Array => msp.MSPConfig.encode(m);
    expect(
      bad((c) => (ordererGroup(c).groups['OrdererMSP']!.values['MSP']!.value = mspVal({ type: 0, config: msp.FabricMSPConfig.encode({}) }))).message,
    ).toBe('/Channel/Orderer/OrdererMSP/MSP: MSP name (MSP ID) is empty');
    expect(bad((c) => (ordererGroup(c).groups['OrdererMSP']!.values['MSP']!.value = mspVal({ type: 5 }))).message).toContain(
      'unknown MSP type 5',
    );
    // IdemixMSPConfig: 1 name, 2 ipk (bytes), 3 signer (message), 4 revocation_pk, 5 epoch (int64).
    const idemix = Uint8Array.of(0x0a, 0x07, ...enc.encode('IdemixO'), 0x12, 0x02, 1, 2, 0x28, 0x05);
    const c = decodedConfig();
    c.channelGroup!.groups['Application']!.groups['OrdererMSP']!.values['MSP']!.value = mspVal({ type: 1, config: idemix });
    const org = parseChannelConfig('mychannel', c).application!.organizations[0]!;
    expect([org.mspId, org.mspType, org.fabricMsp]).toEqual(['IdemixO', 1, undefined]);
  });

  it('a config without an Application group parses with application undefined', () => {
    const c = decodedConfig();
    delete c.channelGroup!.groups['Application'];
    expect(parseChannelConfig('mychannel', c).application).toBeUndefined();
  });

  it('keeps the raw config and sequence', () => {
    const c = decodedConfig();
    c.sequence = 7;
    const s = parseChannelConfig('mychannel', c);
    expect(s.sequence).toBe(7);
    expect(s.config).toBe(c);
  });
});

describe('config blocks', () => {
  it('reads channel ID and ConfigEnvelope from a genesis block', () => {
    const { channelId, configEnvelope } = configEnvelopeFromBlock(genesisBlock('ch2', buildGenesisConfigEnvelope({ ...spec, channelId: 'ch2' })));
    expect(channelId).toBe('ch2');
    expect(configEnvelope.config?.sequence).toBe(0);
    expect(configEnvelope.lastUpdate).toBeUndefined();
  });

  it('rejects blocks that are not config blocks', () => {
    const normal = genesisBlock('mychannel', buildGenesisConfigEnvelope(spec));
    const env = common.Envelope.decode(normal.data!.data[0]!);
    const payload = common.Payload.decode(env.payload);
    payload.header!.channelHeader = common.ChannelHeader.encode({ type: common.HeaderType.ENDORSER_TRANSACTION, channelId: 'mychannel' });
    const notConfig = { ...normal, data: { data: [common.Envelope.encode({ payload: common.Payload.encode(payload) })] } };
    expect(configError(() => configEnvelopeFromBlock(notConfig)).message).toContain('envelope type is ENDORSER_TRANSACTION, expected CONFIG');
    const two = { ...normal, data: { data: [normal.data!.data[0]!, normal.data!.data[0]!] } };
    expect(configError(() => configEnvelopeFromBlock(two)).message).toContain('exactly one envelope, found 2');
    expect(configError(() => configEnvelopeFromBlock({ ...normal, data: { data: [Uint8Array.of(0xff)] } })).message).toContain(
      'malformed common.Envelope',
    );
  });
});
