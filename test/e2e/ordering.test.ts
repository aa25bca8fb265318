// Three real orderer processes: envelopes sent to all of them end up exactly once in
// identical, hash-chained ledgers on every node.
import { common } from '../../protos';
import { createNetwork, headerHashes, makeEnvelope, readChain, sendLoad, verifyChain, waitFor, waitForService, type TestNetwork } from './harness';

jest.setTimeout(120_000);

let net: TestNetwork;

afterEach(async () => {
  await net?.destroy();
});

test('5,000 envelopes sent to all three nodes land exactly once in identical ledgers', async () => {
  net = await createNetwork({ maxMessageCount: 100 });
  net.startAll();
  const addresses = net.nodes.map((n) => n.address);
  const probe = await waitForService(addresses[0]!, 'mychannel');

  const envelopes = Array.from({ length: 5_000 }, () => makeEnvelope('mychannel', 256));
  const result = await sendLoad(addresses, envelopes, 2);
  expect(result.rejected.size).toBe(0);
  expect(result.failedToSend).toBe(0);
  expect(new Set(result.acknowledged).size).toBe(5_000);

  const expected = new Set([probe, ...envelopes.map((e) => e.txId)]);
  const chains = await waitFor('every node to hold every envelope', 60_000, async () => {
    const all = await Promise.all(addresses.map((a) => readChain(a, 'mychannel')));
    return all.every((c) => verifyChain(c).length >= expected.size) ? all : undefined;
  }, 500);

  const reference = headerHashes(chains[0]!);
  for (const chain of chains) {
    const txIds = verifyChain(chain);
    expect(txIds.length).toBe(expected.size); // nothing twice
    expect(new Set(txIds)).toEqual(expected); // nothing missing
    expect(headerHashes(chain)).toEqual(reference); // the same blocks everywhere
  }
  // Blocks respect MaxMessageCount.
  for (const b of chains[0]!) expect(b.block.data?.data.length ?? 0).toBeLessThanOrEqual(100);
});

test('two channels are ordered independently, and a restarted network resumes at the same height', async () => {
  net = await createNetwork({ channels: ['alpha', 'beta'] });
  net.startAll();
  const [a0, a1] = net.nodes.map((n) => n.address) as [string, string, string];
  await waitForService(a0, 'alpha');
  await waitForService(a1, 'beta');

  const alpha = Array.from({ length: 300 }, () => makeEnvelope('alpha', 100));
  const beta = Array.from({ length: 200 }, () => makeEnvelope('beta', 100));
  const [ra, rb] = await Promise.all([sendLoad([a0], alpha, 2), sendLoad([a1], beta, 2)]);
  expect(ra.acknowledged.length).toBe(300);
  expect(rb.acknowledged.length).toBe(200);
  const heights = await waitFor('both channels on all nodes', 30_000, async () => {
    const hs: Record<string, number[]> = {};
    for (const ch of ['alpha', 'beta']) {
      const chains = await Promise.all(net.nodes.map((n) => readChain(n.address, ch)));
      const counts = chains.map((c) => verifyChain(c).length);
      const want = ch === 'alpha' ? 301 : 201;
      if (!counts.every((c) => c === want)) return undefined;
      hs[ch] = chains.map((c) => c.length);
    }
    return hs;
  });
  // Envelopes of one channel never show up in the other.
  const alphaChain = await readChain(a0, 'alpha');
  const alphaIds = new Set(verifyChain(alphaChain));
  for (const e of beta) expect(alphaIds.has(e.txId)).toBe(false);

  await net.stopAll();
  net.startAll();
  for (const ch of ['alpha', 'beta']) {
    const after = await waitFor(`${ch} to be served again`, 30_000, async () => {
      const chains = await Promise.all(net.nodes.map((n) => readChain(n.address, ch)));
      return chains.map((c) => c.length);
    });
    expect(after).toEqual(heights[ch]);
  }
  // And it keeps ordering after the restart.
  await waitForService(a0, 'alpha');
});

test('bad input over the wire gets Fabric status codes', async () => {
  net = await createNetwork();
  net.startAll();
  const address = net.nodes[0]!.address;
  await waitForService(address, 'mychannel');
  const { broadcastOne } = await import('./harness');
  expect((await broadcastOne(address, new Uint8Array([0xff, 0xff, 0xff]))).status).toBe(common.Status.BAD_REQUEST);
  expect((await broadcastOne(address, makeEnvelope('no-such-channel', 10).bytes)).status).toBe(common.Status.NOT_FOUND);
  // AbsoluteMaxBytes defaults to 10 MiB.
  expect((await broadcastOne(address, makeEnvelope('mychannel', 11 * 1024 * 1024).bytes)).status).toBe(common.Status.REQUEST_ENTITY_TOO_LARGE);
});
