// Every delete and overwrite the ledger does, each with a canary file that must survive it:
//  - the tx-id index rebuild removes <channel>/txindex/ (lmdb-env-dir.ts): only when it is a real
//    directory holding nothing but LMDB's data.mdb and lock.mdb, never recursively;
//  - a 0-byte or missing block file is initialised by LMDB in place: only data.mdb is written;
//  - the format 1 migration drops the old `txids` database inside the block file: the blocks stay
//    (tx-index.test.ts, 'a format 1 store ... is migrated').
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BlockStoreError, channelStoreDir, openBlockStore, TX_INDEX_DIR, type LmdbBlockStore } from '../../ledger';
import { removeLmdbEnvDir } from '../../ledger/lmdb-env-dir';
import { ChainBuilder, makeEnvelope, SeededRandom } from './fixtures/chain';
import { silentLogger, tempDir } from './helpers';

const CHANNEL = 'canary';
const CANARY = 'canary: must survive\n';
let tmp: ReturnType<typeof tempDir>;
let store: LmdbBlockStore | undefined;

beforeEach(async () => {
  tmp = tempDir('destructive');
  const s = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger });
  const chain = new ChainBuilder();
  for (let i = 0; i < 3; i++) await s.append(chain.next([makeEnvelope(`tx-${i}`, Uint8Array.of(i))]));
  await s.close();
});

afterEach(async () => {
  await store?.close();
  store = undefined;
  tmp.remove();
});

const storeDir = (): string => channelStoreDir(tmp.dir, CHANNEL);
const indexDir = (): string => path.join(storeDir(), TX_INDEX_DIR);
const open = (): Promise<LmdbBlockStore> => openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger });

function plantCanary(dir: string, name = 'canary.txt'): string {
  const file = path.join(dir, name);
  writeFileSync(file, CANARY);
  return file;
}

/** Makes the index unusable, so that the next open wants to delete and rebuild it. */
function damageIndex(): void {
  writeFileSync(path.join(indexDir(), 'data.mdb'), new SeededRandom(5).bytes(16 * 1024));
}

test('a damaged index with a foreign file inside is not deleted: the open is refused, naming the file, and everything survives', async () => {
  damageIndex();
  const canary = plantCanary(indexDir());
  const err = await open().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BlockStoreError);
  expect(err).toMatchObject({ reason: 'refused-delete' });
  expect((err as Error).message).toContain(indexDir());
  expect((err as Error).message).toContain('canary.txt');
  expect(readFileSync(canary, 'utf8')).toBe(CANARY);
  expect(existsSync(path.join(indexDir(), 'data.mdb'))).toBe(true);
  // Once the operator has moved the file away, the index is rebuilt.
  renameSync(canary, path.join(tmp.dir, 'moved-canary.txt'));
  store = await open();
  expect(store.getByTxId('tx-1')).toEqual({ blockNumber: 1, txIndex: 0 });
});

test('a damaged index with a subdirectory inside is not deleted', async () => {
  damageIndex();
  const sub = path.join(indexDir(), 'keep');
  mkdirSync(sub);
  const canary = plantCanary(sub);
  await expect(open()).rejects.toMatchObject({ reason: 'refused-delete' });
  expect(readFileSync(canary, 'utf8')).toBe(CANARY);
});

test('an index directory that is a symlink to another directory is not followed or deleted', async () => {
  const elsewhere = path.join(tmp.dir, 'elsewhere');
  mkdirSync(elsewhere);
  const canary = plantCanary(elsewhere);
  writeFileSync(path.join(elsewhere, 'data.mdb'), new SeededRandom(6).bytes(16 * 1024));
  rmSync(indexDir(), { recursive: true });
  symlinkSync(elsewhere, indexDir());
  const err = await open().catch((e: unknown) => e);
  expect(err).toMatchObject({ reason: 'refused-delete' });
  expect((err as Error).message).toContain('symbolic link');
  expect(readFileSync(canary, 'utf8')).toBe(CANARY);
  expect(existsSync(path.join(elsewhere, 'data.mdb'))).toBe(true);
});

test('rebuilding a damaged index deletes only the index: files beside it in the channel directory and the blocks survive', async () => {
  damageIndex();
  const canary = plantCanary(storeDir());
  store = await open();
  expect(store.getByTxId('tx-2')).toEqual({ blockNumber: 2, txIndex: 0 });
  expect(store.height()).toBe(3);
  expect(readFileSync(canary, 'utf8')).toBe(CANARY);
});

test('a 0-byte block file is initialised in place: the rest of the channel directory survives', async () => {
  truncateSync(path.join(storeDir(), 'data.mdb'), 0);
  const canary = plantCanary(storeDir());
  store = await open();
  expect(store.height()).toBe(0);
  expect(readFileSync(canary, 'utf8')).toBe(CANARY);
});

test('removeLmdbEnvDir refuses names that are not a plain child directory, and touches nothing', () => {
  const canary = plantCanary(tmp.dir);
  for (const name of ['', '.', '..', 'a/b', '../x']) {
    expect(() => removeLmdbEnvDir(storeDir(), name)).toThrow(BlockStoreError);
  }
  expect(() => removeLmdbEnvDir(tmp.dir, 'canary.txt')).toThrow(/not a directory/);
  expect(readFileSync(canary, 'utf8')).toBe(CANARY);
});

test('removeLmdbEnvDir removes an LMDB directory holding only data.mdb and lock.mdb, and an absent one is no error', () => {
  removeLmdbEnvDir(storeDir(), TX_INDEX_DIR);
  expect(existsSync(indexDir())).toBe(false);
  expect(() => removeLmdbEnvDir(storeDir(), TX_INDEX_DIR)).not.toThrow();
  expect(existsSync(path.join(storeDir(), 'data.mdb'))).toBe(true);
});
