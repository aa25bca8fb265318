import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { CorruptionError } from '../../ledger/errors';

export const silentLogger = pino({ level: 'silent' });

/** A fresh directory under the OS temp dir; remove it with the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `ledger-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
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
