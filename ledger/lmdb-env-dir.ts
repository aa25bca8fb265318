// Removing an LMDB environment directory that the store can rebuild (the tx-id index). A recursive
// delete of a computed path is one wrong argument away from deleting a ledger or a home directory,
// so nothing here recurses: the directory must be exactly the expected child of the expected
// parent, a real directory (not a symlink), and hold only the two files LMDB writes, each a
// regular file. Anything else is refused with the names of what was found, and nothing is removed.
import fs = require('node:fs');
import path from 'node:path';
import { fsyncDirSync } from './durable-dir';
import { BlockStoreError } from './errors';

/** The files LMDB keeps in an environment directory (data, and the reader/writer lock table). */
const LMDB_ENV_FILES: ReadonlySet<string> = new Set(['data.mdb', 'lock.mdb']);

/**
 * Removes `<parentDir>/<name>` if it is an LMDB environment directory and nothing else, then makes
 * the removal durable. Does nothing when it does not exist. Throws BlockStoreError('refused-delete')
 * when it holds anything LMDB did not write.
 */
export function removeLmdbEnvDir(parentDir: string, name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes(path.sep)) {
    throw new BlockStoreError('refused-delete', `refusing to delete ${JSON.stringify(name)} under ${parentDir}: not a plain directory name`);
  }
  const dir = path.join(parentDir, name);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isDirectory()) {
    throw new BlockStoreError('refused-delete', `refusing to delete ${dir}: it is ${stat.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}, not the LMDB directory the store wrote`);
  }
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  const unexpected = entries.filter((e) => !LMDB_ENV_FILES.has(e.name) || !e.isFile()).map((e) => e.name);
  if (unexpected.length > 0) {
    throw new BlockStoreError(
      'refused-delete',
      `refusing to delete ${dir}: besides LMDB's data.mdb and lock.mdb it holds ${unexpected.sort().join(', ')}; move those away and start again`,
    );
  }
  for (const entry of entries) fs.unlinkSync(path.join(dir, entry.name));
  // rmdir, not rm -r: a file that appeared since the listing makes this fail instead of vanishing.
  fs.rmdirSync(dir);
  fsyncDirSync(parentDir);
}
