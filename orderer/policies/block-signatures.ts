// Orderer signatures on a block (reference §5.1, §2.7): the signature set of the SIGNATURES
// metadata slot, checked against /Channel/Orderer/BlockValidation when a node pulls blocks
// from others (onboarding, catch-up). Which config's policy applies is the caller's business:
// a config block is checked against the config BEFORE it (§2.7).
import { common, ProtoDecodeError } from '../../protos';
import { blockHeaderBytes } from '../../ledger/block';
import type { SignedData } from '../msgcheck';
import { configEnvelopeOfBlock } from '../channelconfig/settings';
import { mspManagerFromConfig } from '../msp/manager';
import { BLOCK_VALIDATION_POLICY, ConfigChannelPolicies, type ChannelPolicies } from './channel-policies';

/** A block whose orderer signatures are missing, unreadable or do not satisfy BlockValidation. */
export class BlockSignatureError extends Error {
  override readonly name: string = 'BlockSignatureError';

  constructor(
    readonly blockNumber: number,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`block ${blockNumber}: ${reason}`, options);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The signature set of a block: per MetadataSignature, data = metadata.value ‖
 * signature_header ‖ DER(header), identity = the header's creator. Throws BlockSignatureError
 * when slot 0 is missing or a signature header does not parse (Fabric refuses the whole block
 * then, rather than dropping the entry).
 */
export function blockSignedData(block: common.Block): SignedData[] {
  const number = block.header?.number ?? 0;
  const slot = block.metadata?.metadata[common.BlockMetadataIndex.SIGNATURES];
  if (slot === undefined) throw new BlockSignatureError(number, 'no signatures metadata slot');
  try {
    const metadata = common.Metadata.decode(slot);
    const headerBytes = blockHeaderBytes(block.header ?? {});
    return metadata.signatures.map((s) => ({
      data: concat(metadata.value, s.signatureHeader, headerBytes),
      identity: common.SignatureHeader.decode(s.signatureHeader).creator,
      signature: s.signature,
    }));
  } catch (err) {
    if (err instanceof ProtoDecodeError) throw new BlockSignatureError(number, `unreadable signatures metadata: ${err.message}`, { cause: err });
    throw err;
  }
}

/** Throws BlockSignatureError unless the block's signatures satisfy `policies`' BlockValidation. */
export function verifyBlockSignatures(block: common.Block, policies: ChannelPolicies): void {
  const result = policies.evaluate(BLOCK_VALIDATION_POLICY, blockSignedData(block));
  if (!result.satisfied) throw new BlockSignatureError(block.header?.number ?? 0, result.reason);
}

/** The config a block carries if it is a config block (one envelope of type CONFIG), else undefined. */
function configOf(block: common.Block): common.Config | undefined {
  return configEnvelopeOfBlock(block)?.config;
}

/**
 * Verifies a run of pulled blocks in order (reference §2.7): each block's orderer signatures
 * against BlockValidation of the config in force before it; a config block, once verified,
 * puts its own config in force for the blocks after it. Fabric checks only config blocks and
 * the last block of each run; every block is checked here, at one signature each, so that no
 * block an orderer did not sign is ever written.
 */
export class PulledBlockVerifier {
  constructor(
    private readonly channelId: string,
    private policies: ChannelPolicies,
  ) {}

  /** Throws BlockSignatureError (or ChannelConfigError for a config block whose config cannot be built). */
  verify(block: common.Block): void {
    verifyBlockSignatures(block, this.policies);
    const config = configOf(block);
    if (config !== undefined) this.policies = ConfigChannelPolicies.fromConfig(this.channelId, config, mspManagerFromConfig(config));
  }
}
