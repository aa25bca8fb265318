// Real processes against real LMDB files: kill -9 during appends, and two processes opening one store.
// The children are compiled fixtures (npm test builds first): dist/test/ledger/fixtures/*.js.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { BlockStoreError, envelopeTxIdOrEmpty, openBlockStore } from '../../ledger';
import { ChainBuilder, SeededRandom } from './fixtures/chain';
import { silentLogger, tempDir } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const fixture = (name: string): string => path.join(ROOT, 'dist', 'test', 'ledger', 'fixtures', `${name}.js`);

const children = new Set<ChildProcess>();
let tmp: ReturnType<typeof tempDir>;

beforeAll(() => {
  // The children run compiled code: make sure it exists and is not older than the sources under test.
  const pairs: [string, string][] = [
    [path.join(ROOT, 'test/ledger/fixtures/append-loop.ts'), fixture('append-loop')],
    [path.join(ROOT, 'test/ledger/fixtures/hold-open.ts'), fixture('hold-open')],
    [path.join(ROOT, 'test/ledger/fixtures/append-damaged.ts'), fixture('append-damaged')],
    [path.join(ROOT, 'test/ledger/fixtures/close-while-paced.ts'), fixture('close-while-paced')],
    [path.join(ROOT, 'ledger/index-behind.ts'), path.join(ROOT, 'dist/ledger/index-behind.js')],
    [path.join(ROOT, 'ledger/lmdb-guard.ts'), path.join(ROOT, 'dist/ledger/lmdb-guard.js')],
    [path.join(ROOT, 'ledger/lmdb-file-check.ts'), path.join(ROOT, 'dist/ledger/lmdb-file-check.js')],
    [path.join(ROOT, 'ledger/lmdb-block-store.ts'), path.join(ROOT, 'dist/ledger/lmdb-block-store.js')],
    [path.join(ROOT, 'ledger/owner.ts'), path.join(ROOT, 'dist/ledger/owner.js')],
    [path.join(ROOT, 'ledger/tx-index.ts'), path.join(ROOT, 'dist/ledger/tx-index.js')],
  ];
  for (const [source, compiled] of pairs) {
    if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(source).mtimeMs) {
      throw new Error(`${path.relative(ROOT, compiled)} is missing or older than its source: run \`npm run build\` first`);
    }
  }
});

beforeEach(() => {
  tmp = tempDir('proc');
});

afterEach(async () => {
  for (const child of children) await killAndWait(child);
  tmp.remove();
});

/** A child process whose stdout is split into lines as they arrive. */
function startChild(name: string, args: string[]): { child: ChildProcess; lines: string[]; nextLine: (match: RegExp, timeoutMs: number) => Promise<string> } {
  const child = spawn(process.execPath, [fixture(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? ''; // a line cut by SIGKILL has no newline and is not counted
    lines.push(...parts);
    for (const l of [...listeners]) l();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const nextLine = (match: RegExp, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = lines.find((l) => match.test(l));
        if (found !== undefined) {
          cleanup();
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${name}: no line matching ${match} within ${timeoutMs} ms; stdout: ${lines.slice(-5).join(' | ')}; stderr: ${stderr}`));
      }, timeoutMs);
      const onExit = (): void => {
        setImmediate(() => {
          check();
          cleanup();
          reject(new Error(`${name} exited before printing ${match}; stderr: ${stderr}`));
        });
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', onExit);
      };
      listeners.add(check);
      child.once('exit', onExit);
      check();
    });
  return { child, lines, nextLine };
}

/** SIGKILL and wait until the process is gone and its stdout fully read. */
async function killAndWait(child: ChildProcess): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('close', () => resolve());
  });
  child.kill('SIGKILL');
  await closed;
  children.delete(child);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('kill -9 while appending: every acknowledged block survives, nothing partial, chain verifies (5 rounds, with and without write map)', async () => {
  const seed = Number(process.env.LEDGER_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const random = new SeededRandom(seed);
  const fail = (round: number, what: string): never => {
    throw new Error(`${what} (round ${round}, seed ${seed}; replay with LEDGER_CRASH_SEED=${seed})`);
  };
  let expectedAtLeast = 0;
  for (let round = 0; round < 5; round++) {
    // Odd rounds write through LMDB's write map (useWriteMap), so both commit paths get killed.
    const mode = round % 2 === 1 ? ['writemap'] : [];
    const { child, lines, nextLine } = startChild('append-loop', [tmp.dir, 'crash', String(seed + round), ...mode]);
    await nextLine(/^ack /, 20_000);
    await sleep(20 + random.int(400));
    await killAndWait(child);

    let maxAcked = -1;
    let lastBegin: [number, number] | undefined;
    for (const line of lines) {
      const [kind, from, to] = line.split(' ');
      if (kind === 'begin') lastBegin = [Number(from), Number(to)];
      if (kind === 'ack') maxAcked = Math.max(maxAcked, Number(to));
    }
    if (maxAcked < 0) fail(round, 'child acknowledged nothing');

    const store = await openBlockStore({ dir: tmp.dir, channelId: 'crash', logger: silentLogger });
    try {
      const height = store.height();
      if (height - 1 < maxAcked) fail(round, `acknowledged block ${maxAcked} lost: height after restart is ${height}`);
      if (height < expectedAtLeast) fail(round, `height went back from ${expectedAtLeast} to ${height}`);
      // Either the append in flight at the kill landed as a whole, or not at all.
      const inFlightLanded = lastBegin !== undefined && lastBegin[0] === maxAcked + 1 && height - 1 === lastBegin[1];
      if (height - 1 !== maxAcked && !inFlightLanded) {
        fail(round, `height ${height} is neither acknowledged+1 (${maxAcked + 1}) nor the end of the batch in flight ${String(lastBegin)}`);
      }
      await store.verify().catch((err: unknown) => fail(round, `verify failed: ${String(err)}`));
      for (let n = 0; n < height; n++) if (store.getBlock(n) === undefined) fail(round, `block ${n} unreadable`);
      // The index is written behind the blocks, so the kill usually leaves it behind: open repairs it.
      for (let n = 0; n < height; n++) {
        const location = store.getByTxId(`tx-${n}`);
        if (location?.blockNumber !== n || location.txIndex !== 0) fail(round, `tx-${n} is indexed at ${JSON.stringify(location)}`);
      }
      expectedAtLeast = height;
    } finally {
      await store.close();
    }
  }
  expect(expectedAtLeast).toBeGreaterThan(0);
});

test('kill -9 while tx-id index windows are being written: every id answers its first occurrence, and the store verifies (6 rounds)', async () => {
  const seed = Number(process.env.LEDGER_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const random = new SeededRandom(seed);
  const fail = (round: number, what: string): never => {
    throw new Error(`${what} (round ${round}, seed ${seed}; replay with LEDGER_CRASH_SEED=${seed})`);
  };
  let roundsWithAWindowCutShort = 0;
  for (let round = 0; round < 6; round++) {
    const { child, nextLine } = startChild('append-loop', [tmp.dir, 'windows', String(seed + round), 'windows']);
    await nextLine(/^ack /, 20_000);
    await sleep(50 + random.int(300));
    await killAndWait(child);
    // What the kill left in the index, before open repairs it: the mark of a window being written.
    const index = open({ path: path.join(tmp.dir, 'chains', 'windows', 'txindex'), readOnly: true, maxDbs: 4, encoding: 'binary', keyEncoding: 'binary' });
    try {
      if (index.openDB('meta', { encoding: 'binary', keyEncoding: 'binary' }).get(Buffer.from('writing')) !== undefined) roundsWithAWindowCutShort++;
    } finally {
      await index.close();
    }
    const store = await openBlockStore({ dir: tmp.dir, channelId: 'windows', logger: silentLogger });
    try {
      const first = new Map<string, { blockNumber: number; txIndex: number }>();
      for (let n = 0; n < store.height(); n++) {
        (store.getBlock(n)!.block.data?.data ?? []).forEach((envelope, txIndex) => {
          const txId = envelopeTxIdOrEmpty(envelope);
          if (!first.has(txId)) first.set(txId, { blockNumber: n, txIndex });
        });
      }
      for (const [txId, location] of first) {
        const found = store.getByTxId(txId);
        if (found?.blockNumber !== location.blockNumber || found.txIndex !== location.txIndex) {
          fail(round, `${txId} first occurs at ${JSON.stringify(location)} but is indexed at ${JSON.stringify(found)}`);
        }
      }
      await store.verify().catch((err: unknown) => fail(round, `verify failed: ${String(err)}`));
    } finally {
      await store.close();
    }
  }
  // The kills landed inside a window at least once (each window is 8 transactions of one id).
  expect(roundsWithAWindowCutShort).toBeGreaterThan(0);
});

test('a second process cannot open a store that a live process has open; after kill -9 the store can be taken over', async () => {
  // Put a few blocks in first, so the takeover can be seen to keep them.
  const store = await openBlockStore({ dir: tmp.dir, channelId: 'shared', logger: silentLogger });
  const chain = new ChainBuilder();
  const random = new SeededRandom(11);
  for (let i = 0; i < 3; i++) await store.append(chain.nextSimple(random, 100));

  // This process holds it: a child is refused, and told who holds it.
  const refused = startChild('hold-open', [tmp.dir, 'shared']);
  const line = await refused.nextLine(/^(refused|ready)/, 20_000);
  expect(line).toMatch(/^refused locked /);
  expect(line).toContain(`process ${process.pid} `);
  await store.close();

  // A child holds it: this process is refused while the child lives...
  const holder = startChild('hold-open', [tmp.dir, 'shared']);
  const ready = await holder.nextLine(/^(refused|ready)/, 20_000);
  expect(ready).toBe(`ready ${holder.child.pid}`);
  const err = await openBlockStore({ dir: tmp.dir, channelId: 'shared', logger: silentLogger }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BlockStoreError);
  expect((err as BlockStoreError).reason).toBe('locked');
  expect((err as BlockStoreError).message).toContain(`process ${holder.child.pid} `);

  // ...and takes over once the child is killed without a chance to clean up.
  await killAndWait(holder.child);
  const reopened = await openBlockStore({ dir: tmp.dir, channelId: 'shared', logger: silentLogger });
  try {
    expect(reopened.height()).toBe(3);
    await reopened.append(chain.nextSimple(random, 100));
    await expect(reopened.verify()).resolves.toMatchObject({ height: 4 });
  } finally {
    await reopened.close();
  }
});

test('damage lmdb-js finds while committing an append: the append is refused with CorruptionError naming the page, and the process lives on', () => {
  // Without settleFailedCommit (lmdb-guard.ts) the child dies of an unhandled rejection
  // ("MDB_BAD_TXN: Transaction must abort") that lmdb-js leaves behind after the failed commit.
  const result = spawnSync(process.execPath, [fixture('append-damaged'), tmp.dir], { encoding: 'utf8', timeout: 30_000 });
  const file = path.join(tmp.dir, 'chains', 'damaged', 'data.mdb');
  expect({ status: result.status, signal: result.signal, stderrTail: result.status === 0 ? '' : result.stderr.slice(-500) }).toEqual({ status: 0, signal: null, stderrTail: '' });
  const lines = result.stdout.trim().split('\n');
  expect(lines[0]).toMatch(/^refused page-structure \S+ \d+$/);
  expect(lines[0]!.split(' ')[2]).toBe(file);
  expect(lines.slice(1)).toEqual(['closed', 'alive']);
});

test('a store closed while an index window pauses between its chunks finishes closing, with every id indexed, in a process with nothing else to do', () => {
  // The pause was an unref'd timer that close() waited for: the child exited in the middle of its
  // close, without a word and with status 0.
  const started = Date.now();
  const result = spawnSync(process.execPath, [fixture('close-while-paced'), tmp.dir], { encoding: 'utf8', timeout: 30_000 });
  expect({ status: result.status, stdout: result.stdout, stderr: result.stderr.slice(-500) }).toEqual({ status: 0, stdout: 'closing\nclosed 12\n', stderr: '' });
  // A close writes the rest of the window without its pauses (11 of 300 ms would take 3.3 s).
  expect(Date.now() - started).toBeLessThan(3_000);
});
