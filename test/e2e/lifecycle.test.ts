// A standalone orderer's life as an operator sees it: one SIGTERM stops it cleanly even with a
// Deliver stream following new blocks (WAL and ledger closed, no LOCK left, exit 0, restarts where
// it stopped), and a storage path it cannot use fails the start naming the config key and path.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deliverBlocks } from '../../orderer/deliver-client';
import { chainHeight, createNetwork, duplicateLogKeys, makeEnvelope, sendLoad, waitFor, waitForService, type TestNetwork } from './harness';

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
  expect(out).toContain(`FileLedger.Location (${location}) cannot be used: ENOTDIR`);
  expect(out).not.toMatch(/^\s+at /m); // a message, not a bare stack
});
