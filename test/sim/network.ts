// The simulated network: every message a node sends is encoded to its wire bytes (as the
// cluster layer ships it) and waits in a priority queue until its delivery time. Random
// delays reorder messages, random drops and duplicates model a lossy at-least-once
// transport, and partitions cut links both when a message is sent and when it arrives.
import { raftpb } from '../../protos';
import type { NodeId } from '../../consensus/raft/api';
import { Prng } from './prng';

/**
 * Where a message's fate (loss, duplicate, delay) and its place among messages due at the same
 * step are drawn from. 'shared': the run's Prng, in send order, which is fixed when every send
 * happens at a fixed point of the run (memory storage). 'per-link': a Prng per sender, receiver
 * and kind of traffic, seeded once from the run's Prng, with ties broken by each link's own
 * count. Nodes on real IO (durable storage) finish a step's work in an order the disk decides,
 * so their sends interleave differently from one run to the next; each link's own sends stay
 * in order, so per link a seed still replays exactly.
 */
export type NetworkRandomness = 'shared' | 'per-link';

/** The three kinds of traffic, each its own stream per link. */
const Traffic = { Raft: 0, Submit: 1, Reply: 2 } as const;
type Traffic = (typeof Traffic)[keyof typeof Traffic];
const TRAFFIC_KINDS = 3;
/** Node ids below this (the simulator runs at most a few dozen nodes). */
const MAX_NODE_ID = 64;
const LINK_STREAMS = MAX_NODE_ID * MAX_NODE_ID * TRAFFIC_KINDS;

export interface NetworkParams {
  /** Probability that a sent message is lost. */
  dropP: number;
  /** Probability that a sent message is delivered twice (each copy with its own delay). */
  dupP: number;
  /** Delivery delay in steps, uniform in [minDelaySteps, maxDelaySteps]. */
  minDelaySteps: number;
  maxDelaySteps: number;
  /** Probability that a message is held much longer (up to longDelayMaxSteps): heavy reordering. */
  longDelayP: number;
  longDelayMaxSteps: number;
  /** Bound on messages in flight; beyond it new messages are dropped (TigerBeetle: no unbounded queues). */
  maxInFlight: number;
}

/** Shared by a MsgSnap and its duplicates: the sender learns the outcome once. */
export interface SnapshotReport {
  reported: boolean;
}

export interface Envelope {
  deliverAtStep: number;
  seq: number;
  /** The node that sent it (a forwarded MsgProp keeps its proposer in msg.from). */
  from: NodeId;
  to: NodeId;
  /** Incarnation of the sender when it sent; reports go only to that incarnation. */
  fromIncarnation: number;
  type: raftpb.MessageType;
  bytes: Uint8Array;
  snapshotReport?: SnapshotReport;
  /** A forwarded envelope (an orderer.SubmitRequest) rather than a Raft message (whole-orderer runs). */
  submit?: true;
  /** On a forwarded envelope: the sender waits for the leader's answer under this id (SUBMIT_ACK_HEADER). */
  ackId?: number;
  /** The leader's answer to a forwarded envelope, going back to the incarnation that sent it. */
  reply?: SubmitReply;
}

/** What a leader answered about a forwarded envelope, and who it was when it answered. */
export interface SubmitReply {
  readonly ackId: number;
  readonly status: number;
  readonly info: string;
  /** The answering node's incarnation and Raft term at the moment it answered. */
  readonly incarnation: number;
  readonly term: number;
  /** The incarnation of the node that asked: a restarted node has no one waiting. */
  readonly toIncarnation: number;
  /** The answer was lost with its stream: the sender learns only that the stream broke. */
  readonly lost?: true;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  droppedRandom: number;
  droppedPartition: number;
  droppedDown: number;
  droppedOverflow: number;
  duplicated: number;
}

export class Network {
  private readonly heap: Envelope[] = [];
  private seq = 0;
  /** Partition groups: nodes talk only within their group; absent nodes are in group 0. */
  private groups = new Map<NodeId, number>();
  /** One-way cuts, keyed by linkKey(from, to). */
  private cuts = new Set<number>();
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    droppedRandom: 0,
    droppedPartition: 0,
    droppedDown: 0,
    droppedOverflow: 0,
    duplicated: 0,
  };

  /** Per-link mode: the Prng and the count of sends of each link stream, and their seed. */
  private readonly linkRngs = new Map<number, Prng>();
  private readonly linkSends = new Map<number, number>();
  private readonly linkSeed: number | undefined;

  constructor(
    private params: NetworkParams,
    private readonly rng: Prng,
    randomness: NetworkRandomness = 'shared',
  ) {
    this.linkSeed = randomness === 'per-link' ? rng.nextUint32() : undefined;
  }

  /** The stream a send draws from: the run's Prng, or its link's. */
  private rngFor(from: NodeId, to: NodeId, traffic: Traffic): Prng {
    if (this.linkSeed === undefined) return this.rng;
    const stream = this.streamOf(from, to, traffic);
    let rng = this.linkRngs.get(stream);
    if (rng === undefined) {
      rng = new Prng((this.linkSeed ^ Math.imul(stream + 1, 0x9e3779b1)) >>> 0);
      this.linkRngs.set(stream, rng);
    }
    return rng;
  }

  /** Orders messages due at one step: by send order (shared), or by each link's count, then link (per-link). */
  private nextSeq(from: NodeId, to: NodeId, traffic: Traffic): number {
    if (this.linkSeed === undefined) return this.seq++;
    const stream = this.streamOf(from, to, traffic);
    const n = this.linkSends.get(stream) ?? 0;
    this.linkSends.set(stream, n + 1);
    return n * LINK_STREAMS + stream;
  }

  private streamOf(from: NodeId, to: NodeId, traffic: Traffic): number {
    if (from >= MAX_NODE_ID || to >= MAX_NODE_ID) throw new RangeError(`node ids below ${MAX_NODE_ID} only, got ${from} -> ${to}`);
    return (from * MAX_NODE_ID + to) * TRAFFIC_KINDS + traffic;
  }

  setParams(params: NetworkParams): void {
    this.params = params;
  }

  get inFlight(): number {
    return this.heap.length;
  }

  connected(from: NodeId, to: NodeId): boolean {
    return (this.groups.get(from) ?? 0) === (this.groups.get(to) ?? 0) && !this.cuts.has(linkKey(from, to));
  }

  /** Split the nodes into groups (each inner list one side); everyone else stays in group 0. */
  partition(sides: readonly (readonly NodeId[])[]): void {
    this.groups = new Map();
    sides.forEach((side, i) => {
      for (const id of side) this.groups.set(id, i + 1);
    });
  }

  cutOneWay(from: NodeId, to: NodeId): void {
    this.cuts.add(linkKey(from, to));
  }

  heal(): void {
    this.groups = new Map();
    this.cuts = new Set();
  }

  describePartition(): string {
    const byGroup = new Map<number, NodeId[]>();
    for (const [id, g] of this.groups) byGroup.set(g, [...(byGroup.get(g) ?? []), id]);
    const sides = [...byGroup.values()].map((ids) => `{${ids.sort((a, b) => a - b).join(',')}}`);
    const cuts = [...this.cuts].map((k) => `${Math.floor(k / LINK_BASE)}->${k % LINK_BASE}`);
    return [...sides, ...cuts.map((c) => `cut ${c}`)].join(' ') || 'none';
  }

  /**
   * Queue a message. Returns what happened to it at send time, so the sender can be told
   * about an unreachable peer or a failed snapshot right away, as a real transport would.
   */
  send(sender: NodeId, msg: raftpb.Message, fromIncarnation: number, nowStep: number): 'queued' | 'dropped' | 'partitioned' {
    this.stats.sent++;
    const snapshotReport = msg.type === raftpb.MessageType.MsgSnap ? { reported: false } : undefined;
    if (!this.connected(sender, msg.to)) {
      this.stats.droppedPartition++;
      return 'partitioned';
    }
    const rng = this.rngFor(sender, msg.to, Traffic.Raft);
    if (rng.chance(this.params.dropP)) {
      this.stats.droppedRandom++;
      return 'dropped';
    }
    const bytes = raftpb.Message.encode(msg);
    const copies = rng.chance(this.params.dupP) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      if (this.heap.length >= this.params.maxInFlight) {
        this.stats.droppedOverflow++;
        return c === 0 ? 'dropped' : 'queued';
      }
      const delay = rng.chance(this.params.longDelayP)
        ? rng.between(this.params.maxDelaySteps, this.params.longDelayMaxSteps)
        : rng.between(this.params.minDelaySteps, this.params.maxDelaySteps);
      this.push({
        deliverAtStep: nowStep + delay,
        seq: this.nextSeq(sender, msg.to, Traffic.Raft),
        from: sender,
        to: msg.to,
        fromIncarnation,
        type: msg.type,
        bytes,
        snapshotReport,
      });
    }
    return 'queued';
  }

  /**
   * Queue a forwarded envelope (a SubmitRequest's bytes): same partitions, losses, duplicates
   * and delays as Raft traffic. 'queued' is what a cluster stream's write returning tells the sender.
   */
  sendSubmit(sender: NodeId, to: NodeId, bytes: Uint8Array, fromIncarnation: number, nowStep: number, ackId?: number): 'queued' | 'dropped' | 'partitioned' | 'lost' {
    this.stats.sent++;
    if (!this.connected(sender, to)) {
      this.stats.droppedPartition++;
      return 'partitioned';
    }
    // A write that returned and was then lost with its stream: the sender cannot tell, unless
    // it waits for an answer, which the broken stream then fails ('lost').
    const rng = this.rngFor(sender, to, Traffic.Submit);
    if (rng.chance(this.params.dropP)) {
      this.stats.droppedRandom++;
      return ackId === undefined ? 'queued' : 'lost';
    }
    // A forward that waits for its answer is never delivered twice: a stream does not repeat a
    // message, and the answer (a refusal especially) speaks for the one copy. A second copy, held
    // by a node that later leads, could be ordered after its client heard "refused". (Drawn all
    // the same, so that the run's other draws stay where they were.)
    const copies = rng.chance(this.params.dupP) && ackId === undefined ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      if (this.heap.length >= this.params.maxInFlight) {
        this.stats.droppedOverflow++;
        return c === 0 ? 'dropped' : 'queued';
      }
      const delay = rng.chance(this.params.longDelayP)
        ? rng.between(this.params.maxDelaySteps, this.params.longDelayMaxSteps)
        : rng.between(this.params.minDelaySteps, this.params.maxDelaySteps);
      this.push({
        deliverAtStep: nowStep + delay,
        seq: this.nextSeq(sender, to, Traffic.Submit),
        from: sender,
        to,
        fromIncarnation,
        type: raftpb.MessageType.MsgProp,
        bytes,
        submit: true,
        ...(ackId !== undefined ? { ackId } : {}),
      });
    }
    return 'queued';
  }

  /**
   * Queue a leader's answer to a forward: delayed, never duplicated. Lost with a partition (the
   * sender's RPC timeout then tells it) or at random, which models the stream breaking: the
   * sender then hears "no answer" (reply.lost) instead, as a real broken stream fails its waits.
   */
  sendReply(sender: NodeId, to: NodeId, reply: SubmitReply, fromIncarnation: number, nowStep: number): void {
    this.stats.sent++;
    if (!this.connected(sender, to)) {
      this.stats.droppedPartition++;
      return;
    }
    const rng = this.rngFor(sender, to, Traffic.Reply);
    if (rng.chance(this.params.dropP)) {
      this.stats.droppedRandom++;
      reply = { ...reply, lost: true };
    }
    if (this.heap.length >= this.params.maxInFlight) {
      this.stats.droppedOverflow++;
      return;
    }
    const delay = rng.between(this.params.minDelaySteps, this.params.maxDelaySteps);
    this.push({ deliverAtStep: nowStep + delay, seq: this.nextSeq(sender, to, Traffic.Reply), from: sender, to, fromIncarnation, type: raftpb.MessageType.MsgProp, bytes: new Uint8Array(0), reply });
  }

  /** When the next queued message is due, if any. */
  nextDueStep(): number | undefined {
    return this.heap[0]?.deliverAtStep;
  }

  /** The next message due at or before nowStep, left queued, if any. */
  peekDue(nowStep: number): Envelope | undefined {
    const top = this.heap[0];
    return top === undefined || top.deliverAtStep > nowStep ? undefined : top;
  }

  /** Remove and return the next message due at or before nowStep, if any. */
  popDue(nowStep: number): Envelope | undefined {
    const top = this.heap[0];
    if (top === undefined || top.deliverAtStep > nowStep) return undefined;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private push(e: Envelope): void {
    this.heap.push(e);
    let i = this.heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(this.heap[i]!, this.heap[parent]!)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(start: number): void {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.heap.length && before(this.heap[l]!, this.heap[m]!)) m = l;
      if (r < this.heap.length && before(this.heap[r]!, this.heap[m]!)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(i: number, j: number): void {
    const t = this.heap[i]!;
    this.heap[i] = this.heap[j]!;
    this.heap[j] = t;
  }
}

const LINK_BASE = 1_000_000;

function linkKey(from: NodeId, to: NodeId): number {
  return from * LINK_BASE + to;
}

function before(a: Envelope, b: Envelope): boolean {
  return a.deliverAtStep < b.deliverAtStep || (a.deliverAtStep === b.deliverAtStep && a.seq < b.seq);
}
