// Shared helpers of the WAL tests: temp dirs, a pino logger that records what it logs,
// entries, and a parse of a segment file into record boundaries.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import { raftpb } from '../../../protos';
import { parseRecord, type WalRecord } from '../../../consensus/wal/record';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export const WARN = 40;

export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

export async function makeTempDir(prefix = 'wal-test-'): Promise<string> {
  return fs.promises.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await fs.promises.rm(dir, { recursive: true, force: true });
}

export function entry(index: number, term: number, text = `e${index}t${term}`): raftpb.Entry {
  return { type: raftpb.EntryType.EntryNormal, index, term, data: Buffer.from(text) };
}

export function entries(first: number, last: number, term: number): raftpb.Entry[] {
  const out: raftpb.Entry[] = [];
  for (let i = first; i <= last; i++) out.push(entry(i, term));
  return out;
}

/** Comparable form of entries (Buffers compare by content with toEqual). */
export function plain(list: readonly raftpb.Entry[]): { index: number; term: number; type: number; data: string }[] {
  return list.map((e) => ({ index: e.index, term: e.term, type: e.type, data: Buffer.from(e.data).toString('hex') }));
}

export interface ParsedRecord {
  offset: number;
  end: number;
  record: WalRecord;
}

/** Every record of a well-formed segment file with its byte range (up to a preallocated zero tail). */
export function parseSegment(buf: Buffer): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (offset > 0 && buf.subarray(offset).every((b) => b === 0)) break;
    const r = parseRecord(buf, offset);
    if (!r.ok) throw new Error(`test setup: bad record at ${offset}: ${r.fault}`);
    out.push({ offset, end: r.nextOffset, record: r.record });
    offset = r.nextOffset;
  }
  return out;
}

export async function walFiles(dir: string): Promise<string[]> {
  return (await fs.promises.readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
}

export const CONF_STATE: raftpb.ConfState = { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

export function snapshotAt(index: number, term: number, text = `snap@${index}`): raftpb.Snapshot {
  return { data: Buffer.from(text), metadata: { index, term, confState: CONF_STATE } };
}

/** Tests use small segments: the default 64 MB would be zero-filled on creation. */
export const SMALL_SEGMENTS = { segmentSizeBytes: 256 * 1024 } as const;
