// Building Fabric envelopes, the one place that does: client transaction envelopes (what
// Broadcast takes) and seek envelopes (what Deliver takes). The CLI's load generator, the
// Deliver client, the block puller and the tests all build theirs here, so every envelope this
// project sends is laid out the way a Fabric SDK lays it out (protoutil.CreateSignedEnvelope):
//
//   Envelope { payload: Payload { header: Header { channel_header, signature_header }, data }, signature }
//   ChannelHeader { type, version 0, timestamp, channel_id, tx_id, epoch 0, tls_cert_hash }
//   SignatureHeader { creator, nonce }
//
// with tx_id = hex(SHA-256(nonce ‖ creator)) (the rule the ledger's genesis block uses too, hence
// computeTxId lives there and is re-exported here: cmd/ reaches it through orderer/, never the ledger).
//
// A signature is made by an EnvelopeSigner over the marshaled Payload, as Fabric signs, or given
// as is (tests and the unsigned benchmark run: a dummy that only a channel with open Writers
// admits).
import { randomBytes } from 'node:crypto';
import { computeTxId, NONCE_BYTES } from '../ledger/block';
import { common, orderer, type google_protobuf } from '../protos';

export { computeTxId, NONCE_BYTES };

const EMPTY = new Uint8Array(0);

/** Signs envelopes: the creator (a marshaled SerializedIdentity) and a signature over the payload. */
export interface EnvelopeSigner {
  /** Marshaled msp.SerializedIdentity of the client. */
  readonly creator: Uint8Array;
  /** Signature over the marshaled Payload. */
  sign(payloadBytes: Uint8Array): Uint8Array;
}

/** The header fields every envelope carries; see buildEnvelope and buildSeekEnvelope. */
export interface EnvelopeHeaderOptions {
  channelId: string;
  /** Marshaled msp.SerializedIdentity; the signer's when a signer is given, else empty. */
  creator?: Uint8Array;
  /** Defaults to NONCE_BYTES fresh random bytes. */
  nonce?: Uint8Array;
  /** Defaults to Date.now(); the orderer refuses seek requests outside its time window. */
  nowMs?: number;
  /** Signs the marshaled Payload (and supplies the creator). */
  signer?: EnvelopeSigner;
  /** A ready-made signature (a dummy one while identities are structural); not with `signer`. */
  signature?: Uint8Array;
  /** SHA-256 of the client TLS certificate, for orderers that require mutual TLS. */
  tlsCertHash?: Uint8Array;
}

export interface EnvelopeOptions extends EnvelopeHeaderOptions {
  /** Defaults to ENDORSER_TRANSACTION. */
  type?: common.HeaderType;
  /** Payload.data: the transaction (or, for other header types, that type's message). */
  data: Uint8Array;
  /**
   * Overrides the tx id Fabric computes from nonce and creator. Only for tests that need an
   * envelope whose id is wrong or already used; a Fabric client never sets it.
   */
  txId?: string;
}

export interface BuiltEnvelope {
  /** The marshaled common.Envelope. */
  readonly bytes: Uint8Array;
  readonly txId: string;
}

/** google.protobuf.Timestamp for a wall-clock time in milliseconds (nanos to the millisecond). */
export function fabricTimestamp(nowMs: number): google_protobuf.TimestampInit {
  const seconds = Math.floor(nowMs / 1000);
  return { seconds, nanos: (nowMs - seconds * 1000) * 1_000_000 };
}

/** A Fabric envelope for `channelId` (by default a normal transaction envelope). */
export function buildEnvelope(options: EnvelopeOptions): BuiltEnvelope {
  if (options.signer !== undefined && (options.signature !== undefined || options.creator !== undefined)) {
    throw new TypeError('an envelope takes its creator and signature from the signer, or from creator/signature, not both');
  }
  const nonce = options.nonce ?? randomBytes(NONCE_BYTES);
  const creator = options.signer?.creator ?? options.creator ?? EMPTY;
  const txId = options.txId ?? computeTxId(nonce, creator);
  const channelHeader = common.ChannelHeader.encode({
    type: options.type ?? common.HeaderType.ENDORSER_TRANSACTION,
    channelId: options.channelId,
    txId,
    timestamp: fabricTimestamp(options.nowMs ?? Date.now()),
    tlsCertHash: options.tlsCertHash,
  });
  const payload = common.Payload.encode({
    header: { channelHeader, signatureHeader: common.SignatureHeader.encode({ creator, nonce }) },
    data: options.data,
  });
  const signature = options.signature ?? options.signer?.sign(payload);
  return { bytes: common.Envelope.encode({ payload, signature }), txId };
}

// ---------------------------------------------------------------------------------------------
// Seek envelopes (Deliver requests)

/** Fabric's "stream forever" stop: specified 2^64-1 (as a double it reads 2^64, which encodes as 2^64-1). */
export const SEEK_MAX_BLOCK_NUMBER = 18446744073709551615;

export type SeekStart = 'oldest' | 'newest' | 'next-commit' | number;
export type SeekStop = 'oldest' | 'newest' | 'forever' | number;

export function seekPosition(position: SeekStart | SeekStop): orderer.SeekPositionInit {
  switch (position) {
    case 'oldest':
      return { oldest: {} };
    case 'newest':
      return { newest: {} };
    case 'next-commit':
      return { nextCommit: {} };
    case 'forever':
      return { specified: { number: SEEK_MAX_BLOCK_NUMBER } };
    default:
      if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`bad block number ${position}`);
      return { specified: { number: position } };
  }
}

export interface SeekRequest {
  channelId: string;
  start: SeekStart;
  stop: SeekStop;
  behavior?: orderer.SeekInfo_SeekBehavior;
  errorResponse?: orderer.SeekInfo_SeekErrorResponse;
}

export interface SeekEnvelopeOptions extends SeekRequest, EnvelopeHeaderOptions {}

/** A DELIVER_SEEK_INFO envelope carrying the SeekInfo for `request`. */
export function buildSeekEnvelope(options: SeekEnvelopeOptions): Uint8Array {
  const seekInfo = orderer.SeekInfo.encode({
    start: seekPosition(options.start),
    stop: seekPosition(options.stop),
    behavior: options.behavior,
    errorResponse: options.errorResponse,
  });
  return buildEnvelope({
    channelId: options.channelId,
    type: common.HeaderType.DELIVER_SEEK_INFO,
    data: seekInfo,
    creator: options.creator,
    nonce: options.nonce,
    nowMs: options.nowMs,
    signer: options.signer,
    signature: options.signature,
    tlsCertHash: options.tlsCertHash,
  }).bytes;
}
