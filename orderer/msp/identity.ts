// An identity that deserialized and validated against one X.509 MSP (the contract in types.ts).
// It keeps what principal checks need (OUs with their certifiers identifier) and a KeyObject, so
// verifying a signature costs one ECDSA verification and nothing else.
import type { common } from '../../protos';
import type { ParsedCertificate } from './certificate';
import { verifyEcdsa, verifyEcdsaDetailed, type Curve, type DigestName, type EcdsaVerdict } from './ecdsa';
import type { Identity } from './types';

/** An OU of the certificate's subject, tied to the CA path that certified it (Fabric's OUIdentifier). */
export interface OrganizationalUnit {
  readonly name: string;
  /** Hash over the DER of the issuing CA up to the root (the MSP's identity identifier hash). */
  readonly certifiersId: Uint8Array;
}

/** How an identity asks its MSP about principals (kept narrow so identity.ts does not import the MSP). */
export interface PrincipalJudge {
  satisfiesPrincipal(identity: X509Identity, principal: common.MSPPrincipal): boolean;
}

export class X509Identity implements Identity {
  constructor(
    readonly mspId: string,
    /** MSP ID followed by the hex hash of `certificateDer` (Fabric's IdentityIdentifier Mspid + Id). */
    readonly key: string,
    readonly certificate: ParsedCertificate,
    readonly organizationalUnits: readonly OrganizationalUnit[],
    private readonly curve: Curve,
    private readonly digest: DigestName,
    private readonly judge: PrincipalJudge,
  ) {}

  get certificateDer(): Uint8Array {
    return this.certificate.der;
  }

  get notAfterMs(): number {
    return this.certificate.notAfterMs;
  }

  /** Not part of the contract: Fabric does not refuse not-yet-valid creators, but a caller may want to know. */
  get notBeforeMs(): number {
    return this.certificate.notBeforeMs;
  }

  verify(data: Uint8Array, signature: Uint8Array): boolean {
    return verifyEcdsa(this.certificate.publicKey, this.curve, data, signature, this.digest);
  }

  /** As verify, saying why a signature was refused (malformed, high-s, mismatch) for logs. */
  verifyDetailed(data: Uint8Array, signature: Uint8Array): EcdsaVerdict {
    return verifyEcdsaDetailed(this.certificate.publicKey, this.curve, data, signature, this.digest);
  }

  satisfiesPrincipal(principal: common.MSPPrincipal): boolean {
    return this.judge.satisfiesPrincipal(this, principal);
  }

  hasOrganizationalUnit(name: string): boolean {
    return this.organizationalUnits.some((ou) => ou.name === name);
  }
}
