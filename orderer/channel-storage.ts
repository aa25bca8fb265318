// Where one orderer's channels live on disk: the genesis block files of General.BootstrapChannels,
// the storage roots (FileLedger.Location, Consensus.WALDir / SnapDir), the channels found by their
// ledgers, the join blocks of joins under way (pendingops/join), and the deletion of one channel's
// directories, each checked to be that channel's own.
import type { Dirent } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { access, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { mkdirDurable, writeFileAtomic } from '../consensus/wal/fsutil';
import { channelStoreDir, openBlockStore } from '../ledger/lmdb-block-store';
import { common } from '../protos';
import { isValidChannelId, parseConfigBlock, type ChannelSettings } from './channelconfig';
import { ConfigChannelAccess } from './policies/channel-access';

export interface ChannelBootstrap {
  readonly name: string;
  /** A config block file (the channel's genesis block) used when the ledger is empty. */
  readonly genesisBlockPath: string;
}

/** The storage roots a node's channels live under. */
export type StorageRoots = { readonly ledgerDir: string; readonly walDir: string; readonly snapDir: string };

/**
 * The channel's genesis block from its file, checked before anything is written: a file that is
 * missing, not a block, not block 0, not a channel config, or for another channel fails the start
 * naming the config key and the file, and the channel's ledger stays untouched (a wrong block
 * written there would fail every later start, even after the file is fixed).
 */
export async function readGenesisBlock(ch: ChannelBootstrap): Promise<common.Block> {
  // No `cause` on these: the reason already carries its words, and pino would print them twice.
  const fail = (reason: string, _cause?: unknown): never => {
    throw new Error(`General.BootstrapChannels (${ch.name}): ${ch.genesisBlockPath} ${reason}`);
  };
  let bytes: Buffer;
  try {
    bytes = await readFile(ch.genesisBlockPath);
  } catch (err) {
    return fail(`cannot be read: ${(err as Error).message}`, err);
  }
  let block: common.Block;
  try {
    block = common.Block.decode(bytes);
  } catch (err) {
    return fail(`is not a block (${(err as Error).message})`, err);
  }
  if (block.header === undefined || (block.data?.data.length ?? 0) === 0) return fail(`is not a block (${bytes.length} bytes, no header or no data)`);
  if (block.header.number !== 0) return fail(`is block ${block.header.number}, not a genesis block (block 0)`);
  let settings: ChannelSettings;
  try {
    settings = parseConfigBlock(block);
  } catch (err) {
    return fail(`is not a valid channel config block: ${(err as Error).message}`, err);
  }
  if (settings.channelId !== ch.name) fail(`is the genesis block of channel ${settings.channelId}, not ${ch.name}`);
  try {
    // Its MSPs and policies must build too (a root certificate that is not PEM, a policy type we
    // cannot evaluate): the channel could serve nobody, and the block must not reach the ledger.
    ConfigChannelAccess.fromConfig(settings.channelId, settings.config);
  } catch (err) {
    return fail(`is not a valid channel config block: ${(err as Error).message}`, err);
  }
  return block;
}

/** A storage directory named by the config cannot be created or written: names the key and the path. */
export class StorageDirError extends Error {
  override readonly name = 'StorageDirError';
  constructor(
    readonly configKey: string,
    readonly dir: string,
    cause: unknown,
    reason = (cause as Error | undefined)?.message ?? String(cause),
  ) {
    // No `cause`: the reason already carries its words, and pino would print them twice.
    super(`${configKey} (${dir}) cannot be used: ${reason}`);
    this.code = (cause as NodeJS.ErrnoException | undefined)?.code;
  }

  /** The file system's error code (ENOTDIR, EACCES...). */
  readonly code: string | undefined;
}

/**
 * Creates the storage roots the config names, durably (a directory created just before a power
 * loss must still be there after it), and checks they are writable, so a wrong path fails at start
 * with the config key and the path rather than later with a bare stack.
 */
export async function ensureDirs(options: StorageRoots): Promise<void> {
  const dirs: [string, string][] = [
    ['FileLedger.Location', options.ledgerDir],
    ['Consensus.WALDir', options.walDir],
    ['Consensus.SnapDir', options.snapDir],
  ];
  for (const [key, dir] of dirs) {
    try {
      await mkdirDurable(dir);
      await access(dir, fsConstants.W_OK | fsConstants.X_OK);
    } catch (err) {
      // mkdir -p on a path that is a regular file says EEXIST; say what is wrong instead.
      const isFile = (err as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(dir).then((st) => !st.isDirectory(), () => false));
      throw new StorageDirError(key, dir, err, isFile ? `${dir} exists and is not a directory` : undefined);
    }
  }
}

/** Channels with a ledger directory under <FileLedger.Location>/chains (those joined through the participation API among them). */
export async function ledgerChannels(ledgerDir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(path.dirname(channelStoreDir(ledgerDir, 'x')), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return entries.filter((e) => e.isDirectory() && isValidChannelId(e.name)).map((e) => e.name).sort();
}

export async function ledgerExists(ledgerDir: string, channelId: string): Promise<boolean> {
  return stat(channelStoreDir(ledgerDir, channelId)).then(() => true, () => false);
}

/**
 * Deletes one channel's ledger, WAL and snapshot directories. Each path is checked before it is
 * deleted: a direct child, named for the channel, of the root the config names (a channel id
 * cannot be "." or ".." or hold a slash, isValidChannelId).
 */
export async function removeChannelData(options: StorageRoots, channelId: string): Promise<void> {
  if (!isValidChannelId(channelId)) throw new Error(`refusing to delete the data of an invalid channel id ${JSON.stringify(channelId)}`);
  const targets: [string, string][] = [
    [path.dirname(channelStoreDir(options.ledgerDir, channelId)), channelStoreDir(options.ledgerDir, channelId)],
    [options.walDir, path.join(options.walDir, channelId)],
    [options.snapDir, path.join(options.snapDir, channelId)],
  ];
  for (const [root, dir] of targets) {
    if (path.resolve(path.dirname(dir)) !== path.resolve(root) || path.basename(dir) !== channelId) throw new Error(`refusing to delete ${dir}: not the directory of channel ${channelId} under ${root}`);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Join blocks of joins not finished yet: <FileLedger.Location>/pendingops/join/<channel>.join (as Fabric keeps them). */
function pendingJoinDir(ledgerDir: string): string {
  return path.join(ledgerDir, 'pendingops', 'join');
}

export async function writePendingJoin(ledgerDir: string, channelId: string, block: common.Block): Promise<void> {
  const dir = pendingJoinDir(ledgerDir);
  await mkdirDurable(dir);
  await writeFileAtomic(path.join(dir, `${channelId}.join`), common.Block.encode(block));
}

export async function deletePendingJoin(ledgerDir: string, channelId: string): Promise<void> {
  if (!isValidChannelId(channelId)) return;
  await rm(path.join(pendingJoinDir(ledgerDir), `${channelId}.join`), { force: true });
}

/** The join blocks of interrupted joins, by channel. A file that is not a config block of its channel stops the start (naming it). */
export async function pendingJoins(ledgerDir: string): Promise<Map<string, common.Block>> {
  const out = new Map<string, common.Block>();
  let names: string[];
  try {
    names = await readdir(pendingJoinDir(ledgerDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  for (const file of names.sort()) {
    if (!file.endsWith('.join')) continue;
    const channelId = file.slice(0, -'.join'.length);
    const full = path.join(pendingJoinDir(ledgerDir), file);
    let block: common.Block;
    try {
      block = common.Block.decode(await readFile(full));
      if (parseConfigBlock(block).channelId !== channelId) throw new Error(`it holds a config block of another channel`);
    } catch (err) {
      throw new Error(`${full}: the join block of an interrupted join cannot be used: ${(err as Error).message}`, { cause: err });
    }
    out.set(channelId, block);
  }
  return out;
}

/** Blocks in a channel's ledger (opened and closed again). */
export async function ledgerHeight(ledgerDir: string, channelId: string, logger: Logger): Promise<number> {
  const store = await openBlockStore({ dir: ledgerDir, channelId, logger });
  try {
    return store.height();
  } finally {
    await store.close();
  }
}
