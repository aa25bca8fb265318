// The Admin server's TLS (reference §6.1): TLS 1.2+, client certificates required and verified
// against ClientRootCAs with ClientAuthRequired, else verified when offered; 401 (empty body) on
// /participation/v1/ without a verified client certificate, before the disabled check. And
// adminServerFromConfig: the server built from orderer.yaml, failing on a bad file with its key.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseOrdererConfig } from '../../../orderer/config';
import { LocalConfigError } from '../../../orderer/errors';
import { AdminServer, adminServerFromConfig } from '../../../orderer/participation';
import { FakeParticipation } from '../../support/fake-participation';
import { httpRequest } from '../../support/http-request';
import { TestTlsCa, writeCa, writePair } from '../../support/tls-material';

const silent = pino({ level: 'silent' });
const ca = new TestTlsCa('tlsca.example.com');
const serverPair = ca.issue('orderer0.example.com');
const adminPair = ca.issue('Admin@example.com');
const strangerCa = new TestTlsCa('tlsca.elsewhere.com');
const strangerPair = strangerCa.issue('Admin@elsewhere.com');

let server: AdminServer;
let fake: FakeParticipation;

async function startTls(clientAuthRequired: boolean, enabled = true): Promise<string> {
  fake = new FakeParticipation();
  fake.channels.set('mychannel', { name: 'mychannel', consensusRelation: 'consenter', status: 'active', height: 2 });
  server = new AdminServer({
    host: '127.0.0.1',
    port: 0,
    tls: { certPem: Buffer.from(serverPair.certPem), keyPem: Buffer.from(serverPair.keyPem), clientRootPems: [Buffer.from(ca.certPem)], clientAuthRequired },
    participation: fake,
    participationEnabled: enabled,
    maxRequestBodySizeBytes: 1024 * 1024,
    logger: silent,
  });
  await server.start();
  return `https://127.0.0.1:${server.port}`;
}

afterEach(() => server?.stop());

const asAdmin = { ca: ca.certPem, cert: adminPair.certPem, key: adminPair.keyPem };
const asStranger = { ca: ca.certPem, cert: strangerPair.certPem, key: strangerPair.keyPem };
const anonymous = { ca: ca.certPem };

describe('ClientAuthRequired: true', () => {
  test('an admin certificate from ClientRootCAs is served', async () => {
    const base = await startTls(true);
    const r = await httpRequest(`${base}/participation/v1/channels/mychannel`, asAdmin);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ name: 'mychannel', url: '/participation/v1/channels/mychannel', consensusRelation: 'consenter', status: 'active', height: 2 });
  });

  test('no client certificate: the handshake fails, nothing is served', async () => {
    const base = await startTls(true);
    await expect(httpRequest(`${base}/participation/v1/channels`, anonymous)).rejects.toThrow();
  });

  test('a certificate from an unknown CA: the handshake fails, the node is never asked', async () => {
    const base = await startTls(true);
    await expect(httpRequest(`${base}/participation/v1/channels/mychannel`, { ...asStranger, method: 'DELETE' })).rejects.toThrow();
    expect(fake.removeCalls).toHaveLength(0);
  });

  test('plaintext HTTP to the TLS port is not served', async () => {
    const base = await startTls(true);
    await expect(httpRequest(`${base.replace('https:', 'http:')}/participation/v1/channels`)).rejects.toThrow();
  });
});

describe('ClientAuthRequired: false (verified when offered)', () => {
  test('no client certificate: 401 with an empty body on /participation/v1/, even when the API is disabled', async () => {
    const base = await startTls(false, false);
    for (const p of ['/participation/v1/', '/participation/v1/channels', '/participation/v1/channels/mychannel']) {
      const r = await httpRequest(`${base}${p}`, anonymous);
      expect([p, r.status, r.body.length]).toEqual([p, 401, 0]);
    }
  });

  test('no client certificate: DELETE is 401 and the node is never asked; paths outside the API stay 404', async () => {
    const base = await startTls(false);
    const r = await httpRequest(`${base}/participation/v1/channels/mychannel`, { ...anonymous, method: 'DELETE' });
    expect(r.status).toBe(401);
    expect(fake.removeCalls).toHaveLength(0);
    expect((await httpRequest(`${base}/metrics`, anonymous)).status).toBe(404);
  });

  test('an admin certificate is served', async () => {
    const base = await startTls(false);
    const r = await httpRequest(`${base}/participation/v1/channels/mychannel`, { ...asAdmin, method: 'DELETE' });
    expect(r.status).toBe(204);
    expect(fake.removeCalls).toEqual(['mychannel']);
  });

  test('a certificate from an unknown CA: the connection is closed, nothing is served', async () => {
    const base = await startTls(false);
    await expect(httpRequest(`${base}/participation/v1/channels/mychannel`, { ...asStranger, method: 'DELETE' })).rejects.toThrow();
    expect(fake.removeCalls).toHaveLength(0);
  });
});

test('TLS 1.2 is accepted (the minimum), so are newer', async () => {
  const base = await startTls(true);
  const https = await import('node:https');
  const status = await new Promise<number>((resolve, reject) => {
    const req = https.request(`${base}/participation/v1/channels`, { ...asAdmin, maxVersion: 'TLSv1.2', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  expect(status).toBe(200);
});

describe('adminServerFromConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'admin-config-'));
    writePair(dir, 'server', serverPair);
    writeCa(dir, 'ca', ca);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function config(tlsLines: string[], participation = ['ChannelParticipation:', '  Enabled: true', '  MaxRequestBodySize: 2 MB']): ReturnType<typeof parseOrdererConfig>['config'] {
    const yaml = ['Admin:', '  ListenAddress: 127.0.0.1:0', '  TLS:', ...tlsLines.map((l) => `    ${l}`), ...participation, ''].join('\n');
    return parseOrdererConfig(yaml, { baseDir: dir }).config;
  }
  const tlsOn = ['Enabled: true', 'Certificate: server.crt', 'PrivateKey: server.key', 'ClientAuthRequired: true', 'ClientRootCAs: [ca.crt]'];

  test('serves over mutual TLS with the files of orderer.yaml', async () => {
    fake = new FakeParticipation();
    server = adminServerFromConfig(config(tlsOn), fake, silent);
    await server.start();
    const r = await httpRequest(`https://127.0.0.1:${server.port}/participation/v1/channels`, asAdmin);
    expect(r.status).toBe(200);
    await expect(httpRequest(`https://127.0.0.1:${server.port}/participation/v1/channels`, anonymous)).rejects.toThrow();
  });

  test('plaintext and disabled when the config says so', async () => {
    fake = new FakeParticipation();
    server = adminServerFromConfig(config(['Enabled: false'], []), fake, silent);
    await server.start();
    const r = await httpRequest(`http://127.0.0.1:${server.port}/participation/v1/channels`);
    expect(r.status).toBe(503);
  });

  function expectConfigError(tlsLines: string[], key: string, file: string | undefined, reason: RegExp): void {
    let thrown: unknown;
    try {
      adminServerFromConfig(config(tlsLines), new FakeParticipation(), silent);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(LocalConfigError);
    const e = thrown as LocalConfigError;
    expect(e.key).toBe(key);
    if (file !== undefined) expect(e.source).toBe(path.join(dir, file));
    expect(e.message).toMatch(reason);
  }

  test('a missing certificate file names Admin.TLS.Certificate and the file', () => {
    rmSync(path.join(dir, 'server.crt'));
    expectConfigError(tlsOn, 'Admin.TLS.Certificate', 'server.crt', /cannot be read/);
  });

  test('a garbage private key names Admin.TLS.PrivateKey and the file', () => {
    writeFileSync(path.join(dir, 'server.key'), 'garbage');
    expectConfigError(tlsOn, 'Admin.TLS.PrivateKey', 'server.key', /is not a PEM private key/);
  });

  test('a key that is not the certificate\'s is refused', () => {
    writeFileSync(path.join(dir, 'server.key'), adminPair.keyPem);
    expectConfigError(tlsOn, 'Admin.TLS.PrivateKey', 'server.key', /is not the private key of Admin.TLS.Certificate/);
  });

  test('a garbage client root CA names Admin.TLS.ClientRootCAs and the file', () => {
    writeFileSync(path.join(dir, 'ca.crt'), 'not a certificate');
    expectConfigError(tlsOn, 'Admin.TLS.ClientRootCAs', 'ca.crt', /holds no PEM certificate/);
  });

  test('ClientAuthRequired without ClientRootCAs is refused (no client could ever be verified)', () => {
    expectConfigError(['Enabled: true', 'Certificate: server.crt', 'PrivateKey: server.key', 'ClientAuthRequired: true'], 'Admin.TLS.ClientRootCAs', undefined, /must name at least one CA/);
  });

  test('a bad Admin.ListenAddress is refused', () => {
    const c = parseOrdererConfig('Admin:\n  ListenAddress: nonsense\n').config;
    expect(() => adminServerFromConfig(c, new FakeParticipation(), silent)).toThrow(/Admin.ListenAddress/);
  });
});
