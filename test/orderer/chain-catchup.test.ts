// Catch-up by pulling blocks runs beside the Ready loop, not inside it. Three real Chains in one
// process over a hand-driven network and simulated clocks; node 3 misses enough blocks that the
// leader can only send it a snapshot, and its block puller stalls until the test releases it.
// While it pulls, node 3 keeps ticking and stepping messages: it answers heartbeats and
// appends, its commit index advances, it can vote and even lead; what commits meanwhile waits,
// and the ledger and the applied index stay where they are until the pull and that backlog are
// in. A halt ends a pull stuck in a read or in its backoff.
import pino from 'pino';
import type { ClusterTransport } from '../../cluster/types';
import { RaftRole } from '../../consensus/raft/api';
import { envelopeTxIdOrEmpty, newBlock } from '../../ledger/block';
import { readConsenterMetadata } from '../../ledger/metadata';
import { Chain } from '../../orderer/chain/chain';
import type { BlockPullRequest, ChainSettings } from '../../orderer/chain/types';
import { common, orderer, raftpb } from '../../protos';
import { simEnvelope } from '../sim/orderer/envelopes';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { MemoryRaftPersistence } from '../sim/orderer/memory-raft';
import { SimClock } from '../sim/orderer/sim-clock';
import { waitFor } from '../support/wait';
import { testChainSettings } from '../support/chain-settings';
import { InsecureOpenChannelAccess } from '../../orderer/policies/channel-access';

const CHANNEL = 'catchup';
const TICK_MS = 100;
const MT = raftpb.MessageType;

const settings: ChainSettings = testChainSettings(3, {
  tickIntervalMs: TICK_MS,
  // A snapshot after every applied batch: the leader's log is compacted at once.
  snapshotIntervalSizeBytes: 1,
  maxMessageCount: 1,
});

type Wire = { kind: 'consensus'; from: number; to: number; msg: raftpb.Message } | { kind: 'submit'; from: number; to: number; req: orderer.SubmitRequest };

/**
 * Node 3's block puller: every request is recorded and waits until the test releases the
 * puller (or the chain aborts it), then serves node 1's blocks; `failNext` makes the next
 * request fail at once, as an unreachable orderer would.
 */
class StalledPuller {
  readonly requests: Array<{ fromNumber: number; toNumber: number }> = [];
  active = 0;
  maxActive = 0;
  aborted = 0;
  failNext = 0;
  private released = false;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly source: () => MemoryBlockStore) {}

  release(): void {
    this.released = true;
    for (const wake of this.waiting.splice(0)) wake();
  }

  readonly pull = (req: BlockPullRequest): AsyncIterable<{ block: common.Block; bytes: Uint8Array }> => this.serve(req);

  private async *serve(req: BlockPullRequest): AsyncGenerator<{ block: common.Block; bytes: Uint8Array }> {
    this.requests.push({ fromNumber: req.fromNumber, toNumber: req.toNumber });
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('no orderer reachable');
    }
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      if (!this.released) {
        await new Promise<void>((resolve) => {
          this.waiting.push(resolve);
          req.signal.addEventListener('abort', () => {
            this.aborted++;
            resolve();
          });
        });
      }
      if (req.signal.aborted) return;
      for (let n = req.fromNumber; n <= req.toNumber; n++) {
        const b = this.source().getBlock(n)!;
        yield { block: b.block, bytes: b.bytes };
      }
    } finally {
      this.active--;
    }
  }
}

interface TestNode {
  id: number;
  chain: Chain;
  clock: SimClock;
  store: MemoryBlockStore;
  raft: MemoryRaftPersistence;
}

/** Three chains whose messages wait in `wire` until the test delivers or drops them; `sent` keeps a log. */
class Cluster {
  readonly wire: Wire[] = [];
  readonly sent: Array<{ from: number; to: number; type: raftpb.MessageType }> = [];
  readonly nodes = new Map<number, TestNode>();
  readonly puller = new StalledPuller(() => this.node(1).store);

  constructor() {
    for (const id of [1, 2, 3]) {
      const clock = new SimClock();
      const store = new MemoryBlockStore(CHANNEL);
      void store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
      const raft = new MemoryRaftPersistence();
      this.nodes.set(id, { id, chain: this.newChain(id, clock, store, raft, 1), clock, store, raft });
    }
  }

  /** A Chain over the node's storage, which outlives it (a restart builds another). */
  private newChain(id: number, clock: SimClock, store: MemoryBlockStore, raft: MemoryRaftPersistence, incarnation: number): Chain {
    const transport: ClusterTransport = {
      sendConsensus: (_ch, to, msg) => {
        const wireMsg = raftpb.Message.decode(raftpb.Message.encode(msg));
        this.sent.push({ from: id, to, type: wireMsg.type });
        this.wire.push({ kind: 'consensus', from: id, to, msg: wireMsg });
        return true;
      },
      sendSubmit: (_ch, to, req) => {
        this.wire.push({ kind: 'submit', from: id, to, req: orderer.SubmitRequest.decode(orderer.SubmitRequest.encode(req)) });
        return Promise.resolve();
      },
    };
    return new Chain({
      channelId: CHANNEL,
      selfId: id,
      access: new InsecureOpenChannelAccess(),
      settings,
      blockStore: store,
      raft,
      transport,
      pullBlocks:
        id === 3
          ? this.puller.pull
          : () => {
              throw new Error('only node 3 catches up in this test');
            },
      logger: pino({ level: 'silent' }),
      timers: clock.timersFor(id * 100 + incarnation),
      rngSeed: id * 100 + incarnation,
      intakeWaitTimeoutMs: 600_000,
    });
  }

  /** A crash (the Chain and its timers gone, its storage kept) and a new Chain on that storage. */
  async restart(id: number, incarnation: number): Promise<void> {
    const n = this.node(id);
    n.clock.cancelOwner(id * 100 + incarnation - 1);
    await n.chain.halt('simulated crash');
    n.chain = this.newChain(id, n.clock, n.store, n.raft, incarnation);
    n.chain.start();
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
  async tick(ids: number[], pass: (w: Wire) => boolean): Promise<void> {
    for (const id of ids) {
      const clock = this.node(id).clock;
      await clock.advanceTo(clock.nowMs() + TICK_MS, () => this.settle());
    }
    await this.deliver(pass);
  }

  /** Messages of `type` node `from` sent since `since` (an index into `sent`). */
  sentSince(since: number, from: number, type: raftpb.MessageType): number {
    return this.sent.slice(since).filter((m) => m.from === from && m.type === type).length;
  }

  headerHashes(id: number): string[] {
    return this.node(id)
      .store.all()
      .map((b) => Buffer.from(b.headerHash).toString('hex'));
  }

  blocksWith(id: number, txId: string): number[] {
    return this.node(id)
      .store.all()
      .filter((b) => (b.block.data?.data ?? []).some((env) => envelopeTxIdOrEmpty(env) === txId))
      .map((b) => b.number);
  }

  async haltAll(): Promise<void> {
    for (const n of this.nodes.values()) await n.chain.halt();
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

/** Orders `count` envelopes at node 1 (the leader), each its own block, with `pass` deciding who hears of them. */
async function orderAtLeader(c: Cluster, label: string, count: number, pass: (w: Wire) => boolean): Promise<void> {
  const leader = c.node(1).chain;
  for (let i = 0; i < count; i++) {
    const height = leader.status().height;
    // The leader answers its own client once the block commits, which takes ticks and deliveries.
    let acked = false;
    const ordered = leader.order(simEnvelope(CHANNEL, `${label}-${i}`)).then(() => (acked = true));
    await until(`block ${height} on the leader, acknowledged`, () => c.tick([1, 2, 3], pass), () => leader.status().height > height && acked);
    await ordered;
  }
}

/**
 * Node 1 leads; node 3 is cut off while nodes 1 and 2 order 8 blocks and compact their logs past
 * node 3's; reconnected, node 3 gets a snapshot and asks its (stalled) puller for the blocks
 * before the snapshot's. Returns the snapshot's block number.
 */
async function nodeThreePullsASnapshot(c: Cluster): Promise<number> {
  for (const n of c.nodes.values()) n.chain.start();
  // Only node 1's clock runs: it is the only one that campaigns.
  await until('node 1 leading and ready', () => c.tick([1], all), () => c.node(1).chain.status().leaderReady);
  await orderAtLeader(c, 'cut-off', 8, notTouching(3));
  expect(c.node(1).raft.storage.firstIndex()).toBeGreaterThan(c.node(3).raft.storage.lastIndex() + 1);
  await until('node 3 pulling', () => c.tick([1, 2, 3], all), () => c.puller.requests.length > 0);
  expect(c.puller.requests).toHaveLength(1);
  expect(c.puller.requests[0]!.fromNumber).toBe(1);
  return c.puller.requests[0]!.toNumber + 1;
}

test('while its pull stalls, a node answers heartbeats and appends, and its commit advances; once the blocks are in, the entries committed meanwhile follow them in order', async () => {
  const c = new Cluster();
  const snapshotBlock = await nodeThreePullsASnapshot(c);
  const three = c.node(3).chain;
  const before = three.status();
  const snapshotIndex = c.node(3).raft.storage.snapshot().metadata.index;
  const since = c.sent.length;

  await orderAtLeader(c, 'while-pulling', 3, all);
  for (let i = 0; i < 5; i++) await c.tick([1, 2, 3], all);

  const during = three.status();
  const leader = c.node(1).chain.status();
  expect(c.sentSince(since, 3, MT.MsgHeartbeatResp)).toBeGreaterThan(0);
  expect(c.sentSince(since, 3, MT.MsgAppResp)).toBeGreaterThan(0);
  expect(during.term).toBe(leader.term);
  expect(during.commitIndex).toBe(leader.commitIndex);
  expect(during.commitIndex).toBeGreaterThan(before.commitIndex);
  // Nothing of it is in the ledger yet, and the applied index says so.
  expect(during.height).toBe(1);
  expect(during.appliedIndex).toBe(before.appliedIndex);
  expect(during.appliedIndex).toBeLessThan(snapshotIndex);
  // Operators see it catching up.
  expect(during.catchingUp).toEqual({ fromHeight: 1, toBlock: snapshotBlock, snapshotIndex, pulling: true, backlogToIndex: during.commitIndex });
  expect(c.node(3).raft.snapshotsTaken).toBe(0);

  c.puller.release();
  await until('node 3 caught up', () => c.tick([1, 2, 3], all), () => three.status().catchingUp === undefined);
  const after = three.status();
  expect(after.height).toBe(c.node(1).chain.status().height);
  expect(after.height).toBeGreaterThan(snapshotBlock + 3);
  expect(after.appliedIndex).toBe(after.commitIndex);
  expect(c.headerHashes(3)).toEqual(c.headerHashes(1));
  // From the snapshot's block on, each block carries the raft index node 3 applied it at, rising:
  // the backlog went in in order, after the snapshot's block.
  const indexes = c.node(3).store.all().slice(snapshotBlock).map((b) => readConsenterMetadata(b.block)?.raftIndex ?? 0);
  expect(indexes[0]).toBe(snapshotIndex);
  for (let i = 1; i < indexes.length; i++) expect(indexes[i]).toBeGreaterThan(indexes[i - 1]!);
  expect(c.puller.requests).toEqual([{ fromNumber: 1, toNumber: snapshotBlock - 1 }]);
  expect(c.puller.maxActive).toBe(1);
  await c.haltAll();
});

test('a node elected while it pulls takes no envelope until the pull and everything committed before its election are applied', async () => {
  const c = new Cluster();
  await nodeThreePullsASnapshot(c);
  await orderAtLeader(c, 'before-election', 2, all);
  for (let i = 0; i < 3; i++) await c.tick([1, 2, 3], all);
  // Node 1 is cut off. Nodes 2 and 3 run out their election timeouts; node 2's own campaign is
  // dropped, so node 3, still pulling, is the one elected.
  const node3Wins = (w: Wire): boolean =>
    notTouching(1)(w) && !(w.kind === 'consensus' && w.from === 2 && (w.msg.type === MT.MsgPreVote || w.msg.type === MT.MsgVote));
  const three = c.node(3).chain;
  await until('node 3 leading', () => c.tick([2, 3], node3Wins), () => three.status().role === RaftRole.Leader);
  expect(three.status().catchingUp?.pulling).toBe(true);

  // A client at node 3 and one at node 2 (forwarded to node 3) broadcast meanwhile.
  const direct = simEnvelope(CHANNEL, 'at-new-leader');
  const forwarded = simEnvelope(CHANNEL, 'forwarded-to-new-leader');
  const outcomes: string[] = [];
  void three.order(direct).then(() => outcomes.push('direct'));
  void c.node(2).chain.order(forwarded).then(() => outcomes.push('forwarded'));
  const termStart = c.node(3).raft.storage.lastIndex();
  for (let i = 0; i < 10; i++) await c.tick([2, 3], notTouching(1));
  const leading = three.status();
  expect(leading.role).toBe(RaftRole.Leader);
  expect(leading.leaderReady).toBe(false);
  expect(leading.intakeEnvelopes + leading.pendingInCutter + leading.inflightBlocks).toBe(0);
  expect(leading.height).toBe(1);
  expect(leading.appliedIndex).toBeLessThan(termStart);
  // Its term's empty entry committed; no block of its own was proposed.
  const ownEntries = c.node(3).raft.storage.entries(termStart, c.node(3).raft.storage.lastIndex() + 1, Infinity);
  expect(ownEntries.filter((e) => e.data.length > 0)).toEqual([]);
  // This transport has no submit acks, so node 2 acknowledges once written (as to a Fabric leader);
  // node 3 makes its own client wait.
  expect(outcomes).toEqual(['forwarded']);

  c.puller.release();
  await until('both envelopes in blocks on node 3', () => c.tick([2, 3], notTouching(1)), () => c.blocksWith(3, direct.txId).length > 0 && c.blocksWith(3, forwarded.txId).length > 0);
  for (let i = 0; i < 5; i++) await c.tick([2, 3], notTouching(1));
  expect(three.status()).toMatchObject({ leaderReady: true, catchingUp: undefined });
  expect(outcomes.sort()).toEqual(['direct', 'forwarded']);
  expect(c.blocksWith(3, direct.txId)).toHaveLength(1);
  expect(c.blocksWith(3, forwarded.txId)).toHaveLength(1);
  expect(c.headerHashes(2)).toEqual(c.headerHashes(3));
  // Everything node 1 had committed is below the new blocks.
  expect(c.headerHashes(3).slice(0, c.node(1).store.height())).toEqual(c.headerHashes(1));
  await c.haltAll();
});

test('a second snapshot while a pull runs moves its target: no second pull beside it', async () => {
  const c = new Cluster();
  const firstTarget = await nodeThreePullsASnapshot(c);
  const firstSnapshotIndex = c.node(3).raft.storage.snapshot().metadata.index;
  // Node 3 is cut off again, long enough for the others to compact past its log once more.
  await orderAtLeader(c, 'second-gap', 8, notTouching(3));
  expect(c.node(1).raft.storage.firstIndex()).toBeGreaterThan(c.node(3).raft.storage.lastIndex() + 1);
  await until('node 3 on the newer snapshot', () => c.tick([1, 2, 3], all), () => c.node(3).raft.storage.snapshot().metadata.index > firstSnapshotIndex);
  const secondTarget = c.node(3).chain.status().catchingUp!.toBlock;
  expect(secondTarget).toBeGreaterThan(firstTarget);
  expect(c.puller.requests).toHaveLength(1);

  c.puller.release();
  await until('node 3 caught up', () => c.tick([1, 2, 3], all), () => c.node(3).chain.status().catchingUp === undefined);
  for (let i = 0; i < 3; i++) await c.tick([1, 2, 3], all);
  expect(c.puller.maxActive).toBe(1);
  // The running pull finished its stream, then went on to the new target.
  expect(c.puller.requests).toEqual([
    { fromNumber: 1, toNumber: firstTarget - 1 },
    { fromNumber: firstTarget, toNumber: secondTarget - 1 },
  ]);
  expect(c.headerHashes(3)).toEqual(c.headerHashes(1));
  await c.haltAll();
});

test('a snapshot found ahead of the ledger at restart is pulled beside the loop too', async () => {
  const c = new Cluster();
  const snapshotBlock = await nodeThreePullsASnapshot(c);
  const snapshotIndex = c.node(3).raft.storage.snapshot().metadata.index;
  // Node 3 crashes while it pulls; the snapshot is in its Raft storage, its blocks are not in its ledger.
  await c.restart(3, 2);
  expect(c.puller.aborted).toBe(1);
  expect(c.puller.requests).toHaveLength(2);
  expect(c.puller.requests[1]).toEqual({ fromNumber: 1, toNumber: snapshotBlock - 1 });
  const since = c.sent.length;
  await orderAtLeader(c, 'after-restart', 2, all);
  for (let i = 0; i < 5; i++) await c.tick([1, 2, 3], all);
  const during = c.node(3).chain.status();
  expect(c.sentSince(since, 3, MT.MsgHeartbeatResp)).toBeGreaterThan(0);
  expect(during.commitIndex).toBe(c.node(1).chain.status().commitIndex);
  expect(during.height).toBe(1);
  // The genesis block carries no raft index: nothing of the log is applied yet.
  expect(during.appliedIndex).toBe(0);
  expect(during.catchingUp).toEqual({ fromHeight: 1, toBlock: snapshotBlock, snapshotIndex, pulling: true, backlogToIndex: during.commitIndex });

  c.puller.release();
  await until('node 3 caught up', () => c.tick([1, 2, 3], all), () => c.node(3).chain.status().catchingUp === undefined);
  expect(c.node(3).chain.status().appliedIndex).toBe(c.node(3).chain.status().commitIndex);
  expect(c.headerHashes(3)).toEqual(c.headerHashes(1));
  await c.haltAll();
});

test('a halt ends a pull stuck in a read without waiting for it', async () => {
  const c = new Cluster();
  await nodeThreePullsASnapshot(c);
  let halted = false;
  void c.node(3).chain.halt().then(() => (halted = true));
  await waitFor('the halt of a chain whose pull is stuck in a read', 10_000, () => halted);
  expect(c.puller.aborted).toBe(1);
  expect(c.puller.active).toBe(0);
  await c.haltAll();
});

test('a halt ends a pull waiting out its backoff without waiting for the backoff', async () => {
  const c = new Cluster();
  c.puller.failNext = 1;
  await nodeThreePullsASnapshot(c);
  // The first request failed; the retry waits 100 ms on node 3's clock, which the test does not move.
  let halted = false;
  void c.node(3).chain.halt().then(() => (halted = true));
  await waitFor('the halt of a chain whose pull waits out its backoff', 10_000, () => halted);
  expect(c.puller.requests).toHaveLength(1);
  await c.haltAll();
});
