// MemoryStorage: the Storage contract that the WAL-backed storage must also meet.
import { raftpb } from '../../../protos';
import {
  CompactedError,
  MemoryStorage,
  RaftError,
  SnapshotOutOfDateError,
  UnavailableError,
  entrySizeBytes,
} from '../../../consensus/raft';

const ent = (index: number, term: number, data = ''): raftpb.Entry => ({
  type: raftpb.EntryType.EntryNormal,
  term,
  index,
  data: new TextEncoder().encode(data),
});
const cs: raftpb.ConfState = { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

/** Storage holding a compaction point at 3 (term 3) and entries 4..5 (terms 4, 5). */
function storage345(): MemoryStorage {
  const s = new MemoryStorage();
  s.append([ent(1, 1), ent(2, 2), ent(3, 3), ent(4, 4), ent(5, 5)]);
  s.compact(3);
  return s;
}
const ids = (es: raftpb.Entry[]): string[] => es.map((e) => `${e.index}/${e.term}`);

describe('MemoryStorage', () => {
  test('an empty storage: first 1, last 0, term(0) = 0', () => {
    const s = new MemoryStorage();
    expect([s.firstIndex(), s.lastIndex(), s.term(0)]).toEqual([1, 0, 0]);
    expect(s.initialState()).toEqual({ hardState: { term: 0, vote: 0, commit: 0 }, confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } });
    expect(() => s.term(1)).toThrow(UnavailableError);
  });

  test('term(): compacted below the dummy entry, unavailable past the end', () => {
    const s = storage345();
    expect(() => s.term(2)).toThrow(CompactedError);
    expect([s.term(3), s.term(4), s.term(5)]).toEqual([3, 4, 5]);
    expect(() => s.term(6)).toThrow(UnavailableError);
    expect([s.firstIndex(), s.lastIndex()]).toEqual([4, 5]);
  });

  test('entries(): bounds, and maxBytes keeps at least one entry', () => {
    const s = storage345();
    expect(() => s.entries(3, 5, Infinity)).toThrow(CompactedError);
    expect(() => s.entries(4, 7, Infinity)).toThrow(UnavailableError);
    expect(ids(s.entries(4, 6, Infinity))).toEqual(['4/4', '5/5']);
    expect(ids(s.entries(4, 6, 0))).toEqual(['4/4']);
    const one = entrySizeBytes(ent(4, 4));
    expect(ids(s.entries(4, 6, one))).toEqual(['4/4']);
    expect(ids(s.entries(4, 6, one * 2))).toEqual(['4/4', '5/5']);
  });

  test('append(): overlapping entries replace the conflicting suffix', () => {
    const cases: Array<[raftpb.Entry[], string[]]> = [
      [[ent(4, 4), ent(5, 5)], ['3/3', '4/4', '5/5']],
      [[ent(4, 4), ent(5, 6), ent(6, 6)], ['3/3', '4/4', '5/6', '6/6']],
      [[ent(4, 5)], ['3/3', '4/5']],
      [[ent(6, 5)], ['3/3', '4/4', '5/5', '6/5']],
      // Entries at or below the compaction point are ignored.
      [[ent(2, 3), ent(3, 3), ent(4, 5)], ['3/3', '4/5']],
      [[ent(1, 1), ent(2, 2)], ['3/3', '4/4', '5/5']],
    ];
    for (const [input, want] of cases) {
      const s = storage345();
      s.append(input);
      expect(ids(s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity))).toEqual(want.slice(1));
      expect(s.term(3)).toBe(3);
    }
    const s = storage345();
    expect(() => s.append([ent(7, 5)])).toThrow(RaftError);
  });

  test('compact(): the entry at the compaction index becomes the dummy', () => {
    const s = storage345();
    expect(() => s.compact(3)).toThrow(CompactedError);
    expect(() => s.compact(6)).toThrow(UnavailableError);
    s.compact(4);
    expect([s.firstIndex(), s.lastIndex(), s.term(4)]).toEqual([5, 5, 4]);
  });

  test('createSnapshot() and applySnapshot()', () => {
    const s = storage345();
    const snap = s.createSnapshot(4, cs, new Uint8Array([9]));
    expect(snap.metadata).toEqual({ index: 4, term: 4, confState: cs });
    expect(s.snapshot()).toBe(snap);
    expect(s.initialState().confState).toEqual(cs);
    expect(() => s.createSnapshot(4, cs, new Uint8Array(0))).toThrow(SnapshotOutOfDateError);
    expect(() => s.createSnapshot(9, cs, new Uint8Array(0))).toThrow(UnavailableError);
    // Creating a snapshot does not compact: the caller decides how much log to keep.
    expect(s.firstIndex()).toBe(4);

    const t = new MemoryStorage();
    t.applySnapshot({ data: new Uint8Array(0), metadata: { index: 10, term: 7, confState: cs } });
    expect([t.firstIndex(), t.lastIndex(), t.term(10)]).toEqual([11, 10, 7]);
    expect(() => t.applySnapshot({ data: new Uint8Array(0), metadata: { index: 10, term: 7, confState: cs } })).toThrow(SnapshotOutOfDateError);
    t.append([ent(11, 7)]);
    expect(t.lastIndex()).toBe(11);
  });

  test('hard state round trip', () => {
    const s = new MemoryStorage();
    s.setHardState({ term: 3, vote: 2, commit: 1 });
    expect(s.initialState().hardState).toEqual({ term: 3, vote: 2, commit: 1 });
  });
});
