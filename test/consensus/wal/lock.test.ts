import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Wal, WalLockedError } from '../../../consensus/wal';
import { assertChildBuilt, Child } from './child';
import { captureLogger, entries, makeTempDir, removeDir, WARN, SMALL_SEGMENTS } from './helpers';

describe('directory lock', () => {
  let dir: string;
  beforeAll(() => {
    assertChildBuilt();
  });
  beforeEach(async () => {
    dir = await makeTempDir('wal-lock-');
  });
  afterEach(async () => {
    await Child.killAll();
    await removeDir(dir);
  });

  it('refuses a second process, naming the holder pid; after the holder is killed -9 the stale lock is taken over', async () => {
    const child = new Child([dir, '1', '0', 'hold']);
    await child.waitForEvents(1);

    const { logger, lines } = captureLogger();
    const err = await Wal.open(dir, { logger, ...SMALL_SEGMENTS }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WalLockedError);
    expect((err as WalLockedError).holderPid).toBe(child.pid);
    expect((err as WalLockedError).message).toContain(`locked by process ${child.pid}`);

    await child.kill9();
    const opened = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    expect(lines.some((l) => l.level === WARN && /stale WAL lock/.test(l.msg))).toBe(true);
    await opened.wal.save({ term: 1, vote: 1, commit: 1 }, entries(1, 1, 1), true);
    await opened.wal.close();
    expect(fs.existsSync(path.join(dir, 'LOCK'))).toBe(false);
  });

  it('treats a lock whose pid now belongs to a process started at another time as stale (pid reuse)', async () => {
    // pid 1 is alive, but its start time differs from the one recorded.
    await fs.promises.writeFile(path.join(dir, 'LOCK'), JSON.stringify({ pid: 1, startTime: '1', hostname: os.hostname() }));
    const { logger } = captureLogger();
    const opened = await Wal.open(dir, { logger, ...SMALL_SEGMENTS });
    await opened.wal.close();
  });

  it('respects a lock held by a live process recorded without a start time', async () => {
    await fs.promises.writeFile(path.join(dir, 'LOCK'), JSON.stringify({ pid: process.ppid, startTime: null, hostname: os.hostname() }));
    const { logger } = captureLogger();
    await expect(Wal.open(dir, { logger, ...SMALL_SEGMENTS })).rejects.toBeInstanceOf(WalLockedError);
  });
});
