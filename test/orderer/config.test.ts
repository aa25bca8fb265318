import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  findOrdererConfigFile,
  loadOrdererConfig,
  overrideEnvName,
  parseOrdererConfig,
  toByteSize,
  unsupportedSettings,
  type OrdererConfig,
} from '../../orderer/config';
import { LocalConfigError } from '../../orderer/errors';
import { hasSeparateClusterListener, loadOrdererTls } from '../../orderer/tls';

const SAMPLE = path.join(__dirname, '../../cmd/orderer.yaml');
const BASE = '/etc/orderer';

function parse(yaml: string, env: Record<string, string> = {}): { config: OrdererConfig; warnings: readonly string[] } {
  return parseOrdererConfig(yaml, { env, baseDir: BASE });
}

function failure(fn: () => unknown): LocalConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof LocalConfigError) return err;
    throw err;
  }
  throw new Error('expected a LocalConfigError');
}

describe('defaults', () => {
  it('an empty file gives Fabric’s defaults', () => {
    const { config: c, warnings } = parse('');
    expect(warnings).toEqual([]);
    expect(c.general.listenAddress).toBe('127.0.0.1');
    expect(c.general.listenPort).toBe(7050);
    expect(c.general.tls.enabled).toBe(false);
    expect(c.general.keepalive).toEqual({ serverMinIntervalMs: 60_000, serverIntervalMs: 7_200_000, serverTimeoutMs: 20_000 });
    expect(c.general.maxRecvMsgSizeBytes).toBe(104857600);
    expect(c.general.maxSendMsgSizeBytes).toBe(104857600);
    expect(c.general.cluster).toMatchObject({
      listenAddress: undefined,
      listenPort: undefined,
      sendBufferSize: 100,
      dialTimeoutMs: 5000,
      rpcTimeoutMs: 7000,
      replicationBufferSizeBytes: 20971520,
      replicationPullTimeoutMs: 5000,
      replicationRetryTimeoutMs: 5000,
      replicationBackgroundRefreshIntervalMs: 300_000,
      replicationMaxRetries: 12,
      certExpirationWarningThresholdMs: 168 * 3_600_000,
      tlsHandshakeTimeShiftMs: 0,
      selfEndpoint: { host: '127.0.0.1', port: 7050 },
    });
    expect(c.general.bootstrapChannels).toEqual([]);
    expect(c.general.localMspDir).toBe('/etc/orderer/msp');
    expect(c.general.localMspId).toBe('SampleOrg');
    expect(c.general.authentication).toEqual({ timeWindowMs: 900_000, noExpirationChecks: false });
    expect(c.logging).toEqual({ spec: 'info', level: 'info', loggerLevels: {} });
    expect(c.fileLedger.location).toBe('/var/hyperledger/production/orderer');
    expect(c.consensus).toEqual({
      walDir: '/var/hyperledger/production/orderer/etcdraft/wal',
      snapDir: '/var/hyperledger/production/orderer/etcdraft/snapshot',
      evictionSuspicionMs: 600_000,
      tickIntervalOverrideMs: undefined,
      preferredLeaders: [],
      preferredLeaderQuietPeriodMs: 10_000,
    });
    expect(c.operations.listenAddress).toBe('127.0.0.1:0');
    expect(c.metrics.provider).toBe('disabled');
    expect(c.metrics.statsd).toEqual({ network: 'udp', address: '127.0.0.1:8125', writeIntervalMs: 30_000, prefix: '' });
    expect(c.admin.listenAddress).toBe('127.0.0.1:9443');
    expect(c.channelParticipation).toEqual({ enabled: false, maxRequestBodySizeBytes: 1048576 });
  });

  it('the returned config is deeply frozen', () => {
    const { config } = parse('');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.general.cluster)).toBe(true);
    expect(Object.isFrozen(config.general.bootstrapChannels)).toBe(true);
  });

  it('the documented sample cmd/orderer.yaml loads without warnings and matches the defaults', () => {
    const sample = loadOrdererConfig({ filePath: SAMPLE, env: {} });
    expect(sample.warnings).toEqual([]);
    expect(sample.filePath).toBe(path.resolve(SAMPLE));
    const defaults = parseOrdererConfig('', { env: {}, baseDir: path.dirname(SAMPLE) }).config;
    // The sample shows example TLS paths (TLS stays disabled) and Fabric's sample Operations
    // address 127.0.0.1:8443 (the built-in default is any free port); everything else is a default.
    expect(sample.config.operations.listenAddress).toBe('127.0.0.1:8443');
    const sampleDir = path.dirname(path.resolve(SAMPLE));
    expect(sample.config.general.tls).toEqual({
      ...defaults.general.tls,
      privateKeyPath: path.join(sampleDir, 'tls/server.key'),
      certificatePath: path.join(sampleDir, 'tls/server.crt'),
      rootCaPaths: [path.join(sampleDir, 'tls/ca.crt')],
    });
    expect({
      ...sample.config,
      general: { ...sample.config.general, tls: defaults.general.tls },
      operations: { ...sample.config.operations, listenAddress: defaults.operations.listenAddress },
    }).toEqual(defaults);
  });
});

describe('values from the file', () => {
  const yaml = `
General:
  ListenAddress: 0.0.0.0
  ListenPort: 7051
  MaxRecvMsgSize: 50 MiB
  MaxSendMsgSize: "1 MB"
  Cluster:
    SendBufferSize: 10
    RPCTimeout: 1m30s
    DialTimeout: 500ms
    ReplicationBufferSize: 4096
    SelfEndpoint: orderer1.example.com:7051
  BootstrapChannels:
    - name: mychannel
      genesisBlock: genesis/mychannel.block
    - Name: other
      GenesisBlock: /abs/other.block
  LocalMSPID: OrdererMSP
  LocalMSPDir: /var/msp
  TLS:
    Enabled: true
    PrivateKey: tls/server.key
    Certificate: tls/server.crt
    RootCAs: [tls/ca.crt, /abs/ca2.crt]
FileLedger:
  Location: data/ledger
Consensus:
  TickIntervalOverride: 100ms
Metrics:
  Provider: Prometheus
ChannelParticipation:
  Enabled: yes
`;

  it('are typed and unit-converted', () => {
    const { config: c, warnings } = parse(yaml);
    expect(c.general.listenAddress).toBe('0.0.0.0');
    expect(c.general.listenPort).toBe(7051);
    expect(c.general.maxRecvMsgSizeBytes).toBe(50 * 1024 * 1024);
    expect(c.general.maxSendMsgSizeBytes).toBe(1024 * 1024);
    expect(c.general.cluster.sendBufferSize).toBe(10);
    expect(c.general.cluster.rpcTimeoutMs).toBe(90_000);
    expect(c.general.cluster.dialTimeoutMs).toBe(500);
    expect(c.general.cluster.replicationBufferSizeBytes).toBe(4096);
    expect(c.general.cluster.selfEndpoint).toEqual({ host: 'orderer1.example.com', port: 7051 });
    expect(c.general.localMspId).toBe('OrdererMSP');
    expect(c.general.localMspDir).toBe('/var/msp');
    expect(c.consensus.tickIntervalOverrideMs).toBe(100);
    expect(c.metrics.provider).toBe('prometheus');
    expect(c.channelParticipation.enabled).toBe(true);
    expect(warnings).toEqual([]);
  });

  it('resolves relative file paths against the config directory, data directories as written', () => {
    const { config: c } = parse(yaml);
    expect(c.general.bootstrapChannels).toEqual([
      { name: 'mychannel', genesisBlockPath: '/etc/orderer/genesis/mychannel.block' },
      { name: 'other', genesisBlockPath: '/abs/other.block' },
    ]);
    expect(c.general.tls.privateKeyPath).toBe('/etc/orderer/tls/server.key');
    expect(c.general.tls.rootCaPaths).toEqual(['/etc/orderer/tls/ca.crt', '/abs/ca2.crt']);
    expect(c.fileLedger.location).toBe('data/ledger');
  });

  it('matches keys case-insensitively, like Fabric', () => {
    const { config, warnings } = parse('general:\n  listenport: 9000\n  CLUSTER:\n    rpctimeout: 3s\n');
    expect(config.general.listenPort).toBe(9000);
    expect(config.general.cluster.rpcTimeoutMs).toBe(3000);
    expect(warnings).toEqual([]);
  });

  it('reads the preferred leaders, highest rank first, and their quiet period', () => {
    const { config } = parse('Consensus:\n  PreferredLeaders: [orderer2.example.com:7050, " orderer1.example.com:7050"]\n  PreferredLeaderQuietPeriod: 3s\n');
    expect(config.consensus.preferredLeaders).toEqual(['orderer2.example.com:7050', 'orderer1.example.com:7050']);
    expect(config.consensus.preferredLeaderQuietPeriodMs).toBe(3_000);
    expect(() => parse('Consensus:\n  PreferredLeaderQuietPeriod: 0s\n')).toThrow(/PreferredLeaderQuietPeriod/);
  });

  it('treats an empty value as unset', () => {
    const { config } = parse('General:\n  ListenPort:\nConsensus:\n  TickIntervalOverride:\n');
    expect(config.general.listenPort).toBe(7050);
    expect(config.consensus.tickIntervalOverrideMs).toBeUndefined();
  });
});

describe('environment overrides', () => {
  it('maps keys to ORDERER_ names', () => {
    expect(overrideEnvName('General.ListenPort')).toBe('ORDERER_GENERAL_LISTENPORT');
    expect(overrideEnvName('General.Cluster.RPCTimeout')).toBe('ORDERER_GENERAL_CLUSTER_RPCTIMEOUT');
  });

  it('override file values and defaults, typed', () => {
    const { config: c, warnings } = parse('General:\n  ListenPort: 7051\n', {
      ORDERER_GENERAL_LISTENPORT: '8050',
      ORDERER_GENERAL_TLS_CLIENTAUTHREQUIRED: 'true',
      ORDERER_GENERAL_CLUSTER_RPCTIMEOUT: '10s',
      ORDERER_GENERAL_MAXRECVMSGSIZE: '16 MB',
      ORDERER_GENERAL_CLUSTER_ROOTCAS: '[ca1.pem, /abs/ca2.pem]',
      ORDERER_CONSENSUS_WALDIR: '/data/wal',
      ORDERER_FILELEDGER_LOCATION: '/data/ledger',
      ORDERER_GENERAL_CLUSTER_SELFENDPOINT: '[::1]:7050',
    });
    expect(c.general.listenPort).toBe(8050);
    expect(c.general.tls.clientAuthRequired).toBe(true);
    expect(c.general.cluster.rpcTimeoutMs).toBe(10_000);
    expect(c.general.maxRecvMsgSizeBytes).toBe(16 * 1024 * 1024);
    expect(c.general.cluster.rootCaPaths).toEqual(['/etc/orderer/ca1.pem', '/abs/ca2.pem']);
    expect(c.consensus.walDir).toBe('/data/wal');
    expect(c.fileLedger.location).toBe('/data/ledger');
    expect(c.general.cluster.selfEndpoint).toEqual({ host: '::1', port: 7050 });
    expect(warnings).toEqual([]);
  });

  it('an empty variable counts as unset', () => {
    expect(parse('General:\n  ListenPort: 7051\n', { ORDERER_GENERAL_LISTENPORT: '' }).config.general.listenPort).toBe(7051);
  });

  it('bootstrap channels from the environment: shorthand and YAML flow list', () => {
    const short = parse('', { ORDERER_GENERAL_BOOTSTRAPCHANNELS: 'mychannel=/g/my.block, ch2=rel/ch2.block' });
    expect(short.config.general.bootstrapChannels).toEqual([
      { name: 'mychannel', genesisBlockPath: '/g/my.block' },
      { name: 'ch2', genesisBlockPath: '/etc/orderer/rel/ch2.block' },
    ]);
    const flow = parse('', { ORDERER_GENERAL_BOOTSTRAPCHANNELS: '[{name: a, genesisBlock: /a.block}]' });
    expect(flow.config.general.bootstrapChannels).toEqual([{ name: 'a', genesisBlockPath: '/a.block' }]);
  });

  it('FABRIC_LOGGING_SPEC wins over General.LogLevel', () => {
    const yaml = 'General:\n  LogLevel: warning\n';
    expect(parse(yaml).config.logging).toEqual({ spec: 'warning', level: 'warn', loggerLevels: {} });
    const withEnv = parse(yaml, { FABRIC_LOGGING_SPEC: 'debug:orderer.consensus.etcdraft,cluster=error:grpc=WARN' });
    expect(withEnv.config.logging).toEqual({
      spec: 'debug:orderer.consensus.etcdraft,cluster=error:grpc=WARN',
      level: 'debug',
      loggerLevels: { 'orderer.consensus.etcdraft': 'error', cluster: 'error', grpc: 'warn' },
    });
    expect(withEnv.warnings).toEqual([]);
    expect(parse('', { ORDERER_GENERAL_LOGLEVEL: 'error' }).config.logging.level).toBe('error');
  });
});

describe('bad values are named', () => {
  it.each<[string, string, Record<string, string>, string, string]>([
    ['a non-numeric port', 'General:\n  ListenPort: abc\n', {}, 'General.ListenPort', 'expected an integer, got "abc"'],
    ['a port out of range', 'General:\n  ListenPort: 70000\n', {}, 'General.ListenPort', 'must be between 0 and 65535, got 70000'],
    ['a bad port from the environment', '', { ORDERER_GENERAL_LISTENPORT: '80x' }, 'General.ListenPort', 'expected an integer'],
    ['a float count', 'General:\n  Cluster:\n    SendBufferSize: 1.5\n', {}, 'General.Cluster.SendBufferSize', 'expected an integer'],
    ['a zero buffer', 'General:\n  Cluster:\n    SendBufferSize: 0\n', {}, 'General.Cluster.SendBufferSize', 'must be between 1'],
    ['a duration without unit', 'General:\n  Cluster:\n    RPCTimeout: 7\n', {}, 'General.Cluster.RPCTimeout', 'durations need a unit'],
    ['a bad duration', '', { ORDERER_GENERAL_CLUSTER_DIALTIMEOUT: '5 seconds' }, 'General.Cluster.DialTimeout', 'invalid duration'],
    ['a zero timeout', 'General:\n  Cluster:\n    DialTimeout: 0s\n', {}, 'General.Cluster.DialTimeout', 'must be positive'],
    ['a negative duration', 'General:\n  Authentication:\n    TimeWindow: -1m\n', {}, 'General.Authentication.TimeWindow', 'must be zero or more'],
    ['a bad size', 'General:\n  MaxRecvMsgSize: 10 parsecs\n', {}, 'General.MaxRecvMsgSize', 'expected a size'],
    ['a fractional size', 'General:\n  MaxRecvMsgSize: 1.5 MB\n', {}, 'General.MaxRecvMsgSize', 'expected a size'],
    ['a bad boolean', 'General:\n  TLS:\n    Enabled: maybe\n', {}, 'General.TLS.Enabled', 'expected true or false, got "maybe"'],
    ['a bad metrics provider', 'Metrics:\n  Provider: graphite\n', {}, 'Metrics.Provider', 'expected one of disabled, prometheus, statsd'],
    ['a bad self endpoint', 'General:\n  Cluster:\n    SelfEndpoint: orderer1\n', {}, 'General.Cluster.SelfEndpoint', 'expected host:port'],
    ['a list where a value belongs', 'General:\n  ListenAddress: [a, b]\n', {}, 'General.ListenAddress', 'expected a string, got a list'],
    ['a section where a value belongs', 'General:\n  ListenPort:\n    Port: 1\n', {}, 'General.ListenPort', 'expected a value, found a section'],
    ['a value where a section belongs', 'General: 5\n', {}, 'General', 'expected a section'],
    ['a bad log level', '', { FABRIC_LOGGING_SPEC: 'loud' }, 'FABRIC_LOGGING_SPEC', "invalid logging specification 'loud': bad segment 'loud'"],
    ['a bad channel name', 'General:\n  BootstrapChannels:\n    - name: MyChannel\n      genesisBlock: g.block\n', {}, 'General.BootstrapChannels', 'name must match'],
    ['a channel without block', 'General:\n  BootstrapChannels:\n    - name: ch\n', {}, 'General.BootstrapChannels', 'genesisBlock path is required'],
    ['a duplicate channel', '', { ORDERER_GENERAL_BOOTSTRAPCHANNELS: 'ch=a,ch=b' }, 'General.BootstrapChannels', 'listed twice'],
    ['an unknown channel key', 'General:\n  BootstrapChannels:\n    - {name: ch, genesisBlock: g, height: 3}\n', {}, 'General.BootstrapChannels', 'unknown key "height"'],
    ['a system channel bootstrap', 'General:\n  BootstrapMethod: file\n', {}, 'General.BootstrapMethod', 'only "none" is supported'],
    ['TLS on without a key', 'General:\n  TLS:\n    Enabled: true\n', {}, 'General.TLS', 'PrivateKey and Certificate are required'],
    ['half a cluster listener', 'General:\n  Cluster:\n    ListenPort: 7051\n', {}, 'General.Cluster.ListenAddress', 'must be set together'],
  ])('%s', (_name, yaml, env, key, reason) => {
    const err = failure(() => parse(yaml, env));
    expect(err.key).toBe(key);
    expect(err.message).toContain(reason);
    expect(err.message.startsWith(`${key} (`)).toBe(true);
  });

  it('says where the bad value came from', () => {
    expect(failure(() => parse('General:\n  ListenPort: abc\n')).source).toBe('orderer.yaml');
    expect(failure(() => parse('', { ORDERER_GENERAL_LISTENPORT: 'abc' })).source).toBe('env ORDERER_GENERAL_LISTENPORT');
  });

  it('rejects text that is not YAML', () => {
    expect(failure(() => parse('General:\n  ListenPort: [1\n')).message).toContain('not valid YAML');
    expect(failure(() => parse('- a\n- b\n')).message).toContain('expected a map of sections');
  });
});

describe('warnings', () => {
  it('reports unknown keys and unknown ORDERER_ variables, ignoring other variables', () => {
    const { warnings } = parse('General:\n  ListenPortt: 1\nFoo:\n  Bar: 2\n', {
      ORDERER_GENERAL_LISTENPROT: '1',
      PATH: '/bin',
    });
    expect(warnings).toEqual([
      'unknown key General.ListenPortt in orderer.yaml; ignored',
      'unknown key Foo.Bar in orderer.yaml; ignored',
      'unknown environment variable ORDERER_GENERAL_LISTENPROT (no such orderer.yaml key); ignored',
    ]);
  });

  it('says once that a Fabric section without effect here is ignored', () => {
    const { warnings } = parse('General:\n  BCCSP:\n    Default: SW\n    SW:\n      Hash: SHA2\nKafka:\n  Retry:\n    ShortInterval: 5s\n');
    expect(warnings).toEqual([
      'General.BCCSP is not used by this orderer (keys are software ECDSA); ignored',
      'Kafka is not used by this orderer (etcdraft only); ignored',
    ]);
  });

  it('warns when the node cannot tell which consenter it is', () => {
    const { config, warnings } = parse('General:\n  ListenAddress: 0.0.0.0\n');
    expect(config.general.cluster.selfEndpoint).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('General.Cluster.SelfEndpoint is not set');
  });

  it('self endpoint defaults to the separate cluster listener when there is one', () => {
    const { config } = parse('General:\n  Cluster:\n    ListenAddress: orderer1.local\n    ListenPort: 7051\n');
    expect(config.general.cluster.selfEndpoint).toEqual({ host: 'orderer1.local', port: 7051 });
  });
});

describe('sizes', () => {
  it.each<[unknown, number]>([
    [1048576, 1048576],
    ['1048576', 1048576],
    ['1 MB', 1048576],
    ['1MB', 1048576],
    ['1 MiB', 1048576],
    ['1m', 1048576],
    ['512 KB', 524288],
    ['2 GB', 2 * 1024 ** 3],
    ['100 b', 100],
  ])('%j = %d bytes (binary units, as Fabric)', (raw, bytes) => {
    expect(toByteSize(raw)).toBe(bytes);
  });
});

describe('finding the file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'orderer-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('uses only FABRIC_CFG_PATH when set, else the working directory', () => {
    mkdirSync(path.join(dir, 'cfg'));
    writeFileSync(path.join(dir, 'orderer.yaml'), 'General:\n  ListenPort: 1111\n');
    writeFileSync(path.join(dir, 'cfg', 'orderer.yaml'), 'General:\n  ListenPort: 2222\n');
    expect(loadOrdererConfig({ cwd: dir, env: {} }).config.general.listenPort).toBe(1111);
    const viaEnv = loadOrdererConfig({ cwd: dir, env: { FABRIC_CFG_PATH: path.join(dir, 'cfg') } });
    expect(viaEnv.config.general.listenPort).toBe(2222);
    expect(viaEnv.filePath).toBe(path.join(dir, 'cfg', 'orderer.yaml'));
    const missing = findOrdererConfigFile({ FABRIC_CFG_PATH: path.join(dir, 'nowhere') }, dir);
    expect(missing.found).toBeUndefined();
    expect(missing.searched).toEqual([path.join(dir, 'nowhere', 'orderer.yaml')]);
  });

  it('resolves relative paths against the file’s directory and applies env overrides', () => {
    writeFileSync(path.join(dir, 'orderer.yaml'), 'General:\n  BootstrapChannels:\n    - {name: ch, genesisBlock: ch.block}\n');
    const { config } = loadOrdererConfig({ filePath: path.join(dir, 'orderer.yaml'), env: { ORDERER_GENERAL_LISTENPORT: '0' }, cwd: '/' });
    expect(config.general.bootstrapChannels).toEqual([{ name: 'ch', genesisBlockPath: path.join(dir, 'ch.block') }]);
    expect(config.general.listenPort).toBe(0);
  });

  it('fails clearly when there is no file', () => {
    const err = failure(() => loadOrdererConfig({ cwd: dir, env: { FABRIC_CFG_PATH: dir } }));
    expect(err.message).toContain('not found');
    expect(failure(() => loadOrdererConfig({ filePath: path.join(dir, 'nope.yaml'), env: {} })).message).toContain('cannot be read');
  });
});

describe('Metrics.Provider', () => {
  test('prometheus and disabled start; statsd is refused at start, naming the key', () => {
    expect(unsupportedSettings(parse('Metrics:\n  Provider: prometheus\n').config)).toEqual([]);
    expect(unsupportedSettings(parse('Metrics:\n  Provider: disabled\n').config)).toEqual([]);
    expect(unsupportedSettings(parse('Metrics:\n  Provider: statsd\n').config)).toEqual([
      { key: 'Metrics.Provider', reason: expect.stringContaining('statsd is not implemented') as string },
    ]);
  });
});

describe('TLS and the cluster listener are accepted now (orderer/tls.ts), with Fabric\'s all-or-nothing listener keys', () => {
  test('General.TLS.Enabled is no longer refused', () => {
    const { config } = parse('General:\n  TLS:\n    Enabled: true\n    PrivateKey: k.pem\n    Certificate: c.pem\n');
    expect(unsupportedSettings(config)).toEqual([]);
  });

  test('a separate cluster listener needs its server certificate and key; one equal to the main listener is the shared one', () => {
    const separate = parse('General:\n  ListenPort: 7050\n  Cluster:\n    ListenAddress: 127.0.0.1\n    ListenPort: 7051\n').config;
    expect(unsupportedSettings(separate)).toEqual([]);
    expect(hasSeparateClusterListener(separate)).toBe(true);
    expect(() => loadOrdererTls(separate, 'x.yaml')).toThrow(/General\.Cluster\.ListenAddress \(x\.yaml\): .*ServerCertificate and ServerPrivateKey must be set together/);
    const same = parse('General:\n  ListenAddress: 127.0.0.1\n  ListenPort: 7050\n  Cluster:\n    ListenAddress: 127.0.0.1\n    ListenPort: 7050\n    AllowPlaintext: true\n').config;
    expect(hasSeparateClusterListener(same)).toBe(false);
    expect(loadOrdererTls(same).senderIdentification).toBe('header');
  });

  test('the documented sample asks for nothing unsupported', () => {
    expect(unsupportedSettings(loadOrdererConfig({ filePath: SAMPLE, env: {} }).config)).toEqual([]);
  });
});
