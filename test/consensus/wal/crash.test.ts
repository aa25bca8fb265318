// kill -9 at random points: a child process persists Readys in a loop and reports each
// operation before starting it and "done" once it returned. After each SIGKILL the WAL is
// reopened here and must hold every operation reported done (exact bytes), plus at most a
// prefix of the one in flight, and nothing else. Several rounds run on the same directory,
// each continuing from what the previous one left.
//
// Replay a failure with the printed seed: WAL_CRASH_SEED=<seed> npx jest test/consensus/wal/crash
// (the workload repeats exactly; kill timing depends on the machine).
import type { raftpb } from '../../../protos';
import { Wal } from '../../../consensus/wal';
import { assertChildBuilt, Child, CHILD_SCRIPT } from './child';
import { captureLogger, makeTempDir, removeDir } from './helpers';
import { CHILD_SEGMENT_SIZE_BYTES, makeEntry, makeSnapshot, Prng, type ChildEvent } from './fixtures/workload';

const ROUNDS = 8;

interface Model {
  /** Term of every live entry above the snapshot index. */
  terms: Map<number, number>;
  lastIndex: number;
  snapshotIndex: number;
  hardState: raftpb.HardState;
}

type Op = Exclude<ChildEvent, { t: 'open' } | { t: 'done' }>;

function cloneModel(m: Model): Model {
  return { terms: new Map(m.terms), lastIndex: m.lastIndex, snapshotIndex: m.snapshotIndex, hardState: { ...m.hardState } };
}

/** Applies an operation, or only its first `entryCount` entries (a torn write keeps a prefix). */
function apply(m: Model, op: Op, entryCount?: number): void {
  if (op.t === 'snap') {
    m.snapshotIndex = op.index;
    return;
  }
  if (op.t === 'install') {
    m.terms = new Map([[op.index, op.term]]);
    m.lastIndex = op.index;
    m.snapshotIndex = op.index;
    m.hardState = op.hs;
    return;
  }
  const count = entryCount ?? op.count;
  if (count > 0) {
    for (let i = op.first; i <= m.lastIndex; i++) m.terms.delete(i);
    for (let i = 0; i < count; i++) m.terms.set(op.first + i, op.term);
    m.lastIndex = op.first + count - 1;
  }
  if (entryCount === undefined) m.hardState = op.hs;
}

function describeEntries(m: Model, fromIndex: number): string[] {
  const out: string[] = [];
  for (let i = fromIndex; i <= m.lastIndex; i++) out.push(`${i}:${m.terms.get(i)}`);
  return out;
}

describe('kill -9 during saves', () => {
  let dir: string;
  beforeAll(async () => {
    assertChildBuilt();
    dir = await makeTempDir('wal-crash-');
  });
  afterAll(async () => {
    await Child.killAll();
    await removeDir(dir);
  });

  it('loses nothing reported durable and invents nothing, over several kill rounds', async () => {
    const seed = process.env.WAL_CRASH_SEED !== undefined ? Number(process.env.WAL_CRASH_SEED) : Math.floor(Math.random() * 1e9);
    const timing = new Prng(seed ^ 0x5bd1e995);
    let model: Model = { terms: new Map(), lastIndex: 0, snapshotIndex: 0, hardState: { term: 0, vote: 0, commit: 0 } };
    let totalDone = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const child = new Child([dir, String(seed), String(round)]);
      const replay = `seed ${seed}, round ${round}: replay with WAL_CRASH_SEED=${seed} npx jest test/consensus/wal/crash` +
        ` (child: node ${CHILD_SCRIPT} <dir> ${seed} ${round})`;
      try {
        await child.waitForEvents(1);
        // Let it run a random while, then kill it wherever it is.
        await new Promise((r) => setTimeout(r, 40 + timing.int(300)));
        await child.kill9();

        const events = child.events;
        expect(events[0]!.t).toBe('open');
        // Completed operations, and the one in flight when the kill came (if any).
        const expected = cloneModel(model);
        const laterHardStates: raftpb.HardState[] = [];
        let pending: Op | undefined;
        for (let k = 1; k < events.length; k++) {
          const ev = events[k]!;
          if (ev.t === 'done') {
            apply(expected, pending!);
            if (pending!.t === 'install' || (pending!.t === 'save' && pending!.sync)) laterHardStates.length = 0;
            else if (pending!.t === 'save') laterHardStates.push(pending!.hs);
            pending = undefined;
            totalDone++;
          } else if (ev.t !== 'open') {
            pending = ev;
          }
        }

        const { logger } = captureLogger();
        const opened = await Wal.open(dir, { logger, segmentSizeBytes: CHILD_SEGMENT_SIZE_BYTES, snapshotsToKeep: 2 });
        await opened.wal.close();
        const recoveredSnapshotIndex = opened.snapshot?.metadata.index ?? 0;

        // Snapshot: the last one reported done, or the one in flight.
        const allowedSnapshots = [expected.snapshotIndex];
        if (pending?.t === 'snap' || pending?.t === 'install') allowedSnapshots.push(pending.index);
        expect(allowedSnapshots).toContain(recoveredSnapshotIndex);
        if (opened.snapshot !== undefined) {
          const { index, term } = opened.snapshot.metadata;
          expect(Buffer.from(opened.snapshot.data).equals(Buffer.from(makeSnapshot(seed, index, term).data))).toBe(true);
        }

        // Entries: exactly the expected log (with a prefix of the in-flight batch, if any).
        const candidates: Model[] = [expected];
        if (pending?.t === 'install') {
          const c = cloneModel(expected);
          apply(c, pending);
          candidates.push(c);
        }
        if (pending?.t === 'save' && pending.count > 0) {
          for (let j = 1; j <= pending.count; j++) {
            const c = cloneModel(expected);
            apply(c, pending, j);
            candidates.push(c);
          }
        }
        const got = opened.entries.map((e) => `${e.index}:${e.term}`);
        const match = candidates.find((c) => JSON.stringify(describeEntries(c, recoveredSnapshotIndex + 1)) === JSON.stringify(got));
        expect({ entries: got, matchesAnAllowedOutcome: match !== undefined }).toEqual({
          entries: got,
          matchesAnAllowedOutcome: true,
        });
        for (const e of opened.entries) {
          const want = makeEntry(seed, e.index, e.term);
          expect({ index: e.index, bytesEqual: Buffer.from(e.data).equals(Buffer.from(want.data)) }).toEqual({ index: e.index, bytesEqual: true });
        }

        // Hard state: the last durable one or a later one (unsynced or in flight), never older.
        // (Replay raises commit to the snapshot index: a snapshot holds only committed entries.)
        const allowedHardStates = [expected.hardState, ...laterHardStates];
        if (pending?.t === 'save' || pending?.t === 'install') allowedHardStates.push(pending.hs);
        const raised = allowedHardStates.map((h) => ({ ...h, commit: Math.max(h.commit, recoveredSnapshotIndex) }));
        expect(raised).toContainEqual(opened.hardState);
        expect(opened.hardState.term).toBeGreaterThanOrEqual(model.hardState.term);
        expect(opened.hardState.commit).toBeGreaterThanOrEqual(model.hardState.commit);

        // The next round continues from what was recovered.
        const next: Model = { terms: new Map(), lastIndex: match!.lastIndex, snapshotIndex: recoveredSnapshotIndex, hardState: opened.hardState };
        if (opened.snapshot !== undefined) next.terms.set(recoveredSnapshotIndex, opened.snapshot.metadata.term);
        for (const e of opened.entries) next.terms.set(e.index, e.term);
        model = next;
      } catch (err) {
        await child.kill9();
        const message = err instanceof Error ? err.message : String(err);
        throw new Error(`${message}\n${replay}\nchild stderr: ${child.stderr}`);
      }
      // The child logs warnings as JSON on stderr (e.g. a snapshot file left by a crash before its
      // WAL write); anything else there (an error, a stack) is a failure.
      const unexpected = child.stderr
        .split('\n')
        .filter((line) => line.length > 0)
        .filter((line) => {
          try {
            return (JSON.parse(line) as { level?: number }).level !== 40;
          } catch {
            return true;
          }
        });
      expect(unexpected).toEqual([]);
    }
    // The rounds did real work (not all killed before their first save).
    expect(totalDone).toBeGreaterThan(ROUNDS);
  });
});
