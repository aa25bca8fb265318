// RawNode: the caller-facing wrapper around the Raft state machine (work in progress:
// the signatures are final, the bodies are being filled in).
import type { raftpb } from '../../protos';
import type { NodeId, RaftConfig, RaftStatus, Ready, WritableStorage } from './api';
import { SnapshotStatus } from './api';
import { RaftError } from './errors';

function notYet(): never {
  throw new RaftError('RawNode: not implemented yet');
}

export class RawNode {
  constructor(readonly config: RaftConfig) {}

  static bootstrap(storage: WritableStorage, peers: NodeId[]): void {
    void storage;
    void peers;
    notYet();
  }

  tick(): void {
    notYet();
  }
  campaign(): void {
    notYet();
  }
  propose(data: Uint8Array): void {
    void data;
    notYet();
  }
  proposeConfChange(cc: raftpb.ConfChangeInit): void {
    void cc;
    notYet();
  }
  applyConfChange(cc: raftpb.ConfChange): raftpb.ConfState {
    void cc;
    return notYet();
  }
  step(msg: raftpb.Message): void {
    void msg;
    notYet();
  }
  hasReady(): boolean {
    return notYet();
  }
  ready(): Ready {
    return notYet();
  }
  advance(): void {
    notYet();
  }
  status(): RaftStatus {
    return notYet();
  }
  reportUnreachable(id: NodeId): void {
    void id;
    notYet();
  }
  reportSnapshot(id: NodeId, status: SnapshotStatus): void {
    void id;
    void status;
    notYet();
  }
  transferLeadership(transferee: NodeId): void {
    void transferee;
    notYet();
  }
}
