// The Applier while the ledger is behind a Raft snapshot (orderer/chain/apply.ts): committed
// entries wait as a backlog read back from Raft storage, and go into the ledger after the
// snapshot's block, in order. Conf changes among them reach Raft when they commit, once; the
// membership each one left is what our own snapshot records at its index; our own removal
// halts only when the ledger has every block before it.
import pino from 'pino';
import { envelopeTxIdOrEmpty, newBlock } from '../../ledger/block';
import { readConsenterMetadata } from '../../ledger/metadata';
import { Applier } from '../../orderer/chain/apply';
import type { BlockPullRequest, ChainSettings } from '../../orderer/chain/types';
import { common, raftpb } from '../../protos';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { MemoryRaftPersistence } from '../sim/orderer/memory-raft';
import { SimClock } from '../sim/orderer/sim-clock';
import { waitFor } from '../support/wait';
import { testChainSettings } from '../support/chain-settings';

const CHANNEL = 'apply-catchup';
const SELF = 3;
const SNAPSHOT_INDEX = 10;

const settings: ChainSettings = testChainSettings(3, { snapshotIntervalSizeBytes: 1, maxMessageCount: 1 });

const genesis = (): common.Block => newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]);

/** The other orderers' ledger: genesis and blocks 1..6. */
async function sourceLedger(): Promise<MemoryBlockStore> {
  const store = new MemoryBlockStore(CHANNEL);
  await store.append(genesis());
  for (let n = 1; n <= 6; n++) await store.append(newBlock(n, store.lastHeaderHash()!, [common.Envelope.encode({ payload: Uint8Array.of(n, 42) })]));
  return store;
}

const confState = (voters: number[]): raftpb.ConfState => raftpb.ConfState.decode(raftpb.ConfState.encode({ voters }));
const blockEntry = (source: MemoryBlockStore, index: number, n: number): raftpb.Entry => ({ type: raftpb.EntryType.EntryNormal, term: 2, index, data: source.getBlock(n)!.bytes });
const confEntry = (index: number, type: raftpb.ConfChangeType, nodeId: number): raftpb.Entry => ({
  type: raftpb.EntryType.EntryConfChange,
  term: 2,
  index,
  data: raftpb.ConfChange.encode({ type, nodeId }),
});

interface Harness {
  applier: Applier;
  store: MemoryBlockStore;
  raft: MemoryRaftPersistence;
  /** Conf changes handed to Raft, in order. */
  confChanges: string[];
  removed: number;
  pulled: () => boolean;
  release(): void;
  /** Persists the snapshot (block 3 at SNAPSHOT_INDEX) and `entries` as a Ready would, and hands them to the Applier. */
  install(entries: raftpb.Entry[]): Promise<void>;
}

async function harness(): Promise<Harness> {
  const source = await sourceLedger();
  const store = new MemoryBlockStore(CHANNEL);
  await store.append(genesis());
  const raft = new MemoryRaftPersistence();
  const voters = new Set([1, 2, 3]);
  let released = false;
  let wake: (() => void) | undefined;
  let pulled = false;
  const h: Harness = {
    applier: undefined as unknown as Applier,
    store,
    raft,
    confChanges: [],
    removed: 0,
    pulled: () => pulled,
    release: () => {
      released = true;
      wake?.();
    },
    async install(entries) {
      const snapshot: raftpb.Snapshot = { data: source.getBlock(3)!.bytes, metadata: { index: SNAPSHOT_INDEX, term: 2, confState: confState([1, 2, 3]) } };
      const last = entries[entries.length - 1]?.index ?? SNAPSHOT_INDEX;
      await raft.saveReady({ snapshot, entries, hardState: { term: 2, vote: 0, commit: last }, committedEntries: [], messages: [], mustSync: true });
      h.applier.applySnapshot(snapshot);
      expect(await h.applier.applyEntries(entries)).toBe('applied');
    },
  };
  async function* pull(req: BlockPullRequest): AsyncGenerator<{ block: common.Block; bytes: Uint8Array }> {
    if (!released) await new Promise<void>((resolve) => (wake = resolve));
    for (let n = req.fromNumber; n <= req.toNumber; n++) yield { block: source.getBlock(n)!.block, bytes: source.getBlock(n)!.bytes };
  }
  h.applier = new Applier({
    channelId: CHANNEL,
    selfId: SELF,
    blockStore: store,
    raft,
    pullBlocks: pull,
    timers: new SimClock().timersFor(SELF),
    logger: pino({ level: 'silent' }),
    settings: () => settings,
    applyConfChange: (cc) => {
      h.confChanges.push(`${raftpb.ConfChangeType[cc.type]} ${cc.nodeId}`);
      if (cc.type === raftpb.ConfChangeType.ConfChangeAddNode) voters.add(cc.nodeId);
      if (cc.type === raftpb.ConfChangeType.ConfChangeRemoveNode) voters.delete(cc.nodeId);
      return confState([...voters].sort());
    },
    txIdsOf: (block) => (block.data?.data ?? []).map(envelopeTxIdOrEmpty),
    onBlockCommitted: () => undefined,
    onRemoved: () => h.removed++,
    onPulled: () => (pulled = true),
    onError: (err) => {
      throw err;
    },
  });
  return h;
}

test('conf changes in the backlog reach Raft when they commit and only then; our snapshot records the membership at its index', async () => {
  const h = await harness();
  const source = await sourceLedger();
  await h.install([confEntry(11, raftpb.ConfChangeType.ConfChangeAddNode, 4), blockEntry(source, 12, 4), blockEntry(source, 13, 5)]);
  expect(h.confChanges).toEqual(['ConfChangeAddNode 4']);
  expect(h.store.height()).toBe(1);
  expect(h.applier.appliedIndex).toBeLessThan(SNAPSHOT_INDEX);
  expect(h.applier.catchingUp).toEqual({ fromHeight: 1, toBlock: 3, snapshotIndex: SNAPSHOT_INDEX, pulling: true, backlogToIndex: 13 });
  expect(h.applier.applyWaiting()).toBeUndefined();

  h.release();
  await waitFor('the blocks before the snapshot pulled', 10_000, h.pulled);
  expect(h.store.height()).toBe(3);
  expect(await h.applier.applyWaiting()).toBe('applied');
  expect(h.store.height()).toBe(4);
  expect(h.applier.appliedIndex).toBe(SNAPSHOT_INDEX);
  expect(h.applier.catchingUp).toMatchObject({ pulling: false, backlogToIndex: 13 });
  expect(h.raft.snapshotsTaken).toBe(0);

  expect(await h.applier.applyWaiting()).toBe('applied');
  expect(h.store.height()).toBe(6);
  expect(h.applier.appliedIndex).toBe(13);
  expect(h.applier.catchingUp).toBeUndefined();
  expect(h.applier.applyWaiting()).toBeUndefined();
  expect(h.store.all().map((b) => readConsenterMetadata(b.block)?.raftIndex)).toEqual([undefined, undefined, undefined, SNAPSHOT_INDEX, 12, 13]);
  // Not handed to Raft a second time; the snapshot taken at 13 has node 4 in it.
  expect(h.confChanges).toEqual(['ConfChangeAddNode 4']);
  expect(h.raft.snapshotsTaken).toBe(1);
  expect(h.raft.storage.snapshot().metadata).toMatchObject({ index: 13, confState: { voters: [1, 2, 3, 4] } });
});

test('our own removal in the backlog reaches Raft at once and halts the chain once the blocks before it are in', async () => {
  const h = await harness();
  const source = await sourceLedger();
  await h.install([blockEntry(source, 11, 4), confEntry(12, raftpb.ConfChangeType.ConfChangeRemoveNode, SELF), blockEntry(source, 13, 5)]);
  expect(h.confChanges).toEqual([`ConfChangeRemoveNode ${SELF}`]);
  expect(h.removed).toBe(0);

  h.release();
  await waitFor('the blocks before the snapshot pulled', 10_000, h.pulled);
  expect(await h.applier.applyWaiting()).toBe('applied');
  expect(h.removed).toBe(0);
  expect(await h.applier.applyWaiting()).toBe('removed');
  expect(h.removed).toBe(1);
  expect(h.store.height()).toBe(5);
  expect(h.applier.appliedIndex).toBe(12);
  expect(h.confChanges).toEqual([`ConfChangeRemoveNode ${SELF}`]);
});

test('a second snapshot takes over: what waited below it is dropped, and the pull goes on to its block', async () => {
  const h = await harness();
  const source = await sourceLedger();
  await h.install([confEntry(11, raftpb.ConfChangeType.ConfChangeAddNode, 4), blockEntry(source, 12, 4)]);
  const second: raftpb.Snapshot = { data: source.getBlock(5)!.bytes, metadata: { index: 20, term: 3, confState: confState([1, 2, 3, 4]) } };
  await h.raft.saveReady({ snapshot: second, entries: [], hardState: { term: 3, vote: 0, commit: 20 }, committedEntries: [], messages: [], mustSync: true });
  h.applier.applySnapshot(second);
  expect(h.applier.catchingUp).toEqual({ fromHeight: 1, toBlock: 5, snapshotIndex: 20, pulling: true, backlogToIndex: 20 });

  h.release();
  await waitFor('the blocks before the second snapshot pulled', 10_000, h.pulled);
  expect(h.store.height()).toBe(5);
  expect(await h.applier.applyWaiting()).toBe('applied');
  expect(h.store.height()).toBe(6);
  expect(h.applier.appliedIndex).toBe(20);
  expect(h.applier.catchingUp).toBeUndefined();
  expect(h.confChanges).toEqual(['ConfChangeAddNode 4']);
});
