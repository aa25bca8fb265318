// Small promise wrappers over node:fs callbacks (cheaper than FileHandle objects on the hot
// path) and the directory fsync that makes a create, rename or unlink itself durable.
// `import = require` (not `import * as`) so that this module calls the real fs object:
// tests spy on fs.write / fs.fdatasync to count the syscalls of one save.
import fs = require('node:fs');
import * as path from 'node:path';

export function writeAll(fd: number, buf: Buffer, positionBytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number): void => {
      fs.write(fd, buf, offset, buf.length - offset, positionBytes + offset, (err, written) => {
        if (err) return reject(err);
        // A regular file takes the whole buffer in one call in practice; loop for the rare short write.
        if (offset + written < buf.length) return step(offset + written);
        resolve();
      });
    };
    step(0);
  });
}

/**
 * writeAll without the round trip through libuv's thread pool: a write of a Ready's batch lands in
 * the page cache in tens of microseconds, while the pool's hop (and the wait for this busy event
 * loop to take its completion) cost a Ready a millisecond or more under load, on the path of every
 * block. Throws what the write throws.
 */
export function writeAllSync(fd: number, buf: Buffer, positionBytes: number): void {
  let offset = 0;
  // A regular file takes the whole buffer in one call in practice; loop for the rare short write.
  while (offset < buf.length) {
    const written = fs.writeSync(fd, buf, offset, buf.length - offset, positionBytes + offset);
    // A file system that takes nothing and reports no error would otherwise spin here forever.
    if (written <= 0) throw Object.assign(new Error(`write took no bytes at offset ${positionBytes + offset}`), { code: 'EIO' });
    offset += written;
  }
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

/** fsync a directory so that entries created, renamed or removed in it survive a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * mkdir -p whose result survives a power loss: each directory it created is recorded durably
 * in its parent (fsync of the parent), not only the files later created inside it.
 */
export async function mkdirDurable(dir: string): Promise<void> {
  const firstCreated = await fs.promises.mkdir(dir, { recursive: true });
  if (firstCreated === undefined) return;
  // Every level from the first created one down to `dir` is new; fsync each one's parent.
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    await fsyncDir(path.dirname(d));
    if (d === path.resolve(firstCreated) || d === path.dirname(d)) break;
  }
}

/** Writes a file completely and durably under a temporary name, then renames it into place. */
export async function writeFileAtomic(filePath: string, data: Uint8Array): Promise<void> {
  const tmpPath = `${filePath}.tmp`;
  const handle = await fs.promises.open(tmpPath, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(tmpPath, filePath);
  await fsyncDir(path.dirname(filePath));
}

/**
 * Removes leftover temporary files of interrupted writes; returns their names. Only regular
 * files whose names `isOurTempFile` recognises (names this code writes) are touched: an
 * operator's `notes.tmp`, a directory or a symlink in the same place stays.
 */
export async function removeTempFiles(dir: string, isOurTempFile: (name: string) => boolean): Promise<string[]> {
  const removed: string[] = [];
  for (const dirent of await fs.promises.readdir(dir, { withFileTypes: true })) {
    if (!dirent.isFile() || !isOurTempFile(dirent.name)) continue;
    await fs.promises.rm(path.join(dir, dirent.name));
    removed.push(dirent.name);
  }
  return removed;
}

/** Not `instanceof Error`: errors made by Node internals can come from another realm (jest's vm). */
export function isErrnoException(err: unknown): err is NodeJS.ErrnoException {
  return typeof err === 'object' && err !== null && typeof (err as NodeJS.ErrnoException).code === 'string';
}
