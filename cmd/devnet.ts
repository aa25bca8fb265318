#!/usr/bin/env node
// `npm start`: a local network of orderers on 127.0.0.1 in separate OS processes, serving the
// channel "mychannel". Data lives under ./data/devnet; a second run resumes from it. The channel
// is created as an operator creates one: the nodes start with no channel and are joined to it
// through the channel participation API (what osnadmin channel join does) with its genesis block.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  COLOCATED_NODE_FLAGS,
  colocatedNodeEnv,
  DEVNET_MARKER_FILE,
  DEVNET_PORTS,
  devnetAdminClient,
  DevnetDirError,
  devnetNodeHasLedger,
  lockDevnetDir,
  prepareDevnetDir,
  storedDevnetHasIdentities,
  writeDevnet,
  type DevnetLayout,
  type DevnetNode,
} from '../orderer/devnet';
import { AdminRequestError, joinChannel, listChannels, type AdminClientOptions } from '../orderer/participation/admin-client';
import { exitReason } from './exit-reason';

/** The first node's Admin port; the others follow it (9443, 9444, 9445). */
export const DEVNET_ADMIN_PORT_BASE = 9443;
/** The first node's operations port (Fabric's sample uses 8443 and 9443 for Operations and Admin). */
export const DEVNET_OPERATIONS_PORT_BASE = 8443;

const USAGE = `usage: npm start [-- [--fresh] [--dir DIR] [--ports A,B,C] [--admin-ports A,B,C] [--operations-ports A,B,C] [--log-level LEVEL]]

Starts one orderer per port (default three: 127.0.0.1:7050, 8050, 9050) and joins each to channel
"mychannel" through its channel participation API (Admin endpoint) when the network is new.
  --fresh        delete the stored network first and start from a new genesis block; only a
                 directory that npm start created itself (it holds a ${DEVNET_MARKER_FILE} marker)
                 is ever deleted
  --dir DIR      data directory (default ./data/devnet); must be new, empty, or made by npm start
  --ports A,B,C  client/cluster ports of the nodes (default ${DEVNET_PORTS.join(',')}); a stored network
                 keeps the ports it was created with (its consenters are in its genesis block)
  --admin-ports A,B,C
                 Admin (channel participation API) ports, one per node (default ${DEVNET_ADMIN_PORT_BASE}, ${DEVNET_ADMIN_PORT_BASE + 1},
                 ... one per client port); they may change from run to run
  --operations-ports A,B,C
                 operations endpoint ports (/healthz, /version, /logspec, /metrics), one per
                 node (default ${DEVNET_OPERATIONS_PORT_BASE}, ${DEVNET_OPERATIONS_PORT_BASE + 1}, ...); npm run status reads them
  --log-level L  trace | debug | info | warn | error | fatal (default info); logs go to
                 DIR/ordererN/orderer.log

A relative DIR is taken from the directory npm start was run in.`;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/**
 * How long a node may take from its spawn until its Admin endpoint answers. On a new network it
 * opens no channel first, so this is Node's start-up and reading its MSP and TLS files; the
 * margin is for a machine loaded by other work.
 */
const ADMIN_READY_TIMEOUT_MS = 30_000;
const ADMIN_POLL_INTERVAL_MS = 200;

/** A second signal this soon after the first is the same Ctrl-C, delivered twice (terminal and npm). */
const DUPLICATE_SIGNAL_WINDOW_MS = 2_000;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface DevnetArgs {
  fresh: boolean;
  dataDir: string;
  logLevel: string;
  ports: number[] | undefined;
  adminPorts: number[] | undefined;
  operationsPorts: number[] | undefined;
}

/** The value after a flag; a missing one or another flag in its place is an error, never "". */
function flagValue(argv: readonly string[], i: number, flag: string, what: string): string {
  const value = argv[i + 1];
  if (value === undefined || value.length === 0 || value.startsWith('--')) throw new UsageError(`${flag} needs ${what}`);
  return value;
}

/**
 * `npm start` runs us in the package root whatever directory it was typed in; npm keeps that
 * directory in INIT_CWD, and a relative --dir means relative to it, as the user sees it.
 */
function userCwd(): string {
  const initCwd = process.env['INIT_CWD'];
  return initCwd !== undefined && initCwd.length > 0 && path.isAbsolute(initCwd) ? initCwd : process.cwd();
}

function parsePortList(flag: string, text: string): number[] {
  const ports = text.split(',').map((p) => (/^\d+$/.test(p.trim()) ? Number(p.trim()) : NaN));
  if (ports.some((p) => !Number.isInteger(p) || p <= 0 || p > 65535)) throw new UsageError(`${flag} takes comma-separated port numbers, got ${JSON.stringify(text)}`);
  if (new Set(ports).size !== ports.length) throw new UsageError(`${flag} has a port twice: ${text}`);
  return ports;
}

export function parseDevnetArgs(argv: readonly string[]): DevnetArgs | undefined {
  const args: DevnetArgs = { fresh: false, dataDir: path.resolve('data', 'devnet'), logLevel: 'info', ports: undefined, adminPorts: undefined, operationsPorts: undefined };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    // --flag=value is the same as --flag value.
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const a = eq > 0 ? raw.slice(0, eq) : raw;
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined;
    const take = (what: string): string => {
      if (inline !== undefined) {
        if (inline.length === 0) throw new UsageError(`${a} needs ${what}`);
        return inline;
      }
      const v = flagValue(argv, i, a, what);
      i++;
      return v;
    };
    if (a === '--fresh' && inline === undefined) args.fresh = true;
    else if (a === '--dir') args.dataDir = path.resolve(userCwd(), take('a directory'));
    else if (a === '--log-level') {
      const level = take('a level');
      if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
      args.logLevel = level;
    } else if (a === '--ports') args.ports = parsePortList(a, take('comma-separated port numbers'));
    else if (a === '--admin-ports') args.adminPorts = parsePortList(a, take('comma-separated port numbers'));
    else if (a === '--operations-ports') args.operationsPorts = parsePortList(a, take('comma-separated port numbers'));
    else if (a === '--help' || a === '-h') return undefined;
    else throw new UsageError(`unknown argument ${JSON.stringify(raw)}`);
  }
  if (args.ports !== undefined && args.adminPorts !== undefined) {
    if (args.adminPorts.length !== args.ports.length) throw new UsageError(`--admin-ports needs one port per node: ${args.ports.length} client ports, ${args.adminPorts.length} Admin ports`);
    const shared = args.adminPorts.filter((p) => args.ports!.includes(p));
    if (shared.length > 0) throw new UsageError(`--admin-ports and --ports share ${shared.join(',')}: every listener needs a port of its own`);
  }
  return args;
}

/**
 * The Admin ports for `clientPorts`: the given ones (checked against the node count, which a
 * stored network fixes), else DEVNET_ADMIN_PORT_BASE and up, one per node. Throws UsageError.
 */
export function devnetAdminPorts(clientPorts: readonly number[], given: readonly number[] | undefined): number[] {
  return listenerPorts('Admin', '--admin-ports', DEVNET_ADMIN_PORT_BASE, clientPorts, given, []);
}

/** The operations ports, as devnetAdminPorts, also kept apart from the Admin ports. Throws UsageError. */
export function devnetOperationsPorts(clientPorts: readonly number[], adminPorts: readonly number[], given: readonly number[] | undefined): number[] {
  return listenerPorts('operations', '--operations-ports', DEVNET_OPERATIONS_PORT_BASE, clientPorts, given, adminPorts);
}

function listenerPorts(what: string, flag: string, base: number, clientPorts: readonly number[], given: readonly number[] | undefined, otherPorts: readonly number[]): number[] {
  const ports = given !== undefined ? [...given] : clientPorts.map((_, i) => base + i);
  if (ports.length !== clientPorts.length) throw new UsageError(`${flag} needs one port per node: the network has ${clientPorts.length} nodes, ${ports.length} ${what} ports given`);
  const shared = ports.filter((p) => clientPorts.includes(p) || otherPorts.includes(p));
  if (shared.length > 0) {
    throw new UsageError(
      `${what} port${shared.length === 1 ? '' : 's'} ${shared.join(',')} ${shared.length === 1 ? 'is' : 'are'} also a client or Admin port of the network (${[...clientPorts, ...otherPorts].join(',')}); choose others with ${flag}`,
    );
  }
  return ports;
}

function countWord(n: number): string {
  return ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'][n] ?? String(n);
}

function banner(layout: DevnetLayout, state: 'new' | 'resumed' | 'recreated'): string {
  const first = layout.nodes[0]!;
  const n = layout.nodes.length;
  const identity = `--mspid ${layout.crypto.clientMspId} --msp-dir ${layout.crypto.clientMspDir} --tls-ca ${layout.crypto.ordererTlsCaPath}`;
  const channel = layout.channels[0]!;
  // osnadmin's TLS flags: the Admin servers require a client certificate from the orderer org's TLS CA.
  const adminTls = `--ca-file ${layout.crypto.ordererTlsCaPath} --client-cert ${layout.crypto.ordererAdminTlsCertPath} --client-key ${layout.crypto.ordererAdminTlsKeyPath}`;
  const adminAddress = `${first.host}:${first.adminPort ?? '?'}`;
  const lines = [
    '',
    `  Fabric Raft ordering service: local network of ${countWord(n)} node${n === 1 ? '' : 's'} (${state === 'resumed' ? 'resumed from' : 'new, data in'} ${layout.dataDir})`,
    '',
    '  node        endpoint (Broadcast, Deliver, Cluster)   Admin (participation)   operations        log',
    ...layout.nodes.map(
      (node) =>
        `  ${node.name.padEnd(10)}  ${`${node.host}:${node.port}`.padEnd(40)} ${`${node.host}:${node.adminPort ?? '-'}`.padEnd(23)} ${`${node.host}:${node.operationsPort ?? '-'}`.padEnd(17)} ${path.join(node.dir, 'orderer.log')}`,
    ),
    '',
    `  channel: ${layout.channels.join(', ')}  (policies enforced: only members of Org1MSP and OrdererMSP write and read; blocks signed by the orderers)`,
    `  genesis block: ${path.join(layout.dataDir, 'genesis', `${channel}.block`)}`,
    '',
    '  TLS on every port. Client identity (User1 of Org1MSP) and the TLS CA that signed the orderers\' certificates:',
    `    MSP folder  ${layout.crypto.clientMspDir}`,
    `    certificate ${layout.crypto.clientCertPath}`,
    `    key         ${layout.crypto.clientKeyPath}`,
    `    TLS CA      ${layout.crypto.ordererTlsCaPath}`,
    '',
    // Only members of the channel's organisations may write and read: the commands sign as User1.
    '  send 1000 test transactions of 1 KB on 4 streams, signed by the client identity:',
    `    node dist/cmd/client.js broadcast --orderer ${first.host}:${first.port} --channel ${layout.channels[0]} -n 1000 --size 1024 -c 4 ${identity}`,
    '  watch the blocks:',
    `    node dist/cmd/client.js deliver --orderer ${first.host}:${first.port} --channel ${layout.channels[0]} --start oldest --stop forever ${identity}`,
    '',
    '  Admin endpoints: mutual TLS; osnadmin trusts the TLS CA above and presents the orderer org admin\'s TLS client pair:',
    `    certificate ${layout.crypto.ordererAdminTlsCertPath}`,
    `    key         ${layout.crypto.ordererAdminTlsKeyPath}`,
    `  list ${first.name}'s channels (osnadmin; add -c ${channel} for one channel's height and status):`,
    `    node dist/cmd/osnadmin.js channel list -o ${adminAddress} ${adminTls}`,
    `  join a node to ${channel} (what npm start does for each node of a new network; a node that has it answers 405):`,
    `    node dist/cmd/osnadmin.js channel join -c ${channel} -b ${path.join(layout.dataDir, 'genesis', `${channel}.block`)} -o ${adminAddress} ${adminTls}`,
    '',
    '  the cluster at a glance, refreshed live (role, term, height, envelopes/s, p99, memory per node):',
    `    npm run status${layout.dataDir === path.resolve('data', 'devnet') ? '' : ` -- --devnet ${layout.dataDir}`}`,
    `  health and metrics of ${first.name} (operations endpoint; /metrics and /logspec want the admin TLS pair):`,
    `    curl --cacert ${layout.crypto.ordererTlsCaPath} https://${first.host}:${first.operationsPort ?? '?'}/healthz`,
    `    curl --cacert ${layout.crypto.ordererTlsCaPath} --cert ${layout.crypto.ordererAdminTlsCertPath} --key ${layout.crypto.ordererAdminTlsKeyPath} https://${first.host}:${first.operationsPort ?? '?'}/metrics`,
    '',
    `  Ctrl-C stops ${n === 1 ? 'the node' : n === 2 ? 'both nodes' : `all ${countWord(n)} nodes`}.`,
    '',
  ];
  return lines.join('\n');
}

type JoinOutcome = 'joined' | 'failed' | 'cancelled';

/**
 * Waits until `admin` answers an HTTP request (any status): the node then serves the API.
 * Returns why it did not, or 'cancelled' when the launcher began to stop meanwhile.
 */
async function awaitAdminEndpoint(admin: AdminClientOptions, child: ChildProcess, cancelled: () => boolean): Promise<string | undefined> {
  const deadlineMs = Date.now() + ADMIN_READY_TIMEOUT_MS;
  let lastError = 'no answer yet';
  for (;;) {
    if (cancelled()) return 'cancelled';
    if (child.exitCode !== null || child.signalCode !== null) return 'the node exited before its Admin endpoint answered (its reason is above)';
    try {
      await listChannels(admin);
      return undefined;
    } catch (err) {
      if (!(err instanceof AdminRequestError)) throw err;
      lastError = err.message;
    }
    if (Date.now() >= deadlineMs) return `its Admin endpoint ${admin.address} did not answer within ${ADMIN_READY_TIMEOUT_MS / 1000} s (${lastError})`;
    await new Promise((resolve) => setTimeout(resolve, ADMIN_POLL_INTERVAL_MS));
  }
}

/** The `error` of a participation API error body, else the body as text. */
function answerText(body: Buffer): string {
  const text = body.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // Not JSON: shown as it came.
  }
  return text.length > 0 ? text : '(empty answer)';
}

/**
 * Joins `node` to the channel of `blockBytes` as `osnadmin channel join` does (POST of the block
 * as multipart part config-block, mutual TLS with the orderer org admin's TLS pair) and prints one
 * progress line, "joining orderer1 to mychannel… 201 active", or why it failed.
 */
async function joinNode(layout: DevnetLayout, node: DevnetNode, channelId: string, blockBytes: Buffer, child: ChildProcess, cancelled: () => boolean): Promise<JoinOutcome> {
  const progress = `joining ${node.name} to ${channelId}…`;
  let reason: string;
  try {
    const admin = devnetAdminClient(layout, node, true);
    const notReady = await awaitAdminEndpoint(admin, child, cancelled);
    if (notReady === 'cancelled') return 'cancelled';
    if (notReady === undefined) {
      const answer = await joinChannel(admin, blockBytes);
      if (answer.status === 201) {
        const info = JSON.parse(answer.body.toString('utf8')) as { status?: unknown };
        console.log(`${progress} ${answer.status} ${String(info.status)}`);
        return 'joined';
      }
      reason = `the node answered ${answer.status}: ${answerText(answer.body)}`;
    } else {
      reason = notReady;
    }
  } catch (err) {
    reason = err instanceof Error ? err.message : String(err);
  }
  console.log(`${progress} failed`);
  console.error(`npm start: could not join ${node.name} to ${channelId}: ${reason}`);
  return 'failed';
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

async function main(): Promise<number> {
  let args: DevnetArgs | undefined;
  try {
    args = parseDevnetArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`npm start: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (args === undefined) {
    console.log(USAGE);
    return 0;
  }
  let prepared;
  let lock: { release(): Promise<void> };
  try {
    prepared = await prepareDevnetDir(args.dataDir, { fresh: args.fresh });
    lock = await lockDevnetDir(args.dataDir);
  } catch (err) {
    if (!(err instanceof DevnetDirError)) throw err;
    console.error(`npm start: ${err.message}`);
    return 2;
  }
  if (prepared.adoptedLegacy) console.log(`recognised ${args.dataDir} as a network written by an earlier npm start; marked it as the devnet's`);
  let ports = args.ports;
  const stored = prepared.storedPorts;
  if (stored !== undefined) {
    if (ports !== undefined && ports.join(',') !== stored.join(',')) {
      console.error(
        `npm start: ${args.dataDir} holds a network created with --ports ${stored.join(',')}. Its nodes are the channel's consenters, ` +
          'named by host:port in its genesis block, and config updates that could move them are not implemented yet. ' +
          `Run without --ports (or with --ports ${stored.join(',')}) to resume it, add --fresh to start a new network on ${ports.join(',')}, ` +
          'or use another --dir.',
      );
      await lock.release();
      return 2;
    }
    ports = [...stored];
    if ((await storedDevnetHasIdentities(args.dataDir)) === false) {
      console.error(
        `npm start: ${args.dataDir} holds a network created by an earlier npm start, before identities and TLS: its genesis block ` +
          'names no TLS certificates for its consenters, so its nodes cannot run with TLS and enforced policies. ' +
          'Add --fresh to start a new network there (its ledgers are deleted), or use another --dir.',
      );
      await lock.release();
      return 2;
    }
  }
  let adminPorts: number[];
  let operationsPorts: number[];
  try {
    adminPorts = devnetAdminPorts(ports ?? DEVNET_PORTS, args.adminPorts);
    operationsPorts = devnetOperationsPorts(ports ?? DEVNET_PORTS, adminPorts, args.operationsPorts);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`npm start: ${err.message}`);
    await lock.release();
    return 2;
  }
  // The channels are not in General.BootstrapChannels: the nodes start without them and are
  // joined below, through the participation API, unless they have them on disk already.
  const layout = await writeDevnet({ dataDir: args.dataDir, logLevel: args.logLevel, tls: true, adminPorts, operationsPorts, metricsProvider: 'prometheus', joinWith: 'participation', ...(ports !== undefined ? { ports } : {}) });
  // Decided before the nodes start (a join creates the ledger): a resumed network has its
  // ledgers and joins nothing; a node that missed its join (a failed run) is joined now.
  const toJoin = layout.channels.flatMap((channelId) =>
    layout.nodes.map((node, index) => ({ node, index, channelId })).filter(({ node }) => node.consenter && !devnetNodeHasLedger(node, channelId)),
  );
  const ordererJs = path.join(__dirname, 'orderer.js');
  const children: ChildProcess[] = [];
  let stopping = false;
  let firstSignalAtMs = 0;
  /** Nodes still running when the stop began: only their exit codes say whether it was clean. */
  const runningAtStop = new Set<number>();
  const exited = layout.nodes.map((node, index) => {
    const logPath = path.join(node.dir, 'orderer.log');
    // The log is appended to across runs: only what this run wrote explains this run's exit.
    const logStart = fileSize(logPath);
    // The node writes its log straight into the file (not through this launcher), so the log goes
    // on, and says how the node stopped, even if this launcher dies.
    const logFd = openSync(logPath, 'a');
    // Each node in a process group of its own, so a Ctrl-C in the terminal reaches only this
    // launcher, which then stops every node with exactly one SIGTERM (a second signal would make
    // a node stop at once, without closing its WAL and ledger). Their stdin is a pipe from us:
    // should this launcher die without stopping them, it closes and they stop on their own.
    const child = spawn(process.execPath, [...COLOCATED_NODE_FLAGS, ordererJs, 'start', '--config', node.configPath, '--stop-on-stdin-eof'], {
      stdio: ['pipe', logFd, logFd],
      detached: true,
      env: colocatedNodeEnv(),
    });
    closeSync(logFd);
    // A node that exits closes its end of the pipe; writing to it must not kill the launcher.
    child.stdin?.on('error', () => undefined);
    children.push(child);
    return new Promise<{ index: number; code: number }>((resolve) => {
      child.on('exit', (code, signal) => {
        if (!stopping || code !== 0) {
          const reason = exitReason(logPath, logStart);
          const how = signal ?? `code ${code}`;
          console.error(`${node.name} exited${stopping ? '' : ' unexpectedly'} (${how}): ${reason ?? 'no error in its log'}`);
          console.error(`  log: ${logPath}`);
        }
        resolve({ index, code: code ?? 1 });
      });
    });
  });
  const stopAll = (signal: string): void => {
    const nowMs = Date.now();
    if (stopping) {
      // The terminal sends Ctrl-C to the whole foreground group and npm forwards it again: one key
      // press arrives here twice. Only a later, deliberate second Ctrl-C forces the stop.
      if (nowMs - firstSignalAtMs < DUPLICATE_SIGNAL_WINDOW_MS) return;
      console.log(`${signal} again: stopping the nodes at once (SIGKILL)`);
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      return;
    }
    stopping = true;
    firstSignalAtMs = nowMs;
    children.forEach((c, i) => {
      if (c.exitCode === null && c.signalCode === null) runningAtStop.add(i);
    });
    console.log(`\nstopping the network (${signal})...`);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  };
  process.on('SIGINT', () => stopAll('SIGINT'));
  process.on('SIGTERM', () => stopAll('SIGTERM'));
  let joinFailed = false;
  for (const { node, index, channelId } of toJoin) {
    const block = readFileSync(path.join(layout.dataDir, 'genesis', `${channelId}.block`));
    const outcome = await joinNode(layout, node, channelId, block, children[index]!, () => stopping);
    if (outcome === 'joined') continue;
    if (outcome === 'failed') {
      joinFailed = true;
      // A network whose channel is missing on a node is not the one the banner would describe.
      if (!stopping) stopAll(`${channelId} is not on every node`);
    }
    break;
  }
  if (!stopping) console.log(banner(layout, prepared.state));
  const results = await Promise.all(exited);
  await lock.release();
  if (joinFailed) {
    console.log(`stopped. The next npm start joins the nodes that have no ledger for ${layout.channels.join(', ')} (--fresh starts over).`);
    return 1;
  }
  if (!stopping) {
    console.error('every node has exited; the network is down.');
    return 1;
  }
  const clean = results.filter((r) => runningAtStop.has(r.index)).every((r) => r.code === 0);
  const failedEarlier = results.some((r) => !runningAtStop.has(r.index));
  if (!clean) console.log('stopped; some nodes did not stop cleanly (see above).');
  else console.log(`all ${failedEarlier ? 'running ' : ''}nodes stopped; run npm start again to resume.`);
  return clean && !failedEarlier ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
