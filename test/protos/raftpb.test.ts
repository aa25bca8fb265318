// raftpb has no published JS binding, so its bytes are checked against hex written out by
// hand from the protobuf wire rules and the gogoproto conventions etcd marshals with:
// fields in number order, non-nullable scalars written even when zero, repeated integers
// unpacked, bytes and the nullable snapshot only when present.
// Tag byte = field number << 3 | wire type (0 varint, 2 length-delimited).
import { EMPTY_BYTES, raftpb, type MessageCodec } from '../../protos';

const hex = (x: Uint8Array): string => Buffer.from(x).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

// MsgApp carrying one entry and a snapshot, every field of Message in number order.
const entryHex = '0800' + '1004' + '180b' + '220178'; // Entry{Normal, term 4, index 11, "x"}: 9 bytes
const metadataHex = '0a06' + '0801' + '0802' + '2800' + '100a' + '1804'; // {conf_state{voters 1,2}, index 10, term 4}: 12 bytes
const snapshotHex = '0a027364' + '120c' + metadataHex; // {data "sd", metadata}: 18 bytes
const messageHex =
  '0803' + // 1 type = MsgApp
  '1002' + // 2 to
  '1801' + // 3 from
  '2004' + // 4 term
  '2803' + // 5 logTerm
  '300a' + // 6 index = 10
  '3a09' + entryHex + // 7 entries[0], 9 bytes
  '4009' + // 8 commit = 9
  '4a12' + snapshotHex + // 9 snapshot, 18 bytes
  '5000' + // 10 reject = false
  '5800' + // 11 rejectHint = 0
  '6800'; // 13 vote = 0 (12 context is nil)
const message = {
  type: raftpb.MessageType.MsgApp,
  to: 2,
  from: 1,
  term: 4,
  logTerm: 3,
  index: 10,
  entries: [{ type: raftpb.EntryType.EntryNormal, term: 4, index: 11, data: utf8('x') }],
  commit: 9,
  snapshot: {
    data: utf8('sd'),
    metadata: { confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }, index: 10, term: 4 },
  },
  reject: false,
  rejectHint: 0,
  context: EMPTY_BYTES,
  vote: 0,
  responses: [],
};

describe('raftpb encodes like etcd (gogoproto)', () => {
  test('ConfChange{AddNode, node 1}: zero id and type are written', () => {
    const bytes = raftpb.ConfChange.encode({ type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: 1 });
    expect(hex(bytes)).toBe(
      '0800' + // 1 id = 0
        '1000' + // 2 type = AddNode (0)
        '1801', // 3 node_id = 1; 4 context is nil, so absent
    );
  });

  test('Entry goes out as Type, Term, Index, Data although .proto declares Term first', () => {
    const entry = { type: raftpb.EntryType.EntryConfChange, term: 300, index: 2 ** 32, data: utf8('hi') };
    const expected =
      '0801' + // 1 Type = EntryConfChange
      '10ac02' + // 2 Term = 300: 0b10_0101100 -> ac 02
      '188080808010' + // 3 Index = 2^32: four 0x80 groups, then 2^32 >> 28 = 0x10
      '22026869'; // 4 Data = "hi"
    expect(hex(raftpb.Entry.encode(entry))).toBe(expected);
    expect(raftpb.Entry.decode(unhex(expected))).toEqual(entry);
  });

  test('Entry without data (nil) has no field 4; an empty non-nil data keeps an empty field 4', () => {
    expect(hex(raftpb.Entry.encode({ term: 1, index: 1 }))).toBe('08001001' + '1801');
    expect(hex(raftpb.Entry.encode({ term: 1, index: 1, data: EMPTY_BYTES }))).toBe('080010011801');
    expect(hex(raftpb.Entry.encode({ term: 1, index: 1, data: new Uint8Array(0) }))).toBe('080010011801' + '2200');
  });

  test('HardState writes all three fields, zero or not', () => {
    expect(hex(raftpb.HardState.encode({ term: 5, vote: 2, commit: 300 }))).toBe('0805' + '1002' + '18ac02');
    expect(hex(raftpb.HardState.encode({}))).toBe('0800' + '1000' + '1800');
  });

  test('ConfState: repeated voters unpacked (one tag per id), auto_leave always written', () => {
    const cs = { voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: false };
    const expected =
      '0801' + '0802' + '0803' + // 1 voters, one varint field each
      '1004' + // 2 learners
      '2800'; // 5 auto_leave = false
    expect(hex(raftpb.ConfState.encode(cs))).toBe(expected);
    expect(raftpb.ConfState.decode(unhex(expected))).toEqual(cs);
    expect(hex(raftpb.ConfState.encode({ votersOutgoing: [7], learnersNext: [8], autoLeave: true }))).toBe('1807' + '2008' + '2801');
  });

  test('Message with entries and a snapshot', () => {
    expect(hex(raftpb.Message.encode(message))).toBe(messageHex);
    expect(raftpb.Message.decode(unhex(messageHex))).toEqual(message);
  });

  test('an empty Message still carries every non-nullable scalar; the nullable snapshot is absent', () => {
    const bytes = raftpb.Message.encode({});
    expect(hex(bytes)).toBe('0800' + '1000' + '1800' + '2000' + '2800' + '3000' + '4000' + '5000' + '5800' + '6800');
    expect(raftpb.Message.decode(bytes).snapshot).toBeUndefined();
  });

  test('Snapshot always carries its (non-nullable) metadata and conf_state', () => {
    // metadata {conf_state {auto_leave false}, index 0, term 0}: 8 bytes
    expect(hex(raftpb.Snapshot.encode({}))).toBe('1208' + '0a022800' + '1000' + '1800');
  });

  test('responses nest whole messages; ConfChangeV2 and ConfChangeSingle', () => {
    const outer = raftpb.Message.encode({ type: raftpb.MessageType.MsgStorageAppend, responses: [{ type: raftpb.MessageType.MsgAppResp, to: 1 }] });
    const zeros = '1800' + '2000' + '2800' + '3000' + '4000' + '5000' + '5800' + '6800'; // from..vote, all zero
    const inner = '0804' + '1001' + zeros; // MsgAppResp to 1: 20 bytes
    // type MsgStorageAppend = 19 = 0x13; field 14 tag = 14 << 3 | 2 = 0x72, length 0x14
    expect(hex(outer)).toBe('0813' + '1000' + zeros + '7214' + inner);
    const v2 = { transition: raftpb.ConfChangeTransition.ConfChangeTransitionJointExplicit, changes: [{ type: raftpb.ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4 }], context: utf8('c') };
    expect(hex(raftpb.ConfChangeV2.encode(v2))).toBe('0802' + '1204' + '0803' + '1004' + '1a0163');
    expect(raftpb.ConfChangeV2.decode(raftpb.ConfChangeV2.encode(v2))).toEqual(v2);
  });
});

describe('raftpb decoding', () => {
  test('accepts packed repeated integers too, and re-encodes them unpacked', () => {
    const packed = '0a03010203' + '1201' + '04' + '2801'; // voters packed [1,2,3], learners packed [4], auto_leave
    const cs = raftpb.ConfState.decode(unhex(packed));
    expect(cs).toEqual({ voters: [1, 2, 3], learners: [4], votersOutgoing: [], learnersNext: [], autoLeave: true });
    expect(hex(raftpb.ConfState.encode(cs))).toBe('080108020803' + '1004' + '2801');
  });

  test('packed and unpacked runs of one field append in order', () => {
    expect(raftpb.ConfState.decode(unhex('0801' + '0a020203' + '0804')).voters).toEqual([1, 2, 3, 4]);
  });

  test('nil and empty bytes both survive a decode/encode round trip', () => {
    const withEmpty = unhex('080010011801' + '2200'); // Entry with present-but-empty Data
    expect(hex(raftpb.Entry.encode(raftpb.Entry.decode(withEmpty)))).toBe('0800100118012200');
    const withoutData = unhex('080010011801');
    expect(raftpb.Entry.decode(withoutData).data).toHaveLength(0);
    expect(hex(raftpb.Entry.encode(raftpb.Entry.decode(withoutData)))).toBe('080010011801');
    const msgWithContext = raftpb.Message.encode({ type: raftpb.MessageType.MsgReadIndex, context: new Uint8Array(0) });
    expect(hex(msgWithContext)).toContain('6200');
    expect(hex(raftpb.Message.encode(raftpb.Message.decode(msgWithContext)))).toBe(hex(msgWithContext));
  });

  test('fields may arrive in any order (proto decoders must not assume number order)', () => {
    expect(raftpb.HardState.decode(unhex('1803' + '0801' + '1002'))).toEqual({ term: 1, vote: 2, commit: 3 });
  });

  test('round trips', () => {
    const roundTrip = <T extends I, I>(codec: MessageCodec<T, I>, init: I): void => {
      const bytes = codec.encode(init);
      const decoded = codec.decode(bytes);
      expect(hex(codec.encode(decoded))).toBe(hex(bytes));
      expect(codec.decode(codec.encode(decoded))).toEqual(decoded);
    };
    roundTrip(raftpb.Message, message);
    roundTrip(raftpb.Message, { type: raftpb.MessageType.MsgVoteResp, reject: true, rejectHint: 77, vote: 3, context: utf8('transfer') });
    roundTrip(raftpb.ConfChange, { id: 9, type: raftpb.ConfChangeType.ConfChangeRemoveNode, nodeId: 2, context: utf8('ctx') });
    roundTrip(raftpb.Snapshot, { data: new Uint8Array(1000).fill(7), metadata: { confState: { voters: [1], votersOutgoing: [1, 2], autoLeave: true }, index: 5, term: 2 } });
    roundTrip(raftpb.ConfChangeSingle, { type: raftpb.ConfChangeType.ConfChangeUpdateNode, nodeId: 2 ** 53 - 1 });
  });
});
