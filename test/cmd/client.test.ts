// The client CLI as a user runs it: `node dist/cmd/client.js ...` in a child process against
// an orderer-like server in this process (the production AtomicBroadcast registration over
// chains with real LMDB stores). Needs `npm run build` first (npm test does it).
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { computeTxId, envelopeHeaders, toHex } from '../../ledger';
import { common, msp } from '../../protos';
import { atomicBroadcastServerOptions, bindServer, registerAtomicBroadcast } from '../../orderer/grpc-service';
import { OrdererError } from '../../orderer/errors';
import { FakeChain, FakeRegistry, silentLogger } from '../orderer/fake-chain';
import { waitFor } from '../support/wait';

const CLIENT = path.join(__dirname, '..', '..', 'dist', 'cmd', 'client.js');
const CHANNEL = 'clichannel';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  /** Each `then` is called once with the child, as soon as its `text` appears on the child's stdout. */
  whenStdoutHas?: { text: string; then: (child: ReturnType<typeof spawn>) => void }[];
}

function runClient(args: string[], options: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const pending = [...(options.whenStdoutHas ?? [])];
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      for (const when of pending.filter((w) => stdout.includes(w.text))) {
        pending.splice(pending.indexOf(when), 1);
        when.then(child);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Orderer {
  chain: FakeChain;
  address: string;
  close(): Promise<void>;
}

async function startOrderer(): Promise<Orderer> {
  const chain = await FakeChain.open({ channelId: CHANNEL });
  chain.cutEvery = 25; // accepted envelopes become blocks, as on a real orderer
  const server = new grpc.Server(atomicBroadcastServerOptions());
  const deliver = registerAtomicBroadcast(server, new FakeRegistry([chain]), silentLogger);
  const port = await bindServer(server, '127.0.0.1:0');
  return {
    chain,
    address: `127.0.0.1:${port}`,
    close: async () => {
      deliver.close();
      server.forceShutdown();
      await chain.close();
    },
  };
}

let orderers: Orderer[] = [];

beforeAll(() => {
  if (!existsSync(CLIENT)) throw new Error(`${CLIENT} is missing: run npm run build first`);
});

beforeEach(async () => {
  orderers = [await startOrderer()];
});

afterEach(async () => {
  for (const o of orderers) await o.close();
});

describe('client broadcast', () => {
  test('sends N valid Fabric envelopes over C streams and reports throughput and SUCCESS counts', async () => {
    const { address, chain } = orderers[0]!;
    const run = await runClient(['broadcast', '--orderer', address, '--channel', CHANNEL, '-n', '300', '--size', '100', '-c', '3']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/sent 300 of 300 envelopes \(100 B of data each\) over 3 stream\(s\)/);
    expect(run.stdout).toMatch(/[\d.]+ tx\/s/);
    expect(run.stdout).toMatch(/^SUCCESS\s+300$/m); // no info column for SUCCESS

    expect(chain.ordered).toHaveLength(300);
    expect(new Set(chain.ordered.map((e) => e.txId)).size).toBe(300);
    for (const parsed of chain.ordered.slice(0, 20)) {
      const { channelHeader, signatureHeader } = envelopeHeaders(parsed.envelopeBytes);
      expect(channelHeader.type).toBe(common.HeaderType.ENDORSER_TRANSACTION);
      expect(channelHeader.channelId).toBe(CHANNEL);
      expect(channelHeader.txId).toBe(computeTxId(signatureHeader.nonce, signatureHeader.creator));
      expect(Math.abs(channelHeader.timestamp!.seconds - Date.now() / 1000)).toBeLessThan(60);
      expect(msp.SerializedIdentity.decode(signatureHeader.creator).mspid.length).toBeGreaterThan(0);
      expect(parsed.payload.data).toHaveLength(100);
      expect(parsed.envelope.signature.length).toBeGreaterThan(0);
    }
  });

  test('several --orderer values share the streams round-robin; --json prints the report', async () => {
    orderers.push(await startOrderer());
    const args = ['broadcast', '--channel', CHANNEL, '-n', '200', '--size', '10', '-c', '4', '--json'];
    const run = await runClient([...args, '--orderer', orderers[0]!.address, '--orderer', orderers[1]!.address]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { statusCounts: Record<string, number>; allSucceeded: boolean; successPerSecond: number };
    expect(report.statusCounts).toEqual({ SUCCESS: 200 });
    expect(report.allSucceeded).toBe(true);
    expect(report.successPerSecond).toBeGreaterThan(0);
    expect(orderers.map((o) => o.chain.ordered.length)).toEqual([100, 100]);
  });

  test('rejections show in the status table with the orderer\'s info text and make the exit status non-zero', async () => {
    const run = await runClient(['broadcast', '--orderer', orderers[0]!.address, '--channel', 'nosuchchannel', '-n', '5', '-c', '1', '--window', '1']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^NOT_FOUND\s+5\s+channel nosuchchannel not served here$/m);
    expect(orderers[0]!.chain.ordered).toHaveLength(0);
  });

  test('each non-SUCCESS status shows why; --json carries the info texts', async () => {
    orderers[0]!.chain.rejectWith = OrdererError.serviceUnavailable('no Raft leader');
    const run = await runClient(['broadcast', '--orderer', orderers[0]!.address, '--channel', CHANNEL, '-n', '4', '-c', '1', '--window', '1', '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { statusCounts: Record<string, number>; statusInfo: Record<string, Record<string, number>> };
    expect(report.statusCounts).toEqual({ SERVICE_UNAVAILABLE: 4 });
    expect(report.statusInfo).toEqual({ SERVICE_UNAVAILABLE: { 'no Raft leader': 4 } });
    const text = await runClient(['broadcast', '--orderer', orderers[0]!.address, '--channel', CHANNEL, '-n', '2', '-c', '1', '--window', '1']);
    expect(text.stdout).toMatch(/^SERVICE_UNAVAILABLE\s+2\s+no Raft leader$/m);
  });

  test('an unreachable orderer is reported as such', async () => {
    const address = orderers[0]!.address;
    await orderers[0]!.close();
    orderers = [];
    const run = await runClient(['broadcast', '--orderer', address, '--channel', CHANNEL, '-n', '5']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`cannot reach orderer ${address}`);
  }, 20_000);
});

describe('client deliver', () => {
  test('prints one line per block from oldest to newest', async () => {
    const { address, chain } = orderers[0]!;
    await chain.appendBlocks(3, 500);
    const run = await runClient(['deliver', '--orderer', address, '--channel', CHANNEL]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    const block2 = chain.blockStore.getBlock(2)!;
    expect(lines[2]).toBe(
      `block 2  txs 1  bytes ${block2.bytes.length}  data_hash ${toHex(block2.block.header!.dataHash).slice(0, 16)}  prev_hash ${toHex(block2.block.header!.previousHash).slice(0, 16)}`,
    );
    expect(lines[0]).toMatch(/^block 0 {2}txs 1 .* prev_hash \(none\)$/);
    expect(run.stderr).toContain('4 block(s) received');
  });

  test('--json prints one object per block; --start/--stop pick the range', async () => {
    const { address, chain } = orderers[0]!;
    await chain.appendBlocks(5);
    const run = await runClient(['deliver', '--orderer', address, '--channel', CHANNEL, '--start', '2', '--stop', '4', '--json']);
    expect(run.code).toBe(0);
    const objects = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { number: number; dataHash: string; previousHash: string });
    expect(objects.map((o) => o.number)).toEqual([2, 3, 4]);
    expect(objects[1]!.dataHash).toBe(toHex(chain.blockStore.getBlock(3)!.block.header!.dataHash));
    expect(objects[1]!.previousHash).toBe(toHex(chain.blockStore.getBlock(2)!.headerHash));
  });

  test('--stop forever follows new blocks until Ctrl-C, then exits cleanly', async () => {
    const { address, chain } = orderers[0]!;
    let appendError: unknown;
    const run = await runClient(['deliver', '--orderer', address, '--channel', CHANNEL, '--start', 'newest', '--stop', 'forever'], {
      whenStdoutHas: [
        {
          // It follows the tip: two new blocks must reach it.
          text: 'block 0  ',
          then: (child) => {
            chain.appendBlocks(2).catch((err: unknown) => {
              appendError = err;
              child.kill('SIGKILL');
            });
          },
        },
        // Ctrl-C once it has printed the last of them.
        { text: 'block 2  ', then: (child) => child.kill('SIGINT') },
      ],
    });
    expect(appendError).toBeUndefined();
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n').map((line) => line.split('  ')[0])).toEqual(['block 0', 'block 1', 'block 2']);
    expect(run.stderr).toContain('stopped after 3 block(s)');
    // The server notices the cancelled stream on its own time and then closes its iterator.
    await waitFor('the server to close the stream\'s block iterator', 10_000, () => chain.blockStore.stats().openIterators === 0);
  });

  test('--fail-if-not-ready prints the blocks that exist, then ends with NOT_FOUND and exit status 1', async () => {
    const { address, chain } = orderers[0]!;
    await chain.appendBlocks(2);
    const run = await runClient(['deliver', '--orderer', address, '--channel', CHANNEL, '--start', 'oldest', '--stop', '10', '--fail-if-not-ready']);
    expect(run.code).toBe(1);
    expect(run.stdout.trim().split('\n').map((line) => line.split('  ')[0])).toEqual(['block 0', 'block 1', 'block 2']);
    expect(run.stderr).toMatch(/Deliver answered NOT_FOUND/);
  });

  test('a status other than SUCCESS is an error', async () => {
    const run = await runClient(['deliver', '--orderer', orderers[0]!.address, '--channel', 'nosuchchannel']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Deliver answered NOT_FOUND/);
  });
});

test('usage errors exit 2 and explain; --help documents both commands', async () => {
  const bad = await runClient(['deliver', '--orderer', orderers[0]!.address, '--channel', CHANNEL, '--start', 'yesterday']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--start must be a block number, got "yesterday"');
  const missing = await runClient(['broadcast', '-n', '5']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('--channel is required');
  const help = await runClient(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/broadcast options:[\s\S]*deliver options:/);
});
