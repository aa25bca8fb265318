// `orderer start` with a damaged TLS file named in orderer.yaml: the process exits non-zero
// before anything listens, and says which config key and which file are wrong, without a stack.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestTlsCa, writeCa, writePair } from '../support/tls-material';

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
