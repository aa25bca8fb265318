// The orderer's own signing identity from a Fabric-layout MSP folder.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { msp } from '../../../protos';
import { encodePem } from '../../../orderer/msp/der';
import { LocalMspError, loadLocalSigningIdentity, loadSigningIdentityFromFiles } from '../../../orderer/msp/local-msp';
import { MspManager } from '../../../orderer/msp/manager';
import { generateP256KeyPair, keyIdentifierOf, privateKeyPem, withFlippedSignatureS } from '../../../orderer/msp/x509-build';
import { X509Msp } from '../../../orderer/msp/x509-msp';
import { DAY_MS, makeOrg, mspConfigOf } from './fixtures';

const org = makeOrg('OrdererMSP');
const node = org.issue({ ous: ['orderer'] });
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'local-msp-'));
  for (const sub of ['signcerts', 'keystore', 'cacerts']) mkdirSync(path.join(dir, sub));
  writeFileSync(path.join(dir, 'cacerts', 'ca.pem'), org.root.certificate.pem);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function loadError(nowMs?: number): LocalMspError {
  try {
    loadLocalSigningIdentity(dir, 'OrdererMSP', nowMs === undefined ? {} : { nowMs });
  } catch (err) {
    expect(err).toBeInstanceOf(LocalMspError);
    return err as LocalMspError;
  }
  throw new Error('expected a LocalMspError');
}

describe('loadLocalSigningIdentity', () => {
  it('loads signcerts + keystore/priv_sk; its signatures verify through the channel MSP', () => {
    writeFileSync(path.join(dir, 'signcerts', 'cert.pem'), node.certificate.pem);
    writeFileSync(path.join(dir, 'keystore', 'priv_sk'), privateKeyPem(node.privateKey));
    const signer = loadLocalSigningIdentity(dir, 'OrdererMSP');
    expect(msp.SerializedIdentity.decode(signer.serialized).mspid).toBe('OrdererMSP');
    const manager = new MspManager(new Map([['OrdererMSP', new X509Msp(mspConfigOf(org))]]));
    const identity = manager.deserialize(signer.serialized);
    const data = new TextEncoder().encode('block metadata');
    expect(identity.verify(data, signer.sign(data))).toBe(true);
  });

  it('finds the key by <ski>_sk among other keys, and serializes the low-S normalised certificate', () => {
    writeFileSync(path.join(dir, 'signcerts', 'cert.pem'), encodePem('CERTIFICATE', withFlippedSignatureS(node.certificate.der)));
    writeFileSync(path.join(dir, 'keystore', 'aaa_sk'), privateKeyPem(generateP256KeyPair().privateKey));
    writeFileSync(path.join(dir, 'keystore', `${Buffer.from(keyIdentifierOf(node.publicKey)).toString('hex')}_sk`), privateKeyPem(node.privateKey));
    const signer = loadLocalSigningIdentity(dir, 'OrdererMSP');
    expect(signer.certificate.der).toEqual(node.certificate.der);
    expect(new TextDecoder().decode(msp.SerializedIdentity.decode(signer.serialized).idBytes)).toBe(node.certificate.pem);
  });

  it('names the file and the problem', () => {
    expect(loadError().message).toMatch(/signcerts: holds no certificate file/);
    writeFileSync(path.join(dir, 'signcerts', 'cert.pem'), 'not a pem');
    expect(loadError().file).toBe(path.join(dir, 'signcerts', 'cert.pem'));
    expect(loadError().message).toMatch(/cert.pem: is not PEM/);
    writeFileSync(path.join(dir, 'signcerts', 'cert.pem'), node.certificate.pem);
    expect(loadError().message).toMatch(/keystore: holds no private key file/);
    writeFileSync(path.join(dir, 'keystore', 'priv_sk'), 'garbage');
    expect(loadError().message).toMatch(/priv_sk: is not PEM/);
    writeFileSync(path.join(dir, 'keystore', 'priv_sk'), privateKeyPem(generateP256KeyPair().privateKey));
    const mismatch = loadError();
    expect(mismatch.file).toBe(path.join(dir, 'keystore', 'priv_sk'));
    expect(mismatch.message).toMatch(/does not match the certificate/);
    writeFileSync(path.join(dir, 'keystore', 'priv_sk'), privateKeyPem(node.privateKey));
    expect(loadError(Date.now() + 20 * 365 * DAY_MS).message).toMatch(/expired/);
    rmSync(path.join(dir, 'keystore'), { recursive: true });
    expect(loadError().message).toMatch(/keystore: cannot be read/);
  });
});

describe('loadSigningIdentityFromFiles', () => {
  const client = org.issue({ ous: ['client'] });
  const data = new TextEncoder().encode('an envelope payload');
  const manager = (): MspManager => new MspManager(new Map([['OrdererMSP', new X509Msp(mspConfigOf(org))]]));

  function files(cert: string, key: string): { mspId: string; certPath: string; keyPath: string } {
    writeFileSync(path.join(dir, 'cert.pem'), cert);
    writeFileSync(path.join(dir, 'key.pem'), key);
    return { mspId: 'OrdererMSP', certPath: path.join(dir, 'cert.pem'), keyPath: path.join(dir, 'key.pem') };
  }

  function fileError(spec: { mspId: string; certPath: string; keyPath: string }): LocalMspError {
    try {
      loadSigningIdentityFromFiles(spec);
    } catch (err) {
      expect(err).toBeInstanceOf(LocalMspError);
      return err as LocalMspError;
    }
    throw new Error('expected a LocalMspError');
  }

  it('takes a PKCS#8 key; its signatures verify through the channel MSP', () => {
    const signer = loadSigningIdentityFromFiles(files(client.certificate.pem, privateKeyPem(client.privateKey)));
    expect(signer.mspId).toBe('OrdererMSP');
    expect(manager().deserialize(signer.serialized).verify(data, signer.sign(data))).toBe(true);
  });

  it('takes a SEC1 ("EC PRIVATE KEY") key', () => {
    const sec1 = client.privateKey.export({ format: 'pem', type: 'sec1' }).toString();
    expect(sec1).toMatch(/BEGIN EC PRIVATE KEY/);
    const signer = loadSigningIdentityFromFiles(files(client.certificate.pem, sec1));
    expect(manager().deserialize(signer.serialized).verify(data, signer.sign(data))).toBe(true);
  });

  it('serializes the low-S normalised certificate, the same creator as the MSP folder gives', () => {
    const highS = encodePem('CERTIFICATE', withFlippedSignatureS(client.certificate.der));
    const signer = loadSigningIdentityFromFiles(files(highS, privateKeyPem(client.privateKey)));
    expect(new TextDecoder().decode(msp.SerializedIdentity.decode(signer.serialized).idBytes)).toBe(client.certificate.pem);
    writeFileSync(path.join(dir, 'signcerts', 'cert.pem'), highS);
    writeFileSync(path.join(dir, 'keystore', 'priv_sk'), privateKeyPem(client.privateKey));
    expect(loadLocalSigningIdentity(dir, 'OrdererMSP').serialized).toEqual(signer.serialized);
  });

  it('names the file for a missing file, garbage PEM, a key that is not the certificate’s', () => {
    const good = files(client.certificate.pem, privateKeyPem(client.privateKey));
    const missing = fileError({ ...good, certPath: path.join(dir, 'nope.pem') });
    expect(missing.file).toBe(path.join(dir, 'nope.pem'));
    expect(missing.message).toMatch(/nope.pem: does not exist/);
    expect(fileError({ ...good, keyPath: path.join(dir, 'nokey.pem') }).message).toMatch(/nokey.pem: does not exist/);

    const garbageCert = fileError(files('garbage', privateKeyPem(client.privateKey)));
    expect(garbageCert.file).toBe(good.certPath);
    expect(garbageCert.message).toMatch(/is not PEM/);
    const garbageKey = fileError(files(client.certificate.pem, 'garbage'));
    expect(garbageKey.file).toBe(good.keyPath);
    expect(garbageKey.message).toMatch(/is not PEM/);
    const notAKey = fileError(files(client.certificate.pem, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'));
    expect(notAKey.message).toMatch(/is not a private key/);

    const mismatched = fileError(files(client.certificate.pem, privateKeyPem(generateP256KeyPair().privateKey)));
    expect(mismatched.file).toBe(good.keyPath);
    expect(mismatched.message).toMatch(/does not match the certificate/);
    expect(fileError({ ...good, mspId: '' }).message).toMatch(/MSP ID is empty/);
  });
});
