// The building blocks on their own: quorum arithmetic, inflights, progress transitions,
// the unstable log, the raft log's conflict search, the seeded rng.
import { raftpb } from '../../../protos';
import { MemoryStorage, ProgressState, RaftInvariantError, SeededRng } from '../../../consensus/raft';
import { Inflights } from '../../../consensus/raft/inflights';
import { RaftLog } from '../../../consensus/raft/log';
import { Progress } from '../../../consensus/raft/progress';
import { majorityCommittedIndex, majorityVoteResult, VoteResult } from '../../../consensus/raft/quorum';
import { Unstable } from '../../../consensus/raft/unstable';

const ent = (index: number, term: number): raftpb.Entry => ({ type: raftpb.EntryType.EntryNormal, term, index, data: new Uint8Array(0) });
const silent = { debug() {}, info() {}, warn() {} };

describe('quorum', () => {
  test('committed index is the highest index a majority has', () => {
    const match = new Map([[1, 5], [2, 3], [3, 9], [4, 1], [5, 7]]);
    expect(majorityCommittedIndex([1, 2, 3, 4, 5], (id) => match.get(id)!)).toBe(5);
    expect(majorityCommittedIndex([1, 2, 3], (id) => match.get(id)!)).toBe(5);
    expect(majorityCommittedIndex([1, 2], (id) => match.get(id)!)).toBe(3);
    expect(majorityCommittedIndex([3], (id) => match.get(id)!)).toBe(9);
    expect(majorityCommittedIndex([], () => 0)).toBe(0);
  });

  test('vote result: won, lost, or still pending', () => {
    const v = (entries: Array<[number, boolean]>): Map<number, boolean> => new Map(entries);
    expect(majorityVoteResult([1, 2, 3], v([[1, true], [2, true]]))).toBe(VoteResult.Won);
    expect(majorityVoteResult([1, 2, 3], v([[1, true], [2, false]]))).toBe(VoteResult.Pending);
    expect(majorityVoteResult([1, 2, 3], v([[1, true], [2, false], [3, false]]))).toBe(VoteResult.Lost);
    expect(majorityVoteResult([1, 2, 3, 4], v([[1, true], [2, true]]))).toBe(VoteResult.Pending);
    expect(majorityVoteResult([1, 2, 3, 4], v([[1, true], [2, false], [3, false]]))).toBe(VoteResult.Lost);
  });
});

describe('inflights', () => {
  test('a bounded window freed by acknowledgements, wrapping around', () => {
    const inf = new Inflights(3);
    inf.add(5);
    inf.add(7);
    inf.add(9);
    expect(inf.full()).toBe(true);
    expect(() => inf.add(10)).toThrow(RaftInvariantError);
    inf.freeLE(6);
    expect(inf.count).toBe(2);
    inf.add(11);
    inf.freeLE(4);
    expect(inf.count).toBe(3);
    inf.freeLE(9);
    expect(inf.count).toBe(1);
    inf.add(12);
    inf.add(13);
    expect(inf.full()).toBe(true);
    inf.freeLE(12);
    expect(inf.count).toBe(1);
    inf.freeLE(100);
    expect(inf.count).toBe(0);
    expect(() => new Inflights(0)).toThrow(RangeError);
  });
});

describe('progress', () => {
  test('probe: one message at a time; a rejection of the probe in flight moves next back', () => {
    const pr = new Progress(10, 4, false);
    pr.sentEntries(2);
    expect(pr.isPaused()).toBe(true);
    expect(pr.maybeDecrTo(5, 3)).toBe(false); // stale: not the probe at next-1 = 9
    expect(pr.maybeDecrTo(9, 3)).toBe(true);
    expect(pr.next).toBe(4);
    expect(pr.isPaused()).toBe(false);
    expect(pr.maybeDecrTo(3, 0)).toBe(true);
    expect(pr.next).toBe(1);
  });

  test('replicate: optimistic next, stale rejections ignored, rejection falls back to match+1', () => {
    const pr = new Progress(1, 2, false);
    pr.maybeUpdate(4);
    pr.becomeReplicate();
    expect(pr.next).toBe(5);
    pr.sentEntries(3);
    pr.sentEntries(2);
    expect([pr.next, pr.isPaused()]).toEqual([10, true]);
    expect(pr.maybeDecrTo(4, 0)).toBe(false);
    expect(pr.maybeUpdate(7)).toBe(true);
    pr.inflights.freeLE(7);
    expect(pr.isPaused()).toBe(false);
    expect(pr.maybeDecrTo(8, 0)).toBe(true);
    expect(pr.next).toBe(8);
  });

  test('snapshot: paused until reported; probe resumes after the snapshot', () => {
    const pr = new Progress(1, 2, false);
    pr.becomeSnapshot(20);
    expect([pr.state, pr.isPaused(), pr.next]).toEqual([ProgressState.Snapshot, true, 21]);
    pr.becomeProbe();
    expect([pr.state, pr.next]).toEqual([ProgressState.Probe, 21]);
    expect(pr.canBumpCommit(30)).toBe(false);
  });
});

describe('unstable log', () => {
  test('truncate-and-append, in-progress hand out, and stableTo that respects replaced entries', () => {
    const u = new Unstable(5);
    u.truncateAndAppend([ent(5, 1), ent(6, 1), ent(7, 1)]);
    expect(u.nextEntries().map((e) => e.index)).toEqual([5, 6, 7]);
    u.acceptInProgress();
    expect(u.hasNextEntries()).toBe(false);
    u.truncateAndAppend([ent(7, 2), ent(8, 2)]);
    // 7 was replaced: it must be handed out again.
    expect(u.nextEntries().map((e) => `${e.index}/${e.term}`)).toEqual(['7/2', '8/2']);
    u.stableTo(7, 1); // the old 7 is gone: ignored
    expect(u.offset).toBe(5);
    u.stableTo(6, 1);
    expect(u.offset).toBe(7);
    expect(u.maybeTerm(6)).toBeUndefined();
    expect(u.maybeTerm(8)).toBe(2);
    u.truncateAndAppend([ent(3, 3)]);
    expect([u.offset, u.entries.length, u.offsetInProgress]).toEqual([3, 1, 3]);
  });
});

describe('raft log', () => {
  test('findConflictByTerm finds the last index whose term is <= the given term', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1), ent(2, 1), ent(3, 2), ent(4, 2), ent(5, 4), ent(6, 4)]);
    const log = new RaftLog(s, silent, 0);
    expect(log.findConflictByTerm(6, 5)).toEqual([6, 4]);
    expect(log.findConflictByTerm(6, 3)).toEqual([4, 2]);
    expect(log.findConflictByTerm(6, 1)).toEqual([2, 1]);
    expect(log.findConflictByTerm(6, 0)).toEqual([0, 0]);
    s.compact(3);
    const compacted = new RaftLog(s, silent, 0);
    expect(compacted.findConflictByTerm(6, 1)).toEqual([2, 0]);
  });

  test('isUpToDate compares last term, then last index (§5.4.1)', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1), ent(2, 2), ent(3, 2)]);
    const log = new RaftLog(s, silent, 0);
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
    expect(log.isUpToDate(1, 3)).toBe(true);
    expect(log.isUpToDate(9, 1)).toBe(false);
  });
});

describe('seeded rng', () => {
  test('same seed, same sequence; values in range', () => {
    const a = new SeededRng(42);
    const b = new SeededRng(42);
    const xs = Array.from({ length: 100 }, () => a.nextInt(10));
    expect(Array.from({ length: 100 }, () => b.nextInt(10))).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 10)).toBe(true);
    expect(new Set(xs).size).toBe(10);
    expect(() => a.nextInt(0)).toThrow(RangeError);
  });
});
