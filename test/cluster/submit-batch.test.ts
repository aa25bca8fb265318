// Submit batches, our second extension of Cluster.Step (cluster/service.ts SUBMIT_BATCH_HEADER):
// forwards queued together go to a leader of ours in one StepRequest{submit_batch}, answered by
// one StepResponse with a result per envelope. Each forward still hears its own answer, in
// order; forwards checked against different config sequences never share a batch; a leader that
// does not answer the header (an older one of ours, or Fabric) gets one SubmitRequest per envelope.
import * as grpc from '@grpc/grpc-js';
import { SubmitFateUnknownError } from '../../cluster/errors';
import { CLUSTER_STEP_PATH, NODE_ID_HEADER, SUBMIT_ACK_HEADER, SUBMIT_BATCH_HEADER } from '../../cluster/service';
import type { ForwardedBatch, ForwardedEnvelope, NodeId, SubmitOutcome } from '../../cluster/types';
import { common, orderer } from '../../protos';
import { configureChannel, HOST, RecordingReceiver, scriptedStepServer, TestNode, waitFor } from './helpers';

/** Envelope n of a test, `sizeBytes` of payload, checked against config sequence `seq`. */
function forward(n: number, seq = 0, sizeBytes = 8): ForwardedEnvelope {
  const payload = new Uint8Array(sizeBytes).fill(n & 0xff);
  payload[0] = n >> 8;
  return { lastValidationSeq: seq, envelope: common.Envelope.encode({ payload, signature: Uint8Array.of(n & 0xff) }) };
}

/** Which test envelope a marshaled one is (forward()'s numbering). */
function numberOf(envelope: Uint8Array): number {
  const e = common.Envelope.decode(envelope);
  return (e.payload[0]! << 8) | e.signature[0]!;
}

/** A leader's chain that takes batches, answering each envelope as the test scripts (by its number). */
class BatchReceiver extends RecordingReceiver {
  readonly batches: Array<{ seq: number; numbers: number[]; envelopes: readonly Uint8Array[] }> = [];
  /** How the chain fails on a batch it has seen: throwing, a rejected promise, or one outcome short. */
  failBatches: 'throw' | 'reject' | 'short' | undefined;
  constructor(private readonly script: (n: number) => SubmitOutcome | Promise<SubmitOutcome> = () => ({ status: common.Status.SUCCESS, info: '' })) {
    super();
  }

  override onSubmit(from: NodeId, req: orderer.SubmitRequest): SubmitOutcome | Promise<SubmitOutcome> {
    super.onSubmit(from, req);
    return this.script(numberOf(common.Envelope.encode(req.payload!)));
  }

  onSubmitBatch(_from: NodeId, batch: ForwardedBatch): SubmitOutcome[] | Promise<SubmitOutcome[]> {
    const numbers = batch.envelopes.map(numberOf);
    this.batches.push({ seq: batch.lastValidationSeq, numbers, envelopes: batch.envelopes });
    if (this.failBatches === 'throw') throw new Error('chain gone');
    if (this.failBatches === 'reject') return Promise.reject(new Error('chain gone'));
    const outcomes = numbers.map((n) => this.script(n));
    if (this.failBatches === 'short') return outcomes.slice(1) as SubmitOutcome[];
    return outcomes.some((o) => o instanceof Promise) ? Promise.all(outcomes) : (outcomes as SubmitOutcome[]);
  }

  /** Envelope numbers as they arrived, singles and batches, with the sequence each was checked against. */
  arrived(): Array<[number, number]> {
    return [
      ...this.submits.map((s): [number, number] => [numberOf(common.Envelope.encode(s.req.payload!)), s.req.lastValidationSeq]),
      ...this.batches.flatMap((b) => b.numbers.map((n): [number, number] => [n, b.seq])),
    ];
  }
}

const refusedEvery5th = (n: number): SubmitOutcome =>
  n % 5 === 2 ? { status: common.Status.SERVICE_UNAVAILABLE, info: `no room for ${n}` } : { status: common.Status.SUCCESS, info: '' };

async function pair(aOptions: ConstructorParameters<typeof TestNode>[1] = {}, bOptions: ConstructorParameters<typeof TestNode>[1] = {}): Promise<{ a: TestNode; b: TestNode }> {
  const a = new TestNode('a', { rpcTimeoutMs: 5_000, ackHandshakeMs: 2_000, ...aOptions });
  const b = new TestNode('b', bOptions);
  await a.listen();
  await b.listen();
  return { a, b };
}

/**
 * `follower` forwards 60 envelopes of 1 KB to `leader` on `channel`: every one is taken, some go
 * in batches, and no batch is larger than `maxBytes` encoded.
 */
async function expectBatchesWithin(follower: TestNode, leader: TestNode, channel: string, maxBytes: number): Promise<void> {
  configureChannel(channel, [follower, leader], [1, 2]);
  const atLeader = new BatchReceiver();
  leader.comm.register(channel, atLeader);
  await follower.comm.sendSubmitAcked(channel, 2, forward(0, 0, 1_000));
  const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => follower.comm.sendSubmitAcked(channel, 2, forward(i + 1, 0, 1_000))));
  expect(answers.every((x) => x.kind === 'acked' && x.status === common.Status.SUCCESS)).toBe(true);
  expect(atLeader.batches.length).toBeGreaterThan(0);
  for (const batch of atLeader.batches) {
    const encoded = orderer.StepRequest.encode({ submitBatch: { channel, lastValidationSeq: 0, envelopes: [...batch.envelopes] } });
    expect(encoded.length).toBeLessThanOrEqual(maxBytes);
  }
  expect(atLeader.arrived()).toHaveLength(61);
}

describe('between two orderers of ours', () => {
  let a: TestNode;
  let b: TestNode;
  beforeEach(async () => ({ a, b } = await pair()));
  afterEach(async () => Promise.all([a.close(), b.close()]));

  it('forwards queued together go in batches, and each one hears its own answer, in order', async () => {
    configureChannel('batch', [a, b], [1, 2]);
    let releaseLate!: (o: SubmitOutcome) => void;
    const late = new Promise<SubmitOutcome>((resolve) => (releaseLate = resolve));
    const atB = new BatchReceiver((n) => (n === 33 ? late : refusedEvery5th(n)));
    b.comm.register('batch', atB);
    // Warm the stream up so the leader's header has been seen: later forwards may be batched.
    expect(await a.comm.sendSubmitAcked('batch', 2, forward(0, 4))).toEqual({ kind: 'acked', status: common.Status.SUCCESS, info: '' });
    const numbers = Array.from({ length: 60 }, (_, i) => i + 1);
    const answers = numbers.map((n) => a.comm.sendSubmitAcked('batch', 2, forward(n, 4)));
    await waitFor('all at the leader', 5_000, () => atB.arrived().length === 61);
    releaseLate({ status: common.Status.BAD_REQUEST, info: 'late refusal' });
    const got = await Promise.all(answers);
    expect(got).toEqual(
      numbers.map((n) => (n === 33 ? { kind: 'acked', status: common.Status.BAD_REQUEST, info: 'late refusal' } : { kind: 'acked', ...refusedEvery5th(n) })),
    );
    // Fewer messages than envelopes, every envelope once, in the order sent, bytes unchanged.
    expect(atB.batches.length).toBeGreaterThan(0);
    expect(atB.batches.length + atB.submits.length).toBeLessThan(61);
    expect(atB.arrived().map(([n]) => n).sort((x, y) => x - y)).toEqual([0, ...numbers]);
    const batched = atB.batches.flatMap((batch) => batch.envelopes.map((e, i): [number, string] => [batch.numbers[i]!, Buffer.from(e).toString("hex")]));
    for (const [n, hex] of batched) expect(hex).toBe(Buffer.from(forward(n, 4).envelope).toString('hex'));
    expect(atB.batches.flatMap((x) => x.numbers)).toEqual([...atB.batches.flatMap((x) => x.numbers)].sort((x, y) => x - y));
  });

  it('submitAcked answers through its handle exactly as sendSubmitAcked does through its promise', async () => {
    configureChannel('handles', [a, b], [1, 2]);
    const atB = new BatchReceiver(refusedEvery5th);
    b.comm.register('handles', atB);
    const viaHandle = (channel: string, to: NodeId, f: ForwardedEnvelope): Promise<{ ack?: unknown; err?: string; settledBefore: boolean }> =>
      new Promise((resolve) => {
        let returned = false;
        a.comm.submitAcked(channel, to, f, {
          resolve: (ack) => resolve({ ack, settledBefore: !returned }),
          reject: (err) => resolve({ err: err.constructor.name, settledBefore: !returned }),
        });
        returned = true;
      });
    const numbers = Array.from({ length: 30 }, (_, i) => i + 1);
    const got = await Promise.all(numbers.map((n) => viaHandle('handles', 2, forward(n))));
    expect(got.map((g) => g.ack)).toEqual(numbers.map((n) => ({ kind: 'acked', ...refusedEvery5th(n) })));
    expect(got.every((g) => !g.settledBefore)).toBe(true);
    // Not sendable: the handle hears it before submitAcked returns, as sendSubmitAcked rejects.
    expect(await viaHandle('handles', 9, forward(99))).toEqual({ err: 'UnknownDestinationError', settledBefore: true });
    await expect(a.comm.sendSubmitAcked('handles', 9, forward(99))).rejects.toThrow(/9/);
  });

  it('a lone forward goes as a batch of one, so the leader takes its bytes without decoding them', async () => {
    configureChannel('lone', [a, b], [1, 2]);
    const atB = new BatchReceiver();
    b.comm.register('lone', atB);
    await a.comm.sendSubmitAcked('lone', 2, forward(0)); // the leader's header arrives with this one's answer
    const singlesBefore = atB.submits.length;
    expect(await a.comm.sendSubmitAcked('lone', 2, forward(7))).toEqual({ kind: 'acked', status: common.Status.SUCCESS, info: '' });
    expect(atB.submits.length).toBe(singlesBefore);
    expect(atB.batches.at(-1)?.numbers).toEqual([7]);
  });

  it('forwards checked against different config sequences never share a batch', async () => {
    configureChannel('seqs', [a, b], [1, 2]);
    const atB = new BatchReceiver();
    b.comm.register('seqs', atB);
    await a.comm.sendSubmitAcked('seqs', 2, forward(0, 1));
    const sent: Array<[number, number]> = [1, 1, 1, 2, 2, 1, 3, 3, 3, 3].map((seq, i) => [i + 1, seq]);
    await Promise.all(sent.map(([n, seq]) => a.comm.sendSubmitAcked('seqs', 2, forward(n, seq))));
    const arrived = atB.arrived();
    expect(arrived.sort((x, y) => x[0] - y[0])).toEqual([[0, 1], ...sent]);
    expect(atB.batches.length).toBeGreaterThan(0);
    for (const batch of atB.batches) for (const n of batch.numbers) expect(sent.find(([m]) => m === n)?.[1]).toBe(batch.seq);
  });

  it('a batch stays within the largest message the follower may send', async () => {
    const small = new TestNode('small', { rpcTimeoutMs: 5_000, ackHandshakeMs: 2_000, maxSendMessageBytes: 8 * 1024 });
    try {
      await small.listen();
      await expectBatchesWithin(small, b, 'small', 8 * 1024);
    } finally {
      await small.close();
    }
  });

  it('a leader chain without batch support takes a batch envelope by envelope, answered in order', async () => {
    configureChannel('each', [a, b], [1, 2]);
    const atB = new (class extends RecordingReceiver {
      override onSubmit(from: NodeId, req: orderer.SubmitRequest): void | SubmitOutcome {
        super.onSubmit(from, req);
        return refusedEvery5th(numberOf(common.Envelope.encode(req.payload!)));
      }
    })();
    b.comm.register('each', atB);
    await a.comm.sendSubmitAcked('each', 2, forward(0));
    const numbers = Array.from({ length: 30 }, (_, i) => i + 1);
    const got = await Promise.all(numbers.map((n) => a.comm.sendSubmitAcked('each', 2, forward(n))));
    expect(got).toEqual(numbers.map((n) => ({ kind: 'acked', ...refusedEvery5th(n) })));
    expect(atB.submits.map((s) => numberOf(common.Envelope.encode(s.req.payload!)))).toEqual([0, ...numbers]);
  });

  it.each(['throw', 'reject', 'short'] as const)(
    'a chain that fails on a batch (%s) leaves each of its envelopes of unknown fate, never refused: it may have taken some',
    async (how) => {
      configureChannel(`fails-${how}`, [a, b], [1, 2]);
      const atB = new BatchReceiver();
      b.comm.register(`fails-${how}`, atB);
      await a.comm.sendSubmitAcked(`fails-${how}`, 2, forward(0));
      atB.failBatches = how;
      const got = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => a.comm.sendSubmitAcked(`fails-${how}`, 2, forward(i + 1))));
      expect(atB.batches.length).toBeGreaterThan(0); // the failure was a batch's
      for (const r of got) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(SubmitFateUnknownError);
      }
    },
  );

  it("batches stay within the leader's receive limit, which its answer to the header states", async () => {
    const small = new TestNode('small-recv', { maxRecvMessageBytes: 16 * 1024 });
    try {
      await small.listen(0, { maxRecvMessageBytes: 16 * 1024 });
      await expectBatchesWithin(a, small, 'recv', 16 * 1024);
    } finally {
      await small.close();
    }
  });
});

describe('falling back to one envelope per message', () => {
  it('with a leader of ours that does not take batches', async () => {
    const { a, b } = await pair({}, { acceptSubmitBatches: false });
    try {
      configureChannel('old', [a, b], [1, 2]);
      const atB = new BatchReceiver(refusedEvery5th);
      b.comm.register('old', atB);
      await a.comm.sendSubmitAcked('old', 2, forward(0));
      const numbers = Array.from({ length: 30 }, (_, i) => i + 1);
      const got = await Promise.all(numbers.map((n) => a.comm.sendSubmitAcked('old', 2, forward(n))));
      expect(got).toEqual(numbers.map((n) => ({ kind: 'acked', ...refusedEvery5th(n) })));
      expect(atB.batches).toEqual([]);
      expect(atB.submits).toHaveLength(31);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('from a follower told not to offer them', async () => {
    const { a, b } = await pair({ batchSubmits: false });
    try {
      configureChannel('off', [a, b], [1, 2]);
      const atB = new BatchReceiver();
      b.comm.register('off', atB);
      await Promise.all(Array.from({ length: 30 }, (_, i) => a.comm.sendSubmitAcked('off', 2, forward(i))));
      expect(atB.batches).toEqual([]);
      expect(atB.submits).toHaveLength(30);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('with a Fabric leader, which answers no header: plain SubmitRequests, the envelope bytes as the client sent them', async () => {
    const received: orderer.StepRequest[] = [];
    let offered = false;
    const { port, close: closeServer } = await scriptedStepServer((call) => {
      offered = call.metadata.get(SUBMIT_BATCH_HEADER).length > 0;
      call.on('data', (bytes: Uint8Array) => received.push(orderer.StepRequest.decode(bytes)));
    });
    const a = new TestNode('a', { rpcTimeoutMs: 5_000, ackHandshakeMs: 200 });
    try {
      await a.listen();
      a.comm.configure('fab', { selfId: 1, members: [a.member(1), { id: 2, host: HOST, port }] });
      const sent = Array.from({ length: 20 }, (_, i) => forward(i + 1, 3));
      const got = await Promise.all(sent.map((f) => a.comm.sendSubmitAcked('fab', 2, f)));
      expect(got.every((x) => x.kind === 'unacknowledged')).toBe(true);
      await waitFor('all at the Fabric leader', 5_000, () => received.length === 20);
      expect(offered).toBe(true); // offered, harmlessly: an unknown header is ignored
      expect(received.every((r) => r.submitBatch === undefined && r.submitRequest !== undefined)).toBe(true);
      expect(received.map((r) => Buffer.from(common.Envelope.encode(r.submitRequest!.payload!)).toString('hex'))).toEqual(
        sent.map((f) => Buffer.from(f.envelope).toString('hex')),
      );
      expect(received.every((r) => r.submitRequest!.channel === 'fab' && r.submitRequest!.lastValidationSeq === 3)).toBe(true);
    } finally {
      await a.close();
      closeServer();
    }
  });
});

describe('a leader whose acknowledgement header comes after the follower stopped waiting for it', () => {
  it('its answers are not paired with later forwards: every forward on that stream counts as written', async () => {
    // Answers every forward with a refusal, but only after the follower decided it does not answer.
    const { port, close: closeServer } = await scriptedStepServer((call) => {
      let answering = false;
      const pending: number[] = [];
      const answer = (): void => {
        for (const _ of pending.splice(0)) call.write(orderer.StepResponse.encode({ submitRes: { channel: 'late', status: common.Status.BAD_REQUEST, info: 'refused' } }));
      };
      setTimeout(() => {
        const md = new grpc.Metadata();
        md.set(SUBMIT_ACK_HEADER, '1');
        call.sendMetadata(md);
        answering = true;
        answer();
      }, 400);
      call.on('data', () => {
        pending.push(1);
        if (answering) answer();
      });
    });
    const a = new TestNode('a', { rpcTimeoutMs: 5_000, ackHandshakeMs: 100 });
    try {
      await a.listen();
      a.comm.configure('late', { selfId: 1, members: [a.member(1), { id: 2, host: HOST, port }] });
      const early = await Promise.all([1, 2].map((n) => a.comm.sendSubmitAcked('late', 2, forward(n))));
      expect(early).toEqual([{ kind: 'unacknowledged' }, { kind: 'unacknowledged' }]);
      await new Promise((resolve) => setTimeout(resolve, 600)); // the header and the first answers arrive
      const later = await Promise.all([3, 4].map((n) => a.comm.sendSubmitAcked('late', 2, forward(n))));
      expect(later).toEqual([{ kind: 'unacknowledged' }, { kind: 'unacknowledged' }]);
    } finally {
      await a.close();
      closeServer();
    }
  });
});

describe('a sender that did not offer batches', () => {
  it.each([
    ['no extension header', {}],
    ['acknowledgements only', { [SUBMIT_ACK_HEADER]: '1' }],
  ])('with %s: a SubmitBatch ends its stream INVALID_ARGUMENT, and nothing reaches the chain', async (_name, headers: Record<string, string>) => {
    const b = new TestNode('b');
    await b.listen();
    const client = new grpc.Client(`${HOST}:${b.port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    try {
      b.comm.configure('raw', { selfId: 2, members: [{ id: 1, host: HOST, port: 1 }, b.member(2)] });
      const atB = new BatchReceiver();
      b.comm.register('raw', atB);
      const md = new grpc.Metadata();
      md.set(NODE_ID_HEADER, '1');
      for (const [k, v] of Object.entries(headers)) md.set(k, v);
      const call = client.makeBidiStreamRequest(CLUSTER_STEP_PATH, (x: Uint8Array) => Buffer.from(x), (x: Buffer) => x, md);
      call.on('data', () => undefined);
      call.on('error', () => undefined);
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.write(orderer.StepRequest.encode({ submitBatch: { channel: 'raw', lastValidationSeq: 0, envelopes: [forward(1).envelope, forward(2).envelope] } }));
      const st = await status;
      expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(st.details).toContain(SUBMIT_BATCH_HEADER);
      expect(atB.arrived()).toEqual([]);
    } finally {
      client.close();
      await b.close();
    }
  });
});
