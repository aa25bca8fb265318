// Client side of AtomicBroadcast: reading blocks over Deliver (as peers, SDKs and other
// orderers do) and sending envelopes over Broadcast. Used by the block puller and the CLI.
//
// Seek envelopes are built by envelopes.ts, signed by an EnvelopeSigner (the client's or the
// orderer's identity; unsigned without one, which only a channel with open Readers serves).
// Dialers take optional TLS credentials (plaintext by default).
import type * as grpc from '@grpc/grpc-js';
import { common, ProtoDecodeError, type orderer } from '../protos';
import {
  dialOrderer,
  openBroadcastCall,
  openDeliverCall,
  parseDeliverResponse,
  type BroadcastClientCall,
  type DialOptions,
} from './atomic-broadcast';
import { buildSeekEnvelope, type EnvelopeSigner, type SeekRequest } from './envelopes';
import { statusName } from './errors';
import { InboundMessages } from './grpc-streams';

// Seek requests used to be built here; callers that import them from this module keep working.
export {
  buildSeekEnvelope,
  seekPosition,
  SEEK_MAX_BLOCK_NUMBER,
  type SeekEnvelopeOptions,
  type SeekRequest,
  type SeekStart,
  type SeekStop,
} from './envelopes';
/** Signs seek envelopes (the signer of any envelope, see envelopes.ts). */
export type SeekEnvelopeSigner = EnvelopeSigner;

export interface DeliveredBlock {
  readonly number: number;
  readonly block: common.Block;
  /** The block's bytes exactly as the orderer sent them (a view into the received message). */
  readonly bytes: Uint8Array;
}

export type DeliverClientErrorReason =
  /** The orderer ended the request with a status other than SUCCESS (see `status`). */
  | 'status'
  /** No message arrived within receiveTimeoutMs. */
  | 'timeout'
  /** gRPC failed: unreachable, reset, refused (see `grpcCode`). */
  | 'transport'
  /** The orderer sent something that is not a valid answer. */
  | 'protocol';

export class DeliverClientError extends Error {
  override readonly name = 'DeliverClientError';

  constructor(
    readonly reason: DeliverClientErrorReason,
    readonly address: string,
    message: string,
    readonly details: { status?: common.Status; grpcCode?: grpc.status; cause?: unknown } = {},
  ) {
    super(`${address}: ${message}`, { cause: details.cause });
  }

  get status(): common.Status | undefined {
    return this.details.status;
  }

  get grpcCode(): grpc.status | undefined {
    return this.details.grpcCode;
  }
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number';
}

export interface DeliverBlocksOptions extends SeekRequest, DialOptions {
  /** "host:port" to dial; ignored when `client` is given. */
  address?: string;
  /** An existing connection to reuse (left open afterwards). */
  client?: grpc.Client;
  /** Aborting ends the iteration quietly and cancels the stream. */
  signal?: AbortSignal;
  signer?: EnvelopeSigner;
  /** ChannelHeader.tls_cert_hash of the seek request, for a client under mutual TLS. */
  tlsCertHash?: Uint8Array;
  /** Longest wait for any one message (block or status); no limit when absent. */
  receiveTimeoutMs?: number;
  /** Responses read ahead of the consumer before gRPC flow control pushes back (default 4). */
  maxBufferedResponses?: number;
}

const noop = (): void => undefined;

/**
 * Streams the blocks of one seek request. Returns after the orderer's SUCCESS status; throws
 * DeliverClientError for any other status, a timeout, a transport or protocol failure. Ending
 * the iteration early (break, signal) cancels the stream.
 */
export async function* deliverBlocks(options: DeliverBlocksOptions): AsyncGenerator<DeliveredBlock, void, undefined> {
  const ownClient = options.client === undefined;
  if (ownClient && options.address === undefined) throw new TypeError('deliverBlocks needs an address or a client');
  const client = options.client ?? dialOrderer(options.address ?? '', options);
  const address = options.address ?? client.getChannel().getTarget();
  const signal = options.signal;
  const call = openDeliverCall(client);
  // Cancelling a call reports CANCELLED as an 'error' event; it must never go unhandled.
  call.on('error', noop);
  const inbound = new InboundMessages<Uint8Array>(call, options.maxBufferedResponses ?? 4);
  const onAbort = (): void => call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  let finished = false;
  // A function, not a narrowed expression: the signal can abort at any await.
  const aborted = (): boolean => signal?.aborted === true;
  try {
    if (aborted()) return;
    call.write(buildSeekEnvelope(options));
    // One request per stream: half-closing tells the orderer to end the stream after it.
    call.end();
    for (;;) {
      let bytes: Uint8Array | undefined;
      try {
        bytes = await receive(inbound, options.receiveTimeoutMs);
      } catch (err) {
        if (aborted()) return;
        if (err === RECEIVE_TIMEOUT) {
          throw new DeliverClientError('timeout', address, `no Deliver response within ${options.receiveTimeoutMs} ms`);
        }
        if (isServiceError(err)) {
          throw new DeliverClientError('transport', address, `Deliver failed: ${err.details || err.message}`, { grpcCode: err.code, cause: err });
        }
        throw new DeliverClientError('transport', address, `Deliver failed: ${String(err)}`, { cause: err });
      }
      if (bytes === undefined) {
        if (aborted()) return;
        throw new DeliverClientError('protocol', address, 'Deliver stream ended without a final status');
      }
      let response: ReturnType<typeof parseDeliverResponse>;
      try {
        response = parseDeliverResponse(bytes);
      } catch (err) {
        if (!(err instanceof ProtoDecodeError)) throw err;
        throw new DeliverClientError('protocol', address, `bad Deliver response: ${err.message}`, { cause: err });
      }
      if (response.kind === 'status') {
        finished = true;
        if (response.status === common.Status.SUCCESS) return;
        throw new DeliverClientError('status', address, `Deliver answered ${statusName(response.status)}`, { status: response.status });
      }
      const header = response.block.header;
      if (header === undefined) throw new DeliverClientError('protocol', address, 'Deliver sent a block without a header');
      yield { number: header.number, block: response.block, bytes: response.blockBytes };
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    inbound.dispose();
    if (!finished) call.cancel();
    if (ownClient) client.close();
  }
}

const RECEIVE_TIMEOUT = Symbol('receive timeout');

async function receive<T>(inbound: InboundMessages<T>, timeoutMs: number | undefined): Promise<T | undefined> {
  if (timeoutMs === undefined) return inbound.next();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      inbound.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(RECEIVE_TIMEOUT), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Broadcast

export class BroadcastClientError extends Error {
  override readonly name = 'BroadcastClientError';
  constructor(
    readonly address: string,
    message: string,
    readonly grpcCode?: grpc.status,
  ) {
    super(`${address}: ${message}`);
  }
}

interface PendingResponse {
  resolve(response: orderer.BroadcastResponse): void;
  reject(err: Error): void;
}

export interface BroadcastClientOptions extends DialOptions {
  /** An existing connection to reuse (left open on close). */
  client?: grpc.Client;
}

/**
 * One Broadcast stream. send() may be called many times without waiting: the orderer answers
 * in order, and each promise settles with its own envelope's answer. After a non-SUCCESS
 * answer the orderer closes the stream; the envelopes still waiting then reject with
 * BroadcastClientError (their fate is unknown), as does every later send().
 */
export class BroadcastClient {
  private readonly pending: PendingResponse[] = [];
  private endedWith: BroadcastClientError | undefined;
  private readonly ownClient: boolean;
  private readonly client: grpc.Client;
  private readonly call: BroadcastClientCall;

  constructor(
    readonly address: string,
    options: BroadcastClientOptions = {},
  ) {
    this.ownClient = options.client === undefined;
    this.client = options.client ?? dialOrderer(address, options);
    this.call = openBroadcastCall(this.client);
    this.call.on('data', (response: orderer.BroadcastResponse) => {
      const waiter = this.pending.shift();
      if (waiter === undefined) {
        this.finish(new BroadcastClientError(address, 'orderer sent an answer nobody asked for'));
        this.call.cancel();
        return;
      }
      waiter.resolve(response);
      if (response.status !== common.Status.SUCCESS) {
        // The orderer closes a Broadcast stream after any rejection (reference §4.1): what was
        // sent behind this envelope will not be answered, and nothing more should be sent.
        this.finish(new BroadcastClientError(address, 'the orderer closed the Broadcast stream after a rejection; this envelope was not answered'));
        this.halfClose();
      }
    });
    this.call.on('error', (err: Error) => {
      const code = isServiceError(err) ? err.code : undefined;
      const details = isServiceError(err) ? err.details || err.message : err.message;
      this.finish(new BroadcastClientError(address, `Broadcast failed: ${details}`, code));
    });
    this.call.on('end', () => this.finish(new BroadcastClientError(address, 'Broadcast stream ended before this envelope was answered')));
    this.call.on('close', () => this.finish(new BroadcastClientError(address, 'Broadcast stream closed before this envelope was answered')));
  }

  /** Envelopes sent and not yet answered. */
  get inflight(): number {
    return this.pending.length;
  }

  get ended(): boolean {
    return this.endedWith !== undefined;
  }

  /** Why the stream ended (grpcCode set for a transport failure, absent when the orderer closed it). */
  get failure(): BroadcastClientError | undefined {
    return this.endedWith;
  }

  send(envelopeBytes: Uint8Array): Promise<orderer.BroadcastResponse> {
    if (this.endedWith !== undefined) return Promise.reject(this.endedWith);
    return new Promise<orderer.BroadcastResponse>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.call.write(envelopeBytes);
    });
  }

  /** Resolves once the stream's write buffer has room (or the stream ended). */
  async writable(): Promise<void> {
    if (this.endedWith !== undefined || !this.call.writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.call.off('drain', done);
        this.call.off('close', done);
        resolve();
      };
      this.call.on('drain', done);
      this.call.on('close', done);
    });
  }

  /** Tells the orderer nothing more will be sent; answers still due keep arriving. */
  halfClose(): void {
    if (!this.call.writableEnded) this.call.end();
  }

  /** Half-closes, waits for the answers still due, then releases the connection. */
  async close(): Promise<void> {
    if (this.endedWith === undefined) {
      const closed = new Promise<void>((resolve) => this.call.once('close', () => resolve()));
      this.halfClose();
      await closed;
    }
    if (this.ownClient) this.client.close();
  }

  /** Abandons the stream at once; unanswered envelopes reject. */
  cancel(): void {
    this.call.cancel();
    this.finish(new BroadcastClientError(this.address, 'Broadcast cancelled'));
    if (this.ownClient) this.client.close();
  }

  private finish(err: BroadcastClientError): void {
    this.endedWith ??= err;
    for (const waiter of this.pending.splice(0)) waiter.reject(this.endedWith);
  }
}

/** Sends `envelopes` on one stream and returns the answers (fewer than sent if the orderer closed the stream early). */
export async function broadcastEnvelopes(
  address: string,
  envelopes: readonly Uint8Array[],
  options: BroadcastClientOptions = {},
): Promise<orderer.BroadcastResponse[]> {
  const stream = new BroadcastClient(address, options);
  const answers = await Promise.allSettled(envelopes.map((envelope) => stream.send(envelope)));
  await stream.close();
  const out: orderer.BroadcastResponse[] = [];
  for (const answer of answers) {
    if (answer.status === 'rejected') break;
    out.push(answer.value);
  }
  return out;
}
