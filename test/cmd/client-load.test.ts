// The load generator's prepared (pre-signed) loads: built and signed before a timed run, handed
// out once in order, with each envelope's send time recorded; and runBroadcastLoad sending one.
import * as grpc from '@grpc/grpc-js';
import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import { envelopeHeaders } from '../../ledger';
import { common, msp } from '../../protos';
import { LOAD_CREATOR, prepareLoad, runBroadcastLoad } from '../../cmd/client-load';
import { atomicBroadcastServerOptions, bindServer, registerAtomicBroadcast } from '../../orderer/grpc-service';
import type { EnvelopeSigner } from '../../orderer/envelopes';
import { signEcdsa } from '../../orderer/msp/ecdsa';
import { createLeaf, createSelfSignedCa } from '../../orderer/msp/x509-build';
import { FakeChain, FakeRegistry, silentLogger } from '../orderer/fake-chain';

const ca = createSelfSignedCa({ subject: { commonName: 'ca.org1' } });
const user = createLeaf(ca, { subject: { commonName: 'User1' } });
const signer: EnvelopeSigner = {
  creator: msp.SerializedIdentity.encode({ mspid: 'Org1MSP', idBytes: Buffer.from(user.certificate.pem) }),
  sign: (payload) => signEcdsa(user.privateKey, payload),
};
const publicKey = createPublicKey(new X509Certificate(user.certificate.pem).publicKey.export({ format: 'pem', type: 'spki' }));

describe('prepareLoad', () => {
  test('signs every envelope ahead; take() hands them out once, in order, stamping the send time', async () => {
    const progress: number[] = [];
    const load = await prepareLoad({ channelId: 'ch', count: 5000, sizeBytes: 32, signer, onProgress: (done) => progress.push(done) });
    expect(load.count).toBe(5000);
    expect(load.signed).toBe(true);
    expect(progress).toEqual([2000, 4000, 5000]);
    expect(new Set(load.txIds).size).toBe(5000);
    expect(Number.isNaN(load.sentAtMs[0]!)).toBe(true);
    const before = Date.now();
    for (let i = 0; i < 3; i++) {
      const bytes = load.take()!;
      const envelope = common.Envelope.decode(bytes);
      const { channelHeader, signatureHeader } = envelopeHeaders(bytes);
      expect(channelHeader.txId).toBe(load.txIds[i]);
      expect(signatureHeader.creator).toEqual(signer.creator);
      expect(verify('sha256', envelope.payload, publicKey, envelope.signature)).toBe(true);
      expect(load.sentAtMs[i]).toBeGreaterThanOrEqual(before);
    }
    expect(load.remaining).toBe(4997);
  });

  test('unsigned: the placeholder creator', async () => {
    const load = await prepareLoad({ channelId: 'ch', count: 2, sizeBytes: 8 });
    expect(load.signed).toBe(false);
    expect(envelopeHeaders(load.take()!).signatureHeader.creator).toEqual(LOAD_CREATOR);
  });
});

describe('runBroadcastLoad with a prepared load', () => {
  let chain: FakeChain;
  let server: grpc.Server;
  let address: string;
  let deliver: ReturnType<typeof registerAtomicBroadcast>;

  beforeEach(async () => {
    chain = await FakeChain.open({ channelId: 'ch' });
    server = new grpc.Server(atomicBroadcastServerOptions());
    deliver = registerAtomicBroadcast(server, new FakeRegistry([chain]), silentLogger);
    address = `127.0.0.1:${await bindServer(server, '127.0.0.1:0')}`;
  });

  afterEach(async () => {
    deliver.close();
    server.forceShutdown();
    await chain.close();
  });

  test('sends exactly the prepared envelopes and records when each went out', async () => {
    const load = await prepareLoad({ channelId: 'ch', count: 300, sizeBytes: 16, signer });
    const startedMs = Date.now();
    const report = await runBroadcastLoad({ orderers: [address], channelId: 'ch', count: 300, sizeBytes: 16, streams: 3, prepared: load });
    expect(report.allSucceeded).toBe(true);
    expect(new Set(chain.ordered.map((e) => e.txId))).toEqual(new Set(load.txIds));
    expect(load.remaining).toBe(0);
    expect(load.sentAtMs.every((t) => t >= startedMs && t <= Date.now())).toBe(true);
  });

  test('a prepared load of another size is refused', async () => {
    const load = await prepareLoad({ channelId: 'ch', count: 3, sizeBytes: 16 });
    await expect(runBroadcastLoad({ orderers: [address], channelId: 'ch', count: 4, sizeBytes: 16, streams: 1, prepared: load })).rejects.toThrow(RangeError);
  });
});
