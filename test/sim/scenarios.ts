// Directed scenarios for what the random simulator found (see FINDINGS.md): minimal,
// hand-built cluster states driven tick by tick, so a finding can be reproduced and
// discussed without a long random trace.
//   npm run build && node dist/test/sim/scenarios.js
// Each scenario prints what happened; a scenario that shows a problem exits non-zero.
import { raftpb } from '../../protos';
import type { NodeId, RaftConfig } from '../../consensus/raft/api';
import { RaftRole, SnapshotStatus } from '../../consensus/raft/api';
import { newMessage } from '../../consensus/raft/util';
import { coreImpl, errorName, type RaftImpl, type SimRawNode } from './impl';
import { Prng } from './prng';

interface LabNode {
  raw: SimRawNode;
  storage: ReturnType<RaftImpl['newStorage']>;
}

/** A few RawNodes wired by hand: every tick, all nodes tick, then messages flow until quiet. */
class Lab {
  readonly nodes = new Map<NodeId, LabNode>();
  private readonly rng: Prng;
  /** Messages this returns true for are lost (set by a scenario). */
  drop: (m: raftpb.Message) => boolean = () => false;
  /** Delivered MsgSnaps, for scenarios that report them (or not). */
  readonly snapshotsDelivered: { from: NodeId; to: NodeId }[] = [];
  /** Last applied index per node (for snapshots). */
  readonly applied = new Map<NodeId, number>();

  constructor(
    seed: number,
    private readonly impl: RaftImpl = coreImpl,
  ) {
    this.rng = new Prng(seed);
  }

  add(id: NodeId, storage: LabNode['storage'], raft: Partial<RaftConfig>): void {
    const config: RaftConfig = {
      id,
      storage,
      electionTick: 10,
      heartbeatTick: 1,
      maxSizePerMsgBytes: 1 << 20,
      maxInflightMsgs: 256,
      checkQuorum: false,
      preVote: false,
      disableProposalForwarding: false,
      rng: this.rng.fork(),
      ...raft,
    };
    this.nodes.set(id, { raw: this.impl.newNode(config), storage });
  }

  /** One tick of every node, then Readys and deliveries until nothing moves. Messages to absent nodes are lost. */
  tick(): void {
    for (const n of this.nodes.values()) n.raw.tick();
    for (let round = 0; round < 100; round++) {
      const inbox: raftpb.Message[] = [];
      for (const n of this.nodes.values()) {
        if (!n.raw.hasReady()) continue;
        const rd = n.raw.ready();
        if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) n.storage.applySnapshot(rd.snapshot);
        n.storage.append(rd.entries);
        if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
        inbox.push(...rd.messages);
        if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) this.applied.set(n.raw.status().id, rd.snapshot.metadata.index);
        for (const e of rd.committedEntries) {
          if (e.type === raftpb.EntryType.EntryConfChange) n.raw.applyConfChange(raftpb.ConfChange.decode(e.data));
          this.applied.set(n.raw.status().id, e.index);
        }
        n.raw.advance();
      }
      if (inbox.length === 0) return;
      for (const m of inbox) {
        const to = this.nodes.get(m.to);
        if (to === undefined || this.drop(m)) continue;
        if (m.type === raftpb.MessageType.MsgSnap) this.snapshotsDelivered.push({ from: m.from, to: m.to });
        try {
          to.raw.step(raftpb.Message.decode(raftpb.Message.encode(m)));
        } catch (e) {
          if (errorName(e) !== 'StepRejectedError') throw e;
        }
      }
    }
  }

  /** Snapshot a node at its applied index and compact everything before it. */
  snapshotAndCompact(id: NodeId): void {
    const n = this.nodes.get(id)!;
    const index = this.applied.get(id) ?? 0;
    n.storage.createSnapshot(index, n.raw.status().confState, new Uint8Array([1]));
    n.storage.compact(index);
  }

  leader(): NodeId | undefined {
    for (const [id, n] of this.nodes) if (n.raw.status().role === RaftRole.Leader) return id;
    return undefined;
  }

  describe(): string {
    return [...this.nodes]
      .map(([id, n]) => {
        const st = n.raw.status();
        return `${id}:${st.role}/t${st.term}/c${st.commit}/voters[${st.confState.voters.join(',')}]`;
      })
      .join(' ');
  }
}

function confChangeEntry(index: number, term: number, type: raftpb.ConfChangeType, nodeId: NodeId): raftpb.Entry {
  return { type: raftpb.EntryType.EntryConfChange, term, index, data: raftpb.ConfChange.encode({ type, nodeId }) };
}

/**
 * Without pre-vote, a candidate whose term is behind can never catch up with a voter that
 * does not send it anything, because the core (like etcd) ignores a MsgVote of a lower term
 * instead of rejecting it with its own term (Raft Figure 2: "reply false if term <
 * currentTerm", the reply carrying currentTerm).
 *
 * History: voters {1,2} (snapshot at 10); node 1, leading in term 2, adds node 3 (entry 11)
 * and removes itself (entry 12), both committed by {1,3}; node 1 halts. Node 2 was cut off
 * the whole time, campaigning alone up to term 40; it still believes in {1,2}. Node 3 knows
 * {2,3} at term 5. Everyone left is up and connected:
 * - node 2 can never win: its only peer is node 1, which is gone;
 * - node 3 needs node 2's vote and its log is better (12@t2 against 10@t2), but its MsgVote
 *   carries term 6, 7, ... which node 2 (term 41, 42, ...) ignores, and node 2 never sends
 *   node 3 anything that would teach it the higher term.
 * Found by the simulator as seed 9972 (node run.js --seed 9972). With preVote the core
 * rejects a lower-term MsgPreVote with its term, and the same state elects node 3 at once.
 */
export function lowerTermVoteLivelock(preVote: boolean, ticks: number): { leader?: NodeId; state: string } {
  const lab = new Lab(1);
  const snapshot: raftpb.Snapshot = {
    data: new Uint8Array(0),
    metadata: { index: 10, term: 2, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
  };
  const s2 = coreImpl.newStorage();
  s2.applySnapshot(snapshot);
  s2.setHardState({ term: 40, vote: 2, commit: 10 });
  const s3 = coreImpl.newStorage();
  s3.applySnapshot(snapshot);
  s3.append([
    confChangeEntry(11, 2, raftpb.ConfChangeType.ConfChangeAddNode, 3),
    confChangeEntry(12, 2, raftpb.ConfChangeType.ConfChangeRemoveNode, 1),
  ]);
  s3.setHardState({ term: 5, vote: 0, commit: 12 });
  lab.add(2, s2, { preVote, applied: 10 });
  // Node 3 restarts with both conf changes applied (the core replays them from the log).
  lab.add(3, s3, { preVote, applied: 12 });
  for (let t = 0; t < ticks; t++) {
    lab.tick();
    const leader = lab.leader();
    if (leader !== undefined) return { leader, state: lab.describe() };
  }
  return { state: lab.describe() };
}

/**
 * The core keeps a follower it sent a snapshot to in Snapshot state (no more appends) until
 * it hears the outcome: reportSnapshot from the transport, or an append acknowledgement at
 * or past the snapshot. etcd's transport always reports; cluster/ reports only messages it
 * knows were lost. If the snapshot is delivered and installed but the follower's
 * acknowledgement is lost, nothing ever tells the leader: heartbeats keep flowing, but the
 * follower stays behind for as long as this leader leads.
 * Three voters; node 3 is cut off while the leader commits and compacts; node 3 comes back,
 * gets the snapshot, installs it, and its one acknowledgement is lost. Returns node 3's
 * commit index after `ticks` more ticks, and the leader's.
 */
export function snapshotAckLost(reportFinish: boolean, ticks: number): { follower: number; leader: number; state: string } {
  const lab = new Lab(7);
  for (const id of [1, 2, 3]) {
    const storage = coreImpl.newStorage();
    coreImpl.bootstrap(storage, [1, 2, 3]);
    lab.add(id, storage, { preVote: true, checkQuorum: true });
  }
  lab.tick();
  lab.nodes.get(1)!.raw.campaign();
  lab.tick();
  let cut = true;
  lab.drop = (m) => cut && (m.to === 3 || m.from === 3);
  for (let i = 0; i < 5; i++) {
    lab.nodes.get(1)!.raw.propose(new Uint8Array([i]));
    lab.tick();
  }
  lab.snapshotAndCompact(1);
  // Node 3 is back; the first acknowledgement it sends after installing the snapshot is lost.
  cut = false;
  let lostAck = false;
  lab.drop = (m) => {
    if (!lostAck && m.from === 3 && m.type === raftpb.MessageType.MsgAppResp && !m.reject) {
      lostAck = true;
      return true;
    }
    return false;
  };
  for (let t = 0; t < ticks; t++) {
    // Clients keep writing: the leader has new entries node 3 should receive.
    if (t % 10 === 0) lab.nodes.get(1)!.raw.propose(new Uint8Array([100 + (t % 100)]));
    lab.tick();
    if (reportFinish) {
      // What etcd's transport does once the snapshot has been streamed.
      for (const d of lab.snapshotsDelivered.splice(0)) lab.nodes.get(d.from)!.raw.reportSnapshot(d.to, SnapshotStatus.Finish);
    }
  }
  return {
    follower: lab.nodes.get(3)!.raw.status().commit,
    leader: lab.nodes.get(1)!.raw.status().commit,
    state: lab.describe(),
  };
}

/**
 * A node that cannot win (its log is behind) still campaigns without pre-vote, and every
 * higher-term MsgVote it sends makes the electable node step down and restart its election
 * timer (the core, like etcd, resets the timer in becomeFollower even when it refuses the
 * vote; Raft Figure 2 resets it only on granting a vote or hearing from the leader). The
 * electable node then wins only when its random timeout beats the other's by two ticks.
 * Voters {2,3}; node 3 holds two more entries than node 2; both at term 5. Returns the
 * ticks until a leader, for `runs` different seeds.
 */
export function duelingCandidates(preVote: boolean, runs: number, maxTicks: number): number[] {
  const out: number[] = [];
  for (let seed = 1; seed <= runs; seed++) {
    const lab = new Lab(seed);
    const snapshot: raftpb.Snapshot = {
      data: new Uint8Array(0),
      metadata: { index: 10, term: 2, confState: { voters: [2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
    };
    const s2 = coreImpl.newStorage();
    s2.applySnapshot(snapshot);
    s2.setHardState({ term: 5, vote: 0, commit: 10 });
    const s3 = coreImpl.newStorage();
    s3.applySnapshot(snapshot);
    s3.append([
      { type: raftpb.EntryType.EntryNormal, term: 2, index: 11, data: new Uint8Array([1]) },
      { type: raftpb.EntryType.EntryNormal, term: 2, index: 12, data: new Uint8Array([2]) },
    ]);
    s3.setHardState({ term: 5, vote: 0, commit: 10 });
    lab.add(2, s2, { preVote, applied: 10 });
    lab.add(3, s3, { preVote, applied: 10 });
    let t = 1;
    for (; t <= maxTicks; t++) {
      lab.tick();
      if (lab.leader() !== undefined) break;
    }
    out.push(t);
  }
  return out;
}

/**
 * Without check-quorum and pre-vote, a follower with a higher term ignores the current
 * leader's lower-term MsgApp and MsgHeartbeat (the core answers them with its term only when
 * one of the two is on, like etcd), and the leader never steps down by itself. If that
 * follower cannot campaign either (a new member that has not learned any membership yet, see
 * FINDINGS.md #2), nothing ever tells the leader about the higher term: no leader can commit.
 * History: voters {1,2} as node 1 knows them (snapshot at 10); node 2 is a new member with an
 * empty log and no membership. Node 1 wins term 2 with node 2's vote, then node 2 is cut off
 * from it and grants its vote in term 3 to node 3, a removed member that halts right after
 * (found by the simulator in durable mode, seed 6257: `node dist/test/sim/run.js --durable
 * --seed 6257`). Returns both commit indexes after `ticks` ticks of proposals.
 */
export function staleLeaderIgnored(checkQuorum: boolean, preVote: boolean, ticks: number): { commit: number; state: string } {
  const lab = new Lab(3);
  const snapshot: raftpb.Snapshot = {
    data: new Uint8Array(0),
    metadata: { index: 10, term: 1, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
  };
  const s1 = coreImpl.newStorage();
  s1.applySnapshot(snapshot);
  s1.setHardState({ term: 1, vote: 0, commit: 10 });
  lab.add(1, s1, { checkQuorum, preVote, applied: 10 });
  lab.add(2, coreImpl.newStorage(), { checkQuorum, preVote });
  // Node 2 hears the vote request and nothing after it (it would install the snapshot).
  lab.drop = (m) => m.from === 1 && m.to === 2 && m.type !== raftpb.MessageType.MsgVote && m.type !== raftpb.MessageType.MsgPreVote;
  lab.nodes.get(1)!.raw.campaign();
  lab.tick();
  const n2 = lab.nodes.get(2)!.raw;
  n2.step(newMessage({ type: raftpb.MessageType.MsgVote, from: 3, to: 2, term: 3, index: 12, logTerm: 1 }));
  while (n2.hasReady()) {
    n2.ready();
    n2.advance();
  }
  lab.drop = () => false;
  for (let t = 0; t < ticks; t++) {
    const leader = lab.leader();
    if (t % 10 === 0 && leader !== undefined) lab.nodes.get(leader)!.raw.propose(new Uint8Array([t % 256]));
    lab.tick();
  }
  const commit = Math.min(...[...lab.nodes.values()].map((n) => n.raw.status().commit));
  return { commit, state: lab.describe() };
}

function summary(ticks: number[]): string {
  const sorted = [...ticks].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `median ${at(0.5)}, p90 ${at(0.9)}, max ${sorted[sorted.length - 1]} ticks (electionTick 10)`;
}

function main(): number {
  let problems = 0;
  const ticks = 2000;
  const withPreVote = lowerTermVoteLivelock(true, ticks);
  console.log(`lower-term MsgVote, preVote on:  leader ${withPreVote.leader ?? 'NONE'} (${withPreVote.state})`);
  const without = lowerTermVoteLivelock(false, ticks);
  console.log(`lower-term MsgVote, preVote off: leader ${without.leader ?? 'NONE'} after ${ticks} ticks (${without.state})`);
  if (without.leader === undefined) {
    console.log('  -> livelock: node 3 could win (node 2 would vote for it) but never learns node 2\'s term');
    problems++;
  }
  const noReport = snapshotAckLost(false, 500);
  const withReport = snapshotAckLost(true, 500);
  console.log(`snapshot ack lost, only losses reported: follower commit ${noReport.follower} / leader ${noReport.leader} after 500 ticks`);
  console.log(`snapshot ack lost, Finish reported:      follower commit ${withReport.follower} / leader ${withReport.leader}`);
  if (noReport.follower < noReport.leader) {
    console.log('  -> the follower is stranded: the leader waits in Snapshot state for a report that never comes');
    problems++;
  }
  const staleOff = staleLeaderIgnored(false, false, 2000);
  const staleCq = staleLeaderIgnored(true, false, 2000);
  const stalePv = staleLeaderIgnored(false, true, 2000);
  console.log(`stale leader, checkQuorum and preVote off: lowest commit ${staleOff.commit} after 2000 ticks (${staleOff.state})`);
  console.log(`stale leader, checkQuorum on:              lowest commit ${staleCq.commit} (${staleCq.state})`);
  console.log(`stale leader, preVote on:                  lowest commit ${stalePv.commit} (${stalePv.state})`);
  if (staleOff.commit <= 10) {
    console.log('  -> livelock: node 2 ignores the lower-term leader and cannot campaign; the leader never learns term 3');
    problems++;
  }
  const duelOn = duelingCandidates(true, 200, 5000);
  const duelOff = duelingCandidates(false, 200, 5000);
  console.log(`dueling candidates, preVote on:  ${summary(duelOn)}`);
  console.log(`dueling candidates, preVote off: ${summary(duelOff)}`);
  return problems === 0 ? 0 : 1;
}

if (require.main === module) process.exitCode = main();
