import { createHash } from 'node:crypto';
import { common, etcdraft } from '../../protos';
import {
  blockDataHash,
  blockHeaderBytes,
  blockHeaderHash,
  computeTxId,
  derBlockHeader,
  envelopeHeaders,
  envelopeTxId,
  genesisBlock,
  newBlock,
  readConsenterMetadata,
  readLastConfigIndex,
  readSignaturesMetadata,
  signedMetadataBytes,
  writeCommitMetadata,
} from '../../ledger';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const BLOCK0_HASH = '9cae6f5c10756febc407bba95fc23853774c1f65f10354895bfdab6443d66ed3';
const BLOCK1_HASH = '91832d32531bdfd1a285dd117422f8d77eea07ca7f937b91b55deda9e63d726e';

/**
 * A second DER encoder, written from X.690 independently of ledger/der.ts and deliberately in a
 * different style (hex strings and bigint arithmetic), to cross-check it.
 */
function referenceDer(number: bigint, previousHash: Uint8Array, dataHash: Uint8Array): string {
  const lengthHex = (n: number): string => {
    if (n <= 127) return n.toString(16).padStart(2, '0');
    let body = n.toString(16);
    if (body.length % 2) body = '0' + body;
    return (0x80 + body.length / 2).toString(16) + body;
  };
  const tlv = (tag: string, contentHex: string): string => tag + lengthHex(contentHex.length / 2) + contentHex;
  let intHex = number.toString(16);
  if (intHex.length % 2) intHex = '0' + intHex;
  if (parseInt(intHex.slice(0, 2), 16) >= 0x80) intHex = '00' + intHex;
  const body = tlv('02', intHex) + tlv('04', hex(previousHash)) + tlv('04', hex(dataHash));
  return tlv('30', body);
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('block header hash (DER)', () => {
  test('block 0 and block 1 match the published vectors', () => {
    const dataHash = blockDataHash([]);
    expect(hex(dataHash)).toBe(EMPTY_SHA256);

    const der0 = blockHeaderBytes({ number: 0, dataHash });
    expect(hex(der0)).toBe(`3027020100040004 20${EMPTY_SHA256}`.replace(/ /g, ''));
    expect(hex(blockHeaderHash({ number: 0, dataHash }))).toBe(BLOCK0_HASH);

    const header1 = { number: 1, previousHash: unhex(BLOCK0_HASH), dataHash };
    expect(hex(blockHeaderBytes(header1))).toBe(`3047020101 0420${BLOCK0_HASH} 0420${EMPTY_SHA256}`.replace(/ /g, ''));
    expect(hex(blockHeaderHash(header1))).toBe(BLOCK1_HASH);
  });

  test('newBlock chains: block 1 built on block 0 carries its hash', () => {
    const b0 = newBlock(0, new Uint8Array(0), []);
    const b1 = newBlock(1, blockHeaderHash(b0.header!), []);
    expect(hex(b1.header!.previousHash)).toBe(BLOCK0_HASH);
    expect(hex(blockHeaderHash(b1.header!))).toBe(BLOCK1_HASH);
  });

  test('INTEGER edge values are minimal two\'s complement', () => {
    const intOf = (n: number | bigint): string => {
      const der = hex(derBlockHeader(n, new Uint8Array(0), new Uint8Array(0)));
      return der.slice(4, der.length - 8); // strip SEQUENCE header and the two empty OCTET STRINGs
    };
    expect(intOf(0)).toBe('020100');
    expect(intOf(127)).toBe('02017f');
    expect(intOf(128)).toBe('02020080');
    expect(intOf(255)).toBe('020200ff');
    expect(intOf(256)).toBe('02020100');
    expect(intOf(2n ** 64n - 1n)).toBe('020900ffffffffffffffff');
    expect(() => derBlockHeader(-1, new Uint8Array(0), new Uint8Array(0))).toThrow(RangeError);
    expect(() => derBlockHeader(2 ** 53, new Uint8Array(0), new Uint8Array(0))).toThrow(RangeError);
  });

  const numbers = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1];
  const hashLengths = [0, 32, 127, 128, 200];
  test.each(numbers)('agrees with the reference encoder for number %d and hash lengths 0/32/127/128/200', (number) => {
    for (const prevLen of hashLengths) {
      for (const dataLen of hashLengths) {
        const prev = randomBytes(prevLen, number + prevLen * 7 + 1);
        const data = randomBytes(dataLen, number + dataLen * 13 + 2);
        const ours = hex(blockHeaderBytes({ number, previousHash: prev, dataHash: data }));
        expect(ours).toBe(referenceDer(BigInt(number), prev, data));
      }
    }
  });

  test('long-form lengths: a 200-byte hash and a sequence longer than 255 bytes', () => {
    const big = randomBytes(200, 9);
    const der = hex(blockHeaderBytes({ number: 5, previousHash: big, dataHash: big }));
    // body = 3 (INTEGER) + 3 + 200 + 3 + 200 = 409 = 0x0199 → SEQUENCE length 82 01 99; each OCTET STRING 04 81 c8
    expect(der.startsWith('30820199' + '020105' + '0481c8')).toBe(true);
    expect(der.length / 2).toBe(4 + 409);
  });
});

describe('block data hash', () => {
  test('is SHA-256 of the envelopes laid end to end', () => {
    const envelopes = [randomBytes(10, 1), new Uint8Array(0), randomBytes(1000, 2), randomBytes(1, 3)];
    const manual = createHash('sha256').update(Buffer.concat(envelopes)).digest('hex');
    expect(hex(blockDataHash(envelopes))).toBe(manual);
    const block = newBlock(7, randomBytes(32, 4), envelopes);
    expect(hex(block.header!.dataHash)).toBe(manual);
  });

  test('newBlock has five empty metadata slots and the envelopes as given', () => {
    const envelopes = [randomBytes(5, 1)];
    const block = newBlock(3, randomBytes(32, 9), envelopes);
    expect(block.metadata!.metadata).toHaveLength(5);
    expect(block.metadata!.metadata.every((m) => m.length === 0)).toBe(true);
    expect(block.data!.data).toEqual(envelopes);
    const decoded = common.Block.decode(common.Block.encode(block));
    expect(decoded.metadata!.metadata).toHaveLength(5);
  });
});

describe('genesis block', () => {
  const configEnvelope: common.ConfigEnvelopeInit = {
    config: { sequence: 0, channelGroup: { version: 0, modPolicy: 'Admins', values: { Capabilities: { value: unhex('0a00') } } } },
  };
  const nonce = randomBytes(24, 42);
  const block = genesisBlock({ channelId: 'mychannel', configEnvelope, timestampSeconds: 1_700_000_000, nonce });

  test('is block 0 with no previous hash and one unsigned CONFIG envelope', () => {
    expect(block.header!.number).toBe(0);
    expect(block.header!.previousHash).toHaveLength(0);
    expect(block.data!.data).toHaveLength(1);
    const envelope = common.Envelope.decode(block.data!.data[0]!);
    expect(envelope.signature).toHaveLength(0);
    const { channelHeader, signatureHeader } = envelopeHeaders(block.data!.data[0]!);
    expect(channelHeader.type).toBe(common.HeaderType.CONFIG);
    expect(channelHeader.version).toBe(1);
    expect(channelHeader.channelId).toBe('mychannel');
    expect(channelHeader.epoch).toBe(0);
    expect(channelHeader.timestamp).toEqual({ seconds: 1_700_000_000, nanos: 0 });
    expect(signatureHeader.creator).toHaveLength(0);
    expect(hex(signatureHeader.nonce)).toBe(hex(nonce));
    const payload = common.Payload.decode(envelope.payload);
    expect(common.ConfigEnvelope.decode(payload.data).lastUpdate).toBeUndefined();
    expect(hex(block.header!.dataHash)).toBe(hex(blockDataHash(block.data!.data)));
  });

  test('tx_id is hex(SHA-256(nonce ‖ creator))', () => {
    const expected = createHash('sha256').update(nonce).digest('hex');
    expect(envelopeTxId(block.data!.data[0]!)).toBe(expected);
    expect(computeTxId(nonce, new Uint8Array(0))).toBe(expected);
  });

  test('random nonce of 24 bytes when none is given', () => {
    const a = genesisBlock({ channelId: 'c', configEnvelope });
    const b = genesisBlock({ channelId: 'c', configEnvelope });
    const nonceA = envelopeHeaders(a.data!.data[0]!).signatureHeader.nonce;
    expect(nonceA).toHaveLength(24);
    expect(hex(nonceA)).not.toBe(hex(envelopeHeaders(b.data!.data[0]!).signatureHeader.nonce));
  });

  test('metadata: slot 0 = 0a 02 0a 00, slot 1 encodes to zero bytes, last config 0', () => {
    const slots = block.metadata!.metadata;
    expect(slots).toHaveLength(5);
    expect(hex(slots[0]!)).toBe('0a020a00');
    expect(slots[1]).toHaveLength(0);
    expect(slots.slice(2).every((s) => s.length === 0)).toBe(true);
    expect(readLastConfigIndex(block)).toBe(0);
    expect(readConsenterMetadata(block)).toBeUndefined();
  });

  test('Fabric\'s own protobuf bindings read it and re-encode the same bytes', () => {
    const fabric = require('@hyperledger/fabric-protos') as {
      common: { Block: { deserializeBinary(b: Uint8Array): { serializeBinary(): Uint8Array } } };
    };
    const bytes = common.Block.encode(block);
    expect(hex(fabric.common.Block.deserializeBinary(bytes).serializeBinary())).toBe(hex(bytes));
  });
});

describe('commit metadata', () => {
  const raft: etcdraft.BlockMetadataInit = { consenterIds: [1, 2, 3], nextConsenterId: 4, raftIndex: 17 };

  test('written metadata reads back: last config, consenter metadata, one signature over V ‖ SH ‖ DER(header)', () => {
    const block = newBlock(9, randomBytes(32, 1), [randomBytes(20, 2)]);
    const signed: Uint8Array[] = [];
    writeCommitMetadata(block, {
      lastConfigIndex: 6,
      consenterMetadata: raft,
      signer: {
        newSignatureHeader: () => unhex('0a0463726561'),
        sign: (message) => {
          signed.push(message);
          return unhex('5151');
        },
      },
    });
    expect(readLastConfigIndex(block)).toBe(6);
    expect(readConsenterMetadata(block)).toEqual({ consenterIds: [1, 2, 3], nextConsenterId: 4, raftIndex: 17 });
    const slot0 = readSignaturesMetadata(block);
    expect(slot0.signatures).toHaveLength(1);
    expect(hex(slot0.signatures[0]!.signature)).toBe('5151');
    expect(hex(signed[0]!)).toBe(hex(signedMetadataBytes(slot0.value, unhex('0a0463726561'), block.header!)));
    expect(hex(signed[0]!).endsWith(hex(blockHeaderBytes(block.header!)))).toBe(true);
    // slot 1 mirrors the index for old readers
    const legacy = common.Metadata.decode(block.metadata!.metadata[1]!);
    expect(common.LastConfig.decode(legacy.value).index).toBe(6);
  });

  test('readers fall back to slot 1 and slot 3 only when slot 0 has no value', () => {
    const block = newBlock(4, randomBytes(32, 1), []);
    block.metadata!.metadata[1] = common.Metadata.encode({ value: common.LastConfig.encode({ index: 3 }) });
    block.metadata!.metadata[3] = common.Metadata.encode({ value: etcdraft.BlockMetadata.encode(raft) });
    expect(readLastConfigIndex(block)).toBe(3);
    expect(readConsenterMetadata(block)?.raftIndex).toBe(17);
    writeCommitMetadata(block, { lastConfigIndex: 4 }); // no consenter metadata: a migration-style block
    block.metadata!.metadata[1] = common.Metadata.encode({ value: common.LastConfig.encode({ index: 3 }) });
    expect(readLastConfigIndex(block)).toBe(4);
    expect(readConsenterMetadata(block)).toBeUndefined();
  });
});

describe('tx id extraction', () => {
  test('reads Payload → Header → ChannelHeader.tx_id; malformed bytes throw', () => {
    const channelHeader = common.ChannelHeader.encode({ type: common.HeaderType.ENDORSER_TRANSACTION, txId: 'abc123', channelId: 'ch' });
    const envelope = common.Envelope.encode({
      payload: common.Payload.encode({ header: { channelHeader }, data: unhex('00') }),
      signature: unhex('01'),
    });
    expect(envelopeTxId(envelope)).toBe('abc123');
    expect(envelopeTxId(common.Envelope.encode({ payload: common.Payload.encode({}) }))).toBe('');
    expect(() => envelopeTxId(unhex('0aff'))).toThrow();
  });
});
