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
import type { SnapshotFile, Snapshotter } from './snapshotter';

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

export interface Fault {
  segmentIndex: number;
  offsetBytes: number;
  reason: string;
  /** Damage that a crash in the middle of the last write can leave (framing, CRC). */
  framing: boolean;
}

/** A torn last write at the end of the last segment: never acknowledged, cut off on every open. */
export interface TornTail {
  segmentIndex: number;
  offsetBytes: number;
  /** Non-zero bytes after the cut (the rest is preallocated zeros). */
  droppedBytes: number;
  fileBytes: number;
  reason: string;
}

/** What cutting the log at a fault loses: every readable record after it, and the files. */
export interface DroppedByRepair {
  /** The damaged file, kept and truncated to offsetBytes (or removed when the fault is at offset 0). */
  file: string;
  offsetBytes: number;
  /** Bytes of the damaged file from the fault to its last non-zero byte. */
  droppedBytesInFile: number;
  /** Whole segment files removed (the damaged one too when nothing before the fault is kept). */
  removedSegments: string[];
  /** Records after the fault that still parse (the damaged record itself is not counted). */
  readableRecordsDropped: number;
  entriesDropped: number;
  /** Index range of the dropped entries that still parse. */
  firstDroppedIndex: number | undefined;
  lastDroppedIndex: number | undefined;
}

/** A read-only pass over the segments: what replays, and where (if anywhere) the log is damaged. */
export interface WalScan {
  segments: SegmentInfo[];
  log: ReplayLog;
  tornTail: TornTail | undefined;
  fault: Fault | undefined;
  /** Set with `fault`: what a repair would drop. */
  dropped: DroppedByRepair | undefined;
}

/**
 * Replays the WAL in `dir` (see Wal.open); undefined when it holds no segments yet.
 * Truncates a torn tail; throws CorruptionError on other damage unless opts.repair.
 */
export async function recoverWal(dir: string, snapshotter: Snapshotter, opts: RecoveryOptions): Promise<Recovered | undefined> {
  const logger = opts.logger;
  const scan = await scanWal(dir);
  if (scan === undefined) {
    const snapshotFiles = await snapshotter.list();
    if (snapshotFiles.length > 0) {
      throw new CorruptionError(dir, 0, `no WAL segments, but snapshot files exist in ${snapshotter.dir}`);
    }
    return undefined;
  }
  const { segments, log, tornTail, fault, dropped } = scan;
  // Everything that can refuse is decided before any file changes: a refused open or repair
  // leaves the directory exactly as it found it.
  if (fault !== undefined && !opts.repair) {
    throw new CorruptionError(segments[fault.segmentIndex]!.path, fault.offsetBytes, fault.reason);
  }
  const plan = await planSnapshot(snapshotter, log, segments[0]!, logger);
  const snapshotIndex = plan.index;
  const snapshot = plan.snapshot;
  const hardState = { ...log.hardState };
  if (hardState.commit < snapshotIndex) hardState.commit = snapshotIndex; // a snapshot holds only committed entries
  const commitBeyond = hardState.commit > log.lastIndex();
  if (commitBeyond && !opts.repair) {
    const last = segments[segments.length - 1]!;
    throw new CorruptionError(last.path, last.sizeBytes, `hard state commit ${hardState.commit} is beyond the last entry ${log.lastIndex()}`);
  }

  if (tornTail !== undefined) {
    const segment = segments[tornTail.segmentIndex]!;
    logger.warn(
      {
        file: segment.path,
        offsetBytes: tornTail.offsetBytes,
        droppedBytes: tornTail.droppedBytes,
        fileBytes: tornTail.fileBytes,
        reason: tornTail.reason,
      },
      'WAL ends in a torn write (crash during the last write); truncating it',
    );
    await truncateFile(segment.path, tornTail.offsetBytes);
    segment.sizeBytes = segment.fileBytes = tornTail.offsetBytes;
  }
  if (fault !== undefined) {
    const bad = segments[fault.segmentIndex]!;
    await repairAt(dir, segments, fault, dropped!, logger);
    if (segments.length === 0) {
      // Repair dropped the very first segment: start again where it started.
      segments.push(await createSegment(dir, bad.seq, log.lastIndex() + 1, log.hardState, { fillToBytes: 0 }));
    }
  }
  await setAsideOrphans(plan.orphans, log, logger);
  if (commitBeyond) {
    const last = segments[segments.length - 1]!;
    logger.warn(
      { file: last.path, commit: hardState.commit, lastIndex: log.lastIndex() },
      `WAL repair: hard state commit ${hardState.commit} is beyond the last entry ${log.lastIndex()}; lowering commit`,
    );
    hardState.commit = log.lastIndex();
  }
  const entries = log.entriesAfter(snapshotIndex);
  logger.info(
    { dir, segments: segments.length, snapshotIndex, firstEntry: entries[0]?.index, lastIndex: log.lastIndex(), hardState },
    'replayed WAL',
  );
  return { segments, snapshot, hardState, entries, lastIndex: log.lastIndex() };
}

/**
 * Replays the segments in `dir` without changing anything: undefined when there are none.
 * Finds a torn tail (cut on every open) or a fault (refused, or cut by repair).
 */
export async function scanWal(dir: string): Promise<WalScan | undefined> {
  const segments = await listSegments(dir);
  if (segments.length === 0) return undefined;
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
  let tornTail: TornTail | undefined;
  let faultBuf: Buffer | undefined;
  for (let k = 0; k < readableCount && fault === undefined; k++) {
    const segment = segments[k]!;
    const buf = await fs.promises.readFile(segment.path);
    fault = replaySegment(k, segment, buf, log);
    if (fault === undefined) continue;
    faultBuf = buf;
    const isLast = k === segments.length - 1;
    // Torn tail: the last write of the last segment stopped part way, so nothing valid
    // follows the bad record. The write was never acknowledged; cut it off.
    if (fault.framing && isLast && fault.offsetBytes > 0 && findValidRecordAfter(buf, fault.offsetBytes + 1) === undefined) {
      tornTail = {
        segmentIndex: k,
        offsetBytes: fault.offsetBytes,
        droppedBytes: nonZeroEnd(buf, fault.offsetBytes) - fault.offsetBytes,
        fileBytes: buf.length,
        reason: fault.reason,
      };
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
  const dropped = fault === undefined ? undefined : await whatRepairDrops(segments, fault, fault === gapFault ? undefined : faultBuf);
  return { segments, log, tornTail, fault, dropped };
}

/** Counts what cutting at `fault` loses: the readable records after it in its file and in every later segment. */
async function whatRepairDrops(segments: readonly SegmentInfo[], fault: Fault, faultBuf: Buffer | undefined): Promise<DroppedByRepair> {
  const bad = segments[fault.segmentIndex]!;
  const keepBad = fault.offsetBytes > 0;
  const later = segments.slice(fault.segmentIndex + 1);
  const badBuf = faultBuf ?? (await fs.promises.readFile(bad.path));
  const out: DroppedByRepair = {
    file: bad.path,
    offsetBytes: fault.offsetBytes,
    droppedBytesInFile: nonZeroEnd(badBuf, fault.offsetBytes) - fault.offsetBytes,
    removedSegments: (keepBad ? later : [bad, ...later]).map((s) => s.path),
    readableRecordsDropped: 0,
    entriesDropped: 0,
    firstDroppedIndex: undefined,
    lastDroppedIndex: undefined,
  };
  const count = (buf: Buffer, from: number | undefined): void => {
    // Skip damage by resynchronising on the next record that checks out, as replay would not.
    for (let offset = from; offset !== undefined && offset < buf.length; ) {
      const parsed = parseRecord(buf, offset);
      if (!parsed.ok) {
        offset = findValidRecordAfter(buf, offset + 1);
        continue;
      }
      out.readableRecordsDropped++;
      if (parsed.record.type === RecordType.Entry) {
        const index = parsed.record.entry.index;
        out.entriesDropped++;
        out.firstDroppedIndex = Math.min(out.firstDroppedIndex ?? index, index);
        out.lastDroppedIndex = Math.max(out.lastDroppedIndex ?? index, index);
      }
      offset = parsed.nextOffset;
    }
  };
  // The bad record itself is not counted; what follows it is, if it still parses.
  count(badBuf, fault.offsetBytes === 0 && fault.framing === false ? 0 : findValidRecordAfter(badBuf, fault.offsetBytes + 1));
  for (const s of later) count(await fs.promises.readFile(s.path), 0);
  return out;
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
async function repairAt(dir: string, segments: SegmentInfo[], fault: Fault, what: DroppedByRepair, logger: Logger): Promise<void> {
  const bad = segments[fault.segmentIndex]!;
  const dropped = segments.slice(fault.segmentIndex + 1);
  const keepBad = fault.offsetBytes > 0;
  logger.warn(
    {
      file: bad.path,
      offsetBytes: fault.offsetBytes,
      reason: fault.reason,
      droppedBytesInFile: what.droppedBytesInFile,
      droppedSegments: what.removedSegments,
      readableRecordsDropped: what.readableRecordsDropped,
      entriesDropped: what.entriesDropped,
      firstDroppedIndex: what.firstDroppedIndex,
      lastDroppedIndex: what.lastDroppedIndex,
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

export interface SnapshotPlan {
  snapshot: raftpb.Snapshot | undefined;
  index: number;
  /** Snapshot files the WAL never recorded (a crash between the two writes): set aside, not used. */
  orphans: { file: SnapshotFile; fit: string }[];
}

/**
 * Picks the newest snapshot file that verifies and that the WAL continues from, changing nothing.
 * Throws CorruptionError when the WAL continues from no snapshot and does not start at the
 * beginning of the log: neither an open nor a repair can go on from there.
 */
export async function planSnapshot(snapshotter: Snapshotter, log: ReplayLog, firstSegment: SegmentInfo, logger: Logger): Promise<SnapshotPlan> {
  const skippedCorrupt: string[] = [];
  const orphans: { file: SnapshotFile; fit: string }[] = [];
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
    if (fit === 'ok') return { snapshot, index: file.index, orphans };
    if (fit === 'wal-starts-later') {
      throw new CorruptionError(
        skippedCorrupt[0] ?? file.path,
        0,
        `cannot restart from snapshot ${file.name}: the WAL starts at index ${log.firstIndex}` +
          (skippedCorrupt.length > 0 ? ` and newer snapshots are corrupt (${skippedCorrupt.join(', ')})` : ''),
      );
    }
    orphans.push({ file, fit });
  }
  if (log.fit(0, 0) === 'ok') return { snapshot: undefined, index: 0, orphans };
  throw new CorruptionError(
    skippedCorrupt[0] ?? firstSegment.path,
    0,
    `no usable snapshot, and the WAL starts at index ${log.firstIndex} rather than at the beginning of the log` +
      (skippedCorrupt.length > 0 ? ` (corrupt snapshots: ${skippedCorrupt.join(', ')})` : ''),
  );
}

/**
 * The snapshot file became durable but the WAL records of the same save did not (crash in
 * between), so the save never returned. Set it aside (not deleted: it is an operator's to
 * inspect) so that it neither counts as one of the kept snapshots nor warns again. Never over an
 * earlier orphan of the same name: that one is evidence too.
 */
async function setAsideOrphans(orphans: SnapshotPlan['orphans'], log: ReplayLog, logger: Logger): Promise<void> {
  for (const { file, fit } of orphans) {
    let asidePath = `${file.path}.orphan`;
    for (let n = 1; await fs.promises.lstat(asidePath).then(() => true, () => false); n++) asidePath = `${file.path}.orphan.${n}`;
    await fs.promises.rename(file.path, asidePath);
    logger.warn(
      { file: file.path, renamedTo: asidePath, fit, walFirstIndex: log.firstIndex, walLastIndex: log.lastIndex() },
      'snapshot file not backed by the WAL (crash between writing it and the WAL); set aside',
    );
  }
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
