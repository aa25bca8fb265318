// Test fixtures for the client-facing services: a ChainHandle over a real LMDB block store in a
// temp dir whose errored()/order() behaviour the test controls, a registry of such chains, and
// an AtomicBroadcast server on an ephemeral 127.0.0.1 port. Nothing here mocks gRPC or LMDB.
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { blockHeaderHash, computeTxId, genesisBlock, newBlock, openBlockStore, type LmdbBlockStore, type StoredBlock } from '../../ledger';
import type {
  AppendOptions,
  BlockInput,
  BlockIterator,
  BlockIteratorOptions,
  BlockStore,
  BlockStoreStats,
  TxLocation,
  VerifyReport,
} from '../../ledger/block-store';
import { common } from '../../protos';
import { handleBroadcast, type BroadcastOptions } from '../../orderer/broadcast';
import { storedForm } from '../../orderer/chain/apply';
import { DeliverService, type DeliverServiceOptions } from '../../orderer/deliver';
import { addAtomicBroadcastService, atomicBroadcastServerOptions, bindServer } from '../../orderer/grpc-service';
import { InsecureAcceptAllPolicyEvaluator, type ParsedEnvelope, type PolicyEvaluator, type SignedData } from '../../orderer/msgcheck';
import type { ChainHandle, ChainRegistry, ChainServiceSettings } from '../../orderer/types';
import type { CertificateValidity, ChannelAccess } from '../../orderer/policies/channel-access';

export const silentLogger: Logger = pino({ level: 'silent' });

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `orderer-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface FakeChainOptions {
  channelId: string;
  /** Ledger root; a fresh temp dir (removed on close) when absent. */
  dir?: string;
  settings?: Partial<ChainServiceSettings>;
  /** Start with a configtxgen-style genesis block (default true). */
  genesis?: boolean;
}

/**
 * The LMDB store as the services see it, counting the blocks their iterators have taken: how
 * far a Deliver stream has read ahead of its client.
 */
export class CountingBlockStore implements BlockStore {
  blocksIterated = 0;
  /**
   * When set, iterators hand out what this returns instead of the stored block: another block
   * (a faulty or malicious orderer) or 'stall' (an orderer that stops sending without a word).
   */
  rewrite: ((stored: StoredBlock) => StoredBlock | 'stall') | undefined;

  constructor(readonly store: LmdbBlockStore) {}

  get channelId(): string {
    return this.store.channelId;
  }
  height(): number {
    return this.store.height();
  }
  readableHeight(): number {
    return this.store.readableHeight();
  }
  lastBlock(): StoredBlock | undefined {
    return this.store.lastBlock();
  }
  lastHeaderHash(): Uint8Array | undefined {
    return this.store.lastHeaderHash();
  }
  getBlock(number: number): StoredBlock | undefined {
    return this.store.getBlock(number);
  }
  getByTxId(txId: string): TxLocation | undefined {
    return this.store.getByTxId(txId);
  }
  append(block: BlockInput): Promise<void> {
    return this.store.append(block);
  }
  appendBatch(blocks: readonly BlockInput[], options?: AppendOptions): Promise<void> {
    return this.store.appendBatch(blocks, options);
  }
  iterate(fromNumber: number, options?: BlockIteratorOptions): BlockIterator {
    const inner = this.store.iterate(fromNumber, options);
    let releaseStall: (() => void) | undefined;
    let finished = false;
    const counted: BlockIterator = {
      next: async () => {
        const result = await inner.next();
        if (result.done === true) return result;
        this.blocksIterated++;
        const served = this.rewrite?.(result.value) ?? result.value;
        if (served !== 'stall') return { done: false, value: served };
        // Stalls until the reader gives up, like an iterator waiting for a block that never comes.
        await new Promise<void>((resolve) => {
          releaseStall = resolve;
          if (finished || options?.signal?.aborted === true) resolve();
          options?.signal?.addEventListener('abort', () => resolve(), { once: true });
        });
        return { done: true, value: undefined };
      },
      return: () => {
        finished = true;
        releaseStall?.();
        return inner.return();
      },
      [Symbol.asyncIterator]() {
        return counted;
      },
    };
    return counted;
  }
  verify(): Promise<VerifyReport> {
    return this.store.verify();
  }
  stats(): BlockStoreStats {
    return this.store.stats();
  }
  close(): Promise<void> {
    return this.store.close();
  }
}

/** A chain whose ordering the test scripts: by default it accepts every envelope and cuts no blocks. */
export class FakeChain implements ChainHandle {
  readonly ordered: ParsedEnvelope[] = [];
  current: ChainServiceSettings;
  isErrored = false;
  /** When set, order() rejects with it (after the delay, if any). */
  rejectWith: Error | undefined;
  /** Milliseconds order() takes to settle (a follower forwarding to the leader). */
  orderDelayMs = 0;
  /** When set, every this many accepted envelopes become a block. */
  cutEvery: number | undefined;
  /** Writers / Readers decisions (accepts everything unless a test sets one). */
  policyEvaluator: PolicyEvaluator = new InsecureAcceptAllPolicyEvaluator();
  /** A creator's certificate validity, as the channel's MSPs would report it (none by default). */
  creatorValidity: (creator: Uint8Array) => CertificateValidity | undefined = () => undefined;
  private pendingEnvelopes: Uint8Array[] = [];
  private appendChain: Promise<unknown> = Promise.resolve();

  readonly blockStore: CountingBlockStore;

  private constructor(
    readonly channelId: string,
    store: LmdbBlockStore,
    private readonly removeDir: (() => void) | undefined,
    settings: ChainServiceSettings,
  ) {
    this.current = settings;
    this.blockStore = new CountingBlockStore(store);
  }

  static async open(options: FakeChainOptions): Promise<FakeChain> {
    const temp = options.dir === undefined ? tempDir(options.channelId) : undefined;
    const dir = options.dir ?? temp!.dir;
    const store = await openBlockStore({ dir, channelId: options.channelId, logger: silentLogger });
    const chain = new FakeChain(options.channelId, store, temp?.remove, {
      absoluteMaxBytes: 10 * 1024 * 1024,
      maintenanceMode: false,
      configSequence: 0,
      ...options.settings,
    });
    if ((options.genesis ?? true) && store.height() === 0) {
      await store.append(genesisBlock({ channelId: options.channelId, configEnvelope: { config: { sequence: 0 } } }));
    }
    return chain;
  }

  settings(): ChainServiceSettings {
    return this.current;
  }

  access(): ChannelAccess {
    return { configSequence: this.current.configSequence, evaluator: this.policyEvaluator, creatorValidity: (c) => this.creatorValidity(c) };
  }

  errored(): boolean {
    return this.isErrored;
  }

  async order(envelope: ParsedEnvelope): Promise<void> {
    if (this.orderDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.orderDelayMs));
    if (this.rejectWith !== undefined) throw this.rejectWith;
    this.ordered.push(envelope);
    if (this.cutEvery !== undefined) {
      this.pendingEnvelopes.push(envelope.envelopeBytes);
      if (this.pendingEnvelopes.length >= this.cutEvery) {
        const batch = this.pendingEnvelopes;
        this.pendingEnvelopes = [];
        void this.appendBlock(batch);
      }
    }
  }

  /**
   * Appends the next block holding `envelopes`; appends run one after another. `inPieces`: as a
   * Chain writes a committed entry (storedForm), its header and data then the metadata it filled in.
   */
  appendBlock(envelopes: Uint8Array[], options: { inPieces?: boolean } = {}): Promise<StoredBlock> {
    const appended = this.appendChain.then(async () => {
      const number = this.blockStore.height();
      const block = newBlock(number, this.blockStore.lastHeaderHash() ?? new Uint8Array(0), envelopes);
      if (options.inPieces === true) {
        const entry = common.Block.encode(block);
        const filled = common.Block.decode(entry);
        filled.metadata = { metadata: [randomBytes(72), new Uint8Array(0), Uint8Array.of(number & 0xff)] };
        await this.blockStore.append({ ...storedForm(filled, entry), block: filled });
      } else {
        await this.blockStore.append(block);
      }
      return this.blockStore.getBlock(number)!;
    });
    this.appendChain = appended.catch(() => undefined);
    return appended;
  }

  /** Appends `count` blocks of one envelope with `dataBytes` of random data each, in one transaction. */
  appendBlocks(count: number, dataBytes = 64): Promise<void> {
    const appended = this.appendChain.then(async () => {
      let previousHash = this.blockStore.lastHeaderHash() ?? new Uint8Array(0);
      const blocks: common.Block[] = [];
      for (let i = 0; i < count; i++) {
        const block = newBlock(this.blockStore.height() + i, previousHash, [makeEnvelope({ channelId: this.channelId, dataBytes })]);
        previousHash = blockHeaderHash(block.header!);
        blocks.push(block);
      }
      await this.blockStore.appendBatch(blocks);
    });
    this.appendChain = appended.catch(() => undefined);
    return appended;
  }

  async close(): Promise<void> {
    await this.appendChain;
    await this.blockStore.close();
    this.removeDir?.();
  }
}

export class FakeRegistry implements ChainRegistry {
  private readonly chains = new Map<string, ChainHandle>();
  noExpirationChecks = false;

  constructor(chains: readonly ChainHandle[]) {
    for (const chain of chains) this.chains.set(chain.channelId, chain);
  }

  get(channelId: string): ChainHandle | undefined {
    return this.chains.get(channelId);
  }

  channelIds(): string[] {
    return [...this.chains.keys()];
  }
}

/** Records the policies asked about and refuses the ones listed (all when `deny` is empty). */
export class ScriptedPolicyEvaluator implements PolicyEvaluator {
  readonly asked: string[] = [];
  constructor(public deny: ReadonlySet<string> = new Set()) {}

  evaluateSignedData(policyName: string, _signedData: readonly SignedData[]): boolean {
    this.asked.push(policyName);
    return !this.deny.has(policyName);
  }
}

export interface EnvelopeOptions {
  channelId: string;
  type?: common.HeaderType;
  dataBytes?: number;
  txId?: string;
  signature?: Uint8Array;
}

/** A well-formed client envelope with a fresh tx id. */
export function makeEnvelope(options: EnvelopeOptions): Uint8Array {
  const nonce = randomBytes(24);
  const creator = Buffer.from('test-creator'); // stands in for a SerializedIdentity until MSPs exist
  const channelHeader = common.ChannelHeader.encode({
    type: options.type ?? common.HeaderType.ENDORSER_TRANSACTION,
    channelId: options.channelId,
    txId: options.txId ?? computeTxId(nonce, creator),
    timestamp: { seconds: Math.floor(Date.now() / 1000) },
  });
  const signatureHeader = common.SignatureHeader.encode({ creator, nonce });
  return common.Envelope.encode({
    payload: common.Payload.encode({ header: { channelHeader, signatureHeader }, data: randomBytes(options.dataBytes ?? 32) }),
    signature: options.signature ?? Uint8Array.of(0x30, 0x01, 0x00),
  });
}

export interface TestServer {
  readonly address: string;
  readonly port: number;
  readonly deliver: DeliverService;
  readonly server: grpc.Server;
  /** Broadcast handlers still running. */
  readonly activeBroadcasts: number;
  close(): Promise<void>;
}

export interface TestServerOptions {
  registry: ChainRegistry;
  logger?: Logger;
  deliver?: Partial<DeliverServiceOptions>;
  broadcast?: BroadcastOptions;
  /** Listen here instead of an ephemeral port (to restart a server at the same address). */
  port?: number;
}

/** Broadcast and Deliver over `registry` on 127.0.0.1. */
export async function startTestServer(options: TestServerOptions): Promise<TestServer> {
  const logger = options.logger ?? silentLogger;
  const server = new grpc.Server(atomicBroadcastServerOptions());
  // What registerAtomicBroadcast does, plus a count of running Broadcast handlers so tests can
  // see a stream being freed.
  const deliver = new DeliverService({ registry: options.registry, logger, ...options.deliver });
  let activeBroadcasts = 0;
  addAtomicBroadcastService(server, {
    broadcast: async (call) => {
      activeBroadcasts++;
      try {
        await handleBroadcast(call, options.registry, logger, options.broadcast);
      } finally {
        activeBroadcasts--;
      }
    },
    deliver: (call) => deliver.handle(call),
  });
  const port = await bindServer(server, `127.0.0.1:${options.port ?? 0}`);
  return {
    address: `127.0.0.1:${port}`,
    port,
    deliver,
    server,
    get activeBroadcasts() {
      return activeBroadcasts;
    },
    close: async () => {
      deliver.close();
      server.forceShutdown();
    },
  };
}

export { waitFor } from '../support/wait';
