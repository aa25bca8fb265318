// The AtomicBroadcast service (Broadcast, Deliver) declared by hand for grpc-js, plus the
// stream plumbing both sides share.
//
// Requests travel as raw bytes in both directions through gRPC: the server needs an
// envelope's exact bytes anyway (they go into blocks unchanged), and Deliver sends blocks as
// the bytes the ledger stored, framed as a DeliverResponse without decoding and re-encoding
// them. Typed codecs run at the edges; Buffers handed to grpc-js are views, never copies.
import * as grpc from '@grpc/grpc-js';
import type { Readable, Writable } from 'node:stream';
import { asBuffer, passThrough, rawBidiStreamMethod } from '../cluster/service';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../cluster/types';
import { common, orderer, ProtoDecodeError } from '../protos';
import { Reader, delimitedEnd, skipUnknown } from '../protos/runtime';
import type { Logger } from 'pino';
// broadcast.ts and deliver.ts import this module's stream helpers in turn. The cycle is safe in
// CommonJS because neither side uses the other's exports while the modules load, only inside
// functions that run later.
import { handleBroadcast, type BroadcastOptions } from './broadcast';
import { DeliverService, type DeliverServiceOptions } from './deliver';
import type { ChainRegistry } from './types';
import { BLOCK_RECEIVER_CHANNEL_OPTIONS, widenServerWindows } from '../cluster/http2-window';

export { asBuffer, DEFAULT_MAX_MESSAGE_BYTES };

export const ATOMIC_BROADCAST_SERVICE_NAME = 'orderer.AtomicBroadcast';
export const BROADCAST_PATH = `/${ATOMIC_BROADCAST_SERVICE_NAME}/Broadcast`;
export const DELIVER_PATH = `/${ATOMIC_BROADCAST_SERVICE_NAME}/Deliver`;

/** Server side of Broadcast: marshaled common.Envelope in, BroadcastResponse out. */
export type BroadcastCall = grpc.ServerDuplexStream<Uint8Array, orderer.BroadcastResponseInit>;
/** Server side of Deliver: marshaled common.Envelope in, marshaled DeliverResponse out. */
export type DeliverCall = grpc.ServerDuplexStream<Uint8Array, Uint8Array>;

/** Client side of Broadcast: marshaled envelopes out, decoded responses in. */
export type BroadcastClientCall = grpc.ClientDuplexStream<Uint8Array, orderer.BroadcastResponse>;
/** Client side of Deliver: marshaled envelopes out, marshaled DeliverResponses in (see parseDeliverResponse). */
export type DeliverClientCall = grpc.ClientDuplexStream<Uint8Array, Uint8Array>;

const encodeBroadcastResponse = (response: orderer.BroadcastResponseInit): Buffer =>
  asBuffer(orderer.BroadcastResponse.encode(response));
// grpc-js reports a throwing deserializer as an INTERNAL status on the call, which is what a
// malformed response from the orderer is.
const decodeBroadcastResponse = (bytes: Buffer): orderer.BroadcastResponse => orderer.BroadcastResponse.decode(bytes);

export const broadcastMethod: grpc.MethodDefinition<Uint8Array, orderer.BroadcastResponseInit> = {
  path: BROADCAST_PATH,
  requestStream: true,
  responseStream: true,
  requestSerialize: asBuffer,
  requestDeserialize: passThrough,
  responseSerialize: encodeBroadcastResponse,
  // Only the server uses this definition; clients go through openBroadcastCall.
  responseDeserialize: decodeBroadcastResponse,
  originalName: 'broadcast',
};

export const deliverMethod = rawBidiStreamMethod(DELIVER_PATH, 'deliver');

export const atomicBroadcastServiceDefinition: grpc.ServiceDefinition = {
  Broadcast: broadcastMethod,
  Deliver: deliverMethod,
};

export interface AtomicBroadcastHandlers {
  broadcast(call: BroadcastCall): Promise<void>;
  deliver(call: DeliverCall): Promise<void>;
}

/** Ends a call with a gRPC error status (for failures outside the protocol's own statuses). */
export function failCall(call: grpc.ServerDuplexStream<Uint8Array, unknown>, code: grpc.status, details: string): void {
  if (call.destroyed) return;
  const error: Partial<grpc.StatusObject> = { code, details };
  // grpc-js turns an 'error' event on a server stream into the call's final status.
  call.emit('error', error);
}

/** Registers AtomicBroadcast on `server`. The handlers are expected not to reject; if one does, the call ends INTERNAL. */
export function addAtomicBroadcastService(server: grpc.Server, handlers: AtomicBroadcastHandlers): void {
  const guard =
    <Res>(handle: (call: grpc.ServerDuplexStream<Uint8Array, Res>) => Promise<void>) =>
    (call: grpc.ServerDuplexStream<Uint8Array, Res>): void => {
      handle(call).catch((err: unknown) => {
        failCall(call, grpc.status.INTERNAL, `internal error: ${err instanceof Error ? err.message : String(err)}`);
      });
    };
  server.addService(atomicBroadcastServiceDefinition, {
    Broadcast: guard<orderer.BroadcastResponseInit>((call) => handlers.broadcast(call)),
    Deliver: guard<Uint8Array>((call) => handlers.deliver(call)),
  });
}

export interface AtomicBroadcastServiceOptions {
  broadcast?: BroadcastOptions;
  deliver?: Omit<DeliverServiceOptions, 'registry' | 'logger'>;
}

/**
 * Serves Broadcast and Deliver for the channels of `registry` on `server`. Returns the Deliver
 * service (stream counts; close() ends its streams on shutdown).
 */
export function registerAtomicBroadcast(
  server: grpc.Server,
  registry: ChainRegistry,
  logger: Logger,
  options: AtomicBroadcastServiceOptions = {},
): DeliverService {
  const deliver = new DeliverService({ registry, logger, ...options.deliver });
  addAtomicBroadcastService(server, {
    broadcast: (call) => handleBroadcast(call, registry, logger, options.broadcast),
    deliver: (call) => deliver.handle(call),
  });
  return deliver;
}

/** Server options with Fabric's default message size limits (General.MaxRecvMsgSize/MaxSendMsgSize). */
export function atomicBroadcastServerOptions(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
  };
}

/** Binds `server` to host:port (port 0 picks a free one) and resolves with the port. */
export function bindServer(server: grpc.Server, address: string, credentials?: grpc.ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials ?? grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err !== null) {
        reject(new Error(`cannot listen on ${address}: ${err.message}`, { cause: err }));
        return;
      }
      widenServerWindows(server);
      resolve(port);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Client side

export interface DialOptions {
  /** Channel credentials; plaintext when absent (TLS comes with its own issue). */
  tls?: grpc.ChannelCredentials;
  /** Largest message accepted or sent; Fabric's 100 MiB default, since a block can be that large. */
  maxMessageBytes?: number;
  channelOptions?: grpc.ChannelOptions;
}

/** A gRPC client for one orderer address ("host:port"). close() it when done. */
export function dialOrderer(address: string, options: DialOptions = {}): grpc.Client {
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  return new grpc.Client(address, options.tls ?? grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    ...BLOCK_RECEIVER_CHANNEL_OPTIONS,
    ...options.channelOptions,
  });
}

export function openBroadcastCall(client: grpc.Client, options: grpc.CallOptions = {}): BroadcastClientCall {
  return client.makeBidiStreamRequest(BROADCAST_PATH, asBuffer, decodeBroadcastResponse, new grpc.Metadata(), options);
}

export function openDeliverCall(client: grpc.Client, options: grpc.CallOptions = {}): DeliverClientCall {
  return client.makeBidiStreamRequest(DELIVER_PATH, asBuffer, passThrough, new grpc.Metadata(), options);
}

// ---------------------------------------------------------------------------------------------
// DeliverResponse framing

/** DeliverResponse field 2 (block), wire type 2 (length-delimited). */
const DELIVER_RESPONSE_BLOCK_TAG = (2 << 3) | 2;

function varintBytes(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) n++;
  return n;
}

/**
 * DeliverResponse{block} around already-marshaled block bytes: tag, length, the bytes. The
 * block is not decoded or re-encoded, so a client receives exactly what the ledger holds.
 */
export function encodeDeliverBlockResponse(blockBytes: Uint8Array): Buffer {
  const length = blockBytes.length;
  const headerBytes = 1 + varintBytes(length);
  const out = Buffer.allocUnsafe(headerBytes + length);
  out[0] = DELIVER_RESPONSE_BLOCK_TAG;
  let at = 1;
  let v = length;
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[at] = v;
  out.set(blockBytes, headerBytes);
  return out;
}

export function encodeDeliverStatusResponse(status: common.Status): Buffer {
  return asBuffer(orderer.DeliverResponse.encode({ status }));
}

export type ParsedDeliverResponse =
  | { readonly kind: 'status'; readonly status: common.Status }
  /** blockBytes is a view into the response bytes: the block exactly as the orderer sent it. */
  | { readonly kind: 'block'; readonly block: common.Block; readonly blockBytes: Uint8Array };

/**
 * Reads a marshaled DeliverResponse, keeping the block's own bytes (for hashing, storing or
 * comparing) next to its decoded form. Throws ProtoDecodeError for bytes that are not a
 * DeliverResponse or that set neither member of its oneof.
 */
export function parseDeliverResponse(bytes: Uint8Array): ParsedDeliverResponse {
  const typeName = 'orderer.DeliverResponse';
  let status: common.Status | undefined;
  let blockBytes: Uint8Array | undefined;
  try {
    const r = Reader.create(bytes);
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      const wireType = tag & 7;
      // A oneof keeps whichever member came last, like every protobuf decoder.
      if (field === 1 && wireType === 0) {
        status = r.int32() as common.Status;
        blockBytes = undefined;
      } else if (field === 2 && wireType === 2) {
        const end = delimitedEnd(r);
        blockBytes = bytes.subarray(r.pos, end);
        r.pos = end;
        status = undefined;
      } else if (field === 1 || field === 2) {
        throw new Error(`field ${field} has wire type ${wireType}`);
      } else {
        skipUnknown(r, tag, typeName);
      }
    }
  } catch (err) {
    if (err instanceof ProtoDecodeError) throw err;
    throw new ProtoDecodeError(typeName, err instanceof Error ? err.message : String(err));
  }
  if (blockBytes !== undefined) return { kind: 'block', block: common.Block.decode(blockBytes), blockBytes };
  if (status !== undefined) return { kind: 'status', status };
  throw new ProtoDecodeError(typeName, 'neither status nor block is set');
}

// ---------------------------------------------------------------------------------------------
// Stream plumbing

/**
 * Pull-style reading of a gRPC stream's messages with flow control: at most `maxBuffered`
 * messages wait here; beyond that the stream is paused, so grpc-js stops reading and HTTP/2
 * flow control pushes back on the sender instead of memory growing.
 *
 * next() resolves with the next message, or undefined once the stream ended, closed or was
 * cancelled; after the buffered messages it rejects with the stream's error, if it had one.
 */
export class InboundMessages<T> {
  private readonly buffered: T[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  private readonly onData = (message: T): void => {
    this.buffered.push(message);
    if (this.buffered.length >= this.maxBuffered) this.stream.pause();
    this.notify();
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };
  private readonly onError = (err: Error): void => {
    this.failure ??= err;
    this.onEnd();
  };

  constructor(
    private readonly stream: Readable,
    private readonly maxBuffered = 1,
  ) {
    if (!(maxBuffered >= 1)) throw new RangeError(`maxBuffered must be at least 1, got ${maxBuffered}`);
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onError);
    if (stream.destroyed) this.ended = true;
  }

  async next(): Promise<T | undefined> {
    for (;;) {
      if (this.buffered.length > 0) {
        const message = this.buffered.shift() as T;
        if (this.buffered.length < this.maxBuffered && !this.ended) this.stream.resume();
        return message;
      }
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return undefined;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** Stops listening (the stream itself is left as it is). */
  dispose(): void {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onEnd);
    this.stream.off('error', this.onError);
    this.ended = true;
    this.buffered.length = 0;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * Writes one message and, when the stream's buffer is full, waits for 'drain' before
 * resolving: a slow reader makes its own stream wait and nobody else. Resolves false if the
 * stream is gone (closed, errored, cancelled) or `signal` aborts.
 */
export function writeWithBackpressure<T>(stream: Writable, message: T, signal?: AbortSignal): Promise<boolean> {
  if (stream.destroyed || stream.writableEnded || signal?.aborted === true) return Promise.resolve(false);
  if (stream.write(message)) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const settle = (written: boolean): void => {
      stream.off('drain', onDrain);
      stream.off('close', onGone);
      stream.off('error', onGone);
      signal?.removeEventListener('abort', onGone);
      resolve(written);
    };
    const onDrain = (): void => settle(true);
    const onGone = (): void => settle(false);
    stream.on('drain', onDrain);
    stream.on('close', onGone);
    stream.on('error', onGone);
    signal?.addEventListener('abort', onGone, { once: true });
  });
}
