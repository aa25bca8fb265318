#!/usr/bin/env node
// `npm start`: a local three-node network on 127.0.0.1 in three OS processes, serving
// the channel "mychannel". Data lives under ./data/devnet; a second run resumes from it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { COLOCATED_NODE_FLAGS, writeDevnet, type DevnetLayout } from '../orderer/devnet';

const USAGE = `usage: npm start [-- --fresh] [--dir DIR] [--log-level LEVEL]

Starts three orderers (127.0.0.1:7050, 8050, 9050) serving channel "mychannel".
  --fresh        delete the stored data first and start from a new genesis block
  --dir DIR      data directory (default ./data/devnet)
  --log-level L  debug | info | warn | error (default info); logs go to DIR/ordererN/orderer.log
  --ports A,B,C  client/cluster ports of the three nodes (default 7050,8050,9050)`;

interface Args {
  fresh: boolean;
  dataDir: string;
  logLevel: string;
  ports: number[] | undefined;
}

function parseArgs(argv: string[]): Args | undefined {
  const args: Args = { fresh: false, dataDir: path.resolve('data', 'devnet'), logLevel: 'info', ports: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--fresh') args.fresh = true;
    else if (a === '--dir') args.dataDir = path.resolve(argv[++i] ?? '');
    else if (a === '--log-level') args.logLevel = argv[++i] ?? 'info';
    else if (a === '--ports') {
      const ports = (argv[++i] ?? '').split(',').map((p) => Number(p));
      if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p <= 0 || p > 65535)) throw new Error('--ports takes comma-separated port numbers');
      args.ports = ports;
    } else if (a === '--help' || a === '-h') return undefined;
    else throw new Error(`unknown argument ${JSON.stringify(a)}`);
  }
  return args;
}

function banner(layout: DevnetLayout, resumed: boolean): string {
  const first = layout.nodes[0]!;
  const lines = [
    '',
    `  Fabric Raft ordering service: local network (${resumed ? 'resumed from' : 'new, data in'} ${layout.dataDir})`,
    '',
    '  node        endpoint (Broadcast, Deliver, Cluster)   log',
    ...layout.nodes.map((n) => `  ${n.name.padEnd(10)}  ${`${n.host}:${n.port}`.padEnd(40)} ${path.join(n.dir, 'orderer.log')}`),
    '',
    `  channel: ${layout.channels.join(', ')}`,
    '',
    '  send 1000 test transactions of 1 KB on 4 streams:',
    `    node dist/cmd/client.js broadcast --orderer ${first.host}:${first.port} --channel ${layout.channels[0]} -n 1000 --size 1024 -c 4`,
    '  watch the blocks:',
    `    node dist/cmd/client.js deliver --orderer ${first.host}:${first.port} --channel ${layout.channels[0]} --start oldest --stop forever`,
    '',
    '  Ctrl-C stops all three nodes.',
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<number> {
  let args: Args | undefined;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (args === undefined) {
    console.log(USAGE);
    return 0;
  }
  if (args.fresh) await rm(args.dataDir, { recursive: true, force: true });
  const { access } = await import('node:fs/promises');
  const resumed = await access(path.join(args.dataDir, 'genesis')).then(() => true, () => false);
  const layout = await writeDevnet({ dataDir: args.dataDir, logLevel: args.logLevel, ...(args.ports !== undefined ? { ports: args.ports } : {}) });
  const ordererJs = path.join(__dirname, 'orderer.js');
  const children: ChildProcess[] = [];
  let stopping = false;
  const exited = layout.nodes.map((node) => {
    const log = createWriteStream(path.join(node.dir, 'orderer.log'), { flags: 'a' });
    const child = spawn(process.execPath, [...COLOCATED_NODE_FLAGS, ordererJs, 'start', '--config', node.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    children.push(child);
    return new Promise<number>((resolve) => {
      child.on('exit', (code, signal) => {
        if (!stopping) console.error(`${node.name} exited unexpectedly (${signal ?? `code ${code}`}); see ${path.join(node.dir, 'orderer.log')}`);
        resolve(code ?? 1);
      });
    });
  });
  console.log(banner(layout, resumed));
  const stopAll = (signal: NodeJS.Signals): void => {
    if (stopping) {
      for (const c of children) c.kill('SIGKILL');
      return;
    }
    stopping = true;
    console.log(`\nstopping the network (${signal})...`);
    for (const c of children) c.kill('SIGTERM');
  };
  process.on('SIGINT', () => stopAll('SIGINT'));
  process.on('SIGTERM', () => stopAll('SIGTERM'));
  const codes = await Promise.all(exited);
  if (stopping) console.log('all nodes stopped; run npm start again to resume.');
  return codes.every((c) => c === 0) && stopping ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
