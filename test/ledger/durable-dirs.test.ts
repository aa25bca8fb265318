// New ledger, channel and tx-id index directories must survive a power loss: after each mkdir the
// parent directory is fsynced, and after LMDB creates its files in a new directory that directory
// is fsynced too. The fsyncs are observed through spies on the fs module the ledger calls.
import fs = require('node:fs');
import path from 'node:path';
import { channelStoreDir, openBlockStore, TX_INDEX_DIR } from '../../ledger';
import { mkdirDurableSync } from '../../ledger/durable-dir';
import { silentLogger, tempDir } from './helpers';

let tmp: ReturnType<typeof tempDir>;

beforeEach(() => {
  tmp = tempDir('durable');
});

afterEach(() => {
  jest.restoreAllMocks();
  tmp.remove();
});

/** Records the paths of directories (opened read-only) whose descriptor was fsynced. */
function watchDirFsyncs(): { synced: string[] } {
  const opened = new Map<number, string>();
  const synced: string[] = [];
  const realOpen = fs.openSync;
  jest.spyOn(fs, 'openSync').mockImplementation(((p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode | null) => {
    const fd = realOpen(p, flags ?? 'r', mode);
    opened.set(fd, String(p));
    return fd;
  }) as typeof fs.openSync);
  const realFsync = fs.fsyncSync;
  jest.spyOn(fs, 'fsyncSync').mockImplementation((fd: number) => {
    const p = opened.get(fd);
    if (p !== undefined && fs.statSync(p).isDirectory()) synced.push(path.resolve(p));
    realFsync(fd);
  });
  return { synced };
}

test('mkdirDurableSync fsyncs the parent of every directory it creates, and nothing when all exist', () => {
  const { synced } = watchDirFsyncs();
  const deep = path.join(tmp.dir, 'a', 'b', 'c');
  expect(mkdirDurableSync(deep)).toBe(path.join(tmp.dir, 'a'));
  expect(synced.sort()).toEqual([tmp.dir, path.join(tmp.dir, 'a'), path.join(tmp.dir, 'a', 'b')].sort());
  synced.length = 0;
  expect(mkdirDurableSync(deep)).toBeUndefined();
  expect(synced).toEqual([]);
});

test('opening a new store under a new ledger root fsyncs every new directory entry: root, chains, channel, txindex and their files', async () => {
  const root = path.join(tmp.dir, 'ledger');
  const channelDir = channelStoreDir(root, 'durable');
  const { synced } = watchDirFsyncs();
  const store = await openBlockStore({ dir: root, channelId: 'durable', logger: silentLogger });
  await store.close();
  const expected = [
    tmp.dir, // holds the new ledger root
    root, // holds chains/
    path.join(root, 'chains'), // holds the channel directory
    channelDir, // holds data.mdb, lock.mdb and txindex/
    path.join(channelDir, TX_INDEX_DIR), // holds the index's data.mdb and lock.mdb
  ];
  for (const dir of expected) expect(synced).toContain(dir);

  // Reopening creates nothing, so it syncs no directory.
  synced.length = 0;
  const again = await openBlockStore({ dir: root, channelId: 'durable', logger: silentLogger });
  await again.close();
  expect(synced).toEqual([]);
});

test('a block file LMDB creates again in an existing channel directory gets its directory entry fsynced', async () => {
  const channelDir = channelStoreDir(tmp.dir, 'durable');
  const store = await openBlockStore({ dir: tmp.dir, channelId: 'durable', logger: silentLogger });
  await store.close();
  fs.rmSync(path.join(channelDir, 'data.mdb'));
  const { synced } = watchDirFsyncs();
  const again = await openBlockStore({ dir: tmp.dir, channelId: 'durable', logger: silentLogger });
  await again.close();
  expect(synced).toContain(channelDir);
});

test('a failing directory fsync fails the open instead of reporting a channel that may not survive a crash', async () => {
  jest.spyOn(fs, 'fsyncSync').mockImplementationOnce(() => {
    throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
  });
  await expect(openBlockStore({ dir: path.join(tmp.dir, 'ledger'), channelId: 'durable', logger: silentLogger })).rejects.toThrow(/EIO/);
});
