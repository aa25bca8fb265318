// The orderer's own signing identity from its MSP folder (General.LocalMSPDir, General.LocalMSPID),
// laid out as Fabric's tools write it:
//   signcerts/*.pem           the certificate (the first file in name order, as Fabric takes signcert[0])
//   keystore/<ski>_sk|priv_sk the PKCS#8 (or SEC1) EC private key; found by name, else by key match
//   cacerts/, intermediatecerts/  the CAs, used here only to normalise the certificate to low S
// The serialized identity carries the low-S normalised certificate, as Fabric's Serialize does,
// so our creator bytes are the ones any Fabric MSP computes for this certificate.
//
// Clients (the CLI, the benchmark) may instead name a certificate and a key file directly, as
// Fabric's SDKs take them (loadSigningIdentityFromFiles).
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { msp } from '../../protos';
import { bytesEqual, decodePem, encodePem } from './der';
import { isSignedBy, parseCertificate, withLowSSignature, type ParsedCertificate } from './certificate';
import { curveOfKey, signEcdsa } from './ecdsa';
import { messageOf } from './errors';
import type { SigningIdentity } from './types';
import { keyIdentifierOf } from './x509-build';

/** A problem with one file or folder of the local MSP; `file` is its path. */
export class LocalMspError extends Error {
  override readonly name: string = 'LocalMspError';

  constructor(
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`local MSP ${file}: ${reason}`, options);
  }
}

export interface LocalMspOptions {
  /** The clock for the expiry check (Fabric refuses to start with an expired signing certificate). */
  readonly nowMs?: number;
}

export class LocalSigningIdentity implements SigningIdentity {
  constructor(
    readonly mspId: string,
    readonly serialized: Uint8Array,
    readonly certificate: ParsedCertificate,
    private readonly privateKey: KeyObject,
  ) {}

  sign(data: Uint8Array): Uint8Array {
    return signEcdsa(this.privateKey, data);
  }
}

export function loadLocalSigningIdentity(mspDir: string, mspId: string, options: LocalMspOptions = {}): LocalSigningIdentity {
  if (mspId === '') throw new LocalMspError(mspDir, 'General.LocalMSPID is empty');
  const signcertsDir = path.join(mspDir, 'signcerts');
  const certFile = filesIn(signcertsDir)[0];
  if (certFile === undefined) throw new LocalMspError(signcertsDir, 'holds no certificate file');
  const cert = readCertificate(certFile);
  if (cert.curve === undefined) throw new LocalMspError(certFile, 'the certificate key is not an ECDSA key on P-256, P-384 or P-521');
  const nowMs = options.nowMs ?? Date.now();
  if (cert.notAfterMs < nowMs) throw new LocalMspError(certFile, `the signing certificate expired at ${new Date(cert.notAfterMs).toISOString()}`);

  const privateKey = findPrivateKey(path.join(mspDir, 'keystore'), cert, certFile);
  const sanitized = withLowSSignature(cert, issuerCurve(mspDir, cert) ?? cert.curve);
  const serialized = msp.SerializedIdentity.encode({ mspid: mspId, idBytes: new TextEncoder().encode(encodePem('CERTIFICATE', sanitized.der)) });
  return new LocalSigningIdentity(mspId, serialized, sanitized, privateKey);
}

/** A client identity named by its files, as an SDK takes it (certificate PEM, private key PEM). */
export interface SigningIdentityFiles {
  readonly mspId: string;
  readonly certPath: string;
  /** PKCS#8 ("PRIVATE KEY") or SEC1 ("EC PRIVATE KEY") PEM. */
  readonly keyPath: string;
}

/**
 * A signing identity from a certificate file and a private key file. The key must belong to the
 * certificate: a mismatched pair would sign envelopes every orderer refuses, so it is refused here,
 * naming the key file. The creator carries the low-S normalised certificate as with an MSP folder;
 * with no CA certificate at hand the certificate's own curve stands in for its issuer's (cryptogen
 * and Fabric CA issue P-256 under P-256), as loadLocalSigningIdentity does without cacerts/.
 */
export function loadSigningIdentityFromFiles(files: SigningIdentityFiles, options: LocalMspOptions = {}): LocalSigningIdentity {
  if (files.mspId === '') throw new LocalMspError(files.certPath, 'the MSP ID is empty');
  const cert = readCertificate(files.certPath);
  if (cert.curve === undefined) throw new LocalMspError(files.certPath, 'the certificate key is not an ECDSA key on P-256, P-384 or P-521');
  const nowMs = options.nowMs ?? Date.now();
  if (cert.notAfterMs < nowMs) throw new LocalMspError(files.certPath, `the signing certificate expired at ${new Date(cert.notAfterMs).toISOString()}`);
  const privateKey = readPrivateKey(files.keyPath, cert, files.certPath);
  const sanitized = withLowSSignature(cert, cert.curve);
  const serialized = msp.SerializedIdentity.encode({ mspid: files.mspId, idBytes: new TextEncoder().encode(encodePem('CERTIFICATE', sanitized.der)) });
  return new LocalSigningIdentity(files.mspId, serialized, sanitized, privateKey);
}

/** The private key in `file`, which must belong to `cert`. */
function readPrivateKey(file: string, cert: ParsedCertificate, certFile: string): KeyObject {
  const problem = privateKeyProblem(file, cert, certFile);
  if (typeof problem === 'string') throw new LocalMspError(file, problem);
  return problem;
}

/** The key in `file` if it matches `cert`, else why not (without the file name). */
function privateKeyProblem(file: string, cert: ParsedCertificate, certFile: string): KeyObject | string {
  const pem = readFile(file);
  if (decodePem(pem) === undefined) return 'is not PEM';
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    return `is not a private key (${messageOf(err)})`;
  }
  if (curveOfKey(key) === undefined) return 'is not an EC private key on P-256, P-384 or P-521';
  const spki = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
  if (!bytesEqual(spki, cert.spkiDer)) return `does not match the certificate ${certFile}`;
  return key;
}

function readFile(file: string): Buffer {
  if (!existsSync(file)) throw new LocalMspError(file, 'does not exist');
  try {
    return readFileSync(file);
  } catch (err) {
    throw new LocalMspError(file, `cannot be read: ${messageOf(err)}`, { cause: err });
  }
}

function filesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new LocalMspError(dir, `cannot be read: ${messageOf(err)}`, { cause: err });
  }
  return names
    .sort()
    .map((n) => path.join(dir, n))
    .filter((f) => statSync(f).isFile());
}

function readCertificate(file: string): ParsedCertificate {
  const block = decodePem(readFile(file));
  if (block === undefined) throw new LocalMspError(file, 'is not PEM');
  try {
    return parseCertificate(block.der);
  } catch (err) {
    throw new LocalMspError(file, messageOf(err), { cause: err });
  }
}

/** BCCSP names a key file by hex(SKI) + "_sk"; other names (priv_sk) are found by matching the key. */
function findPrivateKey(keystoreDir: string, cert: ParsedCertificate, certFile: string): KeyObject {
  const files = filesIn(keystoreDir);
  if (files.length === 0) throw new LocalMspError(keystoreDir, 'holds no private key file');
  const byName = path.join(keystoreDir, `${Buffer.from(keyIdentifierOf(cert.publicKey)).toString('hex')}_sk`);
  const ordered = files.includes(byName) ? [byName, ...files.filter((f) => f !== byName)] : files;
  const problems: string[] = [];
  for (const file of ordered) {
    const found = privateKeyProblem(file, cert, certFile);
    if (typeof found !== 'string') return found;
    problems.push(`${file} ${found}`);
  }
  if (problems.length === 1) throw new LocalMspError(ordered[0]!, problems[0]!.slice(ordered[0]!.length + 1));
  throw new LocalMspError(keystoreDir, `no private key matches the certificate ${certFile}: ${problems.join('; ')}`);
}

/** The curve of the CA in cacerts/ or intermediatecerts/ that signed `cert`, if one is there. */
function issuerCurve(mspDir: string, cert: ParsedCertificate): ReturnType<typeof curveOfKey> {
  for (const sub of ['intermediatecerts', 'cacerts']) {
    const dir = path.join(mspDir, sub);
    let files: string[];
    try {
      files = filesIn(dir);
    } catch {
      continue; // optional folders
    }
    for (const file of files) {
      const block = decodePem(readFileSync(file));
      if (block === undefined) continue;
      let ca: ParsedCertificate;
      try {
        ca = parseCertificate(block.der);
      } catch {
        continue;
      }
      if (bytesEqual(ca.subjectDer, cert.issuerDer) && isSignedBy(cert, ca)) return ca.curve;
    }
  }
  return undefined;
}
