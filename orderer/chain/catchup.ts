// Catching a ledger up to a Raft snapshot: the blocks between the ledger's height and the
// snapshot's block are pulled from the other consenters (Deliver, hash chain verified by
// the puller) and appended, retrying with backoff until they are all in or the chain stops.
import type { Logger } from 'pino';
import type { BlockStore } from '../../ledger/block-store';
import type { BlockPullFn, ChainTimers } from './types';

export interface PullIntoLedgerOptions {
  channelId: string;
  blockStore: BlockStore;
  pullBlocks: BlockPullFn;
  /** "host:port" of the other consenters. */
  endpoints: readonly string[];
  /** Last block number wanted. */
  toNumber: number;
  timers: ChainTimers;
  logger: Logger;
  isHalted(): boolean;
}

const MIN_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;
const PROGRESS_EVERY_BLOCKS = 100;

export async function pullIntoLedger(o: PullIntoLedgerOptions): Promise<void> {
  let backoffMs = MIN_RETRY_MS;
  while (o.blockStore.height() <= o.toNumber) {
    if (o.isHalted()) throw new Error('halted while pulling blocks');
    const ac = new AbortController();
    try {
      for await (const { bytes } of o.pullBlocks({
        channelId: o.channelId,
        fromNumber: o.blockStore.height(),
        toNumber: o.toNumber,
        previousHash: o.blockStore.lastHeaderHash() ?? new Uint8Array(0),
        endpoints: o.endpoints,
        signal: ac.signal,
      })) {
        await o.blockStore.append(bytes);
        const height = o.blockStore.height();
        if (height % PROGRESS_EVERY_BLOCKS === 0 || height > o.toNumber) o.logger.info({ height, target: o.toNumber + 1 }, 'pulled blocks');
        if (height > o.toNumber) break;
      }
      backoffMs = MIN_RETRY_MS;
    } catch (err) {
      o.logger.warn({ err, height: o.blockStore.height(), target: o.toNumber + 1 }, 'block pull failed; retrying');
      await new Promise<void>((resolve) => o.timers.setTimeout(resolve, backoffMs));
      backoffMs = Math.min(backoffMs * 2, MAX_RETRY_MS);
    } finally {
      ac.abort();
    }
  }
}
