// A standalone orderer's life as an operator sees it: one SIGTERM stops it cleanly even with a
// Deliver stream following new blocks (WAL and ledger closed, no LOCK left, exit 0, restarts where
// it stopped), a storage path it cannot use fails the start naming the config key and path, and a
// damaged WAL is refused with the repair command, which then lets the node rejoin.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RecordType } from '../../consensus/wal/record';
import { genesisBlock } from '../../ledger/block';
import { buildGenesisConfigEnvelope } from '../../orderer/channelconfig';
import { common } from '../../protos';
import { deliverBlocks } from '../../orderer/deliver-client';
import { parseSegment } from '../consensus/wal/helpers';
import { chainHeight, createNetwork, duplicateLogKeys, sleep, makeEnvelope, sendLoad, waitFor, waitForService, type NodeProcess, type TestNetwork } from './harness';

jest.setTimeout(90_000);

const ORDERER_JS = path.resolve(__dirname, '../../dist/cmd/orderer.js');
let network: TestNetwork | undefined;
let tempDir: string | undefined;

afterEach(async () => {
  await network?.destroy();
  network = undefined;
  if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
});

test('a single SIGTERM stops an orderer cleanly, with a Deliver stream open, and it restarts where it stopped', async () => {
  network = await createNetwork({ nodeCount: 1 });
  const node = network.nodes[0]!;
  const dir = network.layout.nodes[0]!.dir;
  node.start();
  await waitForService(node.address, 'mychannel');
  const load = await sendLoad([node.address], Array.from({ length: 30 }, () => makeEnvelope('mychannel', 100)), 1);
  expect(load.acknowledged).toHaveLength(30);
  const height = await waitFor('the envelopes in blocks', 20_000, async () => {
    const h = await chainHeight(node.address, 'mychannel');
    return h >= 2 ? h : undefined;
  });
  // A client following the chain forever: the stop must not wait for it to leave.
  let seen = 0;
  const follower = (async () => {
    try {
      for await (const _ of deliverBlocks({ address: node.address, channelId: 'mychannel', start: 'oldest', stop: 'forever', receiveTimeoutMs: 60_000 })) seen++;
    } catch {
      // the stream is cut by the stop: expected
    }
    return seen;
  })();
  await waitFor('the follower to be served every block', 10_000, () => (seen >= height ? true : undefined));

  await node.stop(60_000); // SIGTERM; SIGKILL only after a minute
  expect(node.lastExit).toEqual({ code: 0, signal: null });
  expect(await follower).toBe(height); // the stream ended with the stop
  const log = node.logText();
  expect(log).toContain('"msg":"orderer stopped"');
  expect(log).not.toContain('second signal');
  expect(log).not.toContain('"level":50');
  expect(log).toContain('"msg":"block store opened"');
  expect(duplicateLogKeys(log)).toEqual([]); // e.g. "channel" twice from nested child loggers
  expect(log.split('\n').filter((l) => l.length > 0 && !l.startsWith('{'))).toEqual([]); // no stray non-JSON lines
  expect(existsSync(path.join(dir, 'etcdraft', 'wal', 'mychannel', 'LOCK'))).toBe(false);

  node.start();
  expect(await waitFor('the restarted node', 30_000, async () => chainHeight(node.address, 'mychannel'))).toBe(height);
  expect(node.logText()).not.toContain('stale');
});

test('a FileLedger.Location that cannot be created fails the start with the key and the path', async () => {
  network = await createNetwork({ nodeCount: 1 });
  tempDir = mkdtempSync(path.join(os.tmpdir(), 'orderer-badpath-'));
  const file = path.join(tempDir, 'a-file');
  writeFileSync(file, 'not a directory');
  const location = path.join(file, 'ledger');
  const child = spawn(process.execPath, [ORDERER_JS, 'start', '--config', network.layout.nodes[0]!.configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ORDERER_FILELEDGER_LOCATION: location },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(code).toBe(1);
  expect(out).toContain(`orderer: failed to start: FileLedger.Location (${location}) cannot be used: ENOTDIR: not a directory`);
  expect(out.split('\n').filter((l) => l.includes('ENOTDIR') && !l.includes('"stack"')).every((l) => l.split('ENOTDIR').length === 2)).toBe(true); // said once
  expect(out).not.toMatch(/^\s+at /m); // a message, not a bare stack
});

test('a missing or garbage genesis block fails the start naming the config key and the file', async () => {
  network = await createNetwork({ nodeCount: 1 });
  tempDir = mkdtempSync(path.join(os.tmpdir(), 'orderer-badgenesis-'));
  const garbage = path.join(tempDir, 'garbage.block');
  writeFileSync(garbage, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
  const empty = path.join(tempDir, 'empty.block');
  writeFileSync(empty, '');
  const badMsp = path.join(tempDir, 'bad-msp.block');
  writeFileSync(badMsp, common.Block.encode(genesisBlock({ channelId: 'mychannel', configEnvelope: buildGenesisConfigEnvelope({ channelId: 'mychannel', consenters: [{ host: '127.0.0.1', port: 1 }], ordererOrgs: [{ mspId: 'OrdererMSP', rootCerts: [Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')], endpoints: ['127.0.0.1:1'] }] }) })));
  const other = path.join(tempDir, 'other.block');
  writeFileSync(other, common.Block.encode(genesisBlock({ channelId: 'otherchannel', configEnvelope: buildGenesisConfigEnvelope({ channelId: 'otherchannel', consenters: [{ host: '127.0.0.1', port: 1 }], ordererOrgs: [{ mspId: 'OrdererMSP', endpoints: ['127.0.0.1:1'] }], applicationOrgs: [{ mspId: 'Org1MSP' }] }) })));
  for (const [file, says] of [
    [path.join(tempDir, 'missing.block'), 'cannot be read: ENOENT'],
    [garbage, 'is not a block'],
    [empty, 'is not a block (0 bytes'],
    [other, 'is the genesis block of channel otherchannel, not mychannel'],
    [badMsp, 'is not a valid channel config block: /Channel/'],
  ] as const) {
    const child = spawn(process.execPath, [ORDERER_JS, 'start', '--config', network.layout.nodes[0]!.configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ORDERER_GENERAL_BOOTSTRAPCHANNELS: `mychannel=${file}` },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    expect(await new Promise<number | null>((resolve) => child.once('exit', resolve))).toBe(1);
    expect(out).toContain(`orderer: failed to start: General.BootstrapChannels (mychannel): ${file} ${says}`);
  }
  // Nothing was written for the channel (a wrong block in its ledger would fail every later
  // start): with the right file it starts normally.
  const node = network.nodes[0]!;
  node.start();
  await waitForService(node.address, 'mychannel');
  expect(await chainHeight(node.address, 'mychannel')).toBeGreaterThanOrEqual(1);
});

test('a local MSP that is missing, garbage or not the key of its certificate fails the start naming General.LocalMSPDir and the file', async () => {
  network = await createNetwork({ nodeCount: 1 });
  tempDir = mkdtempSync(path.join(os.tmpdir(), 'orderer-badmsp-'));
  const node = network.layout.nodes[0]!;
  const startWith = async (env: Record<string, string>): Promise<string> => {
    const child = spawn(process.execPath, [ORDERER_JS, 'start', '--config', node.configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // A node that starts after all would never exit: stop it and fail on what it printed.
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    expect({ code, out }).toMatchObject({ code: 1 });
    return out;
  };
  const missing = path.join(tempDir, 'no-such-msp');
  expect(await startWith({ ORDERER_GENERAL_LOCALMSPDIR: missing })).toContain(`orderer: failed to start: General.LocalMSPDir / LocalMSPID: local MSP ${path.join(missing, 'signcerts')}: cannot be read`);
  // A copy of the node's MSP with a truncated certificate, then with another identity's key.
  const copy = path.join(tempDir, 'msp');
  cpSync(node.mspDir, copy, { recursive: true });
  const certFile = path.join(copy, 'signcerts', readdirSync(path.join(copy, 'signcerts'))[0]!);
  const certPem = readFileSync(certFile, 'utf8');
  writeFileSync(certFile, certPem.slice(0, certPem.length / 2));
  expect(await startWith({ ORDERER_GENERAL_LOCALMSPDIR: copy })).toMatch(new RegExp(`orderer: failed to start: General.LocalMSPDir / LocalMSPID: local MSP ${certFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  writeFileSync(certFile, certPem);
  cpSync(path.join(network.layout.crypto.clientMspDir, 'keystore', 'priv_sk'), path.join(copy, 'keystore', 'priv_sk'));
  expect(await startWith({ ORDERER_GENERAL_LOCALMSPDIR: copy })).toContain(`orderer: failed to start: General.LocalMSPDir / LocalMSPID: local MSP ${path.join(copy, 'keystore')}`);
  expect(await startWith({ ORDERER_GENERAL_LOCALMSPID: 'NoSuchMSP', ORDERER_GENERAL_LOCALMSPDIR: path.join(tempDir, 'nowhere') })).toContain('General.LocalMSPDir / LocalMSPID');
  // With its own MSP the node starts and signs.
  network.nodes[0]!.start();
  await waitForService(node.host + ':' + node.port, 'mychannel');
});

test('a damaged WAL: the start is refused with the repair command; after the repair the lost log halts the channel once; removing its data lets it catch up', async () => {
  network = await createNetwork({ nodeCount: 3 });
  network.startAll();
  const [a, , c] = network.nodes as [NodeProcess, NodeProcess, NodeProcess];
  await waitForService(a.address, 'mychannel');
  const load = await sendLoad([a.address], Array.from({ length: 60 }, () => makeEnvelope('mychannel', 200)), 2);
  expect(load.acknowledged).toHaveLength(60);
  const height = await waitFor('every node at the same height', 20_000, async () => {
    const hs = await Promise.all(network!.nodes.map((n) => chainHeight(n.address, 'mychannel')));
    return hs.every((h) => h === hs[0]) && hs[0]! >= 2 ? hs[0] : undefined;
  });
  await c.stop();
  expect(c.lastExit?.code).toBe(0);

  const walDir = path.join(network.layout.nodes[2]!.dir, 'etcdraft', 'wal', 'mychannel');
  const segment = path.join(walDir, readdirSync(walDir).filter((f) => f.endsWith('.wal')).sort()[0]!);
  const bytes = readFileSync(segment);
  const entries = parseSegment(bytes).filter((r) => r.record.type === RecordType.Entry);
  expect(entries.length).toBeGreaterThan(4);
  const damaged = entries[Math.floor(entries.length / 2)]!;
  bytes[damaged.end - 3] = bytes[damaged.end - 3]! ^ 0x10;
  writeFileSync(segment, bytes);

  c.start();
  await c.exited();
  expect(c.lastExit?.code).toBe(1);
  expect(c.logText()).toMatch(new RegExp(`corrupt raft storage at ${segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} offset ${damaged.offset}.*orderer wal repair --channel mychannel`));

  const config = network.layout.nodes[2]!.configPath;
  const dry = await runCli(['wal', 'repair', '--config', config, '--channel', 'mychannel', '--dry-run']);
  expect(dry.code).toBe(3);
  expect(dry.out).toContain(segment);
  const repaired = await runCli(['wal', 'repair', '--config', config, '--channel', 'mychannel']);
  expect(repaired.code).toBe(0);

  // The repair dropped entries this node had acknowledged: the leader's heartbeats now report a
  // commit beyond its log, and the channel halts once, loudly, saying how to recover, while
  // Deliver refuses to serve the stale copy.
  c.start();
  await waitFor('the lost-log halt', 30_000, () => (c.logText().includes('"kind":"raft-log-lost"') ? true : undefined));
  const haltLines = c.logText().split('\n').filter((l) => l.includes('"level":50') && l.includes('halted'));
  expect(haltLines).toHaveLength(1);
  expect(haltLines[0]).toContain('lost entries it had acknowledged');
  expect(haltLines[0]).toContain(walDir);
  await expect(chainHeight(c.address, 'mychannel')).rejects.toThrow(/SERVICE_UNAVAILABLE/);
  await sleep(1_000); // heartbeats go on: still exactly one error line
  expect(c.logText().split('\n').filter((l) => l.includes('"level":50') && l.includes('halted'))).toHaveLength(1);
  await c.stop();

  // The recovery the message gives: remove the channel's ledger, WAL and snapshots, restart the
  // leader it names (a new leader does not count the lost entries), start it: it catches up.
  const nodeDir = network.layout.nodes[2]!.dir;
  for (const dir of [path.join(nodeDir, 'ledger', 'chains', 'mychannel'), walDir, path.join(nodeDir, 'etcdraft', 'snapshot', 'mychannel')]) {
    expect(haltLines[0]).toContain(dir);
    rmSync(dir, { recursive: true, force: true });
  }
  const leaderId = (JSON.parse(haltLines[0]!) as { leader?: number }).leader;
  expect(leaderId === 1 || leaderId === 2).toBe(true);
  const leader = network.nodes[leaderId! - 1]!;
  expect(haltLines[0]).toContain(`Raft node ${leaderId}, ${leader.address}`);
  await leader.stop();
  leader.start();
  c.start();
  expect(await waitFor('the rebuilt node to catch up', 40_000, async () => ((await chainHeight(c.address, 'mychannel')) >= height ? true : undefined))).toBe(true);
  expect(c.logText().split('\n').filter((l) => l.includes('"level":50') && l.includes('halted'))).toHaveLength(1);
  await sendLoad([c.address], Array.from({ length: 10 }, () => makeEnvelope('mychannel', 100)), 1);
  await waitFor('all nodes to agree again', 20_000, async () => {
    const hs = await Promise.all(network!.nodes.map((n) => chainHeight(n.address, 'mychannel')));
    return hs.every((h) => h === hs[0]) && hs[0]! > height ? true : undefined;
  });
});

function runCli(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ORDERER_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}
