// The operator's way out of a WAL that refuses to open (CorruptionError): check that the
// directory is a WAL and that no orderer has it open, say exactly what cutting the log at the
// first bad record would drop, and (unless it is a dry run) cut it there with the same code
// Wal.open({ repair: true }) runs. What is dropped is lost on this node; Raft gets it back from
// the other nodes only if they still have it (otherwise the channel halts with "lost entries"
// and the channel's data must be removed, see orderer/chain/broken.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { WalError, WalLockedError } from './errors';
import { removeTempFiles } from './fsutil';
import { DirLock } from './lock';
import { planSnapshot, recoverWal, scanWal, type DroppedByRepair } from './recovery';
import { isSegmentTempFileName, listSegments } from './segment';
import { Snapshotter } from './snapshotter';

/** The repair was refused before anything was touched: not a WAL directory, or in use. */
export class WalRepairRefusedError extends WalError {
  constructor(
    readonly dir: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`refusing to repair ${dir}: ${reason}`, options);
  }
}

export interface WalRepairOptions {
  logger: Logger;
  /** Where the channel's snapshot files are (Consensus.SnapDir/<channel>); defaults to `<dir>/snap` like Wal.open. */
  snapDir?: string;
  /** Report what would be dropped and change nothing (not even a stale lock). */
  dryRun?: boolean;
}

export interface WalRepairReport {
  dir: string;
  dryRun: boolean;
  /** Segment files found, oldest first. */
  segments: string[];
  /** Last index of the log before the damage (what survives). */
  lastIndexKept: number;
  /** A torn last write (never acknowledged): cut on every ordinary open as well. */
  tornTail: { file: string; offsetBytes: number; droppedBytes: number; reason: string } | undefined;
  /** The damage only repair cuts, and what cutting it loses; undefined when there is none. */
  damage: (DroppedByRepair & { reason: string }) | undefined;
  /** The hard state's commit index is lowered to the last kept index when it was beyond it. */
  commitLowered: { from: number; to: number } | undefined;
  /** True when a repair changed (or, dry, would change) something. */
  changes: boolean;
}

async function isDirectory(p: string): Promise<boolean> {
  const stat = await fs.promises.stat(p).catch(() => undefined);
  return stat !== undefined && stat.isDirectory();
}

/**
 * Checks, reports and (unless dryRun) repairs the WAL in `dir`. Throws WalRepairRefusedError
 * when `dir` is not a WAL directory or an orderer holds its lock; CorruptionError when the
 * damage is of a kind repair does not cut (e.g. no snapshot the WAL continues from).
 */
export async function repairWal(dir: string, opts: WalRepairOptions): Promise<WalRepairReport> {
  const logger = opts.logger;
  const dryRun = opts.dryRun === true;
  const snapDir = opts.snapDir ?? path.join(dir, 'snap');
  if (!(await isDirectory(dir))) throw new WalRepairRefusedError(dir, 'no such directory');
  const found = await listSegments(dir);
  if (found.length === 0) {
    throw new WalRepairRefusedError(dir, 'it holds no WAL segment files (%016x-%016x.wal); is this the WAL directory of a channel?');
  }

  // Dry: look at the lock, take nothing. Real: hold it for the whole repair, so no orderer can
  // open the WAL half way (a stale lock of a dead orderer is broken, with a warning).
  let lock: DirLock | undefined;
  if (dryRun) {
    const probe = await DirLock.probe(dir);
    if (probe.state === 'held') {
      throw new WalRepairRefusedError(dir, `it is in use by process ${probe.pid} (lock file ${probe.lockPath}); stop that orderer first`);
    }
  } else {
    try {
      lock = await DirLock.acquire(dir, logger);
    } catch (err) {
      if (err instanceof WalLockedError) {
        throw new WalRepairRefusedError(dir, `it is in use by process ${err.holderPid} (lock file ${err.lockPath}); stop that orderer first`, {
          cause: err,
        });
      }
      throw err;
    }
  }
  try {
    const scan = await scanWal(dir);
    if (scan === undefined) throw new WalRepairRefusedError(dir, 'its segment files disappeared while it was being checked');
    const { log, tornTail, fault, dropped } = scan;
    const report: WalRepairReport = {
      dir,
      dryRun,
      segments: scan.segments.map((s) => s.path),
      lastIndexKept: log.lastIndex(),
      tornTail:
        tornTail === undefined
          ? undefined
          : {
              file: scan.segments[tornTail.segmentIndex]!.path,
              offsetBytes: tornTail.offsetBytes,
              droppedBytes: tornTail.droppedBytes,
              reason: tornTail.reason,
            },
      damage: fault === undefined || dropped === undefined ? undefined : { ...dropped, reason: fault.reason },
      commitLowered: log.hardState.commit > log.lastIndex() ? { from: log.hardState.commit, to: log.lastIndex() } : undefined,
      changes: false,
    };
    report.changes = report.tornTail !== undefined || report.damage !== undefined || report.commitLowered !== undefined;
    // Would the repaired log open? (It must continue from a snapshot or start at the beginning.)
    // Decided before anything changes, dry or not: a refused repair touches nothing, and a dry
    // run predicts the refusal instead of promising a repair that would fail.
    await planSnapshot(Snapshotter.readOnly(snapDir, { logger }), log, scan.segments[0]!, logger);
    logger.info(
      {
        dir,
        dryRun,
        lastIndexKept: report.lastIndexKept,
        tornTail: report.tornTail,
        damage: report.damage,
        commitLowered: report.commitLowered,
      },
      report.changes ? (dryRun ? 'WAL repair (dry run): would drop what is listed' : 'WAL repair: dropping what is listed') : 'WAL repair: nothing to repair',
    );
    if (dryRun || !report.changes) return report;

    // The same steps as Wal.open({ repair: true }), under the lock already held.
    const snapshotter = await Snapshotter.open(snapDir, { logger });
    await removeTempFiles(dir, isSegmentTempFileName);
    await recoverWal(dir, snapshotter, { logger, repair: true });
    return report;
  } finally {
    await lock?.release();
  }
}
