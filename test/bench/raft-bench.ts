// Raft core throughput: a 3-node cluster in one process over an in-memory network and
// MemoryStorage, 1 KiB proposals. Measures committed proposals per second with batching
// (many proposals per Ready) and without (one proposal per Ready cycle), and heap bytes
// allocated per committed entry (from V8's GC profiler: the heap growth between
// collections, summed). Prints a JSON object, then `raft_batched_per_s=N raft_unbatched_per_s=N`.
import v8 from 'node:v8';
import { raftpb } from '../../protos';
import { MemoryStorage, RawNode, RaftRole, SeededRng, type NodeId } from '../../consensus/raft';
import { makeConfig } from '../consensus/raft/network';

const PAYLOAD_BYTES = 1024;
const BATCH_SIZE = 512;
const DURATION_MS = Number(process.env.RAFT_BENCH_MS ?? 2000);
const WARMUP_MS = 300;
/** Keep this many applied entries in memory; compact the rest (bounded memory in long runs). */
const RETAINED_ENTRIES = 20_000;

interface BenchNode {
  id: NodeId;
  storage: MemoryStorage;
  node: RawNode;
  appliedIndex: number;
  appliedProposals: number;
  confState: raftpb.ConfState;
}

class Cluster {
  readonly nodes: BenchNode[] = [];
  private readonly inbox = new Map<NodeId, raftpb.Message[]>();

  constructor(ids: NodeId[]) {
    for (const id of ids) {
      const storage = new MemoryStorage();
      RawNode.bootstrap(storage, ids);
      // Fabric's settings: check quorum, pre-vote, no proposal forwarding.
      const config = makeConfig(id, storage, { checkQuorum: true, preVote: true, disableProposalForwarding: true, rng: new SeededRng(id) });
      this.nodes.push({ id, storage, node: new RawNode(config), appliedIndex: 0, appliedProposals: 0, confState: raftpb.ConfState.decode(new Uint8Array(0)) });
      this.inbox.set(id, []);
    }
  }

  leader(): BenchNode {
    const l = this.nodes.find((n) => n.node.status().role === RaftRole.Leader);
    if (l === undefined) throw new Error('no leader');
    return l;
  }

  /** One Ready cycle on every node, then deliver what they sent. */
  cycle(): void {
    for (const n of this.nodes) {
      if (!n.node.hasReady()) continue;
      const rd = n.node.ready();
      if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
      n.storage.append(rd.entries);
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
      for (const m of rd.messages) this.inbox.get(m.to)!.push(m);
      for (const e of rd.committedEntries) {
        if (e.type === raftpb.EntryType.EntryConfChange) {
          n.confState = n.node.applyConfChange(raftpb.ConfChange.decode(e.data));
        } else if (e.data.length > 0) {
          n.appliedProposals++;
        }
        n.appliedIndex = e.index;
      }
      n.node.advance();
      this.maybeCompact(n);
    }
    for (const n of this.nodes) {
      const msgs = this.inbox.get(n.id)!;
      if (msgs.length === 0) continue;
      this.inbox.set(n.id, []);
      for (const m of msgs) n.node.step(m);
    }
  }

  private maybeCompact(n: BenchNode): void {
    const compactTo = n.appliedIndex - RETAINED_ENTRIES;
    if (compactTo - n.storage.firstIndex() < RETAINED_ENTRIES) return;
    n.storage.createSnapshot(compactTo, n.confState, new Uint8Array(0));
    n.storage.compact(compactTo);
  }

  settle(): void {
    for (let i = 0; i < 100; i++) this.cycle();
  }
}

function makePayloads(): Uint8Array[] {
  const payloads: Uint8Array[] = [];
  for (let i = 0; i < 1024; i++) payloads.push(new Uint8Array(PAYLOAD_BYTES).fill(i & 0xff));
  return payloads;
}

interface RunResult {
  committed_per_s: number;
  committed: number;
  seconds: number;
  proposals_per_cycle: number;
  heap_bytes_allocated_per_entry: number | null;
}

function run(proposalsPerCycle: number, payloads: Uint8Array[]): RunResult {
  const cluster = new Cluster([1, 2, 3]);
  cluster.settle();
  cluster.nodes[0]!.node.campaign();
  cluster.settle();
  const leader = cluster.leader();
  let p = 0;
  const proposeCycle = (): void => {
    for (let i = 0; i < proposalsPerCycle; i++) {
      leader.node.propose(payloads[p++ & 1023]!);
    }
    cluster.cycle();
  };
  const warmupEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmupEnd) proposeCycle();

  const profiler = new v8.GCProfiler();
  profiler.start();
  const heapStart = process.memoryUsage().heapUsed;
  const startCommitted = leader.appliedProposals;
  const start = performance.now();
  const end = start + DURATION_MS;
  let cycles = 0;
  while (true) {
    proposeCycle();
    if ((++cycles & 15) === 0 && performance.now() >= end) break;
  }
  const seconds = (performance.now() - start) / 1000;
  const committed = leader.appliedProposals - startCommitted;
  const heapEnd = process.memoryUsage().heapUsed;
  const gc = profiler.stop();
  // Allocation = growth between collections: (before GC i) - (after GC i-1), plus the
  // growth since the last one.
  let allocated = 0;
  let last = heapStart;
  for (const s of gc.statistics) {
    allocated += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - last);
    last = s.afterGC.heapStatistics.usedHeapSize;
  }
  allocated += Math.max(0, heapEnd - last);
  return {
    committed_per_s: Math.round(committed / seconds),
    committed,
    seconds: Number(seconds.toFixed(3)),
    proposals_per_cycle: proposalsPerCycle,
    heap_bytes_allocated_per_entry: committed > 0 ? Math.round(allocated / committed) : null,
  };
}

/**
 * Baseline measured in the same run (machines are shared and noisy): the cheapest possible
 * "replication" of the same proposals, an entry object appended to three in-memory logs.
 */
function baselineSinkPerSecond(payloads: Uint8Array[]): number {
  const logs: raftpb.Entry[][] = [[], [], []];
  let index = 0;
  const start = performance.now();
  const end = start + DURATION_MS / 2;
  while (performance.now() < end) {
    for (let i = 0; i < BATCH_SIZE; i++) {
      index++;
      const e: raftpb.Entry = { type: raftpb.EntryType.EntryNormal, term: 1, index, data: payloads[index & 1023]! };
      for (const log of logs) log.push(e);
    }
    if (logs[0]!.length > RETAINED_ENTRIES * 2) for (const log of logs) log.splice(0, RETAINED_ENTRIES);
  }
  return Math.round(index / ((performance.now() - start) / 1000));
}

function main(): void {
  const payloads = makePayloads();
  const baseline = baselineSinkPerSecond(payloads);
  const batched = run(BATCH_SIZE, payloads);
  const unbatched = run(1, payloads);
  const result = {
    benchmark: 'raft',
    nodes: 3,
    payload_bytes: PAYLOAD_BYTES,
    max_size_per_msg_bytes: 1024 * 1024,
    max_inflight_msgs: 256,
    baseline_sink_per_s: baseline,
    batched,
    unbatched,
    batched_vs_baseline: Number((batched.committed_per_s / baseline).toFixed(3)),
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`raft_batched_per_s=${batched.committed_per_s} raft_unbatched_per_s=${unbatched.committed_per_s}`);
}

main();
