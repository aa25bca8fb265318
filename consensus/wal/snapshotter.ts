// Snapshot files: one raftpb.Snapshot per file, named %016x-%016x.snap (term, index) like
// Fabric's etcdraft snapshots, written atomically (temporary file, fsync, rename, fsync of
// the directory) so a crash leaves either the whole new file or none of it.
//
// File layout: u32 LE magic 0x50414E53, u32 LE format version, u32 LE payload length,
// u32 LE CRC-32 of bytes 0..11 followed by the payload, then the raftpb.Snapshot bytes.
//
// Which snapshot to restart from is decided by Wal.open, which also knows what the WAL
// still holds; this class only writes, lists, verifies and prunes files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { raftpb } from '../../protos';
import { crc32 } from './crc32';
import { CorruptionError } from './errors';
import { mkdirDurable, removeTempFiles, writeFileAtomic } from './fsutil';

export const SNAPSHOT_MAGIC = 0x50414e53;
export const SNAPSHOT_FORMAT_VERSION = 1;
const SNAPSHOT_HEADER_BYTES = 16;
export const DEFAULT_SNAPSHOTS_TO_KEEP = 4;
const NAME_PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
/** writeFileAtomic's temporary name for a snapshot file. */
const TEMP_NAME_PATTERN = /^[0-9a-f]{16}-[0-9a-f]{16}\.snap\.tmp$/;

export function isSnapshotTempFileName(name: string): boolean {
  return TEMP_NAME_PATTERN.test(name);
}

export interface SnapshotFile {
  name: string;
  path: string;
  term: number;
  index: number;
}

export interface SnapshotterOptions {
  logger: Logger;
  /** How many of the newest snapshot files prune() keeps (at least 1). */
  snapshotsToKeep?: number;
}

export function snapshotFileName(term: number, index: number): string {
  return `${term.toString(16).padStart(16, '0')}-${index.toString(16).padStart(16, '0')}.snap`;
}

export function encodeSnapshotFile(snapshot: raftpb.Snapshot): Buffer {
  const payload = raftpb.Snapshot.encode(snapshot);
  const buf = Buffer.allocUnsafe(SNAPSHOT_HEADER_BYTES + payload.length);
  buf.writeUInt32LE(SNAPSHOT_MAGIC, 0);
  buf.writeUInt32LE(SNAPSHOT_FORMAT_VERSION, 4);
  buf.writeUInt32LE(payload.length, 8);
  buf.set(payload, SNAPSHOT_HEADER_BYTES);
  buf.writeUInt32LE(crc32(payload, crc32(buf.subarray(0, 12))), 12);
  return buf;
}

export class Snapshotter {
  private readonly logger: Logger;
  readonly snapshotsToKeep: number;

  private constructor(
    readonly dir: string,
    opts: SnapshotterOptions,
  ) {
    this.logger = opts.logger;
    this.snapshotsToKeep = Math.max(1, opts.snapshotsToKeep ?? DEFAULT_SNAPSHOTS_TO_KEEP);
  }

  static async open(dir: string, opts: SnapshotterOptions): Promise<Snapshotter> {
    await mkdirDurable(dir);
    const removed = await removeTempFiles(dir, isSnapshotTempFileName);
    if (removed.length > 0) opts.logger.info({ dir, removed }, 'removed unfinished snapshot files');
    return new Snapshotter(dir, opts);
  }

  /**
   * A snapshotter that only reads: creates no directory and removes no temp file (a dry run,
   * or a check before a repair decides whether it may change anything). A missing directory
   * simply holds no snapshots.
   */
  static readOnly(dir: string, opts: SnapshotterOptions): Snapshotter {
    return new Snapshotter(dir, opts);
  }

  /** Writes the snapshot durably; returns its file. */
  async save(snapshot: raftpb.Snapshot): Promise<SnapshotFile> {
    const { term, index } = snapshot.metadata;
    if (index === 0) throw new RangeError('cannot save the empty snapshot (index 0)');
    const name = snapshotFileName(term, index);
    const filePath = path.join(this.dir, name);
    const bytes = encodeSnapshotFile(snapshot);
    await writeFileAtomic(filePath, bytes);
    this.logger.info({ file: filePath, term, index, sizeBytes: bytes.length }, 'saved raft snapshot');
    return { name, path: filePath, term, index };
  }

  /** All snapshot files, newest (highest index, then highest term) first. */
  async list(): Promise<SnapshotFile[]> {
    const files: SnapshotFile[] = [];
    const dirents = await fs.promises.readdir(this.dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const dirent of dirents) {
      const name = dirent.name;
      const m = NAME_PATTERN.exec(name);
      // Only regular files: prune() deletes what this lists.
      if (!m || !dirent.isFile()) continue;
      files.push({ name, path: path.join(this.dir, name), term: parseInt(m[1]!, 16), index: parseInt(m[2]!, 16) });
    }
    return files.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  /** Reads and verifies one snapshot file. Throws CorruptionError when it does not check out. */
  async load(file: SnapshotFile): Promise<raftpb.Snapshot> {
    const buf = await fs.promises.readFile(file.path);
    const fail = (offsetBytes: number, reason: string): never => {
      throw new CorruptionError(file.path, offsetBytes, reason);
    };
    if (buf.length < SNAPSHOT_HEADER_BYTES) fail(0, `file of ${buf.length} bytes is shorter than the header`);
    if (buf.readUInt32LE(0) !== SNAPSHOT_MAGIC) fail(0, 'bad magic');
    if (buf.readUInt32LE(4) !== SNAPSHOT_FORMAT_VERSION) fail(4, `unknown format version ${buf.readUInt32LE(4)}`);
    const payloadBytes = buf.readUInt32LE(8);
    if (SNAPSHOT_HEADER_BYTES + payloadBytes !== buf.length) {
      fail(8, `payload length ${payloadBytes} does not match file size ${buf.length}`);
    }
    const payload = buf.subarray(SNAPSHOT_HEADER_BYTES);
    if (crc32(payload, crc32(buf.subarray(0, 12))) !== buf.readUInt32LE(12)) fail(SNAPSHOT_HEADER_BYTES, 'crc mismatch');
    let snapshot: raftpb.Snapshot;
    try {
      snapshot = raftpb.Snapshot.decode(payload);
    } catch (err) {
      return fail(SNAPSHOT_HEADER_BYTES, `undecodable snapshot: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (snapshot.metadata.index !== file.index || snapshot.metadata.term !== file.term) {
      fail(SNAPSHOT_HEADER_BYTES, `metadata (term ${snapshot.metadata.term}, index ${snapshot.metadata.index}) does not match the file name`);
    }
    return snapshot;
  }

  /** Deletes all but the newest `snapshotsToKeep` files; returns the deleted ones. */
  async prune(): Promise<SnapshotFile[]> {
    const doomed = (await this.list()).slice(this.snapshotsToKeep);
    for (const file of doomed) await fs.promises.rm(file.path, { force: true });
    if (doomed.length > 0) {
      this.logger.info({ dir: this.dir, deleted: doomed.map((f) => f.name) }, 'deleted old raft snapshots');
    }
    return doomed;
  }
}
