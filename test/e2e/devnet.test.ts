// `npm start` as a user runs it: three processes, a banner, Ctrl-C stops all of them,
// a second run resumes from the stored data, --fresh starts over.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chainHeight, freePorts, makeEnvelope, sendLoad, waitFor, waitForService } from './harness';

jest.setTimeout(120_000);

const DEVNET_JS = path.resolve(__dirname, '../../dist/cmd/devnet.js');
let dataDir: string;
let child: ChildProcess | undefined;

function startDevnet(ports: number[], extra: string[] = []): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  let out = '';
  const c = spawn(process.execPath, [DEVNET_JS, '--dir', dataDir, '--ports', ports.join(','), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  c.stderr.on('data', (d: Buffer) => (out += d.toString()));
  child = c;
  const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
  return { child: c, output: () => out, exited };
}

beforeEach(() => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'devnet-e2e-'));
});

afterEach(async () => {
  if (child !== undefined && child.exitCode === null) {
    child.kill('SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

test('starts three nodes with a banner, stops on Ctrl-C, resumes, and --fresh starts over', async () => {
  const ports = await freePorts(3);
  const first = startDevnet(ports);
  await waitFor('the banner', 10_000, () => (first.output().includes('Ctrl-C stops all three nodes') ? true : undefined));
  for (const p of ports) expect(first.output()).toContain(`127.0.0.1:${p}`);
  expect(first.output()).toContain('client.js broadcast');
  const address = `127.0.0.1:${ports[0]}`;
  await waitForService(address, 'mychannel');
  await sendLoad([address], Array.from({ length: 50 }, () => makeEnvelope('mychannel', 100)), 1);
  const height = await waitFor('all envelopes ordered', 20_000, async () => {
    const hs = await Promise.all(ports.map((p) => chainHeight(`127.0.0.1:${p}`, 'mychannel')));
    return hs.every((h) => h === hs[0]) && hs[0]! >= 2 ? hs[0] : undefined;
  });

  first.child.kill('SIGINT');
  expect(await first.exited).toBe(0);
  expect(first.output()).toContain('all nodes stopped');

  const second = startDevnet(ports);
  await waitFor('the banner again', 10_000, () => (second.output().includes('resumed from') ? true : undefined));
  const resumed = await waitFor('the resumed network', 30_000, async () => chainHeight(address, 'mychannel'));
  expect(resumed).toBe(height);
  second.child.kill('SIGINT');
  expect(await second.exited).toBe(0);

  const third = startDevnet(ports, ['--fresh']);
  await waitFor('a fresh network', 30_000, async () => ((await chainHeight(address, 'mychannel')) === 1 ? true : undefined));
  third.child.kill('SIGINT');
  expect(await third.exited).toBe(0);
});
