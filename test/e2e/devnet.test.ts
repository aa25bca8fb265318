// `npm start` as a user runs it: nodes in their own processes, a new network's channel created
// through the channel participation API on every node (a resumed one joins nothing), a banner
// whose osnadmin command works as pasted, one Ctrl-C (delivered twice, by the terminal and by npm)
// stops all of them cleanly, a second run resumes on the ports the network was created with,
// --fresh starts over, a node that cannot start is named with its reason, and a mistyped --dir
// deletes and writes nothing.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { promisify } from 'node:util';
import { devnetAdminClient, devnetLayout, type DevnetCrypto } from '../../orderer/devnet';
import { AdminRequestError, listChannel, listChannels } from '../../orderer/participation/admin-client';
import type { EnvelopeSigner } from '../../orderer/envelopes';
import { loadLocalSigningIdentity } from '../../orderer/msp/local-msp';
import { envelopeSignerOf } from '../../orderer/msp/signers';
import { common } from '../../protos';
import { broadcastOne, chainHeight, freePorts, headerHashes, type ClientAccess, makeEnvelope, readChain, sendLoad, verifyChain, waitFor, waitForService } from './harness';

jest.setTimeout(120_000);

const REPO_ROOT = path.resolve(__dirname, '../..');
const DEVNET_JS = path.join(REPO_ROOT, 'dist/cmd/devnet.js');
const ORDERER_JS = path.join(REPO_ROOT, 'dist/cmd/orderer.js');
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

/**
 * Client and Admin ports for a three-node launcher: free ones, so that no test uses the default
 * Admin ports (9443 and up) another run on this machine may hold.
 */
async function launcherPorts(): Promise<{ ports: number[]; adminPorts: number[]; operationsPorts: number[]; args: string[] }> {
  const all = await freePorts(9);
  const ports = all.slice(0, 3);
  const adminPorts = all.slice(3, 6);
  const operationsPorts = all.slice(6);
  return {
    ports,
    adminPorts,
    operationsPorts,
    args: ['--ports', ports.join(','), '--admin-ports', adminPorts.join(','), '--operations-ports', operationsPorts.join(',')],
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
  const { ports, args: portArgs } = await launcherPorts();
  const first = launch(['--dir', dataDir, ...portArgs]);
  await waitFor('the banner', 30_000, () => (first.output().includes('Ctrl-C stops all three nodes') ? true : undefined));
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
    const second = launch(['--dir', dataDir, ...portArgs, ...extra]);
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

  const second = launch(['--dir', dataDir, ...portArgs.slice(2)]);
  await waitFor('the banner again', 10_000, () => (second.output().includes('resumed from') ? true : undefined));
  expect(second.output()).toContain(`127.0.0.1:${ports[2]}`);
  const resumed = await waitFor('the resumed network', 30_000, async () => chainHeight(address, 'mychannel', client()));
  expect(resumed).toBe(height);
  second.child.kill('SIGINT');
  expect(await second.exited).toBe(0);

  const third = launch(['--dir', dataDir, '--fresh', ...portArgs]);
  await waitFor('a fresh network', 30_000, async () => ((await chainHeight(address, 'mychannel', client())) === 1 ? true : undefined));
  third.child.kill('SIGINT');
  expect(await third.exited).toBe(0);
});

/** The ChannelInfo a node's Admin API answered. */
function activeConsenter(body: Buffer): { status: string; consensusRelation: string; height: number } {
  return JSON.parse(body.toString('utf8')) as { status: string; consensusRelation: string; height: number };
}

test('a new network gets mychannel through the participation API on every node, with mutual TLS; a restart joins nothing and serves the same blocks', async () => {
  const { ports, adminPorts, args: portArgs } = await launcherPorts();
  const first = launch(['--dir', dataDir, ...portArgs]);
  await waitFor('the banner', 30_000, () => (first.output().includes('Ctrl-C stops all three nodes') ? true : undefined));
  for (const name of ['orderer1', 'orderer2', 'orderer3']) expect(first.output()).toContain(`joining ${name} to mychannel… 201 active`);
  // The joins come before the banner: it describes a network that has its channel.
  expect(first.output().indexOf('joining orderer3')).toBeLessThan(first.output().indexOf('Fabric Raft ordering service'));
  const layout = devnetLayout({ dataDir, ports, adminPorts });
  for (const node of layout.nodes) {
    const yaml = readFileSync(node.configPath, 'utf8');
    // Created as an operator creates a channel, not from the config file.
    expect(yaml).not.toContain('BootstrapChannels');
    expect(yaml).toMatch(/ChannelParticipation:\n {2}Enabled: true/);
    expect(yaml).toContain(`ListenAddress: 127.0.0.1:${node.adminPort}`);
    expect(yaml).toContain('ClientAuthRequired: true');
    expect(first.output()).toContain(`127.0.0.1:${node.adminPort}`);
  }

  // Every node lists mychannel as an active consenter, to the orderer org admin's TLS pair...
  for (const node of layout.nodes) {
    const admin = devnetAdminClient(layout, node, true);
    const list = await listChannels(admin);
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body.toString('utf8'))).toEqual({ systemChannel: null, channels: [{ name: 'mychannel', url: '/participation/v1/channels/mychannel' }] });
    const info = await listChannel(admin, 'mychannel');
    expect(info.status).toBe(200);
    expect(activeConsenter(info.body)).toMatchObject({ status: 'active', consensusRelation: 'consenter' });
  }
  // ...and to nobody else: a client certificate from another CA (User1's, Org1's TLS CA) or none is refused.
  const firstAdmin = devnetAdminClient(layout, layout.nodes[0]!, true);
  const user1Tls = { caPem: firstAdmin.tls!.caPem, certPem: readFileSync(layout.crypto.clientTlsCertPath), keyPem: readFileSync(layout.crypto.clientTlsKeyPath) };
  await expect(listChannels({ address: firstAdmin.address, tls: user1Tls })).rejects.toThrow(AdminRequestError);
  await expect(listChannels({ address: firstAdmin.address, tls: undefined })).rejects.toThrow(AdminRequestError);

  // The banner's osnadmin command works as pasted, from the package root.
  const command = first.output().split('\n').find((l) => l.trim().startsWith('node dist/cmd/osnadmin.js channel list'));
  expect(command).toBeDefined();
  expect(command).toContain(`-o 127.0.0.1:${adminPorts[0]} --ca-file ${layout.crypto.ordererTlsCaPath} --client-cert ${layout.crypto.ordererAdminTlsCertPath} --client-key ${layout.crypto.ordererAdminTlsKeyPath}`);
  const [exe, ...argv] = command!.trim().split(/\s+/);
  expect(exe).toBe('node');
  const pasted = await promisify(execFile)(process.execPath, argv, { cwd: REPO_ROOT });
  expect(pasted.stdout).toContain('Status: 200');
  expect(pasted.stdout).toContain('"name": "mychannel"');

  // Broadcast and deliver on the channel the API created.
  const address = `127.0.0.1:${ports[0]}`;
  await waitForService(address, 'mychannel', 30_000, client());
  await sendLoad([address], Array.from({ length: 30 }, () => makeEnvelope('mychannel', 100, client().signer)), 1, { tls: client().tls });
  const height = await waitFor('all envelopes ordered on every node', 20_000, async () => {
    const hs = await Promise.all(ports.map((p) => chainHeight(`127.0.0.1:${p}`, 'mychannel', client())));
    return hs.every((h) => h === hs[0]) && hs[0]! >= 2 ? hs[0] : undefined;
  });
  const blocks = await readChain(address, 'mychannel', client());
  expect(blocks).toHaveLength(height);
  expect(verifyChain(blocks).filter((id) => id.length > 0).length).toBeGreaterThanOrEqual(31);

  // `npm run status -- --devnet DIR --json`: the operations endpoints of the three nodes (TLS, the
  // admin pair for /metrics) show one leader for mychannel, the same height everywhere, and the
  // 30 envelopes counted by the node they were sent to.
  const status = await promisify(execFile)(process.execPath, [ORDERER_JS, 'status', '--devnet', dataDir, '--json', '--interval', '500ms'], { cwd: REPO_ROOT });
  const view = JSON.parse(status.stdout) as {
    nodes: { name: string; up: boolean; residentMemoryBytes: number }[];
    channels: { channel: string; leaderId: number; nodes: { node: string; role: string; height: number; term: number }[] }[];
  };
  expect(view.nodes.map((n) => [n.name, n.up])).toEqual([['orderer1', true], ['orderer2', true], ['orderer3', true]]);
  expect(view.nodes.every((n) => n.residentMemoryBytes > 10 * 1024 * 1024)).toBe(true);
  expect(view.channels.map((c) => c.channel)).toEqual(['mychannel']);
  const rows = view.channels[0]!.nodes;
  expect(rows.filter((r) => r.role === 'leader')).toHaveLength(1);
  expect(rows.map((r) => r.height)).toEqual([height, height, height]);
  expect(first.output()).toContain('npm run status');
  first.child.kill('SIGINT');
  expect(await first.exited).toBe(0);

  // Resumed: the nodes find mychannel in their ledgers; nothing is joined again.
  const second = launch(['--dir', dataDir, ...portArgs.slice(2)]);
  await waitFor('the resumed banner', 30_000, () => (second.output().includes('Ctrl-C stops all three nodes') ? true : undefined));
  expect(second.output()).toContain('resumed from');
  expect(second.output()).not.toContain('joining');
  for (const node of layout.nodes) {
    const info = await waitFor(`${node.name} to list mychannel`, 20_000, async () => {
      const answer = await listChannel(devnetAdminClient(layout, node, true), 'mychannel').catch(() => undefined);
      return answer?.status === 200 ? activeConsenter(answer.body) : undefined;
    });
    expect(info).toMatchObject({ status: 'active', consensusRelation: 'consenter', height });
  }
  // Deliver answers SERVICE_UNAVAILABLE until a restarted chain is serving again.
  for (const p of ports) {
    const again = await waitFor(`the blocks from 127.0.0.1:${p}`, 20_000, () => readChain(`127.0.0.1:${p}`, 'mychannel', client()).catch(() => undefined), 300);
    expect(headerHashes(again)).toEqual(headerHashes(blocks));
  }
  await waitForService(`127.0.0.1:${ports[2]}`, 'mychannel', 30_000, client());
  second.child.kill('SIGINT');
  expect(await second.exited).toBe(0);
});

test('a node that cannot start is named with the reason from its log; its join fails, the network stops, and the next run joins it', async () => {
  const { ports, args: portArgs } = await launcherPorts();
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(ports[1], '127.0.0.1', resolve));
  try {
    const run = launch(['--dir', dataDir, ...portArgs]);
    // A new network: mychannel cannot be created on orderer2, so the launcher stops the others.
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/orderer2 exited unexpectedly \(code 1\): orderer failed to start: .*EADDRINUSE/);
    expect(run.output()).toContain(path.join(dataDir, 'orderer2', 'orderer.log'));
    expect(run.output()).toContain('joining orderer1 to mychannel… 201 active');
    expect(run.output()).toContain('joining orderer2 to mychannel… failed');
    expect(run.output()).toMatch(/could not join orderer2 to mychannel: the node exited/);
    expect(run.output()).not.toContain('joining orderer3');
    expect(run.output()).not.toContain('Ctrl-C stops');
    expect(run.output()).toContain('The next npm start joins the nodes that have no ledger');
    for (const name of ['orderer1', 'orderer3']) expect(readFileSync(path.join(dataDir, name, 'orderer.log'), 'utf8')).toContain('"msg":"orderer stopped"');
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
  // The port is free again: the next run joins the two nodes that missed their join, not orderer1.
  const again = launch(['--dir', dataDir, ...portArgs.slice(2)]);
  await waitFor('the banner', 30_000, () => (again.output().includes('Ctrl-C stops all three nodes') ? true : undefined));
  expect(again.output()).not.toContain('joining orderer1');
  expect(again.output()).toContain('joining orderer2 to mychannel… 201 active');
  expect(again.output()).toContain('joining orderer3 to mychannel… 201 active');
  await waitForService(`127.0.0.1:${ports[1]}`, 'mychannel', 30_000, client());
  again.child.kill('SIGINT');
  expect(await again.exited).toBe(0);
});

test('nodes never outlive a launcher that is killed: they stop by themselves, cleanly', async () => {
  const { ports, args: portArgs } = await launcherPorts();
  const run = launch(['--dir', dataDir, ...portArgs]);
  // Every node joined (the banner comes after the joins), so each has a channel to stop.
  await waitFor('the banner', 30_000, () => (run.output().includes('Ctrl-C stops all three nodes') ? true : undefined));
  await waitForService(`127.0.0.1:${ports[0]}`, 'mychannel', 30_000, client());
  // Started as the launcher starts nodes: glibc's malloc with one arena (orderer/devnet.ts).
  for (const dir of nodeDirs()) {
    const lines = readFileSync(path.join(dir, 'orderer.log'), 'utf8').trim().split('\n');
    const pid = (JSON.parse(lines[lines.length - 1]!) as { pid: number }).pid;
    expect(readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')).toContain('MALLOC_ARENA_MAX=1');
  }
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
  const again = launch(['--dir', dataDir, ...portArgs.slice(2)]);
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
