// Broadcast over real gRPC on 127.0.0.1 against chains over real LMDB stores.
import * as grpc from '@grpc/grpc-js';
import { common, orderer } from '../../protos';
import { EnvelopeFateUnknownError, OrdererError } from '../../orderer/errors';
import { envelopeTxId } from '../../ledger';
import { BroadcastClient, broadcastEnvelopes } from '../../orderer/deliver-client';
import { dialOrderer, openBroadcastCall } from '../../orderer/atomic-broadcast';
import { FakeChain, FakeRegistry, makeEnvelope, ScriptedPolicyEvaluator, startTestServer, waitFor, type TestServer } from './fake-chain';

const CHANNEL = 'mychannel';
let chain: FakeChain;
let registry: FakeRegistry;
let server: TestServer;

beforeEach(async () => {
  chain = await FakeChain.open({ channelId: CHANNEL, settings: { absoluteMaxBytes: 4096 } });
  registry = new FakeRegistry([chain]);
  server = await startTestServer({ registry });
});

afterEach(async () => {
  await server.close();
  await chain.close();
});

interface RawOutcome {
  responses: orderer.BroadcastResponse[];
  status: grpc.StatusObject;
}

/** Sends envelopes on a raw stream without half-closing and collects what comes back until the server ends the call. */
async function sendRaw(envelopes: Uint8Array[], halfClose = false): Promise<RawOutcome> {
  const client = dialOrderer(server.address);
  try {
    const call = openBroadcastCall(client);
    const responses: orderer.BroadcastResponse[] = [];
    call.on('data', (response: orderer.BroadcastResponse) => responses.push(response));
    call.on('error', () => undefined);
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    for (const envelope of envelopes) call.write(envelope);
    if (halfClose) call.end();
    return { responses, status: await status };
  } finally {
    client.close();
  }
}

async function answerFor(envelope: Uint8Array): Promise<orderer.BroadcastResponse> {
  const { responses, status } = await sendRaw([envelope, makeEnvelope({ channelId: CHANNEL })]);
  // The stream ends (gRPC OK) after the failure: the second envelope is never answered.
  expect(status.code).toBe(grpc.status.OK);
  expect(responses).toHaveLength(1);
  return responses[0]!;
}

describe('Broadcast rejects bad envelopes with the status that says why, then closes the stream', () => {
  test('malformed bytes: BAD_REQUEST with the parse error', async () => {
    const answer = await answerFor(Uint8Array.of(0x0a, 0x05, 0x01));
    expect(answer.status).toBe(common.Status.BAD_REQUEST);
    expect(answer.info).toMatch(/bad envelope/);
    expect(chain.ordered).toHaveLength(0);
  });

  test('an envelope without a channel header: BAD_REQUEST', async () => {
    const answer = await answerFor(common.Envelope.encode({ payload: common.Payload.encode({ data: Uint8Array.of(1) }) }));
    expect(answer.status).toBe(common.Status.BAD_REQUEST);
    expect(answer.info).toMatch(/no header/);
  });

  test('unknown channel: NOT_FOUND naming the channel', async () => {
    const answer = await answerFor(makeEnvelope({ channelId: 'otherchannel' }));
    expect(answer).toEqual({ status: common.Status.NOT_FOUND, info: 'channel otherchannel not served here' });
  });

  test('CONFIG and ORDERER_TRANSACTION envelopes: BAD_REQUEST', async () => {
    for (const type of [common.HeaderType.CONFIG, common.HeaderType.ORDERER_TRANSACTION]) {
      const answer = await answerFor(makeEnvelope({ channelId: CHANNEL, type }));
      expect(answer.status).toBe(common.Status.BAD_REQUEST);
      expect(answer.info).toMatch(/cannot be broadcast/);
    }
  });

  test('CONFIG_UPDATE on a chain that takes no config updates: NOT_IMPLEMENTED', async () => {
    const answer = await answerFor(makeEnvelope({ channelId: CHANNEL, type: common.HeaderType.CONFIG_UPDATE }));
    expect(answer.status).toBe(common.Status.NOT_IMPLEMENTED);
    expect(answer.info).toMatch(/takes no config updates/);
  });

  test('larger than AbsoluteMaxBytes: REQUEST_ENTITY_TOO_LARGE', async () => {
    const answer = await answerFor(makeEnvelope({ channelId: CHANNEL, dataBytes: 5000 }));
    expect(answer.status).toBe(common.Status.REQUEST_ENTITY_TOO_LARGE);
    expect(answer.info).toMatch(/exceeds AbsoluteMaxBytes 4096/);
  });

  test('Writers policy not satisfied: FORBIDDEN, and the stream goes on for the next envelope', async () => {
    const evaluator = new ScriptedPolicyEvaluator(new Set(['/Channel/Writers']));
    chain.policyEvaluator = evaluator;
    const refused = makeEnvelope({ channelId: CHANNEL });
    const { responses, status } = await sendRaw([refused, makeEnvelope({ channelId: CHANNEL }), makeEnvelope({ channelId: 'nochannel' })]);
    expect(status.code).toBe(grpc.status.OK);
    // Both FORBIDDEN (the evaluator refuses everyone), then NOT_FOUND, which ends the stream.
    expect(responses.map((r) => r.status)).toEqual([common.Status.FORBIDDEN, common.Status.FORBIDDEN, common.Status.NOT_FOUND]);
    expect(responses[0]!.info).toMatch(/\/Channel\/Writers/);
    expect(evaluator.asked).toEqual(['/Channel/Writers', '/Channel/Writers']);
    expect(chain.ordered).toHaveLength(0);
    // The envelope after a refused one on the same stream is ordered when its signer may write.
    let refusals = 1;
    chain.policyEvaluator = { evaluateSignedData: () => refusals-- <= 0 };
    const good = makeEnvelope({ channelId: CHANNEL });
    const second = await sendRaw([makeEnvelope({ channelId: CHANNEL }), good], true);
    expect(second.responses.map((r) => r.status)).toEqual([common.Status.FORBIDDEN, common.Status.SUCCESS]);
    expect(chain.ordered.map((e) => e.txId)).toEqual([envelopeTxId(good)]);
  });

  test('a policy evaluator that answers later (a promise): the same verdicts, in the order the envelopes came', async () => {
    // The channels' own evaluators answer at once and Broadcast then checks without a promise;
    // the PolicyEvaluator seam also allows a promise, slower for the earlier envelopes here.
    let call = 0;
    chain.policyEvaluator = {
      evaluateSignedData: () => {
        const n = call++;
        if (n === 3) return Promise.reject(new Error('policy store unreachable'));
        return new Promise<boolean>((resolve) => setTimeout(() => resolve(n !== 1), 40 - n * 10));
      },
    };
    const envelopes = [0, 1, 2, 3].map(() => makeEnvelope({ channelId: CHANNEL }));
    const { responses, status } = await sendRaw(envelopes, true);
    expect(status.code).toBe(grpc.status.OK);
    expect(responses.map((r) => r.status)).toEqual([common.Status.SUCCESS, common.Status.FORBIDDEN, common.Status.SUCCESS, common.Status.FORBIDDEN]);
    expect(responses[3]!.info).toMatch(/could not be evaluated: policy store unreachable/);
    expect(chain.ordered.map((e) => e.txId)).toEqual([envelopeTxId(envelopes[0]!), envelopeTxId(envelopes[2]!)]);
  });

  test('an expired or not yet valid creator: BAD_REQUEST before the Writers policy is asked', async () => {
    const evaluator = new ScriptedPolicyEvaluator(new Set());
    chain.policyEvaluator = evaluator;
    const nowMs = Date.now();
    chain.creatorValidity = () => ({ notBeforeMs: nowMs - 2 * 86_400_000, notAfterMs: nowMs - 86_400_000 });
    const expired = await answerFor(makeEnvelope({ channelId: CHANNEL }));
    expect(expired.status).toBe(common.Status.BAD_REQUEST);
    expect(expired.info).toMatch(/identity expired or not yet valid: its certificate expired at/);
    chain.creatorValidity = () => ({ notBeforeMs: nowMs + 86_400_000, notAfterMs: nowMs + 2 * 86_400_000 });
    const future = await answerFor(makeEnvelope({ channelId: CHANNEL }));
    expect(future.status).toBe(common.Status.BAD_REQUEST);
    expect(future.info).toMatch(/its certificate is not valid before/);
    expect(evaluator.asked).toEqual([]);
    expect(chain.ordered).toHaveLength(0);
    // General.Authentication.NoExpirationChecks: the same creator is let through to the policy.
    registry.noExpirationChecks = true;
    const { responses } = await sendRaw([makeEnvelope({ channelId: CHANNEL })], true);
    expect(responses.map((r) => r.status)).toEqual([common.Status.SUCCESS]);
  });

  test('normal transaction in maintenance mode: SERVICE_UNAVAILABLE', async () => {
    chain.current = { ...chain.current, maintenanceMode: true };
    const answer = await answerFor(makeEnvelope({ channelId: CHANNEL }));
    expect(answer.status).toBe(common.Status.SERVICE_UNAVAILABLE);
  });

  test('the chain refuses (no leader): its status and reason reach the client', async () => {
    chain.rejectWith = OrdererError.serviceUnavailable('no Raft leader');
    const answer = await answerFor(makeEnvelope({ channelId: CHANNEL }));
    expect(answer).toEqual({ status: common.Status.SERVICE_UNAVAILABLE, info: 'no Raft leader' });
  });

  test('the chain cannot tell whether the envelope will be ordered: no answer, the stream ends UNAVAILABLE saying so', async () => {
    chain.rejectWith = new EnvelopeFateUnknownError('leader 2 did not answer: no answer within 7000 ms');
    const { responses, status } = await sendRaw([makeEnvelope({ channelId: CHANNEL }), makeEnvelope({ channelId: CHANNEL })]);
    expect(responses).toHaveLength(0); // neither SUCCESS nor a refusal would be true
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(status.details).toMatch(/^envelope fate unknown \(resend it with the same tx id\): leader 2 did not answer/);
  });
});

describe('Broadcast answers in order', () => {
  test('answers follow the envelopes; the stream closes after the first failure and later envelopes never reach the chain', async () => {
    chain.orderDelayMs = 20; // answers settle later than the checks of the envelopes behind them
    const good = [0, 1, 2].map(() => makeEnvelope({ channelId: CHANNEL }));
    const bad = makeEnvelope({ channelId: 'nochannel' });
    const after = makeEnvelope({ channelId: CHANNEL });
    const { responses, status } = await sendRaw([...good, bad, after]);
    expect(responses.map((r) => r.status)).toEqual([
      common.Status.SUCCESS,
      common.Status.SUCCESS,
      common.Status.SUCCESS,
      common.Status.NOT_FOUND,
    ]);
    expect(status.code).toBe(grpc.status.OK);
    expect(chain.ordered.map((e) => e.txId)).toEqual(good.map(envelopeTxId));
  });

  test('2,000 envelopes on one stream: all SUCCESS, handed to the chain in the order sent', async () => {
    const envelopes = Array.from({ length: 2000 }, () => makeEnvelope({ channelId: CHANNEL, dataBytes: 100 }));
    const answers = await broadcastEnvelopes(server.address, envelopes);
    expect(answers).toHaveLength(2000);
    expect(answers.every((a) => a.status === common.Status.SUCCESS)).toBe(true);
    expect(chain.ordered.map((e) => e.txId)).toEqual(envelopes.map(envelopeTxId));
  });

  test('a slow chain does not make a stream wait one round trip per envelope', async () => {
    chain.orderDelayMs = 25; // one at a time, 400 envelopes would take 10 s
    const envelopes = Array.from({ length: 400 }, () => makeEnvelope({ channelId: CHANNEL }));
    const startedMs = Date.now();
    const answers = await broadcastEnvelopes(server.address, envelopes);
    expect(answers.filter((a) => a.status === common.Status.SUCCESS)).toHaveLength(400);
    expect(Date.now() - startedMs).toBeLessThan(4000);
  });

  test('a client that half-closes gets every answer, then gRPC OK', async () => {
    const envelopes = [0, 1, 2, 3, 4].map(() => makeEnvelope({ channelId: CHANNEL }));
    const { responses, status } = await sendRaw(envelopes, true);
    expect(responses.map((r) => r.status)).toEqual(envelopes.map(() => common.Status.SUCCESS));
    expect(status.code).toBe(grpc.status.OK);
  });

  test('a client that cancels with envelopes in flight frees the stream', async () => {
    chain.orderDelayMs = 3000; // the chain holds the envelopes far longer than the test waits
    const stream = new BroadcastClient(server.address);
    const sent = [0, 1, 2].map(() => stream.send(makeEnvelope({ channelId: CHANNEL })).catch((err: Error) => err));
    await waitFor('the stream to open', 10_000, () => server.activeBroadcasts === 1);
    stream.cancel();
    for (const outcome of await Promise.all(sent)) expect(outcome).toBeInstanceOf(Error);
    await waitFor('the server to release the stream', 10_000, () => server.activeBroadcasts === 0);
  });
});

test('a Fabric client (fabric-protos AtomicBroadcastClient) gets its answer', async () => {
  // google-protobuf has no type declarations here; reach the classes through unknown.
  const fabric = require('@hyperledger/fabric-protos') as {
    orderer: {
      AtomicBroadcastClient: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client & {
        broadcast(): grpc.ClientDuplexStream<unknown, { getStatus(): number; getInfo(): string }>;
      };
    };
    common: { Envelope: { deserializeBinary(bytes: Uint8Array): unknown } };
  };
  const client = new fabric.orderer.AtomicBroadcastClient(server.address, grpc.credentials.createInsecure());
  try {
    const call = client.broadcast();
    const answer = new Promise<{ getStatus(): number; getInfo(): string }>((resolve, reject) => {
      call.on('data', resolve);
      call.on('error', reject);
    });
    call.write(fabric.common.Envelope.deserializeBinary(makeEnvelope({ channelId: CHANNEL })));
    call.end();
    expect((await answer).getStatus()).toBe(common.Status.SUCCESS);
  } finally {
    client.close();
  }
});
