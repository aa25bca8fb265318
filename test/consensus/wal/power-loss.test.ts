// Power loss: unlike kill -9, it drops whatever the page cache held but no fsync covered. The
// test records the content of every segment file (by inode, so renames are followed) each
// time an fdatasync on it completes, and simulates a power cut as: the last synced content of
// each file, plus a random prefix of what was written after (the disk may have written some
// of it on its own). Every save that returned with mustSync must survive; nothing may be
// invented. This is what catches a missing fsync (on a Ready, or when a segment is sealed),
// which kill -9 cannot.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { raftpb } from '../../../protos';
import { Wal } from '../../../consensus/wal';
import { makeEntry, Prng } from './fixtures/workload';
import { captureLogger, makeTempDir, plain, removeDir } from './helpers';

const SEGMENT_SIZE_BYTES = 24 * 1024;

interface Durable {
  entries: raftpb.Entry[];
  hardState: raftpb.HardState;
}

/** Simulates the power cut: what a disk that honoured every fsync could hold. */
async function powerCutCopy(live: string, target: string, syncedByInode: Map<number, Buffer>, rng: Prng): Promise<void> {
  await fs.promises.rm(target, { recursive: true, force: true });
  await fs.promises.mkdir(target);
  for (const name of await fs.promises.readdir(live)) {
    const from = path.join(live, name);
    if (name === 'snap') {
      // Snapshot files are written atomically and fsynced before the WAL refers to them.
      await fs.promises.cp(from, path.join(target, name), { recursive: true });
      continue;
    }
    if (!name.endsWith('.wal')) continue; // LOCK, the half-prepared next segment
    const synced = syncedByInode.get((await fs.promises.stat(from)).ino);
    if (synced === undefined) continue; // never synced: a crash may leave nothing of it
    const current = await fs.promises.readFile(from);
    let firstDiff = 0;
    while (firstDiff < synced.length && firstDiff < current.length && synced[firstDiff] === current[firstDiff]) firstDiff++;
    // Part of what was written after the last sync may have reached the disk, in order.
    const kept = rng.int(Math.max(0, current.length - firstDiff) + 1);
    const image = Buffer.concat([synced.subarray(0, firstDiff), current.subarray(firstDiff, firstDiff + kept), synced.subarray(firstDiff + kept)]);
    await fs.promises.writeFile(path.join(target, name), image);
  }
}

describe('power loss', () => {
  let live: string;
  let crashed: string;
  beforeAll(async () => {
    live = await makeTempDir('wal-power-');
    crashed = await makeTempDir('wal-power-cut-');
  });
  afterAll(async () => {
    await removeDir(live);
    await removeDir(crashed);
  });

  it('keeps every save that returned with mustSync, and invents nothing', async () => {
    const seed = process.env.WAL_POWER_SEED !== undefined ? Number(process.env.WAL_POWER_SEED) : Math.floor(Math.random() * 1e9);
    const rng = new Prng(seed);
    const syncedByInode = new Map<number, Buffer>();
    const realFs = jest.requireActual<typeof fs>('node:fs');
    const realFdatasync = realFs.fdatasync;
    const spy = jest.spyOn(realFs, 'fdatasync').mockImplementation(((fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => {
      realFdatasync(fd, (err) => {
        if (err === null) {
          const filePath = fs.readlinkSync(`/proc/self/fd/${fd}`);
          if (filePath.endsWith('.wal') || filePath.endsWith('.wal.tmp')) syncedByInode.set(fs.fstatSync(fd).ino, fs.readFileSync(filePath));
        }
        callback(err);
      });
    }) as typeof fs.fdatasync);

    const { logger } = captureLogger();
    const opts = { logger, segmentSizeBytes: SEGMENT_SIZE_BYTES, snapshotsToKeep: 2 };
    let checks = 0;
    try {
      const { wal } = await Wal.open(live, opts);
      let log: raftpb.Entry[] = [];
      let hardState: raftpb.HardState = { term: 1, vote: 1, commit: 0 };
      let durable: Durable = { entries: [], hardState: { term: 0, vote: 0, commit: 0 } };
      let laterHardStates: raftpb.HardState[] = [];
      let snapshotIndex = 0;
      for (let step = 0; step < 400; step++) {
        const lastIndex = log.at(-1)?.index ?? snapshotIndex;
        const roll = rng.int(100);
        if (roll < 25 && hardState.commit < lastIndex) {
          // Commit-only hard state: Raft does not need it synced.
          hardState = { ...hardState, commit: hardState.commit + 1 + rng.int(lastIndex - hardState.commit) };
          await wal.save(hardState, [], false);
          laterHardStates.push(hardState);
        } else if (roll < 30 && hardState.commit > snapshotIndex) {
          snapshotIndex = hardState.commit;
          const term = log.find((e) => e.index === snapshotIndex)!.term;
          await wal.saveSnapshot({ data: Buffer.from(`s${snapshotIndex}`), metadata: { index: snapshotIndex, term, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } });
          log = log.filter((e) => e.index > snapshotIndex);
          durable = { ...durable, entries: durable.entries.filter((e) => e.index > snapshotIndex) };
        } else {
          const batch: raftpb.Entry[] = [];
          for (let i = 1, n = 1 + rng.int(12); i <= n; i++) batch.push(makeEntry(seed, lastIndex + i, hardState.term));
          hardState = { ...hardState, commit: Math.min(lastIndex + batch.length, hardState.commit + rng.int(3)) };
          await wal.save(hardState, batch, true);
          log = [...log, ...batch];
          durable = { entries: log, hardState };
          laterHardStates = [];
        }

        if (step % 37 === 36) {
          await powerCutCopy(live, crashed, syncedByInode, rng);
          const opened = await Wal.open(crashed, { ...opts, logger: captureLogger().logger });
          await opened.wal.close();
          const recoveredSnapshot = opened.snapshot?.metadata.index ?? 0;
          const context = `seed ${seed} step ${step}: replay with WAL_POWER_SEED=${seed} npx jest test/consensus/wal/power-loss`;
          expect({ context, entries: plain(opened.entries) }).toEqual({
            context,
            entries: plain(durable.entries.filter((e) => e.index > recoveredSnapshot)),
          });
          const allowed = [durable.hardState, ...laterHardStates].map((h) => ({ ...h, commit: Math.max(h.commit, recoveredSnapshot) }));
          expect(allowed).toContainEqual(opened.hardState);
          checks++;
        }
      }
      await wal.close();
    } finally {
      spy.mockRestore();
    }
    expect(checks).toBe(10);
  });
});
