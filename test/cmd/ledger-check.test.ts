// `orderer ledger check` (runLedgerCheck) on real block stores in temp directories: a sound store
// is reported sound, a damaged one is named with its file and refused with exit status 1, a store
// an orderer holds open is not judged, and bad flags are usage errors.
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { runLedgerCheck, type LedgerCheckIo } from '../../cmd/ledger-check';
import { channelStoreDir, openBlockStore } from '../../ledger';
import { ChainBuilder, makeEnvelope, SeededRandom } from '../ledger/fixtures/chain';
import { silentLogger, tempDir } from '../ledger/helpers';

const CHANNEL = 'checked';
let tmp: ReturnType<typeof tempDir>;

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: LedgerCheckIo = { out: (l) => void out.push(l), err: (l) => void err.push(l) };
  const code = await runLedgerCheck(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeEach(async () => {
  tmp = tempDir('ledger-check');
  const store = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger });
  const chain = new ChainBuilder();
  const random = new SeededRandom(77);
  for (let i = 0; i < 6; i++) await store.append(chain.next([makeEnvelope(`tx-${i}`, random.bytes(i === 3 ? 9000 : 300))]));
  await store.close();
});

afterEach(() => tmp.remove());

test('a sound store: exit 0, the file and every block accounted for', async () => {
  const r = await run('--channel', CHANNEL, '--ledger-dir', tmp.dir);
  expect(r.code).toBe(0);
  expect(r.out).toContain(`block file ${path.join(channelStoreDir(tmp.dir, CHANNEL), 'data.mdb')}: sound`);
  expect(r.out).toContain('blocks 0..5');
  expect(r.out).toContain(`channel ${CHANNEL}: sound`);
});

test('a damaged store: exit 1 and the damaged file named', async () => {
  const file = path.join(channelStoreDir(tmp.dir, CHANNEL), 'data.mdb');
  // Zero the first meta page: lmdb-js would have crashed the process on it.
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(4096), 0, 4096, 0);
  closeSync(fd);
  const r = await run('--channel', CHANNEL, '--ledger-dir', tmp.dir);
  expect(r.code).toBe(1);
  expect(r.err).toContain('DAMAGED: ledger corruption');
  expect(r.err).toContain(file);
});

test('a store an orderer holds open is not judged; a missing channel is an error, not a new store', async () => {
  const store = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger });
  try {
    const r = await run('--channel', CHANNEL, '--ledger-dir', tmp.dir);
    expect(r.code).toBe(1);
    expect(r.err).toContain('stop the orderer first');
  } finally {
    await store.close();
  }
  const missing = await run('--channel', 'nosuch', '--ledger-dir', tmp.dir);
  expect(missing.code).toBe(1);
  expect(missing.err).toContain('no block store of channel nosuch');
});

test('usage errors exit 2', async () => {
  expect((await run()).code).toBe(2);
  expect((await run('--channel')).code).toBe(2);
  expect((await run('--channel', 'Bad/Name', '--ledger-dir', tmp.dir)).err).toContain('is not a channel name');
  expect((await run('--channel', CHANNEL, '--config', 'x', '--ledger-dir', 'y')).code).toBe(2);
  expect((await run('--help')).code).toBe(0);
});
