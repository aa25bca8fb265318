import * as fs from 'node:fs';
import * as path from 'node:path';
import { raftpb } from '../../../protos';
import { Wal, WalClosedError, WalFailedError, WalLockedError, crc32 } from '../../../consensus/wal';
import { crc32Portable } from '../../../consensus/wal/crc32';
import { RecordBatchEncoder, RecordType } from '../../../consensus/wal/record';
import { captureLogger, entries, entry, makeTempDir, parseSegment, plain, removeDir, walFiles, SMALL_SEGMENTS } from './helpers';

describe('crc32', () => {
  it('matches the CRC-32 check value and the portable table implementation', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32Portable(Buffer.from('123456789'))).toBe(0xcbf43926);
    const data = Buffer.alloc(10_007);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
    for (const len of [0, 1, 7, 8, 9, 63, 1000, data.length]) {
      const part = data.subarray(0, len);
      expect(crc32Portable(part)).toBe(crc32(part));
      expect(crc32Portable(part.subarray(len >> 1), crc32Portable(part.subarray(0, len >> 1)))).toBe(crc32(part));
    }
  });
});

describe('record encoding', () => {
  it('writes entries as exactly the bytes raftpb.Entry.encode produces', () => {
    const samples: raftpb.Entry[] = [
      entry(1, 1),
      { type: raftpb.EntryType.EntryConfChange, term: 2 ** 40 + 3, index: 2 ** 53 - 1, data: Buffer.alloc(300, 9) },
      { type: raftpb.EntryType.EntryNormal, term: 0, index: 0, data: new Uint8Array(0) },
      { type: raftpb.EntryType.EntryNormal, term: 127, index: 128, data: Buffer.alloc(70_000, 1) },
    ];
    for (const e of samples) {
      const records = parseSegment(new RecordBatchEncoder().entry(e).finish());
      expect(records).toHaveLength(1);
      const buf = new RecordBatchEncoder().entry(e).finish();
      expect(Buffer.from(buf.subarray(16)).equals(Buffer.from(raftpb.Entry.encode(e)))).toBe(true);
      const decoded = records[0]!.record;
      expect(decoded.type === RecordType.Entry && plain([decoded.entry])).toEqual(plain([e]));
    }
  });
});

describe('Wal', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('creates an empty WAL and replays nothing', async () => {
    const { logger } = captureLogger();
    const opened = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(opened.snapshot).toBeUndefined();
    expect(opened.entries).toEqual([]);
    expect(opened.hardState).toEqual({ term: 0, vote: 0, commit: 0 });
    expect(await walFiles(dir)).toEqual(['0000000000000000-0000000000000001.wal']);
    // Preallocated: zero-filled up to the segment size.
    expect((await fs.promises.stat(path.join(dir, '0000000000000000-0000000000000001.wal'))).size).toBe(SMALL_SEGMENTS.segmentSizeBytes);
    await opened.wal.close();
  });

  it('replays hard state and entries exactly, with conflicting entries replacing the tail', async () => {
    const { logger } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    await wal.save({ term: 1, vote: 1, commit: 0 }, entries(1, 5, 1), true);
    await wal.save({ term: 1, vote: 1, commit: 3 }, [], false);
    // A new leader in term 2 overwrites 4..5 and appends up to 6.
    const rewritten = [entry(4, 2, 'x'), entry(5, 2, ''), { ...entry(6, 2), type: raftpb.EntryType.EntryConfChange }];
    await wal.save({ term: 2, vote: 3, commit: 4 }, rewritten, true);
    await wal.close();

    const reopened = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(reopened.hardState).toEqual({ term: 2, vote: 3, commit: 4 });
    expect(plain(reopened.entries)).toEqual(plain([...entries(1, 3, 1), ...rewritten]));
    await reopened.wal.close();
  });

  it('writes one Ready with one write and one fdatasync, and none when mustSync is false', async () => {
    const { logger } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    const realFs = jest.requireActual<typeof fs>('node:fs');
    const writeSpy = jest.spyOn(realFs, 'writeSync');
    const syncSpy = jest.spyOn(realFs, 'fdatasync');
    try {
      await wal.save({ term: 1, vote: 1, commit: 0 }, entries(1, 100, 1), true);
      expect(writeSpy).toHaveBeenCalledTimes(1);
      expect(syncSpy).toHaveBeenCalledTimes(1);
      await wal.save({ term: 1, vote: 1, commit: 50 }, [], false);
      expect(writeSpy).toHaveBeenCalledTimes(2);
      expect(syncSpy).toHaveBeenCalledTimes(1);
    } finally {
      writeSpy.mockRestore();
      syncSpy.mockRestore();
    }
    await wal.close();
  });

  it('rolls over to a new segment named by sequence and first index, each starting with the hard state', async () => {
    const { logger, lines } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, segmentSizeBytes: 4096 });
    let index = 1;
    for (let batch = 0; batch < 30; batch++) {
      const list = [];
      for (let i = 0; i < 5; i++) list.push(entry(index++, 1, 'x'.repeat(100)));
      await wal.save({ term: 1, vote: 2, commit: index - 3 }, list, true);
    }
    const files = wal.segmentFiles();
    expect(files.length).toBeGreaterThan(3);
    for (let k = 0; k < files.length; k++) {
      const f = files[k]!;
      expect(f.seq).toBe(k);
      expect(path.basename(f.path)).toBe(`${k.toString(16).padStart(16, '0')}-${f.firstIndex.toString(16).padStart(16, '0')}.wal`);
      if (k < files.length - 1) expect(f.sizeBytes).toBeLessThanOrEqual(4096);
      // Preallocated: the file is zero-filled to the segment size (later ones in the background).
      expect((await fs.promises.stat(f.path)).size).toBe(4096);
      const records = parseSegment(await fs.promises.readFile(f.path));
      expect(records[0]!.record.type).toBe(RecordType.SegmentHeader);
      expect(records[1]!.record.type).toBe(RecordType.HardState);
      const firstEntry = records.find((r) => r.record.type === RecordType.Entry);
      if (firstEntry?.record.type === RecordType.Entry) expect(firstEntry.record.entry.index).toBe(f.firstIndex);
    }
    await wal.close();
    expect((await fs.promises.readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    // Segment files were prepared in the background while the previous one filled up.
    expect(lines.some((l) => l.msg === 'started a new WAL segment' && l.preallocated === 'background')).toBe(true);
    const reopened = await Wal.open(dir, { logger, segmentSizeBytes: 4096 });
    expect(reopened.entries.map((e) => e.index)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(reopened.hardState).toEqual({ term: 1, vote: 2, commit: 148 });
    await reopened.wal.close();
  });

  it('serializes concurrent saves in call order and refuses use after close', async () => {
    const { logger } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    await Promise.all([
      wal.save(undefined, entries(1, 3, 1), true),
      wal.save(undefined, [entry(3, 2, 'new')], true),
      wal.save({ term: 2, vote: 0, commit: 1 }, [], false),
    ]);
    await wal.close();
    await expect(wal.save(undefined, [entry(4, 2)], true)).rejects.toBeInstanceOf(WalClosedError);
    const reopened = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(plain(reopened.entries)).toEqual(plain([entry(1, 1), entry(2, 1), entry(3, 2, 'new')]));
    await reopened.wal.close();
  });

  it('refuses every write after a failed fdatasync, but not after an entry it could not encode', async () => {
    const { logger } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    await expect(wal.save(undefined, [{ ...entry(1, 1), index: -1 }], true)).rejects.toThrow(RangeError);
    await wal.save(undefined, [entry(1, 1)], true);

    const realFs = jest.requireActual<typeof fs>('node:fs');
    const syncSpy = jest.spyOn(realFs, 'fdatasync').mockImplementationOnce(((_fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => {
      callback(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    }) as typeof fs.fdatasync);
    try {
      await expect(wal.save(undefined, [entry(2, 1)], true)).rejects.toThrow('EIO');
    } finally {
      syncSpy.mockRestore();
    }
    // The kernel may have dropped the pages that failed to sync: no retry can be trusted.
    await expect(wal.save(undefined, [entry(2, 1)], true)).rejects.toBeInstanceOf(WalFailedError);
    await wal.close();
    const reopened = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(reopened.entries.map((e) => e.index)).toEqual([1, 2]); // the page cache still had entry 2
    await reopened.wal.close();
  });

  it('refuses every write after a failed write (the disk full), and keeps what was synced before it', async () => {
    const { logger } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    await wal.save({ term: 1, vote: 1, commit: 0 }, [entry(1, 1)], true);
    const realFs = jest.requireActual<typeof fs>('node:fs');
    const writeSpy = jest.spyOn(realFs, 'writeSync').mockImplementationOnce(() => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    });
    try {
      await expect(wal.save(undefined, [entry(2, 1)], true)).rejects.toThrow('ENOSPC');
    } finally {
      writeSpy.mockRestore();
    }
    await expect(wal.save(undefined, [entry(2, 1)], true)).rejects.toBeInstanceOf(WalFailedError);
    await wal.close();
    const reopened = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(reopened.entries.map((e) => e.index)).toEqual([1]);
    await reopened.wal.close();
  });

  it('refuses a second open of the same directory in the same process', async () => {
    const { logger } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    const second = Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    await expect(second).rejects.toBeInstanceOf(WalLockedError);
    await expect(second).rejects.toThrow(`locked by process ${process.pid}`);
    await wal.close();
    const third = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    await third.wal.close();
  });
});
