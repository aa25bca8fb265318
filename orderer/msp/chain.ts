// Certification paths as Go's x509.Certificate.Verify builds them for the MSP: from a certificate
// up through the intermediates to a root, with every certificate valid at the one instant the MSP
// checks (the certificate's NotBefore + 1 s, so expiry never matters to the MSP), each issuer a CA
// whose subject is the child's issuer name and whose key verifies the child's signature, path
// length limits honoured, and extended key usages compatible with Go's default request
// (server auth, or any). The MSP then insists on exactly one path.
import { bytesEqual } from './der';
import { isSignedBy, sameSubjectAndKey, type ParsedCertificate } from './certificate';

/** Go caps the signature checks one Verify may spend; so do we. */
const MAX_SIGNATURE_CHECKS = 100;
const MAX_CHAIN_LENGTH = 16;

const OID_ANY_EKU = '2.5.29.37.0';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_NETSCAPE_SGC = '2.16.840.1.113730.4.1';
const OID_MICROSOFT_SGC = '1.3.6.1.4.1.311.10.3.3';

/** Leaf first, root last. */
export type CertificateChain = readonly ParsedCertificate[];

export class ChainError extends Error {
  override readonly name: string = 'ChainError';
}

/** What the MSP verifies against: its roots and intermediates (the low-S normalised copies). */
export class CertificatePool {
  constructor(
    readonly roots: readonly ParsedCertificate[],
    readonly intermediates: readonly ParsedCertificate[],
  ) {}

  isRoot(cert: ParsedCertificate): boolean {
    return this.roots.some((r) => bytesEqual(r.der, cert.der));
  }

  /**
   * All valid paths from `cert` to a root at `atMs`. A certificate that is itself a root is its
   * own one-element path (Go's rule, which the MSP then refuses for identities: length < 2).
   */
  chains(cert: ParsedCertificate, atMs: number): CertificateChain[] {
    if (cert.unhandledCriticalExtensions.length > 0) {
      throw new ChainError(`${cert.description}: unhandled critical extension ${cert.unhandledCriticalExtensions.join(', ')}`);
    }
    if (!validAt(cert, atMs)) throw new ChainError(`${cert.description}: not valid at ${new Date(atMs).toISOString()}`);
    let found: CertificateChain[];
    if (this.isRoot(cert)) {
      found = [[cert]];
    } else {
      const budget = { signatureChecks: MAX_SIGNATURE_CHECKS };
      found = this.extend([cert], atMs, budget);
    }
    const usable = found.filter(compatibleKeyUsages);
    if (found.length > 0 && usable.length === 0) throw new ChainError(`${cert.description}: extended key usage not compatible with its chain (Go requires server auth or any)`);
    return usable;
  }

  /** The one path the MSP accepts; throws ChainError when there is none or more than one. */
  uniqueChain(cert: ParsedCertificate, atMs: number): CertificateChain {
    const found = this.chains(cert, atMs);
    if (found.length === 0) {
      throw new ChainError(`${cert.description}: signed by unknown authority (no valid path to a root of this MSP at ${new Date(atMs).toISOString()})`);
    }
    if (found.length > 1) throw new ChainError(`${cert.description}: this MSP supports a single validation chain, found ${found.length}`);
    return found[0]!;
  }

  private extend(chain: ParsedCertificate[], atMs: number, budget: { signatureChecks: number }): CertificateChain[] {
    const child = chain[chain.length - 1]!;
    const out: CertificateChain[] = [];
    if (chain.length >= MAX_CHAIN_LENGTH) return out;
    const consider = (candidate: ParsedCertificate, isRoot: boolean): void => {
      if (!bytesEqual(candidate.subjectDer, child.issuerDer)) return;
      if (chain.some((c) => sameSubjectAndKey(c, candidate))) return;
      if (budget.signatureChecks-- <= 0) throw new ChainError(`${chain[0]!.description}: too many signature checks while building its chain`);
      if (!isSignedBy(child, candidate)) return;
      if (!validAt(candidate, atMs)) return;
      // Go: an intermediate must be a CA; any issuer's path length bounds the intermediates below it.
      if (!isRoot && !candidate.isCA) return;
      const intermediatesBelow = chain.length - 1;
      if (candidate.maxPathLen !== undefined && candidate.maxPathLen >= 0 && intermediatesBelow > candidate.maxPathLen) return;
      const next = [...chain, candidate];
      if (isRoot) out.push(next);
      else out.push(...this.extend(next, atMs, budget));
    };
    for (const root of this.roots) consider(root, true);
    for (const intermediate of this.intermediates) if (!this.isRoot(intermediate)) consider(intermediate, false);
    return out;
  }
}

function validAt(cert: ParsedCertificate, atMs: number): boolean {
  return atMs >= cert.notBeforeMs && atMs <= cert.notAfterMs;
}

/** Go's checkChainForKeyUsage with the default request (server auth): every EKU list on the path must allow it. */
function compatibleKeyUsages(chain: CertificateChain): boolean {
  return chain.every(
    (c) =>
      c.extKeyUsages === undefined ||
      c.extKeyUsages.length === 0 ||
      c.extKeyUsages.some((u) => u === OID_ANY_EKU || u === OID_SERVER_AUTH || u === OID_NETSCAPE_SGC || u === OID_MICROSOFT_SGC),
  );
}

/** The instant the MSP verifies a certificate at (Fabric's getValidityOptsForCert, FAB-3678). */
export function mspCheckTimeMs(cert: ParsedCertificate): number {
  return cert.notBeforeMs + 1000;
}
