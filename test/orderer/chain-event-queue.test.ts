// The Chain's event queue is bounded in bytes with receive-side backpressure (orderer/chain/
// event-queue.ts): a follower whose Ready loop is stuck on a slow disk is flooded with Raft
// messages through its cluster receiver methods. Above the high-water mark receiveBackpressure
// hands back a promise (the dispatcher then stops reading that peer's stream); it resolves once
// the loop has drained the queue; the queued bytes never exceed the hard cap, and the drops
// beyond it are logged once.
import pino from 'pino';
import type { Ready } from '../../consensus/raft/api';
import { newBlock } from '../../ledger/block';
import type { ChainSettings } from '../../orderer/chain/types';
import { common, orderer, raftpb } from '../../protos';
import { simEnvelope } from '../sim/orderer/envelopes';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { MemoryRaftPersistence } from '../sim/orderer/memory-raft';
import { testChainSettings } from '../support/chain-settings';
import { soloChain } from '../support/solo-chain';

const CHANNEL = 'flood';
const MiB = 1024 * 1024;
const HIGH = 1 * MiB;
const LOW = MiB / 4;
const MAX = 4 * MiB;
const ENTRY_BYTES = 64 * 1024;

const settings: ChainSettings = testChainSettings(3, { tickIntervalMs: 10, batchTimeoutMs: 20 }, '127.0.0.1');

/** A disk that takes as long as the test says: saveReady waits until the gate opens. */
class SlowRaft extends MemoryRaftPersistence {
  saves = 0;
  private open = false;
  private waiting: Array<() => void> = [];
  override async saveReady(rd: Ready): Promise<void> {
    this.saves++;
    if (!this.open) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return super.saveReady(rd);
  }
  openGate(): void {
    this.open = true;
    for (const w of this.waiting.splice(0)) w();
  }
}

/** What the leader (node 2) of term 50 might send: an append carrying one large entry. */
function append(i: number): raftpb.Message {
  return raftpb.Message.decode(
    raftpb.Message.encode({
      type: raftpb.MessageType.MsgApp,
      from: 2,
      to: 1,
      term: 50,
      index: 3,
      logTerm: 1,
      commit: 0,
      entries: [{ type: raftpb.EntryType.EntryNormal, term: 50, index: 4, data: new Uint8Array(ENTRY_BYTES).fill(i & 0xff) }],
    }),
  );
}

const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

test('a flood of Raft messages on a slow disk: backpressure above the high-water mark, released after draining, bytes never above the cap', async () => {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  const store = new MemoryBlockStore(CHANNEL);
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
  const raft = new SlowRaft();
  const chain = soloChain({
    channelId: CHANNEL,
    settings,
    blockStore: store,
    raft,
    logger,
    eventQueueHighWaterBytes: HIGH,
    eventQueueLowWaterBytes: LOW,
    eventQueueMaxBytes: MAX,
  });
  try {
    chain.start();
    expect(chain.receiveBackpressure()).toBeUndefined();
    // The first message starts a Ready that waits on the disk.
    chain.onConsensus(2, append(0));
    for (let i = 0; i < 100 && raft.saves === 0; i++) await turn();
    expect(raft.saves).toBeGreaterThan(0);

    let room: Promise<void> | undefined;
    let firstPausedAt = -1;
    let maxSeen = 0;
    for (let i = 1; i <= 200; i++) {
      chain.onConsensus(2, append(i));
      const bp = chain.receiveBackpressure();
      const queued = chain.status().queuedEventBytes;
      maxSeen = Math.max(maxSeen, queued);
      if (bp !== undefined && room === undefined) {
        room = bp;
        firstPausedAt = i;
        expect(queued).toBeGreaterThan(HIGH);
      }
      if (bp === undefined) expect(queued).toBeLessThanOrEqual(HIGH);
    }
    expect(room).toBeDefined();
    // Paused soon after the high-water mark: about HIGH / ENTRY_BYTES messages in.
    expect(firstPausedAt).toBeLessThanOrEqual(Math.ceil(HIGH / ENTRY_BYTES) + 1);
    // 200 x 64 KiB = 12.5 MiB offered; the queue held no more than the hard cap.
    expect(maxSeen).toBeLessThanOrEqual(MAX);
    expect(maxSeen).toBeGreaterThan(MAX - 2 * ENTRY_BYTES);
    const fullWarnings = lines.filter((l) => l.level === 40 && /event queue full/.test(l.msg));
    expect(fullWarnings).toHaveLength(1); // one warning for the episode, not one per drop

    // Still paused while the disk is stuck.
    let released = false;
    void room!.then(() => (released = true));
    for (let i = 0; i < 20; i++) await turn();
    expect(released).toBe(false);

    raft.openGate();
    await room;
    expect(chain.status().queuedEventBytes).toBeLessThanOrEqual(LOW);
    expect(chain.status().halted).toBe(false);
  } finally {
    await chain.halt();
  }
});

test('a halted chain lets paused streams go', async () => {
  const store = new MemoryBlockStore(CHANNEL);
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
  const raft = new SlowRaft();
  const chain = soloChain({
    channelId: CHANNEL,
    settings,
    blockStore: store,
    raft,
    eventQueueHighWaterBytes: HIGH,
    eventQueueLowWaterBytes: LOW,
    eventQueueMaxBytes: MAX,
  });
  chain.start();
  chain.onConsensus(2, append(0));
  for (let i = 0; i < 100 && raft.saves === 0; i++) await turn();
  for (let i = 1; i <= 40; i++) chain.onConsensus(2, append(i));
  const room = chain.receiveBackpressure();
  expect(room).toBeDefined();
  const halted = chain.halt();
  raft.openGate();
  await halted;
  await room; // resolves: the stream reads again (and what it reads is ignored)
  expect(chain.receiveBackpressure()).toBeUndefined();
});

test('a forwarded envelope beyond the hard cap is not taken, and the follower hears SERVICE_UNAVAILABLE', async () => {
  const store = new MemoryBlockStore(CHANNEL);
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
  const raft = new SlowRaft();
  const chain = soloChain({
    channelId: CHANNEL,
    settings,
    blockStore: store,
    raft,
    eventQueueHighWaterBytes: HIGH,
    eventQueueLowWaterBytes: LOW,
    eventQueueMaxBytes: MAX,
  });
  try {
    chain.start();
    chain.onConsensus(2, append(0));
    for (let i = 0; i < 100 && raft.saves === 0; i++) await turn();
    const req = orderer.SubmitRequest.decode(
      orderer.SubmitRequest.encode({ channel: CHANNEL, lastValidationSeq: 0, payload: simEnvelope(CHANNEL, 'forwarded', 2 * ENTRY_BYTES).envelope }),
    );
    const first = chain.onSubmit(2, req, true); // room: queued, answered once the loop gets to it
    expect(first).toBeInstanceOf(Promise);
    for (let i = 1; i <= 100; i++) chain.onConsensus(2, append(i));
    expect(chain.status().queuedEventBytes).toBeLessThanOrEqual(MAX);
    const outcome = chain.onSubmit(2, req, true);
    expect(outcome).toMatchObject({ status: common.Status.SERVICE_UNAVAILABLE, info: expect.stringMatching(/event queue is full/) as unknown });
    raft.openGate();
    // A follower does not take forwards: the sender hears it and tries the leader itself.
    expect(await first).toMatchObject({ status: common.Status.SERVICE_UNAVAILABLE, info: expect.stringMatching(/not the Raft leader/) as unknown });
  } finally {
    raft.openGate();
    await chain.halt();
  }
});
