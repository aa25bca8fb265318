// Damaged LMDB files of a block store, made on disk the way a disk, a copy or an operator damages
// them. Before the open-time file check, lmdb-js 3.5.6 ended the whole process on most of these
// (SIGBUS for a cut-off file, SIGSEGV for zeroed or foreign meta pages and for garbage in the tx-id
// index's tree pages); now each is refused with a CorruptionError that names the file.
import { cpSync, existsSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  channelStoreDir,
  CorruptionError,
  deepCheckBlockStore,
  openBlockStore,
  TX_INDEX_DIR,
  type LmdbBlockStore,
} from '../../ledger';
import { ChainBuilder, makeEnvelope, SeededRandom } from './fixtures/chain';
import { capturingLogger, silentLogger, tempDir } from './helpers';
import { layoutOf, namedRoot, overwrite, pageFlags } from './lmdb-pages';

const CHANNEL = 'damaged';
const BLOCKS = 12;
/** Every third block is large enough for LMDB's overflow pages, the others sit inside leaf pages. */
const LARGE_BLOCK_DATA_BYTES = 5000;
const SMALL_BLOCK_DATA_BYTES = 200;
const P_OVERFLOW = 0x04;

let template: ReturnType<typeof tempDir>;
let payloads: Uint8Array[];
let tmp: ReturnType<typeof tempDir>;
let store: LmdbBlockStore | undefined;

beforeAll(async () => {
  // One healthy store, copied for each test: damage never leaks from one test into another.
  template = tempDir('damage-template');
  const s = await openBlockStore({ dir: template.dir, channelId: CHANNEL, logger: silentLogger });
  const chain = new ChainBuilder();
  const random = new SeededRandom(1010);
  payloads = [];
  for (let i = 0; i < BLOCKS; i++) {
    const data = random.bytes(i % 3 === 0 ? LARGE_BLOCK_DATA_BYTES : SMALL_BLOCK_DATA_BYTES);
    payloads.push(data);
    await s.append(chain.next([makeEnvelope(`tx-${i}`, data)]));
  }
  await s.close();
});

afterAll(() => template.remove());

beforeEach(() => {
  tmp = tempDir('damage');
  cpSync(template.dir, tmp.dir, { recursive: true });
});

afterEach(async () => {
  await store?.close();
  store = undefined;
  tmp.remove();
});

const storeDir = (): string => channelStoreDir(tmp.dir, CHANNEL);
const blockFile = (): string => path.join(storeDir(), 'data.mdb');
const indexFile = (): string => path.join(storeDir(), TX_INDEX_DIR, 'data.mdb');

async function open(logger = silentLogger): Promise<LmdbBlockStore> {
  store = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger, recentBlocksMaxBytes: 0 });
  return store;
}

async function refusedAtOpen(): Promise<CorruptionError> {
  const err = await openBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger }).then(
    (s) => {
      store = s;
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CorruptionError);
  const corruption = err as CorruptionError;
  expect(corruption.file).toBe(blockFile());
  expect(corruption.message).toContain(blockFile());
  return corruption;
}

function randomBytes(n: number, seed: number): Uint8Array {
  return new SeededRandom(seed).bytes(n);
}

describe('a damaged block file is refused at open, naming it', () => {
  test('cut to half its size (lmdb-js: SIGBUS)', async () => {
    const { pageBytes } = layoutOf(blockFile());
    truncateSync(blockFile(), Math.floor(statSync(blockFile()).size / 2 / pageBytes) * pageBytes);
    const err = await refusedAtOpen();
    expect(err.kind).toBe('truncated');
    expect(err.message).toMatch(/lies beyond the end of the file|runs past the end of the file/);
  });

  test('cut to its two meta pages (lmdb-js: SIGBUS)', async () => {
    truncateSync(blockFile(), 2 * layoutOf(blockFile()).pageBytes);
    expect((await refusedAtOpen()).kind).toBe('truncated');
  });

  test('cut inside the first meta page', async () => {
    truncateSync(blockFile(), 100);
    expect((await refusedAtOpen()).kind).toBe('truncated');
  });

  test('meta page 0 zeroed (lmdb-js: SIGSEGV)', async () => {
    overwrite(blockFile(), 0, new Uint8Array(layoutOf(blockFile()).pageBytes));
    const err = await refusedAtOpen();
    expect(err).toMatchObject({ kind: 'meta-page', offsetBytes: 0 });
  });

  test('meta page 1 zeroed (lmdb-js silently fell back to meta page 0, losing whatever meta 1 had committed)', async () => {
    const { pageBytes } = layoutOf(blockFile());
    overwrite(blockFile(), pageBytes, new Uint8Array(pageBytes));
    expect(await refusedAtOpen()).toMatchObject({ kind: 'meta-page', offsetBytes: pageBytes });
  });

  test('both meta pages zeroed (lmdb-js: SIGSEGV)', async () => {
    overwrite(blockFile(), 0, new Uint8Array(2 * layoutOf(blockFile()).pageBytes));
    expect(await refusedAtOpen()).toMatchObject({ kind: 'meta-page', offsetBytes: 0 });
  });

  test('not an LMDB file at all (lmdb-js: SIGSEGV)', async () => {
    writeFileSync(blockFile(), randomBytes(statSync(blockFile()).size, 7));
    expect((await refusedAtOpen()).kind).toBe('meta-page');
  });

  test('garbage over the root page of the blocks tree', async () => {
    const { pageBytes } = layoutOf(blockFile());
    const root = namedRoot(blockFile(), 'blocks');
    overwrite(blockFile(), root * pageBytes, randomBytes(pageBytes, 11));
    expect(await refusedAtOpen()).toMatchObject({ kind: 'page-structure', offsetBytes: root * pageBytes });
  });

  test('garbage over the main tree (the named databases) (lmdb-js: MDB_CORRUPTED at open)', async () => {
    const { pageBytes, mainRoot } = layoutOf(blockFile());
    overwrite(blockFile(), mainRoot * pageBytes, randomBytes(pageBytes, 12));
    expect(await refusedAtOpen()).toMatchObject({ kind: 'page-structure', offsetBytes: mainRoot * pageBytes });
  });

  test('garbage over the middle third of the file', async () => {
    const size = statSync(blockFile()).size;
    const { pageBytes } = layoutOf(blockFile());
    overwrite(blockFile(), Math.floor(size / 3 / pageBytes) * pageBytes, randomBytes(Math.floor(size / 3), 13));
    const err = await refusedAtOpen();
    expect(['page-structure', 'truncated']).toContain(err.kind);
  });
});

test('garbage inside a block (overflow page data): the store opens, reading that block and verify name the block and the file', async () => {
  const contents = readFileSync(blockFile());
  const marker = Buffer.from(payloads[3]!.subarray(2000, 2032));
  const at = contents.indexOf(marker);
  expect(at).toBeGreaterThan(0);
  overwrite(blockFile(), at, randomBytes(32, 14));
  const s = await open();
  expect(() => s.getBlock(3)).toThrow(CorruptionError);
  const err = await s.verify().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CorruptionError);
  expect(err).toMatchObject({ blockNumber: 3, file: blockFile() });
  expect((err as Error).message).toContain(blockFile());
});

test('a 0-byte block file starts an empty store, with a warning naming the file, that it was empty, and that the ledger is re-filled', async () => {
  truncateSync(blockFile(), 0);
  const { logger, records } = capturingLogger();
  const s = await open(logger);
  expect(s.height()).toBe(0);
  const warnings = records.filter((r) => r.level === 40 && r.file === blockFile());
  expect(warnings).toHaveLength(1);
  const msg = String(warnings[0]!.msg);
  expect(msg).toContain(blockFile());
  expect(msg).toContain('empty (0 bytes)');
  expect(msg).toContain('starts from empty');
  expect(msg).toContain('re-filled from the genesis block or from the other orderers');
  // The old tx-id index described blocks that are gone: it was rebuilt, not trusted.
  expect(s.getByTxId('tx-0')).toBeUndefined();
  await s.append(new ChainBuilder().next([makeEnvelope('again-0', Uint8Array.of(1))]));
  expect(s.getByTxId('again-0')).toEqual({ blockNumber: 0, txIndex: 0 });
});

test('a block file removed from a store that existed is recreated empty with a warning', async () => {
  rmSync(blockFile());
  const { logger, records } = capturingLogger();
  const s = await open(logger);
  expect(s.height()).toBe(0);
  expect(records.filter((r) => r.level === 40 && r.file === blockFile()).map((r) => String(r.msg))).toEqual([
    expect.stringContaining('is missing although this store was opened before'),
  ]);
});

test('a new store is created without a warning', async () => {
  const { logger, records } = capturingLogger();
  store = await openBlockStore({ dir: tmp.dir, channelId: 'fresh', logger });
  expect(records.filter((r) => Number(r.level) >= 40)).toEqual([]);
});

describe('MDB_CORRUPTED raised inside lmdb-js while the store is open is rethrown as CorruptionError naming the file', () => {
  // The damage lands after the open-time check, as a disk error would: the blocks tree's root
  // (a single leaf page in this small store) is marked as an overflow page, which LMDB reports as
  // MDB_CORRUPTED ("index points to a 04 page") before reading anything else from it.
  function markBlocksRootAsOverflow(): void {
    const root = namedRoot(blockFile(), 'blocks');
    expect(pageFlags(blockFile(), root) & 0x02).toBe(0x02);
    const { pageBytes } = layoutOf(blockFile());
    const flags = Buffer.alloc(2);
    flags.writeUInt16LE(P_OVERFLOW);
    overwrite(blockFile(), root * pageBytes + 18, flags);
  }

  test('on a read', async () => {
    const s = await open();
    markBlocksRootAsOverflow();
    let err: unknown;
    try {
      s.getBlock(4);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorruptionError);
    expect(err).toMatchObject({ kind: 'lmdb-error', blockNumber: 4, file: blockFile() });
    expect((err as Error).message).toContain('MDB_CORRUPTED');
    expect((err as Error).message).toContain(blockFile());
  });
  // The same damage found while committing an append: block-store-processes.test.ts runs it in a
  // child process (lmdb-js's writer callbacks do not stay within one jest test file).
});

describe('a damaged tx-id index is deleted and rebuilt from the blocks, with a warning naming its file', () => {
  async function expectRebuilt(): Promise<void> {
    const { logger, records } = capturingLogger();
    const s = await open(logger);
    const warning = records.find((r) => r.msg === 'the tx-id index cannot be opened; deleting it and rebuilding it from the blocks');
    expect(warning).toBeDefined();
    expect(JSON.stringify(warning!.err)).toContain(indexFile());
    for (let i = 0; i < BLOCKS; i++) expect(s.getByTxId(`tx-${i}`)).toEqual({ blockNumber: i, txIndex: 0 });
    await expect(s.verify()).resolves.toMatchObject({ height: BLOCKS });
  }

  test('cut short (lmdb-js: SIGBUS)', async () => {
    truncateSync(indexFile(), 2 * layoutOf(indexFile()).pageBytes);
    await expectRebuilt();
  });

  test('garbage over its main tree page (lmdb-js: SIGBUS)', async () => {
    const { pageBytes, mainRoot } = layoutOf(indexFile());
    overwrite(indexFile(), mainRoot * pageBytes, randomBytes(pageBytes, 21));
    await expectRebuilt();
  });

  test('garbage over its tx-id tree root (lmdb-js: SIGSEGV or SIGBUS)', async () => {
    const { pageBytes } = layoutOf(indexFile());
    const root = namedRoot(indexFile(), 'txids');
    overwrite(indexFile(), root * pageBytes, randomBytes(pageBytes, 22));
    await expectRebuilt();
  });
});

describe('deepCheckBlockStore (for an `orderer ledger check` command)', () => {
  test('a healthy store: every page walked, every block verified', async () => {
    const report = await deepCheckBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger });
    expect(report).toMatchObject({ channelId: CHANNEL, height: BLOCKS, blocksFile: { state: 'sound', walkComplete: true }, indexFile: { state: 'sound' } });
    expect(report.bytesChecked).toBeGreaterThan(4 * LARGE_BLOCK_DATA_BYTES);
    // It released the store: an orderer can open it afterwards.
    await expect(open()).resolves.toBeDefined();
  });

  test('an overwritten overflow page header, which the open-time check does not read, is found', async () => {
    const contents = readFileSync(blockFile());
    const { pageBytes } = layoutOf(blockFile());
    // The first page of block 6's overflow run starts with its header; the payload follows the envelope framing.
    const at = contents.indexOf(Buffer.from(payloads[6]!.subarray(0, 32)));
    const firstPage = Math.floor(at / pageBytes);
    expect(contents.readBigUInt64LE(firstPage * pageBytes)).toBe(BigInt(firstPage));
    overwrite(blockFile(), firstPage * pageBytes, randomBytes(16, 31));
    const err = await deepCheckBlockStore({ dir: tmp.dir, channelId: CHANNEL, logger: silentLogger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect(err).toMatchObject({ kind: 'page-structure', file: blockFile(), offsetBytes: firstPage * pageBytes });
  });

  test('a channel without a store is an error, and nothing is created', async () => {
    await expect(deepCheckBlockStore({ dir: tmp.dir, channelId: 'nothere', logger: silentLogger })).rejects.toThrow(/does not exist/);
    expect(existsSync(channelStoreDir(tmp.dir, 'nothere'))).toBe(false);
  });
});
