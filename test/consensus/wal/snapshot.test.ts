import * as fs from 'node:fs';
import * as path from 'node:path';
import { CorruptionError, Snapshotter, Wal, snapshotFileName } from '../../../consensus/wal';
import { PREALLOCATED_FILE_NAME, SegmentPreallocator } from '../../../consensus/wal/preallocate';
import { RecordType } from '../../../consensus/wal/record';
import { captureLogger, entries, entry, makeTempDir, parseSegment, plain, removeDir, snapshotAt, WARN, SMALL_SEGMENTS } from './helpers';

async function corrupt(filePath: string, offset: number): Promise<void> {
  const buf = await fs.promises.readFile(filePath);
  buf[offset] = buf[offset]! ^ 0xff;
  await fs.promises.writeFile(filePath, buf);
}

describe('Snapshotter', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('saves atomically under %016x-%016x.snap, loads back exactly, and prunes to the newest N', async () => {
    const { logger } = captureLogger();
    const snapshotter = await Snapshotter.open(dir, { logger, snapshotsToKeep: 3 });
    for (const [index, term] of [[10, 1], [20, 2], [30, 2], [40, 3], [50, 3]] as const) await snapshotter.save(snapshotAt(index, term));
    const files = await fs.promises.readdir(dir);
    expect(files).toContain(snapshotFileName(3, 50));
    expect(snapshotFileName(3, 50)).toBe('0000000000000003-0000000000000032.snap');
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const newest = (await snapshotter.list())[0]!;
    expect(await snapshotter.load(newest)).toEqual(snapshotAt(50, 3));

    const deleted = await snapshotter.prune();
    expect(deleted.map((f) => f.index)).toEqual([20, 10]);
    expect((await snapshotter.list()).map((f) => f.index)).toEqual([50, 40, 30]);
  });

  it('rejects a damaged snapshot file with CorruptionError', async () => {
    const { logger } = captureLogger();
    const snapshotter = await Snapshotter.open(dir, { logger });
    const file = await snapshotter.save(snapshotAt(7, 1, 'x'.repeat(100)));
    await corrupt(file.path, 40);
    await expect(snapshotter.load(file)).rejects.toThrow(CorruptionError);
    await fs.promises.truncate(file.path, 10);
    await expect(snapshotter.load(file)).rejects.toThrow(/shorter than the header/);
  });
});

describe('WAL with snapshots', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('releases segments wholly before the snapshot, reports the bytes freed, and replays from the snapshot', async () => {
    const { logger, lines } = captureLogger();
    const opts = { logger, segmentSizeBytes: 512 };
    const { wal } = await Wal.open(dir, opts);
    for (let i = 1; i <= 100; i += 5) await wal.save({ term: 2, vote: 1, commit: i + 4 }, entries(i, i + 4, 2), true);
    const before = wal.segmentFiles();
    expect(before.length).toBeGreaterThan(4);

    await wal.saveSnapshot(snapshotAt(70, 2));
    const after = wal.segmentFiles();
    const released = before.filter((s) => !after.some((a) => a.path === s.path));
    expect(released.length).toBeGreaterThan(0);
    for (const s of released) expect(fs.existsSync(s.path)).toBe(false);
    // Every released segment is followed by one that starts at or before 71, so all it held is <= 70.
    expect(after[0]!.firstIndex).toBeLessThanOrEqual(71);
    const info = lines.find((l) => l.msg === 'released WAL segments covered by a snapshot');
    // A fill had started (the current segment is past 1/8), so no released segment is reused here.
    expect(info).toMatchObject({ snapshotIndex: 70, segmentsReleased: released.length, recycled: false, bytesFreed: released.reduce((n, s) => n + s.fileBytes, 0) });
    expect(info!.bytesFreed).toBeGreaterThanOrEqual(released.length * 512); // preallocated to the segment size
    await wal.close();

    const reopened = await Wal.open(dir, opts);
    expect(reopened.snapshot).toEqual(snapshotAt(70, 2));
    expect(plain(reopened.entries)).toEqual(plain(entries(71, 100, 2)));
    expect(reopened.hardState).toEqual({ term: 2, vote: 1, commit: 100 });
    await reopened.wal.close();
  });

  it('reuses the newest released segment as the next one: zeroed to the segment size first, so replay sees only what was written after', async () => {
    const { logger, lines } = captureLogger();
    const segmentSizeBytes = 4096;
    const opts = { logger, segmentSizeBytes };
    const { wal } = await Wal.open(dir, opts);
    // One ~200-byte entry per save: right after a rollover the new segment is below 1/8 of its
    // size, so no background fill has started and a released segment can be taken instead.
    let index = 0;
    const saveOne = (text: string): Promise<void> => {
      index++;
      return wal.save({ term: 1, vote: 1, commit: index }, [entry(index, 1, text + 'x'.repeat(180))], true);
    };
    while (wal.segmentFiles().length < 4) await saveOne('old');
    const segments = wal.segmentFiles();
    const newestReleased = segments[segments.length - 2]!;
    const inode = (await fs.promises.stat(newestReleased.path)).ino;
    await wal.saveSnapshot(snapshotAt(index, 1));
    const released = lines.find((l) => l.msg === 'released WAL segments covered by a snapshot');
    expect(released).toMatchObject({ segmentsReleased: 3, recycled: true });
    const prepared = path.join(dir, PREALLOCATED_FILE_NAME);
    expect((await fs.promises.stat(prepared)).ino).toBe(inode);
    for (const s of segments.slice(0, -1)) expect(fs.existsSync(s.path)).toBe(false);

    // Through the next rollover: the new segment is that file, holding nothing of its old records.
    const snapshotIndex = index;
    while (wal.segmentFiles().length < 2) await saveOne('new');
    const next = wal.segmentFiles()[1]!;
    expect((await fs.promises.stat(next.path)).ino).toBe(inode);
    await saveOne('new');
    await wal.close();
    const bytes = await fs.promises.readFile(next.path);
    expect(bytes.length).toBe(segmentSizeBytes);
    const records = parseSegment(bytes);
    const written = records.filter((r) => r.record.type === RecordType.Entry).map((r) => (r.record.type === RecordType.Entry ? r.record.entry.index : 0));
    expect(written[0]).toBe(next.firstIndex);
    expect(written).toEqual(Array.from({ length: index - next.firstIndex + 1 }, (_, i) => next.firstIndex + i));
    expect(bytes.subarray(records[records.length - 1]!.end).every((b) => b === 0)).toBe(true);
    expect((await fs.promises.readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);

    const reopened = await Wal.open(dir, opts);
    expect(reopened.snapshot).toEqual(snapshotAt(snapshotIndex, 1));
    expect(reopened.entries.map((e) => e.index)).toEqual(Array.from({ length: index - snapshotIndex }, (_, i) => snapshotIndex + 1 + i));
    expect(reopened.entries.every((e) => Buffer.from(e.data).toString().startsWith('new'))).toBe(true);
    expect(lines.filter((l) => l.level >= WARN)).toEqual([]);
    await reopened.wal.close();
  });

  it('cuts a reused segment that had grown past the segment size back to it', async () => {
    const { logger, lines } = captureLogger();
    const segmentSizeBytes = 4096;
    const { wal } = await Wal.open(dir, { logger, segmentSizeBytes });
    // A batch larger than a segment makes a segment of its own, past the size.
    await wal.save({ term: 1, vote: 1, commit: 1 }, [entry(1, 1, 'x'.repeat(3 * segmentSizeBytes))], true);
    await wal.save({ term: 1, vote: 1, commit: 2 }, [entry(2, 1, 'y')], true);
    const big = wal.segmentFiles().find((s) => s.fileBytes > segmentSizeBytes)!;
    expect(big).toBeDefined();
    const inode = (await fs.promises.stat(big.path)).ino;
    await wal.saveSnapshot(snapshotAt(1, 1));
    expect(lines.find((l) => l.msg === 'released WAL segments covered by a snapshot')).toMatchObject({ recycled: true });
    let index = 2;
    while (wal.segmentFiles().length < 2) {
      index++;
      await wal.save({ term: 1, vote: 1, commit: index }, [entry(index, 1, 'z'.repeat(200))], true);
    }
    const next = wal.segmentFiles()[1]!;
    expect((await fs.promises.stat(next.path)).ino).toBe(inode);
    expect((await fs.promises.stat(next.path)).size).toBe(segmentSizeBytes);
    await wal.close();
    const reopened = await Wal.open(dir, { logger, segmentSizeBytes });
    expect(reopened.entries.map((e) => e.index)).toEqual(Array.from({ length: index - 1 }, (_, i) => i + 2));
    await reopened.wal.close();
  });

  it('a preallocator started right after adopt() zeroes the adopted segment in place, and adopts nothing while it prepares a file or when the file has other hard links', async () => {
    const { logger, lines } = captureLogger();
    const sizeBytes = 8192;
    const released = path.join(dir, 'released.wal');
    await fs.promises.writeFile(released, Buffer.alloc(3 * sizeBytes, 0x5a));
    const inode = (await fs.promises.stat(released)).ino;
    const pre = new SegmentPreallocator(dir, sizeBytes, logger, 0);
    const adopted = pre.adopt(released);
    pre.start(); // right after adopt(): its fill must wait for the rename, then keep the file's blocks
    expect(await adopted).toBe(true);
    const file = (await pre.take())!;
    // Opened without truncating: the zeros go over the segment's own blocks.
    expect(lines.filter((l) => l.msg === 'preparing the next WAL segment').map((l) => l.reusedSegment)).toEqual([true]);
    expect((await fs.promises.stat(file)).ino).toBe(inode);
    const bytes = await fs.promises.readFile(file);
    expect(bytes.length).toBe(sizeBytes);
    expect(bytes.every((b) => b === 0)).toBe(true);

    const other = path.join(dir, 'other.wal');
    await fs.promises.writeFile(other, 'x');
    pre.start();
    expect(await pre.adopt(other)).toBe(false); // a file is being prepared: the caller deletes this one
    expect(fs.existsSync(other)).toBe(true);
    await pre.take();
    // A segment with another hard link (a backup made with `cp -al`) is not written over.
    const linked = path.join(dir, 'linked.wal');
    await fs.promises.link(other, linked);
    expect(await pre.adopt(other)).toBe(false);
    expect(await fs.promises.readFile(linked, 'utf8')).toBe('x');
    expect(fs.existsSync(other)).toBe(true);
    await pre.stop();
    await fs.promises.unlink(linked);
    expect(await pre.adopt(other)).toBe(false); // stopped
    expect(fs.existsSync(path.join(dir, PREALLOCATED_FILE_NAME))).toBe(false);
  });

  it('keeps the newest snapshotsToKeep snapshot files', async () => {
    const { logger } = captureLogger();
    const { wal, snapshot } = await Wal.open(dir, { logger, ...SMALL_SEGMENTS, snapshotsToKeep: 2 });
    expect(snapshot).toBeUndefined();
    await wal.save({ term: 1, vote: 1, commit: 40 }, entries(1, 40, 1), true);
    for (const index of [10, 20, 30, 40]) await wal.saveSnapshot(snapshotAt(index, 1));
    expect((await fs.promises.readdir(path.join(dir, 'snap'))).sort()).toEqual([snapshotFileName(1, 30), snapshotFileName(1, 40)]);
    await wal.close();
  });

  it('skips a corrupt newest snapshot with a warning when the WAL still holds everything after the previous one', async () => {
    const { logger, lines } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    await wal.save({ term: 1, vote: 1, commit: 30 }, entries(1, 30, 1), true);
    await wal.saveSnapshot(snapshotAt(10, 1));
    await wal.saveSnapshot(snapshotAt(20, 1));
    await wal.close();
    const newest = path.join(dir, 'snap', snapshotFileName(1, 20));
    await corrupt(newest, 20);

    const reopened = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(reopened.snapshot).toEqual(snapshotAt(10, 1));
    expect(plain(reopened.entries)).toEqual(plain(entries(11, 30, 1)));
    expect(lines.some((l) => l.level === WARN && l.file === newest)).toBe(true);
    await reopened.wal.close();
  });

  it('refuses to open when the newest snapshot is corrupt and the WAL no longer reaches back to the previous one', async () => {
    const { logger } = captureLogger();
    const opts = { logger, segmentSizeBytes: 1024 };
    const { wal } = await Wal.open(dir, opts);
    for (let i = 1; i <= 60; i += 3) await wal.save({ term: 1, vote: 1, commit: i + 2 }, entries(i, i + 2, 1), true);
    await wal.saveSnapshot(snapshotAt(5, 1));
    await wal.saveSnapshot(snapshotAt(55, 1));
    await wal.close();
    const newest = path.join(dir, 'snap', snapshotFileName(1, 55));
    await corrupt(newest, 20);

    const err = await Wal.open(dir, opts).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as CorruptionError).filePath).toBe(newest);
    expect((err as CorruptionError).message).toMatch(/WAL starts at index \d+/);
  });

  it('ignores a snapshot file whose WAL records never became durable', async () => {
    const { logger, lines } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    await wal.save({ term: 1, vote: 1, commit: 10 }, entries(1, 10, 1), true);
    await wal.close();
    // As left by a crash after the .snap file of an installed snapshot but before its WAL write.
    const snapshotter = await Snapshotter.open(path.join(dir, 'snap'), { logger });
    const orphan = await snapshotter.save(snapshotAt(500, 4));

    const reopened = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(reopened.snapshot).toBeUndefined();
    expect(plain(reopened.entries)).toEqual(plain(entries(1, 10, 1)));
    expect(lines.some((l) => l.level === WARN && l.file === orphan.path && l.fit === 'ahead-of-wal')).toBe(true);
    expect(fs.existsSync(orphan.path)).toBe(false);
    expect(fs.existsSync(`${orphan.path}.orphan`)).toBe(true);
    await reopened.wal.close();
  });

  it('replays an installed snapshot as replacing the whole log', async () => {
    const { logger } = captureLogger();
    const opts = { logger, segmentSizeBytes: 1024 };
    const { wal } = await Wal.open(dir, opts);
    await wal.save({ term: 1, vote: 1, commit: 5 }, entries(1, 20, 1), true);
    await wal.saveInstalledSnapshot(snapshotAt(1000, 3), { term: 3, vote: 0, commit: 1000 }, entries(1001, 1003, 3));
    await wal.save({ term: 3, vote: 0, commit: 1002 }, entries(1004, 1004, 3), true);
    await wal.close();

    const reopened = await Wal.open(dir, opts);
    expect(reopened.snapshot).toEqual(snapshotAt(1000, 3));
    expect(plain(reopened.entries)).toEqual(plain(entries(1001, 1004, 3)));
    expect(reopened.hardState).toEqual({ term: 3, vote: 0, commit: 1002 });
    await reopened.wal.close();
  });

  it('refuses a directory with snapshot files but no WAL segments', async () => {
    const { logger } = captureLogger();
    const snapshotter = await Snapshotter.open(path.join(dir, 'snap'), { logger });
    await snapshotter.save(snapshotAt(10, 1));
    await expect(Wal.open(dir, { logger, ...SMALL_SEGMENTS })).rejects.toThrow(CorruptionError);
  });
});
