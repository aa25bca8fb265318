// The devnet's data directory rules: npm start writes only into a directory that is new, empty or
// its own (marked), and --fresh deletes only its own, never a checkout, a home or a parent of the
// current directory. Each case leaves a canary file that must survive.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { colocatedNodeEnv, DEVNET_MARKER_FILE, DevnetDirError, lockDevnetDir, prepareDevnetDir, storedDevnetHasIdentities, storedDevnetPorts, writeDevnet } from '../../orderer/devnet';
import { genesisBlock } from '../../ledger/block';
import { buildGenesisConfigEnvelope } from '../../orderer/channelconfig';
import { common } from '../../protos';

let root: string;

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'devnet-dir-'));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function canary(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'canary.txt');
  writeFileSync(file, 'must survive');
  return file;
}

test('a new directory is created and marked as the devnet\'s', async () => {
  const dir = path.join(root, 'a', 'b');
  const prepared = await prepareDevnetDir(dir, { fresh: false });
  expect(prepared).toEqual({ state: 'new', storedPorts: undefined, adoptedLegacy: false });
  expect(readdirSync(dir)).toEqual([DEVNET_MARKER_FILE]);
});

test('an empty existing directory is taken and marked', async () => {
  const dir = path.join(root, 'empty');
  mkdirSync(dir);
  expect((await prepareDevnetDir(dir, { fresh: true })).state).toBe('new');
  expect(existsSync(path.join(dir, DEVNET_MARKER_FILE))).toBe(true);
});

test.each([false, true])('a directory with other files is refused and left untouched (fresh=%s)', async (fresh) => {
  const dir = path.join(root, 'checkout');
  const file = canary(dir);
  mkdirSync(path.join(dir, '.git'));
  await expect(prepareDevnetDir(dir, { fresh })).rejects.toThrow(DevnetDirError);
  await expect(prepareDevnetDir(dir, { fresh })).rejects.toThrow(fresh ? /refusing to delete .*not created by npm start/ : /refusing to use .*not created by npm start/);
  expect(readFileSync(file, 'utf8')).toBe('must survive');
  expect(readdirSync(dir).sort()).toEqual(['.git', 'canary.txt']);
});

test('a forged marker (wrong content or a symlink) does not make a directory ours', async () => {
  const dir = path.join(root, 'forged');
  const file = canary(dir);
  writeFileSync(path.join(dir, DEVNET_MARKER_FILE), 'hello');
  await expect(prepareDevnetDir(dir, { fresh: true })).rejects.toThrow(/refusing to delete/);
  const other = path.join(root, 'other');
  await prepareDevnetDir(other, { fresh: false });
  const linked = path.join(root, 'linked');
  const linkedCanary = canary(linked);
  symlinkSync(path.join(other, DEVNET_MARKER_FILE), path.join(linked, DEVNET_MARKER_FILE));
  await expect(prepareDevnetDir(linked, { fresh: true })).rejects.toThrow(/refusing to delete/);
  expect(existsSync(file) && existsSync(linkedCanary)).toBe(true);
});

test('--fresh deletes the devnet\'s own directory and starts it anew; without it the network resumes', async () => {
  const dir = path.join(root, 'devnet');
  await prepareDevnetDir(dir, { fresh: false });
  await writeDevnet({ dataDir: dir, ports: [17050, 18050, 19050] });
  const resumed = await prepareDevnetDir(dir, { fresh: false });
  expect(resumed.state).toBe('resumed');
  expect(resumed.storedPorts).toEqual([17050, 18050, 19050]);
  const fresh = await prepareDevnetDir(dir, { fresh: true });
  expect(fresh.state).toBe('recreated');
  expect(readdirSync(dir)).toEqual([DEVNET_MARKER_FILE]);
});

test('--fresh never deletes a marked directory that holds the current directory or a .git', async () => {
  const dir = path.join(root, 'marked');
  await prepareDevnetDir(dir, { fresh: false });
  mkdirSync(path.join(dir, '.git'));
  const file = canary(dir);
  await expect(prepareDevnetDir(dir, { fresh: true })).rejects.toThrow(/refusing to delete .*contains a \.git repository/);
  rmSync(path.join(dir, '.git'), { recursive: true });
  const inside = path.join(dir, 'work');
  mkdirSync(inside);
  const before = process.cwd();
  process.chdir(inside);
  try {
    await expect(prepareDevnetDir(dir, { fresh: true })).rejects.toThrow(/refusing to delete .*contains the current directory/);
  } finally {
    process.chdir(before);
  }
  expect(existsSync(file)).toBe(true);
});

test('a symbolic link as the data directory is refused', async () => {
  const target = path.join(root, 'target');
  await prepareDevnetDir(target, { fresh: false });
  const link = path.join(root, 'link');
  symlinkSync(target, link);
  await expect(prepareDevnetDir(link, { fresh: true })).rejects.toThrow(/symbolic link/);
  expect(existsSync(path.join(target, DEVNET_MARKER_FILE))).toBe(true);
});

test('a network written before the marker existed is recognised, marked and resumed', async () => {
  const dir = path.join(root, 'legacy');
  await writeDevnet({ dataDir: dir, ports: [27050, 28050, 29050] });
  expect(existsSync(path.join(dir, DEVNET_MARKER_FILE))).toBe(false);
  const prepared = await prepareDevnetDir(dir, { fresh: false });
  expect(prepared).toEqual({ state: 'resumed', storedPorts: [27050, 28050, 29050], adoptedLegacy: true });
  expect(existsSync(path.join(dir, DEVNET_MARKER_FILE))).toBe(true);
  // One stray file makes it no longer recognisable: refused.
  const other = path.join(root, 'legacy2');
  await writeDevnet({ dataDir: other, ports: [27050, 28050, 29050] });
  canary(other);
  await expect(prepareDevnetDir(other, { fresh: true })).rejects.toThrow(/refusing to delete/);
});

test('storedDevnetPorts reads the consenters of the stored genesis block', async () => {
  const dir = path.join(root, 'ports');
  expect(await storedDevnetPorts(dir)).toBeUndefined();
  await writeDevnet({ dataDir: dir, ports: [31000, 31001] });
  expect(await storedDevnetPorts(dir)).toEqual([31000, 31001]);
});

test('a network stored before identities existed (no consenter TLS certificates) is told apart from a current one', async () => {
  const dir = path.join(root, 'identities');
  expect(await storedDevnetHasIdentities(dir)).toBeUndefined();
  await writeDevnet({ dataDir: dir, ports: [31000, 31001, 31002] });
  expect(await storedDevnetHasIdentities(dir)).toBe(true);
  // What npm start wrote before identities: the same consenters without certificates.
  const old = path.join(root, 'old');
  mkdirSync(path.join(old, 'genesis'), { recursive: true });
  const spec = { channelId: 'mychannel', consenters: [31000, 31001, 31002].map((port) => ({ host: '127.0.0.1', port })), ordererOrgs: [{ mspId: 'OrdererMSP' }] };
  writeFileSync(path.join(old, 'genesis', 'mychannel.block'), common.Block.encode(genesisBlock({ channelId: 'mychannel', configEnvelope: buildGenesisConfigEnvelope(spec) })));
  expect(await storedDevnetHasIdentities(old)).toBe(false);
});

test('a directory a devnet or one of its nodes is running from is neither deleted nor used', async () => {
  const dir = path.join(root, 'running');
  await prepareDevnetDir(dir, { fresh: false });
  await writeDevnet({ dataDir: dir, ports: [17050, 18050, 19050] });
  // A node holds its channel's WAL lock (this process stands in for it: its pid is alive).
  const walDir = path.join(dir, 'orderer2', 'etcdraft', 'wal', 'mychannel');
  mkdirSync(walDir, { recursive: true });
  writeFileSync(path.join(walDir, 'LOCK'), JSON.stringify({ pid: process.pid, hostname: os.hostname() }));
  await expect(prepareDevnetDir(dir, { fresh: true })).rejects.toThrow(/refusing to delete .*its node orderer2 is running \(process \d+/);
  await expect(prepareDevnetDir(dir, { fresh: false })).rejects.toThrow(/refusing to use .*orderer2 is running/);
  expect(existsSync(path.join(dir, 'genesis', 'mychannel.block'))).toBe(true);
  rmSync(path.join(walDir, 'LOCK'));
  // A launcher holds the directory itself: a second one is refused, with --fresh or without.
  const lock = await lockDevnetDir(dir);
  try {
    await expect(prepareDevnetDir(dir, { fresh: true })).rejects.toThrow(/npm start is running from it/);
    await expect(lockDevnetDir(dir)).rejects.toThrow(/npm start is already running from/);
  } finally {
    await lock.release();
  }
  expect((await prepareDevnetDir(dir, { fresh: true })).state).toBe('recreated');
});

test('a devnet inside another devnet\'s directory is refused; a path the file system refuses is one clear error', async () => {
  const outer = path.join(root, 'outer');
  await prepareDevnetDir(outer, { fresh: false });
  await expect(prepareDevnetDir(path.join(outer, 'orderer1', 'new'), { fresh: false })).rejects.toThrow(/lies inside the devnet in/);
  const file = path.join(root, 'a-file');
  writeFileSync(file, 'x');
  await expect(prepareDevnetDir(path.join(file, 'sub'), { fresh: false })).rejects.toThrow(new RegExp(`cannot use ${file}/sub as the data directory: ENOTDIR`));
  await expect(prepareDevnetDir(path.join(file, 'sub'), { fresh: false })).rejects.toBeInstanceOf(DevnetDirError);
});

test('joinWith: bootstrap (default) lists the channels in General.BootstrapChannels; participation leaves them to an operator and needs Admin ports', async () => {
  const bootstrap = await writeDevnet({ dataDir: path.join(root, 'bootstrap'), ports: [17050, 18050, 19050] });
  for (const node of bootstrap.nodes) expect(readFileSync(node.configPath, 'utf8')).toContain('BootstrapChannels:\n    - name: mychannel');

  await expect(writeDevnet({ dataDir: path.join(root, 'no-admin'), ports: [17050, 18050], joinWith: 'participation' })).rejects.toThrow(/needs an Admin port for every node/);
  const joined = await writeDevnet({ dataDir: path.join(root, 'joined'), ports: [17050, 18050, 19050], adminPorts: [9443, 9444, 9445], tls: true, joinWith: 'participation' });
  for (const node of joined.nodes) {
    const yaml = readFileSync(node.configPath, 'utf8');
    expect(yaml).not.toContain('BootstrapChannels');
    expect(yaml).toContain(`Admin:\n  ListenAddress: 127.0.0.1:${node.adminPort}`);
    expect(yaml).toContain('    ClientAuthRequired: true');
    expect(yaml).toContain('ChannelParticipation:\n  Enabled: true');
    expect(yaml).toContain(`Location: ${node.ledgerDir}`);
  }
  // The genesis block an operator joins the nodes with is written all the same, and so is the
  // orderer org admin's TLS client pair osnadmin presents.
  expect(existsSync(path.join(root, 'joined', 'genesis', 'mychannel.block'))).toBe(true);
  expect(readFileSync(joined.crypto.ordererAdminTlsCertPath, 'utf8')).toContain('BEGIN CERTIFICATE');
  expect(existsSync(joined.crypto.ordererAdminTlsKeyPath)).toBe(true);
});

test('nodes started side by side get one malloc arena, unless the environment already says how many', () => {
  expect(colocatedNodeEnv({ PATH: '/bin' })).toEqual({ MALLOC_ARENA_MAX: '1', PATH: '/bin' });
  expect(colocatedNodeEnv({ MALLOC_ARENA_MAX: '4' }).MALLOC_ARENA_MAX).toBe('4');
});
