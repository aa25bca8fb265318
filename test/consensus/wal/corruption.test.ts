// Damage that a crash cannot explain must stop the node with a CorruptionError naming the
// file and byte offset; repair: true cuts the log there instead, loudly.
import * as fs from 'node:fs';
import { CorruptionError, Wal } from '../../../consensus/wal';
import { RecordType } from '../../../consensus/wal/record';
import { captureLogger, entry, makeTempDir, parseSegment, plain, removeDir, WARN } from './helpers';

const SEGMENT_SIZE_BYTES = 2048;

/** A WAL of several segments holding entries 1..count (term 1), one entry per save. */
async function buildWal(dir: string, count: number): Promise<string[]> {
  const { logger } = captureLogger();
  const { wal } = await Wal.open(dir, { logger, segmentSizeBytes: SEGMENT_SIZE_BYTES });
  for (let i = 1; i <= count; i++) await wal.save({ term: 1, vote: 1, commit: i - 1 }, [entry(i, 1, `data-${i}-`.padEnd(60, '.'))], true);
  const paths = wal.segmentFiles().map((s) => s.path);
  await wal.close();
  return paths;
}

async function openError(dir: string): Promise<CorruptionError> {
  const { logger } = captureLogger();
  const result = await Wal.open(dir, { logger, segmentSizeBytes: SEGMENT_SIZE_BYTES }).then(
    async (opened) => {
      await opened.wal.close();
      return undefined;
    },
    (err: unknown) => err,
  );
  expect(result).toBeInstanceOf(CorruptionError);
  return result as CorruptionError;
}

/** The entry record in the middle of a segment file. */
async function middleEntryRecord(segmentPath: string): Promise<{ offset: number; end: number; index: number }> {
  const records = parseSegment(await fs.promises.readFile(segmentPath)).filter((r) => r.record.type === RecordType.Entry);
  const r = records[Math.floor(records.length / 2)]!;
  if (r.record.type !== RecordType.Entry) throw new Error('unreachable');
  return { offset: r.offset, end: r.end, index: r.record.entry.index };
}

async function flipByte(filePath: string, offset: number): Promise<void> {
  const buf = await fs.promises.readFile(filePath);
  buf[offset] = buf[offset]! ^ 0x10;
  await fs.promises.writeFile(filePath, buf);
}

describe('corruption', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('refuses a flipped bit in the middle of a sealed segment, naming the file and record offset', async () => {
    const segments = await buildWal(dir, 60);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    const target = segments[1]!;
    const rec = await middleEntryRecord(target);
    await flipByte(target, rec.offset + 20);
    const err = await openError(dir);
    expect(err.filePath).toBe(target);
    expect(err.offsetBytes).toBe(rec.offset);
    expect(err.message).toContain(target);
    expect(err.message).toContain(`offset ${rec.offset}`);
    expect(err.reason).toContain('crc mismatch');
  });

  it('refuses a flipped bit in the middle of the last segment when valid records follow it', async () => {
    const segments = await buildWal(dir, 60);
    const last = segments[segments.length - 1]!;
    const rec = await middleEntryRecord(last);
    await flipByte(last, rec.end - 3);
    const err = await openError(dir);
    expect(err.filePath).toBe(last);
    expect(err.offsetBytes).toBe(rec.offset);
    expect(err.reason).toMatch(/valid records follow at offset \d+/);
  });

  it('refuses a record length that points into the middle of later valid data', async () => {
    const segments = await buildWal(dir, 60);
    const last = segments[segments.length - 1]!;
    const rec = await middleEntryRecord(last);
    const buf = await fs.promises.readFile(last);
    buf.writeUInt32LE(buf.readUInt32LE(rec.offset + 12) + 100, rec.offset + 12);
    await fs.promises.writeFile(last, buf);
    const err = await openError(dir);
    expect(err.filePath).toBe(last);
    expect(err.offsetBytes).toBe(rec.offset);
  });

  it('with repair: true opens truncated at the bad record and warns about what it dropped', async () => {
    const segments = await buildWal(dir, 60);
    const target = segments[1]!;
    const rec = await middleEntryRecord(target);
    await flipByte(target, rec.offset + 20);
    const { logger, lines } = captureLogger();
    const opened = await Wal.open(dir, { logger, segmentSizeBytes: SEGMENT_SIZE_BYTES, repair: true });
    expect(opened.entries.map((e) => e.index)).toEqual(Array.from({ length: rec.index - 1 }, (_, i) => i + 1));
    expect(opened.hardState.commit).toBeLessThanOrEqual(rec.index - 1);
    const warning = lines.find((l) => l.level === WARN && l.file === target);
    expect(warning).toMatchObject({ offsetBytes: rec.offset, droppedSegments: segments.slice(2) });
    expect(warning?.msg).toMatch(/repair/);
    expect((await fs.promises.stat(target)).size).toBe(rec.offset);
    for (const s of segments.slice(2)) expect(fs.existsSync(s)).toBe(false);
    // The repaired log takes appends and replays them.
    await opened.wal.save({ term: 2, vote: 1, commit: rec.index }, [entry(rec.index, 2, 'after-repair')], true);
    await opened.wal.close();
    const again = await Wal.open(dir, { logger, segmentSizeBytes: SEGMENT_SIZE_BYTES });
    expect(plain(again.entries.slice(-1))).toEqual(plain([entry(rec.index, 2, 'after-repair')]));
    await again.wal.close();
  });

  it('refuses a missing segment in the middle of the sequence', async () => {
    const segments = await buildWal(dir, 60);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    await fs.promises.rm(segments[1]!);
    const err = await openError(dir);
    expect(err.filePath).toBe(segments[2]);
    expect(err.offsetBytes).toBe(0);
    expect(err.reason).toContain('missing segment');
  });

  it('refuses a segment whose header does not match its file name', async () => {
    const segments = await buildWal(dir, 60);
    const renamed = segments[1]!.replace(/-[0-9a-f]{16}\.wal$/, '-00000000000000ff.wal');
    await fs.promises.rename(segments[1]!, renamed);
    const err = await openError(dir);
    expect(err.filePath).toBe(renamed);
    expect(err.offsetBytes).toBe(0);
  });
});
