// Applying what Raft committed to the ledger (Fabric §3.6, §3.9, §3.10):
//   - each normal entry carries one block; the block number must be the ledger's next (higher
//     is a broken chain and halts, lower is a replay after a restart and is skipped);
//   - every node fills the block's metadata itself (LAST_CONFIG, then SIGNATURES with the
//     etcdraft BlockMetadata: consenter ids, next consenter id, raft_index) and appends all
//     blocks of a Ready in one ledger transaction;
//   - conf changes go to Raft; applying our own removal halts the channel;
//   - every SnapshotIntervalSize bytes of blocks, a Raft snapshot holding the last block;
//   - a snapshot ahead of the ledger: the missing blocks are pulled from the other orderers.
import type { Logger } from 'pino';
import type { NodeId } from '../../cluster/types';
import type { BlockStore } from '../../ledger/block-store';
import { writeCommitMetadata, type MetadataSigner } from '../../ledger/metadata';
import { common, raftpb } from '../../protos';
import { ChainInvariantError } from '../errors';
import { pullIntoLedger } from './catchup';
import { blockNumber, raftIndex, type BlockNumber, type ChainRaftIndex } from './ids';
import type { BlockPullFn, ChainSettings, ChainTimers, RaftPersistence } from './types';

export interface ApplierOptions {
  channelId: string;
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
  /** A block is in the ledger (the leader pipeline and the resubmission set forget its envelopes). */
  onBlockCommitted(block: common.Block): void;
  /** This node applied its own removal. */
  onRemoved(): void;
  isHalted(): boolean;
}

export type ApplyOutcome = 'applied' | 'removed';

export class Applier {
  private appliedValue: ChainRaftIndex;
  private confState: raftpb.ConfState;
  private bytesSinceSnapshot = 0;

  constructor(private readonly o: ApplierOptions) {
    const storage = o.raft.storage;
    this.confState = storage.initialState().confState;
    // Fabric's chain leaves raft's Applied unset: everything after the snapshot is delivered
    // again and the ledger skips the blocks it already holds.
    this.appliedValue = raftIndex(storage.firstIndex() - 1);
  }

  get appliedIndex(): ChainRaftIndex {
    return this.appliedValue;
  }

  async applyEntries(entries: readonly raftpb.Entry[]): Promise<ApplyOutcome> {
    const store = this.o.blockStore;
    let blocks: common.Block[] = [];
    let lastNormalData: Uint8Array | undefined;
    let normalBytes = 0;
    const flush = async (): Promise<void> => {
      if (blocks.length === 0) return;
      const toWrite = blocks;
      blocks = [];
      await store.appendBatch(toWrite.map((b) => common.Block.encode(b)));
      for (const b of toWrite) this.o.onBlockCommitted(b);
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
            this.fillMetadata(block, index);
            blocks.push(block);
          }
          lastNormalData = e.data;
          normalBytes += e.data.length;
        }
      } else if (e.type === raftpb.EntryType.EntryConfChange) {
        await flush();
        const cc = raftpb.ConfChange.decode(e.data);
        this.confState = this.o.applyConfChange(cc);
        if (cc.type === raftpb.ConfChangeType.ConfChangeRemoveNode && cc.nodeId === this.o.selfId) {
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
      this.o.logger.info({ index: this.appliedValue, height: store.height() }, 'raft snapshot taken');
    }
    return 'applied';
  }

  private fillMetadata(block: common.Block, index: ChainRaftIndex): void {
    const s = this.o.settings();
    writeCommitMetadata(block, {
      lastConfigIndex: s.lastConfigIndex,
      consenterMetadata: { consenterIds: s.members.map((m) => m.id), nextConsenterId: s.nextConsenterId, raftIndex: index },
      ...(this.o.signer !== undefined ? { signer: this.o.signer } : {}),
    });
  }

  /** A snapshot ahead of our ledger (received, or found at restart): fetch the missing blocks (Fabric §3.10). */
  async applySnapshot(snap: raftpb.Snapshot): Promise<void> {
    const store = this.o.blockStore;
    const target = common.Block.decode(snap.data);
    const targetNumber: BlockNumber = blockNumber(target.header?.number ?? 0);
    this.confState = snap.metadata.confState;
    const height = store.height();
    if (targetNumber >= height) {
      this.o.logger.info({ from: height, to: targetNumber, snapshotIndex: snap.metadata.index }, 'catching up to a raft snapshot');
      if (targetNumber > height) {
        await pullIntoLedger({
          channelId: this.o.channelId,
          blockStore: store,
          pullBlocks: this.o.pullBlocks,
          endpoints: this.o
            .settings()
            .members.filter((m) => m.id !== this.o.selfId)
            .map((m) => `${m.host}:${m.port}`),
          toNumber: targetNumber - 1,
          timers: this.o.timers,
          logger: this.o.logger,
          isHalted: () => this.o.isHalted(),
        });
      }
      this.fillMetadata(target, raftIndex(snap.metadata.index));
      await store.append(common.Block.encode(target));
      this.o.onBlockCommitted(target);
    }
    this.appliedValue = raftIndex(Math.max(this.appliedValue, snap.metadata.index));
    this.bytesSinceSnapshot = 0;
  }
}
