// `npm start` as a user runs it: nodes in their own processes, a banner, one Ctrl-C (delivered
// twice, by the terminal and by npm) stops all of them cleanly, a second run resumes on the ports
// the network was created with, --fresh starts over, a node that cannot start is named with its
// reason, and a mistyped --dir deletes and writes nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { devnetLayout, type DevnetCrypto } from '../../orderer/devnet';
import type { EnvelopeSigner } from '../../orderer/envelopes';
import { loadLocalSigningIdentity } from '../../orderer/msp/local-msp';
import { envelopeSignerOf } from '../../orderer/msp/signers';
import { common } from '../../protos';
import { broadcastOne, chainHeight, freePorts, type ClientAccess, makeEnvelope, sendLoad, waitFor, waitForService } from './harness';

jest.setTimeout(120_000);

const DEVNET_JS = path.resolve(__dirname, '../../dist/cmd/devnet.js');
let dataDir: string;
const children: ChildProcess[] = [];

interface Launched {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function launch(args: string[], cwd?: string): Launched {
  let out = '';
  const c = spawn(process.execPath, [DEVNET_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd !== undefined ? { cwd } : {}) });
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  c.stderr.on('data', (d: Buffer) => (out += d.toString()));
  children.push(c);
  const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
  return { child: c, output: () => out, exited };
}

/**
 * `npm start` enforces the channel's policies and serves TLS: the probes sign as the devnet's
 * client (User1 of Org1MSP) and trust its TLS CA. Read when first used, since the launcher
 * writes the material after it starts.
 */
function client(): ClientAccess {
  const crypto = (): DevnetCrypto => devnetLayout({ dataDir }).crypto;
  let signer: EnvelopeSigner | undefined;
  const loadSigner = (): EnvelopeSigner => (signer ??= envelopeSignerOf(loadLocalSigningIdentity(crypto().clientMspDir, crypto().clientMspId)));
  return {
    signer: {
      get creator() {
        return loadSigner().creator;
      },
      sign: (data) => loadSigner().sign(data),
    },
    get tls() {
      return grpc.credentials.createSsl(readFileSync(crypto().ordererTlsCaPath));
    },
  };
}

function nodeDirs(): string[] {
  return readdirSync(dataDir).filter((n) => n.startsWith('orderer')).map((n) => path.join(dataDir, n));
}

beforeEach(() => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'devnet-e2e-'));
});

afterEach(async () => {
  // The launcher stops its nodes when it gets SIGTERM (and they stop by themselves if it dies).
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await new Promise((resolve) => c.once('exit', resolve));
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
});

test('one Ctrl-C stops every node cleanly; it resumes on its stored ports, refuses others, and --fresh starts over', async () => {
  const ports = await freePorts(3);
  const first = launch(['--dir', dataDir, '--ports', ports.join(',')]);
  await waitFor('the banner', 10_000, () => (first.output().includes('Ctrl-C stops all three nodes') ? true : undefined));
  for (const p of ports) expect(first.output()).toContain(`127.0.0.1:${p}`);
  expect(first.output()).toContain('client.js broadcast');
  const address = `127.0.0.1:${ports[0]}`;
  await waitForService(address, 'mychannel', 30_000, client());
  // TLS, policies and the banner's paths: what the banner names is what lets a client in.
  const crypto = devnetLayout({ dataDir }).crypto;
  for (const file of [crypto.clientMspDir, crypto.clientCertPath, crypto.clientKeyPath, crypto.ordererTlsCaPath]) {
    expect(first.output()).toContain(file);
    expect(existsSync(file)).toBe(true);
  }
  expect(first.output()).toContain(`--tls-ca ${crypto.ordererTlsCaPath}`);
  expect((await broadcastOne(address, makeEnvelope('mychannel', 10).bytes, { tls: client().tls })).status).toBe(common.Status.FORBIDDEN);
  await expect(broadcastOne(address, makeEnvelope('mychannel', 10, client().signer).bytes)).rejects.toThrow(/No connection established|ECONNRESET|Connection dropped|socket/i);
  await sendLoad([address], Array.from({ length: 50 }, () => makeEnvelope('mychannel', 100, client().signer)), 1, { tls: client().tls });
  const height = await waitFor('all envelopes ordered', 20_000, async () => {
    const hs = await Promise.all(ports.map((p) => chainHeight(`127.0.0.1:${p}`, 'mychannel', client())));
    return hs.every((h) => h === hs[0]) && hs[0]! >= 2 ? hs[0] : undefined;
  });

  // A second npm start on the running network's directory, with --fresh or without, is refused
  // and deletes nothing: the running nodes would go on acknowledging into deleted files.
  for (const extra of [['--fresh'], []]) {
    const second = launch(['--dir', dataDir, '--ports', ports.join(','), ...extra]);
    expect(await second.exited).toBe(2);
    expect(second.output()).toMatch(/npm start is running from it|npm start is already running from/);
  }
  expect(await chainHeight(address, 'mychannel', client())).toBe(height);

  // A Ctrl-C in a terminal reaches the launcher twice (the terminal's process group, then npm
  // forwarding it): still one clean stop, not a forced one.
  first.child.kill('SIGINT');
  first.child.kill('SIGINT');
  expect(await first.exited).toBe(0);
  expect(first.output()).toContain('all nodes stopped');
  expect(first.output()).not.toContain('SIGKILL');
  for (const dir of nodeDirs()) {
    const log = readFileSync(path.join(dir, 'orderer.log'), 'utf8');
    expect(log).toContain('"msg":"orderer stopped"');
    expect(log).not.toContain('second signal');
    // The WAL's LOCK is released by a clean stop (a stale one would need a takeover at restart).
    expect(existsSync(path.join(dir, 'etcdraft', 'wal', 'mychannel', 'LOCK'))).toBe(false);
  }

  const otherPorts = await freePorts(3);
  const moved = launch(['--dir', dataDir, '--ports', otherPorts.join(',')]);
  expect(await moved.exited).toBe(2);
  expect(moved.output()).toContain(`holds a network created with --ports ${ports.join(',')}`);

  const second = launch(['--dir', dataDir]);
  await waitFor('the banner again', 10_000, () => (second.output().includes('resumed from') ? true : undefined));
  expect(second.output()).toContain(`127.0.0.1:${ports[2]}`);
  const resumed = await waitFor('the resumed network', 30_000, async () => chainHeight(address, 'mychannel', client()));
  expect(resumed).toBe(height);
  second.child.kill('SIGINT');
  expect(await second.exited).toBe(0);

  const third = launch(['--dir', dataDir, '--fresh', '--ports', ports.join(',')]);
  await waitFor('a fresh network', 30_000, async () => ((await chainHeight(address, 'mychannel', client())) === 1 ? true : undefined));
  third.child.kill('SIGINT');
  expect(await third.exited).toBe(0);
});

test('a node that cannot start is named with the reason from its log', async () => {
  const ports = await freePorts(3);
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(ports[1], '127.0.0.1', resolve));
  try {
    const run = launch(['--dir', dataDir, '--ports', ports.join(',')]);
    await waitFor('orderer2 to be reported', 20_000, () => (run.output().includes('orderer2 exited unexpectedly') ? true : undefined));
    expect(run.output()).toMatch(/orderer2 exited unexpectedly \(code 1\): orderer failed to start: .*EADDRINUSE/);
    expect(run.output()).toContain(path.join(dataDir, 'orderer2', 'orderer.log'));
    // The other two keep running (they are a quorum) until Ctrl-C.
    await waitForService(`127.0.0.1:${ports[0]}`, 'mychannel', 30_000, client());
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('all running nodes stopped');
  } finally {
    squatter.close();
  }
});

test('nodes never outlive a launcher that is killed: they stop by themselves, cleanly', async () => {
  const ports = await freePorts(3);
  const run = launch(['--dir', dataDir, '--ports', ports.join(',')]);
  await waitForService(`127.0.0.1:${ports[0]}`, 'mychannel', 30_000, client());
  run.child.kill('SIGKILL');
  await run.exited;
  await waitFor('every node to stop', 20_000, () =>
    nodeDirs().every((dir) => readFileSync(path.join(dir, 'orderer.log'), 'utf8').includes('"msg":"orderer stopped"')) ? true : undefined,
  );
  for (const dir of nodeDirs()) {
    const log = readFileSync(path.join(dir, 'orderer.log'), 'utf8');
    expect(log).toContain('"signal":"stdin closed"');
    expect(existsSync(path.join(dir, 'etcdraft', 'wal', 'mychannel', 'LOCK'))).toBe(false);
  }
  // And the ports are free again: a new launcher resumes the network on them.
  const again = launch(['--dir', dataDir]);
  await waitForService(`127.0.0.1:${ports[1]}`, 'mychannel', 30_000, client());
  again.child.kill('SIGINT');
  expect(await again.exited).toBe(0);
});

test('a mistyped --dir deletes nothing and writes nothing', async () => {
  // A stand-in for the checkout `npm start` runs in.
  const checkout = path.join(dataDir, 'checkout');
  mkdirSync(path.join(checkout, '.git'), { recursive: true });
  writeFileSync(path.join(checkout, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(path.join(checkout, 'canary.txt'), 'must survive');
  const before = readdirSync(checkout).sort();
  const cases: { args: string[]; says: string }[] = [
    { args: ['--fresh', '--dir'], says: '--dir needs a directory' },
    { args: ['--dir'], says: '--dir needs a directory' },
    { args: ['--dir', '--fresh'], says: '--dir needs a directory' },
    { args: ['--dir', '.'], says: 'refusing to use' },
    { args: ['--fresh', '--dir', '.'], says: 'refusing to delete' },
    { args: ['--fresh', '--dir', checkout], says: 'refusing to delete' },
  ];
  for (const { args, says } of cases) {
    const run = launch(args, checkout);
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain(says);
    expect(readdirSync(checkout).sort()).toEqual(before);
    expect(readFileSync(path.join(checkout, 'canary.txt'), 'utf8')).toBe('must survive');
    expect(existsSync(path.join(checkout, '.git', 'HEAD'))).toBe(true);
  }
});
