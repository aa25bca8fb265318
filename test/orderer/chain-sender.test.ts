// A Raft message is taken only in the name of the node whose stream carried it: the cluster
// authenticates the stream (TLS certificate of a consenter), and a message claiming another
// sender would let one consenter vote or append as another.
import pino from 'pino';
import type { ClusterTransport } from '../../cluster/types';
import { newBlock } from '../../ledger/block';
import { Chain } from '../../orderer/chain/chain';
import { InsecureOpenChannelAccess } from '../../orderer/policies/channel-access';
import { common, raftpb } from '../../protos';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { MemoryRaftPersistence } from '../sim/orderer/memory-raft';
import { testChainSettings } from '../support/chain-settings';
import { waitFor } from '../support/wait';

const noPeers: ClusterTransport = {
  sendConsensus: () => false,
  sendSubmit: () => Promise.reject(new Error('no peers here')),
};

/** node 3, leader of term 9, as it would heartbeat. */
const heartbeat = (claimedFrom: number): raftpb.Message =>
  raftpb.Message.decode(raftpb.Message.encode({ type: raftpb.MessageType.MsgHeartbeat, to: 1, from: claimedFrom, term: 9, commit: 0 }));

test('a Raft message whose sender differs from the authenticated node is dropped; the same message from that node is taken', async () => {
  const lines: { msg: string; claimed?: number }[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string }) });
  const store = new MemoryBlockStore('sender');
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
  const chain = new Chain({
    channelId: 'sender',
    selfId: 1,
    access: new InsecureOpenChannelAccess(),
    // A long election timeout: node 1 stays a follower in its first term unless someone moves it.
    settings: testChainSettings(3, { tickIntervalMs: 1_000, electionTick: 100 }, '127.0.0.1'),
    blockStore: store,
    raft: new MemoryRaftPersistence(),
    transport: noPeers,
    pullBlocks: () => {
      throw new Error('nothing to pull');
    },
    logger,
    rngSeed: 1,
  });
  chain.start();
  try {
    const startTerm = chain.status().term;
    expect(startTerm).toBeLessThan(9);
    chain.onConsensus(2, heartbeat(3)); // node 2's stream, claiming to be node 3
    await waitFor('the warning', 5_000, () => (lines.some((l) => l.msg.includes('sender is not the authenticated node')) ? true : undefined), 10);
    expect(chain.status().term).toBe(startTerm);
    chain.onConsensus(3, heartbeat(3));
    await waitFor('term 9 from node 3', 5_000, () => (chain.status().term === 9 ? true : undefined), 10);
  } finally {
    await chain.halt();
  }
});
