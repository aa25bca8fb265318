// The global record of a run, against which every node's behaviour is checked as it
// happens (TigerBeetle's VOPR style: the checker sees every state change, not samples).
// Raft's safety properties (Ongaro & Ousterhout, §5.2-§5.4, Figure 3):
// - Election Safety: at most one leader per term.
// - Log Matching: two logs with an entry of the same index and term agree on the whole
//   prefix up to it (checked with chain hashes of the prefix).
// - Leader Completeness / State Machine Safety: once committed at an index, an entry is the
//   same on every node forever, and every node applies exactly that sequence.
// Plus the ones our own contract adds: a node grants one vote per term, membership after a
// conf change is the same on every node, snapshots carry exactly the state they claim.
import { raftpb } from '../../protos';
import type { NodeId, RaftIndex, RaftTerm } from '../../consensus/raft/api';
import { hashBytes } from './hash';
import { InvariantViolation } from './trace';

interface CommittedEntry {
  term: RaftTerm;
  /**
   * The highest term any leader had when this commit was first seen: the leader that
   * committed it had a term no higher, so every leader of a later term must hold it.
   */
  leaderTermBound: RaftTerm;
  type: raftpb.EntryType;
  dataHash: number;
  /** Chain hash of the log prefix 1..index. */
  chain: number;
  /** First node seen with it committed (for reports). */
  firstNode: NodeId;
}

export class History {
  /** Current step, for violation reports (the cluster keeps it up to date). */
  step = 0;
  /** committed[i] is the committed entry at index i (index 0 unused). */
  private readonly committed: (CommittedEntry | undefined)[] = [undefined];
  private readonly leaders = new Map<RaftTerm, NodeId>();
  private maxLeaderTerm = 0;
  /** `${voter}/${term}` -> candidate granted. */
  private readonly votes = new Map<string, NodeId>();
  /** `${index}/${term}` -> chain hash of any log holding that entry. */
  private readonly logChains = new Map<string, number>();
  /** Conf state after each applied conf change, by index; index 0 is the founding membership. */
  private readonly confByIndex = new Map<RaftIndex, { key: string; conf: raftpb.ConfState }>();
  private confIndexes: RaftIndex[] = [];
  private readonly proposals = new Set<number>();
  /** Index of each committed normal entry, by data hash (the liveness check looks its marker up). */
  private readonly indexByData = new Map<number, RaftIndex>();

  fail(invariant: string, detail: string, nodeId?: NodeId): never {
    throw new InvariantViolation(invariant, detail, this.step, nodeId);
  }

  get committedLength(): RaftIndex {
    return this.committed.length - 1;
  }

  get leaderTerms(): number {
    return this.leaders.size;
  }

  committedEntry(i: RaftIndex): CommittedEntry | undefined {
    return this.committed[i];
  }

  committedChain(i: RaftIndex): number {
    const c = this.committed[i];
    if (c === undefined) this.fail('committed prefix is known', `no committed entry recorded at index ${i}`);
    return c.chain;
  }

  /** Returns true the first time this leader is seen in this term. */
  recordLeader(id: NodeId, term: RaftTerm): boolean {
    const prev = this.leaders.get(term);
    if (prev !== undefined && prev !== id) this.fail('at most one leader per term', `nodes ${prev} and ${id} both led term ${term}`, id);
    if (term > this.maxLeaderTerm) this.maxLeaderTerm = term;
    if (prev !== undefined) return false;
    this.leaders.set(term, id);
    return true;
  }

  /**
   * Leader Completeness (§5.4.1): the highest committed index a leader of `term` must
   * hold, i.e. the last entry whose commit was seen while every leader so far had a lower
   * term (0 if none).
   */
  lastCommittedBefore(term: RaftTerm): RaftIndex {
    for (let i = this.committed.length - 1; i > 0; i--) if (this.committed[i]!.leaderTermBound < term) return i;
    return 0;
  }

  recordVoteGranted(voter: NodeId, term: RaftTerm, candidate: NodeId): void {
    const key = `${voter}/${term}`;
    const prev = this.votes.get(key);
    if (prev === undefined) this.votes.set(key, candidate);
    else if (prev !== candidate) {
      this.fail('one vote per term', `node ${voter} granted its term-${term} vote to ${prev} and to ${candidate}`, voter);
    }
  }

  /** A node's persisted hard state may only move forward: term up, vote fixed within a term, commit up. */
  checkHardState(id: NodeId, prev: raftpb.HardState, next: raftpb.HardState): void {
    if (next.term < prev.term) this.fail('term never decreases', `term ${prev.term} -> ${next.term}`, id);
    if (next.term === prev.term && prev.vote !== 0 && next.vote !== prev.vote) {
      this.fail('one vote per term', `persisted vote in term ${next.term} changed ${prev.vote} -> ${next.vote}`, id);
    }
    if (next.commit < prev.commit) this.fail('commit never decreases', `persisted commit ${prev.commit} -> ${next.commit}`, id);
  }

  checkLogMatching(id: NodeId, index: RaftIndex, term: RaftTerm, chain: number): void {
    const key = `${index}/${term}`;
    const prev = this.logChains.get(key);
    if (prev === undefined) this.logChains.set(key, chain);
    else if (prev !== chain) {
      this.fail('log matching', `node ${id} holds entry ${index}@t${term} after a prefix different from another log's`, id);
    }
  }

  recordCommitted(id: NodeId, e: raftpb.Entry, chain: number): void {
    const known = this.committed[e.index];
    if (known !== undefined) {
      if (known.chain !== chain) {
        this.fail(
          'committed entries never change',
          `node ${id} committed ${e.index}@t${e.term} but node ${known.firstNode} committed ${e.index}@t${known.term} ` +
            `(or their prefixes differ)`,
          id,
        );
      }
      return;
    }
    if (e.index !== this.committed.length) {
      this.fail('committed prefix is known', `node ${id} committed ${e.index} but only ..${this.committedLength} is known`, id);
    }
    const dataHash = hashBytes(e.data);
    this.committed.push({ term: e.term, leaderTermBound: this.maxLeaderTerm, type: e.type, dataHash, chain, firstNode: id });
    if (e.type === raftpb.EntryType.EntryNormal && e.data.length > 0 && !this.indexByData.has(dataHash)) {
      this.indexByData.set(dataHash, e.index);
    }
  }

  /** An applied entry must be the committed one at its index (State Machine Safety). */
  checkApplied(id: NodeId, e: raftpb.Entry): void {
    const known = this.committed[e.index];
    if (known === undefined) this.fail('only committed entries are applied', `node ${id} applied unknown index ${e.index}`, id);
    if (known.term !== e.term || known.type !== e.type || known.dataHash !== hashBytes(e.data)) {
      this.fail(
        'every node applies the same sequence',
        `node ${id} applied ${e.index}@t${e.term} but the committed entry is ${e.index}@t${known.term}`,
        id,
      );
    }
    if (e.type === raftpb.EntryType.EntryNormal && e.data.length > 0 && !this.proposals.has(known.dataHash)) {
      this.fail('applied data was proposed', `node ${id} applied entry ${e.index} with data nobody proposed`, id);
    }
  }

  indexOfData(dataHash: number): RaftIndex | undefined {
    return this.indexByData.get(dataHash);
  }

  recordProposal(data: Uint8Array): void {
    this.proposals.add(hashBytes(data));
  }

  setFoundingConf(conf: raftpb.ConfState): void {
    this.confByIndex.set(0, { key: confKey(conf), conf });
    this.confIndexes = [0];
  }

  /** Every node must reach the same membership after the same conf change entry. */
  recordConf(id: NodeId, index: RaftIndex, conf: raftpb.ConfState): void {
    const key = confKey(conf);
    const prev = this.confByIndex.get(index);
    if (prev === undefined) {
      this.confByIndex.set(index, { key, conf: { ...conf, voters: [...conf.voters], learners: [...conf.learners] } });
      this.confIndexes.push(index);
      this.confIndexes.sort((a, b) => a - b);
    } else if (prev.key !== key) {
      this.fail('membership is the same on every node', `node ${id} has ${key} after entry ${index}, another node ${prev.key}`, id);
    }
  }

  /** Membership as of index i: that of the last conf change at or below it. */
  confAt(i: RaftIndex): raftpb.ConfState {
    return this.confRecordAt(i).conf;
  }

  private confRecordAt(i: RaftIndex): { key: string; conf: raftpb.ConfState } {
    let best = -1;
    for (const idx of this.confIndexes) if (idx <= i) best = idx;
    const rec = this.confByIndex.get(best);
    if (rec === undefined) this.fail('membership is known', `no membership recorded at or before ${i}`);
    return rec;
  }

  /** Every id that was a voter or learner in some recorded membership. */
  everMembers(): Set<NodeId> {
    const out = new Set<NodeId>();
    for (const { conf } of this.confByIndex.values()) for (const id of [...conf.voters, ...conf.learners]) out.add(id);
    return out;
  }

  confChangesApplied(): number {
    return this.confIndexes.length - 1;
  }

  latestConfIndex(): RaftIndex {
    return this.confIndexes[this.confIndexes.length - 1] ?? 0;
  }

  /** The application's snapshot payload at index i: the index and the chain hash of what it has applied. */
  snapshotData(i: RaftIndex): Uint8Array {
    const out = new Uint8Array(16);
    const view = new DataView(out.buffer);
    view.setFloat64(0, i);
    view.setFloat64(8, this.committedChain(i));
    return out;
  }

  /** A snapshot handed to a node must be a state the cluster committed and some node applied. */
  checkSnapshot(id: NodeId, snap: raftpb.Snapshot, applied: RaftIndex): void {
    const { index, term, confState } = snap.metadata;
    const known = this.committed[index];
    if (known === undefined || known.term !== term) {
      this.fail('snapshots hold committed state', `node ${id} got snapshot ${index}@t${term}, committed is t${known?.term}`, id);
    }
    if (snap.data.length !== 16) this.fail('snapshots hold committed state', `snapshot data of ${snap.data.length} bytes`, id);
    const view = new DataView(snap.data.buffer, snap.data.byteOffset, snap.data.byteLength);
    if (view.getFloat64(0) !== index || view.getFloat64(8) !== known.chain) {
      this.fail('snapshots hold committed state', `node ${id} got snapshot ${index} whose data is another state`, id);
    }
    const expected = this.confRecordAt(index).key;
    if (confKey(confState) !== expected) {
      this.fail('snapshots hold committed state', `snapshot ${index} has membership ${confKey(confState)}, expected ${expected}`, id);
    }
    if (index <= applied) {
      this.fail('snapshots move a node forward', `node ${id} got snapshot ${index} but has applied ${applied}`, id);
    }
  }
}

export function confKey(c: raftpb.ConfState): string {
  const s = (xs: number[]): string => [...xs].sort((a, b) => a - b).join(',');
  let key = `v[${s(c.voters)}] l[${s(c.learners)}]`;
  if (c.votersOutgoing.length > 0 || c.learnersNext.length > 0) key += ` vo[${s(c.votersOutgoing)}] ln[${s(c.learnersNext)}]`;
  return key;
}
