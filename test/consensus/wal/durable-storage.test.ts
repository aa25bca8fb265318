import * as fs from 'node:fs';
import * as path from 'node:path';
import { CompactedError } from '../../../consensus/raft/errors';
import { DurableStorage, WalClosedError, snapshotFileName } from '../../../consensus/wal';
import { captureLogger, CONF_STATE, entries, entry, makeTempDir, plain, removeDir, snapshotAt, SMALL_SEGMENTS } from './helpers';

/** Everything Raft can read from a Storage, in comparable form. */
function view(s: DurableStorage): unknown {
  const first = s.firstIndex();
  const last = s.lastIndex();
  return {
    initialState: s.initialState(),
    first,
    last,
    termBeforeFirst: s.term(first - 1),
    entries: plain(s.entries(first, last + 1, Infinity)),
    snapshot: { ...s.snapshot().metadata, data: Buffer.from(s.snapshot().data).toString('hex') },
  };
}

describe('DurableStorage', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('wal-storage-');
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('persists Readys before showing them and restarts to the same Storage view', async () => {
    const { logger } = captureLogger();
    const storage = await DurableStorage.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(storage.lastIndex()).toBe(0);
    await storage.saveReady({ hardState: { term: 1, vote: 1, commit: 0 }, entries: entries(1, 10, 1), mustSync: true });
    await storage.saveReady({ hardState: { term: 1, vote: 1, commit: 8 }, entries: [], mustSync: false });
    await storage.saveReady({ hardState: { term: 2, vote: 2, commit: 8 }, entries: [entry(9, 2, 'new'), entry(10, 2), entry(11, 2)], mustSync: true });
    expect(storage.lastIndex()).toBe(11);
    expect(storage.term(9)).toBe(2);
    const before = view(storage);
    await storage.close();

    const reopened = await DurableStorage.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(view(reopened)).toEqual(before);
    await reopened.close();
  });

  it('createSnapshot makes the .snap file and WAL marker durable, compact trims memory, and a restart starts at the snapshot', async () => {
    const { logger, lines } = captureLogger();
    const storage = await DurableStorage.open(dir, { logger, segmentSizeBytes: 1024 });
    for (let i = 1; i <= 200; i += 10) {
      await storage.saveReady({ hardState: { term: 3, vote: 1, commit: i + 9 }, entries: entries(i, i + 9, 3), mustSync: true });
    }
    const segmentsBefore = storage.walSegments().length;
    const snap = await storage.createSnapshot(150, CONF_STATE, Buffer.from('block-150'));
    storage.compact(146); // Fabric keeps a few entries after the snapshot for slow followers
    expect(snap.metadata).toEqual({ index: 150, term: 3, confState: CONF_STATE });
    expect(fs.existsSync(path.join(dir, 'snap', snapshotFileName(3, 150)))).toBe(true);
    expect(storage.walSegments().length).toBeLessThan(segmentsBefore);
    expect(lines.some((l) => l.msg === 'released WAL segments covered by a snapshot' && (l.bytesFreed as number) > 0)).toBe(true);
    expect(storage.firstIndex()).toBe(147);
    expect(() => storage.entries(146, 150, Infinity)).toThrow(CompactedError);
    await storage.close();

    const reopened = await DurableStorage.open(dir, { logger, segmentSizeBytes: 1024 });
    expect(reopened.firstIndex()).toBe(151);
    expect(reopened.lastIndex()).toBe(200);
    expect(reopened.snapshot()).toEqual(snap);
    expect(reopened.initialState()).toEqual({ hardState: { term: 3, vote: 1, commit: 200 }, confState: CONF_STATE });
    expect(plain(reopened.entries(151, 201, Infinity))).toEqual(plain(entries(151, 200, 3)));
    await reopened.close();
  });

  it('persists a Ready carrying a snapshot from the leader, replacing the log', async () => {
    const { logger } = captureLogger();
    const storage = await DurableStorage.open(dir, { logger, ...SMALL_SEGMENTS });
    await storage.saveReady({ hardState: { term: 1, vote: 1, commit: 3 }, entries: entries(1, 5, 1), mustSync: true });
    const snapshot = snapshotAt(500, 4);
    await storage.saveReady({ snapshot, hardState: { term: 4, vote: 0, commit: 500 }, entries: entries(501, 502, 4), mustSync: true });
    expect(storage.firstIndex()).toBe(501);
    const before = view(storage);
    await storage.close();
    const reopened = await DurableStorage.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(view(reopened)).toEqual(before);
    await reopened.close();
  });

  it('leaves memory untouched when the WAL refuses the write', async () => {
    const { logger } = captureLogger();
    const storage = await DurableStorage.open(dir, { logger, ...SMALL_SEGMENTS });
    await storage.saveReady({ hardState: { term: 1, vote: 1, commit: 0 }, entries: entries(1, 2, 1), mustSync: true });
    await storage.close();
    await expect(storage.saveReady({ entries: entries(3, 3, 1), mustSync: true })).rejects.toBeInstanceOf(WalClosedError);
    expect(storage.lastIndex()).toBe(2);
  });
});
