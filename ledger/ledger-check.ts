// The deep check of one channel's block store, for an operator command (`orderer ledger check`)
// run while the orderer is stopped: every page of both LMDB files walked with plain reads (the
// open-time check stops after OPEN_CHECK_MAX_TREE_PAGES), then the store opened and every block
// read back and checked against the hash chain and the tx-id index (LmdbBlockStore.verify).
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { CorruptionError } from './errors';
import { checkLmdbDataFile, type LmdbFileReport } from './lmdb-file-check';
import { channelStoreDir, openBlockStore } from './lmdb-block-store';
import { TX_INDEX_DIR } from './tx-index';

export interface LedgerCheckOptions {
  /** Ledger root (FileLedger.Location). */
  dir: string;
  channelId: string;
  logger: Logger;
}

export interface LedgerCheckReport {
  channelId: string;
  blocksFile: LmdbFileReport;
  /**
   * The tx-id index file as found. Damage there is reported here rather than thrown: the index is
   * derived from the blocks, and opening the store for the block check has rebuilt it.
   */
  indexFile: LmdbFileReport | { state: 'damaged'; error: CorruptionError };
  height: number;
  bytesChecked: number;
}

/**
 * Checks the channel's block store completely. Throws CorruptionError (naming the file, the byte
 * offset or block number) at the first damage in the block file or the blocks; BlockStoreError
 * 'locked' while an orderer has the store open. A channel with no store yet is an error too: a
 * check must not create one.
 */
export async function deepCheckBlockStore(options: LedgerCheckOptions): Promise<LedgerCheckReport> {
  const { dir, channelId, logger } = options;
  const location = channelStoreDir(dir, channelId);
  if (!existsSync(location)) throw new Error(`no block store of channel ${channelId} in ${dir} (${location} does not exist)`);
  const log = logger.child({ channel: channelId });
  const startedMs = Date.now();
  const blocksFile = checkLmdbDataFile(location, { readOverflowHeaders: true });
  let indexFile: LedgerCheckReport['indexFile'];
  try {
    indexFile = checkLmdbDataFile(path.join(location, TX_INDEX_DIR), { readOverflowHeaders: true });
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    indexFile = { state: 'damaged', error: err };
    log.warn({ err }, 'the tx-id index is damaged; opening the store rebuilds it from the blocks');
  }
  const store = await openBlockStore({ dir, channelId, logger });
  try {
    const { height, bytesChecked } = await store.verify();
    log.info({ height, bytesChecked, blocksFile, ms: Date.now() - startedMs }, 'block store checked: every page reachable and every block on the hash chain');
    return { channelId, blocksFile, indexFile, height, bytesChecked };
  } finally {
    await store.close();
  }
}
