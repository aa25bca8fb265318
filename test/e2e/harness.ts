// Real-process test harness: orderer nodes as child processes on 127.0.0.1, data in a
// temp dir, clients over real gRPC. Every process a test starts is stopped by stopAll().
import type * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePorts, sleep } from '../support/ports';
import { waitFor } from '../support/wait';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { blockDataHash, blockHeaderHash, envelopeTxIdOrEmpty } from '../../ledger/block';
import { bytesEqual } from '../../ledger/hash';
import { deliverBlocks, type DeliveredBlock, BroadcastClient } from '../../orderer/deliver-client';
import { writeDevnet, type DevnetLayout, type DevnetOptions } from '../../orderer/devnet';
import { buildEnvelope, type EnvelopeSigner } from '../../orderer/envelopes';
import { common, orderer } from '../../protos';

const ORDERER_JS = path.resolve(__dirname, '../../dist/cmd/orderer.js');


export class NodeProcess {
  private child: ChildProcess | undefined;
  private exitedPromise: Promise<void> = Promise.resolve();
  /** How the last run ended (undefined while it runs or before the first). */
  lastExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly name: string,
    readonly address: string,
    readonly configPath: string,
    readonly logPath: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    const fd = openSync(this.logPath, 'a');
    const child = spawn(process.execPath, [ORDERER_JS, 'start', '--config', this.configPath], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.child = child;
    this.lastExit = undefined;
    this.exitedPromise = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.lastExit = { code, signal };
        resolve();
      }),
    );
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child!.kill(signal);
    await this.exitedPromise;
  }

  /** Asks the node to log its chains' status (SIGUSR2). */
  dumpStatus(): void {
    if (this.running) this.child!.kill('SIGUSR2');
  }

  /** Resolves when the current run has exited. */
  exited(): Promise<void> {
    return this.exitedPromise;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    const child = this.child!;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exitedPromise;
    clearTimeout(timer);
  }

  /** Leader id from this node's newest "raft leader changed" log line for a channel (0 = none). */
  lastSeenLeader(channel: string): number {
    let leader = 0;
    let text = '';
    try {
      text = readFileSync(this.logPath, 'utf8');
    } catch {
      return 0;
    }
    for (const line of text.split('\n')) {
      if (!line.includes('raft leader changed')) continue;
      try {
        const rec = JSON.parse(line) as { channel?: string; leader?: number };
        if (rec.channel === channel && typeof rec.leader === 'number') leader = rec.leader;
      } catch {
        // a line cut by kill -9
      }
    }
    return leader;
  }

  logText(): string {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Waits until the log has a line matching `pattern`. pino writes to stdout asynchronously, so
   * a line logged just before a state change an API shows (a halt) can reach the file after the
   * test saw that change: never expect such a line at once.
   */
  async waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    await waitFor(`${this.name} to log ${pattern}`, timeoutMs, () => pattern.test(this.logText()));
  }
}

export interface TestNetwork {
  readonly dataDir: string;
  readonly layout: DevnetLayout;
  readonly nodes: NodeProcess[];
  startAll(): void;
  stopAll(): Promise<void>;
  /** Stops everything and deletes the data (kept when KEEP_E2E_DATA is set). */
  destroy(): Promise<void>;
}

export interface CreateNetworkOptions extends Omit<DevnetOptions, 'dataDir' | 'ports'> {
  nodeCount?: number;
  /** Runs on the fresh data directory before writeDevnet (e.g. writes crypto material of its own into <dir>/crypto). */
  prepare?: (dataDir: string) => void;
}

export async function createNetwork(options: CreateNetworkOptions = {}): Promise<TestNetwork> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'orderer-e2e-'));
  options.prepare?.(dataDir);
  const count = options.nodeCount ?? 3;
  const allPorts = await freePorts(2 * count);
  const ports = allPorts.slice(0, count);
  const adminPorts = allPorts.slice(count);
  const layout = await writeDevnet({ tickInterval: '100ms', electionTick: 10, heartbeatTick: 1, batchTimeout: '200ms', logLevel: 'info', openAccess: true, adminPorts, ...options, dataDir, ports });
  const nodes = layout.nodes.map((n) => new NodeProcess(n.name, `${n.host}:${n.port}`, n.configPath, path.join(n.dir, 'orderer.log')));
  return {
    dataDir,
    layout,
    nodes,
    startAll: () => nodes.forEach((n) => n.start()),
    stopAll: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
    destroy: async () => {
      await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
      if (process.env['KEEP_E2E_DATA'] === undefined) rmSync(dataDir, { recursive: true, force: true });
      else console.log(`e2e data kept in ${dataDir}`);
    },
  };
}

const E2E_CREATOR = Buffer.from('e2e-client');

/**
 * A valid normal-transaction envelope with a unique tx id: signed by `signer` (a network with
 * enforced policies), else unsigned with a dummy creator (createNetwork's open access).
 */
export function makeEnvelope(channelId: string, dataBytes: number, signer?: EnvelopeSigner): { bytes: Uint8Array; txId: string } {
  if (signer !== undefined) return buildEnvelope({ channelId, signer, data: randomBytes(dataBytes) });
  return buildEnvelope({ channelId, creator: E2E_CREATOR, data: randomBytes(dataBytes), signature: randomBytes(8) });
}

/** Sends one envelope on a fresh stream and returns the answer. */
/** How a test client reaches a network: signing identity (enforced policies) and TLS (npm start's devnet). */
export interface ClientAccess {
  readonly signer?: EnvelopeSigner;
  readonly tls?: grpc.ChannelCredentials;
}

export async function broadcastOne(address: string, envelope: Uint8Array, access: ClientAccess = {}): Promise<orderer.BroadcastResponse> {
  const client = new BroadcastClient(address, access.tls !== undefined ? { tls: access.tls } : {});
  try {
    return await client.send(envelope);
  } finally {
    client.cancel();
  }
}

/** Waits until `address` accepts an envelope (some leader exists); returns the probe's tx id. */
export async function waitForService(address: string, channel: string, timeoutMs = 30_000, access: ClientAccess = {}): Promise<string> {
  return waitFor(`a leader on ${channel} via ${address}`, timeoutMs, async () => {
    const env = makeEnvelope(channel, 16, access.signer);
    const res = await broadcastOne(address, env.bytes, access);
    return res.status === common.Status.SUCCESS ? env.txId : undefined;
  }, 300);
}

/** All blocks [0, height) of a channel as one node serves them right now. */
export async function readChain(address: string, channel: string, access: ClientAccess = {}): Promise<DeliveredBlock[]> {
  const out: DeliveredBlock[] = [];
  for await (const b of deliverBlocks({ address, channelId: channel, start: 'oldest', stop: 'newest', receiveTimeoutMs: 10_000, ...access })) out.push(b);
  return out;
}

export async function chainHeight(address: string, channel: string, access: ClientAccess = {}): Promise<number> {
  for await (const b of deliverBlocks({ address, channelId: channel, start: 'newest', stop: 'newest', receiveTimeoutMs: 5_000, ...access })) return b.number + 1;
  return 0;
}

/** Checks numbers, data hashes and the previous-hash chain; returns every tx id in order. */
export function verifyChain(blocks: readonly DeliveredBlock[]): string[] {
  const txIds: string[] = [];
  let previousHash: Uint8Array | undefined;
  blocks.forEach((b, i) => {
    const header = b.block.header!;
    if (header.number !== i) throw new Error(`block at position ${i} has number ${header.number}`);
    const data = b.block.data?.data ?? [];
    if (!bytesEqual(header.dataHash, blockDataHash(data))) throw new Error(`block ${i}: data hash does not match its data`);
    if (previousHash !== undefined && !bytesEqual(header.previousHash, previousHash)) throw new Error(`block ${i}: previous hash breaks the chain`);
    previousHash = blockHeaderHash(header);
    if (i > 0) for (const env of data) txIds.push(envelopeTxIdOrEmpty(env));
  });
  return txIds;
}

/** Header hashes of a chain, to compare nodes. */
export function headerHashes(blocks: readonly DeliveredBlock[]): string[] {
  return blocks.map((b) => Buffer.from(blockHeaderHash(b.block.header!)).toString('hex'));
}

export interface LoadResult {
  acknowledged: string[];
  rejected: Map<number, number>;
  failedToSend: number;
}

/**
 * Sends `envelopes` over `streamsPerNode` Broadcast streams on each address, round-robin.
 * Envelopes whose stream broke get no answer and are retried on a fresh stream up to
 * `retries` times (they count as acknowledged only with SUCCESS).
 */
export async function sendLoad(
  addresses: readonly string[],
  envelopes: readonly { bytes: Uint8Array; txId: string }[],
  streamsPerNode: number,
  options: { retries?: number; maxInflightPerStream?: number; onAck?: (txId: string) => void; tls?: grpc.ChannelCredentials } = {},
): Promise<LoadResult> {
  const result: LoadResult = { acknowledged: [], rejected: new Map(), failedToSend: 0 };
  const lanes: { address: string; items: { bytes: Uint8Array; txId: string }[] }[] = [];
  for (const address of addresses) for (let s = 0; s < streamsPerNode; s++) lanes.push({ address, items: [] });
  envelopes.forEach((e, i) => lanes[i % lanes.length]!.items.push(e));
  const maxInflight = options.maxInflightPerStream ?? 200;
  await Promise.all(
    lanes.map(async (lane) => {
      let queue = lane.items;
      for (let attempt = 0; attempt <= (options.retries ?? 20) && queue.length > 0; attempt++) {
        const retry: typeof queue = [];
        const client = new BroadcastClient(lane.address, options.tls !== undefined ? { tls: options.tls } : {});
        const inflight = new Set<Promise<void>>();
        for (const item of queue) {
          if (client.ended) {
            retry.push(item);
            continue;
          }
          const p: Promise<void> = client.send(item.bytes).then(
            (res) => {
              if (res.status === common.Status.SUCCESS) {
                result.acknowledged.push(item.txId);
                options.onAck?.(item.txId);
              } else if (res.status === common.Status.SERVICE_UNAVAILABLE) retry.push(item);
              else result.rejected.set(res.status, (result.rejected.get(res.status) ?? 0) + 1);
            },
            () => {
              retry.push(item);
            },
          );
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
          if (inflight.size >= maxInflight) await Promise.race(inflight);
        }
        await Promise.all(inflight);
        if (client.ended) client.cancel();
        else await client.close().catch(() => client.cancel());
        queue = retry;
        if (queue.length > 0) await sleep(200);
      }
      result.failedToSend += queue.length;
    }),
  );
  return result;
}

export { freePorts, sleep, waitFor };

/** Top-level keys that appear twice in one JSON log line (pino writes duplicates as given). */
export function duplicateLogKeys(logText: string): string[] {
  const found = new Set<string>();
  for (const line of logText.split('\n')) {
    if (!line.startsWith('{')) continue;
    const seen = new Set<string>();
    let depth = 0;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') depth--;
      else if (ch === '"') {
        let j = i + 1;
        while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
        const text = line.slice(i + 1, j);
        if (depth === 1 && line[j + 1] === ':') {
          if (seen.has(text)) found.add(text);
          seen.add(text);
        }
        i = j;
      }
    }
  }
  return [...found];
}
