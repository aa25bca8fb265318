import pino from 'pino';
import { CorruptionError } from '../../ledger/errors';
import { makeTempDir, removeTempDir } from '../support/temp-dir';

export const silentLogger = pino({ level: 'silent' });

/** A fresh directory under the OS temp dir; remove it with the returned function, which checks it is still that directory. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dirPrefix = `ledger-${prefix}-`;
  const dir = makeTempDir(dirPrefix);
  return { dir, remove: () => removeTempDir(dir, dirPrefix) };
}

/** A logger whose records are kept (parsed) for the test to look at. */
export function capturingLogger(): { logger: pino.Logger; records: Record<string, unknown>[]; messages: () => string[] } {
  const records: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, records, messages: () => records.map((r) => String(r.msg)) };
}

/** The CorruptionError `p` rejects with; fails the test when it resolves or rejects with anything else. */
export async function corruption(p: Promise<unknown>): Promise<CorruptionError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CorruptionError);
  return err as CorruptionError;
}
