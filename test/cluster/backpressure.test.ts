// Receive-side backpressure: a chain whose queue is full says so (receiveBackpressure), and the
// stream that brought the message stops reading until it has room, so the sender is held back by
// HTTP/2 flow control (its bounded queue fills and drops, as Raft expects of a slow link) instead
// of the receiver buffering without bound. Nothing the receiver took is lost or reordered.
import { raftpb } from '../../protos';
import { configureChannel, nodePairForDescribe, RecordingReceiver, sleep, waitFor } from './helpers';

/** A receiver that reports "full" once it holds `limit` messages, until the test opens the gate. */
class GatedReceiver extends RecordingReceiver {
  private open!: () => void;
  private gate: Promise<void> | undefined;
  backpressureAsked = 0;

  constructor(private readonly limit: number) {
    super();
    this.close();
  }

  close(): void {
    this.gate = new Promise<void>((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open();
    this.gate = undefined;
  }

  receiveBackpressure(): Promise<void> | undefined {
    this.backpressureAsked += 1;
    return this.gate !== undefined && this.consensus.length + this.submits.length >= this.limit ? this.gate : undefined;
  }
}

describe('receive-side backpressure', () => {
  const { a, b } = nodePairForDescribe({ rpcTimeoutMs: 20_000 });

  it('a full receiver gets nothing more until it has room; then everything it was sent arrives, in order', async () => {
    configureChannel('bp', [a, b], [1, 2]);
    const gated = new GatedReceiver(50);
    b.comm.register('bp', gated);
    for (let i = 0; i < 90; i++) expect(a.comm.sendConsensus('bp', 2, { type: raftpb.MessageType.MsgHeartbeat, from: 1, to: 2, index: i })).toBe(true);
    await waitFor('the sender to hand everything to the wire', 10_000, () => a.comm.client.queuedMessages('bp', 2, 'consensus') === 0);
    await waitFor('the receiver to be full', 10_000, () => gated.consensus.length >= 50);
    // Give the transport every chance to deliver more: it must not.
    for (let i = 0; i < 20; i++) await sleep(5);
    expect(gated.consensus).toHaveLength(50);
    expect(b.metrics.ingressPausedNow).toBe(1);

    gated.release();
    await waitFor('the rest', 10_000, () => gated.consensus.length === 90);
    expect(gated.consensus.map((m) => m.msg.index)).toEqual(Array.from({ length: 90 }, (_, i) => i));
    expect(b.metrics.ingressPausedNow).toBe(0);
    expect(b.metrics.ingressPausesTotal).toBe(1);
  });

  it('the sender feels it: with the receiver full, large messages back up into its bounded queue, which drops', async () => {
    configureChannel('big', [a, b], [1, 2]);
    const gated = new GatedReceiver(5);
    b.comm.register('big', gated);
    const payload = new Uint8Array(256 * 1024);
    let accepted = 0;
    let refused = 0;
    // Offer far more than the HTTP/2 windows and the receiver's read-ahead can hold: ~800 MB.
    for (let round = 0; round < 200 && refused === 0; round++) {
      for (let i = 0; i < 16; i++) {
        const ok = a.comm.sendConsensus('big', 2, { type: raftpb.MessageType.MsgApp, from: 1, to: 2, index: accepted, entries: [{ data: payload }] });
        if (ok) accepted += 1;
        else refused += 1;
      }
      await sleep(2);
    }
    expect(refused).toBeGreaterThan(0); // the queue filled: the receiver's pause reached the sender
    // On a loaded machine the sender's queue can fill before the first messages are delivered.
    await waitFor('the receiver to be full', 10_000, () => gated.consensus.length >= 5);
    for (let i = 0; i < 20; i++) await sleep(5);
    expect(gated.consensus).toHaveLength(5);
    // What the receiver held back is bounded by flow control, not by what was offered.
    expect(accepted * payload.length).toBeLessThan(64 * 1024 * 1024);
    gated.release();
    await waitFor('every accepted message', 20_000, () => gated.consensus.length === accepted);
    expect(gated.consensus.map((m) => m.msg.index)).toEqual(Array.from({ length: accepted }, (_, i) => i));
  });
});
