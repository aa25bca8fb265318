// The built osnadmin CLI (dist/cmd/osnadmin.js) run as a real process against an Admin server in
// this process (a fake node behind it): join, list, info, remove, Fabric's output (`Status: N`,
// the JSON indented with tabs, fmt.Println's final newline), --no-status, exit codes, the block's
// channel ID check, and mutual TLS.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { AdminServer, goJsonIndent } from '../../orderer/participation';
import { common } from '../../protos';
import { FakeParticipation, joinBlock } from '../support/fake-participation';
import { TestTlsCa, writeCa, writePair } from '../support/tls-material';

const OSNADMIN_JS = path.resolve(__dirname, '../../dist/cmd/osnadmin.js');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI without blocking this process (the server it talks to lives here). */
function osnadmin(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OSNADMIN_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const silent = pino({ level: 'silent' });
let dir: string;
let fake: FakeParticipation;
let server: AdminServer;
let address: string;
let blockFile: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'osnadmin-'));
  blockFile = path.join(dir, 'mychannel.block');
  writeFileSync(blockFile, common.Block.encode(joinBlock('mychannel')));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('over plain HTTP', () => {
  beforeEach(async () => {
    fake = new FakeParticipation();
    server = new AdminServer({ host: '127.0.0.1', port: 0, tls: undefined, participation: fake, participationEnabled: true, maxRequestBodySizeBytes: 1024 * 1024, logger: silent });
    await server.start();
    address = `127.0.0.1:${server.port}`;
  });
  afterEach(() => server.stop());

  test('join, list, list -c, info, remove: Fabric\'s output and exit 0', async () => {
    const joined = await osnadmin(['channel', 'join', '-o', address, '--channelID', 'mychannel', '--config-block', blockFile]);
    expect(joined).toEqual({
      code: 0,
      stderr: '',
      stdout:
        'Status: 201\n{\n\t"name": "mychannel",\n\t"url": "/participation/v1/channels/mychannel",\n\t"consensusRelation": "consenter",\n\t"status": "active",\n\t"height": 1\n}\n\n',
    });
    expect(fake.joinCalls).toHaveLength(1);

    const list = await osnadmin(['channel', 'list', '--orderer-address', address]);
    expect(list.code).toBe(0);
    expect(list.stdout).toBe('Status: 200\n{\n\t"systemChannel": null,\n\t"channels": [\n\t\t{\n\t\t\t"name": "mychannel",\n\t\t\t"url": "/participation/v1/channels/mychannel"\n\t\t}\n\t]\n}\n\n');

    const one = await osnadmin(['channel', 'list', '-o', address, '-c', 'mychannel']);
    const info = await osnadmin(['channel', 'info', '-o', address, '-c', 'mychannel']);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^Status: 200\n\{\n\t"name": "mychannel",/);
    expect(info).toEqual(one);

    const removed = await osnadmin(['channel', 'remove', '-o', address, '-c', 'mychannel']);
    expect(removed).toEqual({ code: 0, stdout: 'Status: 204\n\n', stderr: '' });
    expect(fake.removeCalls).toEqual(['mychannel']);
  });

  test('refusals are answers too: printed with their status, exit 0', async () => {
    await osnadmin(['channel', 'join', '-o', address, '-c', 'mychannel', '-b', blockFile]);
    const again = await osnadmin(['channel', 'join', '-o', address, '-c', 'mychannel', '-b', blockFile]);
    expect(again).toEqual({ code: 0, stderr: '', stdout: 'Status: 405\n{\n\t"error": "cannot join: channel already exists"\n}\n\n' });
    const missing = await osnadmin(['channel', 'list', '-o', address, '-c', 'other']);
    expect(missing.stdout).toBe('Status: 404\n{\n\t"error": "channel does not exist"\n}\n\n');
    expect(missing.code).toBe(0);
    const empty = await osnadmin(['channel', 'remove', '-o', address, '-c', 'other']);
    expect([empty.code, empty.stdout.split('\n')[0]]).toEqual([0, 'Status: 404']);
  });

  test('--no-status leaves the status line out', async () => {
    const list = await osnadmin(['--no-status', 'channel', 'list', '-o', address]);
    expect(list).toEqual({ code: 0, stderr: '', stdout: '{\n\t"systemChannel": null,\n\t"channels": null\n}\n\n' });
    await osnadmin(['channel', 'join', '-o', address, '-c', 'mychannel', '-b', blockFile]);
    const removed = await osnadmin(['channel', 'remove', '-o', address, '-c', 'mychannel', '--no-status']);
    expect(removed.stdout).toBe('\n');
  });

  test('join checks the block\'s channel ID against --channelID before sending: exit 1, nothing sent', async () => {
    const r = await osnadmin(['channel', 'join', '-o', address, '-c', 'other', '-b', blockFile]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('osnadmin: error: parsing arguments: specified --channelID other does not match channel ID mychannel in config block. Try --help\n');
    expect(fake.joinCalls).toHaveLength(0);
  });

  test('join with an unreadable or garbage block file: exit 1, nothing sent', async () => {
    const missing = await osnadmin(['channel', 'join', '-o', address, '-c', 'mychannel', '-b', path.join(dir, 'nope.block')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^osnadmin: error: parsing arguments: reading config block: .*ENOENT/);
    const garbageFile = path.join(dir, 'garbage.block');
    writeFileSync(garbageFile, 'garbage garbage');
    const garbage = await osnadmin(['channel', 'join', '-o', address, '-c', 'mychannel', '-b', garbageFile]);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/^osnadmin: error: parsing arguments: /);
    expect(fake.joinCalls).toHaveLength(0);
  });

  test('usage errors: exit 1 with the reason and the usage on stderr', async () => {
    const cases: Array<[string[], string]> = [
      [['channel', 'list'], 'required flag --orderer-address not provided'],
      [['channel', 'remove', '-o', address], 'required flag --channelID not provided'],
      [['channel', 'info', '-o', address], 'required flag --channelID not provided'],
      [['channel', 'join', '-o', address, '-c', 'mychannel'], 'required flag --config-block not provided'],
      [['channel', 'list', '-o', address, '-b', blockFile], "unknown long flag '--config-block' for channel list"],
      [['channel', 'list', '-o', address, '--bogus'], "Unknown option '--bogus'"],
      [['channel', 'frobnicate', '-o', address], 'unknown command "channel frobnicate"'],
      [['-o', address], 'expected command but got none'],
    ];
    for (const [args, reason] of cases) {
      const r = await osnadmin(args);
      expect([args.join(' '), r.code, r.stdout]).toEqual([args.join(' '), 1, '']);
      expect(r.stderr).toContain(`osnadmin: error: parsing arguments: ${reason}`);
      expect(r.stderr).toContain('usage: osnadmin');
    }
    expect(fake.joinCalls.length + fake.removeCalls.length).toBe(0);
  });

  test('--help: the usage on stdout, exit 0', async () => {
    const r = await osnadmin(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: osnadmin/);
    expect(r.stdout).toContain('channel join --channelID=CHANNELID --config-block=CONFIG-BLOCK');
  });
});

test('an orderer that cannot be reached: "Error: ..." on stdout, exit 1', async () => {
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const r = await osnadmin(['channel', 'list', '-o', `127.0.0.1:${port}`]);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe(`Error: Get "http://127.0.0.1:${port}/participation/v1/channels": connect ECONNREFUSED 127.0.0.1:${port}\n\n`);
});

test('an answer whose body is not JSON: "Error: ..." on stdout, exit 1', async () => {
  const notJson = http.createServer((_req, res) => {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('404 page not found\n');
  });
  await new Promise<void>((resolve) => notJson.listen(0, '127.0.0.1', resolve));
  try {
    const r = await osnadmin(['channel', 'list', '-o', `127.0.0.1:${(notJson.address() as AddressInfo).port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Error: .*JSON/);
  } finally {
    await new Promise((resolve) => notJson.close(resolve));
  }
});

describe('over mutual TLS', () => {
  const ca = new TestTlsCa('tlsca.example.com');
  const stranger = new TestTlsCa('tlsca.elsewhere.com');
  let files: { ca: string; cert: string; key: string; strangerCert: string; strangerKey: string };

  beforeAll(() => {
    const admin = writePair(dir, 'admin', ca.issue('Admin@example.com'));
    const other = writePair(dir, 'stranger', stranger.issue('Admin@elsewhere.com'));
    files = { ca: writeCa(dir, 'ca', ca), cert: admin.cert, key: admin.key, strangerCert: other.cert, strangerKey: other.key };
  });

  beforeEach(async () => {
    fake = new FakeParticipation();
    const serverPair = ca.issue('orderer0.example.com');
    server = new AdminServer({
      host: '127.0.0.1',
      port: 0,
      tls: { certPem: Buffer.from(serverPair.certPem), keyPem: Buffer.from(serverPair.keyPem), clientRootPems: [Buffer.from(ca.certPem)], clientAuthRequired: true },
      participation: fake,
      participationEnabled: true,
      maxRequestBodySizeBytes: 1024 * 1024,
      logger: silent,
    });
    await server.start();
    address = `127.0.0.1:${server.port}`;
  });
  afterEach(() => server.stop());

  test('with --ca-file and the admin pair: joined over https', async () => {
    const r = await osnadmin(['channel', 'join', '-o', address, '--ca-file', files.ca, '--client-cert', files.cert, '--client-key', files.key, '-c', 'mychannel', '-b', blockFile]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Status: 201\n/);
    expect(fake.joinCalls).toHaveLength(1);
  });

  test('--ca-file without the client pair: exit 1 before any request (as Fabric)', async () => {
    const r = await osnadmin(['channel', 'list', '-o', address, '--ca-file', files.ca]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^osnadmin: error: parsing arguments: loading client cert\/key pair: /);
  });

  test('a client certificate the orderer does not trust: "Error: ..." exit 1, nothing done', async () => {
    const r = await osnadmin(['channel', 'remove', '-o', address, '--ca-file', files.ca, '--client-cert', files.strangerCert, '--client-key', files.strangerKey, '-c', 'mychannel']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Error: Delete "https:\/\/127\.0\.0\.1:\d+\/participation\/v1\/channels\/mychannel": /);
    expect(fake.removeCalls).toHaveLength(0);
  });

  test('plain http to the TLS endpoint (no --ca-file): "Error: ..." exit 1', async () => {
    const r = await osnadmin(['channel', 'list', '-o', address]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^Error: Get "http:/);
  });
});

describe('goJsonIndent (Go\'s json.Indent with a tab)', () => {
  test.each([
    ['{"a":1,"b":[],"c":{},"d":[1,2]}', '{\n\t"a": 1,\n\t"b": [],\n\t"c": {},\n\t"d": [\n\t\t1,\n\t\t2\n\t]\n}'],
    ['  {"e":"\\u003c x \\" , : {[","n":1.50e+3}\n', '{\n\t"e": "\\u003c x \\" , : {[",\n\t"n": 1.50e+3\n}\n'],
    ['[ ]', '[]'],
    ['null', 'null'],
    ['"s"', '"s"'],
  ])('%j', (src, expected) => {
    expect(goJsonIndent(src)).toBe(expected);
  });

  test('not JSON: SyntaxError', () => {
    expect(() => goJsonIndent('404 page not found')).toThrow(SyntaxError);
    expect(() => goJsonIndent('{}{}')).toThrow(SyntaxError);
  });
});
