// TLS material for tests, made in memory with orderer/msp/x509-build.ts (fast: P-256, no
// subprocess): a TLS CA and leaves usable as both server and client certificates for 127.0.0.1,
// as cryptogen makes them for orderers. writeTo() puts a pair in a folder for config files.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLeaf, createSelfSignedCa, KeyUsageFlags, privateKeyPem, type IssuedWithKey, type KeyPair } from '../../orderer/msp/x509-build';

const TLS_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const TLS_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface TlsPair {
  readonly certPem: string;
  readonly keyPem: string;
  /** DER of the certificate. */
  readonly der: Uint8Array;
  readonly keys: KeyPair;
}

export class TestTlsCa {
  readonly ca: IssuedWithKey;

  constructor(readonly name = 'tlsca.example.com') {
    this.ca = createSelfSignedCa({ subject: { commonName: name, organization: 'example.com' } });
  }

  get certPem(): string {
    return this.ca.certificate.pem;
  }

  /** A leaf for `commonName`, valid as server (127.0.0.1, localhost) and as client; `keys` to renew over an existing key. */
  issue(commonName: string, keys?: KeyPair): TlsPair {
    const leaf = createLeaf(this.ca, {
      ...(keys !== undefined ? { keyPair: keys } : {}),
      subject: { commonName },
      keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment,
      extKeyUsage: [TLS_SERVER_AUTH, TLS_CLIENT_AUTH],
      dnsNames: [commonName, 'localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    return {
      certPem: leaf.certificate.pem,
      keyPem: privateKeyPem(leaf.privateKey),
      der: leaf.certificate.der,
      keys: { privateKey: leaf.privateKey, publicKey: leaf.publicKey },
    };
  }
}

/** Writes `pair` as <dir>/<name>.crt and <dir>/<name>.key; returns both paths. */
export function writePair(dir: string, name: string, pair: TlsPair): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  writeFileSync(cert, pair.certPem);
  writeFileSync(key, pair.keyPem, { mode: 0o600 });
  return { cert, key };
}

export function writeCa(dir: string, name: string, ca: TestTlsCa): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.crt`);
  writeFileSync(file, ca.certPem);
  return file;
}
