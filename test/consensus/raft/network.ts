// In-memory cluster for scenario tests: RawNodes over MemoryStorage, a message queue
// between them that can drop links, isolate nodes or filter message types, and a Ready
// loop that persists, sends, applies and advances exactly as a real caller would.
import { raftpb } from '../../../protos';
import {
  MemoryStorage,
  RawNode,
  SeededRng,
  RaftRole,
  StepRejectedError,
  ProposalDroppedError,
  type NodeId,
  type RaftConfig,
  type Ready,
} from '../../../consensus/raft';

const MessageType = raftpb.MessageType;

export interface TestNode {
  id: NodeId;
  storage: MemoryStorage;
  node: RawNode;
  /** Normal entries with data, in the order this node applied them. */
  applied: raftpb.Entry[];
  /** Every committed entry applied (including empty and conf change entries). */
  appliedAll: raftpb.Entry[];
  confState: raftpb.ConfState | undefined;
  /** Snapshots this node applied from Readys. */
  snapshotsApplied: raftpb.Snapshot[];
  config: RaftConfig;
}

export type ConfigOverrides = Partial<Omit<RaftConfig, 'id' | 'storage'>>;

export function makeConfig(id: NodeId, storage: MemoryStorage, overrides: ConfigOverrides = {}): RaftConfig {
  return {
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxSizePerMsgBytes: 1024 * 1024,
    maxInflightMsgs: 256,
    checkQuorum: false,
    preVote: false,
    disableProposalForwarding: false,
    rng: new SeededRng(id * 7919),
    ...overrides,
  };
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);

export function msgName(m: raftpb.Message): string {
  return `${m.from}->${m.to} ${MessageType[m.type]}`;
}

export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: raftpb.Message[] = [];
  /** Every message ever sent (before any drop), for assertions. */
  readonly sent: raftpb.Message[] = [];
  /** Deliveries the receiver refused (stale responses from removed nodes, dropped forwarded proposals). */
  readonly refused: Array<{ message: raftpb.Message; error: Error }> = [];
  private readonly cut = new Set<string>();
  private readonly isolated = new Set<NodeId>();
  private readonly droppedTypes = new Set<raftpb.MessageType>();

  /** A cluster of voters bootstrapped with the same initial membership, all Readys processed. */
  static cluster(ids: NodeId[], overrides: ConfigOverrides = {}): Network {
    const net = new Network();
    for (const id of ids) {
      const storage = new MemoryStorage();
      RawNode.bootstrap(storage, ids);
      net.add(id, storage, overrides);
    }
    net.stabilize();
    return net;
  }

  add(id: NodeId, storage: MemoryStorage, overrides: ConfigOverrides = {}): TestNode {
    const config = makeConfig(id, storage, overrides);
    const t: TestNode = {
      id,
      storage,
      node: new RawNode(config),
      applied: [],
      appliedAll: [],
      confState: undefined,
      snapshotsApplied: [],
      config,
    };
    this.nodes.set(id, t);
    return t;
  }

  get(id: NodeId): TestNode {
    const t = this.nodes.get(id);
    if (t === undefined) throw new Error(`no node ${id}`);
    return t;
  }

  /**
   * Simulate a crash: keep the storage, forget everything volatile (messages in flight to
   * it included), restart a RawNode on it with the same settings unless overridden.
   */
  restart(id: NodeId, overrides: ConfigOverrides = {}): TestNode {
    const old = this.get(id);
    this.queue = this.queue.filter((m) => m.to !== id);
    const { id: _id, storage: _storage, ...previous } = old.config;
    const t = this.add(id, old.storage, { ...previous, ...overrides });
    t.applied = old.applied;
    t.appliedAll = old.appliedAll;
    t.confState = old.confState;
    return t;
  }

  remove(id: NodeId): void {
    this.nodes.delete(id);
    this.queue = this.queue.filter((m) => m.to !== id);
  }

  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}-${b}`);
    this.cut.add(`${b}-${a}`);
  }

  dropType(type: raftpb.MessageType): void {
    this.droppedTypes.add(type);
  }

  heal(): void {
    this.cut.clear();
    this.isolated.clear();
    this.droppedTypes.clear();
  }

  private dropped(m: raftpb.Message): boolean {
    return (
      this.isolated.has(m.from) ||
      this.isolated.has(m.to) ||
      this.cut.has(`${m.from}-${m.to}`) ||
      this.droppedTypes.has(m.type) ||
      !this.nodes.has(m.to)
    );
  }

  /** Persist, send, apply and advance one Ready of node id, if it has one. */
  processReady(id: NodeId): Ready | undefined {
    const t = this.get(id);
    if (!t.node.hasReady()) return undefined;
    const rd = t.node.ready();
    if (rd.snapshot !== undefined) t.storage.applySnapshot(rd.snapshot);
    t.storage.append(rd.entries);
    if (rd.hardState !== undefined) t.storage.setHardState(rd.hardState);
    for (const m of rd.messages) {
      this.sent.push(m);
      if (!this.dropped(m)) this.queue.push(m);
    }
    if (rd.snapshot !== undefined) {
      t.snapshotsApplied.push(rd.snapshot);
      t.confState = rd.snapshot.metadata.confState;
    }
    for (const e of rd.committedEntries) {
      t.appliedAll.push(e);
      if (e.type === raftpb.EntryType.EntryConfChange) {
        t.confState = t.node.applyConfChange(raftpb.ConfChange.decode(e.data));
      } else if (e.data.length > 0) {
        t.applied.push(e);
      }
    }
    t.node.advance();
    return rd;
  }

  /** Deliver every queued message (those produced meanwhile wait for the next round). */
  deliver(filter?: (m: raftpb.Message) => boolean): raftpb.Message[] {
    const batch = this.queue;
    this.queue = [];
    const delivered: raftpb.Message[] = [];
    for (const m of batch) {
      if (filter !== undefined && !filter(m)) continue;
      if (this.dropped(m)) continue;
      try {
        this.get(m.to).node.step(m);
      } catch (error) {
        // What a transport does: a refused message is logged and dropped, never fatal.
        if (!(error instanceof StepRejectedError || error instanceof ProposalDroppedError)) throw error;
        this.refused.push({ message: m, error });
        continue;
      }
      delivered.push(m);
    }
    return delivered;
  }

  /** Run Ready cycles and deliveries until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let busy = false;
      for (const id of [...this.nodes.keys()]) {
        while (this.processReady(id) !== undefined) busy = true;
      }
      if (this.queue.length > 0) {
        busy = true;
        this.deliver();
      }
      if (!busy) return;
    }
    throw new Error('network did not stabilize');
  }

  tick(id: NodeId, ticks = 1): void {
    for (let i = 0; i < ticks; i++) this.get(id).node.tick();
  }

  tickAll(ticks = 1): void {
    for (let i = 0; i < ticks; i++) for (const t of this.nodes.values()) t.node.tick();
  }

  /** Tick everyone one at a time, stabilizing after each tick. */
  tickAndStabilize(ticks: number): void {
    for (let i = 0; i < ticks; i++) {
      this.tickAll();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.get(id).node.campaign();
    this.stabilize();
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((t) => t.node.status().role === RaftRole.Leader).map((t) => t.id);
  }

  role(id: NodeId): RaftRole {
    return this.get(id).node.status().role;
  }

  term(id: NodeId): number {
    return this.get(id).node.status().term;
  }

  propose(id: NodeId, data: string): void {
    this.get(id).node.propose(text(data));
  }

  appliedData(id: NodeId): string[] {
    return this.get(id).applied.map((e) => str(e.data));
  }

  /** Full log (storage) of node id as "term/index" strings, for log-matching assertions. */
  logOf(id: NodeId): raftpb.Entry[] {
    const s = this.get(id).storage;
    if (s.lastIndex() < s.firstIndex()) return [];
    return s.entries(s.firstIndex(), s.lastIndex() + 1, Number.POSITIVE_INFINITY);
  }
}
