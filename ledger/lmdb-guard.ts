// lmdb-js reports damage it finds while reading pages as plain Errors carrying LMDB's return code
// (err.code, and the code's name at the start of the message). Those are turned into
// CorruptionError naming the data file, so callers and operators see one kind of error for a
// damaged store, whichever layer noticed it first.
import { CorruptionError } from './errors';

/** LMDB return codes (lmdb.h) that mean the file's contents are not what LMDB wrote. */
const CORRUPTION_CODES: ReadonlyMap<number, string> = new Map([
  [-30797, 'MDB_PAGE_NOTFOUND'],
  [-30796, 'MDB_CORRUPTED'],
  [-30795, 'MDB_PANIC'],
  [-30794, 'MDB_VERSION_MISMATCH'],
  [-30793, 'MDB_INVALID'],
  [-30778, 'MDB_BAD_CHECKSUM'],
]);

/** The LMDB code name when `err` is lmdb-js reporting a damaged file, else undefined. */
export function lmdbCorruptionCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'number') {
    const name = CORRUPTION_CODES.get(code);
    if (name !== undefined) return name;
  }
  if (typeof message !== 'string') return undefined;
  for (const name of CORRUPTION_CODES.values()) if (message.startsWith(name)) return name;
  return undefined;
}

/** `err` as a CorruptionError naming `file` when it is LMDB reporting damage; otherwise `err` itself. */
export function asCorruption(err: unknown, file: string, blockNumber = -1): unknown {
  if (err instanceof CorruptionError || lmdbCorruptionCode(err) === undefined) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CorruptionError(blockNumber, 'lmdb-error', `lmdb-js: ${message}`, { file });
}

/** Runs a synchronous lmdb-js call, rethrowing LMDB's damage reports as CorruptionError naming `file`. */
export function guardLmdb<T>(file: string, fn: () => T, blockNumber = -1): T {
  try {
    return fn();
  } catch (err) {
    throw asCorruption(err, file, blockNumber);
  }
}

/** The asynchronous form of guardLmdb, for lmdb-js writes whose failures arrive as rejections. */
export async function guardLmdbAsync<T>(file: string, run: () => Promise<T>, blockNumber = -1): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw asCorruption(err, file, blockNumber);
  }
}

/**
 * lmdb-js rejects the writes of a failed commit with an Error whose `commitError` is a second
 * promise, rejected a moment later with LMDB's own code. Nothing else handles that promise, so
 * left alone it ends the process as an unhandled rejection. This takes it over: `onCause` gets
 * LMDB's error once it arrives. Returns whether `err` carried one.
 */
export function takeCommitError(err: unknown, onCause: (cause: unknown) => void): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const commitError = (err as { commitError?: unknown }).commitError;
  if (!(commitError instanceof Promise)) return false;
  commitError.then(onCause, onCause);
  return true;
}

/**
 * Takes over the promises lmdb-js leaves behind when a commit fails, so that they cannot end the
 * process as unhandled rejections: the error's `commitError` (LMDB's code, passed to `onCause`)
 * and the commit promise of lmdb-js's own event-turn batch, which no caller holds. Call it in the
 * first handler of the rejected write (`catch` right after its `await`, or a `.catch` attached
 * when the write is queued): Node reports a rejection as unhandled once the current microtasks
 * have run, and a later handler comes too late.
 */
export function settleFailedCommit(err: unknown, env: { committed: PromiseLike<unknown> }, onCause: (cause: unknown) => void): void {
  takeCommitError(err, onCause);
  // The batch's failure is the same one this caller is handling; only its promise is left over.
  env.committed.then(undefined, () => undefined);
}
