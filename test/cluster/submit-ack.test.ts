// Submit acknowledgements, our extension of Cluster.Step: a follower that asks (a request header)
// learns, per forwarded envelope and in order, whether the leader's chain took it. A Fabric
// leader never answers (the follower falls back to "written"), and a Fabric follower never asks
// (it gets nothing it does not expect). A stream that fails after the hand-over leaves the
// envelope's fate unknown, which is not a refusal.
import * as grpc from '@grpc/grpc-js';
import { SubmitFateUnknownError } from '../../cluster/errors';
import { CLUSTER_STEP_PATH, NODE_ID_HEADER, SUBMIT_ACK_HEADER } from '../../cluster/service';
import type { ForwardedEnvelope, NodeId, SubmitOutcome } from '../../cluster/types';
import { common, orderer } from '../../protos';
import { configureChannel, HOST, nodePairForDescribe, RecordingReceiver, scriptedStepServer, sleep, TestNode, waitFor } from './helpers';

const envelope = (n: number): ForwardedEnvelope => ({ lastValidationSeq: n, envelope: common.Envelope.encode({ payload: Uint8Array.of(n) }) });

/** A chain whose answer per envelope the test scripts (by lastValidationSeq). */
class ScriptedReceiver extends RecordingReceiver {
  constructor(private readonly script: (n: number) => void | SubmitOutcome | Promise<SubmitOutcome>) {
    super();
  }

  override onSubmit(from: NodeId, req: orderer.SubmitRequest): void | SubmitOutcome | Promise<SubmitOutcome> {
    super.onSubmit(from, req);
    return this.script(req.lastValidationSeq);
  }
}

describe('submit acknowledgements between two orderers of ours', () => {
  const { a, b } = nodePairForDescribe({ rpcTimeoutMs: 5_000, ackHandshakeMs: 2_000 });

  it('each forwarded envelope is answered, in order, whether the chain answers at once or later', async () => {
    configureChannel('acks', [a, b], [1, 2]);
    let releaseSecond!: (o: SubmitOutcome) => void;
    const second = new Promise<SubmitOutcome>((resolve) => (releaseSecond = resolve));
    const atB = new ScriptedReceiver((n) => {
      if (n === 1) return { status: common.Status.SUCCESS, info: '' };
      if (n === 2) return second;
      return undefined; // taken, nothing to add
    });
    b.comm.register('acks', atB);
    const answers = [1, 2, 3].map((n) => a.comm.sendSubmitAcked('acks', 2, envelope(n)));
    await waitFor('all three at the leader', 5_000, () => atB.submits.length === 3);
    releaseSecond({ status: common.Status.SERVICE_UNAVAILABLE, info: 'intake full' });
    expect(await Promise.all(answers)).toEqual([
      { kind: 'acked', status: common.Status.SUCCESS, info: '' },
      { kind: 'acked', status: common.Status.SERVICE_UNAVAILABLE, info: 'intake full' },
      { kind: 'acked', status: common.Status.SUCCESS, info: '' },
    ]);
  });

  it('a stream that fails after the hand-over leaves that envelope of unknown fate, never refused', async () => {
    configureChannel('fails', [a, b], [1, 2]);
    const atB = new ScriptedReceiver((n) => {
      if (n === 3) throw new Error('chain gone');
      return undefined;
    });
    b.comm.register('fails', atB);
    expect(await a.comm.sendSubmitAcked('fails', 2, envelope(1))).toEqual({ kind: 'acked', status: common.Status.SUCCESS, info: '' });
    expect(await a.comm.sendSubmitAcked('fails', 2, envelope(2))).toMatchObject({ kind: 'acked', status: common.Status.SUCCESS });
    await expect(a.comm.sendSubmitAcked('fails', 2, envelope(3))).rejects.toBeInstanceOf(SubmitFateUnknownError);
  });
});

describe('no answer in time', () => {
  const { a, b } = nodePairForDescribe({ rpcTimeoutMs: 400, ackHandshakeMs: 2_000 });

  it('is fate unknown, not a refusal', async () => {
    configureChannel('slow', [a, b], [1, 2]);
    b.comm.register('slow', new ScriptedReceiver(() => new Promise<SubmitOutcome>(() => undefined)));
    const err = await a.comm.sendSubmitAcked('slow', 2, envelope(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SubmitFateUnknownError);
    expect((err as Error).message).toContain('no answer within 400 ms');
  });

  it('is fate unknown through an answer handle too (submitAcked), answered once', async () => {
    configureChannel('slow-handle', [a, b], [1, 2]);
    b.comm.register('slow-handle', new ScriptedReceiver(() => new Promise<SubmitOutcome>(() => undefined)));
    const answers: unknown[] = [];
    const err = await new Promise<unknown>((resolve) =>
      a.comm.submitAcked('slow-handle', 2, envelope(1), {
        resolve: (ack) => {
          answers.push(ack);
          resolve(ack);
        },
        reject: (e) => {
          answers.push(e);
          resolve(e);
        },
      }),
    );
    expect(err).toBeInstanceOf(SubmitFateUnknownError);
    expect((err as Error).message).toContain('no answer within 400 ms');
    await new Promise((resolve) => setTimeout(resolve, 600)); // another sweep: nothing more
    expect(answers).toHaveLength(1);
  });
});

describe('with Fabric orderers on the other side', () => {
  it('a leader without the extension (reads, never answers): the envelope counts as sent once written', async () => {
    // A Fabric 2.5 leader: takes the stream, never writes a response, never sends headers early.
    const received: Uint8Array[] = [];
    let askedForAcks = false;
    const { port, close: closeServer } = await scriptedStepServer((call) => {
      askedForAcks = call.metadata.get(SUBMIT_ACK_HEADER).length > 0;
      call.on('data', (b: Uint8Array) => received.push(b));
    });
    const a = new TestNode('a', { rpcTimeoutMs: 5_000, ackHandshakeMs: 300 });
    try {
      await a.listen();
      a.comm.configure('fab', { selfId: 1, members: [a.member(1), { id: 2, host: HOST, port }] });
      expect(await a.comm.sendSubmitAcked('fab', 2, envelope(1))).toEqual({ kind: 'unacknowledged' });
      expect(await a.comm.sendSubmitAcked('fab', 2, envelope(2))).toEqual({ kind: 'unacknowledged' });
      await waitFor('both envelopes at the Fabric leader', 5_000, () => received.length === 2);
      expect(askedForAcks).toBe(true); // asked, harmlessly: an unknown header is ignored
    } finally {
      await a.close();
      closeServer();
    }
  });

  it('a follower without the extension gets no answers and no extension header from our leader', async () => {
    const b = new TestNode('b');
    await b.listen();
    try {
      b.comm.configure('plain', { selfId: 2, members: [{ id: 1, host: HOST, port: 1 }, b.member(2)] });
      const atB = new RecordingReceiver();
      b.comm.register('plain', atB);
      // A Fabric follower's submit stream: the node-id header, no ack header.
      const client = new grpc.Client(`${HOST}:${b.port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
      const md = new grpc.Metadata();
      md.set(NODE_ID_HEADER, '1');
      const call = client.makeBidiStreamRequest(CLUSTER_STEP_PATH, (x: Uint8Array) => Buffer.from(x), (x: Buffer) => x, md);
      const answers: Buffer[] = [];
      let extensionHeader = false;
      call.on('data', (d: Buffer) => answers.push(d));
      call.on('metadata', (m: grpc.Metadata) => (extensionHeader = m.get(SUBMIT_ACK_HEADER).length > 0));
      call.on('error', () => undefined);
      for (let n = 1; n <= 3; n++) call.write(orderer.StepRequest.encode({ submitRequest: { channel: 'plain', lastValidationSeq: n, payload: { payload: Uint8Array.of(n) } } }));
      await waitFor('the envelopes at the leader', 5_000, () => atB.submits.length === 3);
      // An answer would already be on its way; give it time to arrive, then check there was none.
      await sleep(200);
      expect(answers).toEqual([]);
      expect(extensionHeader).toBe(false);
      call.cancel();
      client.close();
    } finally {
      await b.close();
    }
  });
});
