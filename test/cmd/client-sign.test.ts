// `client broadcast|deliver` with an identity and TLS, as a user runs them: `node dist/cmd/client.js`
// in a child process against the production AtomicBroadcast registration in this process (over
// FakeChains with real LMDB stores), served plaintext, with TLS, or with mutual TLS from
// certificates made by orderer/msp/x509-build.ts. Signatures are checked with node:crypto against
// the certificate, independently of our own ECDSA code. Needs `npm run build` first.
import * as grpc from '@grpc/grpc-js';
import { createHash, createPublicKey, verify, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { computeTxId, envelopeHeaders } from '../../ledger';
import { msp } from '../../protos';
import { atomicBroadcastServerOptions, bindServer, registerAtomicBroadcast } from '../../orderer/grpc-service';
import type { SignedData } from '../../orderer/msgcheck';
import { createLeaf, createSelfSignedCa, privateKeyPem, type IssuedWithKey } from '../../orderer/msp/x509-build';
import { FakeChain, FakeRegistry, silentLogger } from '../orderer/fake-chain';
import { CLIENT_JS as CLIENT, runClient } from '../support/run-client';

const CHANNEL = 'signchannel';



// One org CA for identities, one TLS CA for connections, as cryptogen lays them out.
const ca = createSelfSignedCa({ subject: { commonName: 'ca.org1.example.com', organization: 'org1.example.com' } });
const user = createLeaf(ca, { subject: { commonName: 'User1@org1.example.com', organizationalUnits: ['client'] } });
const tlsCa = createSelfSignedCa({ subject: { commonName: 'tlsca.example.com' } });
const serverTls = createLeaf(tlsCa, {
  subject: { commonName: 'orderer1.example.com' },
  dnsNames: ['orderer1.example.com', 'localhost'],
  ipAddresses: ['127.0.0.1'],
  extKeyUsage: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
});
const clientTls = createLeaf(tlsCa, { subject: { commonName: 'User1@org1.example.com' }, extKeyUsage: ['1.3.6.1.5.5.7.3.2'] });

let dir: string;
const file = (name: string): string => path.join(dir, name);

function writePair(prefix: string, issued: IssuedWithKey): void {
  writeFileSync(file(`${prefix}.crt`), issued.certificate.pem);
  writeFileSync(file(`${prefix}.key`), privateKeyPem(issued.privateKey));
}

interface Orderer {
  chain: FakeChain;
  address: string;
  /** Signed data of every Writers/Readers evaluation, in order. */
  evaluated: { policy: string; signedData: readonly SignedData[] }[];
  close(): Promise<void>;
}

async function startOrderer(credentials?: grpc.ServerCredentials): Promise<Orderer> {
  const chain = await FakeChain.open({ channelId: CHANNEL });
  chain.cutEvery = 10;
  const evaluated: Orderer['evaluated'] = [];
  chain.policyEvaluator = {
    evaluateSignedData: (policy, signedData) => {
      evaluated.push({ policy, signedData });
      return true;
    },
  };
  const server = new grpc.Server(atomicBroadcastServerOptions());
  const deliver = registerAtomicBroadcast(server, new FakeRegistry([chain]), silentLogger);
  const port = await bindServer(server, '127.0.0.1:0', credentials);
  return {
    chain,
    address: `127.0.0.1:${port}`,
    evaluated,
    close: async () => {
      deliver.close();
      server.forceShutdown();
      await chain.close();
    },
  };
}

function serverCredentials(requireClientCert: boolean, leaf: IssuedWithKey = serverTls): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(
    Buffer.from(tlsCa.certificate.pem),
    [{ cert_chain: Buffer.from(leaf.certificate.pem), private_key: Buffer.from(privateKeyPem(leaf.privateKey)) }],
    requireClientCert,
  );
}

/** node:crypto's own check: ECDSA-SHA256 over `data` by the key of the certificate in `creator`. */
function verifiesAgainstCert(creator: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  const identity = msp.SerializedIdentity.decode(creator);
  const cert = new X509Certificate(Buffer.from(identity.idBytes));
  return verify('sha256', data, createPublicKey(cert.publicKey.export({ format: 'pem', type: 'spki' })), signature);
}

const expectedCreator = (): Uint8Array => msp.SerializedIdentity.encode({ mspid: 'Org1MSP', idBytes: Buffer.from(user.certificate.pem) });

let orderer: Orderer | undefined;

beforeAll(() => {
  if (!existsSync(CLIENT)) throw new Error(`${CLIENT} is missing: run npm run build first`);
});

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'client-sign-'));
  writePair('user', user);
  writePair('server-tls', serverTls);
  writePair('client-tls', clientTls);
  writeFileSync(file('tlsca.pem'), tlsCa.certificate.pem);
});

afterEach(async () => {
  await orderer?.close();
  orderer = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const identityFlags = (): string[] => ['--mspid', 'Org1MSP', '--cert', file('user.crt'), '--key', file('user.key')];

describe('client broadcast, signed', () => {
  test('--mspid --cert --key: every envelope is signed over its Payload by the certificate\'s key, creator and tx id as Fabric makes them', async () => {
    orderer = await startOrderer();
    const run = await runClient(['broadcast', '--orderer', orderer.address, '--channel', CHANNEL, '-n', '40', '--size', '50', '-c', '2', ...identityFlags()]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/signed as Org1MSP/);
    expect(run.stderr).toMatch(/signing: 40 envelopes in/);
    expect(run.stdout).toMatch(/^SUCCESS\s+40$/m);
    expect(orderer.chain.ordered).toHaveLength(40);
    for (const parsed of orderer.chain.ordered) {
      const { channelHeader, signatureHeader } = envelopeHeaders(parsed.envelopeBytes);
      expect(signatureHeader.creator).toEqual(expectedCreator());
      expect(channelHeader.txId).toBe(computeTxId(signatureHeader.nonce, signatureHeader.creator));
      expect(channelHeader.tlsCertHash).toHaveLength(0);
      expect(verifiesAgainstCert(signatureHeader.creator, parsed.envelope.payload, parsed.envelope.signature)).toBe(true);
    }
    // The orderer was handed the same signed data for its Writers check.
    const writers = orderer.evaluated.filter((e) => e.policy.endsWith('Writers'));
    expect(writers).toHaveLength(40);
    expect(writers[0]!.signedData[0]!.identity).toEqual(expectedCreator());
  });

  test('--msp-dir: the identity from an MSP folder', async () => {
    orderer = await startOrderer();
    const mspDir = file('msp');
    mkdirSync(path.join(mspDir, 'signcerts'), { recursive: true });
    mkdirSync(path.join(mspDir, 'keystore'));
    writeFileSync(path.join(mspDir, 'signcerts', 'User1-cert.pem'), user.certificate.pem);
    writeFileSync(path.join(mspDir, 'keystore', 'priv_sk'), privateKeyPem(user.privateKey));
    const run = await runClient(['broadcast', '--orderer', orderer.address, '--channel', CHANNEL, '-n', '5', '--mspid', 'Org1MSP', '--msp-dir', mspDir]);
    expect(run.code).toBe(0);
    const parsed = orderer.chain.ordered[0]!;
    const { signatureHeader } = envelopeHeaders(parsed.envelopeBytes);
    expect(signatureHeader.creator).toEqual(expectedCreator());
    expect(verifiesAgainstCert(signatureHeader.creator, parsed.envelope.payload, parsed.envelope.signature)).toBe(true);
  });

  test('without identity flags envelopes stay unsigned (placeholder creator)', async () => {
    orderer = await startOrderer();
    const run = await runClient(['broadcast', '--orderer', orderer.address, '--channel', CHANNEL, '-n', '3']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/client: unsigned, plaintext/);
    const { signatureHeader } = envelopeHeaders(orderer.chain.ordered[0]!.envelopeBytes);
    expect(msp.SerializedIdentity.decode(signatureHeader.creator).mspid).toBe('LoadGenMSP');
  });
});

describe('client deliver, signed', () => {
  test('the seek request is signed: the Readers check gets the identity and a signature node:crypto verifies', async () => {
    orderer = await startOrderer();
    const run = await runClient(['deliver', '--orderer', orderer.address, '--channel', CHANNEL, '--start', '0', '--stop', '0', ...identityFlags()]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^block 0 /);
    const readers = orderer.evaluated.filter((e) => e.policy.endsWith('Readers'));
    expect(readers.length).toBeGreaterThan(0);
    const signed = readers[0]!.signedData[0]!;
    expect(signed.identity).toEqual(expectedCreator());
    expect(verifiesAgainstCert(signed.identity, signed.data, signed.signature)).toBe(true);
  });
});

describe('client TLS', () => {
  test('--tls-ca dials with TLS trusting that CA; plaintext against a TLS port fails', async () => {
    orderer = await startOrderer(serverCredentials(false));
    const tls = await runClient(['broadcast', '--orderer', orderer.address, '--channel', CHANNEL, '-n', '5', '--tls-ca', file('tlsca.pem'), ...identityFlags()]);
    expect(tls.code).toBe(0);
    expect(tls.stderr).toMatch(/signed as Org1MSP .*, TLS \(CA /);
    expect(orderer.chain.ordered).toHaveLength(5);
    const deliver = await runClient(['deliver', '--orderer', orderer.address, '--channel', CHANNEL, '--start', '0', '--stop', '0', '--tls-ca', file('tlsca.pem')]);
    expect(deliver.code).toBe(0);
    expect(deliver.stdout).toMatch(/^block 0 /);

    const plain = await runClient(['broadcast', '--orderer', orderer.address, '--channel', CHANNEL, '-n', '1']);
    expect(plain.code).toBe(1);
    // A CA that did not issue the server certificate is not trusted either.
    writeFileSync(file('other-ca.pem'), createSelfSignedCa({ subject: { commonName: 'other' } }).certificate.pem);
    const untrusted = await runClient(['broadcast', '--orderer', orderer.address, '--channel', CHANNEL, '-n', '1', '--tls-ca', file('other-ca.pem')]);
    expect(untrusted.code).toBe(1);
    expect(orderer.chain.ordered).toHaveLength(5);
  }, 30_000);

  test('--tls-cert/--tls-key: mutual TLS, and each ChannelHeader carries SHA-256 of the client certificate', async () => {
    orderer = await startOrderer(serverCredentials(true));
    const tlsFlags = ['--tls-ca', file('tlsca.pem'), '--tls-cert', file('client-tls.crt'), '--tls-key', file('client-tls.key')];
    const run = await runClient(['broadcast', '--orderer', orderer.address, '--channel', CHANNEL, '-n', '5', ...identityFlags(), ...tlsFlags]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/mutual TLS/);
    const hash = createHash('sha256').update(clientTls.certificate.der).digest();
    for (const parsed of orderer.chain.ordered) {
      const { channelHeader, signatureHeader } = envelopeHeaders(parsed.envelopeBytes);
      expect(Buffer.from(channelHeader.tlsCertHash)).toEqual(hash);
      expect(verifiesAgainstCert(signatureHeader.creator, parsed.envelope.payload, parsed.envelope.signature)).toBe(true);
    }
    const deliver = await runClient(['deliver', '--orderer', orderer.address, '--channel', CHANNEL, '--start', '0', '--stop', '0', ...identityFlags(), ...tlsFlags]);
    expect(deliver.code).toBe(0);
    // Without a client certificate the server does not complete the handshake.
    const noCert = await runClient(['broadcast', '--orderer', orderer.address, '--channel', CHANNEL, '-n', '1', '--tls-ca', file('tlsca.pem')]);
    expect(noCert.code).toBe(1);
  }, 30_000);

  test('--tls-server-name: dialling an address the certificate does not name', async () => {
    // A certificate as cryptogen makes them: host names only, no IP address.
    const namesOnly = createLeaf(tlsCa, { subject: { commonName: 'orderer1.example.com' }, dnsNames: ['orderer1.example.com'], extKeyUsage: ['1.3.6.1.5.5.7.3.1'] });
    orderer = await startOrderer(serverCredentials(false, namesOnly));
    const base = ['broadcast', '--orderer', orderer.address, '--channel', CHANNEL, '-n', '2', '--tls-ca', file('tlsca.pem')];
    const unnamed = await runClient(base);
    expect(unnamed.code).toBe(1);
    const named = await runClient([...base, '--tls-server-name', 'orderer1.example.com']);
    expect(named.code).toBe(0);
    expect(orderer.chain.ordered).toHaveLength(2);
  }, 30_000);
});

describe('bad identity and TLS flags', () => {
  test('exit 2, naming the flag or the file', async () => {
    orderer = await startOrderer();
    const base = ['broadcast', '--orderer', orderer.address, '--channel', CHANNEL, '-n', '1'];
    const noKey = await runClient([...base, '--mspid', 'Org1MSP', '--cert', file('user.crt')]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('--cert and --key go together');
    const noMspId = await runClient([...base, '--cert', file('user.crt'), '--key', file('user.key')]);
    expect(noMspId.code).toBe(2);
    expect(noMspId.stderr).toContain('--mspid is needed');
    const missing = await runClient([...base, '--mspid', 'Org1MSP', '--cert', file('nope.crt'), '--key', file('user.key')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`${file('nope.crt')}: does not exist`);
    writeFileSync(file('garbage.crt'), 'garbage');
    const garbage = await runClient([...base, '--mspid', 'Org1MSP', '--cert', file('garbage.crt'), '--key', file('user.key')]);
    expect(garbage.code).toBe(2);
    expect(garbage.stderr).toContain(`${file('garbage.crt')}: is not PEM`);
    const mismatched = await runClient([...base, '--mspid', 'Org1MSP', '--cert', file('user.crt'), '--key', file('client-tls.key')]);
    expect(mismatched.code).toBe(2);
    expect(mismatched.stderr).toContain(`${file('client-tls.key')}: does not match the certificate`);
    const tlsNoCa = await runClient([...base, '--tls-cert', file('client-tls.crt'), '--tls-key', file('client-tls.key')]);
    expect(tlsNoCa.code).toBe(2);
    expect(tlsNoCa.stderr).toContain('need --tls-ca');
    expect(orderer.chain.ordered).toHaveLength(0);
    const help = await runClient(['--help']);
    expect(help.stdout).toMatch(/--mspid ID[\s\S]*--tls-ca FILE/);
  }, 30_000);
});
