// The file check and the lmdb-js error mapping on their own: states, limits, and which LMDB codes
// count as damage.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { channelStoreDir, checkLmdbDataFile, CorruptionError, openBlockStore } from '../../ledger';
import { asCorruption, lmdbCorruptionCode, takeCommitError } from '../../ledger/lmdb-guard';
import { ChainBuilder, makeEnvelope, SeededRandom } from './fixtures/chain';
import { silentLogger, tempDir } from './helpers';
import { layoutOf } from './lmdb-pages';

let tmp: ReturnType<typeof tempDir>;

beforeEach(() => {
  tmp = tempDir('filecheck');
});

afterEach(() => tmp.remove());

/** A channel store of `blocks` small blocks; returns its directory. */
async function storeWith(blocks: number): Promise<string> {
  const s = await openBlockStore({ dir: tmp.dir, channelId: 'fc', logger: silentLogger });
  const chain = new ChainBuilder();
  const random = new SeededRandom(3);
  for (let i = 0; i < blocks; i++) await s.append(chain.next([makeEnvelope(`tx-${i}`, random.bytes(300))]));
  await s.close();
  return channelStoreDir(tmp.dir, 'fc');
}

describe('checkLmdbDataFile', () => {
  test('no data file, and a 0-byte one, are reported as such, not judged', () => {
    expect(checkLmdbDataFile(tmp.dir)).toEqual({ state: 'absent', file: path.join(tmp.dir, 'data.mdb') });
    writeFileSync(path.join(tmp.dir, 'data.mdb'), '');
    expect(checkLmdbDataFile(tmp.dir)).toEqual({ state: 'empty', file: path.join(tmp.dir, 'data.mdb') });
  });

  test('a sound store: the meta page in use, every tree page walked', async () => {
    const dir = await storeWith(300);
    const report = checkLmdbDataFile(dir);
    const layout = layoutOf(path.join(dir, 'data.mdb'));
    expect(report).toMatchObject({ state: 'sound', metaUsed: layout.metaUsed, lastPage: layout.lastPage, pageBytes: layout.pageBytes, walkComplete: true, shorterThanLastPage: false });
    if (report.state !== 'sound') throw new Error('unreachable');
    // 300 blocks of ~400 bytes do not fit one leaf page: a branch level exists.
    expect(report.treePagesRead).toBeGreaterThan(3);
  });

  test('maxTreePages stops the walk and says it was partial', async () => {
    const dir = await storeWith(300);
    expect(checkLmdbDataFile(dir, { maxTreePages: 2 })).toMatchObject({ state: 'sound', treePagesRead: 2, walkComplete: false });
  });

  test('a file shorter than its recorded last page, with nothing reachable beyond its end, is sound after a complete walk, whatever the limit', async () => {
    const dir = await storeWith(20);
    const file = path.join(dir, 'data.mdb');
    const { metaUsed, pageBytes, lastPage } = layoutOf(file);
    // As if the last pages LMDB counted were free ones it never wrote: raise the recorded last page.
    const bytes = readFileSync(file);
    bytes.writeBigUInt64LE(BigInt(lastPage + 3), metaUsed * pageBytes + 24 + 120);
    writeFileSync(file, bytes);
    expect(checkLmdbDataFile(dir, { maxTreePages: 1 })).toMatchObject({ state: 'sound', shorterThanLastPage: true, walkComplete: true, lastPage: lastPage + 3 });
  });

  test('a page pointer beyond the recorded last page is damage even when the file is long enough', async () => {
    const dir = await storeWith(20);
    const file = path.join(dir, 'data.mdb');
    const { metaUsed, pageBytes } = layoutOf(file);
    const bytes = readFileSync(file);
    // The main tree root moved past the last page.
    bytes.writeBigUInt64LE(10_000n, metaUsed * pageBytes + 24 + 72 + 40);
    writeFileSync(file, bytes);
    expect(() => checkLmdbDataFile(dir)).toThrow(CorruptionError);
    expect(() => checkLmdbDataFile(dir)).toThrow(/outside pages 2\.\./);
  });

  test('a directory instead of a data file is an error of its own, not corruption', () => {
    mkdirSync(path.join(tmp.dir, 'data.mdb'));
    expect(() => checkLmdbDataFile(tmp.dir)).toThrow(/EISDIR/);
  });
});

describe('lmdb-js errors', () => {
  const file = '/var/ledger/chains/ch/data.mdb';

  test('MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID... become CorruptionError naming the file', () => {
    for (const [code, name] of [
      [-30796, 'MDB_CORRUPTED'],
      [-30797, 'MDB_PAGE_NOTFOUND'],
      [-30793, 'MDB_INVALID'],
      [-30794, 'MDB_VERSION_MISMATCH'],
      [-30795, 'MDB_PANIC'],
    ] as const) {
      const err = Object.assign(new Error(`${name}: something`), { code });
      expect(lmdbCorruptionCode(err)).toBe(name);
      const mapped = asCorruption(err, file, 7);
      expect(mapped).toBeInstanceOf(CorruptionError);
      expect(mapped).toMatchObject({ kind: 'lmdb-error', file, blockNumber: 7 });
      expect((mapped as Error).message).toContain(file);
      expect((mapped as Error).message).toContain(name);
    }
    // Recognised by the message alone as well (lmdb-js sets both today).
    expect(asCorruption(new Error('MDB_PAGE_NOTFOUND: Requested page not found'), file)).toBeInstanceOf(CorruptionError);
  });

  test('other errors pass through unchanged', () => {
    const notFound = Object.assign(new Error('MDB_NOTFOUND: No matching key/data pair found'), { code: -30798 });
    const mapFull = Object.assign(new Error('MDB_MAP_FULL: Environment mapsize limit reached'), { code: -30792 });
    const io = Object.assign(new Error('EIO'), { code: 'EIO' });
    for (const err of [notFound, mapFull, io, 'a string']) expect(asCorruption(err, file)).toBe(err);
    const already = new CorruptionError(3, 'data-hash', 'x', { file });
    expect(asCorruption(already, '/other')).toBe(already);
  });

  test("a failed commit's second promise (lmdb-js commitError) is handled, so it cannot end the process", async () => {
    const cause = Object.assign(new Error('MDB_BAD_TXN: Transaction must abort'), { code: -30782 });
    const err = Object.assign(new Error('Commit failed (see commitError for details)'), { commitError: Promise.reject(cause) });
    const seen = await new Promise<unknown>((resolve) => expect(takeCommitError(err, resolve)).toBe(true));
    expect(seen).toBe(cause);
    expect(takeCommitError(new Error('plain'), () => undefined)).toBe(false);
  });
});
