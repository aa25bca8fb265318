// The TLS trust of a channel's orderer organizations: the TLS root and intermediate CA
// certificates of their X.509 MSPs, against which every consenter's client and server
// certificate must chain (reference §3.8 step 3). Verification follows Go's x509.Verify as
// Fabric calls it for consenters: a path through intermediates to a root, each issuer a CA whose
// subject is the child's issuer and whose key verifies it, and extended key usages allowing
// client or server authentication along the whole path.
import { CHANNEL_GROUP, MSP_KEY, ORDERER_GROUP, type ChannelSettings } from '../channelconfig/settings';
import { ChannelConfigError } from '../errors';
import { CertificateError, isSignedBy, parseCertificate, type ParsedCertificate } from '../msp/certificate';
import { bytesEqual, decodePem } from '../msp/der';

const OID_ANY_EKU = '2.5.29.37.0';
const OID_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** Go's x509 accepts these legacy usages where server authentication is asked for. */
const SERVER_AUTH_ALIASES: readonly string[] = ['2.16.840.1.113730.4.1', '1.3.6.1.4.1.311.10.3.3'];

/** Bounds on the path search, so a crafted pool of CAs cannot make one check expensive (Go caps it too). */
const MAX_CHAIN_LENGTH = 16;
const MAX_SIGNATURE_CHECKS = 100;

/** A PEM certificate as Fabric reads one for consenters: the first PEM block, parsed as X.509. */
export function parsePemCertificate(pem: Uint8Array): ParsedCertificate {
  const block = decodePem(pem);
  if (block === undefined) throw new CertificateError('no PEM data found');
  return parseCertificate(block.der);
}

export class TlsTrust {
  constructor(
    readonly roots: readonly ParsedCertificate[],
    readonly intermediates: readonly ParsedCertificate[],
  ) {}

  /**
   * The TLS CAs of the orderer organizations of `settings`. A CA certificate that does not
   * parse makes the config BAD_REQUEST at its organization's MSP value.
   */
  static ofOrderers(settings: ChannelSettings): TlsTrust {
    const roots: ParsedCertificate[] = [];
    const intermediates: ParsedCertificate[] = [];
    for (const org of settings.orderer.organizations) {
      if (org.fabricMsp === undefined) continue;
      const path = `/${CHANNEL_GROUP}/${ORDERER_GROUP}/${org.name}/${MSP_KEY}`;
      const parseAll = (certs: readonly Uint8Array[], what: string, into: ParsedCertificate[]): void => {
        certs.forEach((pem, i) => {
          try {
            into.push(parsePemCertificate(pem));
          } catch (err) {
            if (err instanceof CertificateError) throw new ChannelConfigError(path, `${what} ${i}: ${err.message}`, { cause: err });
            throw err;
          }
        });
      };
      parseAll(org.fabricMsp.tlsRootCerts, 'TLS root certificate', roots);
      parseAll(org.fabricMsp.tlsIntermediateCerts, 'TLS intermediate certificate', intermediates);
    }
    return new TlsTrust(roots, intermediates);
  }

  /**
   * Why `cert` does not chain to these roots, or undefined if it does. Validity periods are
   * checked at `at.atMs` (none at all without it); `at.checkLeafTime` false leaves the leaf's own
   * period out, which is how an existing consenter's expired certificate is forgiven while its
   * issuers must still be valid.
   */
  verifyProblem(cert: ParsedCertificate, at: { readonly atMs: number | undefined; readonly checkLeafTime: boolean }): string | undefined {
    if (cert.unhandledCriticalExtensions.length > 0) return `unhandled critical extension ${cert.unhandledCriticalExtensions.join(', ')}`;
    if (at.checkLeafTime && at.atMs !== undefined && !validAt(cert, at.atMs)) {
      return `not valid at ${new Date(at.atMs).toISOString()} (valid ${isoRange(cert)})`;
    }
    if (this.roots.some((r) => bytesEqual(r.der, cert.der))) return keyUsagesAllowTls([cert]) ? undefined : 'extended key usage allows neither client nor server authentication';
    const budget = { signatureChecks: MAX_SIGNATURE_CHECKS };
    const paths = this.extend([cert], at.atMs, budget);
    if (paths.length === 0) return 'signed by unknown authority (no path to an orderer organization TLS root CA)';
    if (!paths.some(keyUsagesAllowTls)) return 'extended key usage of its chain allows neither client nor server authentication';
    return undefined;
  }

  private extend(chain: readonly ParsedCertificate[], atMs: number | undefined, budget: { signatureChecks: number }): ParsedCertificate[][] {
    const child = chain[chain.length - 1]!;
    const out: ParsedCertificate[][] = [];
    if (chain.length >= MAX_CHAIN_LENGTH) return out;
    const consider = (candidate: ParsedCertificate, isRoot: boolean): void => {
      if (!bytesEqual(candidate.subjectDer, child.issuerDer)) return;
      if (chain.some((c) => bytesEqual(c.der, candidate.der))) return;
      if (budget.signatureChecks-- <= 0) return;
      if (!isSignedBy(child, candidate)) return;
      if (atMs !== undefined && !validAt(candidate, atMs)) return;
      if (!isRoot && !candidate.isCA) return;
      // An issuer's path length bounds the intermediates below it.
      const intermediatesBelow = chain.length - 1;
      if (candidate.maxPathLen !== undefined && candidate.maxPathLen >= 0 && intermediatesBelow > candidate.maxPathLen) return;
      const next = [...chain, candidate];
      if (isRoot) out.push(next);
      else out.push(...this.extend(next, atMs, budget));
    };
    for (const root of this.roots) consider(root, true);
    for (const intermediate of this.intermediates) consider(intermediate, false);
    return out;
  }
}

function validAt(cert: ParsedCertificate, atMs: number): boolean {
  return atMs >= cert.notBeforeMs && atMs <= cert.notAfterMs;
}

function isoRange(cert: ParsedCertificate): string {
  return `${new Date(cert.notBeforeMs).toISOString()} to ${new Date(cert.notAfterMs).toISOString()}`;
}

/**
 * Go's checkChainForKeyUsage asked for client or server authentication: every certificate
 * with an EKU list (and no anyExtendedKeyUsage) narrows what is left; something must remain.
 */
function keyUsagesAllowTls(chain: readonly ParsedCertificate[]): boolean {
  let remaining = new Set([OID_CLIENT_AUTH, OID_SERVER_AUTH]);
  for (const cert of chain) {
    const ekus = cert.extKeyUsages;
    if (ekus === undefined || ekus.length === 0 || ekus.includes(OID_ANY_EKU)) continue;
    const allowsServer = ekus.includes(OID_SERVER_AUTH) || ekus.some((u) => SERVER_AUTH_ALIASES.includes(u));
    remaining = new Set([...remaining].filter((u) => (u === OID_SERVER_AUTH ? allowsServer : ekus.includes(u))));
    if (remaining.size === 0) return false;
  }
  return true;
}
