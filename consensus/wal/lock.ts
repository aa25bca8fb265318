// Exclusive ownership of a WAL directory across processes.
//
// Scheme: a lock file `LOCK` created with O_CREAT|O_EXCL ('wx'), holding JSON
// {pid, startTime, hostname}. Creation is atomic, so of two processes racing only one wins.
// A lock left by a process that died (kill -9, power loss) is recognised as stale when its
// pid no longer runs, or runs but started at another time (the pid was reused: Linux
// /proc/<pid>/stat field 22 is the start time in clock ticks since boot). A lock from
// another host (shared filesystem) is never judged stale: we cannot see its processes.
// Breaking a stale lock renames it to a unique name first and checks the renamed file still
// has the stale content, so two processes breaking the same stale lock cannot both win;
// if a fresh lock was moved by mistake it is linked back (link fails rather than overwrite).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { WalLockedError } from './errors';
import { isErrnoException } from './fsutil';

export const LOCK_FILE_NAME = 'LOCK';
const MAX_ATTEMPTS = 5;
const UNPARSABLE_LOCK_GRACE_MS = 2000;

interface LockContent {
  pid: number;
  startTime: string | null;
  hostname: string;
}

/** Process start time as recorded by Linux, or null where /proc is not available. */
function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // field 22 overall; fields[0] is field 3
  } catch {
    return null;
  }
}

function isAlive(content: LockContent): boolean {
  if (content.hostname !== os.hostname()) return true;
  try {
    process.kill(content.pid, 0);
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ESRCH') return false;
    // EPERM: the process exists but belongs to someone else.
  }
  if (content.startTime === null) return true;
  const current = processStartTime(content.pid);
  return current === null || current === content.startTime;
}

function parseLock(text: string): LockContent | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockContent>;
    if (typeof v.pid === 'number' && typeof v.hostname === 'string') {
      return { pid: v.pid, hostname: v.hostname, startTime: typeof v.startTime === 'string' ? v.startTime : null };
    }
  } catch {
    // fall through
  }
  return undefined;
}

/** What DirLock.probe found; pid -1 when the lock file names none (unparsable). */
export type LockProbe =
  | { state: 'free'; lockPath: string }
  | { state: 'held'; lockPath: string; pid: number }
  | { state: 'stale'; lockPath: string; pid: number };

export class DirLock {
  private released = false;

  private constructor(
    readonly lockPath: string,
    private readonly content: string,
  ) {}

  static async acquire(dir: string, logger: Logger): Promise<DirLock> {
    const lockPath = path.join(dir, LOCK_FILE_NAME);
    const mine: LockContent = { pid: process.pid, startTime: processStartTime(process.pid), hostname: os.hostname() };
    const text = JSON.stringify(mine);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        await fs.promises.writeFile(lockPath, text, { flag: 'wx' });
        return new DirLock(lockPath, text);
      } catch (err) {
        if (!isErrnoException(err) || err.code !== 'EEXIST') throw err;
      }
      let existing: string;
      try {
        existing = await fs.promises.readFile(lockPath, 'utf8');
      } catch (err) {
        if (isErrnoException(err) && err.code === 'ENOENT') continue; // released meanwhile
        throw err;
      }
      const holder = parseLock(existing);
      // An empty or unparsable lock is a crash between create and write, unless its creator
      // is between those two steps right now: only an older one is treated as stale.
      if (holder !== undefined && holder.pid === process.pid && holder.hostname === mine.hostname) {
        throw new WalLockedError(dir, holder.pid, lockPath);
      }
      if (holder !== undefined && isAlive(holder)) throw new WalLockedError(dir, holder.pid, lockPath);
      if (holder === undefined && (await DirLock.isFresh(lockPath))) throw new WalLockedError(dir, -1, lockPath);
      await DirLock.breakStale(lockPath, existing, logger);
    }
    throw new WalLockedError(dir, -1, lockPath);
  }

  /**
   * Looks at the directory's lock without taking or breaking it (for tools that must not
   * change anything, e.g. a dry run): free, held by a live process, or left by a dead one.
   */
  static async probe(dir: string): Promise<LockProbe> {
    const lockPath = path.join(dir, LOCK_FILE_NAME);
    let existing: string;
    try {
      existing = await fs.promises.readFile(lockPath, 'utf8');
    } catch (err) {
      if (isErrnoException(err) && err.code === 'ENOENT') return { state: 'free', lockPath };
      throw err;
    }
    const holder = parseLock(existing);
    if (holder === undefined) return (await DirLock.isFresh(lockPath)) ? { state: 'held', lockPath, pid: -1 } : { state: 'stale', lockPath, pid: -1 };
    return isAlive(holder) ? { state: 'held', lockPath, pid: holder.pid } : { state: 'stale', lockPath, pid: holder.pid };
  }

  /** True for a lock file touched so recently that its creator may still be writing it. */
  private static async isFresh(lockPath: string): Promise<boolean> {
    const stat = await fs.promises.stat(lockPath).catch(() => undefined);
    return stat !== undefined && Date.now() - stat.mtimeMs < UNPARSABLE_LOCK_GRACE_MS;
  }

  private static async breakStale(lockPath: string, staleContent: string, logger: Logger): Promise<void> {
    const movedPath = `${lockPath}.stale-${process.pid}-${Date.now()}`;
    try {
      await fs.promises.rename(lockPath, movedPath);
    } catch (err) {
      if (isErrnoException(err) && err.code === 'ENOENT') return; // someone else broke it
      throw err;
    }
    const moved = await fs.promises.readFile(movedPath, 'utf8');
    if (moved !== staleContent) {
      // We moved a lock taken after our check: put it back where its owner expects it.
      await fs.promises.link(movedPath, lockPath).catch(() => undefined);
      await fs.promises.rm(movedPath, { force: true });
      return;
    }
    await fs.promises.rm(movedPath, { force: true });
    logger.warn({ lockPath, staleLock: staleContent }, 'removed stale WAL lock left by a process that is no longer running');
  }

  /** Removes the lock file if it is still ours. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const current = await fs.promises.readFile(this.lockPath, 'utf8').catch(() => undefined);
    if (current === this.content) await fs.promises.rm(this.lockPath, { force: true });
  }
}
