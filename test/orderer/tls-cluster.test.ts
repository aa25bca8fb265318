// Three orderers built as `orderer start` builds them (orderer.yaml → nodeOptionsFromConfig →
// OrdererNode), with TLS everywhere: clients use Broadcast and Deliver over TLS with client
// certificates required, the orderers talk over mutual TLS and know each other by the consenter
// certificates of the genesis block, and find their own Raft ids by their server certificates
// (no SelfEndpoint). Once with the cluster on the client port, once on separate listeners.
import * as grpc from '@grpc/grpc-js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { nodeOptionsFromConfig } from '../../cmd/orderer';
import { NO_CERT_MESSAGE, UNAUTHORIZED_CERT_MESSAGE } from '../../cluster';
import { encodeConsensusStep } from '../../cluster/wire';
import { genesisBlock } from '../../ledger/block';
import { buildGenesisConfigEnvelope } from '../../orderer/channelconfig';
import { parseOrdererConfig } from '../../orderer/config';
import { BroadcastClient, deliverBlocks } from '../../orderer/deliver-client';
import { buildEnvelope } from '../../orderer/envelopes';
import { ensureDirs, OrdererNode } from '../../orderer/node';
import { common, raftpb } from '../../protos';
import { rawStep } from '../cluster/helpers';
import { freePorts } from '../support/ports';
import { defaultSpec, generateCryptoMaterial } from '../../orderer/msp/generate';
import { TestTlsCa } from '../support/tls-material';
import { waitFor } from '../support/wait';
import { writeTestMsps } from '../support/test-msps';
import { loadLocalSigningIdentity } from '../../orderer/msp/local-msp';
import { createHash, X509Certificate } from 'node:crypto';

const CHANNEL = 'tlschannel';
const HOST = '127.0.0.1';

/** A certificate and its key, as PEM text. */
interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

interface Net {
  readonly dir: string;
  readonly nodes: OrdererNode[];
  readonly clientPorts: number[];
  readonly ca: { readonly certPem: string };
  readonly user: PemPair;
  /** Starts the node held back by NetworkOptions.deferLast. */
  readonly startDeferred: () => Promise<void>;
}

/** Whose certificates the network uses: made here in memory, or read from `orderer crypto generate` output. */
interface Material {
  readonly caPem: string;
  readonly servers: readonly PemPair[];
  /** Only with separate cluster listeners. */
  readonly clusterServers?: readonly PemPair[];
  readonly user: PemPair;
}

function memoryMaterial(separateClusterListener: boolean): Material {
  const ca = new TestTlsCa();
  return {
    caPem: ca.certPem,
    servers: [1, 2, 3].map((i) => ca.issue(`orderer${i}.example.com`)),
    ...(separateClusterListener ? { clusterServers: [1, 2, 3].map((i) => ca.issue(`cluster${i}.example.com`)) } : {}),
    user: ca.issue('User1@org1.example.com'),
  };
}

/** The TLS pairs `orderer crypto generate` writes (orderers' tls/server.*, User1's tls/client.*). */
function generatedMaterial(dir: string): Material {
  const [org] = generateCryptoMaterial(path.join(dir, 'crypto'), defaultSpec(3, 0));
  const read = (tlsDir: string, name: string): PemPair => ({
    certPem: readFileSync(path.join(tlsDir, `${name}.crt`), 'utf8'),
    keyPem: readFileSync(path.join(tlsDir, `${name}.key`), 'utf8'),
  });
  const user = org!.users.find((u) => u.name.startsWith('User1@'))!;
  return {
    caPem: readFileSync(path.join(org!.orderers[0]!.tlsDir, 'ca.crt'), 'utf8'),
    servers: org!.orderers.map((o) => read(o.tlsDir, 'server')),
    user: read(user.tlsDir, 'client'),
  };
}

interface NetworkOptions {
  /** Node 3 is not started until Net.startDeferred() (catch-up tests). */
  readonly deferLast?: boolean;
  readonly snapshotIntervalSizeBytes?: number;
  readonly maxMessageCount?: number;
}

async function startNetwork(
  separateClusterListener: boolean,
  clientAuthRequired: boolean,
  makeMaterial: (dir: string) => Material = () => memoryMaterial(separateClusterListener),
  netOptions: NetworkOptions = {},
): Promise<Net> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tls-cluster-'));
  const material = makeMaterial(dir);
  const ports = await freePorts(separateClusterListener ? 6 : 3);
  const clientPorts = ports.slice(0, 3);
  const clusterPorts = separateClusterListener ? ports.slice(3) : clientPorts;
  const servers = material.servers;
  const clusterServers = material.clusterServers ?? servers;
  const caFile = path.join(dir, 'ca.crt');
  writeFileSync(caFile, material.caPem);
  const pem = (p: PemPair): Uint8Array => new TextEncoder().encode(p.certPem);
  const msps = writeTestMsps(dir, 3);
  const block = genesisBlock({
    channelId: CHANNEL,
    configEnvelope: buildGenesisConfigEnvelope({
      channelId: CHANNEL,
      // The client port pair dials (client_tls_cert); the cluster pair serves (server_tls_cert).
      consenters: clusterPorts.map((port, i) => ({ host: HOST, port, clientTlsCert: pem(servers[i]!), serverTlsCert: pem(clusterServers[i]!) })),
      ordererOrgs: [msps.ordererOrg(clientPorts.map((p) => `${HOST}:${p}`))],
      applicationOrgs: [msps.clientOrg],
      openAccess: true,
      batchTimeout: '100ms',
      ...(netOptions.maxMessageCount !== undefined ? { batchSize: { maxMessageCount: netOptions.maxMessageCount } } : {}),
      options: {
        tickInterval: '100ms',
        electionTick: 10,
        heartbeatTick: 1,
        ...(netOptions.snapshotIntervalSizeBytes !== undefined ? { snapshotIntervalSizeBytes: netOptions.snapshotIntervalSizeBytes } : {}),
      },
    }),
  });
  const genesisFile = path.join(dir, 'genesis.block');
  writeFileSync(genesisFile, common.Block.encode(block));
  const nodes: OrdererNode[] = [];
  let deferred: OrdererNode | undefined;
  try {
    for (let i = 0; i < 3; i++) {
      const home = path.join(dir, `orderer${i + 1}`);
      mkdirSync(home, { recursive: true });
      const writePem = (name: string, p: PemPair): void => {
        writeFileSync(path.join(home, `${name}.crt`), p.certPem);
        writeFileSync(path.join(home, `${name}.key`), p.keyPem, { mode: 0o600 });
      };
      writePem('server', servers[i]!);
      if (separateClusterListener) writePem('cluster', clusterServers[i]!);
      const cluster = separateClusterListener
        ? `    ListenAddress: ${HOST}\n    ListenPort: ${clusterPorts[i]}\n    ServerCertificate: cluster.crt\n    ServerPrivateKey: cluster.key\n`
        : '';
      const yaml = [
        'General:',
        `  ListenAddress: ${HOST}`,
        `  ListenPort: ${clientPorts[i]}`,
        '  TLS:',
        '    Enabled: true',
        '    Certificate: server.crt',
        '    PrivateKey: server.key',
        `    RootCAs: [${caFile}]`,
        `    ClientAuthRequired: ${clientAuthRequired}`,
        `    ClientRootCAs: [${caFile}]`,
        '  Cluster:',
        `    RootCAs: [${caFile}]`,
        `    DialTimeout: 1s`,
        cluster,
        '  BootstrapChannels:',
        `    - name: ${CHANNEL}`,
        `      genesisBlock: ${genesisFile}`,
        'FileLedger:',
        `  Location: ${path.join(home, 'ledger')}`,
        'Consensus:',
        `  WALDir: ${path.join(home, 'wal')}`,
        `  SnapDir: ${path.join(home, 'snap')}`,
        '',
      ].join('\n');
      const { config } = parseOrdererConfig(yaml, { baseDir: home, fileLabel: path.join(home, 'orderer.yaml') });
      const options = nodeOptionsFromConfig(config, pino({ level: 'silent' }).child({ node: i + 1 }), path.join(home, 'orderer.yaml'));
      await ensureDirs(options);
      // Blocks are signed as orderer i, so a node catching up accepts them (BlockValidation).
      const node = new OrdererNode({ ...options, signingIdentity: loadLocalSigningIdentity(msps.ordererMspDirs[i]!, 'OrdererMSP') });
      if (netOptions.deferLast === true && i === 2) {
        deferred = node;
        continue;
      }
      nodes.push(node);
      await node.start();
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.forceStop()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const startDeferred = async (): Promise<void> => {
    if (deferred === undefined) throw new Error('no node was held back');
    nodes.push(deferred);
    await deferred.start();
  };
  return { dir, nodes, clientPorts, ca: { certPem: material.caPem }, user: material.user, startDeferred };
}

async function stopNetwork(net: Net | undefined): Promise<void> {
  if (net === undefined) return;
  await Promise.all(net.nodes.map((n) => n.forceStop().catch(() => undefined)));
  rmSync(net.dir, { recursive: true, force: true });
}

/** A client's TLS: with a client certificate (`pair`), or server authentication only (null). */
function clientTls(net: Net, pair: PemPair | null = net.user, trusted: { readonly certPem: string } = net.ca): grpc.ChannelCredentials {
  if (pair === null) return grpc.credentials.createSsl(Buffer.from(trusted.certPem));
  return grpc.credentials.createSsl(Buffer.from(trusted.certPem), Buffer.from(pair.keyPem), Buffer.from(pair.certPem));
}

function envelope(): { bytes: Uint8Array; txId: string } {
  return buildEnvelope({ channelId: CHANNEL, creator: Buffer.from('tls-test'), data: Buffer.from(`payload ${Math.random()}`), signature: Buffer.from('sig') });
}

async function broadcast(address: string, tls: grpc.ChannelCredentials, bytes: Uint8Array): Promise<common.Status> {
  const client = new BroadcastClient(address, { tls });
  try {
    return (await client.send(bytes)).status;
  } finally {
    client.cancel();
  }
}

/** Tx ids of every block [1, newest] as `address` serves them over TLS. */
async function orderedTxIds(net: Net, address: string, user: PemPair | null): Promise<string[]> {
  const ids: string[] = [];
  // Under mutual TLS a seek names its connection's certificate by hash (Deliver's binding check).
  const tlsCertHash = user === null ? undefined : new Uint8Array(createHash('sha256').update(new X509Certificate(user.certPem).raw).digest());
  for await (const b of deliverBlocks({ address, channelId: CHANNEL, start: 'oldest', stop: 'newest', receiveTimeoutMs: 5_000, tls: clientTls(net, user), ...(tlsCertHash !== undefined ? { tlsCertHash } : {}) })) {
    if (b.number === 0) continue;
    for (const env of b.block.data?.data ?? []) {
      const payload = common.Payload.decode(common.Envelope.decode(env).payload);
      ids.push(common.ChannelHeader.decode(payload.header!.channelHeader).txId);
    }
  }
  return ids;
}

async function orderAndCheck(net: Net, user: PemPair | null): Promise<void> {
  // A leader exists once a Broadcast is taken (a follower forwards over the mutual-TLS cluster).
  const first = net.clientPorts.map((p) => `${HOST}:${p}`);
  const sent: string[] = [];
  await waitFor('a leader', 20_000, async () => {
    const env = envelope();
    const status = await broadcast(first[0]!, clientTls(net, user), env.bytes).catch(() => undefined);
    if (status !== common.Status.SUCCESS) return undefined;
    sent.push(env.txId);
    return true;
  }, 200);
  // Each node takes one too; a follower that has not heard from the new leader yet answers
  // SERVICE_UNAVAILABLE (as Fabric's does), so each is retried until it knows.
  for (const address of first) {
    await waitFor(`${address} takes an envelope`, 20_000, async () => {
      const env = envelope();
      const status = await broadcast(address, clientTls(net, user), env.bytes).catch(() => undefined);
      if (status !== common.Status.SUCCESS) return undefined;
      sent.push(env.txId);
      return true;
    }, 200);
  }
  // Every node orders all of them, read back over Deliver with TLS.
  for (const address of first) {
    await waitFor(`all envelopes at ${address}`, 20_000, async () => {
      const ids = await orderedTxIds(net, address, user).catch((): string[] => []);
      return sent.every((id) => ids.includes(id)) ? true : undefined;
    }, 200);
  }
  await waitFor('one leader that all three agree on', 10_000, () => {
    const leaders = net.nodes.map((n) => n.chain(CHANNEL)?.status().leaderId ?? 0);
    return new Set(leaders).size === 1 && leaders[0]! > 0 ? true : undefined;
  });
}

describe.each<[string, boolean]>([
  ['on the client port', false],
  ['on separate cluster listeners', true],
])('mutual TLS cluster %s, client certificates required', (_what, separate) => {
  let net: Net | undefined;
  beforeAll(async () => {
    net = await startNetwork(separate, true);
  }, 30_000);
  afterAll(async () => stopNetwork(net), 30_000);

  test('elects a leader and orders envelopes sent over TLS; Deliver over TLS reads them back', async () => {
    await orderAndCheck(net!, net!.user);
  }, 60_000);

  test('a client whose certificate is from an unknown CA does not get past the handshake', async () => {
    const stranger = new TestTlsCa('tlsca.elsewhere.com');
    const creds = clientTls(net!, stranger.issue('User1@elsewhere.com'));
    const err = await broadcast(`${HOST}:${net!.clientPorts[0]}`, creds, envelope().bytes).then(
      () => undefined,
      (e: unknown) => e as { grpcCode?: number },
    );
    expect(err?.grpcCode).toBe(grpc.status.UNAVAILABLE);
  });

  test('a client without a certificate does not get past the handshake', async () => {
    const err = await broadcast(`${HOST}:${net!.clientPorts[0]}`, clientTls(net!, null), envelope().bytes).then(
      () => undefined,
      (e: unknown) => e as { grpcCode?: number },
    );
    expect(err?.grpcCode).toBe(grpc.status.UNAVAILABLE);
  });

  test('a cluster connection with a valid-CA certificate that is no consenter is refused', async () => {
    await expectNonConsenterRefused(net!);
  });
});

describe('TLS on the client port without client authentication (Fabric\'s RequestClientCert)', () => {
  let net: Net | undefined;
  beforeAll(async () => {
    net = await startNetwork(false, false);
  }, 30_000);
  afterAll(async () => stopNetwork(net), 30_000);

  test('clients without a certificate use Broadcast and Deliver; orderers on the same port still know each other by theirs', async () => {
    await orderAndCheck(net!, null);
  }, 60_000);

  test('a cluster peer without a certificate is refused: no TLS certificate sent', async () => {
    const raw = rawStep(net!.nodes[0]!.clusterPort, '2', clientTls(net!, null));
    try {
      raw.write(encodeConsensusStep(CHANNEL, { type: raftpb.MessageType.MsgHeartbeat, to: 1, from: 2, term: 1 }));
      const status = await raw.status;
      expect(status.code).toBe(grpc.status.UNKNOWN);
      expect(status.details).toContain(NO_CERT_MESSAGE);
    } finally {
      raw.close();
    }
  });

  test('a cluster connection with a valid-CA certificate that is no consenter is refused', async () => {
    await expectNonConsenterRefused(net!);
  });
});

describe('with the material `orderer crypto generate` writes (IP SAN 127.0.0.1 on the server certificates)', () => {
  let net: Net | undefined;
  beforeAll(async () => {
    net = await startNetwork(false, true, generatedMaterial);
  }, 30_000);
  afterAll(async () => stopNetwork(net), 30_000);

  test('a mutual TLS cluster dialing 127.0.0.1 elects a leader and orders; User1\'s TLS pair is a client certificate', async () => {
    await orderAndCheck(net!, net!.user);
  }, 60_000);
});

describe.each([
  ['on the shared port', false],
  // The consenters' host:port then serve only Cluster.Step: the blocks come from the orderer
  // organisation's Endpoints (the client ports), reference §3.13.
  ['with separate cluster listeners', true],
])('catch-up over TLS %s: a node that missed compacted history pulls the blocks', (_label, separate) => {
  let net: Net | undefined;
  beforeAll(async () => {
    net = await startNetwork(separate, true, undefined, { deferLast: true, snapshotIntervalSizeBytes: 1024, maxMessageCount: 1 });
  }, 30_000);
  afterAll(async () => stopNetwork(net), 30_000);

  test('the late node is sent a snapshot, pulls the blocks from the others over TLS and serves them', async () => {
    const n = net!;
    const address = `${HOST}:${n.clientPorts[0]}`;
    const sent: string[] = [];
    await waitFor('a leader among two of three', 20_000, async () => {
      const env = envelope();
      const status = await broadcast(address, clientTls(n), env.bytes).catch(() => undefined);
      if (status !== common.Status.SUCCESS) return undefined;
      sent.push(env.txId);
      return true;
    }, 200);
    // Retried on SERVICE_UNAVAILABLE: a slow machine may see a re-election meanwhile.
    for (let i = 0; i < 30; i++) {
      await waitFor(`envelope ${i} taken`, 20_000, async () => {
        const env = envelope();
        const status = await broadcast(address, clientTls(n), env.bytes).catch(() => undefined);
        if (status !== common.Status.SUCCESS) return undefined;
        sent.push(env.txId);
        return true;
      }, 100);
    }
    await waitFor('all ordered at node 1', 20_000, async () => {
      const ids = await orderedTxIds(n, address, n.user).catch((): string[] => []);
      return sent.every((id) => ids.includes(id)) ? true : undefined;
    }, 200);
    await n.startDeferred();
    const late = `${HOST}:${n.clientPorts[2]}`;
    await waitFor('all ordered at the late node', 30_000, async () => {
      const ids = await orderedTxIds(n, late, n.user).catch((): string[] => []);
      return sent.every((id) => ids.includes(id)) ? true : undefined;
    }, 300);
    // Every block a node writes carries its own signature, pulled ones included.
    const creators = async (at: string): Promise<Set<string>> => {
      const found = new Set<string>();
      const tlsCertHash = new Uint8Array(createHash('sha256').update(new X509Certificate(n.user.certPem).raw).digest());
      for await (const b of deliverBlocks({ address: at, channelId: CHANNEL, start: 1, stop: 'newest', receiveTimeoutMs: 5_000, tls: clientTls(n), tlsCertHash })) {
        const slot = common.Metadata.decode(b.block.metadata!.metadata[common.BlockMetadataIndex.SIGNATURES]!);
        for (const sig of slot.signatures) found.add(Buffer.from(common.SignatureHeader.decode(sig.signatureHeader).creator).toString('hex'));
      }
      return found;
    };
    const lateSigners = await creators(late);
    const firstSigners = await creators(address);
    expect(lateSigners.size).toBe(1);
    expect(firstSigners.size).toBe(1);
    expect([...lateSigners][0]).not.toBe([...firstSigners][0]);
  }, 90_000);
});

async function expectNonConsenterRefused(net: Net): Promise<void> {
  const raw = rawStep(net.nodes[0]!.clusterPort, '2', clientTls(net));
  try {
    raw.write(encodeConsensusStep(CHANNEL, { type: raftpb.MessageType.MsgHeartbeat, to: 1, from: 2, term: 1 }));
    const status = await raw.status;
    expect(status.code).toBe(grpc.status.UNKNOWN);
    expect(status.details).toContain(UNAUTHORIZED_CERT_MESSAGE);
  } finally {
    raw.close();
  }
}
