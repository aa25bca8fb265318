// Segment files: `%016x-%016x.wal` (sequence number, first index). The first index is the
// log's last index + 1 when the segment was created, so every entry still live in the
// segments before it has a smaller index; that is what lets release() delete a prefix of
// segments once a snapshot covers those indexes.
import * as fs from 'node:fs';
import * as path from 'node:path';

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
