// One real orderer node for the flood test (test/e2e/flood.test.ts), in a process of its own so
// that its resident set is its own and not the test runner's.
//
// It is built the way `orderer start` builds a node (cmd/orderer.ts: loadOrdererConfig →
// nodeOptionsFromConfig → ensureDirs → OrdererNode.start), so the Chain, the WAL, the LMDB block
// store, the cluster server and the Broadcast/Deliver services are the production ones. Three
// differences, all through OrdererNodeOptions:
//   - the memory limits (event queue, intake, accepted set, per-stream in-flight, send buffer) are
//     the small ones the test states, so the bound it asserts is tight;
//   - every channel's Raft persistence is wrapped in a disk the test can slow down: while it is
//     slow, each save of a Ready waits before the real WAL write and fsync, and now and then the
//     disk stalls;
//   - it talks to the test over the IPC channel: "ready", status on request, disk speed, stop.
//
// Usage (the test spawns it): node dist/test/support/flood-node.js '<FloodNodeSpec as JSON>'
import pino from 'pino';
import type { Ready } from '../../consensus/raft/api';
import { nodeOptionsFromConfig } from '../../cmd/orderer';
import type { ChainStatus, RaftPersistence } from '../../orderer/chain/types';
import { loadOrdererConfig } from '../../orderer/config';
import { ensureDirs, OrdererNode, type ChainLimits } from '../../orderer/node';

/** How slow the disk is while it is slow. */
export interface SlowDiskProfile {
  /** Every save of a Ready waits this long before it is written (a slow fsync). */
  readonly saveDelayMs: number;
  /** `stallEveryMs` after the disk turned slow, and again that long after each stall ended, one save hangs this much longer (0: never). */
  readonly stallMs: number;
  readonly stallEveryMs: number;
}

export interface FloodNodeSpec {
  /** The node's orderer.yaml (as writeDevnet writes it). */
  readonly configPath: string;
  readonly chainLimits: ChainLimits;
  readonly maxInflightPerStream: number;
  /** General.Cluster.SendBufferSize: messages queued per outgoing stream. */
  readonly sendBufferSize: number;
  readonly disk: SlowDiskProfile;
}

/** Largest values seen by the node's own sampler since it started. */
export interface FloodNodePeaks {
  queuedEventBytes: number;
  intakeBytes: number;
  acceptedUnordered: number;
}

export interface DiskStats {
  slow: boolean;
  saves: number;
  delayedSaves: number;
  stalls: number;
  delayedMs: number;
}

export type FloodNodeRequest = { type: 'status'; id: number } | { type: 'disk'; id: number; slow: boolean } | { type: 'stop'; id: number };

export type FloodNodeReply =
  | { type: 'ready'; port: number }
  | {
      type: 'status';
      id: number;
      chain: ChainStatus | undefined;
      peaks: FloodNodePeaks;
      disk: DiskStats;
      /** process.memoryUsage(): how the resident set splits into V8 heap and buffers. */
      memory: NodeJS.MemoryUsage;
    }
  | { type: 'ack'; id: number }
  | { type: 'failed'; message: string };

/** Interval of the node's own sampling of its queues (the test samples RSS from /proc itself). */
const PEAK_SAMPLE_MS = 10;

/** A disk that is fast until the test slows it; a save waiting on it is released when it turns fast again. */
class SlowDisk {
  private slow = false;
  private nextStallAtMs = 0;
  private readonly waiting = new Set<() => void>();
  readonly stats: Omit<DiskStats, 'slow'> = { saves: 0, delayedSaves: 0, stalls: 0, delayedMs: 0 };

  constructor(private readonly profile: SlowDiskProfile) {}

  get isSlow(): boolean {
    return this.slow;
  }

  setSlow(slow: boolean): void {
    if (slow && !this.slow) this.nextStallAtMs = Date.now() + this.profile.stallEveryMs;
    this.slow = slow;
    if (!slow) {
      for (const release of [...this.waiting]) release();
      this.waiting.clear();
    }
  }

  /** What a save waits before the real write. */
  async beforeSave(): Promise<void> {
    this.stats.saves++;
    if (!this.slow) return;
    let delayMs = this.profile.saveDelayMs;
    const nowMs = Date.now();
    if (this.profile.stallMs > 0 && nowMs >= this.nextStallAtMs) {
      delayMs += this.profile.stallMs;
      this.stats.stalls++;
      this.nextStallAtMs = nowMs + delayMs + this.profile.stallEveryMs;
    }
    if (delayMs <= 0) return;
    this.stats.delayedSaves++;
    const startedMs = Date.now();
    await new Promise<void>((resolve) => {
      const release = (): void => {
        clearTimeout(timer);
        this.waiting.delete(release);
        resolve();
      };
      const timer = setTimeout(release, delayMs);
      this.waiting.add(release);
    });
    this.stats.delayedMs += Date.now() - startedMs;
  }
}

function slowed(raft: RaftPersistence, disk: SlowDisk): RaftPersistence {
  return {
    ...raft,
    saveReady: async (ready: Ready) => {
      await disk.beforeSave();
      await raft.saveReady(ready);
    },
  };
}

function send(reply: FloodNodeReply): void {
  process.send?.(reply);
}

async function main(specJson: string | undefined): Promise<void> {
  if (specJson === undefined || process.send === undefined) {
    throw new Error('flood-node is started by test/e2e/flood.test.ts with an IPC channel and a JSON spec');
  }
  const spec = JSON.parse(specJson) as FloodNodeSpec;
  // No environment overrides: the node runs with exactly the file and the spec.
  const { config } = loadOrdererConfig({ filePath: spec.configPath, env: {} });
  const logger = pino({ level: config.logging.level, base: { pid: process.pid } });
  const disk = new SlowDisk(spec.disk);
  const options = {
    ...nodeOptionsFromConfig(config, logger),
    sendBufferSize: spec.sendBufferSize,
    chainLimits: spec.chainLimits,
    broadcast: { maxInflightPerStream: spec.maxInflightPerStream },
    wrapRaftPersistence: (raft: RaftPersistence) => slowed(raft, disk),
  };
  await ensureDirs(options);
  const node = new OrdererNode(options);
  await node.start();
  const channelId = node.channelIds()[0];

  const peaks: FloodNodePeaks = { queuedEventBytes: 0, intakeBytes: 0, acceptedUnordered: 0 };
  const sampler = setInterval(() => {
    const st = channelId === undefined ? undefined : node.chain(channelId)?.status();
    if (st === undefined) return;
    peaks.queuedEventBytes = Math.max(peaks.queuedEventBytes, st.queuedEventBytes);
    peaks.intakeBytes = Math.max(peaks.intakeBytes, st.intakeBytes);
    peaks.acceptedUnordered = Math.max(peaks.acceptedUnordered, st.acceptedUnordered);
  }, PEAK_SAMPLE_MS);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(sampler);
      disk.setSlow(false);
      await node.stop();
    })();
    return stopping;
  };
  process.on('message', (raw: unknown) => {
    const req = raw as FloodNodeRequest;
    switch (req.type) {
      case 'status':
        send({
          type: 'status',
          id: req.id,
          chain: channelId === undefined ? undefined : node.chain(channelId)?.status(),
          peaks: { ...peaks },
          disk: { slow: disk.isSlow, ...disk.stats },
          memory: process.memoryUsage(),
        });
        return;
      case 'disk':
        disk.setSlow(req.slow);
        send({ type: 'ack', id: req.id });
        return;
      case 'stop':
        void stop().then(
          () => {
            send({ type: 'ack', id: req.id });
            process.disconnect();
          },
          (err: unknown) => {
            send({ type: 'failed', message: `stop failed: ${String(err)}` });
            process.exitCode = 1;
            process.disconnect();
          },
        );
        return;
    }
  });
  // The test went away (or closed the channel after "stop"): never outlive it.
  process.on('disconnect', () => void stop().finally(() => process.exit()));
  send({ type: 'ready', port: node.port });
}

if (require.main === module) {
  main(process.argv[2]).catch((err: unknown) => {
    console.error(err);
    send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
}
