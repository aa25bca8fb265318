#!/usr/bin/env node
// `npm start`: a local network of orderers on 127.0.0.1 in separate OS processes, serving the
// channel "mychannel". Data lives under ./data/devnet; a second run resumes from it.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import { COLOCATED_NODE_FLAGS, DEVNET_MARKER_FILE, DEVNET_PORTS, DevnetDirError, lockDevnetDir, prepareDevnetDir, storedDevnetHasIdentities, writeDevnet, type DevnetLayout } from '../orderer/devnet';
import { exitReason } from './exit-reason';

const USAGE = `usage: npm start [-- [--fresh] [--dir DIR] [--ports A,B,C] [--log-level LEVEL]]

Starts one orderer per port (default three: 127.0.0.1:7050, 8050, 9050) serving channel "mychannel".
  --fresh        delete the stored network first and start from a new genesis block; only a
                 directory that npm start created itself (it holds a ${DEVNET_MARKER_FILE} marker)
                 is ever deleted
  --dir DIR      data directory (default ./data/devnet); must be new, empty, or made by npm start
  --ports A,B,C  client/cluster ports of the nodes (default ${DEVNET_PORTS.join(',')}); a stored network
                 keeps the ports it was created with (its consenters are in its genesis block)
  --log-level L  trace | debug | info | warn | error | fatal (default info); logs go to
                 DIR/ordererN/orderer.log

A relative DIR is taken from the directory npm start was run in.`;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

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

export function parseDevnetArgs(argv: readonly string[]): DevnetArgs | undefined {
  const args: DevnetArgs = { fresh: false, dataDir: path.resolve('data', 'devnet'), logLevel: 'info', ports: undefined };
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
    } else if (a === '--ports') {
      const text = take('comma-separated port numbers');
      const ports = text.split(',').map((p) => (/^\d+$/.test(p.trim()) ? Number(p.trim()) : NaN));
      if (ports.some((p) => !Number.isInteger(p) || p <= 0 || p > 65535)) throw new UsageError(`--ports takes comma-separated port numbers, got ${JSON.stringify(text)}`);
      if (new Set(ports).size !== ports.length) throw new UsageError(`--ports has a port twice: ${text}`);
      args.ports = ports;
    } else if (a === '--help' || a === '-h') return undefined;
    else throw new UsageError(`unknown argument ${JSON.stringify(raw)}`);
  }
  return args;
}

function countWord(n: number): string {
  return ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'][n] ?? String(n);
}

function banner(layout: DevnetLayout, state: 'new' | 'resumed' | 'recreated'): string {
  const first = layout.nodes[0]!;
  const n = layout.nodes.length;
  const identity = `--mspid ${layout.crypto.clientMspId} --msp-dir ${layout.crypto.clientMspDir} --tls-ca ${layout.crypto.ordererTlsCaPath}`;
  const lines = [
    '',
    `  Fabric Raft ordering service: local network of ${countWord(n)} node${n === 1 ? '' : 's'} (${state === 'resumed' ? 'resumed from' : 'new, data in'} ${layout.dataDir})`,
    '',
    '  node        endpoint (Broadcast, Deliver, Cluster)   log',
    ...layout.nodes.map((node) => `  ${node.name.padEnd(10)}  ${`${node.host}:${node.port}`.padEnd(40)} ${path.join(node.dir, 'orderer.log')}`),
    '',
    `  channel: ${layout.channels.join(', ')}  (policies enforced: only members of Org1MSP and OrdererMSP write and read; blocks signed by the orderers)`,
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
    `  Ctrl-C stops ${n === 1 ? 'the node' : n === 2 ? 'both nodes' : `all ${countWord(n)} nodes`}.`,
    '',
  ];
  return lines.join('\n');
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
  const layout = await writeDevnet({ dataDir: args.dataDir, logLevel: args.logLevel, tls: true, ...(ports !== undefined ? { ports } : {}) });
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
  console.log(banner(layout, prepared.state));
  const stopAll = (signal: NodeJS.Signals): void => {
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
  const results = await Promise.all(exited);
  await lock.release();
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
