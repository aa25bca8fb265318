// Every delete and overwrite in consensus/wal touches only files whose names the WAL itself
// writes, inside its own directories: an operator's file, a backup copy with a similar name, a
// directory or a lock someone else holds must survive each of them (issue #10: "never delete
// what is not ours"). Each test plants canaries next to the files the operation is meant to
// remove and checks both sides.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Snapshotter, Wal, snapshotFileName } from '../../../consensus/wal';
import { DirLock, LOCK_FILE_NAME } from '../../../consensus/wal/lock';
import { PREALLOCATED_FILE_NAME, SegmentPreallocator } from '../../../consensus/wal/preallocate';
import { createSegment, segmentFileName } from '../../../consensus/wal/segment';
import { captureLogger, entries, entry, makeTempDir, parseSegment, removeDir, snapshotAt } from './helpers';
import { RecordType } from '../../../consensus/wal/record';

const CANARY = 'an operator put this here';

let root: string;
let walDir: string;
let snapDir: string;

async function plant(dir: string, names: readonly string[]): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true });
  for (const name of names) await fs.promises.writeFile(path.join(dir, name), CANARY);
}

/** A directory with a file inside, under a name the WAL might match. */
async function plantDir(dir: string, name: string): Promise<void> {
  await fs.promises.mkdir(path.join(dir, name), { recursive: true });
  await fs.promises.writeFile(path.join(dir, name, 'inside.txt'), CANARY);
}

async function expectCanaries(dir: string, names: readonly string[]): Promise<void> {
  for (const name of names) expect({ name, content: await fs.promises.readFile(path.join(dir, name), 'utf8') }).toEqual({ name, content: CANARY });
}

async function expectDirCanary(dir: string, name: string): Promise<void> {
  expect(await fs.promises.readFile(path.join(dir, name, 'inside.txt'), 'utf8')).toBe(CANARY);
}

beforeEach(async () => {
  root = await makeTempDir('wal-canary-');
  walDir = path.join(root, 'wal');
  snapDir = path.join(root, 'snap');
});

afterEach(async () => {
  await removeDir(root);
});

describe('only the WAL\'s own files are deleted', () => {
  test('opening a WAL removes its own unfinished temp files, not any *.tmp', async () => {
    const { logger } = captureLogger();
    const theirs = ['notes.tmp', 'backup.wal.tmp', `${segmentFileName(3, 9)}.tmp.keep`, 'LOCK.tmp'];
    const ours = [`${segmentFileName(5, 16)}.tmp`, PREALLOCATED_FILE_NAME];
    await plant(walDir, [...theirs, ...ours]);
    await plantDir(walDir, 'dir.tmp');
    await plantDir(walDir, `${segmentFileName(7, 20)}.tmp`);
    const { wal } = await Wal.open(walDir, { logger, snapDir, preallocate: false });
    await wal.close();
    await expectCanaries(walDir, theirs);
    await expectDirCanary(walDir, 'dir.tmp');
    await expectDirCanary(walDir, `${segmentFileName(7, 20)}.tmp`);
    for (const name of ours) expect(fs.existsSync(path.join(walDir, name))).toBe(false);
  });

  test('opening the snapshot directory removes unfinished snapshot files only', async () => {
    const { logger } = captureLogger();
    const theirs = ['operator.tmp', 'old.snap.tmp', `${snapshotFileName(1, 5)}.tmp.bak`];
    const ours = [`${snapshotFileName(1, 5)}.tmp`];
    await plant(snapDir, [...theirs, ...ours]);
    await Snapshotter.open(snapDir, { logger });
    await expectCanaries(snapDir, theirs);
    expect(fs.existsSync(path.join(snapDir, ours[0]!))).toBe(false);
  });

  test('pruning snapshots deletes old snapshot files only, never a directory or a look-alike', async () => {
    const { logger } = captureLogger();
    const theirs = ['README', 'old.snap', `${snapshotFileName(1, 1)}.orphan`, `${snapshotFileName(1, 2)}.bak`, snapshotFileName(1, 3).toUpperCase()];
    await plant(snapDir, theirs);
    await plantDir(snapDir, snapshotFileName(1, 4)); // named like a snapshot, older than every real one
    const snapshotter = await Snapshotter.open(snapDir, { logger, snapshotsToKeep: 2 });
    for (const index of [10, 20, 30, 40]) await snapshotter.save(snapshotAt(index, 1));
    const deleted = await snapshotter.prune();
    expect(deleted.map((f) => f.index)).toEqual([20, 10]);
    expect((await fs.promises.readdir(snapDir)).filter((n) => /^[0-9a-f]{16}-[0-9a-f]{16}\.snap$/.test(n)).sort()).toEqual(
      [snapshotFileName(1, 4), snapshotFileName(1, 30), snapshotFileName(1, 40)].sort(),
    );
    await expectCanaries(snapDir, theirs);
    await expectDirCanary(snapDir, snapshotFileName(1, 4));
  });

  test('releasing segments after a snapshot deletes released segments only', async () => {
    const { logger } = captureLogger();
    const theirs = ['notes.txt', `${segmentFileName(0, 1)}.bak`, `${segmentFileName(0, 1)}.orig`, 'segment.wal'];
    await plant(walDir, theirs);
    const { wal } = await Wal.open(walDir, { logger, snapDir, segmentSizeBytes: 1024, preallocate: false });
    for (let i = 1; i <= 40; i++) await wal.save({ term: 1, vote: 1, commit: i }, [entry(i, 1, 'x'.repeat(60))], true);
    const before = wal.segmentFiles().map((s) => s.path);
    expect(before.length).toBeGreaterThan(3);
    await wal.saveSnapshot(snapshotAt(35, 1));
    const after = wal.segmentFiles().map((s) => s.path);
    expect(after.length).toBeLessThan(before.length);
    await wal.close();
    for (const p of before) expect(fs.existsSync(p)).toBe(after.includes(p));
    await expectCanaries(walDir, theirs);
  });

  test('repair removes the damaged log\'s later segments only, not a backup copy of one', async () => {
    const { logger } = captureLogger();
    const { wal } = await Wal.open(walDir, { logger, snapDir, segmentSizeBytes: 1024, preallocate: false });
    for (let i = 1; i <= 40; i++) await wal.save({ term: 1, vote: 1, commit: i - 1 }, [entry(i, 1, 'y'.repeat(60))], true);
    const segments = wal.segmentFiles().map((s) => s.path);
    await wal.close();
    expect(segments.length).toBeGreaterThan(3);
    const backup = `${path.basename(segments[3]!)}.orig`;
    const backupBytes = await fs.promises.readFile(segments[3]!);
    await fs.promises.writeFile(path.join(walDir, backup), backupBytes);
    const theirs = ['notes.txt', 'README'];
    await plant(walDir, theirs);
    await plantDir(walDir, 'archive');
    // Damage the first entry of segment 1.
    const buf = await fs.promises.readFile(segments[1]!);
    const first = parseSegment(buf).find((r) => r.record.type === RecordType.Entry)!;
    buf[first.end - 2] = buf[first.end - 2]! ^ 0x01;
    await fs.promises.writeFile(segments[1]!, buf);

    const reopened = await Wal.open(walDir, { logger, snapDir, repair: true, preallocate: false });
    await reopened.wal.close();
    for (const p of segments.slice(2)) expect(fs.existsSync(p)).toBe(false);
    await expectCanaries(walDir, theirs);
    await expectDirCanary(walDir, 'archive');
    expect((await fs.promises.readFile(path.join(walDir, backup))).equals(backupBytes)).toBe(true);
  });

  test('stopping the preallocator removes its own file only', async () => {
    const { logger } = captureLogger();
    const theirs = ['next-segment.wal', `${PREALLOCATED_FILE_NAME}.keep`, 'next-segment.tmp'];
    await plant(walDir, theirs);
    const pre = new SegmentPreallocator(walDir, 64 * 1024, logger, 0);
    pre.start();
    expect(await pre.take()).toBe(path.join(walDir, PREALLOCATED_FILE_NAME));
    await pre.stop();
    expect(fs.existsSync(path.join(walDir, PREALLOCATED_FILE_NAME))).toBe(false);
    await expectCanaries(walDir, theirs);
  });

  test('breaking a stale lock removes that lock only; releasing leaves a lock that is not ours', async () => {
    const { logger } = captureLogger();
    const theirs = ['LOCK.bak', 'LOCK.stale-1-2', 'lock'];
    await plant(walDir, theirs);
    await fs.promises.writeFile(path.join(walDir, LOCK_FILE_NAME), JSON.stringify({ pid: 2 ** 22 + 777, startTime: '1', hostname: os.hostname() }));
    const lock = await DirLock.acquire(walDir, logger);
    await expectCanaries(walDir, theirs);
    expect((await fs.promises.readdir(walDir)).filter((n) => n.startsWith('LOCK.stale-') && n !== 'LOCK.stale-1-2')).toEqual([]);
    // Someone replaced the lock file (an operator, a second host): release must not delete theirs.
    await fs.promises.writeFile(path.join(walDir, LOCK_FILE_NAME), CANARY);
    await lock.release();
    await expectCanaries(walDir, [...theirs, LOCK_FILE_NAME]);
  });
});

describe('nothing of value is overwritten', () => {
  test('creating a segment never replaces an existing file of that name', async () => {
    await plant(walDir, [segmentFileName(0, 1)]);
    await expect(createSegment(walDir, 0, 1, { term: 0, vote: 0, commit: 0 }, { fillToBytes: 0 })).rejects.toThrow(/already exists/);
    await expectCanaries(walDir, [segmentFileName(0, 1)]);
    expect(fs.existsSync(path.join(walDir, `${segmentFileName(0, 1)}.tmp`))).toBe(false);
  });

  test('a snapshot set aside as an orphan does not replace an earlier orphan of the same name', async () => {
    const { logger } = captureLogger();
    const { wal } = await Wal.open(walDir, { logger, snapDir, preallocate: false });
    await wal.save({ term: 1, vote: 1, commit: 5 }, entries(1, 5, 1), true);
    await wal.close();
    // A snapshot beyond the WAL (its WAL record never became durable), and the evidence of an earlier one.
    const snapshotter = await Snapshotter.open(snapDir, { logger });
    const file = await snapshotter.save(snapshotAt(9, 1));
    await plant(snapDir, [`${file.name}.orphan`]);
    const reopened = await Wal.open(walDir, { logger, snapDir, preallocate: false });
    await reopened.wal.close();
    await expectCanaries(snapDir, [`${file.name}.orphan`]);
    expect(fs.existsSync(path.join(snapDir, `${file.name}.orphan.1`))).toBe(true);
    expect(fs.existsSync(file.path)).toBe(false);
  });
});
