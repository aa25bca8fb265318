// Defect 1 of issue #11: a transaction ordered twice after a leader change. Three real Chains
// in one process over a hand-driven network and simulated clocks. The old leader puts an
// envelope in a block that reaches one follower but does not commit; that follower wins the
// next election; before it has applied its log the envelope reaches it again (resent by the
// follower that acknowledged it, or retried by the client). Fabric §3.5: a new leader takes
// nothing into its intake until every entry in its log is applied, so the ledger check sees
// the old block and the envelope is not ordered a second time.
import pino from 'pino';
import type { ClusterTransport } from '../../cluster/types';
import { envelopeTxIdOrEmpty, newBlock } from '../../ledger/block';
import { Chain } from '../../orderer/chain/chain';
import type { ChainSettings } from '../../orderer/chain/types';
import type { ParsedEnvelope } from '../../orderer/msgcheck';
import { common, orderer, raftpb } from '../../protos';
import { RaftRole } from '../../consensus/raft/api';
import { simEnvelope } from '../sim/orderer/envelopes';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { MemoryRaftPersistence } from '../sim/orderer/memory-raft';
import { SimClock } from '../sim/orderer/sim-clock';
import { testChainSettings } from '../support/chain-settings';
import { InsecureOpenChannelAccess } from '../../orderer/policies/channel-access';

const CHANNEL = 'defect1';
const TICK_MS = 100;
const BATCH_TIMEOUT_MS = 200;

const settings: ChainSettings = testChainSettings(3, { tickIntervalMs: TICK_MS, batchTimeoutMs: BATCH_TIMEOUT_MS });

type Wire =
  | { kind: 'consensus'; from: number; to: number; msg: raftpb.Message }
  | { kind: 'submit'; from: number; to: number; req: orderer.SubmitRequest };

interface TestNode {
  id: number;
  chain: Chain;
  clock: SimClock;
  store: MemoryBlockStore;
}

/** Three chains whose messages wait in `wire` until the test delivers or drops them. */
class Cluster {
  readonly wire: Wire[] = [];
  readonly nodes = new Map<number, TestNode>();

  constructor() {
    const logger = pino({ level: 'silent' });
    for (const id of [1, 2, 3]) {
      const clock = new SimClock();
      const store = new MemoryBlockStore(CHANNEL);
      void store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
      const transport: ClusterTransport = {
        sendConsensus: (_ch, to, msg) => {
          this.wire.push({ kind: 'consensus', from: id, to, msg: raftpb.Message.decode(raftpb.Message.encode(msg)) });
          return true;
        },
        sendSubmit: (_ch, to, req) => {
          this.wire.push({ kind: 'submit', from: id, to, req: orderer.SubmitRequest.decode(orderer.SubmitRequest.encode(req)) });
          return Promise.resolve();
        },
      };
      const chain = new Chain({
        channelId: CHANNEL,
        selfId: id,
        access: new InsecureOpenChannelAccess(),
        settings,
        blockStore: store,
        raft: new MemoryRaftPersistence(),
        transport,
        pullBlocks: () => {
          throw new Error('no catch-up in this test');
        },
        logger,
        timers: clock.timersFor(id),
        rngSeed: id,
      });
      this.nodes.set(id, { id, chain, clock, store });
    }
  }

  node(id: number): TestNode {
    return this.nodes.get(id)!;
  }

  /** Lets every Chain finish what it was handed (its storage completes in microtasks). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Delivers queued messages (submits first) that `pass` lets through, dropping the rest, until none are left. */
  async deliver(pass: (w: Wire) => boolean): Promise<void> {
    for (let round = 0; round < 100 && this.wire.length > 0; round++) {
      const batch = this.wire.splice(0).sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'submit' ? -1 : 1));
      for (const w of batch) {
        if (!pass(w)) continue;
        const to = this.node(w.to).chain;
        if (w.kind === 'consensus') to.onConsensus(w.from, w.msg);
        else to.onSubmit(w.from, w.req);
      }
      await this.settle();
    }
  }

  /** Advances the clocks of `ids` by one tick each, then delivers what `pass` allows. */
  async tick(ids: number[], pass: (w: Wire) => boolean, ms = TICK_MS): Promise<void> {
    for (const id of ids) {
      const clock = this.node(id).clock;
      await clock.advanceTo(clock.nowMs() + ms, () => this.settle());
    }
    await this.deliver(pass);
  }

  blocksWith(id: number, txId: string): number[] {
    return this.node(id)
      .store.all()
      .filter((b) => (b.block.data?.data ?? []).some((env) => envelopeTxIdOrEmpty(env) === txId))
      .map((b) => b.number);
  }
}

const all = (): boolean => true;
const notTouching =
  (isolated: number) =>
  (w: Wire): boolean =>
    w.from !== isolated && w.to !== isolated;

async function until(what: string, step: () => Promise<void>, done: () => boolean, maxSteps = 200): Promise<void> {
  for (let i = 0; i < maxSteps; i++) {
    if (done()) return;
    await step();
  }
  throw new Error(`${what} did not happen within ${maxSteps} steps`);
}

/**
 * Node 1 leads; `envelope` reaches it forwarded by node 3 (which answered SUCCESS) and goes into
 * block 1, which only node 2 receives; node 1 is then cut off and node 2 wins the election.
 * Returns once node 2 has become leader but before it has applied block 1.
 */
async function blockOneUncommittedThenNodeTwoLeads(c: Cluster, envelope: ParsedEnvelope): Promise<void> {
  for (const n of c.nodes.values()) n.chain.start();
  // Only node 1's clock runs: it is the only one that campaigns.
  await until('node 1 leading and ready', () => c.tick([1], all), () => c.node(1).chain.status().leaderReady);
  await c.tick([1, 2, 3], all);
  await c.node(3).chain.order(envelope); // forwarded to node 1: SUCCESS at node 3
  await c.deliver((w) => w.kind === 'submit');
  expect(c.node(1).chain.status().pendingInCutter).toBe(1);
  // The batch timeout cuts block 1; its MsgApp reaches node 2 only, and no acknowledgement gets back.
  await c.node(1).clock.advanceTo(c.node(1).clock.nowMs() + BATCH_TIMEOUT_MS, () => c.settle());
  expect(c.node(1).chain.status().inflightBlockNumbers).toEqual([1]);
  await c.deliver((w) => w.from === 1 && w.to === 2);
  expect(c.node(2).chain.status().height).toBe(1);
  // Node 1 is cut off; nodes 2 and 3 run out their election timeouts. Node 3's log lacks
  // block 1, so only node 2 can win. Node 3's append acknowledgements are held back so node 2
  // cannot commit (and apply) its log yet.
  const noAcksToTwo = (w: Wire): boolean => notTouching(1)(w) && !(w.kind === 'consensus' && w.to === 2 && w.msg.type === raftpb.MessageType.MsgAppResp);
  await until('node 2 leading', () => c.tick([2, 3], noAcksToTwo), () => c.node(2).chain.status().role === RaftRole.Leader);
  await c.tick([2, 3], noAcksToTwo);
  expect(c.node(2).chain.status().leaderReady).toBe(false);
}





test('defect 1: an envelope resent by the follower that acknowledged it is not ordered again by a new leader that has not applied its log yet', async () => {
  const c = new Cluster();
  const envelope = simEnvelope(CHANNEL, 'tx-resent');
  await blockOneUncommittedThenNodeTwoLeads(c, envelope);
  // Node 3 learned of leader 2 and resent what it acknowledged; then the new term commits.
  await until('block 1 and the next block applied on nodes 2 and 3', () => c.tick([2, 3], notTouching(1)), () => c.node(3).chain.status().height >= 2 && c.node(2).chain.status().leaderReady);
  for (let i = 0; i < 10; i++) await c.tick([2, 3], notTouching(1));
  expect(c.node(2).chain.status().acknowledged).toBe(0);
  expect(c.node(3).chain.status().resubmitted).toBeGreaterThan(0);
  expect(c.blocksWith(2, envelope.txId)).toEqual([1]);
  expect(c.blocksWith(3, envelope.txId)).toEqual([1]);
  for (const n of c.nodes.values()) await n.chain.halt();
});

test('defect 1: a client retrying an acknowledged envelope at a new leader that has not applied its log gets it ordered once', async () => {
  const c = new Cluster();
  const envelope = simEnvelope(CHANNEL, 'tx-retried');
  await blockOneUncommittedThenNodeTwoLeads(c, envelope);
  expect(c.node(2).chain.status().leaderReady).toBe(false);
  // The client did not hear back in time and sends the same envelope to node 2 directly.
  const retried = c.node(2).chain.order(envelope).then(
    () => 'SUCCESS',
    (err: unknown) => `refused: ${String(err)}`,
  );
  await until('block 1 applied on node 2', () => c.tick([2, 3], notTouching(1)), () => c.node(2).chain.status().leaderReady);
  for (let i = 0; i < 10; i++) await c.tick([2, 3], notTouching(1));
  expect(await retried).toBe('SUCCESS');
  expect(c.blocksWith(2, envelope.txId)).toEqual([1]);
  expect(c.blocksWith(3, envelope.txId)).toEqual([1]);
  for (const n of c.nodes.values()) await n.chain.halt();
});
