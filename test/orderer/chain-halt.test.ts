// A Chain that sees a broken Raft invariant halts its channel, loudly and once: the leader's
// heartbeat reports a commit index beyond the local log (the WAL lost acknowledged entries,
// issue #10), or a Raft message arrives addressed to another node id (Fabric §3.7). Broadcast
// and Deliver for that channel answer SERVICE_UNAVAILABLE, the status says why, the WAL is
// closed, and another channel in the same process keeps ordering.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { ClusterTransport } from '../../cluster/types';
import { WalClosedError } from '../../consensus/wal/errors';
import { newBlock } from '../../ledger/block';
import { openBlockStore, type LmdbBlockStore } from '../../ledger/lmdb-block-store';
import { Chain } from '../../orderer/chain/chain';
import { openRaftPersistence } from '../../orderer/chain/raft-persistence';
import type { ChainSettings, RaftPersistence } from '../../orderer/chain/types';
import { DeliverClientError, deliverBlocks } from '../../orderer/deliver-client';
import { OrdererError } from '../../orderer/errors';
import { parseBroadcastEnvelope } from '../../orderer/msgcheck';
import { common, raftpb } from '../../protos';
import { broadcastOne, makeEnvelope, waitFor } from '../e2e/harness';
import { FakeRegistry, startTestServer, type TestServer } from './fake-chain';
import { InsecureOpenChannelAccess } from '../../orderer/policies/channel-access';

const MT = raftpb.MessageType;
const ERROR = 50;
const WARN = 40;

interface LogLine {
  level: number;
  msg: string;
  channel?: string;
  [key: string]: unknown;
}

function settingsFor(memberIds: number[]): ChainSettings {
  return {
    configSequence: 0,
    maintenanceMode: false,
    members: memberIds.map((id) => ({ id, host: '127.0.0.1', port: id })),
    nextConsenterId: memberIds.length + 1,
    tickIntervalMs: 10,
    electionTick: 10,
    heartbeatTick: 1,
    maxInflightBlocks: 5,
    snapshotIntervalSizeBytes: 16 * 1024 * 1024,
    maxMessageCount: 10,
    absoluteMaxBytes: 1024 * 1024,
    preferredMaxBytes: 512 * 1024,
    batchTimeoutMs: 20,
    lastConfigIndex: 0,
  };
}

/** Sends nowhere: the peers of the three-node channel do not exist; the test plays the leader. */
const noPeers: ClusterTransport = {
  sendConsensus: () => false,
  sendSubmit: () => Promise.reject(new Error('no peers here')),
};

interface Opened {
  chain: Chain;
  store: LmdbBlockStore;
  raft: RaftPersistence;
  walDir: string;
  snapDir: string;
  ledgerDir: string;
}

let dir: string;
let lines: LogLine[];
let opened: Opened[];

async function openChain(channelId: string, memberIds: number[]): Promise<Opened> {
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  const ledgerRoot = path.join(dir, 'ledger');
  const walDir = path.join(dir, 'wal', channelId);
  const snapDir = path.join(dir, 'snap', channelId);
  const store = await openBlockStore({ dir: ledgerRoot, channelId, logger });
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: new Uint8Array([1]) })]));
  const raft = await openRaftPersistence({ walDir, snapDir, logger });
  const ledgerDir = path.join(ledgerRoot, 'chains', channelId);
  const chain = new Chain({
    channelId,
    selfId: 1,
    access: new InsecureOpenChannelAccess(),
    settings: settingsFor(memberIds),
    blockStore: store,
    raft,
    transport: noPeers,
    pullBlocks: () => {
      throw new Error('nothing to pull from');
    },
    logger,
    rngSeed: 7,
    ledgerDir,
  });
  const o = { chain, store, raft, walDir, snapDir, ledgerDir };
  opened.push(o);
  chain.start();
  return o;
}

/** What the leader (node 2) of a later term sends when it believes node 1 holds entries up to `commit`. */
function heartbeat(commit: number, to = 1): raftpb.Message {
  return raftpb.Message.decode(raftpb.Message.encode({ type: MT.MsgHeartbeat, from: 2, to, term: 50, commit }));
}

const errorsOf = (channel: string): LogLine[] => lines.filter((l) => l.level >= ERROR && l.channel === channel);
const warningsOf = (channel: string): LogLine[] => lines.filter((l) => l.level === WARN && l.channel === channel);

/** Total bytes of the WAL's segment files (preallocated ones keep their size, so records are compared too). */
function walContent(walDir: string): string {
  return readdirSync(walDir)
    .filter((n) => n.endsWith('.wal'))
    .sort()
    .map((n) => `${n}:${readFileSync(path.join(walDir, n)).toString('hex')}`)
    .join(',');
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'chain-halt-test-'));
  lines = [];
  opened = [];
});

afterEach(async () => {
  for (const o of opened) {
    await o.chain.halt();
    await o.raft.close();
    await o.store.close().catch(() => undefined);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('a heartbeat whose commit index is beyond the local log (the WAL lost acknowledged entries)', () => {
  test('halts the channel with one error line naming the data directories, and refuses Broadcast', async () => {
    const a = await openChain('lost', [1, 2, 3]);
    // Bootstrapped: entries 1..3 (the three AddNode entries), applied.
    await waitFor('the bootstrap entries applied', 5_000, () => (a.chain.status().appliedIndex >= 3 ? true : undefined), 10);

    a.chain.onConsensus(2, heartbeat(57));
    await waitFor('the chain to halt', 5_000, () => (a.chain.status().halted ? true : undefined), 10);

    const status = a.chain.status();
    expect(status.broken).toBe(true);
    expect(status.haltReason).toMatch(/lost entries it had acknowledged: the leader reports index 57 committed, but the local log ends at index 3/);
    expect(status.haltReason).toContain(a.walDir);
    expect(status.haltReason).toContain(a.snapDir);
    expect(status.haltReason).toContain(a.ledgerDir);
    expect(a.chain.errored()).toBe(true);
    expect(a.chain.brokenReason()).toMatch(/Raft log lost acknowledged entries\); use another orderer$/);

    const errors = errorsOf('lost');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.msg).toBe(status.haltReason);
    expect(errors[0]).toMatchObject({ kind: 'raft-log-lost', commitIndex: 57, lastIndex: 3, walDir: a.walDir, snapDir: a.snapDir, ledgerDir: a.ledgerDir });
    expect(errors[0]!.msg).toMatch(/To recover: stop this orderer and remove this channel's data/);
    // The leader that reported the commit is named: it must step down before the node rejoins.
    expect(errors[0]!.msg).toContain('then restart the orderer that leads the channel (Raft node 2, 127.0.0.1:2)');
    expect(errors[0]).toMatchObject({ leader: 2 });

    const err = await a.chain.order(parseBroadcastEnvelope(makeEnvelope('lost', 32).bytes)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OrdererError);
    expect((err as OrdererError).status).toBe(common.Status.SERVICE_UNAVAILABLE);
    expect((err as OrdererError).message).toMatch(/^channel lost is halted: this orderer's copy of the channel is broken/);
  });

  test('later heartbeats change nothing: no more log lines, no WAL appends, the WAL is closed and unlocked', async () => {
    const a = await openChain('lost', [1, 2, 3]);
    await waitFor('the bootstrap entries applied', 5_000, () => (a.chain.status().appliedIndex >= 3 ? true : undefined), 10);
    a.chain.onConsensus(2, heartbeat(57));
    await waitFor('the chain to halt', 5_000, () => (a.chain.status().halted ? true : undefined), 10);
    await a.chain.halt(); // returns once the loop is out and the WAL closed
    const linesAtHalt = lines.length;
    const walAtHalt = walContent(a.walDir);

    for (let i = 0; i < 20; i++) a.chain.onConsensus(2, heartbeat(57 + i));
    a.chain.onConsensus(2, heartbeat(60, 3)); // even a misaddressed one
    await new Promise((resolve) => setTimeout(resolve, 100)); // ticks would run meanwhile if they still ran

    expect(lines.slice(linesAtHalt)).toEqual([]);
    expect(errorsOf('lost')).toHaveLength(1);
    expect(warningsOf('lost').filter((l) => /rejected a Raft message/.test(l.msg))).toEqual([]);
    expect(walContent(a.walDir) === walAtHalt).toBe(true);
    expect(existsSync(path.join(a.walDir, 'LOCK'))).toBe(false);
    await expect(a.raft.saveReady({ entries: [], committedEntries: [], messages: [], mustSync: true, hardState: { term: 60, vote: 0, commit: 3 } })).rejects.toBeInstanceOf(
      WalClosedError,
    );
  });

  test('Broadcast and Deliver over gRPC answer SERVICE_UNAVAILABLE for the halted channel; another channel keeps ordering', async () => {
    const a = await openChain('lost', [1, 2, 3]);
    const b = await openChain('healthy', [1]);
    await waitFor('the bootstrap entries applied', 5_000, () => (a.chain.status().appliedIndex >= 3 ? true : undefined), 10);
    await waitFor('a leader on the healthy channel', 5_000, () => (b.chain.errored() ? undefined : true), 10);
    let server: TestServer | undefined;
    try {
      server = await startTestServer({ registry: new FakeRegistry([a.chain, b.chain]) });
      a.chain.onConsensus(2, heartbeat(57));
      await waitFor('the chain to halt', 5_000, () => (a.chain.status().halted ? true : undefined), 10);

      const refused = await broadcastOne(server.address, makeEnvelope('lost', 32).bytes);
      expect(refused.status).toBe(common.Status.SERVICE_UNAVAILABLE);
      expect(refused.info).toMatch(/halted/);
      const deliverErr = await (async () => {
        for await (const block of deliverBlocks({ address: server!.address, channelId: 'lost', start: 'oldest', stop: 'newest' })) void block;
      })().catch((e: unknown) => e);
      expect(deliverErr).toBeInstanceOf(DeliverClientError);
      expect((deliverErr as DeliverClientError).status).toBe(common.Status.SERVICE_UNAVAILABLE);

      const env = makeEnvelope('healthy', 32);
      const accepted = await broadcastOne(server.address, env.bytes);
      expect(accepted.status).toBe(common.Status.SUCCESS);
      await waitFor('the healthy channel to order it', 5_000, () => (b.store.getByTxId(env.txId) !== undefined ? true : undefined), 10);
      expect(b.chain.status().halted).toBe(false);
      expect(errorsOf('healthy')).toEqual([]);
    } finally {
      await server?.close();
    }
  });
});

describe('a Raft message addressed to another node id', () => {
  test('halts the channel (as Fabric does) with one error line naming both ids', async () => {
    const a = await openChain('crossed', [1, 2, 3]);
    await waitFor('the bootstrap entries applied', 5_000, () => (a.chain.status().appliedIndex >= 3 ? true : undefined), 10);
    a.chain.onConsensus(2, heartbeat(3, 3));
    a.chain.onConsensus(2, heartbeat(3, 3));
    expect(a.chain.status().halted).toBe(true); // at once, before anything else is stepped
    await a.chain.halt();

    const status = a.chain.status();
    expect(status.broken).toBe(true);
    expect(status.haltReason).toMatch(/received a Raft message addressed to node 3, but this orderer is node 1 of the channel/);
    const errors = errorsOf('crossed');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ kind: 'raft-misaddressed', messageTo: 3, selfId: 1 });
    expect(warningsOf('crossed').filter((l) => /addressed to another node/.test(l.msg))).toEqual([]);
    const err = await a.chain.order(parseBroadcastEnvelope(makeEnvelope('crossed', 32).bytes)).catch((e: unknown) => e);
    expect((err as OrdererError).status).toBe(common.Status.SERVICE_UNAVAILABLE);
    expect(existsSync(path.join(a.walDir, 'LOCK'))).toBe(false);
  });
});

describe('benign refusals do not halt', () => {
  test('a response from a node that is not a member is refused with a warning and the chain goes on', async () => {
    const a = await openChain('refusal', [1, 2, 3]);
    await waitFor('the bootstrap entries applied', 5_000, () => (a.chain.status().appliedIndex >= 3 ? true : undefined), 10);
    a.chain.onConsensus(9, raftpb.Message.decode(raftpb.Message.encode({ type: MT.MsgAppResp, from: 9, to: 1, term: 1 })));
    await waitFor('the refusal', 5_000, () => (warningsOf('refusal').some((l) => /rejected a Raft message/.test(l.msg)) ? true : undefined), 10);
    expect(a.chain.status()).toMatchObject({ halted: false, broken: false, haltReason: undefined });
    expect(errorsOf('refusal')).toEqual([]);
  });
});
