// Order and throughput: per-destination order is kept, and bursts far larger than the send
// buffer all arrive when the sender respects the queue (consensus) or waits for room (submit).
import { raftpb } from '../../protos';
import { configureChannel, nodePairForDescribe, RecordingReceiver, sleep, waitFor } from './helpers';

const BURST = 10_000;

describe('cluster flow', () => {
  // Generous timeouts: only a starved machine gets near them, and then slowness is not the bug under test.
  const { a, b, atB } = nodePairForDescribe({ rpcTimeoutMs: 20_000 });

  it(`delivers a burst of ${BURST} consensus messages in order through a queue of 100`, async () => {
    let sent = 0;
    let refused = 0;
    while (sent < BURST) {
      // Fill the queue as far as it goes, then let it drain: the chain's pace under backpressure.
      while (sent < BURST && a.comm.client.queuedMessages('ch', 2, 'consensus') < 100) {
        const ok = a.comm.sendConsensus('ch', 2, { type: raftpb.MessageType.MsgHeartbeat, from: 1, to: 2, index: sent, commit: sent });
        if (!ok) refused += 1;
        else sent += 1;
      }
      await sleep(0);
    }
    await waitFor('all consensus messages', 20_000, () => atB.consensus.length === BURST);
    expect(refused).toBe(0);
    expect(atB.consensus.map((m) => m.msg.index)).toEqual(Array.from({ length: BURST }, (_, i) => i));
    expect(a.metrics.droppedTotal()).toBe(0);
    expect(a.unreachable).toEqual([]);
  });

  it(`delivers ${BURST} concurrent submits in order; each waits for room instead of failing`, async () => {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < BURST; i++) {
      pending.push(a.comm.sendSubmit('ch', 2, { lastValidationSeq: i + 1, payload: { payload: Uint8Array.of(i & 0xff) } }));
    }
    await Promise.all(pending);
    await waitFor('all submits', 20_000, () => atB.submits.length === BURST);
    expect(atB.submits.map((s) => s.req.lastValidationSeq)).toEqual(Array.from({ length: BURST }, (_, i) => i + 1));
    expect(atB.submits.every((s) => s.from === 1 && s.req.channel === 'ch')).toBe(true);
  });

  it('a full consensus queue drops (and reports) instead of blocking, even while the stream is healthy', async () => {
    const before = atB.consensus.length;
    let accepted = 0;
    for (let i = 0; i < 1_000; i++) {
      if (a.comm.sendConsensus('ch', 2, { type: raftpb.MessageType.MsgHeartbeat, index: i })) accepted += 1;
    }
    // Nothing can drain during a synchronous loop: exactly the buffer's worth gets in.
    expect(accepted).toBe(100);
    expect(a.metrics.dropped['127.0.0.1']?.['ch']).toBe(900);
    await waitFor('accepted messages', 10_000, () => atB.consensus.length === before + 100);
    expect(a.unreachable).toEqual([{ channel: 'ch', nodeId: 2 }]);
  });

  it("one channel's full queue does not hold up another channel to the same node", async () => {
    configureChannel('other', [a, b], [1, 2]);
    const atBOther = new RecordingReceiver();
    b.comm.register('other', atBOther);
    for (let i = 0; i < 200; i++) a.comm.sendConsensus('ch', 2, { type: raftpb.MessageType.MsgHeartbeat, index: i });
    expect(a.comm.client.queuedMessages('ch', 2, 'consensus')).toBe(100);
    expect(a.comm.sendConsensus('other', 2, { type: raftpb.MessageType.MsgVote, term: 9 })).toBe(true);
    await waitFor('message on the other channel', 10_000, () => atBOther.consensus.length === 1);
    expect(atBOther.consensus[0]?.msg.term).toBe(9);
  });
});
