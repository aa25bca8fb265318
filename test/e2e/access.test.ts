// Identities and policies on a real 3-node network (real processes, 127.0.0.1), with the
// devnet's enforced policies: only members of Org1MSP and OrdererMSP write and read. Every bad
// identity of the issue is refused with Fabric's status, nothing of it is ordered or served,
// and the nodes keep running; every block carries an orderer signature that satisfies the
// channel's BlockValidation policy.
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DeliverClientError, deliverBlocks, type DeliveredBlock } from '../../orderer/deliver-client';
import { buildEnvelope, type EnvelopeSigner } from '../../orderer/envelopes';
import { parseConfigBlock } from '../../orderer/channelconfig';
import { encodePem } from '../../orderer/msp/der';
import { encodeEcdsaSignature, P256, parseEcdsaSignature, signEcdsa, toHighS } from '../../orderer/msp/ecdsa';
import { defaultSpec, generateCryptoMaterial } from '../../orderer/msp/generate';
import { loadLocalSigningIdentity } from '../../orderer/msp/local-msp';
import { envelopeSignerOf } from '../../orderer/msp/signers';
import { mspManagerFromConfig } from '../../orderer/msp/manager';
import { createCrl, createLeaf, createSelfSignedCa, issuedCertificateFromDer, KeyUsageFlags, type Issuer, type IssuedWithKey } from '../../orderer/msp/x509-build';
import { decodePem } from '../../orderer/msp/der';
import { verifyBlockSignatures } from '../../orderer/policies/block-signatures';
import { ConfigChannelPolicies } from '../../orderer/policies/channel-policies';
import { common, msp } from '../../protos';
import { broadcastOne, createNetwork, verifyChain, waitFor, type TestNetwork } from './harness';

jest.setTimeout(120_000);

const CHANNEL = 'mychannel';
const DAY_MS = 86_400_000;
let net: TestNetwork;
let address: string;
let user1: EnvelopeSigner;
/** Identities of the bad-input list, made in prepare() before the genesis block exists. */
const bad: Record<'foreign' | 'expired' | 'future' | 'revoked', EnvelopeSigner> = {} as never;

function signerOf(leaf: IssuedWithKey, mspId: string): EnvelopeSigner {
  const creator = msp.SerializedIdentity.encode({ mspid: mspId, idBytes: new TextEncoder().encode(leaf.certificate.pem) });
  return { creator, sign: (data) => signEcdsa(leaf.privateKey, data) };
}

/** Org1's CA, read back from what generateCryptoMaterial wrote. */
function org1Ca(cryptoDir: string): Issuer {
  const caDir = path.join(cryptoDir, 'peerOrganizations', 'org1.example.com', 'ca');
  const der = decodePem(readFileSync(path.join(caDir, 'ca.org1.example.com-cert.pem')))!.der;
  return { certificate: issuedCertificateFromDer(der), privateKey: createPrivateKey(readFileSync(path.join(caDir, 'priv_sk'))) };
}

function clientLeaf(ca: Issuer, name: string, window: { notBefore?: Date; notAfter?: Date } = {}): IssuedWithKey {
  return createLeaf(ca, { subject: { commonName: name, organizationalUnits: ['client'] }, keyUsage: KeyUsageFlags.digitalSignature, ...window });
}

/** The devnet's crypto, written here first so Org1's MSP in the genesis block carries a CRL revoking one client. */
function prepare(dataDir: string): void {
  const cryptoDir = path.join(dataDir, 'crypto');
  generateCryptoMaterial(cryptoDir, defaultSpec(3, 1));
  const ca = org1Ca(cryptoDir);
  const now = Date.now();
  const revoked = clientLeaf(ca, 'Revoked@org1.example.com');
  bad.revoked = signerOf(revoked, 'Org1MSP');
  bad.expired = signerOf(clientLeaf(ca, 'Expired@org1.example.com', { notBefore: new Date(now - 2 * DAY_MS), notAfter: new Date(now - DAY_MS) }), 'Org1MSP');
  bad.future = signerOf(clientLeaf(ca, 'Future@org1.example.com', { notBefore: new Date(now + DAY_MS), notAfter: new Date(now + 2 * DAY_MS) }), 'Org1MSP');
  const foreignCa = createSelfSignedCa({ subject: { commonName: 'ca.org1.example.com', organization: 'org1.example.com' } });
  bad.foreign = signerOf(clientLeaf(foreignCa, 'User1@org1.example.com'), 'Org1MSP');
  const crls = path.join(cryptoDir, 'peerOrganizations', 'org1.example.com', 'msp', 'crls');
  mkdirSync(crls, { recursive: true });
  writeFileSync(path.join(crls, 'crl.pem'), encodePem('X509 CRL', createCrl(ca, { revokedSerials: [revoked.certificate.serial] })));
}

beforeAll(async () => {
  net = await createNetwork({ openAccess: false, prepare });
  const c = net.layout.crypto;
  user1 = envelopeSignerOf(loadLocalSigningIdentity(c.clientMspDir, c.clientMspId));
  address = net.nodes[0]!.address;
  net.startAll();
  await waitFor('a leader that orders a signed envelope', 60_000, async () => {
    const res = await broadcastOne(address, envelope(user1).bytes);
    return res.status === common.Status.SUCCESS ? true : undefined;
  }, 300);
});

afterAll(async () => {
  await net?.destroy();
});

function envelope(signer: EnvelopeSigner): { bytes: Uint8Array; txId: string } {
  return buildEnvelope({ channelId: CHANNEL, signer, data: new TextEncoder().encode(`access test ${Math.random()}`) });
}

async function readAll(signer: EnvelopeSigner | undefined, at = address): Promise<DeliveredBlock[]> {
  const out: DeliveredBlock[] = [];
  for await (const b of deliverBlocks({ address: at, channelId: CHANNEL, start: 'oldest', stop: 'newest', receiveTimeoutMs: 10_000, ...(signer !== undefined ? { signer } : {}) })) out.push(b);
  return out;
}

async function deliverStatus(signer: EnvelopeSigner | undefined): Promise<common.Status | 'ok'> {
  try {
    await readAll(signer);
    return 'ok';
  } catch (err) {
    if (err instanceof DeliverClientError && err.status !== undefined) return err.status;
    throw err;
  }
}

test('every bad identity is refused with its status, nothing of it is ordered or served, and the nodes keep running', async () => {
  const refused: { name: string; txId: string; status: common.Status; info: RegExp }[] = [];
  const expect403 = (name: string, info: RegExp) => ({ name, status: common.Status.FORBIDDEN, info });
  const cases: { name: string; env: { bytes: Uint8Array; txId: string }; status: common.Status; info: RegExp }[] = [];

  // Forged: a valid creator, a signature over other bytes.
  const forged = buildEnvelope({ channelId: CHANNEL, creator: user1.creator, data: Uint8Array.of(1), signature: user1.sign(Uint8Array.of(9)) });
  cases.push({ env: forged, ...expect403('forged signature', /bad signature by an identity of Org1MSP/) });
  // High S: User1's own valid signature with s replaced by n - s (Fabric's low-S rule).
  const good = envelope(user1);
  const envelopeMsg = common.Envelope.decode(good.bytes);
  const highS = encodeEcdsaSignature(toHighS(P256, parseEcdsaSignature(envelopeMsg.signature)));
  cases.push({ env: { bytes: common.Envelope.encode({ payload: envelopeMsg.payload, signature: highS }), txId: good.txId }, ...expect403('high-S signature', /bad signature/) });
  cases.push({ env: envelope(bad.foreign), ...expect403('certificate from a foreign CA', /identity refused \(MSP Org1MSP/) });
  cases.push({ env: envelope(bad.revoked), ...expect403('revoked certificate', /revoked/) });
  cases.push({ env: envelope(bad.expired), name: 'expired certificate', status: common.Status.BAD_REQUEST, info: /expired/ });
  cases.push({ env: envelope(bad.future), name: 'not yet valid certificate', status: common.Status.BAD_REQUEST, info: /not valid before/ });
  // Wrong MSP id: User1's certificate claimed for OrdererMSP.
  const claimed = msp.SerializedIdentity.decode(user1.creator);
  const wrongMsp: EnvelopeSigner = { creator: msp.SerializedIdentity.encode({ mspid: 'OrdererMSP', idBytes: claimed.idBytes }), sign: user1.sign };
  cases.push({ env: envelope(wrongMsp), ...expect403('wrong MSP id', /identity refused \(MSP OrdererMSP/) });
  cases.push({ env: buildEnvelope({ channelId: CHANNEL, creator: Uint8Array.of(0xff, 0x01, 0x02), data: Uint8Array.of(1), signature: Uint8Array.of(1) }), ...expect403('creator that does not parse', /identity refused/) });
  cases.push({ env: buildEnvelope({ channelId: CHANNEL, data: Uint8Array.of(1) }), ...expect403('unsigned', /does not satisfy policy \/Channel\/Writers/) });

  for (const c of cases) {
    const answer = await broadcastOne(address, c.env.bytes);
    expect({ name: c.name, status: common.Status[answer.status] }).toEqual({ name: c.name, status: common.Status[c.status] });
    expect(answer.info).toMatch(c.info);
    refused.push({ name: c.name, txId: c.env.txId, status: c.status, info: c.info });
  }

  // The nodes still order and serve: one more good envelope reaches every node's ledger.
  const last = envelope(user1);
  expect((await broadcastOne(net.nodes[1]!.address, last.bytes)).status).toBe(common.Status.SUCCESS);
  for (const node of net.nodes) {
    const txIds = await waitFor(`${node.name} to have the last envelope`, 30_000, async () => {
      const ids = verifyChain(await readAll(user1, node.address));
      return ids.includes(last.txId) ? ids : undefined;
    });
    for (const r of refused) expect({ name: r.name, ordered: txIds.includes(r.txId) }).toEqual({ name: r.name, ordered: false });
  }
  for (const node of net.nodes) expect({ node: node.name, running: node.running }).toEqual({ node: node.name, running: true });
});

test('Deliver serves Readers only: outsiders, expired, future, forged, high-S, wrong-MSP, garbage and unsigned readers get FORBIDDEN; User1 and the admin read', async () => {
  expect(await deliverStatus(undefined)).toBe(common.Status.FORBIDDEN);
  expect(await deliverStatus(bad.foreign)).toBe(common.Status.FORBIDDEN);
  expect(await deliverStatus(bad.revoked)).toBe(common.Status.FORBIDDEN);
  expect(await deliverStatus(bad.expired)).toBe(common.Status.FORBIDDEN);
  expect(await deliverStatus(bad.future)).toBe(common.Status.FORBIDDEN);
  // Seek requests whose signature or creator is wrong, for a valid reader's identity.
  const claimed = msp.SerializedIdentity.decode(user1.creator);
  const forgedSeek: EnvelopeSigner = { creator: user1.creator, sign: () => user1.sign(Uint8Array.of(7)) };
  const highSSeek: EnvelopeSigner = { creator: user1.creator, sign: (d) => encodeEcdsaSignature(toHighS(P256, parseEcdsaSignature(user1.sign(d)))) };
  const wrongMsp: EnvelopeSigner = { creator: msp.SerializedIdentity.encode({ mspid: 'OrdererMSP', idBytes: claimed.idBytes }), sign: user1.sign };
  const garbage: EnvelopeSigner = { creator: Uint8Array.of(0xff, 1, 2), sign: user1.sign };
  for (const [name, signer] of [['forged', forgedSeek], ['high-S', highSSeek], ['wrong MSP id', wrongMsp], ['garbage creator', garbage]] as const) {
    expect({ name, status: await deliverStatus(signer) }).toEqual({ name, status: common.Status.FORBIDDEN });
  }
  expect(await deliverStatus(user1)).toBe('ok');
  const admin = envelopeSignerOf(loadLocalSigningIdentity(net.layout.crypto.adminMspDir, 'Org1MSP'));
  expect(await deliverStatus(admin)).toBe('ok');
});

test('every block carries an orderer signature that satisfies the channel\'s BlockValidation policy', async () => {
  const blocks = await readAll(user1);
  expect(blocks.length).toBeGreaterThan(1);
  const config = parseConfigBlock(blocks[0]!.block).config;
  const policies = ConfigChannelPolicies.fromConfig(CHANNEL, config, mspManagerFromConfig(config));
  const orderers = new Set(net.layout.nodes.map((n) => Buffer.from(loadLocalSigningIdentity(n.mspDir, 'OrdererMSP').serialized).toString('hex')));
  for (const b of blocks.slice(1)) {
    expect(() => verifyBlockSignatures(b.block, policies)).not.toThrow();
    const slot = common.Metadata.decode(b.block.metadata!.metadata[common.BlockMetadataIndex.SIGNATURES]!);
    expect(slot.signatures).toHaveLength(1);
    const creator = common.SignatureHeader.decode(slot.signatures[0]!.signatureHeader).creator;
    expect(orderers.has(Buffer.from(creator).toString('hex'))).toBe(true);
  }
  // A block whose signature was made by a client, not an orderer, fails the same check.
  const forged = common.Block.decode(common.Block.encode(blocks[1]!.block));
  const slot = common.Metadata.decode(forged.metadata!.metadata[0]!);
  const header = common.SignatureHeader.encode({ creator: user1.creator, nonce: Uint8Array.of(1, 2, 3) });
  forged.metadata!.metadata[0] = common.Metadata.encode({ value: slot.value, signatures: [{ signatureHeader: header, signature: user1.sign(Uint8Array.of(0)) }] });
  expect(() => verifyBlockSignatures(forged, policies)).toThrow(/BlockValidation|Writers/);
});
