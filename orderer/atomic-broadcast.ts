// The AtomicBroadcast service (Broadcast, Deliver) declared by hand for grpc-js, as both sides
// see it: its method paths and definitions, the call types, the DeliverResponse framing, and the
// client's dial and open calls. The server's registration lives in grpc-service.ts, the stream
// plumbing in grpc-streams.ts; this module imports neither, so the services, their registration
// and the clients all depend on it without depending on each other.
//
// Requests travel as raw bytes in both directions through gRPC: the server needs an
// envelope's exact bytes anyway (they go into blocks unchanged), and Deliver sends blocks as
// the bytes the ledger stored, framed as a DeliverResponse without decoding and re-encoding
// them. Typed codecs run at the edges; Buffers handed to grpc-js are views, never copies.
import * as grpc from '@grpc/grpc-js';
import { BLOCK_RECEIVER_CHANNEL_OPTIONS } from '../cluster/http2-window';
import { asBuffer, passThrough, rawBidiStreamMethod } from '../cluster/service';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../cluster/types';
import { Gathered } from '../cluster/wire';
import { common, orderer, ProtoDecodeError, varintSize, writeVarint } from '../protos';
import { Reader, delimitedEnd, skipUnknown } from '../protos/runtime';
import { frameLengthDelimited, hasFrameRoom } from '../protos/block-bytes';

export { asBuffer, DEFAULT_MAX_MESSAGE_BYTES };

export const ATOMIC_BROADCAST_SERVICE_NAME = 'orderer.AtomicBroadcast';
export const BROADCAST_PATH = `/${ATOMIC_BROADCAST_SERVICE_NAME}/Broadcast`;
export const DELIVER_PATH = `/${ATOMIC_BROADCAST_SERVICE_NAME}/Deliver`;

/** An event listener taking whatever its event carries (a method is generic over it, as EventEmitter's accept any). */
export type Listener<A extends unknown[]> = (...args: A) => void;

/**
 * The server side of a call as the Broadcast and Deliver handlers use it: the part of a grpc-js
 * server call they need, which the direct HTTP/2 call (grpc-direct.ts) also has. Events: 'data'
 * (a Uint8Array), 'end', 'cancelled', 'close', 'drain'; emitting 'error' with {code, details}
 * ends the call with that status.
 */
export interface ServerCall<Res> {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  readonly cancelled: boolean;
  on<A extends unknown[]>(event: string, listener: Listener<A>): this;
  once<A extends unknown[]>(event: string, listener: Listener<A>): this;
  off<A extends unknown[]>(event: string, listener: Listener<A>): this;
  emit(event: 'error', status: { code: grpc.status; details: string }): boolean;
  pause(): this;
  resume(): this;
  write(response: Res): boolean;
  end(): this;
}

/** Server side of Broadcast: marshaled common.Envelope in, BroadcastResponse out. */
export type BroadcastCall = ServerCall<orderer.BroadcastResponseInit>;
/**
 * Server side of Deliver: marshaled common.Envelope in, marshaled DeliverResponse out (in one
 * buffer, or as pieces: a block the ledger keeps in two); and the client's TLS certificate.
 */
export interface DeliverCall extends ServerCall<Uint8Array | Gathered> {
  getAuthContext(): { sslPeerCertificate?: { raw: Buffer } };
}

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

export const deliverMethod: grpc.MethodDefinition<Uint8Array, Uint8Array | Gathered> = {
  ...rawBidiStreamMethod(DELIVER_PATH, 'deliver'),
  // grpc-js (which serves the calls grpc-direct.ts does not take) writes one buffer per message.
  responseSerialize: (response: Uint8Array | Gathered): Buffer => (response instanceof Gathered ? response.join() : asBuffer(response)),
};

export const atomicBroadcastServiceDefinition: grpc.ServiceDefinition = {
  Broadcast: broadcastMethod,
  Deliver: deliverMethod,
};

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

/**
 * DeliverResponse{block} around already-marshaled block bytes: tag, length, the bytes. The
 * block is not decoded or re-encoded, so a client receives exactly what the ledger holds. Bytes
 * the ledger was handed with room in front (encodeBlockBytes withFrameRoom) are framed in place.
 */
export function encodeDeliverBlockResponse(blockBytes: Uint8Array): Buffer {
  return frameLengthDelimited(DELIVER_RESPONSE_BLOCK_TAG, blockBytes);
}

/** A DeliverResponse carrying the block whose bytes are `pieces` end to end, as pieces: the pieces are not copied. */
export function encodeDeliverBlockResponsePieces(pieces: readonly Uint8Array[]): Gathered {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const prefix = Buffer.allocUnsafe(1 + varintSize(length));
  prefix[0] = DELIVER_RESPONSE_BLOCK_TAG;
  writeVarint(prefix, 1, length);
  return new Gathered([prefix, ...pieces], prefix.length + length);
}

/** encodeDeliverBlockResponse(blockBytes) writes in place: it allocates nothing, and the result shares memory with the block. */
export function deliverFramesInPlace(blockBytes: Uint8Array): boolean {
  return hasFrameRoom(DELIVER_RESPONSE_BLOCK_TAG, blockBytes);
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
