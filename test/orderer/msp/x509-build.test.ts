// The certificate builder's output, checked by node:crypto's X509Certificate (OpenSSL), an
// independent reader, and by our parser.
import { X509Certificate } from 'node:crypto';
import { parseCertificate } from '../../../orderer/msp/certificate';
import { isCrlSignedBy, parseCrl } from '../../../orderer/msp/crl';
import { encodePem } from '../../../orderer/msp/der';
import { isLowS, P256, parseEcdsaSignature } from '../../../orderer/msp/ecdsa';
import { createCrl, createIntermediateCa, createLeaf, createSelfSignedCa, keyIdentifierOf } from '../../../orderer/msp/x509-build';

describe('x509-build', () => {
  const root = createSelfSignedCa({ subject: { commonName: 'ca.example.com', organization: 'Example', country: 'US' }, pathLen: 1 });
  const ica = createIntermediateCa(root, { subject: { commonName: 'ica.example.com' } });
  const notBefore = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date('2027-01-01T00:00:00Z');
  const leaf = createLeaf(ica, { subject: { commonName: 'peer0', organizationalUnits: ['peer', 'Äbteilung'] }, serial: 0xfedcban, notBefore, notAfter, dnsNames: ['peer0.example.com'] });

  it('makes certificates OpenSSL reads and verifies', () => {
    const x509Root = new X509Certificate(root.certificate.der);
    const x509Ica = new X509Certificate(ica.certificate.der);
    const x509Leaf = new X509Certificate(leaf.certificate.pem);
    expect(x509Root.ca).toBe(true);
    expect(x509Root.verify(root.publicKey)).toBe(true);
    expect(x509Ica.checkIssued(x509Root)).toBe(true);
    expect(x509Ica.verify(root.publicKey)).toBe(true);
    expect(x509Leaf.ca).toBe(false);
    expect(x509Leaf.checkIssued(x509Ica)).toBe(true);
    expect(x509Leaf.verify(ica.publicKey)).toBe(true);
    expect(x509Leaf.subject).toContain('OU=peer');
    expect(x509Leaf.subjectAltName).toBe('DNS:peer0.example.com');
    expect(x509Leaf.serialNumber.toLowerCase()).toBe('fedcba');
    expect(new Date(x509Leaf.validFrom).getTime()).toBe(notBefore.getTime());
    expect(new Date(x509Leaf.validTo).getTime()).toBe(notAfter.getTime());
  });

  it('sets SKI, AKI, OUs, and signs with low S', () => {
    const parsed = parseCertificate(leaf.certificate.der);
    expect(parsed.subjectKeyId).toEqual(keyIdentifierOf(leaf.publicKey));
    expect(parsed.authorityKeyId).toEqual(ica.certificate.subjectKeyId);
    expect(parsed.organizationalUnits).toEqual(['peer', 'Äbteilung']);
    expect(parseCertificate(root.certificate.der).maxPathLen).toBe(1);
    expect(isLowS(P256, parseEcdsaSignature(parsed.signature).s)).toBe(true);
    const high = createLeaf(ica, { subject: { commonName: 'h' }, highS: true });
    expect(isLowS(P256, parseEcdsaSignature(parseCertificate(high.certificate.der).signature).s)).toBe(false);
    expect(new X509Certificate(high.certificate.der).verify(ica.publicKey)).toBe(true);
  });

  it('makes CRLs signed by the issuer, naming its SKI and the revoked serials', () => {
    const crl = parseCrl(new TextEncoder().encode(encodePem('X509 CRL', createCrl(ica, { revokedSerials: [leaf.certificate.serial, 0x80n] }))));
    expect(crl.authorityKeyId).toEqual(ica.certificate.subjectKeyId);
    expect([...crl.revokedSerials]).toEqual([String(0xfedcba), '128']);
    expect(isCrlSignedBy(crl, parseCertificate(ica.certificate.der))).toBe(true);
    expect(isCrlSignedBy(crl, parseCertificate(root.certificate.der))).toBe(false);
    expect(parseCrl(createCrl(ica, { revokedSerials: [], authorityKeyId: null })).authorityKeyId).toBeUndefined();
  });
});

test('ipAddresses become IP address SANs beside the DNS names (what a TLS client dialling 127.0.0.1 checks)', () => {
  const ca = createSelfSignedCa({ subject: { commonName: 'tlsca' } });
  const leaf = createLeaf(ca, { subject: { commonName: 'orderer1' }, dnsNames: ['orderer1.example.com'], ipAddresses: ['127.0.0.1', '::1'] });
  const san = new X509Certificate(leaf.certificate.pem).subjectAltName ?? '';
  expect(san).toContain('DNS:orderer1.example.com');
  expect(san).toContain('IP Address:127.0.0.1');
  expect(san).toContain('IP Address:0:0:0:0:0:0:0:1');
});
