// Fabric's block format: header hashing, data hashing, assembling blocks, the configtxgen-style
// genesis block, and transaction ids. Pure functions over the generated codecs; no IO.
import { randomBytes } from 'node:crypto';
import { common, envelopeTxIdOf } from '../protos';
import { derBlockHeader } from './der';
import { sha256, sha256Concat, toHex } from './hash';

/** Blocks carry one metadata slot per common.BlockMetadataIndex value (SIGNATURES..COMMIT_HASH). */
export const BLOCK_METADATA_SLOTS = 5;

/** configtxgen and the SDKs draw 24 random bytes for a signature header nonce. */
export const NONCE_BYTES = 24;

const EMPTY = new Uint8Array(0);

/** The bytes that get hashed to identify a header (DER, not protobuf). */
export function blockHeaderBytes(header: common.BlockHeaderInit): Uint8Array {
  return derBlockHeader(header.number ?? 0, header.previousHash ?? EMPTY, header.dataHash ?? EMPTY);
}

/** hash(header): the value the next block carries as previous_hash. */
export function blockHeaderHash(header: common.BlockHeaderInit): Uint8Array {
  return sha256(blockHeaderBytes(header));
}

/** data_hash: SHA-256 over the envelopes laid end to end (a flat hash, not a Merkle tree). */
export function blockDataHash(envelopes: readonly Uint8Array[]): Uint8Array {
  return sha256Concat(envelopes);
}

function emptyMetadata(): Uint8Array[] {
  return Array.from({ length: BLOCK_METADATA_SLOTS }, () => EMPTY);
}

/** A block as the leader assembles it: header filled in, every metadata slot empty. */
export function newBlock(number: number, previousHash: Uint8Array, envelopes: readonly Uint8Array[]): common.Block {
  return {
    header: { number, previousHash, dataHash: blockDataHash(envelopes) },
    data: { data: [...envelopes] },
    metadata: { metadata: emptyMetadata() },
  };
}

/** tx_id rule shared by clients and configtxgen: lowercase hex of SHA-256(nonce ‖ creator). */
export function computeTxId(nonce: Uint8Array, creator: Uint8Array): string {
  return toHex(sha256Concat([nonce, creator]));
}

export interface GenesisBlockOptions {
  channelId: string;
  /** Becomes Payload.data; configtxgen leaves last_update out and uses config sequence 0. */
  configEnvelope: common.ConfigEnvelopeInit;
  /** Seconds since the epoch; defaults to now. configtxgen drops the sub-second part. */
  timestampSeconds?: number;
  /** Defaults to 24 fresh random bytes. */
  nonce?: Uint8Array;
}

/**
 * Block 0 of a channel the way configtxgen writes it: one unsigned CONFIG envelope (header version 1,
 * epoch 0, empty creator), and metadata that points last-config at block 0.
 */
export function genesisBlock(options: GenesisBlockOptions): common.Block {
  const nonce = options.nonce ?? randomBytes(NONCE_BYTES);
  const creator = EMPTY;
  const channelHeader = common.ChannelHeader.encode({
    type: common.HeaderType.CONFIG,
    version: 1,
    timestamp: { seconds: options.timestampSeconds ?? Math.floor(Date.now() / 1000), nanos: 0 },
    channelId: options.channelId,
    epoch: 0,
    txId: computeTxId(nonce, creator),
  });
  const signatureHeader = common.SignatureHeader.encode({ creator, nonce });
  const payload = common.Payload.encode({
    header: { channelHeader, signatureHeader },
    data: common.ConfigEnvelope.encode(options.configEnvelope),
  });
  const envelope = common.Envelope.encode({ payload });
  const block = newBlock(0, EMPTY, [envelope]);
  const metadata = block.metadata?.metadata ?? emptyMetadata();
  // Slot 0 carries last_config {index 0}, whose LastConfig is empty but present (0a 00);
  // slot 1's Metadata{value: LastConfig{0}} is all defaults and so encodes to no bytes at all.
  metadata[common.BlockMetadataIndex.SIGNATURES] = common.Metadata.encode({
    value: common.OrdererBlockMetadata.encode({ lastConfig: { index: 0 } }),
  });
  metadata[common.BlockMetadataIndex.LAST_CONFIG] = common.Metadata.encode({
    value: common.LastConfig.encode({ index: 0 }),
  });
  return block;
}

/** The parsed headers of an envelope, for callers that need more than the tx id. */
export interface EnvelopeHeaders {
  channelHeader: common.ChannelHeader;
  signatureHeader: common.SignatureHeader;
}

/** Envelope → Payload → Header → ChannelHeader and SignatureHeader. Throws ProtoDecodeError on bad bytes. */
export function envelopeHeaders(envelopeBytes: Uint8Array): EnvelopeHeaders {
  const envelope = common.Envelope.decode(envelopeBytes);
  const payload = common.Payload.decode(envelope.payload);
  const header = payload.header;
  return {
    channelHeader: common.ChannelHeader.decode(header?.channelHeader ?? EMPTY),
    signatureHeader: common.SignatureHeader.decode(header?.signatureHeader ?? EMPTY),
  };
}

/** tx_id of an envelope ('' when it has none). Throws ProtoDecodeError on bad bytes. */
export function envelopeTxId(envelopeBytes: Uint8Array): string {
  // The same as decoding Envelope → Payload → ChannelHeader, without the objects in between.
  return envelopeTxIdOf(envelopeBytes);
}

/** Like envelopeTxId, but '' for bytes that do not parse: a ledger indexes what it can. */
export function envelopeTxIdOrEmpty(envelopeBytes: Uint8Array): string {
  try {
    return envelopeTxId(envelopeBytes);
  } catch {
    return '';
  }
}
