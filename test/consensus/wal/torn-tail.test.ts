// A crash in the middle of a write leaves the last segment cut anywhere inside its last
// records. Recovery must keep every record before the cut, drop the partial one, and leave
// the file so that appending after reopen works.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { raftpb } from '../../../protos';
import { Wal } from '../../../consensus/wal';
import { RecordType } from '../../../consensus/wal/record';
import { captureLogger, entry, makeTempDir, parseSegment, plain, removeDir, WARN, type ParsedRecord } from './helpers';

/** What replaying exactly these records must give. */
function expectedFrom(records: readonly ParsedRecord[]): { hardState: raftpb.HardState; entries: raftpb.Entry[] } {
  let hardState: raftpb.HardState = { term: 0, vote: 0, commit: 0 };
  let log: raftpb.Entry[] = [];
  for (const { record } of records) {
    if (record.type === RecordType.HardState) hardState = record.hardState;
    if (record.type === RecordType.Entry) {
      log = log.filter((e) => e.index < record.entry.index);
      log.push(record.entry);
    }
  }
  return { hardState, entries: log };
}

describe.each([
  { preallocate: false, what: 'file ends at the tear' },
  { preallocate: true, what: 'preallocated zeros follow the tear' },
])('torn tail ($what)', ({ preallocate }) => {
  const opts = { preallocate, segmentSizeBytes: 16 * 1024 };
  let dir: string;
  let work: string;
  beforeAll(async () => {
    dir = await makeTempDir();
    work = await makeTempDir();
  });
  afterAll(async () => {
    await removeDir(dir);
    await removeDir(work);
  });

  it('keeps everything before a cut at any byte of the last records, truncates the rest, and appends after it', async () => {
    const { logger } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, ...opts });
    for (let i = 1; i <= 12; i++) {
      await wal.save({ term: 1 + (i >> 2), vote: 1, commit: i - 1 }, [entry(i, 1 + (i >> 2), `payload-${i}`)], true);
    }
    // The last Ready carries several entries and a hard state, so cuts also land between
    // records of one write.
    await wal.save({ term: 5, vote: 2, commit: 12 }, [entry(11, 5, 'rewrite-11'), entry(12, 5), entry(13, 5)], true);
    const segmentPath = wal.segmentFiles()[0]!.path;
    const segmentName = path.basename(segmentPath);
    await wal.close();

    const original = await fs.promises.readFile(segmentPath);
    const records = parseSegment(original);
    const logicalEnd = records[records.length - 1]!.end;
    expect(original.length).toBe(preallocate ? opts.segmentSizeBytes : logicalEnd);
    const firstCut = records[records.length - 6]!.offset;
    let checkedCuts = 0;
    for (let cut = firstCut; cut < logicalEnd; cut++) {
      await fs.promises.rm(work, { recursive: true, force: true });
      await fs.promises.mkdir(work);
      const torn = path.join(work, segmentName);
      // The crash left the bytes before the cut; after it, what was there before the write.
      const image = Buffer.alloc(preallocate ? original.length : cut);
      original.copy(image, 0, 0, cut);
      await fs.promises.writeFile(torn, image);

      const capture = captureLogger();
      const opened = await Wal.open(work, { logger: capture.logger, ...opts });
      const kept = records.filter((r) => r.end <= cut);
      const expected = expectedFrom(kept);
      expect({ cut, hs: opened.hardState, entries: plain(opened.entries) }).toEqual({
        cut,
        hs: expected.hardState,
        entries: plain(expected.entries),
      });
      const boundary = kept[kept.length - 1]!.end;
      // What the torn write really left: its bytes up to the last non-zero one. (A tear that
      // left only zero bytes looks exactly like unwritten space, and is treated as such.)
      let writtenEnd = cut;
      while (writtenEnd > boundary && image[writtenEnd - 1] === 0) writtenEnd--;
      if (writtenEnd > boundary) {
        expect((await fs.promises.stat(torn)).size).toBe(boundary);
        const warning = capture.lines.find((l) => l.level === WARN && l.file === torn);
        expect(warning).toMatchObject({ offsetBytes: boundary, droppedBytes: writtenEnd - boundary });
      } else {
        expect((await fs.promises.stat(torn)).size).toBe(image.length);
        expect(capture.lines.filter((l) => l.level >= WARN)).toEqual([]);
      }

      // Append after the truncation point and replay it.
      const nextIndex = (expected.entries.at(-1)?.index ?? 0) + 1;
      await opened.wal.save({ term: 9, vote: 3, commit: nextIndex - 1 }, [entry(nextIndex, 9, 'after-tear')], true);
      await opened.wal.close();
      const again = await Wal.open(work, { logger: capture.logger, ...opts });
      expect(plain(again.entries)).toEqual(plain([...expected.entries, entry(nextIndex, 9, 'after-tear')]));
      expect(again.hardState).toEqual({ term: 9, vote: 3, commit: nextIndex - 1 });
      await again.wal.close();
      checkedCuts++;
    }
    expect(checkedCuts).toBe(logicalEnd - firstCut);
  });
});

describe('zero tail', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir();
  });
  afterAll(async () => {
    await removeDir(dir);
  });

  it('treats zeros after the last record (preallocated, or extended and never written) as the end of the log', async () => {
    const { logger, lines } = captureLogger();
    const { wal } = await Wal.open(dir, { logger, preallocate: false });
    await wal.save({ term: 1, vote: 1, commit: 1 }, [entry(1, 1), entry(2, 1)], true);
    const segmentPath = wal.segmentFiles()[0]!.path;
    await wal.close();
    const size = (await fs.promises.stat(segmentPath)).size;
    await fs.promises.appendFile(segmentPath, Buffer.alloc(4096));
    const opened = await Wal.open(dir, { logger, preallocate: false });
    expect(plain(opened.entries)).toEqual(plain([entry(1, 1), entry(2, 1)]));
    expect(lines.filter((l) => l.level >= WARN)).toEqual([]);
    expect((await fs.promises.stat(segmentPath)).size).toBe(size + 4096);
    // The next write goes right after the last record, into the zeros.
    await opened.wal.save({ term: 1, vote: 1, commit: 3 }, [entry(3, 1)], true);
    await opened.wal.close();
    expect((await fs.promises.stat(segmentPath)).size).toBe(size + 4096);
    const again = await Wal.open(dir, { logger, preallocate: false });
    expect(plain(again.entries)).toEqual(plain([entry(1, 1), entry(2, 1), entry(3, 1)]));
    await again.wal.close();
  });
});
