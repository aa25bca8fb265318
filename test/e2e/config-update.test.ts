// Channel config updates on a real 3-node network (real processes, 127.0.0.1, TLS on): a CONFIG_UPDATE
// signed by the orderer org's admin changes BatchSize; the orderer wraps it in a CONFIG
// envelope signed by itself and orders it alone in a block; the very next block follows the
// new batch size, every later block's LAST_CONFIG points at the config block, and a node
// restarted afterwards runs with the new config. Refused updates change nothing.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { readLastConfigIndex } from '../../ledger/metadata';
import { configEnvelopeOfBlock } from '../../orderer/chain/channel-config';
import { parseConfigBlock } from '../../orderer/channelconfig';
import { loadLocalSigningIdentity } from '../../orderer/msp/local-msp';
import { common, msp } from '../../protos';
import { batchSizeUpdate, configOfBlock, configUpdateEnvelope } from '../support/config-update';
import { broadcastOne, chainHeight, createNetwork, makeEnvelope, readChain, verifyChain, waitFor, waitForService, type TestNetwork } from './harness';

jest.setTimeout(120_000);

const CHANNEL = 'mychannel';

describe('config updates', () => {
  let net: TestNetwork;
  let tls: grpc.ChannelCredentials;

  beforeAll(async () => {
    net = await createNetwork({ maxMessageCount: 50, batchTimeout: '300ms', tls: true });
    tls = grpc.credentials.createSsl(readFileSync(net.layout.crypto.ordererTlsCaPath));
    net.startAll();
    const probe = await waitForService(net.nodes[0]!.address, CHANNEL, 30_000, { tls });
    // The probe's SUCCESS can come before its block (a follower answers once the leader holds
    // it): wait until every node has it, so that the heights the tests compare are settled.
    for (const node of net.nodes) {
      await waitFor(`the probe envelope in ${node.address}'s ledger`, 30_000, async () => (verifyChain(await readChain(node.address, CHANNEL, { tls })).includes(probe) ? true : undefined), 100);
    }
  });

  afterAll(async () => {
    await net?.destroy();
  });

  it('a BatchSize change is ordered alone in a block, signed by the orderer, and the very next block follows it', async () => {
    const address = net.nodes[1]!.address;
    const genesis = (await readChain(address, CHANNEL, { tls }))[0]!;
    const config = configOfBlock(genesis.block);
    const admin = loadLocalSigningIdentity(net.layout.crypto.ordererAdminMspDir, net.layout.crypto.ordererMspId);
    const client = loadLocalSigningIdentity(net.layout.crypto.clientMspDir, net.layout.crypto.clientMspId);
    const update = batchSizeUpdate(CHANNEL, config, { maxMessageCount: 2, absoluteMaxBytes: 10 * 1024 * 1024, preferredMaxBytes: 2 * 1024 * 1024 });

    // Without the orderer admin's signature: FORBIDDEN, nothing ordered.
    const heightBefore = await chainHeight(address, CHANNEL, { tls });
    const unsigned = configUpdateEnvelope(CHANNEL, update, [client], client);
    const refused = await broadcastOne(address, unsigned.bytes, { tls });
    expect(refused.status).toBe(common.Status.FORBIDDEN);
    expect(refused.info).toMatch(/Admins/);

    // Another channel's id inside the update: BAD_REQUEST.
    const wrongChannel = configUpdateEnvelope(CHANNEL, { ...update, channelId: 'otherchannel' }, [admin], client);
    expect((await broadcastOne(address, wrongChannel.bytes, { tls })).status).toBe(common.Status.BAD_REQUEST);
    expect(await chainHeight(address, CHANNEL, { tls })).toBe(heightBefore);

    const ok = configUpdateEnvelope(CHANNEL, update, [admin], client);
    const res = await broadcastOne(address, ok.bytes, { tls });
    expect({ status: res.status, info: res.info }).toEqual({ status: common.Status.SUCCESS, info: '' });

    // The same update again: its versions are stale now.
    const again = configUpdateEnvelope(CHANNEL, update, [admin], client);
    await waitFor('the config block', 20_000, async () => {
      const blocks = await readChain(address, CHANNEL, { tls });
      return blocks.some((b) => configEnvelopeOfBlock(b.block) !== undefined && b.number > 0) ? true : undefined;
    });
    const stale = await broadcastOne(address, again.bytes, { tls });
    expect(stale.status).toBe(common.Status.BAD_REQUEST);

    // Envelopes sent together after the change: no block holds more than 2.
    const sent = await Promise.all(Array.from({ length: 8 }, () => makeEnvelope(CHANNEL, 64)).map(async (e) => ({ e, r: await broadcastOne(net.nodes[0]!.address, e.bytes, { tls }) })));
    for (const { r } of sent) expect(r.status).toBe(common.Status.SUCCESS);
    const txIds = sent.map(({ e }) => e.txId);

    for (const node of net.nodes) {
      const blocks = await waitFor(`${node.name} has every envelope`, 20_000, async () => {
        const b = await readChain(node.address, CHANNEL, { tls });
        const ids = new Set(verifyChain(b));
        return txIds.every((t) => ids.has(t)) ? b : undefined;
      });
      const configBlocks = blocks.filter((b) => b.number > 0 && configEnvelopeOfBlock(b.block) !== undefined);
      expect(configBlocks).toHaveLength(1);
      const cb = configBlocks[0]!;
      expect(cb.block.data!.data).toHaveLength(1);
      const carried = configOfBlock(cb.block);
      expect(carried.sequence).toBe(1);
      expect(parseConfigBlock(cb.block).orderer.batchSize.maxMessageCount).toBe(2);
      // Made and signed by an orderer: the creator is an OrdererMSP identity.
      const payload = common.Payload.decode(common.Envelope.decode(cb.block.data!.data[0]!).payload);
      const creator = msp.SerializedIdentity.decode(common.SignatureHeader.decode(payload.header!.signatureHeader).creator);
      expect(creator.mspid).toBe('OrdererMSP');
      expect(common.Envelope.decode(cb.block.data!.data[0]!).signature.length).toBeGreaterThan(0);
      // LAST_CONFIG: the config block points at itself, every later block at it.
      expect(readLastConfigIndex(cb.block)).toBe(cb.number);
      for (const b of blocks.filter((x) => x.number > cb.number)) {
        expect(readLastConfigIndex(b.block)).toBe(cb.number);
        expect(b.block.data!.data.length).toBeLessThanOrEqual(2);
      }
      for (const b of blocks.filter((x) => x.number > 0 && x.number < cb.number)) expect(readLastConfigIndex(b.block)).toBe(0);
    }
    const reference = (await readChain(net.nodes[0]!.address, CHANNEL, { tls })).map((b) => Buffer.from(b.block.header!.dataHash).toString('hex'));
    for (const node of net.nodes.slice(1)) {
      const hashes = (await readChain(node.address, CHANNEL, { tls })).map((b) => Buffer.from(b.block.header!.dataHash).toString('hex'));
      expect(hashes.slice(0, reference.length)).toEqual(reference.slice(0, hashes.length));
    }
  });

  it('a node restarted after the change runs with the new config', async () => {
    const node = net.nodes[2]!;
    await node.stop();
    node.start();
    await waitForService(node.address, CHANNEL, 30_000, { tls });
    const sent = await Promise.all(Array.from({ length: 6 }, () => makeEnvelope(CHANNEL, 64)).map((e) => broadcastOne(node.address, e.bytes, { tls })));
    for (const r of sent) expect(r.status).toBe(common.Status.SUCCESS);
    const blocks = await readChain(node.address, CHANNEL, { tls });
    const lastConfig = readLastConfigIndex(blocks[blocks.length - 1]!.block);
    expect(lastConfig).toBeGreaterThan(0);
    for (const b of blocks.filter((x) => x.number > lastConfig)) expect(b.block.data!.data.length).toBeLessThanOrEqual(2);
  });
});
