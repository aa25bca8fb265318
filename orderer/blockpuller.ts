// Pulls a range of a channel's blocks from other orderers over Deliver (reference §4.5, §3.10),
// checking every block before handing it on (§2.7).
//
// Each round probes the endpoints' heights, picks one at random among those that have the next
// wanted block (preferring endpoints that have not failed us yet), and streams from it up to the
// end of the range or that endpoint's tip. A block that fails verification, a receive that takes
// longer than pullTimeoutMs or a broken stream sends us to another endpoint after a backoff;
// maxRetries failed rounds in a row without a verified block end the pull with BlockPullError.
// Blocks are yielded one by one as they verify, so a consumer that commits them as they come
// never holds a whole range in memory; gRPC flow control holds the source back meanwhile.
//
// Orderer signatures are checked by the verifyBlock hook (the node passes the channel's
// BlockValidation check, orderer/policies/block-signatures.ts PulledBlockVerifier).
import type { BlockPullRequest } from './chain/types';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Backoff } from '../cluster/backoff';
import { blockDataHash, blockHeaderHash } from '../ledger/block';
import { bytesEqual, toHex } from '../ledger/hash';
import { common, orderer } from '../protos';
import { statusName } from './errors';
import { deliverBlocks, DeliverClientError, type DeliveredBlock, type SeekEnvelopeSigner } from './deliver-client';
import { dialOrderer, type DialOptions } from './atomic-broadcast';

/** Fabric's ReplicationPullTimeout default. */
export const DEFAULT_PULL_TIMEOUT_MS = 5_000;
export const DEFAULT_RETRY_MIN_DELAY_MS = 100;
/** Fabric's ReplicationRetryTimeout default, as the longest wait between rounds. */
export const DEFAULT_RETRY_MAX_DELAY_MS = 5_000;
export const DEFAULT_MAX_RETRIES = 10;

export interface BlockPullerOptions extends DialOptions {
  channelId: string;
  /** Orderer Deliver endpoints, "host:port". */
  endpoints: readonly string[];
  logger: Logger;
  signer?: SeekEnvelopeSigner;
  /**
   * SHA-256 of the TLS client certificate the puller presents, put in every seek request: an
   * orderer requiring client certificates checks it (Deliver's TLS binding, reference §2.6, §4.3).
   */
  tlsCertHash?: Uint8Array;
  /** Longest wait for any one response, probes included. */
  pullTimeoutMs?: number;
  retryMinDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Failed rounds in a row (no verified block in between) before giving up. */
  maxRetries?: number;
  /**
   * Extra check of each block after the hash chain checks, e.g. orderer signatures against
   * the channel's BlockValidation policy. Throwing rejects the block and its source.
   */
  verifyBlock?: (block: common.Block, bytes: Uint8Array) => void | Promise<void>;
  /** Told about every source that failed, with why (tests, metrics). */
  onSourceFailed?: (endpoint: string, err: Error) => void;
  /** Uniform in [0, 1): picks among eligible endpoints (and jitters backoff). */
  random?: () => number;
}

export interface PullRange {
  fromNumber: number;
  /** Inclusive. */
  toNumber: number;
  /** hash(header) of block fromNumber-1; empty when fromNumber is 0. */
  previousHash: Uint8Array;
  signal?: AbortSignal;
}

export interface PulledBlock {
  readonly number: number;
  readonly block: common.Block;
  /** The block's bytes as the source sent them. */
  readonly bytes: Uint8Array;
  /** Endpoint that served it. */
  readonly source: string;
}

export type BlockVerificationFailure = 'malformed' | 'number' | 'data-hash' | 'previous-hash' | 'rejected';

/** A block a source sent that is not the block that belongs at its place in the chain. */
export class BlockVerificationError extends Error {
  override readonly name = 'BlockVerificationError';
  constructor(
    readonly reason: BlockVerificationFailure,
    readonly blockNumber: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`block ${blockNumber}: ${message}`, options);
  }
}

export interface SourceFailure {
  readonly endpoint: string;
  readonly error: Error;
}

export class BlockPullError extends Error {
  override readonly name = 'BlockPullError';
  constructor(
    /** 'no-source': retries exhausted; 'aborted': the caller's signal. */
    readonly reason: 'no-source' | 'aborted',
    /** The first block that was not pulled. */
    readonly nextNumber: number,
    /** The most recent failures, newest last. */
    readonly failures: readonly SourceFailure[],
    message: string,
  ) {
    super(message);
  }
}

/** Checks one block against its expected place: number, previous_hash, data_hash, shape (§2.7, §4.5). */
export function verifyPulledBlock(block: common.Block, expectedNumber: number, previousHash: Uint8Array): void {
  const header = block.header;
  if (header === undefined) throw new BlockVerificationError('malformed', expectedNumber, 'has no header');
  if (header.number !== expectedNumber) {
    throw new BlockVerificationError('number', expectedNumber, `source sent block ${header.number} instead`);
  }
  if (block.data === undefined) throw new BlockVerificationError('malformed', expectedNumber, 'has no data');
  if (block.metadata === undefined || block.metadata.metadata.length === 0) {
    throw new BlockVerificationError('malformed', expectedNumber, 'has no metadata');
  }
  // Every block after the genesis block carries at least one envelope (Fabric's puller agrees).
  if (expectedNumber > 0 && block.data.data.length === 0) {
    throw new BlockVerificationError('malformed', expectedNumber, 'carries no envelopes');
  }
  const dataHash = blockDataHash(block.data.data);
  if (!bytesEqual(dataHash, header.dataHash)) {
    throw new BlockVerificationError('data-hash', expectedNumber, `data hashes to ${toHex(dataHash)}, header says ${toHex(header.dataHash)}`);
  }
  if (!bytesEqual(header.previousHash, previousHash)) {
    throw new BlockVerificationError(
      'previous-hash',
      expectedNumber,
      `previous_hash ${toHex(header.previousHash) || '(empty)'} does not match block ${expectedNumber - 1} (${toHex(previousHash) || '(empty)'})`,
    );
  }
}

const MAX_REMEMBERED_FAILURES = 16;

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

function describe(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export class BlockPuller {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly pullTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly random: () => number;
  private closed = false;

  constructor(private readonly options: BlockPullerOptions) {
    if (options.endpoints.length === 0) throw new RangeError('BlockPuller needs at least one endpoint');
    this.pullTimeoutMs = options.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS;
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.random = options.random ?? Math.random;
  }

  /** Closes the connections; a pull in progress fails over to nothing and ends. */
  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client(endpoint: string): grpc.Client {
    let client = this.clients.get(endpoint);
    if (client === undefined) {
      client = dialOrderer(endpoint, this.options);
      this.clients.set(endpoint, client);
    }
    return client;
  }

  /** Height (last block number + 1) of one endpoint, from the first block of {newest, forever}. */
  async probeHeight(endpoint: string, signal?: AbortSignal): Promise<number> {
    const blocks = deliverBlocks({
      client: this.client(endpoint),
      address: endpoint,
      channelId: this.options.channelId,
      start: 'newest',
      stop: 'forever',
      behavior: orderer.SeekInfo_SeekBehavior.BLOCK_UNTIL_READY,
      errorResponse: orderer.SeekInfo_SeekErrorResponse.BEST_EFFORT,
      receiveTimeoutMs: this.pullTimeoutMs,
      signer: this.options.signer,
      ...(this.options.tlsCertHash !== undefined ? { tlsCertHash: this.options.tlsCertHash } : {}),
      signal,
    });
    for await (const block of blocks) return block.number + 1; // leaving the loop cancels the stream
    throw new DeliverClientError('protocol', endpoint, 'height probe ended without a block');
  }

  /** Heights of all endpoints, probed in parallel; an Error for those that could not say. */
  async probeHeights(signal?: AbortSignal): Promise<Map<string, number | Error>> {
    const entries = await Promise.all(
      this.options.endpoints.map(async (endpoint): Promise<[string, number | Error]> => {
        try {
          return [endpoint, await this.probeHeight(endpoint, signal)];
        } catch (err) {
          return [endpoint, describe(err)];
        }
      }),
    );
    return new Map(entries);
  }

  /** Yields blocks fromNumber..toNumber in order, each verified against the one before. */
  async *pull(range: PullRange): AsyncGenerator<PulledBlock, void, undefined> {
    const { fromNumber, toNumber, signal } = range;
    if (!Number.isSafeInteger(fromNumber) || fromNumber < 0 || !Number.isSafeInteger(toNumber)) {
      throw new RangeError(`bad block range ${fromNumber}..${toNumber}`);
    }
    const logger = this.options.logger.child({ channel: this.options.channelId });
    const backoff = new Backoff({
      minDelayMs: this.options.retryMinDelayMs ?? DEFAULT_RETRY_MIN_DELAY_MS,
      maxDelayMs: this.options.retryMaxDelayMs ?? DEFAULT_RETRY_MAX_DELAY_MS,
      random: this.random,
    });
    const failures: SourceFailure[] = [];
    /** Endpoints that failed during this pull: used again only when nobody else has the block. */
    const suspects = new Set<string>();
    let next = fromNumber;
    let previousHash = range.previousHash;
    let failedRounds = 0;

    const fail = async (endpoint: string, err: Error): Promise<void> => {
      failures.push({ endpoint, error: err });
      if (failures.length > MAX_REMEMBERED_FAILURES) failures.shift();
      this.options.onSourceFailed?.(endpoint, err);
      failedRounds++;
      if (failedRounds > this.maxRetries) {
        throw new BlockPullError(
          'no-source',
          next,
          [...failures],
          `cannot pull block ${next} of channel ${this.options.channelId}: ${failedRounds} attempts failed, the last at ${endpoint}: ${err.message}`,
        );
      }
      const delayMs = backoff.nextDelayMs();
      logger.warn({ endpoint, block: next, err: err.message, retryInMs: delayMs }, 'block pull failed; trying another source');
      await sleep(delayMs, signal);
    };
    const checkAborted = (): void => {
      if (signal?.aborted === true || this.closed) {
        throw new BlockPullError('aborted', next, [...failures], `pulling blocks of channel ${this.options.channelId} was stopped at block ${next}`);
      }
    };

    while (next <= toNumber) {
      checkAborted();
      const heights = await this.probeHeights(signal);
      checkAborted();
      const candidates = this.options.endpoints.filter((endpoint) => {
        const height = heights.get(endpoint);
        return typeof height === 'number' && height > next;
      });
      const trusted = candidates.filter((endpoint) => !suspects.has(endpoint));
      const pool = trusted.length > 0 ? trusted : candidates;
      if (pool.length === 0) {
        const reasons = [...heights].map(([endpoint, h]) => `${endpoint}: ${typeof h === 'number' ? `height ${h}` : h.message}`);
        await fail('(all endpoints)', new Error(`no endpoint has block ${next} (${reasons.join('; ')})`));
        continue;
      }
      const endpoint = pool[Math.min(pool.length - 1, Math.floor(this.random() * pool.length))] as string;
      const stopNumber = Math.min(toNumber, (heights.get(endpoint) as number) - 1);
      logger.debug({ endpoint, from: next, to: stopNumber }, 'pulling blocks');
      try {
        const blocks = deliverBlocks({
          client: this.client(endpoint),
          address: endpoint,
          channelId: this.options.channelId,
          start: next,
          stop: stopNumber,
          behavior: orderer.SeekInfo_SeekBehavior.BLOCK_UNTIL_READY,
          errorResponse: orderer.SeekInfo_SeekErrorResponse.BEST_EFFORT,
          receiveTimeoutMs: this.pullTimeoutMs,
          signer: this.options.signer,
          ...(this.options.tlsCertHash !== undefined ? { tlsCertHash: this.options.tlsCertHash } : {}),
          signal,
        });
        for await (const delivered of blocks) {
          await this.verify(delivered, next, previousHash);
          previousHash = blockHeaderHash(delivered.block.header as common.BlockHeader);
          next++;
          failedRounds = 0;
          backoff.reset();
          yield { number: delivered.number, block: delivered.block, bytes: delivered.bytes, source: endpoint };
        }
        // A source that stops short of what it promised (SUCCESS too early) is a failed round too.
        if (next <= stopNumber) throw new Error(`stream ended at block ${next - 1}, before block ${stopNumber}`);
      } catch (err) {
        checkAborted();
        if (err instanceof DeliverClientError && err.reason === 'status') {
          // FORBIDDEN and SERVICE_UNAVAILABLE may pass; anything else marks the source faulty
          // (§4.5). Either way we go elsewhere for now.
          logger.debug({ endpoint, status: statusName(err.status ?? 0) }, 'source refused the pull');
        }
        suspects.add(endpoint);
        await fail(endpoint, describe(err));
      }
    }
  }

  private async verify(delivered: DeliveredBlock, expectedNumber: number, previousHash: Uint8Array): Promise<void> {
    verifyPulledBlock(delivered.block, expectedNumber, previousHash);
    const hook = this.options.verifyBlock;
    if (hook === undefined) return;
    try {
      await hook(delivered.block, delivered.bytes);
    } catch (err) {
      throw new BlockVerificationError('rejected', expectedNumber, describe(err).message, { cause: err });
    }
  }
}

/** Pulls one range with a puller of its own, closing its connections afterwards. */
export async function* pullBlocks(options: BlockPullerOptions & PullRange): AsyncGenerator<PulledBlock, void, undefined> {
  const puller = new BlockPuller(options);
  try {
    yield* puller.pull(options);
  } finally {
    puller.close();
  }
}

export type { BlockPullRequest };

/** A block-pull function with fixed settings, in the shape the chain's catch-up takes. */
export function blockPullFn(
  settings: Omit<BlockPullerOptions, 'channelId' | 'endpoints'>,
): (request: BlockPullRequest) => AsyncIterable<PulledBlock> {
  return (request) => pullBlocks({ ...settings, ...request });
}
