// Applying what Raft committed to the ledger (Fabric §3.6, §3.9, §3.10):
//   - each normal entry carries one block; the block number must be the ledger's next (higher
//     is a broken chain and halts, lower is a replay after a restart and is skipped);
//   - every node fills the block's metadata itself (LAST_CONFIG, then SIGNATURES with the
//     etcdraft BlockMetadata: consenter ids, next consenter id, raft_index) and appends all
//     blocks of a Ready in one ledger transaction;
//   - conf changes go to Raft; applying our own removal halts the channel;
//   - every SnapshotIntervalSize bytes of blocks, a Raft snapshot holding the last block;
//   - a snapshot ahead of the ledger: the missing blocks are pulled from the other orderers
//     beside the Ready loop (catchup.ts), and what commits meanwhile waits for them (below).
//
// While the ledger is behind a snapshot, committed entries are not written: they wait as a
// backlog, and the loop applies them, in order, once the snapshot's block is in
// (applyWaiting, between two Readys, never beside another apply). The applied index stays
// where the ledger is until then, so a node elected meanwhile takes no envelopes (Fabric §3.5)
// and no snapshot of ours names an index whose block we lack.
//
// The backlog is an index range, not a copy: entries (applied, backlogEnd] are read back from
// Raft storage when their turn comes. They are there already (persisted before being handed
// to apply) and stay there: the log is compacted only by our own snapshots, not taken while
// behind, or replaced by a newer snapshot, which covers them (it becomes the target). A copy
// would double what a long pull under load holds in memory. They are read in chunks of
// BACKLOG_CHUNK_BYTES, one chunk between two Readys, so a long backlog does not stall the loop.
//
// Conf changes are applied to Raft when they commit, behind or not: Raft's membership must
// follow its log (whom it counts for a quorum; the core refuses to campaign while a committed
// conf change is unapplied, and a leader refuses a second change until the first is applied,
// both judged by Raft's applied index, which advance() moves on regardless of the ledger).
// What they change is not in the ledger, so it does not wait for the blocks. The membership
// each one left is kept with its index, because our snapshots record the membership at the
// ledger's index, not Raft's. Our own removal reaches Raft at once (it stops counting us) but
// halts the chain only when the backlog reaches it, so the ledger holds every block before the
// removal, as on a node that was never behind.
import type { ChainMetrics } from '../metrics/types';
import type { Logger } from 'pino';
import type { NodeId } from '../../cluster/types';
import type { BlockStore } from '../../ledger/block-store';
import { readConsenterMetadata, writeCommitMetadata, type MetadataSigner } from '../../ledger/metadata';
import { blockMetadataOffset, common, encodeBlockBytes, encodeBlockMetadataField, isCanonicalHeaderAndData, raftpb } from '../../protos';
import { ChainInvariantError } from '../errors';
import { BackgroundPull } from './catchup';
import { configEnvelopeOfBlock } from './channel-config';
import { blockNumber, raftIndex, type BlockNumber, type ChainRaftIndex } from './ids';
import type { BlockPullFn, CatchUpStatus, ChainSettings, ChainTimers, RaftPersistence } from './types';

export interface ApplierOptions {
  channelId: string;
  /** Ledger commit time and snapshots (orderer/metrics); nothing recorded when absent. */
  metrics?: Pick<ChainMetrics, 'blockCommitted' | 'snapshotTaken'>;
  selfId: NodeId;
  blockStore: BlockStore;
  raft: RaftPersistence;
  pullBlocks: BlockPullFn;
  timers: ChainTimers;
  logger: Logger;
  signer?: MetadataSigner;
  settings(): ChainSettings;
  /** Hands a committed conf change to Raft; returns the new membership. */
  applyConfChange(cc: raftpb.ConfChange): raftpb.ConfState;
  /** Each envelope's tx id, '' where it has none (the ledger indexes them, onBlockCommitted settles them). */
  txIdsOf(block: common.Block): readonly string[];
  /** The entry holds the very bytes this node proposed as block `number` (the ledger need not hash its envelopes again). */
  isOwnProposal?(number: BlockNumber, entryData: Uint8Array): boolean;
  /** A block is in the ledger (the leader pipeline and the resubmission set forget its envelopes). */
  onBlockCommitted(block: common.Block, txIds: readonly string[]): void;
  /**
   * A committed config block, before its metadata is filled in: the channel's config changes
   * here, so that the block's own metadata (LAST_CONFIG = itself, the consenter ids) and every
   * later block follow the new config. `pulled`: it came from another orderer (catch-up).
   */
  onConfigBlock?(block: common.Block, number: BlockNumber, pulled: boolean): void;
  /** This node applied its own removal. */
  onRemoved(): void;
  /** The blocks of a catch-up are in: what waited can be applied (kick the loop, it runs applyWaiting). */
  onPulled(): void;
  /** The catch-up failed beyond retrying: the chain halts. */
  onError(err: unknown): void;
}

export type ApplyOutcome = 'applied' | 'removed';

/** Bytes of backlog entries read from Raft storage and applied in one step of the loop. */
export const BACKLOG_CHUNK_BYTES = 4 * 1024 * 1024;

/** The ledger behind a Raft snapshot: its blocks are being pulled, or entries committed meanwhile wait. */
interface Lag {
  readonly fromHeight: number;
  /** The newest snapshot ahead of the ledger and its block, which goes in once the pull is done. */
  snapshot: raftpb.Snapshot;
  block: common.Block;
  blockNumber: BlockNumber;
  /** Undefined once the snapshot's block is in and only the backlog is left. */
  pull: BackgroundPull | undefined;
  readonly startedAtMs: number;
}

/** A conf change Raft applied while the ledger was behind, and the membership it left. */
interface ConfChangeAhead {
  index: ChainRaftIndex;
  confState: raftpb.ConfState;
  removesSelf: boolean;
}

export class Applier {
  private appliedValue: ChainRaftIndex;
  /** The membership as of appliedValue (what our snapshots record). */
  private confState: raftpb.ConfState;
  private bytesSinceSnapshot = 0;
  private lag: Lag | undefined;
  /** Last committed index handed to us; beyond appliedValue only while behind (the backlog). */
  private backlogEnd: ChainRaftIndex;
  private confAhead: ConfChangeAhead[] = [];

  constructor(private readonly o: ApplierOptions) {
    const storage = o.raft.storage;
    this.confState = storage.initialState().confState;
    // Fabric's chain leaves raft's Applied unset: everything after the snapshot is delivered
    // again and the ledger skips the blocks it already holds.
    this.appliedValue = raftIndex(storage.firstIndex() - 1);
    this.backlogEnd = this.appliedValue;
  }

  /** Everything up to this index is in the ledger. */
  get appliedIndex(): ChainRaftIndex {
    return this.appliedValue;
  }

  /** For status(): undefined unless the ledger is behind a snapshot. */
  get catchingUp(): CatchUpStatus | undefined {
    const lag = this.lag;
    if (lag === undefined) return undefined;
    return {
      fromHeight: lag.fromHeight,
      toBlock: lag.blockNumber,
      snapshotIndex: lag.snapshot.metadata.index,
      pulling: lag.pull !== undefined,
      backlogToIndex: this.backlogEnd,
    };
  }

  /**
   * At start, the stored snapshot: entries up to it are not applied again (the log may still
   * hold some). One installed just before a crash may be ahead of the ledger; its blocks come
   * first, and the entries after it, delivered again, wait for them.
   */
  catchUpToStoredSnapshot(): void {
    const snap = this.o.raft.storage.snapshot();
    if (snap.metadata.index === 0 || snap.data.length === 0) return;
    const number = blockNumber(common.Block.decode(snap.data).header?.number ?? 0);
    if (number >= this.o.blockStore.height()) {
      // The log before the snapshot is gone: the ledger's last block says how far it got.
      const last = this.o.blockStore.lastBlock();
      const lastIndex = last === undefined ? 0 : (readConsenterMetadata(last.block)?.raftIndex ?? 0);
      this.appliedValue = raftIndex(Math.min(lastIndex, snap.metadata.index - 1));
    }
    this.applySnapshot(snap);
  }

  /** A snapshot from the leader (Fabric §3.10): ahead of the ledger, its blocks are pulled beside the loop. */
  applySnapshot(snap: raftpb.Snapshot): void {
    const index = raftIndex(snap.metadata.index);
    const block = common.Block.decode(snap.data);
    const number = blockNumber(block.header?.number ?? 0);
    // Every entry up to the snapshot's index is in it: what waited of them is superseded, and
    // Raft took the snapshot's membership.
    this.backlogEnd = raftIndex(Math.max(this.backlogEnd, index));
    this.confAhead = this.confAhead.filter((c) => c.index > index);
    const height = this.o.blockStore.height();
    if (number < height) {
      // The ledger already holds its block. Never during a pull (it stops short of its target);
      // in a backlog, this snapshot covers what is left of it.
      this.appliedValue = raftIndex(Math.max(this.appliedValue, index));
      this.confState = snap.metadata.confState;
      this.bytesSinceSnapshot = 0;
      if (this.lag !== undefined && this.appliedValue >= this.backlogEnd) this.finishLag();
      return;
    }
    const lag = this.lag;
    if (lag !== undefined && lag.pull !== undefined) {
      this.o.logger.info({ from: height, to: number, snapshotIndex: index, previousTo: lag.blockNumber }, 'catch-up target moved to a newer raft snapshot');
      lag.snapshot = snap;
      lag.block = block;
      lag.blockNumber = number;
      lag.pull.extend(number);
      return;
    }
    this.o.logger.info({ from: height, to: number, snapshotIndex: index }, 'catching up to a raft snapshot');
    this.lag = { fromHeight: height, snapshot: snap, block, blockNumber: number, pull: this.startPull(number), startedAtMs: this.o.timers.nowMs() };
  }

  private startPull(untilNumber: BlockNumber): BackgroundPull {
    return new BackgroundPull(
      {
        channelId: this.o.channelId,
        blockStore: this.o.blockStore,
        pullBlocks: this.o.pullBlocks,
        endpoints: () => {
          const s = this.o.settings();
          return s.pullEndpoints ?? s.members.filter((m) => m.id !== this.o.selfId).map((m) => `${m.host}:${m.port}`);
        },
        ...(this.o.signer !== undefined ? { signer: this.o.signer } : {}),
        timers: this.o.timers,
        logger: this.o.logger,
        ...(this.o.onConfigBlock !== undefined ? { onConfigBlock: (block: common.Block) => this.o.onConfigBlock!(block, blockNumber(block.header?.number ?? 0), true) } : {}),
        onPulled: () => this.o.onPulled(),
        onError: (err) => this.o.onError(err),
      },
      untilNumber,
    );
  }

  /** Stops a pull under way (halt); settles once it is out. */
  stop(): Promise<void> {
    return this.lag?.pull?.stop() ?? Promise.resolve();
  }

  /** Committed entries of a Ready: into the ledger, or, while it is behind a snapshot, onto the backlog. */
  async applyEntries(entries: readonly raftpb.Entry[]): Promise<ApplyOutcome> {
    if (this.lag === undefined) {
      const last = entries[entries.length - 1];
      if (last !== undefined) this.backlogEnd = raftIndex(Math.max(this.backlogEnd, last.index));
      return this.writeEntries(entries);
    }
    for (const e of entries) {
      const index = raftIndex(e.index);
      if (index <= this.backlogEnd) continue;
      if (e.type === raftpb.EntryType.EntryConfChange) {
        const cc = raftpb.ConfChange.decode(e.data);
        const confState = this.o.applyConfChange(cc);
        this.confAhead.push({ index, confState, removesSelf: removesNode(cc, this.o.selfId) });
      }
      this.backlogEnd = index;
    }
    return 'applied';
  }

  /**
   * One step of what waited for a catch-up, run by the loop between two Readys: the snapshot's
   * block once the pull is done, then a chunk of the backlog. Undefined when nothing waits.
   */
  applyWaiting(): Promise<ApplyOutcome> | undefined {
    const lag = this.lag;
    if (lag === undefined) return undefined;
    if (lag.pull !== undefined) return lag.pull.done ? this.appendSnapshotBlock(lag) : undefined;
    return this.applyBacklogChunk();
  }

  private async appendSnapshotBlock(lag: Lag): Promise<ApplyOutcome> {
    const index = raftIndex(lag.snapshot.metadata.index);
    if (this.o.onConfigBlock !== undefined && configEnvelopeOfBlock(lag.block) !== undefined) this.o.onConfigBlock(lag.block, lag.blockNumber, false);
    this.fillMetadata(lag.block, index);
    const txIds = this.o.txIdsOf(lag.block);
    await this.o.blockStore.append({ bytes: common.Block.encode(lag.block), block: lag.block, txIds });
    this.o.onBlockCommitted(lag.block, txIds);
    lag.pull = undefined;
    this.appliedValue = index;
    this.confState = lag.snapshot.metadata.confState;
    this.bytesSinceSnapshot = 0;
    const elapsedMs = this.o.timers.nowMs() - lag.startedAtMs;
    this.o.logger.info({ height: this.o.blockStore.height(), snapshotIndex: index, backlogEntries: this.backlogEnd - index, elapsedMs }, 'caught up to the raft snapshot');
    if (this.appliedValue >= this.backlogEnd) this.finishLag();
    return 'applied';
  }

  private async applyBacklogChunk(): Promise<ApplyOutcome> {
    const chunk = this.o.raft.storage.entries(this.appliedValue + 1, this.backlogEnd + 1, BACKLOG_CHUNK_BYTES);
    const outcome = await this.writeEntries(chunk);
    if (outcome === 'applied' && this.appliedValue >= this.backlogEnd) this.finishLag();
    return outcome;
  }

  private finishLag(): void {
    this.lag = undefined;
    if (this.confAhead.length > 0) throw new ChainInvariantError(`conf change at index ${this.confAhead[0]!.index} was applied to Raft but never reached by the ledger`);
    this.o.logger.info({ appliedIndex: this.appliedValue, height: this.o.blockStore.height() }, 'applied the entries committed during the catch-up');
  }

  /** Entries into the ledger, in order; conf changes that Raft already took (while behind) are not given to it again. */
  private async writeEntries(entries: readonly raftpb.Entry[]): Promise<ApplyOutcome> {
    const store = this.o.blockStore;
    let blocks: common.Block[] = [];
    /** Per block in `blocks`: the committed entry's bytes, and whether it was this node's own proposal (isOwnProposal). */
    let entryData: Uint8Array[] = [];
    let own: boolean[] = [];
    let lastNormalData: Uint8Array | undefined;
    let normalBytes = 0;
    const flush = async (): Promise<void> => {
      if (blocks.length === 0) return;
      // Handed to the store decoded, with their tx ids, so it reads neither again.
      const toWrite = blocks.map((block, i) => ({
        ...storedForm(block, entryData[i]!),
        block,
        txIds: this.o.txIdsOf(block),
        dataHashComputedByCaller: own[i] === true,
      }));
      blocks = [];
      entryData = [];
      own = [];
      const startedMs = performance.now();
      // Committed by Raft, so final: Deliver may stream them while LMDB commits (its commit was
      // 2-3 ms of the ~10 a block took from the cut to the clients at a fixed rate). Should the
      // write fail or this node crash first, they are written again from the Raft log.
      await store.appendBatch(toWrite, { readableBeforeDurable: true });
      // One LMDB transaction for the batch: each block is counted with the batch's time.
      const seconds = (performance.now() - startedMs) / 1000;
      for (let i = 0; i < toWrite.length; i++) this.o.metrics?.blockCommitted(seconds, Date.now() / 1000);
      for (const w of toWrite) this.o.onBlockCommitted(w.block, w.txIds);
    };
    for (const e of entries) {
      const index = raftIndex(e.index);
      if (index <= this.appliedValue) continue;
      if (e.type === raftpb.EntryType.EntryNormal) {
        if (e.data.length > 0) {
          const block = common.Block.decode(e.data);
          const number: BlockNumber = blockNumber(block.header?.number ?? 0);
          const expected: BlockNumber = blockNumber(store.height() + blocks.length);
          if (number > expected) {
            throw new ChainInvariantError(`committed entry ${index} carries block ${number} but the ledger expects ${expected}`);
          }
          if (number === expected) {
            if (this.o.onConfigBlock !== undefined && configEnvelopeOfBlock(block) !== undefined) this.o.onConfigBlock(block, number, false);
            this.fillMetadata(block, index);
            blocks.push(block);
            entryData.push(e.data);
            own.push(this.o.isOwnProposal?.(number, e.data) === true);
          }
          lastNormalData = e.data;
          normalBytes += e.data.length;
        }
      } else if (e.type === raftpb.EntryType.EntryConfChange) {
        await flush();
        const removed = this.takeConfChange(index, e.data);
        if (removed) {
          this.appliedValue = index;
          this.o.onRemoved();
          return 'removed';
        }
      }
      this.appliedValue = index;
    }
    await flush();
    // Fabric §3.9: by size of the blocks applied, snapshot holding the last block of the batch.
    this.bytesSinceSnapshot += normalBytes;
    if (lastNormalData !== undefined && this.bytesSinceSnapshot >= this.o.settings().snapshotIntervalSizeBytes) {
      this.bytesSinceSnapshot = 0;
      await this.o.raft.snapshot(this.appliedValue, this.confState, lastNormalData);
      this.o.metrics?.snapshotTaken(store.height() - 1);
      this.o.logger.info({ index: this.appliedValue, height: store.height() }, 'raft snapshot taken');
    }
    return 'applied';
  }

  /** The conf change at `index` reaches the ledger's side; true when it removes this node. */
  private takeConfChange(index: ChainRaftIndex, data: Uint8Array): boolean {
    const ahead = this.confAhead[0];
    if (ahead !== undefined && ahead.index === index) {
      this.confAhead.shift();
      this.confState = ahead.confState;
      return ahead.removesSelf;
    }
    const cc = raftpb.ConfChange.decode(data);
    this.confState = this.o.applyConfChange(cc);
    return removesNode(cc, this.o.selfId);
  }

  private fillMetadata(block: common.Block, index: ChainRaftIndex): void {
    const s = this.o.settings();
    writeCommitMetadata(block, {
      lastConfigIndex: s.lastConfigIndex,
      consenterMetadata: { consenterIds: s.members.map((m) => m.id), nextConsenterId: s.nextConsenterId, raftIndex: index },
      ...(this.o.signer !== undefined ? { signer: this.o.signer } : {}),
    });
  }
}

function removesNode(cc: raftpb.ConfChange, id: NodeId): boolean {
  return cc.type === raftpb.ConfChangeType.ConfChangeRemoveNode && cc.nodeId === id;
}

/**
 * What a committed block is stored as: the Raft entry's header and data as they are, then the
 * metadata this node filled in. The entry's bytes are kept by the Raft log anyway; encoding the
 * block whole gave every node a second block-sized buffer per block, which outlived V8's young
 * generation and paced its mark-compacts. Only an entry that is the standard encoding of its
 * header and data (isCanonicalHeaderAndData: what our leaders and Fabric's write) is kept so,
 * since what is stored is hashed and delivered as it is; any other (an over-long length, an
 * unknown field, fields reordered, from a foreign or faulty leader) is encoded whole, with room in
 * front for Deliver's frame.
 */
export function storedForm(block: common.Block, entryData: Uint8Array): { bytes: Uint8Array; metadataField?: Uint8Array } {
  const metadataAt = blockMetadataOffset(entryData);
  const headerAndData = metadataAt === undefined ? undefined : entryData.subarray(0, metadataAt);
  if (headerAndData === undefined || !isCanonicalHeaderAndData(block, headerAndData)) return { bytes: encodeBlockBytes(block, { withFrameRoom: true }) };
  return { bytes: headerAndData, metadataField: encodeBlockMetadataField(block.metadata) };
}
