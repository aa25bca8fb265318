// Files in and out for `orderer config ...`: inputs read whole (a file or standard input), outputs
// written to a temporary file beside the target and renamed over it, so a command that fails
// leaves no partial file, and errors that name the file they are about.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ClientFilesError } from '../orderer/client-credentials';
import { ComputeUpdateError } from '../orderer/configtx/compute-update';
import { ProtoJsonError } from '../orderer/configtx/json';
import { ChannelConfigError } from '../orderer/errors';
import { LocalMspError } from '../orderer/msp/local-msp';
import { MspDirError } from '../orderer/msp/msp-dir';
import { PolicyDslError } from '../orderer/policies/errors';
import { ProtoDecodeError } from '../protos';

/** A file (or standard input, or output) that cannot be used; `file` names it. */
export class ConfigToolError extends Error {
  override readonly name = 'ConfigToolError';

  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${reason}`, options);
  }
}

/** Flags that do not add up: printed with the usage, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const STDIN = 'standard input';

export interface Input {
  /** The file's path, or "standard input". */
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Runs `parse` over the input; a decoding error is rethrown naming this input. */
  wrap<T>(parse: () => T): T;
}

export function readInput(file: string | undefined): Input {
  const name = file === undefined || file === '-' ? STDIN : file;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(name === STDIN ? 0 : name));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigToolError(name, code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return {
    name,
    bytes,
    wrap<T>(parse: () => T): T {
      try {
        return parse();
      } catch (err) {
        if (err instanceof ProtoDecodeError || err instanceof ProtoJsonError) throw new ConfigToolError(name, err.message, { cause: err });
        throw err;
      }
    },
  };
}

/**
 * Writes `bytes` to `file` atomically (temporary file, fsync, rename), or to standard output when
 * `file` is undefined or "-". Protobuf is not written to a terminal, where it would only garble it.
 */
export function writeOutput(file: string | undefined, bytes: Uint8Array, options: { binary: boolean }): void {
  if (file === undefined || file === '-') {
    if (options.binary && process.stdout.isTTY === true) {
      throw new ConfigToolError('standard output', 'is a terminal: name a file with --output, or redirect');
    }
    writeAllSync(1, bytes);
    return;
  }
  const target = path.resolve(file);
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number;
  try {
    fd = openSync(temp, 'wx', 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigToolError(file, code === 'ENOENT' ? 'its folder does not exist' : `cannot be written: ${(err as Error).message}`, { cause: err });
  }
  try {
    writeAllSync(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, target);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // Already closed by the attempt above: nothing left to release.
    }
    rmSync(temp, { force: true });
    throw new ConfigToolError(file, `cannot be written: ${(err as Error).message}`, { cause: err });
  }
}

function writeAllSync(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (err) {
      // A non-blocking stdout pipe that is full: try again.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw err;
    }
  }
}

/** The line to print for an error the user can fix, or undefined for a programming error (rethrown). */
export function describeToolError(err: unknown): string | undefined {
  if (
    err instanceof ConfigToolError ||
    err instanceof ProtoJsonError ||
    err instanceof ProtoDecodeError ||
    err instanceof ComputeUpdateError ||
    err instanceof ClientFilesError ||
    err instanceof LocalMspError ||
    err instanceof MspDirError ||
    err instanceof ChannelConfigError ||
    err instanceof PolicyDslError
  ) {
    return err.message;
  }
  return undefined;
}
