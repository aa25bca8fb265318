// Block metadata that orderers write at commit time: LAST_CONFIG (slot 1) and SIGNATURES (slot 0),
// the latter carrying an OrdererBlockMetadata with the Raft consenter metadata inside.
// Header and data are identical on every orderer; these slots are each node's own.
import { common, etcdraft } from '../protos';
import { BLOCK_METADATA_SLOTS, blockHeaderBytes } from './block';
import { BlockFormatError } from './errors';

const EMPTY = new Uint8Array(0);
const { SIGNATURES, LAST_CONFIG, ORDERER } = common.BlockMetadataIndex;

function slot(block: common.Block, index: number): Uint8Array {
  const bytes = block.metadata?.metadata[index];
  if (bytes === undefined) throw new BlockFormatError(`block ${block.header?.number ?? '?'} has no metadata slot ${index}`);
  return bytes;
}

/** Makes sure all five slots exist, so a slot can be assigned by index. */
function slots(block: common.Block): Uint8Array[] {
  const metadata = (block.metadata ??= { metadata: [] });
  while (metadata.metadata.length < BLOCK_METADATA_SLOTS) metadata.metadata.push(EMPTY);
  return metadata.metadata;
}

/** The slot-0 Metadata: the signed OrdererBlockMetadata value and the orderers' signatures. */
export function readSignaturesMetadata(block: common.Block): common.Metadata {
  return common.Metadata.decode(slot(block, SIGNATURES));
}

/**
 * Number of the newest config block as this block records it. Slot 0 is authoritative; slot 1
 * is read only when slot 0's value is empty (blocks written before slot 0 carried it).
 */
export function readLastConfigIndex(block: common.Block): number {
  const signed = readSignaturesMetadata(block);
  if (signed.value.length > 0) {
    return common.OrdererBlockMetadata.decode(signed.value).lastConfig?.index ?? 0;
  }
  const legacy = common.Metadata.decode(slot(block, LAST_CONFIG));
  return common.LastConfig.decode(legacy.value).index;
}

/**
 * The Raft metadata (consenter ids, next id, raft index) stored with the block, or undefined when
 * the block has none (a consensus-type migration block). Falls back to the deprecated ORDERER slot
 * only when slot 0's value is empty.
 */
export function readConsenterMetadata(block: common.Block): etcdraft.BlockMetadata | undefined {
  const signed = readSignaturesMetadata(block);
  let raftMetadataBytes: Uint8Array;
  if (signed.value.length > 0) {
    const wrapped = common.OrdererBlockMetadata.decode(signed.value).consenterMetadata;
    raftMetadataBytes = common.Metadata.decode(wrapped).value;
  } else {
    const ordererSlot = block.metadata?.metadata[ORDERER] ?? EMPTY;
    raftMetadataBytes = common.Metadata.decode(ordererSlot).value;
  }
  return raftMetadataBytes.length > 0 ? etcdraft.BlockMetadata.decode(raftMetadataBytes) : undefined;
}

/**
 * V, the value of slot 0: OrdererBlockMetadata{last_config, consenter_metadata = Metadata{value:
 * etcdraft.BlockMetadata}}. Without consenter metadata (migration blocks) the field stays empty.
 */
export function ordererMetadataValue(lastConfigIndex: number, consenterMetadata?: etcdraft.BlockMetadataInit): Uint8Array {
  return common.OrdererBlockMetadata.encode({
    lastConfig: { index: lastConfigIndex },
    consenterMetadata:
      consenterMetadata === undefined
        ? undefined
        : common.Metadata.encode({ value: etcdraft.BlockMetadata.encode(consenterMetadata) }),
  });
}

/** What an orderer signs for slot 0: V ‖ SignatureHeader ‖ DER(header). */
export function signedMetadataBytes(value: Uint8Array, signatureHeader: Uint8Array, header: common.BlockHeaderInit): Uint8Array {
  const der = blockHeaderBytes(header);
  const out = new Uint8Array(value.length + signatureHeader.length + der.length);
  out.set(value, 0);
  out.set(signatureHeader, value.length);
  out.set(der, value.length + signatureHeader.length);
  return out;
}

/** Slot 1: Metadata{value: LastConfig{index}} (deprecated but still written, readers fall back to it). */
export function setLastConfigMetadata(block: common.Block, lastConfigIndex: number): void {
  slots(block)[LAST_CONFIG] = common.Metadata.encode({ value: common.LastConfig.encode({ index: lastConfigIndex }) });
}

/** Slot 0: Metadata{value: V, signatures}. */
export function setSignaturesMetadata(
  block: common.Block,
  value: Uint8Array,
  signatures: readonly common.MetadataSignatureInit[],
): void {
  slots(block)[SIGNATURES] = common.Metadata.encode({ value, signatures: [...signatures] });
}

/** Signs slot 0 with the orderer's identity; supplied by the orderer (the ledger holds no keys). */
export interface MetadataSigner {
  /** Marshaled SignatureHeader{creator: own SerializedIdentity, nonce: fresh random bytes}. */
  newSignatureHeader(): Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface CommitMetadata {
  lastConfigIndex: number;
  /** Omit for a block that carries no Raft metadata. */
  consenterMetadata?: etcdraft.BlockMetadataInit;
  /** Omit to leave slot 0 unsigned (tests, tools). */
  signer?: MetadataSigner;
}

/** Fills both slots in the order Fabric does at commit: LAST_CONFIG first, then SIGNATURES. */
export function writeCommitMetadata(block: common.Block, commit: CommitMetadata): void {
  const header = block.header;
  if (header === undefined) throw new BlockFormatError('block has no header to sign');
  setLastConfigMetadata(block, commit.lastConfigIndex);
  const value = ordererMetadataValue(commit.lastConfigIndex, commit.consenterMetadata);
  const signatures: common.MetadataSignatureInit[] = [];
  if (commit.signer !== undefined) {
    const signatureHeader = commit.signer.newSignatureHeader();
    signatures.push({ signatureHeader, signature: commit.signer.sign(signedMetadataBytes(value, signatureHeader, header)) });
  }
  setSignaturesMetadata(block, value, signatures);
}
