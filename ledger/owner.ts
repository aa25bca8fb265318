// Who has a block store open for writing. The record lives inside the store's own LMDB file and is
// claimed in a write transaction, so LMDB's process-shared writer mutex makes "check the owner, then
// take it" atomic: two processes opening the same store at the same moment cannot both win, and a
// record left behind by a process killed with SIGKILL is recognised as stale and taken over.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface OwnerRecord {
  pid: number;
  hostname: string;
  /** Linux boot id: a record from before a reboot is stale whatever its pid. */
  bootId?: string;
  /** Process start time in clock ticks since boot (Linux): tells a reused pid from the original. */
  startTicks?: number;
  openedAtMs: number;
}

function readBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined; // not Linux: fall back to pid liveness alone
  }
}

function readStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name start at field 3; starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

export function ownRecord(nowMs: number): OwnerRecord {
  return {
    pid: process.pid,
    hostname: hostname(),
    bootId: readBootId(),
    startTicks: readStartTicks(process.pid),
    openedAtMs: nowMs,
  };
}

export type OwnerLiveness = 'alive' | 'dead' | 'unknown';

/**
 * 'unknown' when the record comes from another host name: pids cannot be checked across machines or
 * containers, and a recreated container gets a new host name, so the caller takes over with a warning
 * rather than refusing to start forever.
 */
export function ownerLiveness(owner: OwnerRecord, self: OwnerRecord): OwnerLiveness {
  if (owner.hostname !== self.hostname) return 'unknown';
  if (owner.bootId !== undefined && self.bootId !== undefined && owner.bootId !== self.bootId) return 'dead';
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: the pid exists but belongs to another user, which still means it is running.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return 'dead';
  }
  if (owner.startTicks !== undefined) {
    const ticks = readStartTicks(owner.pid);
    if (ticks !== undefined && ticks !== owner.startTicks) return 'dead';
  }
  return 'alive';
}

export function parseOwnerRecord(bytes: Uint8Array): OwnerRecord | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const rec = parsed as Partial<OwnerRecord>;
    if (typeof rec.pid !== 'number' || typeof rec.hostname !== 'string' || typeof rec.openedAtMs !== 'number') return undefined;
    return {
      pid: rec.pid,
      hostname: rec.hostname,
      bootId: typeof rec.bootId === 'string' ? rec.bootId : undefined,
      startTicks: typeof rec.startTicks === 'number' ? rec.startTicks : undefined,
      openedAtMs: rec.openedAtMs,
    };
  } catch {
    return undefined; // an unreadable record cannot name a live owner
  }
}

export function encodeOwnerRecord(rec: OwnerRecord): Buffer {
  return Buffer.from(JSON.stringify(rec), 'utf8');
}
