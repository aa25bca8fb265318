// `client deliver`: reads blocks over Deliver and prints one line (or JSON object) per block.
import type * as grpc from '@grpc/grpc-js';
import { orderer } from '../protos';
import { deliverBlocks, type DeliveredBlock } from '../orderer/deliver-client';
import type { EnvelopeSigner, SeekStart, SeekStop } from '../orderer/envelopes';

/** A command-line value that does not parse; the CLI prints its message and the usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const HASH_PREFIX_CHARS = 16;

/** Lowercase hex of `bytes` (a view, not a copy). */
function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function parseBlockNumber(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`${what} must be a block number, got ${JSON.stringify(text)}`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new UsageError(`${what} ${text} is too large`);
  return value;
}

export function parseSeekStart(text: string): SeekStart {
  if (text === 'oldest' || text === 'newest') return text;
  return parseBlockNumber(text, '--start');
}

export function parseSeekStop(text: string): SeekStop {
  if (text === 'newest' || text === 'forever') return text;
  return parseBlockNumber(text, '--stop');
}

export interface BlockSummary {
  number: number;
  txCount: number;
  bytes: number;
  dataHash: string;
  previousHash: string;
}

export function summarizeBlock(delivered: DeliveredBlock): BlockSummary {
  const header = delivered.block.header;
  return {
    number: delivered.number,
    txCount: delivered.block.data?.data.length ?? 0,
    bytes: delivered.bytes.length,
    dataHash: header === undefined ? '' : toHex(header.dataHash),
    previousHash: header === undefined ? '' : toHex(header.previousHash),
  };
}

export function formatBlockLine(summary: BlockSummary): string {
  const prefix = (hex: string): string => (hex.length === 0 ? '(none)' : hex.slice(0, HASH_PREFIX_CHARS));
  return [
    `block ${summary.number}`,
    `txs ${summary.txCount}`,
    `bytes ${summary.bytes}`,
    `data_hash ${prefix(summary.dataHash)}`,
    `prev_hash ${prefix(summary.previousHash)}`,
  ].join('  ');
}

export interface DeliverCommandOptions {
  orderer: string;
  channelId: string;
  start: SeekStart;
  stop: SeekStop;
  failIfNotReady: boolean;
  bestEffort: boolean;
  json: boolean;
  tls?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Signs the seek request; unsigned without it. */
  signer?: EnvelopeSigner;
  tlsCertHash?: Uint8Array;
  signal: AbortSignal;
  /** Receives each output line (stdout in the CLI). */
  print: (line: string) => void;
}

/** Streams the blocks and prints them; resolves with how many arrived. Throws DeliverClientError. */
export async function runDeliver(options: DeliverCommandOptions): Promise<number> {
  let received = 0;
  for await (const delivered of deliverBlocks({
    address: options.orderer,
    channelId: options.channelId,
    start: options.start,
    stop: options.stop,
    behavior: options.failIfNotReady ? orderer.SeekInfo_SeekBehavior.FAIL_IF_NOT_READY : orderer.SeekInfo_SeekBehavior.BLOCK_UNTIL_READY,
    errorResponse: options.bestEffort ? orderer.SeekInfo_SeekErrorResponse.BEST_EFFORT : orderer.SeekInfo_SeekErrorResponse.STRICT,
    signal: options.signal,
    tls: options.tls,
    channelOptions: options.channelOptions,
    signer: options.signer,
    tlsCertHash: options.tlsCertHash,
  })) {
    received++;
    const summary = summarizeBlock(delivered);
    options.print(options.json ? JSON.stringify(summary) : formatBlockLine(summary));
  }
  return received;
}
