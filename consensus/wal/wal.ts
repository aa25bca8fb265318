// The write-ahead log of one channel's Raft node: hard states, entries and snapshot markers
// appended to segment files in one directory (record format in record.ts, segment files in
// segment.ts, replay and damage handling in recovery.ts, snapshot files in snapshotter.ts).
//
// Durability rules this file keeps:
// - One Ready is one buffer, one write, and at most one fdatasync (group commit).
// - A segment is fdatasynced before the next one is created, so only the last segment can
//   end in a torn write; a bad record anywhere else is corruption.
// - New segment files are written under a temporary name, fsynced, renamed and the directory
//   fsynced: a segment file that exists always starts with a valid header.
// - A snapshot file is durable before the WAL records that refer to it, and WAL segments are
//   released only after the snapshot's marker is durable.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { raftpb } from '../../protos';
import { WalClosedError, WalFailedError } from './errors';
import { closeFd, fdatasync, fsyncDir, mkdirDurable, removeTempFiles, writeAllSync } from './fsutil';
import { DirLock } from './lock';
import { SegmentPreallocator } from './preallocate';
import { RecordBatchEncoder, SnapshotKind } from './record';
import { recoverWal } from './recovery';
import { createSegment, isSegmentTempFileName, type SegmentInfo } from './segment';
import { Snapshotter } from './snapshotter';

export const DEFAULT_SEGMENT_SIZE_BYTES = 64 * 1024 * 1024;
/** Batches up to this size are encoded into one reused buffer; larger ones get their own. */
const MAX_SCRATCH_BYTES = 16 * 1024 * 1024;
const INITIAL_SCRATCH_BYTES = 256 * 1024;

const openFd = promisify(fs.open);

export interface WalOptions {
  logger: Logger;
  /** Where snapshot files live; defaults to `<dir>/snap` (Fabric keeps them in Consensus.SnapDir/<channel>). */
  snapDir?: string;
  /** A segment is closed and a new one started once the next write would take it past this size. */
  segmentSizeBytes?: number;
  /** Snapshot files kept (the newest ones). */
  snapshotsToKeep?: number;
  /**
   * Fill segment files with zeros up to segmentSizeBytes when they are created, so that
   * fdatasync after a write does not also commit a file size change (default true; see
   * preallocate.ts). Worth turning off only on copy-on-write filesystems.
   */
  preallocate?: boolean;
  /**
   * Truncate at the first bad record (and drop every later segment) instead of refusing to
   * open. Loses whatever was after it; logged at warn level with what was dropped.
   */
  repair?: boolean;
  /** Told how long each fdatasync of a save took (a metrics seam; the WAL itself keeps no numbers). */
  onSynced?: (seconds: number) => void;
}

/** What a node restarts from: apply the snapshot, then append the entries, then set the hard state. */
export interface ReplayedState {
  snapshot: raftpb.Snapshot | undefined;
  hardState: raftpb.HardState;
  entries: raftpb.Entry[];
}

export interface OpenedWal extends ReplayedState {
  wal: Wal;
}

export class Wal {
  private queue: Promise<void> = Promise.resolve();
  private failure: unknown = undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** True when bytes were written to the current segment since its last fdatasync. */
  private dirty = false;
  /**
   * False while the current segment holds only its start records: a batch larger than a
   * whole segment then goes into it rather than rolling over again. Unknown after open, so true.
   */
  private segmentHasBatches = true;
  /** Reused encoding buffer; safe because writes are serialized and each completes before the next encode. */
  private scratch: Buffer = Buffer.allocUnsafe(INITIAL_SCRATCH_BYTES);

  private constructor(
    readonly dir: string,
    readonly snapshotter: Snapshotter,
    private readonly lock: DirLock,
    private readonly logger: Logger,
    private readonly segmentSizeBytes: number,
    private readonly preallocator: SegmentPreallocator | undefined,
    private readonly segments: SegmentInfo[],
    private fd: number,
    private lastIndex: number,
    private hardState: raftpb.HardState,
  ) {}

  /** Set by open() from WalOptions.onSynced. */
  private onSynced: ((seconds: number) => void) | undefined;

  /**
   * Locks the directory, replays the WAL and the newest usable snapshot, truncates a torn
   * tail and returns the log ready for appending. Creates an empty WAL in a new directory.
   * Throws WalLockedError if another process has it open, CorruptionError on damage it will
   * not guess about.
   */
  static async open(dir: string, opts: WalOptions): Promise<OpenedWal> {
    const logger = opts.logger;
    await mkdirDurable(dir);
    const lock = await DirLock.acquire(dir, logger);
    try {
      const snapshotter = await Snapshotter.open(opts.snapDir ?? path.join(dir, 'snap'), {
        logger,
        snapshotsToKeep: opts.snapshotsToKeep,
      });
      return await Wal.replay(dir, opts, lock, snapshotter);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  private static async replay(dir: string, opts: WalOptions, lock: DirLock, snapshotter: Snapshotter): Promise<OpenedWal> {
    const logger = opts.logger;
    const segmentSizeBytes = opts.segmentSizeBytes ?? DEFAULT_SEGMENT_SIZE_BYTES;
    const preallocator = opts.preallocate === false ? undefined : new SegmentPreallocator(dir, segmentSizeBytes, logger);
    const removedTemp = await removeTempFiles(dir, isSegmentTempFileName);
    if (removedTemp.length > 0) logger.info({ dir, removed: removedTemp }, 'removed unfinished WAL segment files');

    const recovered = await recoverWal(dir, snapshotter, opts);
    if (recovered === undefined) {
      const emptyHardState: raftpb.HardState = { term: 0, vote: 0, commit: 0 };
      const first = await createSegment(dir, 0, 1, emptyHardState, { fillToBytes: preallocator ? segmentSizeBytes : 0 });
      const fd = await openFd(first.path, 'r+');
      logger.info({ dir, segment: first.path }, 'created new WAL');
      const wal = new Wal(dir, snapshotter, lock, logger, segmentSizeBytes, preallocator, [first], fd, 0, emptyHardState);
      wal.onSynced = opts.onSynced;
      return { wal, snapshot: undefined, hardState: { ...emptyHardState }, entries: [] };
    }
    const { segments, snapshot, hardState, entries, lastIndex } = recovered;
    const fd = await openFd(segments[segments.length - 1]!.path, 'r+');
    const wal = new Wal(dir, snapshotter, lock, logger, segmentSizeBytes, preallocator, segments, fd, lastIndex, hardState);
    wal.onSynced = opts.onSynced;
    return { wal, snapshot, hardState: { ...hardState }, entries };
  }

  /** Runs mutations one at a time, in call order; after a failed write nothing more runs. */
  private serialize<T>(op: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new WalClosedError(this.dir);
      if (this.failure !== undefined) throw new WalFailedError(this.dir, this.failure);
      return op();
    };
    const result = this.queue.then(run);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Appends the entries and hard state of one Ready. With mustSync the returned promise
   * resolves only once they are on stable storage (one fdatasync for all of them).
   * An entry at an index the log already has replaces it and every later entry.
   */
  save(hardState: raftpb.HardState | undefined, entries: readonly raftpb.Entry[], mustSync: boolean): Promise<void> {
    if (hardState === undefined && entries.length === 0) return this.serialize(async () => undefined);
    return this.serialize(() => this.appendBatch(undefined, hardState, entries, mustSync));
  }

  /**
   * Persists a Ready that carries a snapshot from the leader: the snapshot file first, then
   * one WAL write with the snapshot marker, the entries and the hard state, fsynced; then
   * releases the segments the snapshot makes unnecessary.
   */
  saveInstalledSnapshot(snapshot: raftpb.Snapshot, hardState: raftpb.HardState | undefined, entries: readonly raftpb.Entry[]): Promise<void> {
    return this.serialize(async () => {
      await this.snapshotter.save(snapshot);
      const { index, term } = snapshot.metadata;
      await this.appendBatch({ index, term, kind: SnapshotKind.Installed }, hardState, entries, true);
      await this.afterSnapshot(index);
    });
  }

  /**
   * Persists a snapshot the application took of its own state (log compaction): the snapshot
   * file, then a fsynced WAL marker; then releases segments and prunes old snapshot files.
   */
  saveSnapshot(snapshot: raftpb.Snapshot): Promise<void> {
    return this.serialize(async () => {
      const { index, term } = snapshot.metadata;
      if (index > this.lastIndex) throw new RangeError(`snapshot index ${index} is beyond the last WAL index ${this.lastIndex}`);
      await this.snapshotter.save(snapshot);
      await this.appendBatch({ index, term, kind: SnapshotKind.Local }, undefined, [], true);
      await this.afterSnapshot(index);
    });
  }

  private async appendBatch(
    marker: { index: number; term: number; kind: SnapshotKind } | undefined,
    hardState: raftpb.HardState | undefined,
    entries: readonly raftpb.Entry[],
    mustSync: boolean,
  ): Promise<void> {
    const encoder = new RecordBatchEncoder();
    if (marker !== undefined) encoder.snapshot(marker);
    for (const e of entries) encoder.entry(e);
    // After the entries, so that a torn write never keeps a commit index without its entries.
    if (hardState !== undefined) encoder.hardState(hardState);
    const neededBytes = encoder.sizeBytes;
    if (neededBytes > this.scratch.length && neededBytes <= MAX_SCRATCH_BYTES) {
      this.scratch = Buffer.allocUnsafe(Math.min(MAX_SCRATCH_BYTES, 2 ** Math.ceil(Math.log2(neededBytes))));
    }
    const buf = encoder.finish(this.scratch);
    // Errors up to here (an oversized or malformed entry) wrote nothing; from here on they
    // leave the segment in an unknown state.
    try {
      await this.writeBatch(buf, mustSync);
    } catch (err) {
      this.failure = err;
      throw err;
    }
    if (marker?.kind === SnapshotKind.Installed) this.lastIndex = marker.index;
    if (entries.length > 0) this.lastIndex = entries[entries.length - 1]!.index;
    if (hardState !== undefined) this.hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
  }

  private async writeBatch(buf: Buffer, mustSync: boolean): Promise<void> {
    let segment = this.segments[this.segments.length - 1]!;
    if (segment.sizeBytes + buf.length > this.segmentSizeBytes && this.segmentHasBatches) {
      segment = await this.rollover();
    }
    // Synchronously: see writeAllSync. A rollover or a sync still goes through the pool.
    writeAllSync(this.fd, buf, segment.sizeBytes);
    segment.sizeBytes += buf.length;
    segment.fileBytes = Math.max(segment.fileBytes, segment.sizeBytes);
    this.segmentHasBatches = true;
    // Early, so the paced background fill is done before the rollover even at full load.
    if (this.preallocator !== undefined && segment.sizeBytes > this.segmentSizeBytes / 8) this.preallocator.start();
    this.dirty = true;
    if (mustSync) {
      const startedMs = performance.now();
      await fdatasync(this.fd);
      this.onSynced?.((performance.now() - startedMs) / 1000);
      this.dirty = false;
    }
  }

  /** Seals the current segment (durably) and starts the next one. */
  private async rollover(): Promise<SegmentInfo> {
    const old = this.segments[this.segments.length - 1]!;
    if (this.dirty) await fdatasync(this.fd);
    this.dirty = false;
    await closeFd(this.fd);
    this.fd = -1;
    const prepared = await this.preallocator?.take();
    const space = prepared !== undefined ? { preparedPath: prepared } : { fillToBytes: this.preallocator ? this.segmentSizeBytes : 0 };
    const next = await createSegment(this.dir, old.seq + 1, this.lastIndex + 1, this.hardState, space);
    this.fd = await openFd(next.path, 'r+');
    this.segments.push(next);
    this.segmentHasBatches = false;
    const preallocated = prepared !== undefined ? 'background' : this.preallocator ? 'inline' : 'none';
    this.logger.debug({ segment: next.path, sealed: old.path, sealedSizeBytes: old.sizeBytes, preallocated }, 'started a new WAL segment');
    return next;
  }

  private async afterSnapshot(snapshotIndex: number): Promise<void> {
    await this.releaseSegmentsBefore(snapshotIndex);
    await this.snapshotter.prune();
  }

  /**
   * Releases the oldest segments whose every live entry is at or below the snapshot index:
   * segment k qualifies when segment k+1 starts at or before snapshotIndex + 1. The last
   * segment always stays (it is being written). Released segments are deleted, except the
   * newest when the preallocator takes it as the next segment's file.
   */
  private async releaseSegmentsBefore(snapshotIndex: number): Promise<void> {
    let cut = -1;
    for (let k = 0; k + 1 < this.segments.length; k++) {
      if (this.segments[k + 1]!.firstIndex <= snapshotIndex + 1) cut = k;
    }
    if (cut < 0) return;
    const released = this.segments.splice(0, cut + 1);
    let bytesFreed = 0;
    // Oldest first, so a crash part way leaves a contiguous run of segments. The newest released
    // one becomes the next segment's file when none is being prepared (preallocate.ts adopt): its
    // temporary name is removed by open() should the process stop before it is used.
    let recycled = false;
    for (const [i, s] of released.entries()) {
      if (i === released.length - 1 && this.preallocator !== undefined && (await this.preallocator.adopt(s.path))) {
        recycled = true;
        continue;
      }
      await fs.promises.rm(s.path, { force: true });
      bytesFreed += s.fileBytes;
    }
    await fsyncDir(this.dir);
    this.logger.info(
      { dir: this.dir, snapshotIndex, segmentsReleased: released.length, bytesFreed, recycled, segmentsLeft: this.segments.length },
      'released WAL segments covered by a snapshot',
    );
  }

  /** Segment files currently in use, oldest first (for tests and operators). */
  segmentFiles(): readonly Readonly<SegmentInfo>[] {
    return this.segments.map((s) => ({ ...s }));
  }

  /**
   * Syncs what is unsynced, closes the segment and releases the directory lock. Calls after
   * the first (a halted chain closes its WAL, its orderer again at shutdown) share its result.
   */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    await this.queue;
    this.closed = true;
    try {
      if (this.fd >= 0) {
        if (this.dirty && this.failure === undefined) await fdatasync(this.fd);
        await closeFd(this.fd);
        this.fd = -1;
      }
      await this.preallocator?.stop();
    } finally {
      await this.lock.release();
    }
  }
}

/** Opens (or creates) the WAL in `dir` and replays it; see Wal.open. */
export function openWal(dir: string, opts: WalOptions): Promise<OpenedWal> {
  return Wal.open(dir, opts);
}
