// The orderer's own signing identity from a Fabric-layout MSP folder.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { msp } from '../../../protos';
import { encodePem } from '../../../orderer/msp/der';
import { LocalMspError, loadLocalSigningIdentity } from '../../../orderer/msp/local-msp';
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
