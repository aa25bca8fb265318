// `orderer wal repair` (runWalRepair) on real damaged WALs in temp directories: a dry run
// reports and changes nothing, a repair cuts at the damage and says what it dropped, and it
// refuses a directory that is not a WAL or that a live process holds.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { runWalRepair, type WalRepairIo } from '../../cmd/wal-repair';
import { CorruptionError, Wal } from '../../consensus/wal';
import { RecordType } from '../../consensus/wal/record';
import { entry, parseSegment } from '../consensus/wal/helpers';

const SEGMENT_SIZE_BYTES = 2048;
const CHANNEL = 'mychannel';
const silent = pino({ level: 'silent' });

let root: string;
let walRoot: string;
let snapRoot: string;
let walDir: string;

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function run(...argv: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: WalRepairIo = { out: (l) => void out.push(l), err: (l) => void err.push(l) };
  const code = await runWalRepair(argv, io);
  return { code, out, err };
}

/** Entries 1..count (term 1) over several small segments; returns the segment paths. */
async function buildWal(count: number): Promise<string[]> {
  const { wal } = await Wal.open(walDir, { logger: silent, snapDir: path.join(snapRoot, CHANNEL), segmentSizeBytes: SEGMENT_SIZE_BYTES });
  for (let i = 1; i <= count; i++) await wal.save({ term: 1, vote: 1, commit: i - 1 }, [entry(i, 1, `data-${i}-`.padEnd(60, '.'))], true);
  const paths = wal.segmentFiles().map((s) => s.path);
  await wal.close();
  return paths;
}

/** Flips one byte inside the middle entry record of a segment; returns the record's offset and index. */
async function damageMiddleEntry(segmentPath: string): Promise<{ offset: number; index: number }> {
  const buf = await fs.promises.readFile(segmentPath);
  const records = parseSegment(buf).filter((r) => r.record.type === RecordType.Entry);
  const r = records[Math.floor(records.length / 2)]!;
  if (r.record.type !== RecordType.Entry) throw new Error('unreachable');
  buf[r.end - 3] = buf[r.end - 3]! ^ 0x10;
  await fs.promises.writeFile(segmentPath, buf);
  return { offset: r.offset, index: r.record.entry.index };
}

/** name -> sha256 of every file under dir, to show that nothing changed. */
async function fingerprint(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const dirent of await fs.promises.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, dirent.name);
      if (dirent.isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(await fs.promises.readFile(p)).digest('hex');
    }
  };
  await walk(dir);
  return out;
}

beforeEach(async () => {
  root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'wal-repair-cmd-'));
  walRoot = path.join(root, 'etcdraft', 'wal');
  snapRoot = path.join(root, 'etcdraft', 'snapshot');
  walDir = path.join(walRoot, CHANNEL);
});

afterEach(async () => {
  await fs.promises.rm(root, { recursive: true, force: true });
});

describe('orderer wal repair', () => {
  test('--dry-run names the damaged file, the byte offset, the files and entries it would drop, and changes nothing', async () => {
    const segments = await buildWal(60);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    const damaged = await damageMiddleEntry(segments[1]!);
    const before = await fingerprint(root);

    const r = await run('--wal-dir', walRoot, '--channel', CHANNEL, '--dry-run');
    expect(r.code).toBe(3);
    const text = r.out.join('\n');
    expect(text).toContain(`damage: ${segments[1]} at byte ${damaged.offset}: crc mismatch`);
    expect(text).toContain(`would truncate that file at byte ${damaged.offset}`);
    expect(text).toContain(`would remove the later segment files: ${segments.slice(2).join(', ')}`);
    // Everything after the damaged entry parses still: entries index+1..60 are dropped with it.
    expect(text).toMatch(new RegExp(`would drop \\d+ readable records after the damage, ${60 - damaged.index} of them Raft entries \\(indexes ${damaged.index + 1}\\.\\.60\\)`));
    expect(text).toContain(`the log would end at index ${damaged.index - 1}`);
    expect(await fingerprint(root)).toEqual(before);
  });

  test('a repair cuts at the damage, logs what it dropped, and the WAL opens again without repair', async () => {
    const segments = await buildWal(60);
    const damaged = await damageMiddleEntry(segments[1]!);
    await expect(Wal.open(walDir, { logger: silent, snapDir: path.join(snapRoot, CHANNEL) })).rejects.toBeInstanceOf(CorruptionError);

    const r = await run('--wal-dir', walRoot, '--snap-dir', snapRoot, '--channel', CHANNEL);
    expect(r.code).toBe(0);
    expect(r.out.join('\n')).toContain(`the log now ends at index ${damaged.index - 1}`);
    expect(r.out).toContain('repaired; start the orderer again');
    const warn = r.err.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => /truncating at the first bad record/.test(String(l['msg'])));
    expect(warn).toMatchObject({
      level: 40,
      file: segments[1],
      offsetBytes: damaged.offset,
      droppedSegments: segments.slice(2),
      entriesDropped: 60 - damaged.index,
      firstDroppedIndex: damaged.index + 1,
      lastDroppedIndex: 60,
    });

    for (const p of segments.slice(2)) expect(fs.existsSync(p)).toBe(false);
    expect(fs.statSync(segments[1]!).size).toBe(damaged.offset);
    const { wal, entries } = await Wal.open(walDir, { logger: silent, snapDir: path.join(snapRoot, CHANNEL) });
    expect(entries[entries.length - 1]!.index).toBe(damaged.index - 1);
    await wal.close();

    const again = await run('--wal-dir', walRoot, '--snap-dir', snapRoot, '--channel', CHANNEL);
    expect(again.code).toBe(0);
    expect(again.out.join('\n')).toContain(`nothing to repair: every record checks out; the log ends at index ${damaged.index - 1}`);
  });

  test('--config finds the WAL as the orderer does (Consensus.WALDir / SnapDir + channel)', async () => {
    const segments = await buildWal(40);
    await damageMiddleEntry(segments[segments.length - 2]!);
    const config = path.join(root, 'orderer.yaml');
    await fs.promises.writeFile(config, `Consensus:\n  WALDir: ${walRoot}\n  SnapDir: ${snapRoot}\n`);
    const dry = await run('--config', config, '--channel', CHANNEL, '--dry-run');
    expect(dry.code).toBe(3);
    expect(dry.out[0]).toBe(`WAL directory: ${walDir} (${segments.length} segment files)`);
    expect((await run('--config', config, '--channel', CHANNEL)).code).toBe(0);
    const { wal } = await Wal.open(walDir, { logger: silent, snapDir: path.join(snapRoot, CHANNEL) });
    await wal.close();
  });

  test('refuses a directory that holds no WAL segments, touching nothing in it', async () => {
    await fs.promises.mkdir(walDir, { recursive: true });
    await fs.promises.writeFile(path.join(walDir, 'precious.txt'), 'keep me');
    await fs.promises.writeFile(path.join(walDir, 'notes.tmp'), 'keep me too');
    const before = await fingerprint(root);
    for (const extra of [['--dry-run'], ['--snap-dir', snapRoot]]) {
      const r = await run('--wal-dir', walRoot, '--channel', CHANNEL, ...extra);
      expect(r.code).toBe(1);
      expect(r.err.join('\n')).toMatch(/refusing to repair .*mychannel: it holds no WAL segment files/);
    }
    expect(await fingerprint(root)).toEqual(before);
    expect((await run('--wal-dir', path.join(root, 'nowhere'), '--snap-dir', snapRoot, '--channel', CHANNEL)).err.join('\n')).toMatch(/no such directory/);
  });

  test('a repair that could not succeed is refused before anything changes, and the dry run says so too', async () => {
    // A file that merely looks like a segment (an operator's notes), next to a canary: cutting it
    // would leave a log that starts nowhere (no snapshot to continue from).
    await fs.promises.mkdir(walDir, { recursive: true });
    await fs.promises.writeFile(path.join(walDir, '0000000000000000-0000000000000000.wal'), 'important notes, not a wal\n');
    await fs.promises.writeFile(path.join(walDir, 'canary'), 'must survive');
    const before = await fingerprint(root);
    const dry = await run('--wal-dir', walRoot, '--snap-dir', snapRoot, '--channel', CHANNEL, '--dry-run');
    expect(dry.code).toBe(1);
    expect(dry.err.join('\n')).toContain('cannot repair');
    const real = await run('--wal-dir', walRoot, '--snap-dir', snapRoot, '--channel', CHANNEL);
    expect(real.code).toBe(1);
    expect(real.err.join('\n')).toContain('cannot repair');
    expect(await fingerprint(root)).toEqual(before);
    expect(fs.existsSync(path.join(snapRoot, CHANNEL))).toBe(false); // not even the snapshot directory
  });

  test('refuses a WAL that a live process holds open, naming the pid', async () => {
    const segments = await buildWal(30);
    await damageMiddleEntry(segments[0]!);
    // Held by this (live) process: the lock file names our pid.
    const lockPath = path.join(walDir, 'LOCK');
    await fs.promises.writeFile(lockPath, JSON.stringify({ pid: process.pid, startTime: null, hostname: os.hostname() }));
    const before = await fingerprint(root);
    for (const extra of [['--dry-run'], ['--snap-dir', snapRoot]]) {
      const r = await run('--wal-dir', walRoot, '--channel', CHANNEL, ...extra);
      expect(r.code).toBe(1);
      expect(r.err.join('\n')).toContain(`it is in use by process ${process.pid} (lock file ${lockPath}); stop that orderer first`);
    }
    expect(await fingerprint(root)).toEqual(before);
  });

  test('a stale lock of a dead orderer does not stop a repair (and a dry run leaves it in place)', async () => {
    const segments = await buildWal(30);
    await damageMiddleEntry(segments[1]!);
    const lockPath = path.join(walDir, 'LOCK');
    await fs.promises.writeFile(lockPath, JSON.stringify({ pid: 2 ** 22 + 12345, startTime: '1', hostname: os.hostname() }));
    expect((await run('--wal-dir', walRoot, '--channel', CHANNEL, '--dry-run')).code).toBe(3);
    expect(fs.existsSync(lockPath)).toBe(true);
    expect((await run('--wal-dir', walRoot, '--snap-dir', snapRoot, '--channel', CHANNEL)).code).toBe(0);
    expect(fs.existsSync(lockPath)).toBe(false);
  });

  test('usage errors exit 2 with the usage text', async () => {
    for (const argv of [
      [],
      ['--wal-dir', walRoot],
      ['--channel', '../etc', '--wal-dir', walRoot, '--dry-run'],
      ['--channel', CHANNEL, '--wal-dir', walRoot], // a real repair needs --snap-dir
      ['--channel', CHANNEL, '--config', 'x.yaml', '--wal-dir', walRoot],
      ['--channel', CHANNEL, '--bogus'],
      ['--channel'],
    ]) {
      const r = await run(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.err.join('\n')).toContain('usage: orderer wal repair --channel NAME');
    }
    const help = await run('--help');
    expect(help.code).toBe(0);
    expect(help.out[0]).toMatch(/^usage: orderer wal repair/);
  });
});
