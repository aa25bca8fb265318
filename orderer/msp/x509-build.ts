// Building X.509 material: P-256 key pairs, self-signed and intermediate CAs, leaf certificates
// with chosen OUs, validity window, key identifiers and usages, and CRLs. Used by the tests and
// by the crypto-generate command, so the output is what Fabric's own tools would accept:
// ECDSA-with-SHA256 signatures, always low S unless a test asks for the high-S twin, SKI = SHA-256
// of the public point (cryptogen's and BCCSP's key identifier), AKI = the issuer's SKI.
// Structures are @peculiar/asn1-x509's; node:crypto signs the TBS bytes.
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { AsnParser, AsnSerializer, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  RevokedCertificate,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  TBSCertList,
  Time,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import { bigIntToBytes, children, encodePem, encodeTlv, readOuterSequence, slice, TAG_BIT_STRING, TAG_SEQUENCE } from './der';
import { curveOfKey, encodeEcdsaSignature, P256, parseEcdsaSignature, signEcdsa, toHighS, type Curve } from './ecdsa';

export { KeyUsageFlags };

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID = { country: '2.5.4.6', province: '2.5.4.8', locality: '2.5.4.7', organization: '2.5.4.10', organizationalUnit: '2.5.4.11', commonName: '2.5.4.3' } as const;

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export function generateP256KeyPair(): KeyPair {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

export interface SubjectSpec {
  readonly commonName: string;
  readonly organization?: string;
  readonly organizationalUnits?: readonly string[];
  readonly country?: string;
  readonly province?: string;
  readonly locality?: string;
}

export interface CertificateSpec {
  readonly subject: SubjectSpec;
  /** Default: 128 random bits, positive. */
  readonly serial?: bigint;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCA: boolean;
  readonly pathLen?: number;
  /** KeyUsageFlags bits. Default: CAs digitalSignature|keyCertSign|cRLSign, leaves digitalSignature. */
  readonly keyUsage?: number;
  readonly extKeyUsage?: readonly string[];
  readonly dnsNames?: readonly string[];
  /** IP address SANs ("127.0.0.1"): TLS clients dialling an address check it against these. */
  readonly ipAddresses?: readonly string[];
  /** Default: SHA-256 of the public point. */
  readonly subjectKeyId?: Uint8Array;
  /** Leave out the SKI extension (tests of CAs without one). */
  readonly omitSubjectKeyId?: boolean;
  /** Emit the signature with high S (tests of low-S normalisation); Fabric's tools never do. */
  readonly highS?: boolean;
}

/** A certificate with what is needed to issue under it. */
export interface IssuedCertificate {
  readonly der: Uint8Array;
  readonly pem: string;
  readonly serial: bigint;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly name: Name;
}

export interface Issuer {
  readonly certificate: IssuedCertificate;
  readonly privateKey: KeyObject;
}

export interface IssuedWithKey extends Issuer {
  readonly publicKey: KeyObject;
}

/** SHA-256 of the EC public point (the SubjectPublicKeyInfo's BIT STRING content). */
export function keyIdentifierOf(publicKey: KeyObject): Uint8Array {
  const spki = AsnParser.parse(publicKey.export({ format: 'der', type: 'spki' }), SubjectPublicKeyInfo);
  return new Uint8Array(createHash('sha256').update(new Uint8Array(spki.subjectPublicKey)).digest());
}

export function buildName(subject: SubjectSpec): Name {
  const rdns: RelativeDistinguishedName[] = [];
  const add = (type: string, value: string | undefined): void => {
    if (value === undefined) return;
    // Go's pkix writes PrintableString when it can, UTF8String otherwise.
    const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value);
    const attr = new AttributeValue(printable ? { printableString: value } : { utf8String: value });
    rdns.push(new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: attr })]));
  };
  add(OID.country, subject.country);
  add(OID.province, subject.province);
  add(OID.locality, subject.locality);
  add(OID.organization, subject.organization);
  for (const ou of subject.organizationalUnits ?? []) add(OID.organizationalUnit, ou);
  add(OID.commonName, subject.commonName);
  return new Name(rdns);
}

function ext(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnSerializer.serialize(value)) });
}

function serialBytes(serial: bigint): ArrayBuffer {
  const raw = bigIntToBytes(serial);
  const content = raw[0]! & 0x80 ? Buffer.concat([Uint8Array.of(0), raw]) : Buffer.from(raw);
  return content.buffer.slice(content.byteOffset, content.byteOffset + content.length);
}

function randomSerial(): bigint {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f;
  return BigInt(`0x${bytes.toString('hex')}`) || 1n;
}

/** Signs DER `tbs` and wraps it as SEQUENCE { tbs, ecdsa-with-SHA256, BIT STRING signature }. */
function signAndWrap(tbs: Uint8Array, signer: KeyObject, highS: boolean): Uint8Array {
  let signature = signEcdsa(signer, tbs);
  if (highS) {
    const curve = curveOfKey(signer)!;
    signature = encodeEcdsaSignature(toHighS(curve, parseEcdsaSignature(signature)));
  }
  const algorithm = new Uint8Array(AsnSerializer.serialize(new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 })));
  return new Uint8Array(encodeTlv(TAG_SEQUENCE, tbs, algorithm, encodeTlv(TAG_BIT_STRING, Uint8Array.of(0), signature)));
}

/**
 * A certificate for `publicKey`, signed by `issuer` (or self-signed with `selfKey` when issuer is
 * undefined).
 */
export function createCertificate(spec: CertificateSpec, publicKey: KeyObject, issuer: Issuer | { readonly selfSignedWith: KeyObject }): IssuedCertificate {
  const subject = buildName(spec.subject);
  const serial = spec.serial ?? randomSerial();
  const ski = spec.omitSubjectKeyId ? undefined : (spec.subjectKeyId ?? keyIdentifierOf(publicKey));
  const selfSigned = 'selfSignedWith' in issuer;
  const issuerName = selfSigned ? subject : issuer.certificate.name;
  const aki = selfSigned ? ski : issuer.certificate.subjectKeyId;
  const extensions: Extension[] = [
    ext(id_ce_keyUsage, true, new KeyUsage(spec.keyUsage ?? (spec.isCA ? KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign : KeyUsageFlags.digitalSignature))),
  ];
  if (spec.extKeyUsage !== undefined) extensions.push(ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([...spec.extKeyUsage])));
  extensions.push(ext(id_ce_basicConstraints, true, new BasicConstraints(spec.isCA ? { cA: true, pathLenConstraint: spec.pathLen } : { cA: false })));
  if (ski !== undefined) extensions.push(ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(ski)));
  if (aki !== undefined) extensions.push(ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(aki) })));
  const altNames = [...(spec.dnsNames ?? []).map((dNSName) => new GeneralName({ dNSName })), ...(spec.ipAddresses ?? []).map((iPAddress) => new GeneralName({ iPAddress }))];
  if (altNames.length > 0) extensions.push(ext(id_ce_subjectAltName, false, new SubjectAlternativeName(altNames)));
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialBytes(serial),
    signature: new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }),
    issuer: issuerName,
    validity: new Validity({ notBefore: spec.notBefore, notAfter: spec.notAfter }),
    subject,
    subjectPublicKeyInfo: AsnParser.parse(publicKey.export({ format: 'der', type: 'spki' }), SubjectPublicKeyInfo),
    extensions: new Extensions(extensions),
  });
  const tbsDer = new Uint8Array(AsnSerializer.serialize(tbs));
  const der = signAndWrap(tbsDer, selfSigned ? issuer.selfSignedWith : issuer.privateKey, spec.highS ?? false);
  return Object.freeze({ der, pem: encodePem('CERTIFICATE', der), serial, subjectKeyId: ski, name: subject });
}

export interface CaSpec {
  readonly subject: SubjectSpec;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly keyPair?: KeyPair;
  readonly pathLen?: number;
  readonly serial?: bigint;
  readonly omitSubjectKeyId?: boolean;
  readonly highS?: boolean;
  readonly extKeyUsage?: readonly string[];
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** cryptogen's CA and leaf lifetime. */
const DEFAULT_VALIDITY_MS = 10 * 365 * DAY_MS;

function window(spec: { readonly notBefore?: Date; readonly notAfter?: Date }): { notBefore: Date; notAfter: Date } {
  // Backdated by 5 minutes like cryptogen, so freshly issued material is valid on skewed clocks.
  const notBefore = spec.notBefore ?? new Date(Math.floor((Date.now() - 5 * 60 * 1000) / 1000) * 1000);
  return { notBefore, notAfter: spec.notAfter ?? new Date(notBefore.getTime() + DEFAULT_VALIDITY_MS) };
}

/** A self-signed P-256 root CA. */
export function createSelfSignedCa(spec: CaSpec): IssuedWithKey {
  const keys = spec.keyPair ?? generateP256KeyPair();
  const certificate = createCertificate(
    { ...spec, ...window(spec), isCA: true, extKeyUsage: spec.extKeyUsage ?? ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1'] },
    keys.publicKey,
    { selfSignedWith: keys.privateKey },
  );
  return { certificate, privateKey: keys.privateKey, publicKey: keys.publicKey };
}

/** An intermediate CA under `parent`. */
export function createIntermediateCa(parent: Issuer, spec: CaSpec): IssuedWithKey {
  const keys = spec.keyPair ?? generateP256KeyPair();
  const certificate = createCertificate(
    { ...spec, ...window(spec), isCA: true, extKeyUsage: spec.extKeyUsage ?? ['1.3.6.1.5.5.7.3.2', '1.3.6.1.5.5.7.3.1'] },
    keys.publicKey,
    parent,
  );
  return { certificate, privateKey: keys.privateKey, publicKey: keys.publicKey };
}

export interface LeafSpec extends Omit<CaSpec, 'pathLen'> {
  readonly keyUsage?: number;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

/** An end-entity (non-CA) certificate under `issuer`, e.g. an MSP signcert with NodeOU `client`. */
export function createLeaf(issuer: Issuer, spec: LeafSpec): IssuedWithKey {
  const keys = spec.keyPair ?? generateP256KeyPair();
  const certificate = createCertificate({ ...spec, ...window(spec), isCA: false }, keys.publicKey, issuer);
  return { certificate, privateKey: keys.privateKey, publicKey: keys.publicKey };
}

export interface CrlSpec {
  readonly revokedSerials: readonly bigint[];
  readonly thisUpdate?: Date;
  readonly nextUpdate?: Date;
  /** Default: the issuer's SKI (what makes the MSP consider the CRL); null leaves the AKI out. */
  readonly authorityKeyId?: Uint8Array | null;
}

/** A v2 CRL signed by `issuer` revoking `revokedSerials`; DER (PEM via encodePem('X509 CRL', der)). */
export function createCrl(issuer: Issuer, spec: CrlSpec): Uint8Array {
  const thisUpdate = spec.thisUpdate ?? new Date(Math.floor(Date.now() / 1000) * 1000);
  const aki = spec.authorityKeyId === null ? undefined : (spec.authorityKeyId ?? issuer.certificate.subjectKeyId);
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }),
    issuer: issuer.certificate.name,
    thisUpdate: new Time(thisUpdate),
    nextUpdate: new Time(spec.nextUpdate ?? new Date(thisUpdate.getTime() + 7 * DAY_MS)),
    revokedCertificates:
      spec.revokedSerials.length === 0 ? undefined : spec.revokedSerials.map((s) => new RevokedCertificate({ userCertificate: serialBytes(s), revocationDate: new Time(thisUpdate) })),
    crlExtensions: aki === undefined ? undefined : [ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(aki) }))],
  });
  return signAndWrap(new Uint8Array(AsnSerializer.serialize(tbs)), issuer.privateKey, false);
}

/** PKCS#8 PEM of a private key, as Fabric's keystore holds it. */
export function privateKeyPem(privateKey: KeyObject): string {
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Re-parses a DER certificate into the form issuing needs (for CAs loaded from disk). */
export function issuedCertificateFromDer(der: Uint8Array): IssuedCertificate {
  const cert = AsnParser.parse(der, Certificate);
  const skiExt = cert.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const serialContent = new Uint8Array(cert.tbsCertificate.serialNumber);
  return Object.freeze({
    der,
    pem: encodePem('CERTIFICATE', der),
    serial: BigInt(`0x${Buffer.from(serialContent).toString('hex') || '0'}`),
    subjectKeyId: skiExt === undefined ? undefined : new Uint8Array(AsnParser.parse(new Uint8Array(skiExt.extnValue.buffer), SubjectKeyIdentifier).buffer),
    name: cert.tbsCertificate.subject,
  });
}

/**
 * The same certificate (same TBS, same r) with S replaced by n - S: a second valid encoding of one
 * certificate, which Fabric's MSP must map back to the low-S one. `issuerCurve` is the signer's.
 */
export function withFlippedSignatureS(certDer: Uint8Array, issuerCurve: Curve = P256): Uint8Array {
  const outer = readOuterSequence(certDer, 'certificate');
  const [tbs, algorithm, bits] = children(certDer, outer);
  if (tbs === undefined || algorithm === undefined || bits === undefined) throw new Error('not a certificate');
  const sig = parseEcdsaSignature(certDer.subarray(bits.contentStart + 1, bits.end));
  const flipped = encodeEcdsaSignature({ r: sig.r, s: issuerCurve.order - sig.s });
  return new Uint8Array(encodeTlv(TAG_SEQUENCE, slice(certDer, tbs), slice(certDer, algorithm), encodeTlv(TAG_BIT_STRING, Uint8Array.of(0), flipped)));
}
