// Bytes from the network are untrusted: anything that is not a valid message must fail with
// a ProtoDecodeError naming the type asked for, never with another kind of exception, and
// fields we do not know (newer Fabric versions add some) must be skipped.
import { common, orderer, ProtoDecodeError, raftpb, type MessageCodec } from '../../protos';

const hex = (x: Uint8Array): string => Buffer.from(x).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function decodeError<T, I>(codec: MessageCodec<T, I>, bytes: Uint8Array): ProtoDecodeError {
  try {
    codec.decode(bytes);
  } catch (err) {
    if (err instanceof ProtoDecodeError) return err;
    throw new Error(`decoding ${codec.typeName} threw ${String(err)} instead of a ProtoDecodeError`);
  }
  throw new Error(`decoding ${codec.typeName} from ${hex(bytes)} unexpectedly succeeded`);
}

/** Decodes or fails with ProtoDecodeError; anything else fails the test. */
function decodeOrReject<T, I>(codec: MessageCodec<T, I>, bytes: Uint8Array): 'ok' | 'rejected' {
  try {
    codec.decode(bytes);
    return 'ok';
  } catch (err) {
    if (err instanceof ProtoDecodeError && err.typeName === codec.typeName) return 'rejected';
    throw new Error(`decoding ${codec.typeName} from ${hex(bytes)} threw ${String(err)}`);
  }
}

const envelope = { payload: utf8('payload'), signature: utf8('signature') };
const block: common.BlockInit = {
  header: { number: 7, previousHash: utf8('prev'), dataHash: utf8('hash') },
  data: { data: [common.Envelope.encode(envelope), common.Envelope.encode(envelope)] },
  metadata: { metadata: [utf8('sigs'), new Uint8Array(0), utf8('x')] },
};

describe('malformed input', () => {
  test('every truncation of a block fails, except cuts exactly between top-level fields', () => {
    const full = common.Block.encode(block);
    // Top-level fields are all length-delimited, so only these prefixes are whole messages.
    const boundaries = new Set([
      0,
      common.Block.encode({ header: block.header }).length,
      common.Block.encode({ header: block.header, data: block.data }).length,
    ]);
    for (let cut = 0; cut < full.length; cut++) {
      const result = decodeOrReject(common.Block, full.subarray(0, cut));
      expect({ cut, result }).toEqual({ cut, result: boundaries.has(cut) ? 'ok' : 'rejected' });
    }
  });

  test('a truncated varint', () => {
    const err = decodeError(common.BlockHeader, unhex('08ff'));
    expect(err.typeName).toBe('common.BlockHeader');
    expect(err.message).toMatch(/^malformed common\.BlockHeader: /);
  });

  test('a length prefix past the end of the bytes', () => {
    expect(decodeError(common.Envelope, unhex('0a05616263')).typeName).toBe('common.Envelope');
    // a nested message's length, and a bytes field inside a nested message
    expect(decodeError(common.Block, unhex('0a05' + '0801')).message).toMatch(/length 5 at offset 1 runs past the end of the 4 bytes/);
    expect(decodeError(common.Block, unhex('0a04' + '1209ffff')).typeName).toBe('common.Block');
  });

  test('a nested message longer than its parent says', () => {
    // Payload claims 4 bytes, but its header field claims 6, running into the next field.
    const bytes = unhex('0a04' + '0a06' + '0a01' + '41' + '1201' + '42');
    expect(decodeError(common.Payload, bytes).message).toMatch(/overruns its length/);
  });

  test('a wrong wire type names the field and the (nested) type', () => {
    const err = decodeError(common.Envelope, unhex('0801')); // payload is bytes, sent as varint
    expect(err.typeName).toBe('common.Envelope');
    expect(err.message).toMatch(/field 1 of common\.Envelope has wire type 0/);
    // BlockHeader.number (varint) sent length-delimited, inside a Block
    const nested = decodeError(common.Block, unhex('0a03' + '0a0100'));
    expect(nested.typeName).toBe('common.Block');
    expect(nested.message).toMatch(/field 1 of common\.BlockHeader has wire type 2/);
    // a map entry key sent as varint
    expect(decodeError(common.ConfigGroup, unhex('1202' + '0801')).message).toMatch(/common\.ConfigGroup\.groups entry/);
    // raftpb's repeated uint64 may be packed (2) or not (0), but never fixed32 (5)
    expect(decodeError(raftpb.ConfState, unhex('0d01000000')).message).toMatch(/field 1 of raftpb\.ConfState has wire type 5/);
  });

  test('field number 0 and the undefined wire types 6 and 7', () => {
    expect(decodeError(common.Envelope, unhex('0001')).message).toMatch(/field number 0/);
    expect(decodeError(common.Envelope, unhex('4e')).message).toMatch(/invalid wire type 6/);
    expect(decodeError(common.Envelope, unhex('4f')).message).toMatch(/invalid wire type 7/);
  });

  test('a packed run whose last varint crosses its length', () => {
    expect(decodeError(raftpb.ConfState, unhex('0a02' + '01' + '8001')).message).toMatch(/raftpb\.ConfState\.voters overruns/);
  });

  test('a nesting too deep for the stack is a ProtoDecodeError, not a crash', () => {
    // SignaturePolicy{n_out_of{rules[SignaturePolicy{...}]}} 200 000 levels deep, written
    // from the innermost level outwards.
    const depth = 200_000;
    const buf = new Uint8Array(depth * 2 * 5);
    let pos = buf.length;
    const varintBefore = (n: number): void => {
      const bytes: number[] = [];
      do {
        bytes.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
        n >>>= 7;
      } while (n > 0);
      pos -= bytes.length;
      buf.set(bytes, pos);
    };
    for (let i = 0; i < depth * 2; i++) {
      const innerLength = buf.length - pos;
      varintBefore(innerLength);
      buf[--pos] = 0x12; // field 2, length-delimited: n_out_of, then rules, alternating
    }
    expect(decodeError(common.SignaturePolicy, buf.subarray(pos)).typeName).toBe('common.SignaturePolicy');
  });

  test('random and bit-flipped bytes never escape as another kind of error', () => {
    let seed = 0x2545f491;
    const rand = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const valid = common.Block.encode(block);
    const codecs: MessageCodec<unknown, unknown>[] = [common.Block, common.Envelope, common.ConfigGroup, orderer.SeekInfo, raftpb.Message, raftpb.ConfState];
    const counts = { ok: 0, rejected: 0 };
    for (let i = 0; i < 3000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = new Uint8Array(Math.floor(rand() * 64));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
      } else {
        bytes = valid.slice();
        const at = Math.floor(rand() * bytes.length);
        bytes[at]! ^= 1 << Math.floor(rand() * 8);
      }
      counts[decodeOrReject(codecs[i % codecs.length]!, bytes)]++;
    }
    expect(counts.rejected).toBeGreaterThan(0);
    expect(counts.ok).toBeGreaterThan(0);
  });
});

describe('unknown fields are skipped', () => {
  test('of every wire type, top level and nested', () => {
    const unknown =
      '4801' + // 9 varint
      '510102030405060708' + // 10 fixed64
      '5a03616263' + // 11 length-delimited
      '6501020304' + // 12 fixed32
      '6b' + '0801' + '6c'; // 13 group (start, one varint inside, end)
    expect(common.Envelope.decode(unhex(hex(common.Envelope.encode(envelope)) + unknown))).toEqual(envelope);
    // Inside a nested BlockHeader, in front of the known fields.
    const header = common.BlockHeader.encode({ number: 3 });
    const nestedHex = unknown + hex(header);
    const withUnknown = unhex('0a' + (nestedHex.length / 2).toString(16).padStart(2, '0') + nestedHex);
    expect(common.Block.decode(withUnknown).header).toEqual({ number: 3, previousHash: new Uint8Array(0), dataHash: new Uint8Array(0) });
    // Inside a map entry.
    const entry = '0a0141' + '4801' + '1200'; // key "A", unknown field 9, empty value
    expect(Object.keys(common.ConfigGroup.decode(unhex('1207' + entry)).groups)).toEqual(['A']);
  });

  test('fields added by newer Fabric (fabric-protos v0.3) are ignored', () => {
    const fabric: unknown = require('@hyperledger/fabric-protos');
    const MetadataSignature = Reflect.get(Reflect.get(fabric as object, 'common') as object, 'MetadataSignature') as new () => {
      setSignature(v: Uint8Array): void;
      setIdentifierHeader(v: Uint8Array): void;
      serializeBinary(): Uint8Array;
    };
    const sig = new MetadataSignature();
    sig.setSignature(utf8('sig'));
    sig.setIdentifierHeader(utf8('v0.3 identifier header'));
    expect(common.MetadataSignature.decode(sig.serializeBinary())).toEqual({ signatureHeader: new Uint8Array(0), signature: utf8('sig') });
  });
});

describe('Node Buffers (what gRPC hands us)', () => {
  test('a string field cut off by the end of a Buffer is an error, not a shorter string', () => {
    const bytes = common.ChannelHeader.encode({ channelId: 'mychannel', txId: 'abc' });
    // Drop the last byte of tx_id: its length prefix now points past the end.
    const truncated = Buffer.from(bytes.subarray(0, bytes.length - 1));
    expect(() => common.ChannelHeader.decode(truncated)).toThrow(ProtoDecodeError);
  });
});
