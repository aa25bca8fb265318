// Certificate revocation lists in an MSP config (FabricMSPConfig.revocation_list), read as Go's
// x509.ParseCRL does: PEM labelled "X509 CRL" or raw DER. An ECDSA-signed CRL's signature must
// parse (Fabric normalises it to low S at setup and fails on garbage); whether the CRL counts is
// decided per identity: its AKI must equal the issuing CA's SKI and that CA must have signed it.
import { AsnParser } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, CertificateList, id_ce_authorityKeyIdentifier } from '@peculiar/asn1-x509';
import { children, decodeInteger, decodePem, readOuterSequence, slice, TAG_BIT_STRING, TAG_SEQUENCE } from './der';
import { parseEcdsaSignature } from './ecdsa';
import { checkSignature, isEcdsaSignatureAlgorithm, type ParsedCertificate } from './certificate';

export class CrlError extends Error {
  override readonly name: string = 'CrlError';
}

export interface ParsedCrl {
  readonly tbsDer: Uint8Array;
  readonly signatureAlgorithmOid: string;
  readonly signature: Uint8Array;
  /** keyIdentifier of the AuthorityKeyIdentifier extension; undefined when absent. */
  readonly authorityKeyId: Uint8Array | undefined;
  /** Revoked serial numbers, as decimal strings for set lookup. */
  readonly revokedSerials: ReadonlySet<string>;
}

const PEM_CRL_PREFIX = '-----BEGIN X509 CRL';

export function parseCrl(bytes: Uint8Array): ParsedCrl {
  let der = bytes;
  if (Buffer.from(bytes.subarray(0, PEM_CRL_PREFIX.length)).toString('latin1') === PEM_CRL_PREFIX) {
    const block = decodePem(bytes);
    if (block !== undefined && block.label === 'X509 CRL') der = block.der;
  }
  try {
    const outer = readOuterSequence(der, 'CRL');
    const top = children(der, outer);
    if (top.length !== 3 || top[0]!.tag !== TAG_SEQUENCE || top[2]!.tag !== TAG_BIT_STRING) {
      throw new CrlError('CRL is not SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }');
    }
    const crl = AsnParser.parse(der, CertificateList);
    const signature = der.subarray(top[2]!.contentStart + 1, top[2]!.end);
    if (isEcdsaSignatureAlgorithm(crl.signatureAlgorithm.algorithm)) parseEcdsaSignature(signature);
    const akiExt = (crl.tbsCertList.crlExtensions ?? []).find((e) => e.extnID === id_ce_authorityKeyIdentifier);
    const keyId = akiExt === undefined ? undefined : AsnParser.parse(new Uint8Array(akiExt.extnValue.buffer), AuthorityKeyIdentifier).keyIdentifier;
    const revokedSerials = new Set<string>();
    for (const entry of crl.tbsCertList.revokedCertificates ?? []) {
      revokedSerials.add(decodeInteger(new Uint8Array(entry.userCertificate)).toString());
    }
    return Object.freeze({
      tbsDer: slice(der, top[0]!),
      signatureAlgorithmOid: crl.signatureAlgorithm.algorithm,
      signature,
      authorityKeyId: keyId === undefined ? undefined : new Uint8Array(keyId.buffer),
      revokedSerials,
    });
  } catch (err) {
    if (err instanceof CrlError) throw err;
    throw new CrlError(`could not parse the CRL: ${(err as Error).message}`, { cause: err });
  }
}

export function isCrlSignedBy(crl: ParsedCrl, ca: ParsedCertificate): boolean {
  return checkSignature(ca.publicKey, crl.signatureAlgorithmOid, crl.tbsDer, crl.signature);
}
