// One X.509 certificate, parsed once: the fields the MSP rules read (serial, names, validity,
// CA flag, key identifiers, OUs, key usages), the exact bytes Go compares or hashes (whole DER,
// TBS, issuer and subject names), and a node:crypto KeyObject for its public key.
// Semantic parsing is @peculiar/asn1-x509's; byte slices come from the DER reader.
import type { KeyObject } from 'node:crypto';
import { createHash, verify as nodeVerify } from 'node:crypto';
import { AsnParser } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_subjectKeyIdentifier,
  SubjectKeyIdentifier,
  type Extension,
  type Name,
} from '@peculiar/asn1-x509';
import { bytesEqual, children, decodeInteger, encodeTlv, readOuterSequence, slice, TAG_BIT_STRING, TAG_SEQUENCE } from './der';
import { curveOfKey, encodeEcdsaSignature, parseEcdsaSignature, publicKeyFromSpki, toLowS, type Curve, type DigestName } from './ecdsa';

export const OID_ORGANIZATIONAL_UNIT = '2.5.4.11';
export const OID_COMMON_NAME = '2.5.4.3';

/** Signature algorithms a CA may use, and the digest each names (Go's x509 signature algorithms minus PSS and Ed25519). */
const SIGNATURE_DIGESTS: ReadonlyMap<string, { readonly digest: DigestName | 'sha1'; readonly ecdsa: boolean }> = new Map([
  ['1.2.840.10045.4.1', { digest: 'sha1', ecdsa: true }],
  ['1.2.840.10045.4.3.2', { digest: 'sha256', ecdsa: true }],
  ['1.2.840.10045.4.3.3', { digest: 'sha384', ecdsa: true }],
  ['1.2.840.10045.4.3.4', { digest: 'sha512', ecdsa: true }],
  ['1.2.840.113549.1.1.5', { digest: 'sha1', ecdsa: false }],
  ['1.2.840.113549.1.1.11', { digest: 'sha256', ecdsa: false }],
  ['1.2.840.113549.1.1.12', { digest: 'sha384', ecdsa: false }],
  ['1.2.840.113549.1.1.13', { digest: 'sha512', ecdsa: false }],
]);

/** Extensions Go's x509 parser understands; any other marked critical makes Verify refuse the leaf. */
const HANDLED_EXTENSIONS: ReadonlySet<string> = new Set([
  '2.5.29.14', '2.5.29.15', '2.5.29.17', '2.5.29.19', '2.5.29.30', '2.5.29.31', '2.5.29.32', '2.5.29.35', '2.5.29.37',
  '1.3.6.1.5.5.7.1.1',
]);

export class CertificateError extends Error {
  override readonly name: string = 'CertificateError';
}

export interface ParsedCertificate {
  readonly der: Uint8Array;
  readonly tbsDer: Uint8Array;
  readonly signatureAlgorithmOid: string;
  /** The signature's bytes (the BIT STRING's content without its unused-bits octet). */
  readonly signature: Uint8Array;
  readonly version: number;
  readonly serial: bigint;
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  readonly spkiDer: Uint8Array;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly basicConstraintsValid: boolean;
  readonly isCA: boolean;
  /** undefined when the BasicConstraints extension has no pathLenConstraint. */
  readonly maxPathLen: number | undefined;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
  /** Subject OU values in the order they appear. */
  readonly organizationalUnits: readonly string[];
  /** Extended key usage OIDs, undefined when the extension is absent. */
  readonly extKeyUsages: readonly string[] | undefined;
  readonly unhandledCriticalExtensions: readonly string[];
  readonly publicKey: KeyObject;
  /** The EC curve of the public key; undefined for non-EC keys. */
  readonly curve: Curve | undefined;
  /** Subject CN, serial for messages. */
  readonly description: string;
}

function nameValues(name: Name, oid: string): string[] {
  const out: string[] = [];
  for (const rdn of name) for (const atv of rdn) if (atv.type === oid) out.push(atv.value.toString());
  return out;
}

function extension(exts: readonly Extension[], oid: string): Extension | undefined {
  return exts.find((e) => e.extnID === oid);
}

function extValue(ext: Extension): Uint8Array {
  return new Uint8Array(ext.extnValue.buffer);
}

/** Parses DER; throws CertificateError naming what is wrong. */
/** Parsed certificates kept for reuse (parseCertificate), least recently used out first. */
const RECENT_CERTIFICATES = 512;
const recentCertificates = new Map<string, ParsedCertificate>();

export function parseCertificate(der: Uint8Array): ParsedCertificate {
  // The same certificates are parsed again and again (every MSP built for a config, every
  // consenter check of a config update, on every node of a process): the parse, ASN.1 and a
  // public key import, is kept for the most recent ones. Of a copy of the bytes, so the cached
  // views hold neither a caller's buffer nor the message it came in.
  const key = createHash('sha256').update(der).digest('hex');
  const cached = recentCertificates.get(key);
  if (cached !== undefined) {
    recentCertificates.delete(key);
    recentCertificates.set(key, cached);
    return cached;
  }
  try {
    const parsed = parseCertificateUnchecked(Uint8Array.from(der));
    recentCertificates.set(key, parsed);
    if (recentCertificates.size > RECENT_CERTIFICATES) recentCertificates.delete(recentCertificates.keys().next().value!);
    return parsed;
  } catch (err) {
    if (err instanceof CertificateError) throw err;
    throw new CertificateError(`not a valid X.509 certificate: ${(err as Error).message}`, { cause: err });
  }
}

function parseCertificateUnchecked(der: Uint8Array): ParsedCertificate {
  const outer = readOuterSequence(der, 'certificate');
  const top = children(der, outer);
  if (top.length !== 3 || top[0]!.tag !== TAG_SEQUENCE || top[2]!.tag !== TAG_BIT_STRING) {
    throw new CertificateError('certificate is not SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }');
  }
  const tbs = top[0]!;
  const fields = children(der, tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version is optional (v1)
  const serialTlv = fields[offset];
  const issuerTlv = fields[offset + 2];
  const subjectTlv = fields[offset + 4];
  const spkiTlv = fields[offset + 5];
  if (serialTlv === undefined || issuerTlv === undefined || subjectTlv === undefined || spkiTlv === undefined) {
    throw new CertificateError('certificate TBS has too few fields');
  }
  const sigBits = top[2]!;
  if (sigBits.end - sigBits.contentStart < 1 || der[sigBits.contentStart] !== 0) throw new CertificateError('certificate signature BIT STRING has unused bits');

  const cert = AsnParser.parse(der, Certificate);
  const tbsCert = cert.tbsCertificate;
  const exts: readonly Extension[] = tbsCert.extensions ?? [];

  const bcExt = extension(exts, id_ce_basicConstraints);
  const bc = bcExt === undefined ? undefined : AsnParser.parse(extValue(bcExt), BasicConstraints);
  const skiExt = extension(exts, id_ce_subjectKeyIdentifier);
  const akiExt = extension(exts, id_ce_authorityKeyIdentifier);
  const akiKeyId = akiExt === undefined ? undefined : AsnParser.parse(extValue(akiExt), AuthorityKeyIdentifier).keyIdentifier;
  const ekuExt = extension(exts, id_ce_extKeyUsage);

  const spkiDer = slice(der, spkiTlv);
  const publicKey = publicKeyFromSpki(spkiDer);
  const serial = decodeInteger(der.subarray(serialTlv.contentStart, serialTlv.end));
  const cn = nameValues(tbsCert.subject, OID_COMMON_NAME)[0] ?? '';
  return Object.freeze({
    der,
    tbsDer: slice(der, tbs),
    signatureAlgorithmOid: cert.signatureAlgorithm.algorithm,
    signature: der.subarray(sigBits.contentStart + 1, sigBits.end),
    version: tbsCert.version + 1,
    serial,
    issuerDer: slice(der, issuerTlv),
    subjectDer: slice(der, subjectTlv),
    spkiDer,
    notBeforeMs: tbsCert.validity.notBefore.getTime().getTime(),
    notAfterMs: tbsCert.validity.notAfter.getTime().getTime(),
    basicConstraintsValid: bc !== undefined,
    isCA: bc?.cA === true,
    maxPathLen: bc?.pathLenConstraint,
    subjectKeyId: skiExt === undefined ? undefined : new Uint8Array(AsnParser.parse(extValue(skiExt), SubjectKeyIdentifier).buffer),
    authorityKeyId: akiKeyId === undefined ? undefined : new Uint8Array(akiKeyId.buffer),
    organizationalUnits: Object.freeze(nameValues(tbsCert.subject, OID_ORGANIZATIONAL_UNIT)),
    extKeyUsages: ekuExt === undefined ? undefined : Object.freeze([...AsnParser.parse(extValue(ekuExt), ExtendedKeyUsage)]),
    unhandledCriticalExtensions: Object.freeze(exts.filter((e) => e.critical && !HANDLED_EXTENSIONS.has(e.extnID)).map((e) => e.extnID)),
    publicKey,
    curve: curveOfKey(publicKey),
    description: `subject CN=${JSON.stringify(cn)} serial=${serial.toString(16)}`,
  });
}

/**
 * Whether `parentKey` signed `tbs` with `signature` under `algorithmOid` (Go's CheckSignature:
 * plain verification, no low-S rule for certificates and CRLs).
 */
export function checkSignature(parentKey: KeyObject, algorithmOid: string, tbs: Uint8Array, signature: Uint8Array): boolean {
  const alg = SIGNATURE_DIGESTS.get(algorithmOid);
  if (alg === undefined) return false;
  const keyType = parentKey.asymmetricKeyType;
  if (alg.ecdsa ? keyType !== 'ec' : keyType !== 'rsa') return false;
  try {
    return nodeVerify(alg.digest, tbs, parentKey, signature);
  } catch {
    return false;
  }
}

/** Go's CheckSignatureFrom: the parent must be allowed to sign (CA, or a v1 certificate) and its key must verify. */
export function isSignedBy(child: ParsedCertificate, parent: ParsedCertificate): boolean {
  if (parent.version === 3 && !parent.isCA) return false;
  return checkSignature(parent.publicKey, child.signatureAlgorithmOid, child.tbsDer, child.signature);
}

export function isEcdsaSignatureAlgorithm(oid: string): boolean {
  return SIGNATURE_DIGESTS.get(oid)?.ecdsa === true;
}

/**
 * The certificate with its ECDSA signature's S made low using the parent's curve (Fabric's
 * sanitizeECDSASignedCert): a high-S and a low-S copy of one certificate then have the same DER,
 * hence the same identity key. The TBS and algorithm bytes are kept as they are.
 */
export function withLowSSignature(cert: ParsedCertificate, parentCurve: Curve | undefined): ParsedCertificate {
  if (!isEcdsaSignatureAlgorithm(cert.signatureAlgorithmOid)) return cert;
  if (parentCurve === undefined) throw new CertificateError(`${cert.description}: ECDSA-signed by a key that is not on a supported curve`);
  const sig = parseEcdsaSignature(cert.signature);
  const low = encodeEcdsaSignature(toLowS(parentCurve, sig));
  if (bytesEqual(low, cert.signature)) return cert;
  const outer = readOuterSequence(cert.der, 'certificate');
  const algorithm = children(cert.der, outer)[1]!;
  const rebuilt = encodeTlv(TAG_SEQUENCE, cert.tbsDer, slice(cert.der, algorithm), encodeTlv(TAG_BIT_STRING, Uint8Array.of(0), low));
  return parseCertificate(new Uint8Array(rebuilt));
}

/** Same subject and same key: Go's test that a candidate is already in the chain being built. */
export function sameSubjectAndKey(a: ParsedCertificate, b: ParsedCertificate): boolean {
  return bytesEqual(a.subjectDer, b.subjectDer) && bytesEqual(a.spkiDer, b.spkiDer);
}
