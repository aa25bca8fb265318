// Segment files: `%016x-%016x.wal` (sequence number, first index). The first index is the
// log's last index + 1 when the segment was created, so every entry still live in the
// segments before it has a smaller index; that is what lets release() delete a prefix of
// segments once a snapshot covers those indexes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { raftpb } from '../../protos';
import { closeFd, fdatasync, fsyncDir, isErrnoException, writeAll } from './fsutil';
import { PREALLOCATED_FILE_NAME, zeroFill } from './preallocate';
import { RecordBatchEncoder, WAL_FORMAT_VERSION } from './record';

const openFd = promisify(fs.open);

export const SEGMENT_SUFFIX = '.wal';
const NAME_PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
/** Temporary name of a segment being created (createSegment), and of the preallocated next one. */
const TEMP_NAME_PATTERN = /^[0-9a-f]{16}-[0-9a-f]{16}\.wal\.tmp$/;

/** True for the names of temporary files the WAL itself writes in its directory. */
export function isSegmentTempFileName(name: string): boolean {
  return TEMP_NAME_PATTERN.test(name) || name === PREALLOCATED_FILE_NAME;
}

export function isSegmentFileName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

export interface SegmentInfo {
  seq: number;
  firstIndex: number;
  path: string;
  /** Bytes of records: where the next write goes. */
  sizeBytes: number;
  /** Size of the file, larger than sizeBytes while preallocated zeros follow the records. */
  fileBytes: number;
}

async function pathExists(p: string): Promise<boolean> {
  return fs.promises.lstat(p).then(
    () => true,
    (err: unknown) => {
      if (isErrnoException(err) && err.code === 'ENOENT') return false;
      throw err;
    },
  );
}

export function segmentFileName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}${SEGMENT_SUFFIX}`;
}

/** Segment files in the directory, ordered by sequence number. */
export async function listSegments(dir: string): Promise<SegmentInfo[]> {
  const segments: SegmentInfo[] = [];
  for (const dirent of await fs.promises.readdir(dir, { withFileTypes: true })) {
    const name = dirent.name;
    const m = NAME_PATTERN.exec(name);
    // Only regular files: whatever else carries such a name is not ours to read or delete.
    if (!m || !dirent.isFile()) continue;
    const filePath = path.join(dir, name);
    const stat = await fs.promises.stat(filePath);
    segments.push({ seq: parseInt(m[1]!, 16), firstIndex: parseInt(m[2]!, 16), path: filePath, sizeBytes: stat.size, fileBytes: stat.size });
  }
  return segments.sort((a, b) => a.seq - b.seq);
}

/**
 * Writes a new segment (header + current hard state) atomically and durably: into a
 * preallocated zero-filled file when one is given, else into a new file zero-filled up to
 * `fillToBytes`; then renamed into place and the directory fsynced.
 */
export async function createSegment(
  dir: string,
  seq: number,
  firstIndex: number,
  hardState: raftpb.HardState,
  space: { preparedPath: string } | { fillToBytes: number },
): Promise<SegmentInfo> {
  const filePath = path.join(dir, segmentFileName(seq, firstIndex));
  // Repeating the hard state here keeps it available after older segments are released.
  const buf = new RecordBatchEncoder()
    .segmentHeader({ formatVersion: WAL_FORMAT_VERSION, seq, firstIndex })
    .hardState(hardState)
    .finish();
  const tmpPath = 'preparedPath' in space ? space.preparedPath : `${filePath}.tmp`;
  const fd = await openFd(tmpPath, 'preparedPath' in space ? 'r+' : 'w');
  let fileBytes = buf.length;
  try {
    await writeAll(fd, buf, 0);
    if ('fillToBytes' in space && space.fillToBytes > buf.length) {
      await zeroFill(fd, buf.length, space.fillToBytes); // syncs
      fileBytes = space.fillToBytes;
    } else {
      await fdatasync(fd);
      fileBytes = Math.max(buf.length, (await fs.promises.stat(tmpPath)).size);
    }
  } finally {
    await closeFd(fd);
  }
  // rename() would silently replace a segment of that name, and with it the entries it holds.
  if (await pathExists(filePath)) {
    await fs.promises.rm(tmpPath, { force: true });
    throw new Error(`refusing to create WAL segment ${filePath}: a file of that name already exists`);
  }
  await fs.promises.rename(tmpPath, filePath);
  await fsyncDir(dir);
  return { seq, firstIndex, path: filePath, sizeBytes: buf.length, fileBytes };
}
