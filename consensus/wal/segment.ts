// Segment files: `%016x-%016x.wal` (sequence number, first index). The first index is the
// log's last index + 1 when the segment was created, so every entry still live in the
// segments before it has a smaller index; that is what lets release() delete a prefix of
// segments once a snapshot covers those indexes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { raftpb } from '../../protos';
import { closeFd, fdatasync, fsyncDir, writeAll } from './fsutil';
import { zeroFill } from './preallocate';
import { RecordBatchEncoder, WAL_FORMAT_VERSION } from './record';

const openFd = promisify(fs.open);

export const SEGMENT_SUFFIX = '.wal';
const NAME_PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

export interface SegmentInfo {
  seq: number;
  firstIndex: number;
  path: string;
  /** Bytes of records: where the next write goes. */
  sizeBytes: number;
  /** Size of the file, larger than sizeBytes while preallocated zeros follow the records. */
  fileBytes: number;
}

export function segmentFileName(seq: number, firstIndex: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}${SEGMENT_SUFFIX}`;
}

/** Segment files in the directory, ordered by sequence number. */
export async function listSegments(dir: string): Promise<SegmentInfo[]> {
  const segments: SegmentInfo[] = [];
  for (const name of await fs.promises.readdir(dir)) {
    const m = NAME_PATTERN.exec(name);
    if (!m) continue;
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
  await fs.promises.rename(tmpPath, filePath);
  await fsyncDir(dir);
  return { seq, firstIndex, path: filePath, sizeBytes: buf.length, fileBytes };
}
