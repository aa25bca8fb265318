// Messages between real gRPC servers reach the right channel's receiver, attributed to the
// right sender id, with their bytes intact.
import { common, raftpb } from '../../protos';
import { MessageTooLargeError, UnknownDestinationError } from '../../cluster';
import { configureChannel, nodePairForDescribe, RecordingReceiver, TestNode, waitFor } from './helpers';

describe('cluster routing between three orderers', () => {
  const nodes = [new TestNode('a'), new TestNode('b'), new TestNode('c')];
  const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
  // Ids are per channel: "a" is 1 on ch1 but 3 on ch2.
  const receivers = new Map<string, RecordingReceiver>();
  const receiver = (node: TestNode, channel: string): RecordingReceiver => {
    const r = receivers.get(`${node.name}/${channel}`);
    if (r === undefined) throw new Error('no receiver');
    return r;
  };

  beforeAll(async () => {
    for (const n of nodes) await n.listen();
    configureChannel('ch1', nodes, [1, 2, 3]);
    configureChannel('ch2', nodes, [3, 1, 2]);
    for (const n of nodes) {
      for (const ch of ['ch1', 'ch2']) {
        const r = new RecordingReceiver();
        receivers.set(`${n.name}/${ch}`, r);
        n.comm.register(ch, r);
      }
    }
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('delivers consensus messages to the channel receiver with the sender id of that channel', async () => {
    const entryData = Uint8Array.from({ length: 300 }, (_, i) => i % 251);
    const msg: raftpb.MessageInit = {
      type: raftpb.MessageType.MsgApp,
      from: 1,
      to: 2,
      term: 7,
      logTerm: 6,
      index: 41,
      commit: 40,
      entries: [{ term: 7, index: 42, type: raftpb.EntryType.EntryNormal, data: entryData }],
    };
    const metadata = Uint8Array.of(8, 1, 8, 2);
    expect(a.comm.sendConsensus('ch1', 2, msg, metadata)).toBe(true);
    // On ch2 "a" is node 3 and "b" is node 1.
    expect(a.comm.sendConsensus('ch2', 1, { type: raftpb.MessageType.MsgHeartbeat, from: 3, to: 1, term: 2 })).toBe(true);
    expect(c.comm.sendConsensus('ch2', 1, { type: raftpb.MessageType.MsgVote, from: 2, to: 1, term: 3 })).toBe(true);

    await waitFor('ch1 message at b', 10_000, () => receiver(b, 'ch1').consensus.length === 1);
    await waitFor('ch2 messages at b', 10_000, () => receiver(b, 'ch2').consensus.length === 2);

    const got = receiver(b, 'ch1').consensus[0];
    expect(got?.from).toBe(1);
    expect(raftpb.Message.encode(got!.msg)).toEqual(raftpb.Message.encode(msg));
    expect(got?.msg.entries[0]?.data).toEqual(entryData);
    expect(got?.metadata).toEqual(metadata);

    const ch2 = receiver(b, 'ch2').consensus;
    const byFrom = new Map(ch2.map((m) => [m.from, m.msg.type]));
    expect(byFrom.get(3)).toBe(raftpb.MessageType.MsgHeartbeat);
    expect(byFrom.get(2)).toBe(raftpb.MessageType.MsgVote);
    // Nothing went astray.
    expect(receiver(c, 'ch1').consensus).toHaveLength(0);
    expect(receiver(a, 'ch2').consensus).toHaveLength(0);
    expect(a.unreachable).toEqual([]);
  });

  it('delivers submit requests with their envelope', async () => {
    const envelope = { payload: Uint8Array.of(1, 2, 3, 4), signature: Uint8Array.of(9, 9) };
    await c.comm.sendSubmit('ch1', 1, { channel: 'ch1', lastValidationSeq: 12, payload: envelope });
    await waitFor('submit at a', 10_000, () => receiver(a, 'ch1').submits.length === 1);
    const got = receiver(a, 'ch1').submits[0];
    expect(got?.from).toBe(3);
    expect(got?.req.channel).toBe('ch1');
    expect(got?.req.lastValidationSeq).toBe(12);
    expect(common.Envelope.encode(got!.req.payload!)).toEqual(common.Envelope.encode(envelope));
  });

  it('skips node 0 and reports unknown destinations', async () => {
    expect(a.comm.sendConsensus('ch1', 0, { type: raftpb.MessageType.MsgHeartbeat })).toBe(false);
    expect(a.comm.sendConsensus('ch1', 9, { type: raftpb.MessageType.MsgSnap })).toBe(false);
    expect(a.comm.sendConsensus('nope', 2, { type: raftpb.MessageType.MsgHeartbeat })).toBe(false);
    // Reports arrive after the caller's synchronous code, coalesced per destination.
    expect(a.unreachable).toEqual([]);
    await Promise.resolve();
    expect(a.unreachable).toEqual([
      { channel: 'ch1', nodeId: 9 },
      { channel: 'nope', nodeId: 2 },
    ]);
    expect(a.snapshotFailures).toEqual([{ channel: 'ch1', nodeId: 9 }]);
    await expect(a.comm.sendSubmit('ch1', 0, { lastValidationSeq: 1 })).rejects.toBeInstanceOf(UnknownDestinationError);
    await expect(a.comm.sendSubmit('ch1', 9, { lastValidationSeq: 1 })).rejects.toBeInstanceOf(UnknownDestinationError);
  });
});

describe('outgoing size limit', () => {
  const { a, b, atB } = nodePairForDescribe({ maxSendMessageBytes: 1_024 });

  it('refuses messages over maxSendMessageBytes before they reach the wire, keeping the stream for the rest', async () => {
    const big = new Uint8Array(2_048);
    expect(a.comm.sendConsensus('ch', 2, { type: raftpb.MessageType.MsgSnap, snapshot: { data: big } })).toBe(false);
    const err: unknown = await a.comm.sendSubmit('ch', 2, { payload: { payload: big } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MessageTooLargeError);
    expect((err as MessageTooLargeError).maxBytes).toBe(1_024);
    expect(a.snapshotFailures).toEqual([{ channel: 'ch', nodeId: 2 }]);

    expect(a.comm.sendConsensus('ch', 2, { type: raftpb.MessageType.MsgHeartbeat, index: 1 })).toBe(true);
    await waitFor('small message', 10_000, () => atB.consensus.length === 1);
    expect(a.metrics.dropped['127.0.0.1']?.['ch']).toBe(2);
  });
});
