// Onboarding (reference §3.12): a node joining a channel with a config block after its genesis
// first fills its ledger with the blocks before that block, pulled from the channel's orderers,
// then appends the join block itself and only then runs the channel as a Raft member. The join
// block comes from the operator and anchors everything pulled: the puller checks the hash chain
// from block 0 forward, and the last pulled block must be the one the join block names as its
// predecessor. The blocks go in as their writers signed them (Fabric appends them unchanged).
import type { Logger } from 'pino';
import type { BlockStore } from '../../ledger/block-store';
import { bytesEqual } from '../../ledger/hash';
import { blockHeaderHash } from '../../ledger/block';
import { common } from '../../protos';
import type { BlockPullFn } from './types';

export interface OnboardOptions {
  channelId: string;
  /** The channel's ledger: empty, or holding the start of the chain from an earlier attempt. */
  blockStore: BlockStore;
  joinBlock: common.Block;
  pullBlocks: BlockPullFn;
  /** Deliver endpoints of the channel's orderers (from the join block's config). */
  endpoints: readonly string[];
  signal: AbortSignal;
  logger: Logger;
  /** Told the ledger height after each block. */
  onProgress?(height: number): void;
}

/** Thrown when what was pulled does not lead to the join block, or the ledger already went past it. */
export class OnboardingError extends Error {
  override readonly name = 'OnboardingError';
}

const PROGRESS_EVERY_BLOCKS = 100;

/** Fills the ledger up to and including the join block. Safe to run again after an interruption. */
export async function onboardLedger(o: OnboardOptions): Promise<void> {
  const joinNumber = o.joinBlock.header?.number ?? 0;
  const store = o.blockStore;
  const joinHash = blockHeaderHash(o.joinBlock.header ?? { number: joinNumber, previousHash: new Uint8Array(0), dataHash: new Uint8Array(0) });
  // Interrupted after the join block went in (before the node recorded it was done): done.
  if (store.height() === joinNumber + 1 && bytesEqual(store.lastHeaderHash() ?? new Uint8Array(0), joinHash)) return;
  if (store.height() > joinNumber) throw new OnboardingError(`the ledger of ${o.channelId} is already at height ${store.height()}, past the join block ${joinNumber}`);
  if (store.height() < joinNumber) {
    const blocks = o.pullBlocks({
      channelId: o.channelId,
      fromNumber: store.height(),
      toNumber: joinNumber - 1,
      previousHash: store.lastHeaderHash() ?? new Uint8Array(0),
      endpoints: o.endpoints,
      signal: o.signal,
    });
    for await (const b of blocks) {
      if (o.signal.aborted) throw new OnboardingError('onboarding aborted');
      await store.append(b.bytes);
      o.onProgress?.(store.height());
      if (store.height() % PROGRESS_EVERY_BLOCKS === 0) o.logger.info({ channel: o.channelId, height: store.height(), target: joinNumber }, 'onboarding: pulled blocks');
      if (store.height() >= joinNumber) break;
    }
  }
  if (store.height() !== joinNumber) throw new OnboardingError(`pulled up to height ${store.height()}, expected ${joinNumber}`);
  const lastHash = store.lastHeaderHash() ?? new Uint8Array(0);
  if (!bytesEqual(lastHash, o.joinBlock.header?.previousHash ?? new Uint8Array(0))) {
    throw new OnboardingError(`the pulled block ${joinNumber - 1} does not chain to the join block ${joinNumber} (its hash is not the join block's previous_hash)`);
  }
  await store.append(common.Block.encode(o.joinBlock));
  o.onProgress?.(store.height());
}
