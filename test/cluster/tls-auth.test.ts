// Cluster.Step over mutual TLS with consenter certificate pinning (reference §3.14): a stream is
// taken to come from the consenter whose client certificate has the key the peer proved in the
// handshake, whatever header it sends; a certificate of a trusted CA that is no consenter's ends
// the stream with Fabric's status and words, logged with the peer's address, and nothing reaches
// the chain; a certificate of an unknown CA does not get past the handshake.
import * as grpc from '@grpc/grpc-js';
import { raftpb } from '../../protos';
import { encodeConsensusStep } from '../../cluster/wire';
import { ClusterMembership, publicKeyIdOf, UNAUTHORIZED_CERT_MESSAGE } from '../../cluster';
import { HOST, PINO_WARN, RecordingReceiver, TestNode, rawStep, waitFor, within } from './helpers';
import { TestTlsCa, type TlsPair } from '../support/tls-material';

const CHANNEL = 'tlsch';
const ca = new TestTlsCa('tlsca.example.com');
const strangerCa = new TestTlsCa('tlsca.elsewhere.com');

function clientCreds(pair: TlsPair, trusted: TestTlsCa = ca): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(trusted.certPem), Buffer.from(pair.keyPem), Buffer.from(pair.certPem));
}

function serverCreds(pair: TlsPair): grpc.ServerCredentials {
  // Required and verified, as a separate cluster listener is.
  return grpc.ServerCredentials.createSsl(Buffer.from(ca.certPem), [{ cert_chain: Buffer.from(pair.certPem), private_key: Buffer.from(pair.keyPem) }], true);
}

const heartbeat = (to: number, from: number): raftpb.MessageInit => ({ type: raftpb.MessageType.MsgHeartbeat, to, from, term: 1 });

describe('TLS cluster: senders are identified by their certificate', () => {
  const pairs = { a: ca.issue('orderer1.example.com'), b: ca.issue('orderer2.example.com'), c: ca.issue('intruder.example.com') };
  let a: TestNode;
  let b: TestNode;
  let c: TestNode;
  const atA = new RecordingReceiver();

  beforeAll(async () => {
    a = new TestNode('a', { tls: clientCreds(pairs.a), senderIdentification: 'tls-certificate' });
    b = new TestNode('b', { tls: clientCreds(pairs.b), senderIdentification: 'tls-certificate' });
    c = new TestNode('c', { tls: clientCreds(pairs.c), senderIdentification: 'tls-certificate' });
    await a.listen(0, { tls: serverCreds(pairs.a) });
    await b.listen(0, { tls: serverCreds(pairs.b) });
    await c.listen(0, { tls: serverCreds(pairs.c) });
    const members = [
      { id: 1, host: HOST, port: a.port, clientTlsCert: pairs.a.der },
      { id: 2, host: HOST, port: b.port, clientTlsCert: pairs.b.der },
    ];
    a.comm.configure(CHANNEL, { selfId: 1, members });
    a.comm.register(CHANNEL, atA);
    // b's header claims id 7: on a TLS cluster the header is ignored, its certificate says 2.
    b.comm.configure(CHANNEL, { selfId: 7, members });
    // c holds a certificate of the same CA but is no consenter; it claims to be node 2.
    c.comm.configure(CHANNEL, { selfId: 2, members: [members[0]!, { id: 3, host: HOST, port: c.port }] });
  });

  afterAll(async () => {
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  test('a consenter is known by its certificate, not by its header', async () => {
    expect(b.comm.sendConsensus(CHANNEL, 1, heartbeat(1, 2))).toBe(true);
    await waitFor('heartbeat at a', 5_000, () => (atA.consensus.length > 0 ? true : undefined));
    expect(atA.consensus.map((m) => m.from)).toEqual([2]);
  });

  test('a certificate of a trusted CA that is no consenter\'s is refused with Fabric\'s status and words; nothing reaches the chain', async () => {
    const before = atA.consensus.length;
    // Through a raw stream, to read the status the refusal ends it with.
    const raw = rawStep(a.port, '2', clientCreds(pairs.c));
    try {
      raw.write(encodeConsensusStep(CHANNEL, heartbeat(1, 2)));
      const status = await within(5_000, raw.status);
      expect(status.code).toBe(grpc.status.UNKNOWN);
      expect(status.details).toContain(UNAUTHORIZED_CERT_MESSAGE);
    } finally {
      raw.close();
    }
    // And through its own Comm: the message is lost (reported unreachable), never delivered.
    c.comm.sendConsensus(CHANNEL, 1, heartbeat(1, 2));
    await waitFor('c reports a unreachable', 5_000, () => (c.unreachable.some((u) => u.nodeId === 1) ? true : undefined));
    expect(atA.consensus.length).toBe(before);
    const refusal = a.log.lines.find((l) => l.level === PINO_WARN && String(l['reason']).includes(UNAUTHORIZED_CERT_MESSAGE));
    expect(refusal).toBeDefined();
    expect(String(refusal!['peer'])).toMatch(/127\.0\.0\.1:\d+/);
  });

  test('a certificate of an unknown CA does not get past the handshake', async () => {
    const stranger = strangerCa.issue('orderer2.example.com');
    const raw = rawStep(a.port, '2', clientCreds(stranger));
    try {
      raw.write(encodeConsensusStep(CHANNEL, heartbeat(1, 2)));
      const status = await within(5_000, raw.status);
      expect(status.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      raw.close();
    }
  });

  test('a plaintext dialer is not served by a TLS listener', async () => {
    const raw = rawStep(a.port, '2');
    try {
      raw.write(encodeConsensusStep(CHANNEL, heartbeat(1, 2)));
      const status = await within(5_000, raw.status);
      expect(status.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      raw.close();
    }
  });
});

describe('membership with client certificates', () => {
  const one = ca.issue('orderer1.example.com');

  test('a member\'s certificate is known by its key: a renewal over the same key still identifies it', () => {
    const membership = new ClusterMembership();
    membership.set(CHANNEL, { selfId: 1, members: [{ id: 5, host: HOST, port: 7050, clientTlsCert: one.der }] });
    const renewed = ca.issue('orderer1.example.com', one.keys);
    expect(membership.memberByClientKey(CHANNEL, publicKeyIdOf(renewed.der))?.id).toBe(5);
    expect(membership.memberByClientKey(CHANNEL, publicKeyIdOf(ca.issue('orderer1.example.com').der))).toBeUndefined();
    expect(membership.memberByClientKey('other', publicKeyIdOf(one.der))).toBeUndefined();
  });

  test('two members with one key, or a certificate that is not one, are refused', () => {
    const membership = new ClusterMembership();
    expect(() =>
      membership.set(CHANNEL, {
        selfId: 1,
        members: [
          { id: 1, host: HOST, port: 1, clientTlsCert: one.der },
          { id: 2, host: HOST, port: 2, clientTlsCert: ca.issue('again', one.keys).der },
        ],
      }),
    ).toThrow(/members 1 and 2 have client TLS certificates with the same public key/);
    expect(() => membership.set(CHANNEL, { selfId: 1, members: [{ id: 1, host: HOST, port: 1, clientTlsCert: Uint8Array.of(1, 2, 3) }] })).toThrow(
      /member 1 has a client TLS certificate that cannot be parsed/,
    );
  });
});
