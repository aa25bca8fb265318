// Why a node process stopped, read back from its log: the last error it logged (pino JSON), or the
// error line of a crash that Node printed to stderr. The launcher prints it so an operator sees
// "not a consenter of mychannel" or "address in use" without opening the log.
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** How much of the log's tail is read: the reason is among the last lines. */
const TAIL_BYTES = 64 * 1024;
const PINO_ERROR_LEVEL = 50;

interface PinoLine {
  level?: unknown;
  msg?: unknown;
  err?: { message?: unknown };
}

function readTail(file: string, fromBytes: number): string {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return '';
  }
  const start = Math.max(fromBytes, size - TAIL_BYTES);
  if (size <= start) return '';
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size - start);
    const n = readSync(fd, buf, 0, buf.length, start);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** One line of text for the last error in `text` (log lines), or undefined when there is none. */
export function reasonFromLog(text: string): string | undefined {
  const lines = text.split('\n').filter((l) => l.trim().length > 0);
  let crashLine: string | undefined;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (line.startsWith('{')) {
      let parsed: PinoLine;
      try {
        parsed = JSON.parse(line) as PinoLine;
      } catch {
        continue;
      }
      if (typeof parsed.level !== 'number' || parsed.level < PINO_ERROR_LEVEL) continue;
      const msg = typeof parsed.msg === 'string' ? parsed.msg : 'error';
      const errMessage = typeof parsed.err?.message === 'string' ? parsed.err.message : undefined;
      // A crash printed after the last logged error is the newer news.
      if (crashLine !== undefined) return crashLine;
      return errMessage !== undefined && !msg.includes(errMessage) ? `${msg}: ${errMessage}` : msg;
    }
    // An uncaught exception: Node prints the stack, the error line first ("Error: ..."), then
    // "Node.js vX". Keep the newest error line seen while walking back.
    if (crashLine === undefined && /^[A-Za-z]*(Error|Exception)\b.*:/.test(line.trim())) crashLine = line.trim();
  }
  return crashLine;
}

/** The reason a process stopped, from what it wrote to `file` after byte offset `fromBytes`. */
export function exitReason(file: string, fromBytes: number): string | undefined {
  return reasonFromLog(readTail(file, fromBytes));
}
