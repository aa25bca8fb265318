// Who may forward envelopes to a leader: only a consenter of the channel's last config. A node a
// config block removed may not know it yet (it was cut off when the block committed) and goes
// on taking Broadcasts; the SUCCESS it would answer rests on its own copy, which it can never
// resend to a leader once it is out of the cluster, so the leader refuses its forwards and its
// client hears "not ordered". (Found by the durable whole-orderer simulation: a removed node,
// partitioned, acknowledged an envelope that the next leader never saw.)
import { newBlock } from '../../ledger/block';
import type { ChainSettings } from '../../orderer/chain/types';
import { common, orderer } from '../../protos';
import { waitFor } from '../e2e/harness';
import { simEnvelope } from '../sim/orderer/envelopes';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { MemoryRaftPersistence } from '../sim/orderer/memory-raft';
import { testChainSettings } from '../support/chain-settings';
import { readyLeaderPipeline } from '../support/leader-pipeline';
import { soloChain } from '../support/solo-chain';

const CHANNEL = 'senders';
const settings: ChainSettings = testChainSettings(1, { tickIntervalMs: 10, batchTimeoutMs: 20 }, '127.0.0.1');
test('a leader refuses a forward from a node that is not a consenter (SERVICE_UNAVAILABLE, not ordered) and takes one from a consenter', async () => {
  const store = new MemoryBlockStore(CHANNEL);
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
  const chain = soloChain({
    channelId: CHANNEL,
    settings,
    blockStore: store,
    raft: new MemoryRaftPersistence(),
  });
  const forward = (txId: string): orderer.SubmitRequest =>
    orderer.SubmitRequest.decode(orderer.SubmitRequest.encode({ channel: CHANNEL, lastValidationSeq: 0, payload: simEnvelope(CHANNEL, txId, 100).envelope }));
  try {
    chain.start();
    await waitFor('a ready leader', 5_000, () => (chain.status().leaderReady ? true : undefined), 10);
    const outsider = forward('from-a-removed-node');
    const refused = await chain.onSubmit(4, outsider, true);
    expect(refused).toMatchObject({ status: common.Status.SERVICE_UNAVAILABLE, info: expect.stringMatching(/node 4 is not a consenter of channel senders/) as unknown });
    // The same envelope forwarded by a consenter is taken and ordered; the outsider's never was.
    const member = simEnvelope(CHANNEL, 'from-a-consenter', 100);
    await chain.order(member);
    expect(store.getByTxId(member.txId)).toBeDefined();
    // Unacknowledged (a Fabric orderer's forward): dropped just the same, nothing to answer.
    chain.onSubmit(4, outsider, false);
    await chain.order(simEnvelope(CHANNEL, 'a-later-one', 100));
    const txId = simEnvelope(CHANNEL, 'from-a-removed-node', 100).txId;
    expect(store.getByTxId(txId)).toBeUndefined();
  } finally {
    await chain.halt();
  }
});

test('when a config block removes consenters, a leader can tell which envelopes it took from them and has not proposed', async () => {
  // Taken while the removal was still ahead (the sender still a consenter), they wait behind the
  // Raft removal (nothing is proposed while membership is pending); the Chain keeps copies of
  // them, because their senders can no longer resend them to a later leader.
  const { pipeline, proposed } = await readyLeaderPipeline(CHANNEL, {
    settings: () => testChainSettings(3, { batchTimeoutMs: 20 }, '127.0.0.1'),
    membershipPending: () => true,
  });
  const fromTwo = simEnvelope(CHANNEL, 'from-two', 50);
  const fromThree = simEnvelope(CHANNEL, 'from-three', 50);
  expect(pipeline.takeForwarded(2, { lastValidationSeq: 0, envelope: fromTwo.envelopeBytes })).toBe('taken');
  expect(pipeline.takeForwarded(3, { lastValidationSeq: 0, envelope: fromThree.envelopeBytes })).toBe('taken');
  pipeline.pump();
  expect(proposed).toHaveLength(0);
  expect(pipeline.unproposedForwardedBy(new Set([3])).map((i) => i.txId)).toEqual([fromThree.txId]);
  expect(pipeline.unproposedForwardedBy(new Set([4]))).toEqual([]);
  // Still in the intake, in order: proposed once the membership change is applied.
  expect(pipeline.unproposedForwardedBy(new Set([2, 3])).map((i) => i.txId)).toEqual([fromTwo.txId, fromThree.txId]);
});
