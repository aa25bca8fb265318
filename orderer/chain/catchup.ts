// Catching a ledger up to a Raft snapshot, beside the Ready loop: the blocks between the
// ledger's height and the snapshot's block are pulled from the other consenters (Deliver, hash
// chain verified by the puller) and appended, retrying with backoff on the chain's timers until
// they are all in or the chain stops. The loop goes on ticking, stepping messages, persisting
// and advancing meanwhile (a node that stalls its loop for a pull misses heartbeats and
// elections); apply.ts appends the snapshot's own block and what was committed meanwhile once
// this says the blocks are in. One pull at a time: a later snapshot moves the target of the
// running pull instead of starting another.
import type { Logger } from 'pino';
import type { BlockStore } from '../../ledger/block-store';
import { readConsenterMetadata, readLastConfigIndex, writeCommitMetadata, type MetadataSigner } from '../../ledger/metadata';
import { common, encodeBlockBytes } from '../../protos';
import { configEnvelopeOfBlock } from './channel-config';
import type { BlockNumber } from './ids';
import type { BlockPullFn, ChainTimers } from './types';

/** A pulled config block could not be applied or written: fatal, never retried. */
class ConfigBlockApplyError extends Error {
  override readonly name = 'ConfigBlockApplyError';
  constructor(override readonly cause: unknown) {
    super(`a pulled config block could not be applied: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/** The chain stopped (halt, crash, removal) while pulling: not a failure, nothing to report. */
export class CatchUpAbortedError extends Error {
  override readonly name: string = 'CatchUpAbortedError';
}

export interface BackgroundPullOptions {
  channelId: string;
  blockStore: BlockStore;
  pullBlocks: BlockPullFn;
  /** Deliver endpoints ("host:port") to pull from, asked at each attempt (the config may have moved). */
  endpoints(): readonly string[];
  /**
   * Signs each pulled block as this node before it is written (SIGNATURES metadata, keeping the
   * block's last config and Raft metadata): every block in a ledger carries the signature of the
   * orderer that wrote it, as Fabric's catch-up writes them. Unsigned (as pulled) without.
   */
  signer?: MetadataSigner;
  timers: ChainTimers;
  logger: Logger;
  /** A pulled config block is in the ledger: the channel's config follows it (reference §3.10). */
  onConfigBlock?(block: common.Block): void;
  /** Every block before the target is in. Called outside the Ready loop: the owner kicks it. */
  onPulled(): void;
  /** A failure retrying cannot mend (not a failed pull: those are retried): the owner halts. */
  onError(err: unknown): void;
}

const MIN_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;
const PROGRESS_EVERY_BLOCKS = 100;

/** Pulls blocks [height, untilNumber) in the background; `extend` moves untilNumber ahead. */
export class BackgroundPull {
  private untilValue: BlockNumber;
  private task: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly o: BackgroundPullOptions,
    untilNumber: BlockNumber,
  ) {
    this.untilValue = untilNumber;
    this.ensureRunning();
  }

  /** The first block number not wanted from the pull (the snapshot's own block). */
  get untilNumber(): BlockNumber {
    return this.untilValue;
  }

  /** True while an attempt or its backoff is under way. */
  get running(): boolean {
    return this.task !== undefined;
  }

  /** Every block before untilNumber is in the ledger and nothing is pulling. */
  get done(): boolean {
    return this.task === undefined && this.o.blockStore.height() >= this.untilValue;
  }

  /** A later snapshot: pull further, in the running pull if there is one. */
  extend(untilNumber: BlockNumber): void {
    if (untilNumber <= this.untilValue) return;
    this.untilValue = untilNumber;
    this.ensureRunning();
  }

  /**
   * Stops pulling: a backoff wait and a pending read end at once (an append under way is let
   * finish, so the ledger is never closed under it). Settles once the pull is out.
   */
  stop(): Promise<void> {
    this.abort.abort();
    return this.task ?? Promise.resolve();
  }

  private ensureRunning(): void {
    if (this.task !== undefined || this.abort.signal.aborted || this.o.blockStore.height() >= this.untilValue) return;
    const o = this.o;
    this.task = pullIntoLedger({
      channelId: o.channelId,
      blockStore: o.blockStore,
      pullBlocks: o.pullBlocks,
      endpoints: o.endpoints,
      ...(o.signer !== undefined ? { signer: o.signer } : {}),
      ...(o.onConfigBlock !== undefined ? { onConfigBlock: o.onConfigBlock } : {}),
      lastWanted: () => this.untilValue - 1,
      timers: o.timers,
      logger: o.logger,
      signal: this.abort.signal,
    }).then(
      () => {
        this.task = undefined;
        // The target may have moved between the pull's last look at it and this reaction.
        this.ensureRunning();
        if (this.task === undefined) this.o.onPulled();
      },
      (err: unknown) => {
        this.task = undefined;
        if (!(err instanceof CatchUpAbortedError)) this.o.onError(err);
      },
    );
  }
}

interface PullIntoLedgerOptions {
  channelId: string;
  blockStore: BlockStore;
  pullBlocks: BlockPullFn;
  endpoints(): readonly string[];
  signer?: MetadataSigner;
  onConfigBlock?(block: common.Block): void;
  /** Last block number wanted, asked again after every attempt (it may move ahead). */
  lastWanted(): number;
  timers: ChainTimers;
  logger: Logger;
  signal: AbortSignal;
}

/** Pulls until the ledger holds lastWanted(); rejects with CatchUpAbortedError once the signal aborts. */
async function pullIntoLedger(o: PullIntoLedgerOptions): Promise<void> {
  let backoffMs = MIN_RETRY_MS;
  while (o.blockStore.height() <= o.lastWanted()) {
    if (o.signal.aborted) throw new CatchUpAbortedError('the chain stopped while pulling blocks');
    const heightBefore = o.blockStore.height();
    let failure: unknown;
    try {
      await pullOnce(o);
    } catch (err) {
      // A config block that could not be applied is not a failed pull: retrying would go on past
      // it with the old config. The chain halts instead (the owner's onError).
      if (err instanceof ConfigBlockApplyError) throw err.cause;
      failure = err;
    }
    if (o.signal.aborted) throw new CatchUpAbortedError('the chain stopped while pulling blocks');
    const height = o.blockStore.height();
    if (height > heightBefore) backoffMs = MIN_RETRY_MS;
    // A stream that ended early without an error is retried after the backoff too: retried at
    // once, a source that keeps answering nothing would spin this task without a pause.
    if (failure === undefined && height > heightBefore) continue;
    const target = o.lastWanted() + 1;
    if (failure !== undefined) o.logger.warn({ err: failure, height, target, retryInMs: backoffMs }, 'block pull failed; retrying');
    else o.logger.warn({ height, target, retryInMs: backoffMs }, 'block pull ended without new blocks; retrying');
    await abortableDelay(o.timers, backoffMs, o.signal);
    backoffMs = Math.min(backoffMs * 2, MAX_RETRY_MS);
  }
}

/** One Deliver stream from the ledger's height to lastWanted(), each block appended as it comes. */
async function pullOnce(o: PullIntoLedgerOptions): Promise<void> {
  const toNumber = o.lastWanted();
  const attempt = new AbortController();
  const blocks = o
    .pullBlocks({
      channelId: o.channelId,
      fromNumber: o.blockStore.height(),
      toNumber,
      previousHash: o.blockStore.lastHeaderHash() ?? new Uint8Array(0),
      endpoints: o.endpoints(),
      signal: attempt.signal,
    })
    [Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await untilAborted(blocks.next(), o.signal);
      if (next.done === true) return;
      if (o.onConfigBlock !== undefined && configEnvelopeOfBlock(next.value.block) !== undefined) {
        // The config applies with its block, as on the Raft path: first the config (a block that
        // cannot be applied halts the chain), then the block, whose append must not fail either
        // (pulled again, the block would meet a config that already moved past it).
        try {
          o.onConfigBlock(next.value.block);
          await o.blockStore.append(o.signer !== undefined ? resigned(next.value.block, o.signer) : next.value.bytes);
        } catch (err) {
          throw new ConfigBlockApplyError(err);
        }
      } else {
        await o.blockStore.append(o.signer !== undefined ? resigned(next.value.block, o.signer) : next.value.bytes);
      }
      const height = o.blockStore.height();
      if (height % PROGRESS_EVERY_BLOCKS === 0 || height > toNumber) o.logger.info({ height, target: toNumber + 1 }, 'pulled blocks');
      if (height > toNumber) return;
    }
  } finally {
    attempt.abort();
    // Not awaited: a puller stuck in a read would hold the halt for as long as it is stuck.
    void blocks.return?.().catch(() => undefined);
  }
}

/** `p`, or CatchUpAbortedError as soon as the signal aborts (a read that never ends must not hold a halt). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new CatchUpAbortedError('the chain stopped while pulling blocks'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Waits `ms` on the chain's timers (the simulator's clock in the simulator), or until the signal aborts. */
function abortableDelay(timers: ChainTimers, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(new CatchUpAbortedError('the chain stopped while pulling blocks'));
      return;
    }
    const onAbort = (): void => {
      cancel();
      reject(new CatchUpAbortedError('the chain stopped while pulling blocks'));
    };
    const cancel = timers.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The pulled block (already verified against BlockValidation) signed by this node instead of its source. */
function resigned(block: common.Block, signer: MetadataSigner): Uint8Array {
  const consenterMetadata = readConsenterMetadata(block);
  writeCommitMetadata(block, { lastConfigIndex: readLastConfigIndex(block), ...(consenterMetadata !== undefined ? { consenterMetadata } : {}), signer });
  return encodeBlockBytes(block, { withFrameRoom: true });
}
