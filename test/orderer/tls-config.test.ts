// orderer/tls.ts reading the TLS files orderer.yaml names: every damaged file, or a key that is
// not its certificate's, fails the start naming the config key and the file; the cluster's
// certificate defaults are Fabric's (the General.TLS pair when the Cluster client pair is unset).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseOrdererConfig, type OrdererConfig } from '../../orderer/config';
import { LocalConfigError } from '../../orderer/errors';
import { findSelf, findSelfByServerCert, loadOrdererTls } from '../../orderer/tls';
import * as grpc from '@grpc/grpc-js';
import { raftpb } from '../../protos';
import { captureLogger, HOST, RecordingReceiver, TestNode, waitFor } from '../cluster/helpers';
import { TestTlsCa, writeCa, writePair } from '../support/tls-material';

let dir: string;
const ca = new TestTlsCa();
const server = ca.issue('orderer1.example.com');
const other = ca.issue('orderer2.example.com');

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tls-config-'));
  writePair(dir, 'server', server);
  writePair(dir, 'other', other);
  writeCa(dir, 'ca', ca);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function config(extra = '', tls = '    Certificate: server.crt\n    PrivateKey: server.key\n'): OrdererConfig {
  const yaml = `General:\n  TLS:\n    Enabled: true\n${tls}    RootCAs: [ca.crt]\n    ClientRootCAs: [ca.crt]\n${extra}`;
  return parseOrdererConfig(yaml, { baseDir: dir, fileLabel: 'test.yaml' }).config;
}

function failure(fn: () => unknown): LocalConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(LocalConfigError);
    return err as LocalConfigError;
  }
  throw new Error('expected a LocalConfigError');
}

describe('bad files are refused naming the key and the file', () => {
  const cases: [string, string, string, RegExp][] = [
    ['a truncated certificate', 'server.crt', server.certPem.slice(0, server.certPem.length / 2), /General\.TLS\.Certificate \(.*server\.crt\): holds a truncated PEM certificate/],
    ['a certificate file of garbage', 'server.crt', 'hello, not a certificate\n', /General\.TLS\.Certificate \(.*server\.crt\): holds no PEM certificate/],
    [
      'a certificate whose body is damaged',
      'server.crt',
      server.certPem.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA'),
      /General\.TLS\.Certificate \(.*server\.crt\): certificate 1 is not a valid X\.509 certificate/,
    ],
    ['a truncated key', 'server.key', server.keyPem.slice(0, server.keyPem.length / 2), /General\.TLS\.PrivateKey \(.*server\.key\): is not a PEM private key/],
    ['a key file of garbage', 'server.key', 'garbage', /General\.TLS\.PrivateKey \(.*server\.key\): is not a PEM private key/],
    ['a key that is not the certificate\'s', 'server.key', other.keyPem, /General\.TLS\.PrivateKey \(.*server\.key\): is not the private key of General\.TLS\.Certificate \(.*server\.crt\)/],
    ['a damaged root CA', 'ca.crt', ca.certPem.slice(0, 100), /General\.TLS\.RootCAs \(.*ca\.crt\): holds a truncated PEM certificate/],
  ];
  test.each(cases)('%s', (_what, file, content, message) => {
    writeFileSync(path.join(dir, file), content);
    expect(failure(() => loadOrdererTls(config(), 'test.yaml')).message).toMatch(message);
  });

  test('a missing file', () => {
    expect(failure(() => loadOrdererTls(config('', '    Certificate: nope.crt\n    PrivateKey: server.key\n'))).message).toMatch(
      /General\.TLS\.Certificate \(.*nope\.crt\): cannot be read: ENOENT/,
    );
  });

  test('the cluster client pair is checked the same way', () => {
    writeFileSync(path.join(dir, 'bad.key'), other.keyPem);
    const c = config('  Cluster:\n    ClientCertificate: server.crt\n    ClientPrivateKey: bad.key\n');
    expect(failure(() => loadOrdererTls(c)).message).toMatch(/General\.Cluster\.ClientPrivateKey \(.*bad\.key\): is not the private key of General\.Cluster\.ClientCertificate/);
    const half = config('  Cluster:\n    ClientCertificate: server.crt\n');
    expect(failure(() => loadOrdererTls(half, 'test.yaml')).message).toMatch(/General\.Cluster\.ClientCertificate \(test\.yaml\): .*set together/);
  });

  test('a separate cluster listener without General.TLS and without a client pair is refused (it is mutual TLS)', () => {
    writePair(dir, 'cluster', server);
    const yaml =
      'General:\n  ListenPort: 7050\n  Cluster:\n    ListenAddress: 127.0.0.1\n    ListenPort: 7051\n    ServerCertificate: cluster.crt\n    ServerPrivateKey: cluster.key\n    RootCAs: [ca.crt]\n';
    const c = parseOrdererConfig(yaml, { baseDir: dir }).config;
    expect(failure(() => loadOrdererTls(c, 'test.yaml')).message).toMatch(/General\.Cluster\.ClientCertificate \(test\.yaml\): the separate cluster listener requires mutual TLS/);
  });

  test('TLS without any root CA for the cluster is refused', () => {
    const c = parseOrdererConfig('General:\n  TLS:\n    Enabled: true\n    Certificate: server.crt\n    PrivateKey: server.key\n', { baseDir: dir }).config;
    expect(failure(() => loadOrdererTls(c, 'test.yaml')).message).toMatch(/General\.Cluster\.RootCAs \(test\.yaml\): the cluster uses TLS/);
  });
});

describe('what is chosen', () => {
  test('a plaintext cluster is refused unless General.Cluster.AllowPlaintext says it is a test network', () => {
    expect(() => loadOrdererTls(parseOrdererConfig('').config, 'x.yaml')).toThrow(/General\.TLS\.Enabled \(x\.yaml\): the orderers of a cluster must talk over TLS.*General\.Cluster\.AllowPlaintext: true/);
    expect(() => loadOrdererTls(parseOrdererConfig('General:\n  Cluster:\n    AllowPlaintext: false\n').config)).toThrow(/must talk over TLS/);
  });

  test('plaintext with AllowPlaintext: nothing but the header authenticator', () => {
    const tls = loadOrdererTls(parseOrdererConfig('General:\n  Cluster:\n    AllowPlaintext: true\n').config);
    expect(tls).toEqual({
      serverCredentials: undefined,
      clusterClientCredentials: undefined,
      pullCredentials: undefined,
      pullTlsCertHash: undefined,
      clusterDialCredentialsFor: undefined,
      clusterListener: undefined,
      selfServerCert: undefined,
      senderIdentification: 'header',
    });
  });

  test('General.TLS on a shared port: the server pair is also the cluster pair and the self certificate', () => {
    const tls = loadOrdererTls(config());
    expect(tls.serverCredentials?._isSecure()).toBe(true);
    expect(tls.clusterClientCredentials?._isSecure()).toBe(true);
    expect(tls.clusterListener).toBeUndefined();
    expect(Buffer.from(tls.selfServerCert!).equals(Buffer.from(server.der))).toBe(true);
    expect(tls.senderIdentification).toBe('tls-certificate');
  });

  test('a separate cluster listener serves with its own pair, which is also the self certificate', () => {
    writePair(dir, 'cluster', other);
    const tls = loadOrdererTls(
      config('  ListenPort: 7050\n  Cluster:\n    ListenAddress: 127.0.0.1\n    ListenPort: 7051\n    ServerCertificate: cluster.crt\n    ServerPrivateKey: cluster.key\n'),
    );
    expect(tls.clusterListener).toMatchObject({ host: '127.0.0.1', port: 7051 });
    expect(tls.pullCredentials).toBe(tls.clusterClientCredentials);
    expect(Buffer.from(tls.selfServerCert!).equals(Buffer.from(other.der))).toBe(true);
  });
});

test('a separate TLS cluster listener with General.TLS off: client port and block pulls stay plaintext', () => {
  writePair(dir, 'cluster', other);
  const yaml =
    'General:\n  ListenPort: 7050\n  Cluster:\n    ListenAddress: 127.0.0.1\n    ListenPort: 7051\n    ServerCertificate: cluster.crt\n    ServerPrivateKey: cluster.key\n' +
    '    ClientCertificate: server.crt\n    ClientPrivateKey: server.key\n    RootCAs: [ca.crt]\n';
  const tls = loadOrdererTls(parseOrdererConfig(yaml, { baseDir: dir }).config);
  expect(tls.serverCredentials).toBeUndefined();
  expect(tls.pullCredentials).toBeUndefined();
  expect(tls.clusterClientCredentials?._isSecure()).toBe(true);
  expect(tls.clusterListener?.credentials._isSecure()).toBe(true);
  expect(tls.senderIdentification).toBe('tls-certificate');
});

describe('finding oneself among the consenters', () => {
  const pem = (p: { certPem: string }): Uint8Array => new TextEncoder().encode(p.certPem);
  const members = [
    { id: 4, host: 'a', port: 1 },
    { id: 9, host: 'b', port: 2 },
  ];
  const consenters = [{ serverTlsCert: pem(other) }, { serverTlsCert: pem(server) }];

  test('by server certificate when there is one (the listed host:port does not matter)', () => {
    expect(findSelf('ch', members, consenters, { serverTlsCert: server.der, host: 'a', port: 1 }).id).toBe(9);
  });

  test('a certificate renewed over the same key still matches (Fabric compares public keys)', () => {
    const renewed = ca.issue('orderer1.example.com', server.keys);
    expect(Buffer.from(renewed.der).equals(Buffer.from(server.der))).toBe(false);
    expect(findSelfByServerCert([{ serverTlsCert: pem(renewed) }], server.der)).toBe(0);
    // Same name, new key: not the same node.
    expect(findSelfByServerCert([{ serverTlsCert: pem(ca.issue('orderer1.example.com')) }], server.der)).toBe(-1);
  });

  test('a node whose certificate is no consenter\'s is told so, with what was compared', () => {
    const stranger = ca.issue('orderer9.example.com');
    expect(() => findSelf('ch', members, consenters, { serverTlsCert: stranger.der, host: 'a', port: 1 })).toThrow(
      /server TLS certificate \(CN=orderer9\.example\.com\) matches none of the server_tls_cert of ch's consenters \(a:1, b:2\)/,
    );
  });

  test('by host:port on a plaintext cluster', () => {
    expect(findSelf('ch', members, consenters, { serverTlsCert: undefined, host: 'b', port: 2 }).id).toBe(9);
    expect(() => findSelf('ch', members, consenters, { serverTlsCert: undefined, host: 'c', port: 3 })).toThrow(/this node \(c:3\) is not a consenter of ch/);
  });
});

describe('dialing pins the destination\'s server certificate (its server_tls_cert), as Fabric does', () => {
  test('the right certificate is talked to; another of the same CA is refused and reported unreachable', async () => {
    const pinLog = captureLogger();
    const tls = loadOrdererTls(config(), 'test.yaml', pinLog.logger);
    const aPair = ca.issue('orderer3.example.com');
    const a = new TestNode('a', { senderIdentification: 'tls-certificate' });
    const b = new TestNode('b', { tls: tls.clusterClientCredentials!, tlsFor: tls.clusterDialCredentialsFor!, senderIdentification: 'tls-certificate' });
    try {
      await a.listen(0, {
        tls: grpc.ServerCredentials.createSsl(Buffer.from(ca.certPem), [{ cert_chain: Buffer.from(aPair.certPem), private_key: Buffer.from(aPair.keyPem) }], true),
      });
      const received = { right: new RecordingReceiver(), wrong: new RecordingReceiver() };
      for (const [channel, pin] of [['right', aPair.der], ['wrong', other.der]] as const) {
        const bMember = { id: 2, host: HOST, port: 1, clientTlsCert: server.der };
        a.comm.configure(channel, { selfId: 1, members: [{ id: 1, host: HOST, port: a.port }, bMember] });
        a.comm.register(channel, received[channel]);
        b.comm.configure(channel, { selfId: 2, members: [{ id: 1, host: HOST, port: a.port, serverTlsCert: pin }, bMember] });
      }
      const heartbeat = { type: raftpb.MessageType.MsgHeartbeat, to: 1, from: 2, term: 1 };
      b.comm.sendConsensus('right', 1, heartbeat);
      await waitFor('heartbeat on the right channel', 5_000, () => (received.right.consensus.length > 0 ? true : undefined));
      b.comm.sendConsensus('wrong', 1, heartbeat);
      await waitFor('wrong pin reported unreachable', 5_000, () => (b.unreachable.some((u) => u.channel === 'wrong') ? true : undefined));
      expect(received.wrong.consensus).toEqual([]);
      expect(pinLog.lines.some((l) => l.msg.includes("whose key is not that of node 1's server_tls_cert"))).toBe(true);
      expect(received.right.consensus.map((m) => m.from)).toEqual([2]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
