// One simulated orderer process: a RawNode over its store (store.ts: a MemoryStorage, or
// the WAL-backed DurableStorage), the simulator's model of its disk (Disk), and its
// application state (the "ledger": how far it has applied, durable). It runs the Ready loop
// exactly as the orderer will: persist, then send, then apply, then advance; and it can
// crash at any point of that loop, losing what was not yet persisted. The loop is the
// orderer's own module (orderer/chain/ready-loop.ts); this file adds the model checks and
// crash points as its stages. It is async because a durable store's writes are; with the
// memory store nothing in it waits on IO.
import { raftpb } from '../../protos';
import type { NodeId, RaftConfig, RaftIndex, Ready } from '../../consensus/raft/api';
import { RaftRole, SnapshotStatus } from '../../consensus/raft/api';
import { ReadyProcessor } from '../../orderer/chain/ready-loop';
import { Disk } from './disk';
import { CHAIN_START, chainNext, hashBytes } from './hash';
import type { History } from './invariants';
import type { RaftImpl, SimRawNode } from './impl';
import type { Network } from './network';
import type { Prng } from './prng';
import type { Fail, NodeStore, StoreFactory } from './store';
import type { Trace } from './trace';

/** Raft settings shared by every node of a run (chosen per seed). */
export type RaftParams = Omit<RaftConfig, 'id' | 'storage' | 'applied' | 'rng' | 'logger'>;

/** Where in the Ready loop a crash strikes. */
export type CrashPoint = 'before-persist' | 'after-persist' | 'after-send' | 'mid-apply';

export interface NodeEnv {
  readonly impl: RaftImpl;
  readonly rng: Prng;
  readonly net: Network;
  readonly history: History;
  readonly trace: Trace;
  readonly raft: RaftParams;
  readonly powerLoss: boolean;
  readonly stores: StoreFactory;
  now(): number;
}

/** What the transport tells a node after a Ready (queued: the core must not be re-entered mid-Ready). */
interface PendingReport {
  kind: 'unreachable' | 'snapshot';
  peer: NodeId;
  ok: boolean;
}

export class SimNode {
  readonly disk = new Disk();
  /** Application state, durable: the highest index applied to the "ledger". */
  appApplied: RaftIndex = 0;
  /** True once this node applied its own removal: it halts for good, as Fabric's chain does. */
  evicted = false;
  incarnation = 0;
  /** Crash at this point of the next Ready, if set. */
  crashAt?: CrashPoint;

  private raw: SimRawNode | undefined;
  private store: NodeStore | undefined;
  /** Last index handed to the application in this incarnation (Raft's "applied"). */
  private lastDelivered: RaftIndex = 0;
  /** Highest commit index seen in this incarnation (hard state or storage on start). */
  private commitSeen: RaftIndex = 0;
  /** Highest commit status() reported in this incarnation: must never go down. */
  private statusCommit: RaftIndex = 0;
  /** Chain hashes of the disk log: chains[i - chainBase] is the hash of the prefix 1..i. */
  private chains: number[] = [CHAIN_START];
  private chainBase: RaftIndex = 0;
  /** Conf state as of lastDelivered (what createSnapshot must record). */
  private conf: raftpb.ConfState = emptyConf();
  private reports: PendingReport[] = [];
  /** The orderer's Ready loop module for this incarnation (it tracks role and persisted term/vote). */
  private processor: ReadyProcessor | undefined;
  /** Raises an invariant violation on this node (handed to its store). */
  private readonly failer: Fail = (invariant, detail) => this.env.history.fail(invariant, detail, this.id);

  constructor(
    readonly id: NodeId,
    private readonly env: NodeEnv,
  ) {}

  get up(): boolean {
    return this.raw !== undefined;
  }

  /** Up and with a Ready to handle. */
  get readyPending(): boolean {
    return this.raw !== undefined && this.raw.hasReady();
  }

  /** Highest commit index this incarnation has seen. */
  get commitIndex(): RaftIndex {
    return this.commitSeen;
  }

  get applied(): RaftIndex {
    return this.lastDelivered;
  }

  node(): SimRawNode {
    if (this.raw === undefined) throw new Error(`node ${this.id} is down`);
    return this.raw;
  }

  /**
   * First start of a founding member: RawNode.bootstrap writes the initial membership into a
   * scratch storage, taken over as what the node has on disk (a durable store writes it to
   * its WAL when it is first opened).
   */
  async bootstrap(peers: NodeId[]): Promise<void> {
    const storage = this.env.impl.newStorage();
    this.env.impl.bootstrap(storage, peers);
    this.disk.captureFrom(storage);
    await this.start();
  }

  /**
   * Start (or restart) from the disk. applied is where the ledger stands: its snapshot
   * index (the node re-delivers everything after it, as Fabric restarts) or its durable
   * ledger height, as long as the durable commit covers it (a power loss may have taken
   * the commit index back). From the latter the core replays the conf changes between the
   * snapshot and applied itself. Both are valid; the seed picks.
   */
  async start(): Promise<void> {
    if (this.evicted) throw new Error(`node ${this.id} was evicted and must not restart`);
    const store = await this.env.stores.open(this.id, this.disk, this.failer);
    this.checkReopened(store);
    const storage = store.storage;
    const snapIndex = this.disk.snapshotIndex;
    let applied = snapIndex;
    if (this.appApplied > snapIndex && this.appApplied <= this.disk.hardState.commit && this.env.rng.chance(0.5)) {
      applied = this.appApplied;
    }
    this.incarnation++;
    this.store = store;
    this.reports = [];
    this.crashAt = undefined;
    this.lastDelivered = applied;
    this.commitSeen = 0;
    this.statusCommit = 0;
    this.rebuildChains();
    this.raw = this.env.impl.newNode({
      ...this.env.raft,
      id: this.id,
      storage,
      applied,
      rng: this.env.rng.fork(),
    });
    this.conf = this.raw.status().confState;
    this.processor = new ReadyProcessor(this.disk.hardState);
    // The commit on disk was checked when it was persisted; recheck the log under it
    // against the global committed sequence, so a restart cannot resurrect a different log.
    this.observeCommit(this.disk.hardState.commit);
    if (this.env.trace.on) {
      this.env.trace.log(
        this.env.now(),
        `node ${this.id} start #${this.incarnation} applied=${applied} snap=${snapIndex} ` +
          `log=${this.disk.firstIndex}..${this.disk.lastIndex} hs=${fmtHs(this.disk.hardState)} ${store.describe()}`,
      );
    }
  }

  /**
   * A crash: the RawNode, its storage's memory and anything unsent are gone; the disk stays.
   * A durable store is closed without writing anything more (the Ready in flight, if any,
   * is dropped), as a killed process leaves its directory.
   */
  async crash(why: string): Promise<void> {
    if (this.raw === undefined) return;
    const store = this.store;
    this.raw = undefined;
    this.store = undefined;
    this.reports = [];
    this.crashAt = undefined;
    this.disk.crash(this.env.powerLoss);
    if (this.env.trace.on) this.env.trace.log(this.env.now(), `node ${this.id} CRASH (${why})`);
    await store?.close();
  }

  /**
   * A restarted node must get back exactly what it persisted (the Disk): snapshot, hard state
   * and every entry after the store's first index. A store may have dropped entries at or
   * below its snapshot (a WAL replays only what follows it); the model drops them too.
   */
  private checkReopened(store: NodeStore): void {
    const fail = this.failer;
    const s = store.storage;
    const disk = this.disk;
    const what = 'a restarted node gets back what it persisted';
    const snap = s.snapshot();
    const want = disk.snapshot;
    const snapIndex = want?.metadata.index ?? 0;
    if (snap.metadata.index !== snapIndex) fail(what, `snapshot at ${snap.metadata.index}, persisted ${snapIndex}`);
    if (want !== undefined) {
      if (snap.metadata.term !== want.metadata.term) fail(what, `snapshot term ${snap.metadata.term}, persisted ${want.metadata.term}`);
      if (!sameConf(snap.metadata.confState, want.metadata.confState) || !sameBytes(snap.data, want.data)) {
        fail(what, `snapshot at ${snapIndex} differs in membership or data from the one persisted`);
      }
    }
    const first = s.firstIndex();
    if (first < disk.firstIndex || first > snapIndex + 1) {
      fail(what, `log starts at ${first}; persisted ${disk.firstIndex}..${disk.lastIndex} with snapshot at ${snapIndex}`);
    }
    disk.compact(first - 1);
    const last = s.lastIndex();
    if (last !== disk.lastIndex) fail(what, `log ends at ${last}, persisted up to ${disk.lastIndex}`);
    const got = last >= first ? s.entries(first, last + 1, Number.POSITIVE_INFINITY) : [];
    for (const e of got) {
      const d = disk.entry(e.index)!;
      if (e.term !== d.term || e.type !== d.type || !sameBytes(e.data, d.data)) {
        fail(what, `entry ${e.index} is ${e.term}/${e.type}/${e.data.length}B, persisted ${d.term}/${d.type}/${d.data.length}B`);
      }
    }
    const hs = s.initialState().hardState;
    const dhs = disk.hardState;
    if (hs.term !== dhs.term || hs.vote !== dhs.vote || hs.commit !== dhs.commit) {
      fail(what, `hard state ${fmtHs(hs)}, persisted ${fmtHs(dhs)}`);
    }
  }

  /** Queue a transport report for after the current Ready (see PendingReport). */
  report(kind: PendingReport['kind'], peer: NodeId, ok: boolean): void {
    if (this.raw !== undefined) this.reports.push({ kind, peer, ok });
  }

  /** Deliver queued transport reports; called between Readys. */
  flushReports(): void {
    const raw = this.raw;
    if (raw === undefined || this.reports.length === 0) return;
    const reports = this.reports;
    this.reports = [];
    for (const r of reports) {
      if (r.kind === 'unreachable') raw.reportUnreachable(r.peer);
      else raw.reportSnapshot(r.peer, r.ok ? SnapshotStatus.Finish : SnapshotStatus.Failure);
    }
  }

  /** Checks after every step: one leader per term, commit never decreasing in an incarnation. */
  checkStatus(): void {
    const raw = this.raw;
    if (raw === undefined) return;
    const st = raw.status();
    const { history } = this.env;
    if (st.commit < this.statusCommit) {
      history.fail('commit never decreases', `status commit went from ${this.statusCommit} to ${st.commit}`, this.id);
    }
    this.statusCommit = st.commit;
    // Between Readys the core's applied index is exactly what the application applied.
    if (st.applied !== this.lastDelivered) {
      history.fail('applied index agrees with the application', `status applied ${st.applied}, application ${this.lastDelivered}`, this.id);
    }
    if (st.role === RaftRole.Leader) this.observeLeadership(st.term);
  }

  /** A leader is recorded (one per term) and, the first time, must hold every entry committed before its term. */
  private observeLeadership(term: number): void {
    const { history } = this.env;
    if (!history.recordLeader(this.id, term)) return;
    const i = history.lastCommittedBefore(term);
    if (i <= this.chainBase) return; // covered by its snapshot, checked when installed
    if (this.disk.lastIndex < i || this.chainAt(i) !== history.committedChain(i)) {
      history.fail(
        'leader completeness',
        `leader of term ${term} lacks committed entry ${i}@t${history.committedEntry(i)?.term} (its log ends at ${this.disk.lastIndex})`,
        this.id,
      );
    }
  }

  /** Take a snapshot at the applied index and compact the log behind it, keeping `keep` entries. */
  async snapshotAndCompact(keep: number): Promise<boolean> {
    const store = this.store;
    if (store === undefined) return false;
    const storage = store.storage;
    const index = this.lastDelivered;
    if (index <= storage.snapshot().metadata.index || index < storage.firstIndex()) return false;
    const snap = await store.createSnapshot(index, this.conf, this.env.history.snapshotData(index));
    this.disk.saveOwnSnapshot(snap);
    // Keep `keep` entries behind the snapshot for slow followers (Fabric's SnapshotCatchUpEntries).
    const compactIndex = Math.max(index - keep, storage.firstIndex());
    store.compact(compactIndex);
    this.disk.compact(compactIndex);
    if (this.env.trace.on) this.env.trace.log(this.env.now(), `node ${this.id} snapshot@${index} compact@${compactIndex}`);
    return true;
  }

  /**
   * One pass of the Ready loop, through the orderer's own Ready loop module (ReadyProcessor:
   * persist, send, apply, advance, with the leader's early sends). The stages below add the
   * simulator's model checks and its crash points. Returns false if the node crashed in it.
   */
  async handleReady(): Promise<boolean> {
    const raw = this.raw;
    const store = this.store;
    const processor = this.processor;
    if (raw === undefined || store === undefined || processor === undefined || !raw.hasReady()) return true;
    const { trace } = this.env;
    let removedSelf = false;
    const outcome = await processor.process(
      {
        hasReady: () => raw.hasReady(),
        ready: () => {
          const rd = raw.ready();
          if (trace.on) trace.log(this.env.now(), `node ${this.id} ready ${fmtReady(rd)}`);
          // Record a new leader before the Ready's commit index is seen: a commit must never be
          // observed before the leader that made it (see History.lastCommittedBefore).
          if (rd.softState?.role === RaftRole.Leader) this.observeLeadership(raw.status().term);
          this.checkMustSync(rd);
          return rd;
        },
        advance: () => raw.advance(),
      },
      {
        persist: (rd) => this.persistStage(rd, store),
        send: (m) => this.send(m),
        apply: async (rd) => {
          removedSelf = await this.applyStage(raw, rd);
        },
        stopped: () => this.raw !== raw,
      },
    );
    if (outcome === 'stopped') return false;
    // After advance, tell the core what the transport learned while we were sending.
    this.flushReports();
    if (removedSelf) {
      this.evicted = true;
      this.raw = undefined;
      this.store = undefined;
      if (trace.on) trace.log(this.env.now(), `node ${this.id} applied its own removal: halts`);
      await store.close();
      return false;
    }
    return true;
  }

  /** Stage 1: into the model (Disk) with the checks, then into the store, which shows them to the RawNode once durable. */
  private async persistStage(rd: Ready, store: NodeStore): Promise<void> {
    const { history } = this.env;
    if (this.crashAt === 'before-persist') {
      await this.crash('before persisting a Ready');
      return;
    }
    const snap = rd.snapshot !== undefined && rd.snapshot.metadata.index > 0 ? rd.snapshot : undefined;
    if (snap !== undefined) {
      history.checkSnapshot(this.id, snap, this.lastDelivered);
      this.disk.applySnapshot(snap);
      this.rebuildChains();
    }
    if (rd.entries.length > 0) {
      const res = this.disk.append(rd.entries);
      this.extendChains(res.fromIndex);
      if (res.fromIndex <= this.commitSeen) {
        // Raft never rewrites what this node already knows is committed (§5.3, §5.4).
        const stillThere = this.disk.lastIndex >= this.commitSeen;
        if (!stillThere || this.chainAt(this.commitSeen) !== history.committedChain(this.commitSeen)) {
          history.fail(
            'committed entries never change',
            `append at ${res.fromIndex} (log was ..${res.previousLastIndex}, now ..${this.disk.lastIndex}) ` +
              `rewrote entries at or below commit ${this.commitSeen}`,
            this.id,
          );
        }
      }
    }
    if (rd.hardState !== undefined) {
      history.checkHardState(this.id, this.disk.hardState, rd.hardState);
      this.disk.setHardState(rd.hardState);
      this.observeCommit(rd.hardState.commit);
    }
    if (rd.mustSync || snap !== undefined) this.disk.sync();
    const persisted = store.persist(rd);
    if (persisted !== undefined) await persisted;
    if (store.storage.lastIndex() !== this.disk.lastIndex) {
      history.fail('the storage holds what was persisted', `storage log ends at ${store.storage.lastIndex()}, disk at ${this.disk.lastIndex}`, this.id);
    }
    if (this.crashAt === 'after-persist') await this.crash('after persisting, before sending');
  }

  /** Stage 3: the snapshot, then the committed entries. Returns true if they removed this node. */
  private async applyStage(raw: SimRawNode, rd: Ready): Promise<boolean> {
    if (this.crashAt === 'after-send') {
      await this.crash('after sending, before applying');
      return false;
    }
    const snap = rd.snapshot !== undefined && rd.snapshot.metadata.index > 0 ? rd.snapshot : undefined;
    if (snap !== undefined) {
      this.lastDelivered = snap.metadata.index;
      this.conf = copyConf(snap.metadata.confState);
      if (snap.metadata.index > this.appApplied) this.appApplied = snap.metadata.index;
    }
    const crashAfter = this.crashAt === 'mid-apply' ? this.env.rng.nextInt(rd.committedEntries.length + 1) : -1;
    let removedSelf = false;
    for (let k = 0; k < rd.committedEntries.length; k++) {
      if (k === crashAfter) {
        await this.crash(`while applying, after ${k} of ${rd.committedEntries.length} entries`);
        return false;
      }
      if (this.applyEntry(raw, rd.committedEntries[k]!)) removedSelf = true;
    }
    if (crashAfter === rd.committedEntries.length) await this.crash('after applying, before advance');
    return removedSelf;
  }

  private checkMustSync(rd: Ready): void {
    const hs = rd.hardState;
    const prev = this.disk.hardState;
    const needSync = rd.entries.length > 0 || (hs !== undefined && (hs.term !== prev.term || hs.vote !== prev.vote));
    if (needSync && !rd.mustSync) {
      this.env.history.fail(
        'mustSync covers entries and votes',
        `Ready with ${rd.entries.length} entries, hardState ${hs === undefined ? '-' : fmtHs(hs)} (was ${fmtHs(prev)}) has mustSync=false`,
        this.id,
      );
    }
  }

  private send(m: raftpb.Message): void {
    const { history, net } = this.env;
    // A forwarded proposal keeps its proposer as `from`; everything else is from us.
    if ((m.from !== this.id && m.type !== raftpb.MessageType.MsgProp) || m.to === this.id || m.to === 0) {
      history.fail('messages are addressed from self to a peer', `message ${fmtMsg(m)} from node ${this.id}`, this.id);
    }
    this.checkPromise(m);
    const outcome = net.send(this.id, m, this.incarnation, this.env.now());
    if (outcome === 'queued') return;
    // A real transport notices a failed send (broken stream) and says so.
    if (m.type === raftpb.MessageType.MsgSnap) this.report('snapshot', m.to, false);
    else if (outcome === 'partitioned' && this.env.rng.chance(0.5)) this.report('unreachable', m.to, false);
  }

  /**
   * A message may promise only what is already on disk: a granted vote the persisted vote,
   * an append acknowledgement the persisted entries (Raft §5.1 "persist before responding").
   */
  private checkPromise(m: raftpb.Message): void {
    const { history } = this.env;
    const hs = this.disk.hardState;
    if (m.type === raftpb.MessageType.MsgVoteResp && !m.reject) {
      history.recordVoteGranted(this.id, m.term, m.to);
      // A later persisted term also keeps the promise: the node can never vote in m.term again.
      if (hs.term < m.term || (hs.term === m.term && hs.vote !== m.to)) {
        history.fail(
          'votes are durable before they are sent',
          `granted vote to ${m.to} in term ${m.term} but disk hard state is ${fmtHs(hs)}`,
          this.id,
        );
      }
    }
    // An ack from an older term may trail a truncation by a newer leader in the same Ready
    // (it was true when made; that leader's election already rules out counting on it).
    if (m.type === raftpb.MessageType.MsgAppResp && !m.reject && m.term === hs.term && m.index > this.disk.lastIndex) {
      history.fail(
        'acknowledged entries are durable',
        `acked index ${m.index} in term ${m.term} but disk log ends at ${this.disk.lastIndex}`,
        this.id,
      );
    }
  }

  /** Returns true if the entry removed this node from the cluster. */
  private applyEntry(raw: SimRawNode, e: raftpb.Entry): boolean {
    const { history } = this.env;
    const expected = this.lastDelivered + 1;
    if (e.index !== expected) {
      history.fail(
        e.index < expected ? 'no entry is applied twice' : 'entries are applied without gaps',
        `applied index ${e.index} after ${this.lastDelivered}`,
        this.id,
      );
    }
    if (e.index > this.commitSeen) {
      history.fail('only committed entries are applied', `applied ${e.index} but commit is ${this.commitSeen}`, this.id);
    }
    history.checkApplied(this.id, e);
    this.lastDelivered = e.index;
    let removedSelf = false;
    if (e.type === raftpb.EntryType.EntryConfChange) {
      // Re-delivered conf changes (after a restart from an older snapshot) are applied to
      // Raft again, like Fabric does; the ledger skips what it already has.
      const cc = raftpb.ConfChange.decode(e.data);
      this.conf = raw.applyConfChange(cc);
      history.recordConf(this.id, e.index, this.conf);
      removedSelf = cc.type === raftpb.ConfChangeType.ConfChangeRemoveNode && cc.nodeId === this.id;
    } else if (e.type === raftpb.EntryType.EntryConfChangeV2) {
      history.fail('only V1 conf changes are proposed', `entry ${e.index} is a ConfChangeV2`, this.id);
    }
    if (e.index > this.appApplied) this.appApplied = e.index;
    return removedSelf;
  }

  /** Record the commit index as seen on this node and check the log under it. */
  private observeCommit(commit: RaftIndex): void {
    const { history } = this.env;
    if (commit <= this.commitSeen) return;
    if (commit > this.disk.lastIndex) {
      history.fail('commit is within the log', `commit ${commit} beyond last index ${this.disk.lastIndex}`, this.id);
    }
    for (let i = Math.max(this.commitSeen + 1, this.chainBase + 1); i <= commit; i++) {
      const e = this.disk.entry(i)!;
      history.recordCommitted(this.id, e, this.chainAt(i));
    }
    this.commitSeen = commit;
  }

  private chainAt(i: RaftIndex): number {
    const c = this.chains[i - this.chainBase];
    if (c === undefined) throw new Error(`node ${this.id}: no chain hash at ${i} (base ${this.chainBase})`);
    return c;
  }

  /** Recompute the log's chain hashes from the disk's first entry (after start or a snapshot). */
  private rebuildChains(): void {
    this.chainBase = this.disk.firstIndex - 1;
    this.chains = [this.chainBase === 0 ? CHAIN_START : this.env.history.committedChain(this.chainBase)];
    this.extendChains(this.chainBase + 1);
  }

  /** Chain hashes from index `from` to the end of the disk log, checking Log Matching for each. */
  private extendChains(from: RaftIndex): void {
    const { history } = this.env;
    this.chains.length = from - this.chainBase;
    for (let i = from; i <= this.disk.lastIndex; i++) {
      const e = this.disk.entry(i)!;
      const chain = chainNext(this.chains[i - 1 - this.chainBase]!, e.index, e.term, e.type, hashBytes(e.data));
      this.chains.push(chain);
      history.checkLogMatching(this.id, e.index, e.term, chain);
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameConf(a: raftpb.ConfState, b: raftpb.ConfState): boolean {
  const same = (x: readonly number[], y: readonly number[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    same(a.voters, b.voters) &&
    same(a.learners, b.learners) &&
    same(a.votersOutgoing, b.votersOutgoing) &&
    same(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave
  );
}

export function emptyConf(): raftpb.ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

export function copyConf(c: raftpb.ConfState): raftpb.ConfState {
  return {
    voters: [...c.voters],
    learners: [...c.learners],
    votersOutgoing: [...c.votersOutgoing],
    learnersNext: [...c.learnersNext],
    autoLeave: c.autoLeave,
  };
}

export function fmtHs(hs: raftpb.HardState): string {
  return `{t${hs.term} v${hs.vote} c${hs.commit}}`;
}

export function fmtMsg(m: raftpb.Message): string {
  const kind = raftpb.MessageType[m.type] ?? String(m.type);
  let s = `${kind} ${m.from}->${m.to} t${m.term}`;
  if (m.index !== 0 || m.logTerm !== 0) s += ` i${m.index}/lt${m.logTerm}`;
  if (m.entries.length > 0) s += ` ents=${m.entries[0]!.index}..${m.entries[m.entries.length - 1]!.index}`;
  if (m.commit !== 0) s += ` c${m.commit}`;
  if (m.reject) s += ` REJECT(hint ${m.rejectHint})`;
  if (m.snapshot !== undefined) s += ` snap@${m.snapshot.metadata.index}`;
  return s;
}

function fmtReady(rd: Ready): string {
  const parts: string[] = [];
  if (rd.softState !== undefined) parts.push(`soft=${rd.softState.role}/lead${rd.softState.leaderId}`);
  if (rd.hardState !== undefined) parts.push(`hs=${fmtHs(rd.hardState)}`);
  if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) parts.push(`snap@${rd.snapshot.metadata.index}`);
  if (rd.entries.length > 0) parts.push(`ents=${rd.entries[0]!.index}..${rd.entries[rd.entries.length - 1]!.index}`);
  if (rd.committedEntries.length > 0) {
    parts.push(`apply=${rd.committedEntries[0]!.index}..${rd.committedEntries[rd.committedEntries.length - 1]!.index}`);
  }
  if (rd.messages.length > 0) parts.push(`msgs=[${rd.messages.map(fmtMsg).join('; ')}]`);
  if (rd.mustSync) parts.push('sync');
  return parts.join(' ');
}
