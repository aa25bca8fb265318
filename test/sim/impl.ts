// The Raft implementation a simulation runs against. The simulator normally drives the
// real core in consensus/raft/, but plant.ts hands it a mutated copy (a planted bug) to
// show that the invariants catch it; both satisfy these structural types.
import type { raftpb } from '../../protos';
import type { NodeId, RaftConfig, RaftStatus, Ready, SnapshotStatus, WritableStorage } from '../../consensus/raft/api';
import { MemoryStorage } from '../../consensus/raft/memory-storage';
import { RawNode } from '../../consensus/raft/rawnode';

/** The RawNode surface the simulator uses (the orderer's Chain uses the same). */
export interface SimRawNode {
  tick(): void;
  campaign(): void;
  propose(data: Uint8Array): void;
  proposeConfChange(cc: raftpb.ConfChangeInit): void;
  applyConfChange(cc: raftpb.ConfChange): raftpb.ConfState;
  step(msg: raftpb.Message): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(): void;
  status(): RaftStatus;
  reportUnreachable(id: NodeId): void;
  reportSnapshot(id: NodeId, status: SnapshotStatus): void;
  transferLeadership(transferee: NodeId): void;
}

export interface RaftImpl {
  /** A label for reports ("core", or the planted bug's name). */
  name: string;
  newStorage(): WritableStorage;
  bootstrap(storage: WritableStorage, peers: NodeId[]): void;
  newNode(config: RaftConfig): SimRawNode;
}

export const coreImpl: RaftImpl = {
  name: 'core',
  newStorage: () => new MemoryStorage(),
  bootstrap: (storage, peers) => RawNode.bootstrap(storage, peers),
  newNode: (config) => new RawNode(config),
};

/**
 * Errors from the core are recognised by name rather than instanceof: a planted copy
 * has its own errors module, so its classes are not the ones imported here.
 */
export function errorName(e: unknown): string {
  return e instanceof Error ? e.name : typeof e;
}

/** Refusals the Raft contract allows for proposals and conf changes; anything else is a bug. */
export const EXPECTED_REFUSALS: ReadonlySet<string> = new Set(['ProposalDroppedError', 'ConfChangeRefusedError', 'ConfChangePendingError']);
