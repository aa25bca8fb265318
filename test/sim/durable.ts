// Durable mode: every node keeps its Raft state in consensus/wal's DurableStorage, on a
// directory of its own under a fresh temporary directory per run. A crash closes the
// storage without writing anything more (the Ready in flight is dropped, as when the process
// is killed: the page cache keeps what was written, so runs have no power loss), and a
// restart reopens it with DurableStorage.open, so the RawNode runs on what the WAL replays.
// node.ts checks at every start that the replay is exactly what the node persisted.
//
// Segments are small (4-64 KiB, by seed) and not preallocated, so runs roll segments over
// and release them behind snapshots; some seeds keep snapshots in a directory of their own
// (Fabric's SnapDir). Anything the WAL logs at warn level (a torn tail, an orphaned or
// corrupt snapshot, a stale lock) fails the run: none of it can happen here.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import type { raftpb } from '../../protos';
import type { NodeId, RaftIndex } from '../../consensus/raft/api';
import { DurableStorage, type PersistedReady } from '../../consensus/wal/durable-storage';
import { runSeed, type RunOptions, type RunResult } from './cluster';
import type { Disk } from './disk';
import type { ParamOverrides } from './params';
import type { Fail, NodeStore, StoreFactory } from './store';

export interface DurableConfig {
  segmentSizeBytes: number;
  /** Snapshot files in a directory of their own rather than `<wal dir>/snap`. */
  separateSnapDir: boolean;
}

const SEGMENT_SIZES = [4 << 10, 16 << 10, 64 << 10];

/** Per-seed WAL settings, from the seed alone: the run's PRNG stream stays that of the memory mode. */
export function durableConfig(seed: number): DurableConfig {
  return { segmentSizeBytes: SEGMENT_SIZES[seed % SEGMENT_SIZES.length]!, separateSnapDir: seed % 5 === 4 };
}

export function describeDurableConfig(c: DurableConfig): string {
  return `wal: segments ${c.segmentSizeBytes >> 10} KiB, snapshots in ${c.separateSnapDir ? 'their own dir' : '<wal>/snap'}`;
}

/**
 * Where runs make their temporary directories: SIM_DURABLE_DIR, else /dev/shm (tmpfs: the
 * WAL's fsyncs cost nothing, its code paths are the same), else the OS temp dir.
 */
export function defaultBaseDir(): string {
  const fromEnv = process.env.SIM_DURABLE_DIR;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

/** The overrides every durable run gets: no power loss (see above) and crashes in every seed. */
export const DURABLE_OVERRIDES: ParamOverrides = { powerLoss: false, minCrashP: 0.005 };

export interface DurableStats {
  /** DurableStorage.open calls. */
  opens: number;
  /** Opens of a directory that held state: restarts running on the WAL's replay. */
  reopens: number;
  /** Entries handed back by those replays. */
  entriesReplayed: number;
  /** Reopens that came back with a snapshot. */
  reopensFromSnapshot: number;
  /** Segments started by rollover (not counting each WAL's first). */
  segmentsRolled: number;
  /** Segments deleted behind snapshots. */
  segmentsReleased: number;
  /** Snapshots the nodes took (createSnapshot). */
  snapshotsCreated: number;
  /** Readys persisted with a snapshot from the leader. */
  snapshotsInstalled: number;
  readysSaved: number;
}

function emptyStats(): DurableStats {
  return {
    opens: 0,
    reopens: 0,
    entriesReplayed: 0,
    reopensFromSnapshot: 0,
    segmentsRolled: 0,
    segmentsReleased: 0,
    snapshotsCreated: 0,
    snapshotsInstalled: 0,
    readysSaved: 0,
  };
}

/** The StoreFactory of one durable run: one directory per node under `root`. */
export class DurableStores implements StoreFactory {
  readonly kind = 'durable';
  readonly stats = emptyStats();
  /** What the WAL logged at warn level or above (JSON lines). */
  readonly warnings: string[] = [];
  private readonly logger: Logger;
  /** Nodes whose directory exists (opened at least once). */
  private readonly created = new Set<NodeId>();
  private readonly openStores = new Set<DurableStore>();

  constructor(
    readonly root: string,
    readonly config: DurableConfig,
  ) {
    this.logger = pino({ level: 'warn' }, { write: (line: string) => void this.warnings.push(line.trimEnd()) });
  }

  async open(id: NodeId, disk: Disk, fail: Fail): Promise<NodeStore> {
    const dir = path.join(this.root, `n${id}`, 'wal');
    const snapDir = this.config.separateSnapDir ? path.join(this.root, `n${id}`, 'snap') : undefined;
    const storage = await DurableStorage.open(dir, {
      logger: this.logger,
      snapDir,
      segmentSizeBytes: this.config.segmentSizeBytes,
      preallocate: false,
    });
    const store = new DurableStore(storage, this, fail);
    this.openStores.add(store);
    this.stats.opens++;
    this.checkWarnings(fail);
    if (!this.created.has(id)) {
      // A new directory: the founding members' bootstrap state goes in as a first Ready.
      this.created.add(id);
      if (storage.lastIndex() !== 0 || storage.snapshot().metadata.index !== 0) {
        fail('a new node starts from an empty WAL', `the new WAL of node ${id} already holds ${storage.firstIndex()}..${storage.lastIndex()}`);
      }
      const entries = disk.copyEntries();
      if (entries.length > 0 || disk.hardState.term !== 0) await store.persist({ entries, hardState: { ...disk.hardState }, mustSync: true });
    } else {
      this.stats.reopens++;
      this.stats.entriesReplayed += Math.max(0, storage.lastIndex() - storage.firstIndex() + 1);
      if (storage.snapshot().metadata.index > 0) this.stats.reopensFromSnapshot++;
    }
    return store;
  }

  checkWarnings(fail: Fail): void {
    if (this.warnings.length > 0) fail('the WAL logs no warnings', this.warnings.join('\n'));
  }

  closed(store: DurableStore): void {
    this.openStores.delete(store);
  }

  /** Closes what is still open and removes the run's directory. */
  async dispose(): Promise<void> {
    try {
      for (const store of [...this.openStores]) await store.close();
    } finally {
      await fs.promises.rm(this.root, { recursive: true, force: true });
    }
  }
}

class DurableStore implements NodeStore {
  private firstSeq: number;
  private lastSeq: number;
  private closing: Promise<void> | undefined;

  constructor(
    readonly storage: DurableStorage,
    private readonly owner: DurableStores,
    private readonly fail: Fail,
  ) {
    const segs = storage.walSegments();
    this.firstSeq = segs[0]?.seq ?? 0;
    this.lastSeq = segs[segs.length - 1]?.seq ?? 0;
  }

  async persist(rd: PersistedReady): Promise<void> {
    await this.storage.saveReady(rd);
    const stats = this.owner.stats;
    stats.readysSaved++;
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) stats.snapshotsInstalled++;
    this.afterWrite();
  }

  async createSnapshot(index: RaftIndex, confState: raftpb.ConfState, data: Uint8Array): Promise<raftpb.Snapshot> {
    const snap = await this.storage.createSnapshot(index, confState, data);
    this.owner.stats.snapshotsCreated++;
    this.afterWrite();
    return snap;
  }

  compact(compactIndex: RaftIndex): void {
    this.storage.compact(compactIndex);
  }

  close(): Promise<void> {
    this.closing ??= this.storage.close().finally(() => this.owner.closed(this));
    return this.closing;
  }

  describe(): string {
    const segs = this.storage.walSegments();
    return `wal=${segs.map((s) => `${s.seq}@${s.firstIndex}`).join(',')}`;
  }

  /** Counts segments started and released, and fails on anything the WAL warned about. */
  private afterWrite(): void {
    const segs = this.storage.walSegments();
    const first = segs[0]!.seq;
    const last = segs[segs.length - 1]!.seq;
    const stats = this.owner.stats;
    stats.segmentsRolled += last - this.lastSeq;
    stats.segmentsReleased += first - this.firstSeq;
    this.firstSeq = first;
    this.lastSeq = last;
    this.owner.checkWarnings(this.fail);
  }
}

export interface DurableRunOptions extends Omit<RunOptions, 'stores'> {
  /** Parent of the run's temporary directory (default: defaultBaseDir()). */
  baseDir?: string;
  /** Default: durableConfig(seed). */
  config?: DurableConfig;
  /** Stands between the run and its stores (tests plant storage bugs with it). */
  wrapStores?: (stores: DurableStores) => StoreFactory;
}

export interface DurableRunResult extends RunResult {
  durable: DurableStats;
  /** The run's directory (removed when the run ends). */
  root: string;
}

/** One seed in durable mode, in a fresh temporary directory that is removed afterwards. */
export async function runSeedDurable(seed: number, options: DurableRunOptions = {}): Promise<DurableRunResult> {
  const config = options.config ?? durableConfig(seed);
  const root = await fs.promises.mkdtemp(path.join(options.baseDir ?? defaultBaseDir(), `sim-durable-${seed}-`));
  const stores = new DurableStores(root, config);
  let result: RunResult;
  try {
    const factory = options.wrapStores?.(stores) ?? stores;
    result = await runSeed(seed, { ...options, stores: factory, overrides: { ...DURABLE_OVERRIDES, ...options.overrides } });
  } finally {
    await stores.dispose();
  }
  return { ...result, params: `${result.params} ${describeDurableConfig(config)}`, durable: stores.stats, root };
}
