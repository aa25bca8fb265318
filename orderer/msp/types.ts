// The identity contract (Fabric §5): what a channel's MSPs make of a serialized identity, and
// the local signing identity. The X.509 MSP (this folder) implements it; the policy evaluator
// (orderer/policies/), Broadcast, Deliver and block signatures depend only on these interfaces.
import type { common } from '../../protos';

/** An identity that deserialized and validated against one of the channel's MSPs (§5.3). */
export interface Identity {
  /** The MSP ID in the SerializedIdentity, equal to the MSP's name. */
  readonly mspId: string;
  /**
   * What makes two identities the same one when a signature set is evaluated (§5.2): the MSP ID
   * and the hex SHA-256 of the DER of the (low-S normalised) certificate.
   */
  readonly key: string;
  /** DER of the certificate after low-S normalisation of its signature. */
  readonly certificateDer: Uint8Array;
  /** The certificate's NotAfter, ms since the epoch (Broadcast and Deliver refuse expired creators; the MSP ignores expiry). */
  readonly notAfterMs: number;
  /** The certificate's NotBefore, ms since the epoch (Broadcast and Deliver refuse creators not valid yet). */
  readonly notBeforeMs: number;
  /** ECDSA over SHA-256(data) with the certificate's P-256 key; `signature` is DER and must be low-S. */
  verify(data: Uint8Array, signature: Uint8Array): boolean;
  /** Whether this identity satisfies the principal (MEMBER, ADMIN, CLIENT, PEER, ORDERER, IDENTITY, ORGANIZATION_UNIT, ANONYMITY, COMBINED). */
  satisfiesPrincipal(principal: common.MSPPrincipal): boolean;
}

/** Why an identity was refused: the MSP ID and a readable reason (a client sees it in FORBIDDEN / BAD_REQUEST). */
export class IdentityError extends Error {
  override readonly name: string = 'IdentityError';

  constructor(
    readonly mspId: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(mspId === '' ? reason : `MSP ${mspId}: ${reason}`, options);
  }
}

/** The channel's MSPs, as its config names them. */
export interface IdentityDeserializer {
  /**
   * Deserializes a marshaled msp.SerializedIdentity and validates it against the MSP its ID
   * names; throws IdentityError (unknown MSP, bad PEM, foreign CA, revoked, wrong NodeOU...).
   * Implementations cache by the serialized bytes, bounded (MspManager: validated identities,
   * least recently used evicted past 1024 per channel, and refusals apart, 256; a new config
   * means a new, empty cache).
   */
  deserialize(serializedIdentity: Uint8Array): Identity;
  /**
   * The same, returning the refusal instead of throwing it (the per-envelope checks use it when
   * present: a throw costs microseconds). Anything that is not a refusal still throws.
   */
  deserializeOrRefusal?(serializedIdentity: Uint8Array): Identity | IdentityError;
}

/** This orderer's own identity (General.LocalMSPDir / LocalMSPID): signs blocks and cluster seek requests. */
export interface SigningIdentity {
  readonly mspId: string;
  /** Marshaled msp.SerializedIdentity, the `creator` of what it signs. */
  readonly serialized: Uint8Array;
  /** ECDSA P-256 over SHA-256(data), DER, always low-S (Fabric's signers never produce high-S). */
  sign(data: Uint8Array): Uint8Array;
}
