// The node's signing identity in the shapes its users want: the ledger's MetadataSigner (block
// SIGNATURES, reference §2.4) and the envelope signer of seek requests to other orderers (§2.6).
import { randomBytes } from 'node:crypto';
import type { MetadataSigner } from '../../ledger/metadata';
import type { EnvelopeSigner } from '../envelopes';
import { common } from '../../protos';
import type { SigningIdentity } from './types';

/** Fabric draws 24 random bytes for every signature header nonce. */
const NONCE_BYTES = 24;

/** Signs slot 0 of each block: SignatureHeader{creator, fresh nonce}, ECDSA over V ‖ SH ‖ DER(header). */
export function metadataSignerOf(identity: SigningIdentity): MetadataSigner {
  return {
    newSignatureHeader: () => common.SignatureHeader.encode({ creator: identity.serialized, nonce: randomBytes(NONCE_BYTES) }),
    sign: (message) => identity.sign(message),
  };
}

/** Signs envelopes this node sends (seek requests when it pulls blocks): creator = the node's identity. */
export function envelopeSignerOf(identity: SigningIdentity): EnvelopeSigner {
  return { creator: identity.serialized, sign: (payloadBytes) => identity.sign(payloadBytes) };
}
