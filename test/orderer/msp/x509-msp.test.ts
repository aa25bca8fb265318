// The X.509 MSP against Fabric's v1.4.3 rules (reference §5.3): what it accepts, what it refuses
// and why, and which principals an identity satisfies.
import { createHash } from 'node:crypto';
import { common, msp } from '../../../protos';
import { encodePem } from '../../../orderer/msp/der';
import { parseCertificate } from '../../../orderer/msp/certificate';
import { signEcdsa, parseEcdsaSignature, encodeEcdsaSignature, toHighS, P256 } from '../../../orderer/msp/ecdsa';
import { MspConfigError } from '../../../orderer/msp/errors';
import { createCrl, createIntermediateCa, createLeaf, createSelfSignedCa, withFlippedSignatureS } from '../../../orderer/msp/x509-build';
import { X509Msp } from '../../../orderer/msp/x509-msp';
import { IdentityError } from '../../../orderer/msp/types';
import { DAY_MS, enc, makeOrg, mspConfigOf, NODE_OUS, rolePrincipal, type TestOrg } from './fixtures';

const R = common.MSPRole_MSPRoleType;

function sid(mspId: string, pem: string | Uint8Array): msp.SerializedIdentity {
  return { mspid: mspId, idBytes: typeof pem === 'string' ? enc(pem) : pem };
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(IdentityError);
    return (err as Error).message;
  }
  throw new Error('expected an IdentityError');
}

function configRefusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MspConfigError);
    return (err as Error).message;
  }
  throw new Error('expected an MspConfigError');
}

describe('X509Msp without NodeOUs', () => {
  const org = makeOrg('Org1MSP');
  const mspInstance = new X509Msp(mspConfigOf(org));
  const user = org.issue({ ous: ['client'] });

  it('accepts a member and verifies its signatures (low S only)', () => {
    const id = mspInstance.deserializeIdentity(sid('Org1MSP', user.certificate.pem));
    expect(id.mspId).toBe('Org1MSP');
    expect(id.key).toBe('Org1MSP' + createHash('sha256').update(user.certificate.der).digest('hex'));
    const data = enc('payload bytes');
    const sig = signEcdsa(user.privateKey, data);
    expect(id.verify(data, sig)).toBe(true);
    expect(id.verify(enc('other bytes'), sig)).toBe(false); // forged: signature over something else
    expect(id.verify(data, signEcdsa(org.admin.privateKey, data))).toBe(false); // forged: another key
    const highS = encodeEcdsaSignature(toHighS(P256, parseEcdsaSignature(sig)));
    expect(id.verifyDetailed(data, highS)).toBe('high-s');
    expect(id.verify(data, enc('garbage'))).toBe(false);
    expect(id.satisfiesPrincipal(rolePrincipal('Org1MSP', R.MEMBER))).toBe(true);
    expect(id.satisfiesPrincipal(rolePrincipal('Org2MSP', R.MEMBER))).toBe(false);
  });

  it('ADMIN is a listed admin certificate; CLIENT/PEER/ORDERER need NodeOUs', () => {
    const admin = mspInstance.deserializeIdentity(sid('Org1MSP', org.admin.certificate.pem));
    const plain = mspInstance.deserializeIdentity(sid('Org1MSP', user.certificate.pem));
    expect(admin.satisfiesPrincipal(rolePrincipal('Org1MSP', R.ADMIN))).toBe(true);
    expect(plain.satisfiesPrincipal(rolePrincipal('Org1MSP', R.ADMIN))).toBe(false);
    for (const role of [R.CLIENT, R.PEER, R.ORDERER]) expect(plain.satisfiesPrincipal(rolePrincipal('Org1MSP', role))).toBe(false);
  });

  it('IDENTITY, ANONYMITY and COMBINED principals', () => {
    const id = mspInstance.deserializeIdentity(sid('Org1MSP', user.certificate.pem));
    const identityPrincipal = (pem: string): common.MSPPrincipal => ({
      principalClassification: common.MSPPrincipal_Classification.IDENTITY,
      principal: msp.SerializedIdentity.encode({ mspid: 'Org1MSP', idBytes: enc(pem) }),
    });
    expect(id.satisfiesPrincipal(identityPrincipal(user.certificate.pem))).toBe(true);
    expect(id.satisfiesPrincipal(identityPrincipal(org.admin.certificate.pem))).toBe(false);
    const anon = (t: number): common.MSPPrincipal => ({
      principalClassification: common.MSPPrincipal_Classification.ANONYMITY,
      principal: common.MSPIdentityAnonymity.encode({ anonymityType: t }),
    });
    expect(id.satisfiesPrincipal(anon(common.MSPIdentityAnonymity_MSPIdentityAnonymityType.NOMINAL))).toBe(true);
    expect(id.satisfiesPrincipal(anon(common.MSPIdentityAnonymity_MSPIdentityAnonymityType.ANONYMOUS))).toBe(false);
    const combined = (ps: common.MSPPrincipal[]): common.MSPPrincipal => ({
      principalClassification: common.MSPPrincipal_Classification.COMBINED,
      principal: common.CombinedPrincipal.encode({ principals: ps }),
    });
    expect(id.satisfiesPrincipal(combined([rolePrincipal('Org1MSP', R.MEMBER), identityPrincipal(user.certificate.pem)]))).toBe(true);
    expect(id.satisfiesPrincipal(combined([rolePrincipal('Org1MSP', R.MEMBER), rolePrincipal('Org1MSP', R.ADMIN)]))).toBe(false);
    expect(id.satisfiesPrincipal(combined([]))).toBe(false);
    expect(id.satisfiesPrincipal({ principalClassification: common.MSPPrincipal_Classification.ROLE, principal: enc('\xff\xff') })).toBe(false);
  });

  it('refuses a wrong MSP id, a foreign CA, a CA certificate, garbage, two PEM blocks', () => {
    expect(refusal(() => mspInstance.deserializeIdentity(sid('Org2MSP', user.certificate.pem)))).toMatch(/expected MSP ID Org1MSP/);
    const foreign = makeOrg('Org1MSP').issue({ ous: ['client'] });
    expect(refusal(() => mspInstance.deserializeIdentity(sid('Org1MSP', foreign.certificate.pem)))).toMatch(/unknown authority/);
    expect(refusal(() => mspInstance.deserializeIdentity(sid('Org1MSP', org.root.certificate.pem)))).toMatch(/CA certificate.*cannot be used as an identity/);
    expect(refusal(() => mspInstance.deserializeIdentity(sid('Org1MSP', enc('\x00\x01garbage'))))).toMatch(/not a PEM block/);
    expect(refusal(() => mspInstance.deserializeIdentity(sid('Org1MSP', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')))).toMatch(/not a valid X.509 certificate/);
    expect(refusal(() => mspInstance.deserializeIdentity(sid('Org1MSP', user.certificate.pem + user.certificate.pem)))).toMatch(/more than one PEM block/);
    // The PEM label is not checked (Fabric's MSP does not), and trailing whitespace is fine.
    const relabelled = user.certificate.pem.replace(/CERTIFICATE/g, 'WHATEVER') + '\n';
    expect(mspInstance.deserializeIdentity(sid('Org1MSP', relabelled)).certificateDer).toEqual(user.certificate.der);
  });

  it('accepts an expired certificate (the MSP ignores expiry) and exposes notAfterMs', () => {
    const notBefore = new Date(Date.now() - 10 * DAY_MS);
    const notAfter = new Date(Date.now() - DAY_MS);
    const expired = org.issue({ ous: ['client'], notBefore, notAfter });
    const id = mspInstance.deserializeIdentity(sid('Org1MSP', expired.certificate.pem));
    expect(id.notAfterMs).toBe(Math.floor(notAfter.getTime() / 1000) * 1000);
    expect(id.notAfterMs).toBeLessThan(Date.now());
  });

  it('accepts a not-yet-valid certificate whose CA is valid at its NotBefore + 1 s (as Fabric)', () => {
    const future = org.issue({ ous: ['client'], notBefore: new Date(Date.now() + 30 * DAY_MS), notAfter: new Date(Date.now() + 60 * DAY_MS) });
    expect(mspInstance.deserializeIdentity(sid('Org1MSP', future.certificate.pem)).notBeforeMs).toBeGreaterThan(Date.now());
  });

  it('refuses a certificate issued outside its CA validity (the chain is checked at NotBefore + 1 s)', () => {
    const shortCa = createSelfSignedCa({ subject: { commonName: 'short' }, notBefore: new Date(Date.now() - 10 * DAY_MS), notAfter: new Date(Date.now() + DAY_MS) });
    const admin = createLeaf(shortCa, { subject: { commonName: 'admin' } });
    const m = new X509Msp(msp.FabricMSPConfig.decode(msp.FabricMSPConfig.encode({ name: 'S', rootCerts: [enc(shortCa.certificate.pem)], admins: [enc(admin.certificate.pem)] })));
    const late = createLeaf(shortCa, { subject: { commonName: 'late' }, notBefore: new Date(Date.now() + 2 * DAY_MS) });
    expect(refusal(() => m.deserializeIdentity(sid('S', late.certificate.pem)))).toMatch(/unknown authority/);
  });

  it('normalises a high-S certificate signature: same identity key as the low-S copy', () => {
    const low = org.issue({ ous: ['client'] }).certificate;
    const high = withFlippedSignatureS(low.der);
    expect(high).not.toEqual(low.der);
    const a = mspInstance.deserializeIdentity(sid('Org1MSP', low.pem));
    const b = mspInstance.deserializeIdentity(sid('Org1MSP', encodePem('CERTIFICATE', high)));
    expect(b.key).toBe(a.key);
    expect(b.certificateDer).toEqual(low.der);
    // A certificate built high-S from the start comes back low-S too, and still chains.
    const born = createLeaf(org.issuer, { subject: { commonName: 'born-high', organizationalUnits: ['client'] }, highS: true }).certificate;
    const c = mspInstance.deserializeIdentity(sid('Org1MSP', born.pem));
    expect(c.certificateDer).toEqual(withFlippedSignatureS(born.der));
    expect(parseCertificate(c.certificateDer).tbsDer).toEqual(parseCertificate(born.der).tbsDer);
  });
});

describe('intermediate CAs', () => {
  const org = makeOrg('IntMSP', { intermediate: true });
  const m = new X509Msp(mspConfigOf(org));

  it('accepts an identity issued by the intermediate, with OUs certified by the whole path', () => {
    const user = org.issue({ ous: ['engineering'] });
    const id = m.deserializeIdentity(sid('IntMSP', user.certificate.pem));
    const certifiers = createHash('sha256').update(org.intermediate!.certificate.der).update(org.root.certificate.der).digest();
    expect(id.organizationalUnits).toEqual([{ name: 'engineering', certifiersId: new Uint8Array(certifiers) }]);
    const ouPrincipal = (ou: string, certifiersIdentifier: Uint8Array): common.MSPPrincipal => ({
      principalClassification: common.MSPPrincipal_Classification.ORGANIZATION_UNIT,
      principal: common.OrganizationUnit.encode({ mspIdentifier: 'IntMSP', organizationalUnitIdentifier: ou, certifiersIdentifier }),
    });
    expect(id.satisfiesPrincipal(ouPrincipal('engineering', certifiers))).toBe(true);
    expect(id.satisfiesPrincipal(ouPrincipal('engineering', new Uint8Array(32)))).toBe(false);
    expect(id.satisfiesPrincipal(ouPrincipal('sales', certifiers))).toBe(false);
  });

  it('normalises a high-S intermediate in the config: certifiers identifiers use its low-S DER', () => {
    const highInt = enc(encodePem('CERTIFICATE', withFlippedSignatureS(org.intermediate!.certificate.der)));
    const m2 = new X509Msp(mspConfigOf(org, { intermediateCerts: [highInt] }));
    const id = m2.deserializeIdentity(sid('IntMSP', org.issue({ ous: ['x'] }).certificate.pem));
    const certifiers = createHash('sha256').update(org.intermediate!.certificate.der).update(org.root.certificate.der).digest();
    expect(id.organizationalUnits[0]!.certifiersId).toEqual(new Uint8Array(certifiers));
  });

  it('refuses an identity issued directly by a CA that issued an intermediate (not a leaf of the CA tree)', () => {
    const direct = createLeaf(org.root, { subject: { commonName: 'direct' } });
    expect(refusal(() => m.deserializeIdentity(sid('IntMSP', direct.certificate.pem)))).toMatch(/not a leaf of the certification tree/);
  });
});

describe('CRLs', () => {
  const org = makeOrg('CrlMSP');
  const revoked = org.issue({ ous: ['client'], serial: 0x8001n });
  const kept = org.issue({ ous: ['client'], serial: 0x8002n });

  it('a CRL from the issuing CA revokes the serials it lists', () => {
    const crl = enc(encodePem('X509 CRL', createCrl(org.issuer, { revokedSerials: [0x8001n] })));
    const m = new X509Msp(mspConfigOf(org, { revocationList: [crl] }));
    expect(refusal(() => m.deserializeIdentity(sid('CrlMSP', revoked.certificate.pem)))).toMatch(/revoked/);
    expect(m.deserializeIdentity(sid('CrlMSP', kept.certificate.pem)).mspId).toBe('CrlMSP');
  });

  it('a CRL with the right AKI but not signed by the CA revokes nothing and is reported as a warning', () => {
    const impostor = createSelfSignedCa({ subject: { commonName: 'ca.CrlMSP' } });
    const forged = createCrl(impostor, { revokedSerials: [0x8001n], authorityKeyId: org.root.certificate.subjectKeyId });
    const m = new X509Msp(mspConfigOf(org, { revocationList: [forged] }));
    expect(m.warnings.join()).toMatch(/revocation_list\[0\] is signed by none/);
    expect(m.deserializeIdentity(sid('CrlMSP', revoked.certificate.pem)).mspId).toBe('CrlMSP');
  });

  it('a CRL whose AKI names another CA does not apply', () => {
    const other = makeOrg('Other');
    const m = new X509Msp(mspConfigOf(org, { revocationList: [createCrl(other.root, { revokedSerials: [0x8001n] })] }));
    expect(m.deserializeIdentity(sid('CrlMSP', revoked.certificate.pem)).mspId).toBe('CrlMSP');
  });

  it('a revoked intermediate makes the MSP config invalid; garbage in revocation_list is named', () => {
    const io = makeOrg('RevInt', { intermediate: true });
    const crl = createCrl(io.root, { revokedSerials: [io.intermediate!.certificate.serial] });
    expect(configRefusal(() => new X509Msp(mspConfigOf(io, { revocationList: [crl] })))).toMatch(/intermediate_certs\[0\].*revoked/);
    expect(configRefusal(() => new X509Msp(mspConfigOf(org, { revocationList: [enc('nope')] })))).toMatch(/revocation_list\[0\]/);
  });
});

describe('OU identifiers and NodeOUs', () => {
  const org = makeOrg('NodeMSP');
  const rootPem = enc(org.root.certificate.pem);

  it('with OU identifiers, an identity needs one of them', () => {
    // The admin (OU "admin") must validate too when NodeOUs are off, so "admin" is listed as well.
    const m = new X509Msp(
      mspConfigOf(org, {
        organizationalUnitIdentifiers: [
          { certificate: rootPem, organizationalUnitIdentifier: 'blue' },
          { certificate: rootPem, organizationalUnitIdentifier: 'admin' },
        ],
      }),
    );
    expect(configRefusal(() => new X509Msp(mspConfigOf(org, { organizationalUnitIdentifiers: [{ certificate: rootPem, organizationalUnitIdentifier: 'blue' }] })))).toMatch(
      /admins\[0\].*none of its OUs \[admin\]/,
    );
    expect(m.deserializeIdentity(sid('NodeMSP', org.issue({ ous: ['blue'] }).certificate.pem)).mspId).toBe('NodeMSP');
    expect(refusal(() => m.deserializeIdentity(sid('NodeMSP', org.issue({ ous: ['red'] }).certificate.pem)))).toMatch(/none of its OUs \[red\]/);
    expect(refusal(() => m.deserializeIdentity(sid('NodeMSP', org.issue({ ous: [] }).certificate.pem)))).toMatch(/no Organizational Unit/);
  });

  it('with NodeOUs, exactly one role OU; roles map to CLIENT, PEER, ORDERER, ADMIN', () => {
    const m = new X509Msp(mspConfigOf(org, { admins: [], fabricNodeOus: NODE_OUS }));
    const as = (ou: string) => m.deserializeIdentity(sid('NodeMSP', org.issue({ ous: [ou, 'dept7'] }).certificate.pem));
    const check = (ou: string, role: common.MSPRole_MSPRoleType, expected: boolean): void => {
      expect(as(ou).satisfiesPrincipal(rolePrincipal('NodeMSP', role))).toBe(expected);
    };
    check('client', R.CLIENT, true);
    check('client', R.PEER, false);
    check('peer', R.PEER, true);
    check('orderer', R.ORDERER, true);
    check('orderer', R.CLIENT, false);
    check('admin', R.ADMIN, true);
    check('client', R.ADMIN, false);
    check('peer', R.MEMBER, true);
    expect(refusal(() => as('dept9'))).toMatch(/no OU resolving to the client, peer, orderer or admin role/);
    expect(refusal(() => m.deserializeIdentity(sid('NodeMSP', org.issue({ ous: ['client', 'peer'] }).certificate.pem)))).toMatch(/exactly one/);
  });

  it('a NodeOU naming a certificate requires that certifier', () => {
    const other = createIntermediateCa(org.root, { subject: { commonName: 'ica2' } });
    const ica = createIntermediateCa(org.root, { subject: { commonName: 'ica1' } });
    const cfg = mspConfigOf(org, {
      admins: [],
      intermediateCerts: [enc(ica.certificate.pem), enc(other.certificate.pem)],
      fabricNodeOus: { ...NODE_OUS, clientOuIdentifier: { organizationalUnitIdentifier: 'client', certificate: enc(ica.certificate.pem) } },
    });
    const m = new X509Msp(cfg);
    expect(m.deserializeIdentity(sid('NodeMSP', createLeaf(ica, { subject: { commonName: 'a', organizationalUnits: ['client'] } }).certificate.pem)).mspId).toBe('NodeMSP');
    expect(refusal(() => m.deserializeIdentity(sid('NodeMSP', createLeaf(other, { subject: { commonName: 'b', organizationalUnits: ['client'] } }).certificate.pem)))).toMatch(
      /not certified by the CA the NodeOU configuration names/,
    );
  });
});

describe('MSP config validation', () => {
  const org = makeOrg('CfgMSP');
  const build = (o: msp.FabricMSPConfigInit): string => configRefusal(() => new X509Msp(mspConfigOf(org, o)));

  it('names what is wrong', () => {
    expect(build({ rootCerts: [] })).toMatch(/at least one root/);
    expect(build({ rootCerts: [enc('not pem')] })).toMatch(/root_certs\[0\] is not PEM/);
    expect(build({ rootCerts: [enc(org.admin.certificate.pem)] })).toMatch(/root_certs\[0\] .* is not a CA certificate/);
    expect(build({ intermediateCerts: [enc(org.admin.certificate.pem)] })).toMatch(/intermediate_certs\[0\] .* is not a CA certificate/);
    const otherOrg = makeOrg('X');
    const stray = createIntermediateCa(otherOrg.root, { subject: { commonName: 'stray' } });
    expect(build({ intermediateCerts: [enc(stray.certificate.pem)] })).toMatch(/intermediate_certs\[0\].*unknown authority/);
    expect(build({ admins: [] })).toMatch(/administrators must be declared/);
    expect(build({ admins: [enc(otherOrg.admin.certificate.pem)] })).toMatch(/admins\[0\].*does not chain/);
    expect(build({ fabricNodeOus: { ...NODE_OUS, peerOuIdentifier: { organizationalUnitIdentifier: 'peer', certificate: enc(otherOrg.root.certificate.pem) } } })).toMatch(
      /fabric_node_ous.peer_ou_identifier.certificate/,
    );
    expect(build({ organizationalUnitIdentifiers: [{ organizationalUnitIdentifier: 'x', certificate: enc(org.admin.certificate.pem) }] })).toMatch(
      /organizational_unit_identifiers\[0\].certificate/,
    );
    expect(build({ cryptoConfig: { signatureHashFamily: 'MD5' } })).toMatch(/signature_hash_family/);
    const noSki = createSelfSignedCa({ subject: { commonName: 'noski' }, omitSubjectKeyId: true });
    expect(build({ rootCerts: [enc(noSki.certificate.pem)], admins: [] })).toMatch(/Subject Key Identifier/);
    expect(build({ tlsRootCerts: [enc(org.admin.certificate.pem)] })).toMatch(/tls_root_certs\[0\].*not a CA/);
  });

  it('with NodeOUs, a listed admin must carry the client or admin OU', () => {
    const peerAdmin = org.issue({ ous: ['peer'] });
    expect(build({ admins: [enc(peerAdmin.certificate.pem)], fabricNodeOus: NODE_OUS })).toMatch(/admins\[0\].*client or the admin OU/);
    const clientAdmin = org.issue({ ous: ['client'] });
    const m = new X509Msp(mspConfigOf(org, { admins: [enc(clientAdmin.certificate.pem)], fabricNodeOus: NODE_OUS }));
    expect(m.deserializeIdentity(sid('CfgMSP', clientAdmin.certificate.pem)).satisfiesPrincipal(rolePrincipal('CfgMSP', R.ADMIN))).toBe(true);
  });

  it('builds from a msp.MSPConfig and refuses other MSP types', () => {
    const ok = X509Msp.fromMspConfig({ type: 0, config: msp.FabricMSPConfig.encode(mspConfigOf(org)) });
    expect(ok.name).toBe('CfgMSP');
    expect(() => X509Msp.fromMspConfig({ type: 1, config: new Uint8Array() })).toThrow(/MSP type 1 is not supported/);
  });
});

export type { TestOrg };
