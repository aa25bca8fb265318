import { encodeConsensusStep, encodeConsensusStepGathered, Gathered, GATHER_MIN_ENTRY_BYTES, encodeSubmitBatchResponse, encodeSubmitBatchStep, encodeSubmitStep, submitStepSize } from '../../cluster/wire';
import { common, orderer, raftpb } from '../../protos';

function twoPass(channel: string, msg: raftpb.MessageInit, metadata?: Uint8Array): Uint8Array {
  return orderer.StepRequest.encode({ consensusRequest: { channel, payload: raftpb.Message.encode(msg), ...(metadata !== undefined ? { metadata } : {}) } });
}

describe('one-pass consensus StepRequest encoding', () => {
  const block = new Uint8Array(300_000).map((_, i) => (i * 31) & 0xff);
  const cases: Array<[string, string, raftpb.MessageInit, Uint8Array | undefined]> = [
    ['heartbeat', 'mychannel', { type: raftpb.MessageType.MsgHeartbeat, to: 2, from: 1, term: 3, commit: 9 }, undefined],
    ['zero-valued message', 'ch', { type: raftpb.MessageType.MsgHup }, undefined],
    [
      'append with block entries',
      'mychannel',
      {
        type: raftpb.MessageType.MsgApp,
        to: 3,
        from: 1,
        term: 7,
        logTerm: 7,
        index: 41,
        commit: 40,
        entries: [
          { term: 7, index: 42, type: raftpb.EntryType.EntryNormal, data: block },
          { term: 7, index: 43, type: raftpb.EntryType.EntryNormal, data: block.subarray(5, 70_000) },
        ],
      },
      undefined,
    ],
    ['with metadata', 'a-channel.x', { type: raftpb.MessageType.MsgAppResp, to: 1, from: 2, term: 1, index: 5 }, Uint8Array.of(1, 2, 3)],
    ['empty channel', '', { type: raftpb.MessageType.MsgVote, to: 1, from: 2, term: 1 }, new Uint8Array(0)],
  ];

  it.each(cases)('%s: same bytes as encoding the raft message first', (_name, channel, msg, metadata) => {
    const oneBuffer = encodeConsensusStep(channel, msg, metadata);
    expect(Buffer.from(oneBuffer).equals(Buffer.from(twoPass(channel, msg, metadata)))).toBe(true);
    const decoded = orderer.StepRequest.decode(oneBuffer);
    expect(decoded.consensusRequest?.channel).toBe(channel);
    expect(raftpb.Message.decode(decoded.consensusRequest!.payload).type).toBe(msg.type);
  });
});

describe('a Raft append written as pieces, its block entries not copied', () => {
  const block = new Uint8Array(300_000).map((_, i) => (i * 13) & 0xff);
  const small = Uint8Array.of(1, 2, 3);
  const entry = (index: number, data: Uint8Array, type = raftpb.EntryType.EntryNormal): raftpb.EntryInit => ({ term: 2 ** 33, index, type, data });
  const append = (entries: raftpb.EntryInit[], extra: Partial<raftpb.MessageInit> = {}): raftpb.MessageInit => ({
    type: raftpb.MessageType.MsgApp,
    to: 3,
    from: 1,
    term: 2 ** 33,
    logTerm: 2 ** 33,
    index: 2 ** 40,
    commit: 2 ** 40 - 1,
    entries,
    ...extra,
  });
  const cases: Array<[string, string, raftpb.MessageInit, Uint8Array | undefined]> = [
    ['one block', 'mychannel', append([entry(1, block)]), undefined],
    ['small, block, small, block (the last one last)', 'mychannel', append([entry(1, small), entry(2, block), entry(3, small, raftpb.EntryType.EntryConfChange), entry(4, block.subarray(7, 200_007))]), undefined],
    ['an entry of exactly the threshold, and one just below', 'ch', append([entry(1, block.subarray(0, GATHER_MIN_ENTRY_BYTES)), entry(2, block.subarray(0, GATHER_MIN_ENTRY_BYTES - 1))]), undefined],
    ['an entry with no data before a block', 'ch', append([{ term: 1, index: 1 }, entry(2, block)]), undefined],
    ['with context, reject hint and metadata', 'a-channel.x', append([entry(9, block)], { context: Uint8Array.of(7, 7), rejectHint: 300, vote: 2 }), Uint8Array.of(1, 2, 3)],
    ['no channel name, a name beyond ASCII', '', append([entry(1, block)]), new Uint8Array(0)],
    ['a name beyond ASCII', 'kanäl-ü', append([entry(1, block)]), undefined],
  ];

  it.each(cases)('%s: the pieces are the one-buffer bytes, the blocks in them uncopied', (_name, channel, msg, metadata) => {
    const gathered = encodeConsensusStepGathered(channel, msg, metadata);
    expect(gathered).toBeInstanceOf(Gathered);
    const { chunks, byteLength } = gathered as Gathered;
    const joined = (gathered as Gathered).join();
    expect(joined.length).toBe(byteLength);
    expect(joined.equals(Buffer.from(encodeConsensusStep(channel, msg, metadata)))).toBe(true);
    for (const e of msg.entries ?? []) {
      if (e.data !== undefined && e.data.length >= GATHER_MIN_ENTRY_BYTES) expect(chunks).toContain(e.data);
    }
  });

  it('anything but an append with a block entry is one buffer, as before', () => {
    const heartbeat = { type: raftpb.MessageType.MsgHeartbeat, to: 2, from: 1, term: 3, commit: 9 };
    const smallAppend = append([entry(1, small)]);
    const snapshot = { type: raftpb.MessageType.MsgSnap, to: 2, snapshot: { data: block, metadata: { index: 1, term: 1 } } };
    for (const msg of [heartbeat, smallAppend, snapshot]) {
      const bytes = encodeConsensusStepGathered('ch', msg);
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(bytes as Uint8Array).equals(Buffer.from(encodeConsensusStep('ch', msg)))).toBe(true);
    }
  });
});

describe('a forwarded envelope written from its marshaled bytes', () => {
  const big = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
  const cases: Array<[string, string, number, common.EnvelopeInit]> = [
    ['a small envelope', 'mychannel', 3, { payload: Uint8Array.of(1, 2, 3), signature: Uint8Array.of(9) }],
    ['sequence 0 (left out, as proto3 does)', 'ch', 0, { payload: Uint8Array.of(5) }],
    ['an empty envelope', 'ch', 1, {}],
    ['a 200 KB envelope and a large sequence', 'a-channel.x', 2 ** 40, { payload: big, signature: big.subarray(0, 72) }],
    ['a channel name beyond ASCII', 'kanäl-ü', 7, { payload: Uint8Array.of(1) }],
    ['no channel', '', 1, { payload: Uint8Array.of(1) }],
  ];

  it.each(cases)('%s: the same bytes as encoding the decoded Envelope, and its size known beforehand', (_name, channel, seq, env) => {
    const envelope = common.Envelope.encode(env);
    const bytes = encodeSubmitStep(channel, { lastValidationSeq: seq, envelope });
    const viaDecoded = orderer.StepRequest.encode({ submitRequest: { channel, lastValidationSeq: seq, payload: common.Envelope.decode(envelope) } });
    expect(Buffer.from(bytes).equals(Buffer.from(viaDecoded))).toBe(true);
    expect(submitStepSize(channel, { lastValidationSeq: seq, envelope })).toBe(bytes.length);
  });

  it("keeps fields of the client's envelope that this orderer does not know (Fabric re-marshals them too)", () => {
    // Envelope field 15, a varint: unknown to the schema, still part of what the client signed off on.
    const envelope = Uint8Array.of(...common.Envelope.encode({ payload: Uint8Array.of(1) }), 15 << 3, 42);
    const req = orderer.StepRequest.decode(encodeSubmitStep('ch', { lastValidationSeq: 1, envelope })).submitRequest!;
    expect(req.payload?.payload).toEqual(Uint8Array.of(1));
    const raw = encodeSubmitStep('ch', { lastValidationSeq: 1, envelope });
    expect(Buffer.from(raw).includes(Buffer.from(envelope))).toBe(true);
  });

  it('a SubmitBatch decodes to its envelopes, byte for byte, in order', () => {
    const envelopes = [Uint8Array.of(10, 1, 1), common.Envelope.encode({ payload: big }), new Uint8Array(0)];
    const decoded = orderer.StepRequest.decode(encodeSubmitBatchStep('ch', 5, envelopes)).submitBatch!;
    expect(decoded.channel).toBe('ch');
    expect(decoded.lastValidationSeq).toBe(5);
    expect(decoded.envelopes.map((e) => Buffer.from(e).toString('hex'))).toEqual(envelopes.map((e) => Buffer.from(e).toString('hex')));
  });
});

describe("a leader's answer to a SubmitBatch", () => {
  const ok = { status: common.Status.SUCCESS, info: '' };
  const cases: Array<[string, string, Array<{ status: common.Status; info: string }>]> = [
    ['all SUCCESS', 'mychannel', [ok, ok, ok]],
    ['mixed, with reasons', 'ch', [ok, { status: common.Status.SERVICE_UNAVAILABLE, info: 'the leader is overloaded' }, ok, { status: common.Status.BAD_REQUEST, info: 'ä'.repeat(100) }]],
    ['SUCCESS with info', 'ch', [{ status: common.Status.SUCCESS, info: 'known' }]],
    ['a status of 0 (left out, as proto3 does)', 'ch', [{ status: common.Status.UNKNOWN, info: '' }, ok]],
    ['no channel', '', [ok]],
    ['200 results (a length of two varint bytes)', 'ch', Array.from({ length: 200 }, () => ok)],
  ];

  it.each(cases)('%s: the same bytes as the generated encoder', (_name, channel, results) => {
    const fast = encodeSubmitBatchResponse(channel, results);
    const generated = orderer.StepResponse.encode({ submitBatchRes: { channel, results } });
    expect(Buffer.from(fast).toString('hex')).toBe(Buffer.from(generated).toString('hex'));
  });
});
