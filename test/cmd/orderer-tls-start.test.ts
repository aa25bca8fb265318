// `orderer start` with a damaged TLS file named in orderer.yaml: the process exits non-zero
// before anything listens, and says which config key and which file are wrong, without a stack.
// And the happy path: a real process serving a channel over TLS with client certificates required,
// surviving a status request (SIGUSR2) during its start-up.
import * as grpc from '@grpc/grpc-js';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { genesisBlock } from '../../ledger/block';
import { buildGenesisConfigEnvelope } from '../../orderer/channelconfig';
import { BroadcastClient, deliverBlocks } from '../../orderer/deliver-client';
import { buildEnvelope } from '../../orderer/envelopes';
import { common } from '../../protos';
import { freePorts } from '../support/ports';
import { TestTlsCa, writeCa, writePair } from '../support/tls-material';
import { waitFor } from '../support/wait';
import { writeTestMsps } from '../support/test-msps';
import { createHash } from 'node:crypto';

const ORDERER_JS = path.resolve(__dirname, '../../dist/cmd/orderer.js');
let dir: string;
const ca = new TestTlsCa();
const server = ca.issue('orderer1.example.com');

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'orderer-tls-start-'));
  writePair(dir, 'server', server);
  writeCa(dir, 'ca', ca);
  writeFileSync(
    path.join(dir, 'orderer.yaml'),
    [
      'General:',
      '  ListenAddress: 127.0.0.1',
      '  ListenPort: 0',
      '  TLS:',
      '    Enabled: true',
      '    Certificate: server.crt',
      '    PrivateKey: server.key',
      '    RootCAs: [ca.crt]',
      'FileLedger:',
      `  Location: ${path.join(dir, 'ledger')}`,
      'Consensus:',
      `  WALDir: ${path.join(dir, 'wal')}`,
      `  SnapDir: ${path.join(dir, 'snap')}`,
      '',
    ].join('\n'),
  );
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function start(): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [ORDERER_JS, 'start', '--config', path.join(dir, 'orderer.yaml')], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stderr: r.stderr };
}

test('a truncated certificate: exit 1, naming General.TLS.Certificate and the file', () => {
  writeFileSync(path.join(dir, 'server.crt'), server.certPem.slice(0, 200));
  const r = start();
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`orderer: failed to start: General.TLS.Certificate (${path.join(dir, 'server.crt')}): holds a truncated PEM certificate`);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack
});

test('a key that is not the certificate\'s: exit 1, naming General.TLS.PrivateKey and the file', () => {
  writeFileSync(path.join(dir, 'server.key'), ca.issue('someone.else').keyPem);
  const r = start();
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`General.TLS.PrivateKey (${path.join(dir, 'server.key')}): is not the private key of General.TLS.Certificate`);
});

test('a single-node channel over TLS: the process serves Broadcast and Deliver to a client with a certificate, and stops cleanly', async () => {
  const [port] = await freePorts(1);
  const channel = 'tlsproc';
  const pem = (p: { certPem: string }): Uint8Array => new TextEncoder().encode(p.certPem);
  const msps = writeTestMsps(dir, 1);
  const block = genesisBlock({
    channelId: channel,
    configEnvelope: buildGenesisConfigEnvelope({
      channelId: channel,
      consenters: [{ host: '127.0.0.1', port: port!, clientTlsCert: pem(server), serverTlsCert: pem(server) }],
      ordererOrgs: [msps.ordererOrg([`127.0.0.1:${port}`])],
      applicationOrgs: [msps.clientOrg],
      openAccess: true,
      batchTimeout: '100ms',
      options: { tickInterval: '100ms' },
    }),
  });
  writeFileSync(path.join(dir, 'genesis.block'), common.Block.encode(block));
  writeFileSync(
    path.join(dir, 'orderer.yaml'),
    readFileSync(path.join(dir, 'orderer.yaml'), 'utf8')
      .replace('  ListenPort: 0', `  ListenPort: ${port}`)
      .replace('    RootCAs: [ca.crt]', `    RootCAs: [ca.crt]\n    ClientAuthRequired: true\n    ClientRootCAs: [ca.crt]\n  BootstrapChannels:\n    - name: ${channel}\n      genesisBlock: genesis.block\n  LocalMSPDir: ${msps.ordererMspDirs[0]}\n  LocalMSPID: OrdererMSP`),
  );
  const child = spawn(process.execPath, [ORDERER_JS, 'start', '--config', path.join(dir, 'orderer.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // A status request (SIGUSR2) while the node is still starting, at its first log line: it must
  // not kill the node (Node's default action for the signal is to exit).
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    if (stdout.length === 0) child.kill('SIGUSR2');
    stdout += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const user = ca.issue('User1@org1.example.com');
    const tls = grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(user.keyPem), Buffer.from(user.certPem));
    const env = buildEnvelope({ channelId: channel, creator: Buffer.from('tls-proc'), data: Buffer.from('hello over TLS'), signature: Buffer.from('sig') });
    await waitFor('the node takes an envelope over TLS', 20_000, async () => {
      const client = new BroadcastClient(`127.0.0.1:${port}`, { tls });
      try {
        return (await client.send(env.bytes)).status === common.Status.SUCCESS ? true : undefined;
      } catch {
        return undefined;
      } finally {
        client.cancel();
      }
    }, 200);
    // With client certificates required, a seek names its connection's certificate by hash
    // (Fabric's binding check); one that does not, or names another, is BAD_REQUEST.
    const tlsCertHash = new Uint8Array(createHash('sha256').update(user.der).digest());
    await waitFor('the envelope in a block, read over TLS', 10_000, async () => {
      for await (const b of deliverBlocks({ address: `127.0.0.1:${port}`, channelId: channel, start: 'newest', stop: 'newest', receiveTimeoutMs: 5_000, tls, tlsCertHash })) {
        if (b.number > 0) return true;
      }
      return undefined;
    }, 200);
    for (const hash of [undefined, new Uint8Array(createHash('sha256').update(server.der).digest())]) {
      const seek = deliverBlocks({ address: `127.0.0.1:${port}`, channelId: channel, start: 'oldest', stop: 'oldest', receiveTimeoutMs: 5_000, tls, ...(hash !== undefined ? { tlsCertHash: hash } : {}) });
      await expect(seek.next()).rejects.toMatchObject({ status: common.Status.BAD_REQUEST });
    }
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  expect(stderr).not.toContain('failed to start');
  expect(stdout).toMatch(/status requested while the orderer is starting|chain status/);
}, 40_000);
