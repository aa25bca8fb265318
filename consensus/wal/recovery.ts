// Opening a WAL directory: replaying the segments into a ReplayLog, deciding what a bad record
// means (torn tail of the last write, or corruption), and choosing the snapshot to restart from.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type { raftpb } from '../../protos';
import { CorruptionError } from './errors';
import { fsyncDir } from './fsutil';
import { isZeroFrom, nonZeroEnd } from './preallocate';
import { findValidRecordAfter, parseRecord, RecordType, SnapshotKind, WAL_FORMAT_VERSION } from './record';
import { ReplayLog } from './replay';
import { createSegment, listSegments, type SegmentInfo } from './segment';
import type { Snapshotter } from './snapshotter';

export interface RecoveryOptions {
  logger: Logger;
  repair?: boolean;
}

/** What replay found: the segments to continue writing, and the state to restart from. */
export interface Recovered {
  segments: SegmentInfo[];
  snapshot: raftpb.Snapshot | undefined;
  hardState: raftpb.HardState;
  /** Entries after the snapshot. */
  entries: raftpb.Entry[];
  lastIndex: number;
}

interface Fault {
  segmentIndex: number;
  offsetBytes: number;
  reason: string;
  /** Damage that a crash in the middle of the last write can leave (framing, CRC). */
  framing: boolean;
}

/**
 * Replays the WAL in `dir` (see Wal.open); undefined when it holds no segments yet.
 * Truncates a torn tail; throws CorruptionError on other damage unless opts.repair.
 */
export async function recoverWal(dir: string, snapshotter: Snapshotter, opts: RecoveryOptions): Promise<Recovered | undefined> {
  const logger = opts.logger;
  const segments = await listSegments(dir);
  const snapshotFiles = await snapshotter.list();
  if (segments.length === 0) {
    if (snapshotFiles.length > 0) {
      throw new CorruptionError(dir, 0, `no WAL segments, but snapshot files exist in ${snapshotter.dir}`);
    }
    return undefined;
  }

  const log = new ReplayLog(segments[0]!.firstIndex);
  // A gap in the sequence numbers: records after it cannot be trusted to continue the log.
  let gapFault: Fault | undefined;
  for (let k = 1; k < segments.length && gapFault === undefined; k++) {
    if (segments[k]!.seq !== segments[k - 1]!.seq + 1) {
      const reason = `missing segment(s) with sequence ${segments[k - 1]!.seq + 1} to ${segments[k]!.seq - 1}`;
      gapFault = { segmentIndex: k, offsetBytes: 0, reason, framing: false };
    }
  }
  const readableCount = gapFault?.segmentIndex ?? segments.length;
  let fault: Fault | undefined;
  for (let k = 0; k < readableCount && fault === undefined; k++) {
    const segment = segments[k]!;
    const buf = await fs.promises.readFile(segment.path);
    fault = replaySegment(k, segment, buf, log);
    if (fault === undefined) continue;
    const isLast = k === segments.length - 1;
    // Torn tail: the last write of the last segment stopped part way, so nothing valid
    // follows the bad record. The write was never acknowledged; cut it off.
    if (fault.framing && isLast && fault.offsetBytes > 0 && findValidRecordAfter(buf, fault.offsetBytes + 1) === undefined) {
      logger.warn(
        {
          file: segment.path,
          offsetBytes: fault.offsetBytes,
          droppedBytes: nonZeroEnd(buf, fault.offsetBytes) - fault.offsetBytes,
          fileBytes: buf.length,
          reason: fault.reason,
        },
        'WAL ends in a torn write (crash during the last write); truncating it',
      );
      await truncateFile(segment.path, fault.offsetBytes);
      segment.sizeBytes = segment.fileBytes = fault.offsetBytes;
      fault = undefined;
      break;
    }
    if (fault.framing) {
      const validAfter = findValidRecordAfter(buf, fault.offsetBytes + 1);
      if (validAfter !== undefined) fault.reason += `; valid records follow at offset ${validAfter}`;
      else if (!isLast) fault.reason += ' in a segment that is not the last';
    }
  }

  fault ??= gapFault;
  if (fault !== undefined) {
    const bad = segments[fault.segmentIndex]!;
    if (!opts.repair) throw new CorruptionError(bad.path, fault.offsetBytes, fault.reason);
    await repairAt(dir, segments, fault, logger);
    if (segments.length === 0) {
      // Repair dropped the very first segment: start again where it started.
      segments.push(await createSegment(dir, bad.seq, log.lastIndex() + 1, log.hardState, { fillToBytes: 0 }));
    }
  }

  const { snapshot, index: snapshotIndex } = await chooseSnapshot(snapshotter, log, segments[0]!, logger);
  const hardState = { ...log.hardState };
  if (hardState.commit < snapshotIndex) hardState.commit = snapshotIndex; // a snapshot holds only committed entries
  const last = segments[segments.length - 1]!;
  if (hardState.commit > log.lastIndex()) {
    const reason = `hard state commit ${hardState.commit} is beyond the last entry ${log.lastIndex()}`;
    if (!opts.repair) throw new CorruptionError(last.path, last.sizeBytes, reason);
    logger.warn({ file: last.path, commit: hardState.commit, lastIndex: log.lastIndex() }, `WAL repair: ${reason}; lowering commit`);
    hardState.commit = log.lastIndex();
  }
  const entries = log.entriesAfter(snapshotIndex);
  logger.info(
    { dir, segments: segments.length, snapshotIndex, firstEntry: entries[0]?.index, lastIndex: log.lastIndex(), hardState },
    'replayed WAL',
  );
  return { segments, snapshot, hardState, entries, lastIndex: log.lastIndex() };
}

/** Feeds one segment's records into the log; returns the first bad record, if any. */
function replaySegment(k: number, segment: SegmentInfo, buf: Buffer, log: ReplayLog): Fault | undefined {
  const at = (offsetBytes: number, reason: string, framing: boolean): Fault => ({ segmentIndex: k, offsetBytes, reason, framing });
  let offset = 0;
  segment.fileBytes = buf.length;
  segment.sizeBytes = buf.length;
  while (offset < buf.length) {
    const parsed = parseRecord(buf, offset);
    if (!parsed.ok) {
      // Zeros from a record boundary to the end: preallocated space not written yet.
      if (offset > 0 && isZeroFrom(buf, offset)) {
        segment.sizeBytes = offset;
        return undefined;
      }
      return at(offset, parsed.fault, true);
    }
    const rec = parsed.record;
    if (offset === 0) {
      if (rec.type !== RecordType.SegmentHeader) return at(0, 'segment does not start with a segment header', false);
      const h = rec.header;
      if (h.formatVersion !== WAL_FORMAT_VERSION) return at(0, `unsupported WAL format version ${h.formatVersion}`, false);
      if (h.seq !== segment.seq || h.firstIndex !== segment.firstIndex) {
        return at(0, `segment header (seq ${h.seq}, first index ${h.firstIndex}) does not match the file name`, false);
      }
      if (k > 0 && h.firstIndex !== log.lastIndex() + 1) {
        return at(0, `segment starts at index ${h.firstIndex} but the previous segments end at ${log.lastIndex()}`, false);
      }
    } else {
      switch (rec.type) {
        case RecordType.SegmentHeader:
          return at(offset, 'segment header in the middle of a segment', false);
        case RecordType.HardState:
          log.hardState = rec.hardState;
          break;
        case RecordType.Entry:
          if (!log.applyEntry(rec.entry)) {
            return at(offset, `entry index ${rec.entry.index} does not follow the last index ${log.lastIndex()}`, false);
          }
          break;
        case RecordType.Snapshot:
          if (rec.marker.kind === SnapshotKind.Installed) log.applyInstalledSnapshot(rec.marker.index, rec.marker.term);
          break;
      }
    }
    offset = parsed.nextOffset;
  }
  return undefined;
}

/** repair: cut the log at the fault, loudly. */
async function repairAt(dir: string, segments: SegmentInfo[], fault: Fault, logger: Logger): Promise<void> {
  const bad = segments[fault.segmentIndex]!;
  const dropped = segments.slice(fault.segmentIndex + 1);
  const keepBad = fault.offsetBytes > 0;
  logger.warn(
    {
      file: bad.path,
      offsetBytes: fault.offsetBytes,
      reason: fault.reason,
      droppedBytesInFile: bad.fileBytes - fault.offsetBytes,
      droppedSegments: (keepBad ? dropped : [bad, ...dropped]).map((s) => s.path),
    },
    'WAL repair: truncating at the first bad record; everything after it is lost',
  );
  for (const s of dropped.reverse()) await fs.promises.rm(s.path, { force: true });
  segments.length = fault.segmentIndex + 1;
  if (keepBad) {
    await truncateFile(bad.path, fault.offsetBytes);
    bad.sizeBytes = bad.fileBytes = fault.offsetBytes;
  } else {
    await fs.promises.rm(bad.path, { force: true });
    segments.pop();
  }
  await fsyncDir(dir);
}

/** Picks the newest snapshot file that verifies and that the WAL continues from. */
async function chooseSnapshot(
  snapshotter: Snapshotter,
  log: ReplayLog,
  firstSegment: SegmentInfo,
  logger: Logger,
): Promise<{ snapshot: raftpb.Snapshot | undefined; index: number }> {
  const skippedCorrupt: string[] = [];
  for (const file of await snapshotter.list()) {
    let snapshot: raftpb.Snapshot;
    try {
      snapshot = await snapshotter.load(file);
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      logger.warn({ file: file.path, offsetBytes: err.offsetBytes, reason: err.reason }, 'corrupt snapshot file; trying an older one');
      skippedCorrupt.push(file.path);
      continue;
    }
    const fit = log.fit(file.index, file.term);
    if (fit === 'ok') return { snapshot, index: file.index };
    if (fit === 'wal-starts-later') {
      throw new CorruptionError(
        skippedCorrupt[0] ?? file.path,
        0,
        `cannot restart from snapshot ${file.name}: the WAL starts at index ${log.firstIndex}` +
          (skippedCorrupt.length > 0 ? ` and newer snapshots are corrupt (${skippedCorrupt.join(', ')})` : ''),
      );
    }
    // The snapshot file became durable but the WAL records of the same save did not (crash
    // in between), so the save never returned. Set it aside (not deleted: it is an operator's
    // to inspect) so that it neither counts as one of the kept snapshots nor warns again.
    const asidePath = `${file.path}.orphan`;
    await fs.promises.rename(file.path, asidePath);
    logger.warn(
      { file: file.path, renamedTo: asidePath, fit, walFirstIndex: log.firstIndex, walLastIndex: log.lastIndex() },
      'snapshot file not backed by the WAL (crash between writing it and the WAL); set aside',
    );
  }
  if (log.fit(0, 0) === 'ok') return { snapshot: undefined, index: 0 };
  throw new CorruptionError(
    skippedCorrupt[0] ?? firstSegment.path,
    0,
    `no usable snapshot, and the WAL starts at index ${log.firstIndex} rather than at the beginning of the log` +
      (skippedCorrupt.length > 0 ? ` (corrupt snapshots: ${skippedCorrupt.join(', ')})` : ''),
  );
}

async function truncateFile(filePath: string, sizeBytes: number): Promise<void> {
  const handle = await fs.promises.open(filePath, 'r+');
  try {
    await handle.truncate(sizeBytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
