import { encodeConsensusStep } from '../../cluster/wire';
import { orderer, raftpb } from '../../protos';

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
