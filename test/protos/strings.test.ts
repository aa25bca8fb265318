// String fields decode with a native slice when they are ASCII and with protobufjs' UTF-8
// decoder otherwise (protos/runtime.ts): the result must be what protobufjs alone gives, for
// any bytes, and truncation must still fail.
import protobuf from 'protobufjs/minimal';
import { common, ProtoDecodeError } from '../../protos';

/** ChannelHeader with field 4 (channel_id) set to raw bytes, valid UTF-8 or not. */
function channelHeaderWithChannelIdBytes(raw: Uint8Array): Uint8Array {
  return protobuf.Writer.create().uint32((4 << 3) | 2).bytes(raw).finish();
}

function protobufjsString(raw: Uint8Array): string {
  return protobuf.util.utf8.read(raw, 0, raw.length);
}

describe('string fields', () => {
  it('decode ASCII, multi-byte UTF-8 and invalid UTF-8 exactly as protobufjs does', () => {
    const samples: Uint8Array[] = [
      new Uint8Array(0),
      Buffer.from('mychannel'),
      Buffer.from('a'.repeat(64)),
      Buffer.from('\u0000\u007f control and DEL'),
      Buffer.from('canal-é-通道-😀'),
      Uint8Array.of(0x61, 0x80, 0x62), // lone continuation byte
      Uint8Array.of(0xc3), // truncated 2-byte sequence
      Uint8Array.of(0xed, 0xa0, 0x80), // encoded surrogate
      Uint8Array.of(0xf4, 0x90, 0x80, 0x80), // above U+10FFFF
    ];
    let seed = 7;
    for (let n = 0; n < 200; n++) {
      const raw = new Uint8Array(n % 40);
      for (let i = 0; i < raw.length; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        raw[i] = n % 2 === 0 ? (seed >>> 16) & 0x7f : (seed >>> 16) & 0xff;
      }
      samples.push(raw);
    }
    for (const raw of samples) {
      expect(common.ChannelHeader.decode(channelHeaderWithChannelIdBytes(raw)).channelId).toBe(protobufjsString(raw));
    }
  });

  it('decode from a view into a larger buffer, and from a Buffer', () => {
    const inner = channelHeaderWithChannelIdBytes(Buffer.from('orderer-channel'));
    const backing = new Uint8Array(inner.length + 10);
    backing.set(inner, 5);
    expect(common.ChannelHeader.decode(backing.subarray(5, 5 + inner.length)).channelId).toBe('orderer-channel');
    expect(common.ChannelHeader.decode(Buffer.from(inner)).channelId).toBe('orderer-channel');
  });

  it('still reject a string that runs past the end', () => {
    const bytes = channelHeaderWithChannelIdBytes(Buffer.from('mychannel'));
    expect(() => common.ChannelHeader.decode(bytes.subarray(0, bytes.length - 1))).toThrow(ProtoDecodeError);
    expect(() => common.ChannelHeader.decode(Buffer.from(bytes.subarray(0, bytes.length - 1)))).toThrow(/index out of range/);
  });
});
