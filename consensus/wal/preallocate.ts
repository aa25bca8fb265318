// Preallocation of segment files by writing zeros.
//
// Why: appending to a file makes every fdatasync also commit the file's new size and block
// allocation to the filesystem journal. Overwriting blocks that were already written (and
// synced) makes fdatasync flush just the data: on ext4 a 100 KB Ready then costs about as much
// as a 64-byte one. Node has no fallocate(2), and on ext4 fallocated blocks are "unwritten"
// extents whose first write still needs a journal commit, so the blocks are filled with zeros.
// Readers treat an all-zero tail after the last record as the end of the log.
//
// Zero-filling 64 MB takes a while, so the next segment's file is prepared in the background
// early in the current one's life, and only renamed into place at rollover.
//
// The file prepared is, when there is one, a segment the WAL has just released (a snapshot covers
// it) rather than a new file: its zeros then overwrite blocks the filesystem has already allocated,
// often pages still in the page cache, instead of allocating both. At full load, zeros written into
// a new file were the costliest file writes of an orderer, per byte several times the WAL's own
// (which overwrite the zeros) and more than the ledger's (docs/performance.md). The content is the
// same either way: the whole file is zeros of the segment size before it is used. The background fill
// is paced (DEFAULT_BACKGROUND_FILL_BYTES_PER_SECOND, small flushes): written at full speed, the
// zeros of three orderers on one disk held up their WAL and ledger fsyncs for 300-600 ms, which
// was the whole p99 tail of the orderer benchmark. At rollover it finishes at full speed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { closeFd, fdatasync, writeAll } from './fsutil';

const ZERO_CHUNK_BYTES = 1024 * 1024;
/** Flush the zeros in steps this size: one 64 MB flush would stall the WAL's own fsyncs behind it. */
const ZERO_SYNC_STEP_BYTES = 8 * 1024 * 1024;
/** Smaller steps in the background, where each flush competes with a live WAL. */
const BACKGROUND_SYNC_STEP_BYTES = 2 * 1024 * 1024;
/**
 * Pace of the background fill: a 64 MB segment in 4 s. The WAL of the orderer benchmark at full
 * load fills a segment in about 7 s, and the fill starts when the current segment is 1/8 full.
 */
export const DEFAULT_BACKGROUND_FILL_BYTES_PER_SECOND = 16 * 1024 * 1024;
const ZEROS = Buffer.alloc(ZERO_CHUNK_BYTES);
/** Name of the file being prepared; `.tmp` so that open() removes a leftover one. */
export const PREALLOCATED_FILE_NAME = 'next-segment.wal.tmp';

export interface ZeroFillPacing {
  /** Checked between chunks: true abandons the fill. */
  shouldStop(): boolean;
  /** Milliseconds to wait after `writtenBytes` were written in `elapsedMs` (0: go on). */
  delayMs(writtenBytes: number, elapsedMs: number): number;
  syncStepBytes: number;
}

const UNPACED: ZeroFillPacing = { shouldStop: () => false, delayMs: () => 0, syncStepBytes: ZERO_SYNC_STEP_BYTES };

/** Writes zeros from `fromBytes` up to `toBytes` and fdatasyncs; false when `shouldStop` ended it early. */
export async function zeroFill(fd: number, fromBytes: number, toBytes: number, pacing: ZeroFillPacing = UNPACED): Promise<boolean> {
  let unsyncedBytes = 0;
  const startedAtMs = performance.now();
  for (let pos = fromBytes; pos < toBytes; pos += ZERO_CHUNK_BYTES) {
    if (pacing.shouldStop()) return false;
    const chunk = ZEROS.subarray(0, Math.min(ZERO_CHUNK_BYTES, toBytes - pos));
    await writeAll(fd, chunk, pos);
    unsyncedBytes += chunk.length;
    if (unsyncedBytes >= pacing.syncStepBytes) {
      await fdatasync(fd);
      unsyncedBytes = 0;
    }
    const waitMs = pacing.delayMs(pos + chunk.length - fromBytes, performance.now() - startedAtMs);
    if (waitMs > 0) await new Promise<void>((resolve) => setTimeout(resolve, waitMs));
  }
  await fdatasync(fd);
  return true;
}

/** True when every byte from `from` to the end of `buf` is zero. */
export function isZeroFrom(buf: Buffer, from: number): boolean {
  for (let pos = from; pos < buf.length; pos += ZERO_CHUNK_BYTES) {
    const chunk = buf.subarray(pos, Math.min(buf.length, pos + ZERO_CHUNK_BYTES));
    if (!chunk.equals(ZEROS.subarray(0, chunk.length))) return false;
  }
  return true;
}

/** End of the last non-zero byte at or after `from` (== from when all of it is zero). */
export function nonZeroEnd(buf: Buffer, from: number): number {
  let end = buf.length;
  while (end > from) {
    const start = Math.max(from, end - ZERO_CHUNK_BYTES);
    const chunk = buf.subarray(start, end);
    if (!chunk.equals(ZEROS.subarray(0, chunk.length))) {
      let i = chunk.length;
      while (chunk[i - 1] === 0) i--;
      return start + i;
    }
    end = start;
  }
  return from;
}

/** Prepares one zero-filled file of the segment size at a time, in the background. */
export class SegmentPreallocator {
  private pending: Promise<string | undefined> | undefined;
  private stopping = false;
  /** Set once the WAL waits for the file: the rest is written at full speed. */
  private hurry = false;
  /** A released segment being renamed to filePath (or renamed), for the next prepare() to zero. */
  private adoption: Promise<boolean> | undefined;
  readonly filePath: string;

  constructor(
    dir: string,
    private readonly sizeBytes: number,
    private readonly logger: Logger,
    private readonly bytesPerSecond = DEFAULT_BACKGROUND_FILL_BYTES_PER_SECOND,
  ) {
    this.filePath = path.join(dir, PREALLOCATED_FILE_NAME);
  }

  /**
   * Takes a segment the WAL no longer needs as the next file to prepare, by renaming it. False
   * (nothing done, the caller deletes it) when a file is prepared, being prepared or already
   * adopted, when the WAL is closing, when the rename fails, and when the file has other hard
   * links: a backup made with hard links (`cp -al`, `rsync --link-dest`) would see its copy zeroed
   * and written over. The caller fsyncs the directory before the next start(), so that the zeros
   * never land in a segment whose release a power loss could undo.
   */
  adopt(releasedPath: string): Promise<boolean> {
    if (this.pending !== undefined || this.stopping || this.adoption !== undefined) return Promise.resolve(false);
    // Set before anything is awaited: a prepare() starting meanwhile waits for it rather than
    // creating a file the rename would then replace with the segment's old records.
    const adoption = (async (): Promise<boolean> => {
      try {
        if ((await fs.promises.stat(releasedPath)).nlink !== 1) return false;
        await fs.promises.rename(releasedPath, this.filePath);
        return true;
      } catch {
        return false; // the segment is where it was
      }
    })();
    this.adoption = adoption;
    void adoption.then((adopted) => {
      if (!adopted && this.adoption === adoption) this.adoption = undefined;
    });
    return adoption;
  }

  /** Starts preparing the next file unless one is prepared or being prepared. */
  start(): void {
    if (this.pending !== undefined || this.stopping) return;
    this.hurry = false;
    this.pending = this.prepare().catch((err: unknown) => {
      // Not fatal: the next segment is then created without preallocation.
      this.logger.warn({ file: this.filePath, err }, 'could not preallocate the next WAL segment');
      return undefined;
    });
  }

  /** The prepared file's path (waiting for it if still being written), or undefined if none. */
  async take(): Promise<string | undefined> {
    const pending = this.pending;
    this.pending = undefined;
    this.hurry = true;
    return pending === undefined ? undefined : await pending;
  }

  private async prepare(): Promise<string | undefined> {
    const adoption = this.adoption;
    this.adoption = undefined;
    // 'r+' keeps an adopted segment's blocks (its length is set below); 'w' starts an empty file.
    const flags = adoption !== undefined && (await adoption) ? 'r+' : 'w';
    this.logger.debug({ file: this.filePath, reusedSegment: flags === 'r+' }, 'preparing the next WAL segment');
    const fd = await new Promise<number>((resolve, reject) =>
      fs.open(this.filePath, flags, (err, handle) => (err ? reject(err) : resolve(handle))),
    );
    let done = false;
    const pacing: ZeroFillPacing = {
      shouldStop: () => this.stopping,
      delayMs: (writtenBytes, elapsedMs) => {
        if (this.hurry || this.bytesPerSecond <= 0) return 0;
        return Math.max(0, (writtenBytes / this.bytesPerSecond) * 1000 - elapsedMs);
      },
      syncStepBytes: BACKGROUND_SYNC_STEP_BYTES,
    };
    try {
      // A segment can end past the segment size (an entry larger than what was left of it).
      if (flags === 'r+') await new Promise<void>((resolve, reject) => fs.ftruncate(fd, this.sizeBytes, (err) => (err ? reject(err) : resolve())));
      done = await zeroFill(fd, 0, this.sizeBytes, pacing);
    } finally {
      await closeFd(fd);
    }
    return done ? this.filePath : undefined;
  }

  /** Stops preparing and removes the file (prepared, being prepared or adopted). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.adoption;
    this.adoption = undefined;
    await this.pending;
    this.pending = undefined;
    await fs.promises.rm(this.filePath, { force: true });
  }
}
