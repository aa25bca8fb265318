// A real Chain (single node, Raft state in memory) whose disk stalls: every Broadcast it
// acknowledges stays in its accepted set until it is in a committed block. When the set is full
// (maxAcceptedBytes) the next Broadcast is refused SERVICE_UNAVAILABLE, nothing acknowledged is
// dropped, and once the disk moves and blocks commit there is room again.
import type { Ready } from '../../consensus/raft/api';
import { newBlock } from '../../ledger/block';
import type { ChainSettings } from '../../orderer/chain/types';
import { OrdererError } from '../../orderer/errors';
import { common } from '../../protos';
import { waitFor } from '../e2e/harness';
import { simEnvelope } from '../sim/orderer/envelopes';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { MemoryRaftPersistence } from '../sim/orderer/memory-raft';
import { testChainSettings } from '../support/chain-settings';
import { soloChain } from '../support/solo-chain';

const CHANNEL = 'accepted';
const settings: ChainSettings = testChainSettings(1, { tickIntervalMs: 10, batchTimeoutMs: 20 }, '127.0.0.1');
class StallingRaft extends MemoryRaftPersistence {
  private stalled = false;
  private waiting: Array<() => void> = [];
  override async saveReady(rd: Ready): Promise<void> {
    if (this.stalled) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.saveReady(rd);
  }
  stall(): void {
    this.stalled = true;
  }
  resume(): void {
    this.stalled = false;
    for (const w of this.waiting.splice(0)) w();
  }
}

test('a full accepted set refuses the next Broadcast SERVICE_UNAVAILABLE, drops nothing acknowledged, and has room once blocks commit', async () => {
  const store = new MemoryBlockStore(CHANNEL);
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
  const raft = new StallingRaft();
  const envs = Array.from({ length: 6 }, (_, i) => simEnvelope(CHANNEL, `chain-accepted-${i}`, 200));
  const size = envs[0]!.envelopeBytes.length;
  const chain = soloChain({
    channelId: CHANNEL,
    settings,
    blockStore: store,
    raft,
    maxAcceptedBytes: 5 * size,
  });
  try {
    chain.start();
    await waitFor('a ready leader', 5_000, () => (chain.status().leaderReady ? true : undefined), 10);
    raft.stall(); // nothing commits from here on
    // The leader answers its own clients once their block commits: these five wait.
    const five = envs.slice(0, 5).map((e) => chain.order(e));
    await waitFor('five envelopes accepted', 5_000, () => (chain.status().acceptedUnordered === 5 ? true : undefined), 10);
    const refused = await chain.order(envs[5]!).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OrdererError);
    expect((refused as OrdererError).status).toBe(common.Status.SERVICE_UNAVAILABLE);
    expect((refused as OrdererError).message).toMatch(/too many envelopes accepted and not yet ordered/);
    expect(chain.status().acceptedUnordered).toBe(5); // nothing acknowledged was dropped

    raft.resume();
    await Promise.all(five); // SUCCESS once committed
    expect(envs.slice(0, 5).every((e) => store.getByTxId(e.txId) !== undefined)).toBe(true);
    await waitFor('the accepted set to empty', 5_000, () => (chain.status().acceptedUnordered === 0 ? true : undefined), 10);
    await chain.order(envs[5]!); // room again
    expect(store.getByTxId(envs[5]!.txId)).toBeDefined();
  } finally {
    raft.resume();
    await chain.halt();
  }
});
