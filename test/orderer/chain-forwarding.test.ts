// Broadcast on a follower (orderer/chain/forwarding.ts). SUCCESS once the leader confirmed it
// holds the envelope (the submit-ack extension); a refusal means "not ordered". A forward
// overtaken by a leader change may still be queued to the deposed leader (which forwards it on,
// so it can be ordered); when the next attempt fails, the envelope is refused only if that earlier
// forward was not queued after all, and answered "fate unknown" (kept and resent) if it was.
import pino from 'pino';
import { SubmitFateUnknownError } from '../../cluster/errors';
import type { ClusterTransport, ForwardedEnvelope, SubmitAck, SubmitAnswerHandle } from '../../cluster/types';
import { newBlock } from '../../ledger/block';
import { Forwarder } from '../../orderer/chain/forwarding';
import { LeaderPipeline } from '../../orderer/chain/leader-pipeline';
import type { ChainSettings } from '../../orderer/chain/types';
import { EnvelopeFateUnknownError, OrdererError } from '../../orderer/errors';
import { common } from '../../protos';
import { simEnvelope } from '../sim/orderer/envelopes';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { SimClock } from '../sim/orderer/sim-clock';
import { testChainSettings } from '../support/chain-settings';

const CHANNEL = 'fwd';
const logger = pino({ level: 'silent' });
const settings: ChainSettings = testChainSettings(3);

interface Pending {
  to: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A forward to a leader that answers (the submit-ack extension), settled by the test. */
interface PendingAck {
  to: number;
  answer: (ack: SubmitAck) => void;
  fail: (err: Error) => void;
}

/**
 * How a transport with the extension hands answers back: a promise per forward (sendSubmitAcked),
 * or a handle (submitAcked, what the real one offers, taken by the Forwarder's first forward).
 */
type AckStyle = 'promise' | 'handle' | 'handle-throws';

function setup(
  maxAcceptedBytes?: number,
  resendBudgetBytes?: number,
  acks?: PendingAck[],
  ackStyle: AckStyle = 'handle',
): { forwarder: Forwarder; pending: Pending[]; setLeader(id: number): void; setLeaderUnannounced(id: number): void } {
  const store = new MemoryBlockStore(CHANNEL);
  void store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
  const clock = new SimClock();
  const timers = clock.timersFor(1);
  const pending: Pending[] = [];
  const transport: ClusterTransport = {
    sendConsensus: () => true,
    // Every forward waits for room on its stream until the test settles it.
    sendSubmit: (_ch, to) => new Promise<void>((resolve, reject) => pending.push({ to, resolve, reject })),
    ...(acks !== undefined
      ? { sendSubmitAcked: (_ch: string, to: number) => new Promise<SubmitAck>((answer, fail) => acks.push({ to, answer, fail })) }
      : {}),
    ...(acks !== undefined && ackStyle === 'handle-throws'
      ? {
          submitAcked: () => {
            throw new Error('transport torn down');
          },
        }
      : {}),
    ...(acks !== undefined && ackStyle === 'handle'
      ? {
          submitAcked: (_ch: string, to: number, _forward: ForwardedEnvelope, handle: SubmitAnswerHandle) =>
            acks.push({ to, answer: (ack) => handle.resolve(ack), fail: (err) => handle.reject(err) }),
        }
      : {}),
  };
  let leader = 2;
  const pipeline = new LeaderPipeline({
    channelId: CHANNEL,
    blockStore: store,
    timers,
    logger,
    settings: () => settings,
    propose: () => undefined,
    onBatchTimeout: () => undefined,
    maxIntakeEnvelopes: 100,
    intakeHighWater: 10,
    intakeWaitTimeoutMs: 1_000,
  });
  const forwarder = new Forwarder({
    channelId: CHANNEL,
    selfId: 1,
    transport,
    blockStore: store,
    pipeline,
    timers,
    logger,
    maxAccepted: 100,
    ...(maxAcceptedBytes !== undefined ? { maxAcceptedBytes } : {}),
    ...(resendBudgetBytes !== undefined ? { resendBudgetBytes } : {}),
    resubmitTtlMs: 60_000,
    leaderId: () => leader,
    configSequence: () => 0,
    haltedReason: () => undefined,
    kick: () => undefined,
  });
  return {
    forwarder,
    pending,
    setLeader: (id) => {
      leader = id;
      forwarder.wakeWaiters();
    },
    /** The leader as Raft knows it moves, and the Chain has not told the forwarder yet. */
    setLeaderUnannounced: (id) => {
      leader = id;
    },
  };
}

const settle = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

const outcomeOf = (p: Promise<void>): Promise<string> =>
  p.then(
    () => 'SUCCESS',
    (err: unknown) =>
      err instanceof OrdererError ? `refused ${common.Status[err.status]}: ${err.message}` : err instanceof EnvelopeFateUnknownError ? `fate unknown: ${err.message}` : String(err),
  );

describe.each<AckStyle>(['handle', 'promise'])('a leader that answers, answers by %s', (style) => {
  test('a follower answers SUCCESS only once the leader confirms it holds the envelope, and keeps it until it is in a block', async () => {
    const acks: PendingAck[] = [];
    const { forwarder } = setup(undefined, undefined, acks, style);
    const env = simEnvelope(CHANNEL, 'confirmed');
    let answered = false;
    const outcome = outcomeOf(forwarder.order(env)).finally(() => (answered = true));
    await settle();
    expect(acks.map((a) => a.to)).toEqual([2]);
    expect(answered).toBe(false); // handed over is not enough
    acks[0]!.answer({ kind: 'acked', status: common.Status.SUCCESS, info: '' });
    expect(await outcome).toBe('SUCCESS');
    expect(forwarder.acceptedSize).toBe(1);
    forwarder.settle([env.txId]);
    expect(forwarder.acceptedSize).toBe(0);
  });

  /** One Broadcast on a follower, its first forward (to node 2) handed over and not answered yet. */
  async function forwardedOnce(name: string): Promise<{ acks: PendingAck[]; forwarder: Forwarder; outcome: Promise<string>; setLeaderUnannounced(id: number): void }> {
    const acks: PendingAck[] = [];
    const { forwarder, setLeaderUnannounced } = setup(undefined, undefined, acks, style);
    const outcome = outcomeOf(forwarder.order(simEnvelope(CHANNEL, name)));
    await settle();
    return { acks, forwarder, outcome, setLeaderUnannounced };
  }

  test("a leader's refusal is passed to the client and nothing is kept: not ordered", async () => {
    const { acks, forwarder, outcome } = await forwardedOnce('refused-by-leader');
    acks[0]!.answer({ kind: 'acked', status: common.Status.SERVICE_UNAVAILABLE, info: 'the leader is overloaded' });
    expect(await outcome).toMatch(/^refused SERVICE_UNAVAILABLE: leader 2 did not take the envelope: the leader is overloaded/);
    expect(forwarder.acceptedSize).toBe(0);
  });

  test('a forward whose stream broke before the answer is asked again; the retry decides', async () => {
    const { acks, forwarder, outcome } = await forwardedOnce('asked-again');
    acks[0]!.fail(new SubmitFateUnknownError(CHANNEL, 2, 'the stream ended before the answer'));
    await settle();
    expect(acks.map((a) => a.to)).toEqual([2, 2]); // the same leader, on a new stream
    acks[1]!.answer({ kind: 'acked', status: common.Status.SUCCESS, info: '' }); // it had it, or has it now
    expect(await outcome).toBe('SUCCESS');
  });

  test('when no forward is ever answered the client hears "fate unknown", never a refusal, and the envelope is kept', async () => {
    const acks: PendingAck[] = [];
    const { forwarder } = setup(undefined, undefined, acks, style);
    const outcome = outcomeOf(forwarder.order(simEnvelope(CHANNEL, 'never-answered')));
    for (let i = 0; i < 4; i++) {
      await settle();
      acks[i]!.fail(new SubmitFateUnknownError(CHANNEL, 2, `no answer within 7000 ms`));
    }
    expect(await outcome).toMatch(/^fate unknown: leader 2 did not answer/);
    expect(forwarder.acceptedSize).toBe(1); // resent to the leader until it is in a block
  });

  /** A forward to node 2 still waiting for its answer when node 3 becomes the leader (then asked too). */
  async function leaderChangeDuringFirstForward(name: string): Promise<{ acks: PendingAck[]; forwarder: Forwarder; outcome: Promise<string> }> {
    const acks: PendingAck[] = [];
    const { forwarder, setLeader } = setup(undefined, undefined, acks, style);
    const outcome = outcomeOf(forwarder.order(simEnvelope(CHANNEL, name)));
    await settle();
    setLeader(3); // node 2 deposed while its answer is outstanding
    await settle();
    return { acks, forwarder, outcome };
  }

  test('a leader change while the first forward waits: the next leader decides, and a late SUCCESS of the deposed one makes its refusal "fate unknown"', async () => {
    const { acks, forwarder, outcome } = await leaderChangeDuringFirstForward('deposed-answers-late');
    expect(acks.map((a) => a.to)).toEqual([2, 3]);
    acks[1]!.answer({ kind: 'acked', status: common.Status.SERVICE_UNAVAILABLE, info: 'not ready' });
    await settle();
    let answered = false;
    void outcome.then(() => (answered = true));
    await settle();
    expect(answered).toBe(false); // node 2 may still take it
    acks[0]!.answer({ kind: 'acked', status: common.Status.SUCCESS, info: '' });
    expect(await outcome).toMatch(/^fate unknown: leader 3 did not take the envelope: not ready/);
    expect(forwarder.acceptedSize).toBe(1);
  });

  test('a leader change while the first forward waits: a deposed leader that refuses too leaves a refusal', async () => {
    const { acks, forwarder, outcome } = await leaderChangeDuringFirstForward('both-refuse');
    acks[1]!.answer({ kind: 'acked', status: common.Status.BAD_REQUEST, info: 'malformed' });
    await settle();
    acks[0]!.answer({ kind: 'acked', status: common.Status.SERVICE_UNAVAILABLE, info: 'no longer the leader' });
    expect(await outcome).toMatch(/^refused BAD_REQUEST: leader 3 did not take the envelope: malformed/);
    expect(forwarder.acceptedSize).toBe(0);
  });

  test('a leader change while the first forward waits: SUCCESS from the next leader answers at once', async () => {
    const { acks, forwarder, outcome } = await leaderChangeDuringFirstForward('next-leader-takes');
    acks[1]!.answer({ kind: 'acked', status: common.Status.SUCCESS, info: '' });
    expect(await outcome).toBe('SUCCESS');
    expect(forwarder.acceptedSize).toBe(1);
    acks[0]!.answer({ kind: 'acked', status: common.Status.SUCCESS, info: '' }); // late: changes nothing
    await settle();
    expect(forwarder.acceptedSize).toBe(1);
  });

  test('a refusal from a leader that has just lost its leadership is followed to the next leader', async () => {
    const { acks, outcome, setLeaderUnannounced } = await forwardedOnce('refused-by-deposed');
    setLeaderUnannounced(3); // the refusal arrives before the Chain announces the new leader
    acks[0]!.answer({ kind: 'acked', status: common.Status.SERVICE_UNAVAILABLE, info: 'not the leader' });
    await settle();
    expect(acks.map((a) => a.to)).toEqual([2, 3]);
    acks[1]!.answer({ kind: 'acked', status: common.Status.SUCCESS, info: '' });
    expect(await outcome).toBe('SUCCESS');
  });

  test('a forward the transport cannot send (unknown leader, closed client) is refused at once, not ordered', async () => {
    const { acks, forwarder, outcome } = await forwardedOnce('cannot-send');
    acks[0]!.fail(new Error('unknown destination 2'));
    expect(await outcome).toMatch(/^refused SERVICE_UNAVAILABLE: could not forward to leader 2: unknown destination 2/);
    expect(forwarder.acceptedSize).toBe(0);
  });
});

test('a transport that throws instead of answering through the handle: refused, not ordered, its room released', async () => {
  // Room for one envelope at a time: a reservation the refusal did not give back would refuse the next one as "too many".
  const { forwarder } = setup(1, undefined, [], 'handle-throws');
  for (const name of ['thrown-1', 'thrown-2']) {
    expect(await outcomeOf(forwarder.order(simEnvelope(CHANNEL, name)))).toMatch(/^refused SERVICE_UNAVAILABLE: could not forward to leader 2: transport torn down/);
  }
  expect(forwarder.acceptedSize).toBe(0);
});

test('a leader without the extension (a Fabric orderer): SUCCESS once the forward is written, as in Fabric', async () => {
  const { forwarder, pending } = setup();
  const outcome = outcomeOf(forwarder.order(simEnvelope(CHANNEL, 'fabric-leader')));
  await settle();
  pending[0]!.resolve();
  expect(await outcome).toBe('SUCCESS');
});

test('a forward overtaken by a leader change and queued later makes a failed retry "fate unknown", not a refusal', async () => {
  const { forwarder, pending, setLeader } = setup();
  const outcome = forwarder.order(simEnvelope(CHANNEL, 'overtaken-then-queued')).then(
    () => 'SUCCESS',
    (err: unknown) => (err instanceof OrdererError ? `refused ${common.Status[err.status]}` : String(err)),
  );
  await settle();
  expect(pending.map((p) => p.to)).toEqual([2]);
  setLeader(3); // node 2 is deposed while the forward still waits for room on its stream
  await settle();
  expect(pending.map((p) => p.to)).toEqual([2, 3]);
  pending[1]!.reject(new Error('no stream to node 3'));
  await settle();
  pending[0]!.resolve(); // the forward to node 2 was queued after all: it may be ordered
  expect(await outcome).toMatch(/^EnvelopeFateUnknownError: could not forward to leader 3/);
  expect(forwarder.acceptedSize).toBe(1); // kept, and resent to the next leader
});

test('when no overtaken forward was queued, the failed retry is refused SERVICE_UNAVAILABLE', async () => {
  const { forwarder, pending, setLeader } = setup();
  const outcome = forwarder.order(simEnvelope(CHANNEL, 'overtaken-then-dropped')).then(
    () => 'SUCCESS',
    (err: unknown) => (err instanceof OrdererError ? `refused ${common.Status[err.status]}` : String(err)),
  );
  await settle();
  setLeader(3);
  await settle();
  pending[1]!.reject(new Error('no stream to node 3'));
  await settle();
  pending[0]!.reject(new Error('stream to node 2 broke before the envelope was written'));
  expect(await outcome).toBe('refused SERVICE_UNAVAILABLE');
  expect(forwarder.acceptedSize).toBe(0);
});

test('a Broadcast that rides out four leader changes is refused only once none of its forwards was queued', async () => {
  const { forwarder, pending, setLeader } = setup();
  const outcome = forwarder.order(simEnvelope(CHANNEL, 'leaders-keep-changing')).then(
    () => 'SUCCESS',
    (err: unknown) => (err instanceof OrdererError ? err.message : String(err)),
  );
  for (const next of [3, 2, 3, 2]) {
    await settle();
    setLeader(next);
  }
  await settle();
  let settled = false;
  void outcome.then(() => (settled = true));
  await settle();
  expect(settled).toBe(false); // still waiting on the four overtaken forwards
  for (const p of pending) p.reject(new Error('stream broke'));
  expect(await outcome).toMatch(/keeps changing/);
});

test('a full accepted set: Broadcast is refused SERVICE_UNAVAILABLE before forwarding, nothing acknowledged is dropped, and a committed block makes room', async () => {
  const envs = Array.from({ length: 4 }, (_, i) => simEnvelope(CHANNEL, `full-${i}`, 100));
  const size = envs[0]!.envelopeBytes.length;
  const { forwarder, pending } = setup(3 * size);
  const acked = envs.slice(0, 3).map((e) => forwarder.order(e));
  await settle();
  for (const p of pending) p.resolve();
  await Promise.all(acked);
  expect(forwarder.acceptedSize).toBe(3);
  expect(forwarder.acceptedBytes).toBe(3 * size);
  pending.length = 0;
  const refused = await forwarder.order(envs[3]!).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(OrdererError);
  expect((refused as OrdererError).status).toBe(common.Status.SERVICE_UNAVAILABLE);
  expect((refused as OrdererError).message).toMatch(/too many envelopes accepted and not yet ordered/);
  expect(pending).toHaveLength(0); // not forwarded: the refusal means "not ordered"
  expect(forwarder.acceptedSize).toBe(3); // nothing acknowledged was evicted
  // A client retry of an acknowledged envelope needs no new room.
  const retry = forwarder.order(envs[0]!);
  await settle();
  pending.shift()!.resolve();
  await retry;
  forwarder.settle([envs[1]!.txId]); // its block committed
  const again = forwarder.order(envs[3]!);
  await settle();
  expect(pending).toHaveLength(1);
  pending[0]!.resolve();
  await again;
  expect(forwarder.acceptedSize).toBe(3);
});

test('Broadcasts in flight hold their room: concurrent ones beyond the bound are refused at once', async () => {
  const envs = Array.from({ length: 3 }, (_, i) => simEnvelope(CHANNEL, `inflight-${i}`, 100));
  const { forwarder, pending } = setup(2 * envs[0]!.envelopeBytes.length);
  const first = envs.slice(0, 2).map((e) => forwarder.order(e));
  await settle();
  expect(pending).toHaveLength(2);
  const third = await forwarder.order(envs[2]!).catch((e: unknown) => e);
  expect((third as OrdererError).message).toMatch(/too many envelopes accepted/);
  pending[0]!.reject(new Error('stream broke')); // refused downstream: its room comes back
  pending[1]!.resolve();
  await expect(first[0]).rejects.toBeInstanceOf(OrdererError);
  await first[1];
  expect(forwarder.acceptedSize).toBe(1);
  const later = forwarder.order(envs[2]!);
  await settle();
  pending[2]!.resolve();
  await later;
  expect(forwarder.acceptedSize).toBe(2);
});

test('resends to a new leader are paced by a byte budget: the next chunk once the previous one is queued, none after the leader changes again', async () => {
  const envs = Array.from({ length: 5 }, (_, i) => simEnvelope(CHANNEL, `paced-${i}`, 100));
  const size = envs[0]!.envelopeBytes.length;
  const { forwarder, pending, setLeader } = setup(undefined, 2 * size);
  const acked = envs.map((e) => forwarder.order(e));
  await settle();
  for (const p of pending.splice(0)) p.resolve();
  await Promise.all(acked);
  expect(forwarder.acceptedSize).toBe(5);

  setLeader(3);
  forwarder.resubmitAccepted();
  expect(pending.map((p) => p.to)).toEqual([3, 3]); // the first chunk only
  for (const p of pending.splice(0)) p.resolve();
  await settle();
  expect(pending.map((p) => p.to)).toEqual([3, 3]); // the second, once the first was queued
  forwarder.settle([envs[4]!.txId]); // committed meanwhile: not resent
  for (const p of pending.splice(0)) p.resolve();
  await settle();
  expect(pending).toHaveLength(0);
  expect(forwarder.counters.resubmitted).toBe(4);

  setLeader(2);
  forwarder.resubmitAccepted();
  expect(pending.map((p) => p.to)).toEqual([2, 2]);
  setLeader(3); // the rest of the resend to node 2 is not sent
  for (const p of pending.splice(0)) p.resolve();
  await settle();
  expect(pending).toHaveLength(0);
});
