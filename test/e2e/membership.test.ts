// Consenter membership on real processes (127.0.0.1, TLS on: client port, mutual TLS between the
// orderers with consenter certificate pinning, mutual TLS on the Admin endpoints): a 3-node channel grows to 4 (a config
// update adds the consenter, the new node joins with the latest config block through the
// channel participation API, pulls the blocks it lacks and takes part in Raft), then a config
// update removes one of the original nodes, which halts that channel while the others go on.
// Every acknowledged envelope is ordered exactly once and the members' ledgers are identical.
import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { devnetAdminClient } from '../../orderer/devnet';
import { privateKeyPem } from '../../orderer/msp/x509-build';
import path from 'node:path';
import { readLastConfigIndex } from '../../ledger/metadata';
import { loadLocalSigningIdentity } from '../../orderer/msp/local-msp';
import { joinChannel, listChannel, removeChannel } from '../../orderer/participation/admin-client';
import { deliverBlocks } from '../../orderer/deliver-client';
import { readConsenterMetadata } from '../../ledger/metadata';
import { decodePem } from '../../orderer/msp/der';
import { createLeaf, issuedCertificateFromDer, KeyUsageFlags } from '../../orderer/msp/x509-build';
import { common } from '../../protos';
import { configOfBlock, configUpdateEnvelope, consentersOf, consentersUpdate } from '../support/config-update';
import { broadcastOne, createNetwork, makeEnvelope, readChain, sendLoad, verifyChain, waitFor, waitForService, type TestNetwork } from './harness';

jest.setTimeout(180_000);

const CHANNEL = 'mychannel';

interface ChannelInfoJson {
  name: string;
  consensusRelation: string;
  status: string;
  height: number;
}

describe('consenter membership', () => {
  let net: TestNetwork;
  const acked: string[] = [];
  /** Clients trust the orderers' TLS CA. */
  let tls: grpc.ChannelCredentials;
  /** Nodes (by index) a config update removed from the consenters, as the tests go. */
  const removed = new Set<number>();

  beforeAll(async () => {
    net = await createNetwork({ nodeCount: 4, consenterCount: 3, maxMessageCount: 20, batchTimeout: '100ms', evictionSuspicion: '2s', tls: true });
    tls = grpc.credentials.createSsl(readFileSync(net.layout.crypto.ordererTlsCaPath));
    net.startAll();
    await waitForService(net.nodes[0]!.address, CHANNEL, 30_000, { tls });
  });

  afterAll(async () => {
    await net?.destroy();
  });

  const admin = (): ReturnType<typeof loadLocalSigningIdentity> => loadLocalSigningIdentity(net.layout.crypto.ordererAdminMspDir, net.layout.crypto.ordererMspId);
  /** The orderer org admin's mutual TLS connection to node i's Admin endpoint (as osnadmin --ca-file --client-cert --client-key). */
  const adminAddress = (i: number): ReturnType<typeof devnetAdminClient> => devnetAdminClient(net.layout, net.layout.nodes[i]!, true);

  async function info(i: number): Promise<ChannelInfoJson | undefined> {
    const res = await listChannel(adminAddress(i), CHANNEL);
    return res.status === 200 ? (JSON.parse(res.body.toString('utf8')) as ChannelInfoJson) : undefined;
  }

  /** The newest config block as node `i` serves it (with its metadata). */
  async function lastConfigBlock(i: number): Promise<{ block: common.Block; bytes: Uint8Array }> {
    const address = net.nodes[i]!.address;
    let last: common.Block | undefined;
    for await (const b of deliverBlocks({ address, channelId: CHANNEL, start: 'newest', stop: 'newest', receiveTimeoutMs: 5_000, tls })) last = b.block;
    const index = readLastConfigIndex(last!);
    for await (const b of deliverBlocks({ address, channelId: CHANNEL, start: index, stop: index, receiveTimeoutMs: 5_000, tls })) return { block: b.block, bytes: b.bytes };
    throw new Error('no config block');
  }

  async function load(nodes: readonly number[], count: number): Promise<void> {
    const envs = Array.from({ length: count }, () => makeEnvelope(CHANNEL, 128));
    const res = await sendLoad(nodes.map((i) => net.nodes[i]!.address), envs, 2, { tls });
    expect(res.rejected.size).toBe(0);
    expect(res.failedToSend).toBe(0);
    acked.push(...res.acknowledged);
  }

  /**
   * Envelopes sent all along, in batches, to the nodes `targets()` names at that moment, until
   * the returned stop() is awaited: every change below happens under load.
   */
  /** Loads still running: a test that fails stops nothing itself, so afterEach stops them. */
  const runningLoads = new Set<() => Promise<number>>();
  afterEach(async () => {
    for (const stop of [...runningLoads]) await stop().catch(() => 0);
  });

  function backgroundLoad(targets: () => readonly number[]): () => Promise<number> {
    let running = true;
    let sent = 0;
    const task = (async () => {
      while (running) {
        const envs = Array.from({ length: 40 }, () => makeEnvelope(CHANNEL, 128));
        const res = await sendLoad(targets().map((i) => net.nodes[i]!.address), envs, 1, { retries: 50, tls });
        expect(res.rejected.size).toBe(0);
        expect(res.failedToSend).toBe(0);
        acked.push(...res.acknowledged);
        sent += envs.length;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const stop = async (): Promise<number> => {
      running = false;
      runningLoads.delete(stop);
      await task;
      return sent;
    };
    runningLoads.add(stop);
    return stop;
  }

  async function update(via: number, consenters: ReturnType<typeof consentersOf>): Promise<number> {
    const { block } = await lastConfigBlock(via);
    const config = configOfBlock(block);
    const signer = admin();
    const env = configUpdateEnvelope(CHANNEL, consentersUpdate(CHANNEL, config, consenters), [signer], signer);
    // The leader's quorum guard counts the followers it heard from within the last election
    // timeout. A follower it has not heard from yet (a leader elected a moment ago, or one slowed
    // by a busy machine) makes it refuse, rightly, with "bring consenters back online first";
    // as an operator would, try again once they answer. Any other answer is final.
    let res = await broadcastOne(net.nodes[via]!.address, env.bytes, { tls });
    for (let tries = 1; tries < 20 && res.status === common.Status.BAD_REQUEST && res.info.includes('would lose quorum'); tries++) {
      await new Promise((r) => setTimeout(r, 500));
      res = await broadcastOne(net.nodes[via]!.address, env.bytes, { tls });
    }
    expect({ status: res.status, info: res.info }).toEqual({ status: common.Status.SUCCESS, info: '' });
    return waitFor('the config block', 20_000, async () => {
      const { block: b } = await lastConfigBlock(via);
      return configOfBlock(b).sequence === config.sequence + 1 ? b.header!.number : undefined;
    });
  }

  async function sameLedgers(members: readonly number[]): Promise<void> {
    const chains = await Promise.all(members.map(async (i) => readChain(net.nodes[i]!.address, CHANNEL, { tls })));
    const height = Math.min(...chains.map((c) => c.length));
    const hashes = chains.map((c) => c.slice(0, height).map((b) => Buffer.from(b.block.header!.dataHash).toString('hex')));
    for (const h of hashes.slice(1)) expect(h).toEqual(hashes[0]);
    const ids = verifyChain(chains[0]!);
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const t of acked) expect(counts.get(t)).toBe(1);
  }

  it('grows from 3 to 4 under load: the new node joins with the latest config block, onboards and orders', async () => {
    await load([0, 1, 2], 200);
    const stopLoad = backgroundLoad(() => [1, 2]);
    const node4 = net.layout.nodes[3]!;
    const cert = readFileSync(path.join(node4.tlsDir, 'server.crt'));
    const { block: genesisConfig } = await lastConfigBlock(0);
    const consenters = consentersOf(configOfBlock(genesisConfig));
    expect(consenters).toHaveLength(3);
    const added = await update(1, [...consenters, { host: node4.host, port: node4.port, clientTlsCert: cert, serverTlsCert: cert }]);
    expect(added).toBeGreaterThan(0);
    await load([0, 1, 2], 100);

    expect(await info(3)).toBeUndefined();
    const { bytes } = await lastConfigBlock(0);
    // Two joins at once (a retried osnadmin): one joins, the other hears 405.
    const both = await Promise.all([joinChannel(adminAddress(3), bytes), joinChannel(adminAddress(3), bytes)]);
    expect(both.map((r) => r.status).sort()).toEqual([201, 405]);
    const joined = both.find((r) => r.status === 201)!;
    const body = JSON.parse(joined.body.toString('utf8')) as ChannelInfoJson;
    expect(body.name).toBe(CHANNEL);
    expect(body.consensusRelation).toBe('consenter');
    // Joining again: 405.
    expect((await joinChannel(adminAddress(3), bytes)).status).toBe(405);
    // Stopped while it onboards (or just after): the join goes on at the next start.
    await net.nodes[3]!.stop();
    net.nodes[3]!.start();

    await waitFor('node 4 active and caught up', 60_000, async () => {
      const i = await info(3);
      const ref = await info(0);
      return i?.status === 'active' && ref !== undefined && i.height === ref.height ? true : undefined;
    });
    // It takes Broadcasts and its blocks are the others'.
    await waitForService(net.nodes[3]!.address, CHANNEL, 30_000, { tls });
    await load([3, 0], 100);
    expect(await stopLoad()).toBeGreaterThan(0);
    await waitFor('every node has every envelope', 30_000, async () => {
      for (const i of [0, 1, 2, 3]) {
        const ids = new Set(verifyChain(await readChain(net.nodes[i]!.address, CHANNEL, { tls })));
        if (!acked.every((t) => ids.has(t))) return undefined;
      }
      return true;
    });
    await sameLedgers([0, 1, 2, 3]);
  });

  it('shrinks back to 3 under load, removing a node that is down: back up, it finds out (eviction suspicion) and halts the channel', async () => {
    const stopLoad = backgroundLoad(() => [1, 2, 3]);
    const { block } = await lastConfigBlock(1);
    const consenters = consentersOf(configOfBlock(block));
    expect(consenters).toHaveLength(4);
    const node1 = net.layout.nodes[0]!;
    // Down while the others remove it: Raft never tells it (the leader stops replicating to it).
    await net.nodes[0]!.stop();
    await update(1, consenters.filter((c) => c.port !== node1.port));
    await load([1, 2, 3], 100);
    net.nodes[0]!.start();
    await waitFor('node 1 no longer a member', 30_000, async () => ((await info(0).catch(() => undefined))?.status === 'inactive' ? true : undefined));
    await net.nodes[0]!.waitForLog(/found while it had no leader/);
    removed.add(0);
    await waitForService(net.nodes[1]!.address, CHANNEL, 30_000, { tls });
    await load([1, 2, 3], 200);
    expect(await stopLoad()).toBeGreaterThan(0);
    await waitFor('the members have every envelope', 30_000, async () => {
      for (const i of [1, 2, 3]) {
        const ids = new Set(verifyChain(await readChain(net.nodes[i]!.address, CHANNEL, { tls })));
        if (!acked.every((t) => ids.has(t))) return undefined;
      }
      return true;
    });
    await sameLedgers([1, 2, 3]);
    // The removed node's process keeps running (its other channels would go on).
    expect(net.nodes[0]!.running).toBe(true);
  });

  it('removing the current leader under load: it hands leadership over first, then halts the channel', async () => {
    const members = [1, 2, 3];
    const leaderId = net.nodes[1]!.lastSeenLeader(CHANNEL);
    // Raft ids follow the node order here (node 4 was given id 4).
    const leaderIndex = leaderId - 1;
    expect(members).toContain(leaderIndex);
    const rest = members.filter((i) => i !== leaderIndex);
    const stopLoad = backgroundLoad(() => rest);
    const { block } = await lastConfigBlock(rest[0]!);
    const leaderNode = net.layout.nodes[leaderIndex]!;
    await update(rest[0]!, consentersOf(configOfBlock(block)).filter((c) => c.port !== leaderNode.port));
    await waitFor('the old leader no longer a member', 30_000, async () => ((await info(leaderIndex))?.status === 'inactive' ? true : undefined));
    removed.add(leaderIndex);
    await net.nodes[leaderIndex]!.waitForLog(/handing leadership over first/);
    // Restarted, the removed node starts (its channel inactive), and the operator removes the channel.
    await net.nodes[leaderIndex]!.stop();
    net.nodes[leaderIndex]!.start();
    await waitFor('the removed node back up', 20_000, async () => info(leaderIndex).catch(() => undefined));
    expect(await info(leaderIndex)).toMatchObject({ consensusRelation: 'config-tracker', status: 'inactive' });
    // Removal deletes that channel's ledger, WAL and snapshot directories and nothing beside them.
    const nodeDir = net.layout.nodes[leaderIndex]!.dir;
    const canaries = [
      path.join(nodeDir, 'ledger', 'chains', 'Other_Channel', 'canary'),
      path.join(nodeDir, 'ledger', 'canary'),
      path.join(nodeDir, 'etcdraft', 'wal', 'Other_Channel', 'canary'),
      path.join(nodeDir, 'etcdraft', 'snapshot', 'canary'),
    ];
    for (const c of canaries) {
      mkdirSync(path.dirname(c), { recursive: true });
      writeFileSync(c, 'still here');
    }
    expect((await removeChannel(adminAddress(leaderIndex), CHANNEL)).status).toBe(204);
    expect(await info(leaderIndex)).toBeUndefined();
    for (const c of canaries) expect(readFileSync(c, 'utf8')).toBe('still here');
    for (const gone of [path.join(nodeDir, 'ledger', 'chains', CHANNEL), path.join(nodeDir, 'etcdraft', 'wal', CHANNEL), path.join(nodeDir, 'etcdraft', 'snapshot', CHANNEL)]) {
      expect(existsSync(gone)).toBe(false);
    }
    await load(rest, 200);
    expect(await stopLoad()).toBeGreaterThan(0);
    await waitFor('the two members have every envelope', 30_000, async () => {
      for (const i of rest) {
        const ids = new Set(verifyChain(await readChain(net.nodes[i]!.address, CHANNEL, { tls })));
        if (!acked.every((t) => ids.has(t))) return undefined;
      }
      return true;
    });
    await sameLedgers(rest);
  });

  it('refuses two consenter changes at once and a second join or an unknown removal, changing nothing', async () => {
    const members = [0, 1, 2, 3].filter((i) => !removed.has(i));
    const via = members[members.length - 1]!;
    const { block } = await lastConfigBlock(via);
    const config = configOfBlock(block);
    const consenters = consentersOf(config);
    const heightBefore = (await info(via))!.height;
    const signer = admin();
    // Two consenters removed in one update.
    const twoGone = configUpdateEnvelope(CHANNEL, consentersUpdate(CHANNEL, config, consenters.slice(2)), [signer], signer);
    const refused = await broadcastOne(net.nodes[via]!.address, twoGone.bytes, { tls });
    expect(refused.status).toBe(common.Status.BAD_REQUEST);
    expect(refused.info).toMatch(/one consenter|at a time/i);
    // Garbage to the join endpoint of a real node, and the removal of a channel it does not have.
    expect((await joinChannel(adminAddress(via), new Uint8Array([1, 2, 3, 4]))).status).toBe(400);
    expect((await listChannel(adminAddress(via), 'nosuchchannel')).status).toBe(404);
    expect((await removeChannel(adminAddress(via), 'nosuchchannel')).status).toBe(404);
    expect((await info(via))!.height).toBe(heightBefore);
  });

  it("rotates a consenter's TLS certificate: same Raft id, no membership change; the node restarted with its new pair takes part again", async () => {
    const members = [0, 1, 2, 3].filter((i) => !removed.has(i));
    const via = members[0]!;
    const target = members[members.length - 1]!;
    const targetNode = net.layout.nodes[target]!;
    const { block } = await lastConfigBlock(via);
    const before = readConsenterMetadata(block)!;
    const consenters = consentersOf(configOfBlock(block));
    // A new certificate for the same node from the orderer organisation's TLS CA.
    const caDir = path.join(net.layout.crypto.dir, 'ordererOrganizations', 'example.com', 'tlsca');
    const caDer = decodePem(readFileSync(path.join(caDir, 'tlsca.example.com-cert.pem')))!.der;
    const ca = { certificate: issuedCertificateFromDer(caDer), privateKey: createPrivateKey(readFileSync(path.join(caDir, 'priv_sk'))) };
    const leaf = createLeaf(ca, {
      subject: { commonName: `${targetNode.name}.example.com` },
      keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment,
      extKeyUsage: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });
    const pem = new TextEncoder().encode(leaf.certificate.pem);
    const rotated = consenters.map((c) => (c.port === targetNode.port ? { ...c, clientTlsCert: pem, serverTlsCert: pem } : c));
    const number = await update(via, rotated);
    const { block: after } = await lastConfigBlock(via);
    expect(after.header!.number).toBe(number);
    expect(readConsenterMetadata(after)!.consenterIds).toEqual(before.consenterIds);
    expect(consentersOf(configOfBlock(after)).find((c) => c.port === targetNode.port)!.serverTlsCert).toEqual(pem);
    // The operator installs the new pair and restarts the node: the others now pin its new key.
    await net.nodes[target]!.stop();
    writeFileSync(path.join(targetNode.tlsDir, 'server.crt'), leaf.certificate.pem);
    writeFileSync(path.join(targetNode.tlsDir, 'server.key'), privateKeyPem(leaf.privateKey));
    net.nodes[target]!.start();
    await waitForService(net.nodes[target]!.address, CHANNEL, 30_000, { tls });
    await load([target, via], 100);
    await waitFor('the rotated node has every envelope', 30_000, async () => {
      const ids = new Set(verifyChain(await readChain(net.nodes[target]!.address, CHANNEL, { tls })));
      return acked.every((t) => ids.has(t)) ? true : undefined;
    });
    await sameLedgers(members);
  });
});
