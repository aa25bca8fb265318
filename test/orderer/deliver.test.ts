// Deliver over real gRPC on 127.0.0.1 against chains over real LMDB stores: seek positions
// (reference §4.4), failure statuses (§4.3), streams that follow the tip, flow control, and
// what a Fabric client sees.
import * as grpc from '@grpc/grpc-js';
import { bytesEqual } from '../../ledger';
import { common, orderer } from '../../protos';
import { deliverBlocks, DeliverClientError, type DeliveredBlock, type DeliverBlocksOptions } from '../../orderer/deliver-client';
import { planSeek } from '../../orderer/deliver';
import { buildSeekEnvelope, SEEK_MAX_BLOCK_NUMBER, type SeekStart, type SeekStop } from '../../orderer/envelopes';
import { dialOrderer, openDeliverCall, parseDeliverResponse, type ParsedDeliverResponse } from '../../orderer/atomic-broadcast';
import { FakeChain, FakeRegistry, ScriptedPolicyEvaluator, startTestServer, waitFor, type TestServer } from './fake-chain';

const CHANNEL = 'mychannel';
const { BLOCK_UNTIL_READY, FAIL_IF_NOT_READY } = orderer.SeekInfo_SeekBehavior;
const { STRICT, BEST_EFFORT } = orderer.SeekInfo_SeekErrorResponse;

let chain: FakeChain;
let registry: FakeRegistry;
let server: TestServer;

beforeEach(async () => {
  chain = await FakeChain.open({ channelId: CHANNEL });
  await chain.appendBlocks(5); // genesis + 5: blocks 0..5, height 6
  registry = new FakeRegistry([chain]);
  server = await startTestServer({ registry, deliver: { erroredPollIntervalMs: 20 } });
});

afterEach(async () => {
  await server.close();
  await chain.close();
});

interface SeekOutcome {
  numbers: number[];
  blocks: DeliveredBlock[];
  /** undefined after SUCCESS; the failing status otherwise. */
  status?: common.Status;
}

async function seek(start: SeekStart, stop: SeekStop, extra: Partial<DeliverBlocksOptions> = {}): Promise<SeekOutcome> {
  const blocks: DeliveredBlock[] = [];
  try {
    for await (const block of deliverBlocks({ address: server.address, channelId: CHANNEL, start, stop, ...extra })) {
      blocks.push(block);
    }
    return { numbers: blocks.map((b) => b.number), blocks, status: undefined };
  } catch (err) {
    if (err instanceof DeliverClientError && err.reason === 'status') {
      return { numbers: blocks.map((b) => b.number), blocks, status: err.status };
    }
    throw err;
  }
}

interface RawOutcome {
  responses: ParsedDeliverResponse[];
  grpcStatus: grpc.StatusObject;
}

/** Sends raw request envelopes on one stream (half-closing after them) and collects everything until the call ends. */
async function rawDeliver(envelopes: Uint8Array[]): Promise<RawOutcome> {
  const client = dialOrderer(server.address);
  try {
    const call = openDeliverCall(client);
    const responses: ParsedDeliverResponse[] = [];
    call.on('data', (bytes: Uint8Array) => responses.push(parseDeliverResponse(bytes)));
    call.on('error', () => undefined);
    const grpcStatus = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    for (const envelope of envelopes) call.write(envelope);
    call.end();
    return { responses, grpcStatus: await grpcStatus };
  } finally {
    client.close();
  }
}

function seekEnvelopeWith(seekInfo: orderer.SeekInfoInit, withTimestamp = true): Uint8Array {
  const timestamp = withTimestamp ? { seconds: Math.floor(Date.now() / 1000) } : undefined;
  const channelHeader = common.ChannelHeader.encode({ type: common.HeaderType.DELIVER_SEEK_INFO, channelId: CHANNEL, timestamp });
  return common.Envelope.encode({
    payload: common.Payload.encode({ header: { channelHeader }, data: orderer.SeekInfo.encode(seekInfo) }),
  });
}

const statusOf = (outcome: RawOutcome): (common.Status | 'block')[] =>
  outcome.responses.map((r) => (r.kind === 'status' ? r.status : 'block'));

describe('seek positions (reference §4.4)', () => {
  test('oldest to newest: every block, then SUCCESS', async () => {
    expect(await seek('oldest', 'newest')).toMatchObject({ numbers: [0, 1, 2, 3, 4, 5], status: undefined });
  });

  test('newest to newest: exactly the last block', async () => {
    expect((await seek('newest', 'newest')).numbers).toEqual([5]);
  });

  test('specified to specified', async () => {
    expect((await seek(2, 4)).numbers).toEqual([2, 3, 4]);
    expect((await seek(3, 3)).numbers).toEqual([3]);
  });

  test('stop oldest means the start block', async () => {
    expect((await seek(3, 'oldest')).numbers).toEqual([3]);
    expect((await seek('oldest', 'oldest')).numbers).toEqual([0]);
  });

  test('stop newest is the newest block when the request arrived', async () => {
    expect((await seek(4, 'newest')).numbers).toEqual([4, 5]);
  });

  test('BLOCK_UNTIL_READY waits for blocks appended later', async () => {
    const pending = seek('newest', 7);
    await waitFor('the stream to wait', 10_000, () => chain.blockStore.stats().waitingIterators === 1);
    await chain.appendBlocks(3);
    expect((await pending).numbers).toEqual([5, 6, 7]);
  });

  test('a specified start equal to the height waits for that block', async () => {
    const pending = seek(6, 6);
    await waitFor('the stream to wait', 10_000, () => chain.blockStore.stats().waitingIterators === 1);
    await chain.appendBlocks(1);
    expect((await pending).numbers).toEqual([6]);
  });

  test('next_commit starts at the next block to be committed', async () => {
    const pending = seek('next-commit', 7);
    await waitFor('the stream to wait', 10_000, () => chain.blockStore.stats().waitingIterators === 1);
    await chain.appendBlocks(2);
    expect((await pending).numbers).toEqual([6, 7]);
  });

  test('as a stop, next_commit never ends the stream (Fabric leaves it at block 0)', () => {
    expect(planSeek({ start: { nextCommit: {} }, stop: { nextCommit: {} }, behavior: 0, errorResponse: 0 }, 6)).toEqual({
      startNumber: 6,
      stopNumber: 0,
      startBeyondHeight: false,
    });
  });

  test('stream forever: stop specified 2^64-1 keeps following the tip', async () => {
    const received: number[] = [];
    const abort = new AbortController();
    const following = (async () => {
      for await (const block of deliverBlocks({ address: server.address, channelId: CHANNEL, start: 4, stop: 'forever', signal: abort.signal })) {
        received.push(block.number);
        if (block.number === 7) abort.abort();
      }
    })();
    await waitFor('the existing blocks', 10_000, () => received.length === 2);
    await chain.appendBlocks(2);
    await following;
    expect(received).toEqual([4, 5, 6, 7]);
    expect(planSeek({ start: { oldest: {} }, stop: { specified: { number: SEEK_MAX_BLOCK_NUMBER } }, behavior: 0, errorResponse: 0 }, 6).stopNumber).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
  });

  test('FAIL_IF_NOT_READY: NOT_FOUND instead of waiting', async () => {
    expect(await seek(6, 6, { behavior: FAIL_IF_NOT_READY })).toMatchObject({ numbers: [], status: common.Status.NOT_FOUND });
    // Blocks that exist are sent first; the first missing one ends the stream.
    expect(await seek(4, 9, { behavior: FAIL_IF_NOT_READY })).toMatchObject({ numbers: [4, 5], status: common.Status.NOT_FOUND });
  });

  test('a specified start beyond the height: NOT_FOUND', async () => {
    expect(await seek(7, 8)).toMatchObject({ numbers: [], status: common.Status.NOT_FOUND });
  });

  test('a block still being committed counts: a client that got it asks for the next one and waits, not NOT_FOUND', async () => {
    // Block 6 is streamed while LMDB commits it (ledger/README.md): readable, not yet durable.
    jest.spyOn(chain.blockStore, 'readableHeight').mockReturnValue(7);
    let outcome: SeekOutcome | undefined;
    const waiting = seek(7, 7).then((o) => (outcome = o));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(outcome).toBeUndefined(); // still waiting for block 7
    await chain.appendBlocks(2); // blocks 6 and 7
    await waiting;
    expect(outcome).toMatchObject({ numbers: [7], status: undefined });
  });

  test('a stop before the start: BAD_REQUEST', async () => {
    expect(await seek(4, 2)).toMatchObject({ numbers: [], status: common.Status.BAD_REQUEST });
  });

  test('a missing start or stop: BAD_REQUEST and the stream ends', async () => {
    for (const seekInfo of [{ stop: { newest: {} } }, { start: { oldest: {} } }, { start: {}, stop: { newest: {} } }]) {
      const outcome = await rawDeliver([seekEnvelopeWith(seekInfo), buildSeekEnvelope({ channelId: CHANNEL, start: 'oldest', stop: 'oldest' })]);
      expect(statusOf(outcome)).toEqual([common.Status.BAD_REQUEST]);
      expect(outcome.grpcStatus.code).toBe(grpc.status.OK);
    }
  });

  test('a second SeekInfo on the same stream is served after the first one\'s SUCCESS', async () => {
    const outcome = await rawDeliver([
      buildSeekEnvelope({ channelId: CHANNEL, start: 1, stop: 2 }),
      buildSeekEnvelope({ channelId: CHANNEL, start: 'newest', stop: 'newest' }),
    ]);
    expect(statusOf(outcome)).toEqual(['block', 'block', common.Status.SUCCESS, 'block', common.Status.SUCCESS]);
    const numbers = outcome.responses.flatMap((r) => (r.kind === 'block' ? [r.block.header!.number] : []));
    expect(numbers).toEqual([1, 2, 5]);
    expect(outcome.grpcStatus.code).toBe(grpc.status.OK);
  });
});

describe('request checks (reference §4.3)', () => {
  test('unknown channel: NOT_FOUND', async () => {
    const outcome = await rawDeliver([buildSeekEnvelope({ channelId: 'otherchannel', start: 'oldest', stop: 'newest' })]);
    expect(statusOf(outcome)).toEqual([common.Status.NOT_FOUND]);
  });

  test('unparsable envelope or SeekInfo: BAD_REQUEST', async () => {
    expect(statusOf(await rawDeliver([Uint8Array.of(0xff, 0xff)]))).toEqual([common.Status.BAD_REQUEST]);
    const channelHeader = common.ChannelHeader.encode({ channelId: CHANNEL, timestamp: { seconds: Math.floor(Date.now() / 1000) } });
    const notSeekInfo = common.Envelope.encode({
      payload: common.Payload.encode({ header: { channelHeader }, data: Uint8Array.of(0x0a, 0x09) }),
    });
    expect(statusOf(await rawDeliver([notSeekInfo]))).toEqual([common.Status.BAD_REQUEST]);
  });

  test('a timestamp missing or outside the time window: BAD_REQUEST', async () => {
    const stale = buildSeekEnvelope({ channelId: CHANNEL, start: 'oldest', stop: 'oldest', nowMs: Date.now() - 20 * 60 * 1000 });
    expect(statusOf(await rawDeliver([stale]))).toEqual([common.Status.BAD_REQUEST]);
    const noTimestamp = seekEnvelopeWith({ start: { oldest: {} }, stop: { oldest: {} } }, false);
    expect(statusOf(await rawDeliver([noTimestamp]))).toEqual([common.Status.BAD_REQUEST]);
    const inWindow = buildSeekEnvelope({ channelId: CHANNEL, start: 'oldest', stop: 'oldest', nowMs: Date.now() - 10 * 60 * 1000 });
    expect(statusOf(await rawDeliver([inWindow]))).toEqual(['block', common.Status.SUCCESS]);
  });

  test('Readers policy not satisfied: FORBIDDEN (orderer readers in maintenance mode)', async () => {
    const evaluator = new ScriptedPolicyEvaluator(new Set(['/Channel/Readers', '/Channel/Orderer/Readers']));
    chain.policyEvaluator = evaluator;
    expect(await seek('oldest', 'newest')).toMatchObject({ numbers: [], status: common.Status.FORBIDDEN });
    chain.current = { ...chain.current, maintenanceMode: true };
    expect(await seek('oldest', 'newest')).toMatchObject({ numbers: [], status: common.Status.FORBIDDEN });
    expect(evaluator.asked).toEqual(['/Channel/Readers', '/Channel/Orderer/Readers']);
  });

  test('a config change that takes access away stops a stream at the next block', async () => {
    const evaluator = new ScriptedPolicyEvaluator();
    chain.policyEvaluator = evaluator;
    const pending = seek(5, 'forever');
    await waitFor('the stream to wait', 10_000, () => chain.blockStore.stats().waitingIterators === 1);
    evaluator.deny = new Set(['/Channel/Readers']);
    chain.current = { ...chain.current, configSequence: 1 };
    await chain.appendBlocks(1);
    expect(await pending).toMatchObject({ numbers: [5], status: common.Status.FORBIDDEN });
  });

  test('a reader whose certificate expires during a long stream is stopped at the next block (FORBIDDEN)', async () => {
    const notAfterMs = Date.now() + 1_500;
    chain.creatorValidity = () => ({ notBeforeMs: 0, notAfterMs });
    const pending = seek(5, 'forever');
    await waitFor('the stream to wait', 10_000, () => chain.blockStore.stats().waitingIterators === 1);
    await chain.appendBlocks(1);
    await waitFor('the certificate to expire', 10_000, () => Date.now() > notAfterMs);
    await chain.appendBlocks(1);
    expect(await pending).toMatchObject({ numbers: [5, 6], status: common.Status.FORBIDDEN });
    // An expired or not yet valid reader is refused at once.
    expect(await seek('oldest', 'newest')).toMatchObject({ numbers: [], status: common.Status.FORBIDDEN });
    chain.creatorValidity = () => ({ notBeforeMs: Date.now() + 60_000, notAfterMs: Date.now() + 120_000 });
    expect(await seek('oldest', 'newest')).toMatchObject({ numbers: [], status: common.Status.FORBIDDEN });
  });

  test('STRICT on an errored chain: SERVICE_UNAVAILABLE; BEST_EFFORT still gets blocks', async () => {
    chain.isErrored = true;
    expect(await seek('oldest', 'newest', { errorResponse: STRICT })).toMatchObject({ numbers: [], status: common.Status.SERVICE_UNAVAILABLE });
    expect(await seek('oldest', 'newest', { errorResponse: BEST_EFFORT })).toMatchObject({ numbers: [0, 1, 2, 3, 4, 5], status: undefined });
  });

  test('STRICT: a chain that errors while the stream waits ends it with SERVICE_UNAVAILABLE', async () => {
    const strict = seek(5, 'forever', { errorResponse: STRICT });
    const bestEffort = seek(5, 6, { errorResponse: BEST_EFFORT });
    await waitFor('both streams to wait', 10_000, () => chain.blockStore.stats().waitingIterators === 2);
    chain.isErrored = true;
    expect(await strict).toMatchObject({ numbers: [5], status: common.Status.SERVICE_UNAVAILABLE });
    await chain.appendBlocks(1);
    expect(await bestEffort).toMatchObject({ numbers: [5, 6], status: undefined });
  });
});

describe('a chain halted on broken state (its Raft log lost entries, an invariant broke)', () => {
  /** The chain's brokenReason(), settable by the test; errored() follows it, as the real Chain's does. */
  let broken: string | undefined;
  beforeEach(() => {
    broken = undefined;
    Object.assign(chain, { brokenReason: (): string | undefined => broken });
  });
  const breakChain = (reason: string): void => {
    broken = reason;
    chain.isErrored = true;
  };

  test('serves nothing, whatever the SeekInfo asks: SERVICE_UNAVAILABLE for STRICT and BEST_EFFORT alike', async () => {
    breakChain('its Raft log lost acknowledged entries');
    expect(await seek('oldest', 'newest', { errorResponse: STRICT })).toMatchObject({ numbers: [], status: common.Status.SERVICE_UNAVAILABLE });
    expect(await seek('oldest', 'newest', { errorResponse: BEST_EFFORT })).toMatchObject({ numbers: [], status: common.Status.SERVICE_UNAVAILABLE });
    expect(await seek(2, 2, { errorResponse: BEST_EFFORT, behavior: FAIL_IF_NOT_READY })).toMatchObject({
      numbers: [],
      status: common.Status.SERVICE_UNAVAILABLE,
    });
  });

  test('a BEST_EFFORT stream waiting at the tip ends with SERVICE_UNAVAILABLE when the chain breaks', async () => {
    const bestEffort = seek(5, 'forever', { errorResponse: BEST_EFFORT });
    await waitFor('the stream to wait', 10_000, () => chain.blockStore.stats().waitingIterators === 1);
    breakChain('its Raft log lost acknowledged entries');
    expect(await bestEffort).toMatchObject({ numbers: [5], status: common.Status.SERVICE_UNAVAILABLE });
  });

  test('a chain that is only leaderless (errored, not broken) still serves BEST_EFFORT readers', async () => {
    chain.isErrored = true;
    expect(await seek('oldest', 'newest', { errorResponse: BEST_EFFORT })).toMatchObject({ numbers: [0, 1, 2, 3, 4, 5], status: undefined });
  });
});

describe('streams and resources', () => {
  test('a ledger that closes under a waiting stream ends it with SERVICE_UNAVAILABLE', async () => {
    const pending = seek(6, 'forever');
    await waitFor('the stream to wait', 10_000, () => chain.blockStore.stats().waitingIterators === 1);
    await chain.blockStore.close();
    expect(await pending).toMatchObject({ numbers: [], status: common.Status.SERVICE_UNAVAILABLE });
  });


  test('200 concurrent streams follow the tip and all get the same bytes', async () => {
    const streams = Array.from({ length: 200 }, () => seek(6, 9, { behavior: BLOCK_UNTIL_READY }));
    await waitFor('all streams to wait', 10_000, () => chain.blockStore.stats().waitingIterators === 200);
    await chain.appendBlocks(4, 1000);
    const outcomes = await Promise.all(streams);
    const reference = [6, 7, 8, 9].map((n) => chain.blockStore.getBlock(n)!.bytes);
    for (const outcome of outcomes) {
      expect(outcome.numbers).toEqual([6, 7, 8, 9]);
      outcome.blocks.forEach((b, i) => expect(bytesEqual(b.bytes, reference[i]!)).toBe(true));
    }
    await waitFor('iterators to finish', 10_000, () => chain.blockStore.stats().openIterators === 0);
    expect(server.deliver.stats().activeStreams).toBe(0);
  });

  test('a client that goes away frees its iterator and its stream', async () => {
    const abort = new AbortController();
    const following = seek(6, 'forever', { signal: abort.signal });
    await waitFor('the stream to wait', 10_000, () => chain.blockStore.stats().waitingIterators === 1);
    expect(chain.blockStore.stats().openIterators).toBe(1);
    abort.abort();
    expect((await following).numbers).toEqual([]);
    await waitFor('the iterator to end', 10_000, () => chain.blockStore.stats().openIterators === 0);
    await waitFor('the stream to end', 10_000, () => server.deliver.stats().activeStreams === 0);
  });

  test('a slow client holds back its own stream only (flow control)', async () => {
    await chain.appendBlocks(120, 256 * 1024); // about 30 MiB, far more than gRPC buffers
    const client = dialOrderer(server.address);
    try {
      const call = openDeliverCall(client);
      call.on('error', () => undefined);
      const numbers: number[] = [];
      const done = new Promise<void>((resolve) => call.on('end', () => resolve()));
      call.on('data', (bytes: Uint8Array) => {
        const response = parseDeliverResponse(bytes);
        if (response.kind === 'block') numbers.push(response.block.header!.number);
        if (numbers.length === 1) call.pause(); // takes one block, then stops reading for a while
      });
      call.write(buildSeekEnvelope({ channelId: CHANNEL, start: 'oldest', stop: 'newest' }));
      call.end();
      // Meanwhile another client reads everything at full speed.
      expect((await seek('oldest', 'newest')).numbers).toHaveLength(126);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The server read only a few blocks ahead of the slow client: what gRPC buffers, not the ledger.
      const readAheadOfSlow = chain.blockStore.blocksIterated - 126;
      expect(readAheadOfSlow).toBeLessThan(60);
      // Once it reads again, the slow client gets everything.
      call.resume();
      await done;
      expect(numbers).toEqual(Array.from({ length: 126 }, (_, i) => i));
    } finally {
      client.close();
    }
  });

  test('beyond the concurrent stream limit: RESOURCE_EXHAUSTED with the limit in the message', async () => {
    await server.close();
    server = await startTestServer({ registry, deliver: { maxConcurrentStreams: 2 } });
    const abort = new AbortController();
    const open = [seek(6, 'forever', { signal: abort.signal }), seek(6, 'forever', { signal: abort.signal })];
    await waitFor('two streams', 10_000, () => server.deliver.stats().activeStreams === 2);
    const refused = await seek('oldest', 'newest').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DeliverClientError);
    expect((refused as DeliverClientError).grpcCode).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect((refused as DeliverClientError).message).toMatch(/limit 2/);
    abort.abort();
    await Promise.all(open);
    await waitFor('the streams to end', 10_000, () => server.deliver.stats().activeStreams === 0);
    expect((await seek('oldest', 'newest')).numbers).toHaveLength(6);
  });
});

test('a Fabric client (fabric-protos AtomicBroadcastClient) decodes the blocks, byte for byte as stored', async () => {
  interface JspbBlock {
    serializeBinary(): Uint8Array;
    getHeader(): { getNumber(): number };
  }
  interface JspbDeliverResponse {
    hasBlock(): boolean;
    getBlock(): JspbBlock;
    getStatus(): number;
  }
  // google-protobuf has no type declarations here; reach the classes through these shapes.
  const fabric = require('@hyperledger/fabric-protos') as {
    orderer: {
      AtomicBroadcastClient: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client & {
        deliver(): grpc.ClientDuplexStream<unknown, JspbDeliverResponse>;
      };
    };
    common: { Envelope: { deserializeBinary(bytes: Uint8Array): unknown } };
  };
  const client = new fabric.orderer.AtomicBroadcastClient(server.address, grpc.credentials.createInsecure());
  try {
    const call = client.deliver();
    const responses: JspbDeliverResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (response: JspbDeliverResponse) => {
        responses.push(response);
        if (!response.hasBlock()) resolve();
      });
      call.on('error', reject);
    });
    call.write(fabric.common.Envelope.deserializeBinary(buildSeekEnvelope({ channelId: CHANNEL, start: 'oldest', stop: 'newest' })));
    await done;
    call.end();
    const blocks = responses.filter((r) => r.hasBlock()).map((r) => r.getBlock());
    expect(blocks.map((b) => b.getHeader().getNumber())).toEqual([0, 1, 2, 3, 4, 5]);
    blocks.forEach((b, i) => expect(Buffer.from(b.serializeBinary()).equals(Buffer.from(chain.blockStore.getBlock(i)!.bytes))).toBe(true));
    expect(responses[responses.length - 1]!.getStatus()).toBe(common.Status.SUCCESS);
  } finally {
    client.close();
  }
});
