// The orderer benchmark's processes: a fresh three-node network in a temp dir on free
// 127.0.0.1 ports (orderer nodes as child processes, as `npm start` runs them), and the
// ack-only Broadcast sink used as the baseline. Every process started here is stopped by
// stop(), which the benchmark also calls on errors and on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePorts, sleep } from '../support/ports';
import { readProcessMemory, type ProcessMemory } from '../support/proc-memory';
import { readProcessCpu, type CpuTimes } from './proc-cpu';
import { makeTempDir, removeTempDir } from '../support/temp-dir';
import { closeSync, fstatSync, openSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { makeLoadEnvelope } from '../../cmd/client-load';
import type { ClientCredentials } from '../../orderer/client-credentials';
import { dialOrderer } from '../../orderer/atomic-broadcast';
import { BroadcastClient, deliverBlocks } from '../../orderer/deliver-client';
import { colocatedNodeEnv, writeDevnet, type DevnetCrypto, type DevnetLayout, type DevnetOptions } from '../../orderer/devnet';
import { common } from '../../protos';

/** How the benchmark's own connections (probes, height queries) connect and sign. */
export type BenchClient = Pick<ClientCredentials, 'signer' | 'tls' | 'channelOptions' | 'tlsCertHash'>;

export const UNSIGNED_PLAINTEXT: BenchClient = { signer: undefined, tls: undefined, channelOptions: {}, tlsCertHash: undefined };

const ORDERER_JS = path.resolve(__dirname, '../../cmd/orderer.js');
const SINK_JS = path.resolve(__dirname, 'orderer-bench-sink.js');



/** One child process with its output in a log file. */
/** The network's data dir (node configs, ledgers, logs): a temp dir this prefix names, removed at stop unless kept. */
const DATA_DIR_PREFIX = 'orderer-bench-';

export class BenchProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Set when the process ended without stop() asking it to. */
  unexpectedExit: string | undefined;
  private stopping = false;
  private startedAt = 0;
  private logOffset = 0;

  constructor(
    readonly name: string,
    readonly address: string,
    private readonly args: readonly string[],
    readonly logPath: string,
  ) {}

  /** Date.now() when start() spawned it. */
  get startedAtMs(): number {
    return this.startedAt;
  }

  /** The log's size when start() spawned it: the log is appended to, so earlier lines are an earlier process's. */
  get logOffsetBytes(): number {
    return this.logOffset;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const fd = openSync(this.logPath, 'a');
    this.logOffset = fstatSync(fd).size;
    this.startedAt = Date.now();
    const child = spawn(process.execPath, [...this.args], { stdio: ['ignore', fd, fd], env: colocatedNodeEnv() });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.stopping) this.unexpectedExit = `${this.name} exited (${signal ?? `code ${code}`}); see ${this.logPath}`;
        resolve();
      });
    });
  }

  memory(): ProcessMemory | undefined {
    return this.pid === undefined || !this.running ? undefined : readProcessMemory(this.pid);
  }

  cpu(): CpuTimes | undefined {
    return this.pid === undefined || !this.running ? undefined : readProcessCpu(this.pid);
  }

  /** SIGTERM (a graceful stop writes --cpu-prof profiles), then SIGKILL after graceMs. */
  async stop(graceMs = 8_000): Promise<void> {
    this.stopping = true;
    if (!this.running) return;
    const child = this.child as ChildProcess;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Last resort from an exit handler: synchronous, no waiting. */
  killNow(): void {
    this.stopping = true;
    if (this.running) this.child?.kill('SIGKILL');
  }
}

export interface BenchNetworkOptions {
  /** Channel config knobs handed to writeDevnet. */
  devnet: Omit<DevnetOptions, 'dataDir' | 'ports' | 'channels' | 'clusterPorts' | 'adminPorts' | 'consenterCount'>;
  channelId: string;
  /** Extra `node` flags for every orderer, e.g. ['--cpu-prof', '--cpu-prof-dir=...']. */
  nodeFlags?: readonly string[];
  /** Keep the data directory afterwards (for looking at logs). */
  keepData?: boolean;
  /** Orderer processes (default 3). */
  nodeCount?: number;
  /** How many of them (the first) are the genesis consenters; the rest are spare nodes (default: all). */
  consenterCount?: number;
  /** Give every node an Admin server (channel participation API, plaintext like the client ports). */
  adminServers?: boolean;
}

/** A fresh network in a temp dir: three consenters by default (the membership run adds a spare one). */
export class BenchNetwork {
  private constructor(
    readonly dataDir: string,
    readonly nodes: readonly BenchProcess[],
    /** The network's generated crypto material: the client identity the benchmark signs with. */
    readonly crypto: DevnetCrypto,
    /** Where each node listens (cluster and Admin ports) and keeps its TLS pair, in node order. */
    readonly layout: DevnetLayout,
    private keepData: boolean,
  ) {}

  /** Keeps the data directory (logs) when stopped, e.g. after a failure. */
  keepOnStop(): void {
    this.keepData = true;
  }

  static async create(options: BenchNetworkOptions): Promise<BenchNetwork> {
    const dataDir = makeTempDir(DATA_DIR_PREFIX);
    const nodeCount = options.nodeCount ?? 3;
    const ports = await freePorts(nodeCount * (options.adminServers === true ? 3 : 2));
    // fabric-anchor's layout: plaintext client ports, mutual TLS between the orderers on a
    // separate cluster listener, so both systems pay the same cluster costs.
    const layout = await writeDevnet({
      openAccess: true,
      ...options.devnet,
      dataDir,
      ports: ports.slice(0, nodeCount),
      clusterPorts: ports.slice(nodeCount, 2 * nodeCount),
      ...(options.adminServers === true ? { adminPorts: ports.slice(2 * nodeCount) } : {}),
      ...(options.consenterCount !== undefined ? { consenterCount: options.consenterCount } : {}),
      channels: [options.channelId],
    });
    const nodes = layout.nodes.map(
      (n) =>
        new BenchProcess(
          n.name,
          `${n.host}:${n.port}`,
          [...(options.nodeFlags ?? []), ORDERER_JS, 'start', '--config', n.configPath],
          path.join(n.dir, 'orderer.log'),
        ),
    );
    return new BenchNetwork(dataDir, nodes, layout.crypto, layout, options.keepData === true);
  }

  get addresses(): string[] {
    return this.nodes.map((n) => n.address);
  }

  start(): void {
    for (const n of this.nodes) n.start();
  }

  /** Throws if a node died. */
  checkAlive(): void {
    for (const n of this.nodes) if (n.unexpectedExit !== undefined) throw new Error(n.unexpectedExit);
  }

  /** Stops the nodes; `beforeRemoving` may still read their files (logs) before the data dir goes. */
  async stop(beforeRemoving?: () => void): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    try {
      beforeRemoving?.();
    } catch (err) {
      // The caller will say where the logs are: they stay.
      this.keepData = true;
      throw err;
    }
    if (!this.keepData) removeTempDir(this.dataDir, DATA_DIR_PREFIX);
  }

  killNow(): void {
    for (const n of this.nodes) n.killNow();
  }

  /** The leader's name, from the newest "raft leader changed" line in the node logs ('' if unknown). */
  leaderName(channelId: string): string {
    let leaderId = 0;
    for (const n of this.nodes) {
      let text = '';
      try {
        text = readFileSync(n.logPath, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        if (!line.includes('raft leader changed')) continue;
        try {
          const rec = JSON.parse(line) as { channel?: string; leader?: number };
          if (rec.channel === channelId && typeof rec.leader === 'number' && rec.leader > 0) leaderId = rec.leader;
        } catch {
          // a partial line
        }
      }
    }
    // Consenter ids follow the order of the consenters in the genesis block: node i+1.
    return leaderId > 0 ? (this.nodes[leaderId - 1]?.name ?? '') : '';
  }

  /** Profiles written by --cpu-prof into `dir`. */
  static profiles(dir: string): string[] {
    try {
      return readdirSync(dir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => path.join(dir, f));
    } catch {
      return [];
    }
  }
}

/** The ack-only Broadcast sink in its own process (like an orderer, the load generator does not share its CPU time). */
export async function startSink(logDir: string): Promise<BenchProcess> {
  const [port] = await freePorts(1);
  const sink = new BenchProcess('sink', `127.0.0.1:${port}`, [SINK_JS, '--port', String(port)], path.join(logDir, 'sink.log'));
  sink.start();
  return sink;
}

/** Sends one small envelope to `address` on a fresh stream; SUCCESS means a leader is there. */
async function probe(address: string, channelId: string, client: BenchClient): Promise<boolean> {
  const grpcClient = dialOrderer(address, { tls: client.tls, channelOptions: client.channelOptions });
  const stream = new BroadcastClient(address, { client: grpcClient });
  try {
    const response = await stream.send(makeLoadEnvelope(channelId, 16, { signer: client.signer, tlsCertHash: client.tlsCertHash }));
    return response.status === common.Status.SUCCESS;
  } catch {
    return false;
  } finally {
    stream.cancel();
    grpcClient.close();
  }
}

/** Waits until every address accepts an envelope (a leader exists and followers forward). */
export async function waitUntilServing(
  addresses: readonly string[],
  channelId: string,
  timeoutMs: number,
  check: () => void = () => undefined,
  client: BenchClient = UNSIGNED_PLAINTEXT,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const address of addresses) {
    for (;;) {
      check();
      if (await probe(address, channelId, client)) break;
      if (Date.now() > deadline) throw new Error(`${address} did not accept envelopes on ${channelId} within ${timeoutMs} ms`);
      await sleep(250);
    }
  }
}

/** The channel's height as `address` serves it now. */
export async function chainHeight(address: string, channelId: string, client: BenchClient = UNSIGNED_PLAINTEXT): Promise<number> {
  const blocks = deliverBlocks({
    address,
    channelId,
    start: 'newest',
    stop: 'newest',
    receiveTimeoutMs: 10_000,
    tls: client.tls,
    channelOptions: client.channelOptions,
    signer: client.signer,
    tlsCertHash: client.tlsCertHash,
  });
  for await (const b of blocks) return b.number + 1;
  return 0;
}

export { freePorts, sleep };
