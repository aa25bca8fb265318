// encodeBlockBytes must write exactly the bytes common.Block.encode writes: the leader proposes
// them, every node stores them, hashes are taken over parts of them, and Deliver serves them as is.
// Blocks the ledger keeps are encoded with room in front, where Deliver writes its prefix in place.
import { blockMetadataOffset, common, encodeBlockBytes, encodeBlockMetadataField } from '../../protos';
import { frameLengthDelimited } from '../../protos/block-bytes';
import { deliverFramesInPlace, encodeDeliverBlockResponse, encodeDeliverBlockResponsePieces, parseDeliverResponse } from '../../orderer/atomic-broadcast';

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const bytesOf = (length: number, fill: number): Uint8Array => new Uint8Array(length).fill(fill);

/** `framed` ends with `bytes` in the same memory: a write to the last byte of one shows in the other. */
function sharesMemory(framed: Uint8Array, bytes: Uint8Array): boolean {
  if (bytes.length === 0) return framed.buffer === bytes.buffer && framed.byteOffset + framed.length === bytes.byteOffset;
  const last = bytes.length - 1;
  const before = bytes[last]!;
  bytes[last] = before ^ 0xff;
  const shared = framed[framed.length - 1] === bytes[last];
  bytes[last] = before;
  return shared;
}

function expectSameBytes(block: common.BlockInit): void {
  expect(Buffer.from(encodeBlockBytes(block)).toString('hex')).toBe(Buffer.from(common.Block.encode(block)).toString('hex'));
}

describe('encodeBlockBytes', () => {
  it('writes what the generated encoder writes for blocks as the orderer builds them', () => {
    const envelopes = Array.from({ length: 400 }, (_, i) => bytesOf(1000 + (i % 300), i & 0xff));
    const metadata = [bytesOf(120, 1), bytesOf(0, 0), bytesOf(0, 0), bytesOf(0, 0), bytesOf(0, 0)];
    expectSameBytes({ header: { number: 12_345, previousHash: bytesOf(32, 7), dataHash: bytesOf(32, 9) }, data: { data: envelopes }, metadata: { metadata } });
  });

  it('agrees on the edge cases: block 0, empty hashes, empty envelopes, absent parts, long lengths', () => {
    expectSameBytes({ header: { number: 0, previousHash: new Uint8Array(0), dataHash: bytesOf(32, 1) }, data: { data: [bytesOf(5, 2)] }, metadata: { metadata: [] } });
    expectSameBytes({ header: {}, data: { data: [] }, metadata: {} });
    expectSameBytes({ data: { data: [new Uint8Array(0), new Uint8Array(0)] } });
    expectSameBytes({ header: { number: 2 ** 53 - 1 } });
    expectSameBytes({ header: { number: 2 ** 64 } }); // wraps to 2^64-1 in both
    expectSameBytes({ metadata: { metadata: [bytesOf(127, 3), bytesOf(128, 4), bytesOf(16_384, 5)] } });
    expectSameBytes({});
    expectSameBytes({ data: { data: [bytesOf(2_100_000, 6)] } }); // a 3-byte length prefix
  });

  it('agrees on random blocks (seeded)', () => {
    const seed = Number(process.env.BLOCK_BYTES_SEED ?? 20261204);
    const random = seeded(seed);
    const size = (max: number): number => Math.floor(random() * random() * max);
    for (let round = 0; round < 200; round++) {
      const block: common.BlockInit = {};
      if (random() < 0.9) block.header = { number: Math.floor(random() * 2 ** (1 + Math.floor(random() * 52))), previousHash: bytesOf(size(40), round), dataHash: bytesOf(size(40), round + 1) };
      if (random() < 0.9) block.data = { data: Array.from({ length: size(60) }, (_, i) => bytesOf(size(3000), i)) };
      if (random() < 0.9) block.metadata = { metadata: Array.from({ length: size(8) }, (_, i) => bytesOf(size(300), i)) };
      try {
        expectSameBytes(block);
      } catch (err) {
        throw new Error(`round ${round} differs (seed ${seed}; replay: BLOCK_BYTES_SEED=${seed} npx jest test/protos/block-bytes.test.ts): ${String(err)}`);
      }
    }
  });

  it('decodes back to the block it was given', () => {
    const block: common.BlockInit = { header: { number: 7, previousHash: bytesOf(32, 1), dataHash: bytesOf(32, 2) }, data: { data: [bytesOf(10, 3), bytesOf(300, 4)] }, metadata: { metadata: [bytesOf(3, 5), new Uint8Array(0)] } };
    const decoded = common.Block.decode(encodeBlockBytes(block));
    expect(decoded.header?.number).toBe(7);
    expect(decoded.data?.data.map((d) => d.length)).toEqual([10, 300]);
    expect(decoded.metadata?.metadata.map((d) => d.length)).toEqual([3, 0]);
  });

  it('with frame room: the same bytes, and Deliver frames them in place as it would by copying', () => {
    for (const block of [
      { header: { number: 3, previousHash: bytesOf(32, 1), dataHash: bytesOf(32, 2) }, data: { data: [bytesOf(10, 3), bytesOf(300, 4)] }, metadata: { metadata: [bytesOf(3, 5)] } },
      { data: { data: [bytesOf(2_100_000, 6)] } }, // a 4-byte frame length
      {},
    ] satisfies common.BlockInit[]) {
      const plain = encodeBlockBytes(block);
      const roomy = encodeBlockBytes(block, { withFrameRoom: true });
      expect(Buffer.compare(roomy, plain)).toBe(0);
      expect(deliverFramesInPlace(plain)).toBe(false);
      expect(deliverFramesInPlace(roomy)).toBe(true);
      const copied = encodeDeliverBlockResponse(plain);
      const inPlace = encodeDeliverBlockResponse(roomy);
      expect(Buffer.compare(inPlace, copied)).toBe(0);
      expect(sharesMemory(inPlace, roomy)).toBe(true); // no copy of the block
      expect(sharesMemory(copied, plain)).toBe(false);
      // Framing again (another stream) writes the same prefix; the block's own bytes never change.
      expect(Buffer.compare(encodeDeliverBlockResponse(roomy), copied)).toBe(0);
      expect(Buffer.compare(roomy, plain)).toBe(0);
      const parsed = parseDeliverResponse(inPlace);
      expect(parsed.kind).toBe('block');
      if (parsed.kind === 'block') expect(Buffer.compare(parsed.blockBytes, plain)).toBe(0);
    }
  });

  it('frames in place only in room it made: other bytes are copied, never written in front of', () => {
    const whole = Buffer.alloc(64, 0xee);
    const view = whole.subarray(10, 30);
    const framed = frameLengthDelimited(0x12, view);
    expect(sharesMemory(framed, view)).toBe(false);
    expect(whole.every((b) => b === 0xee)).toBe(true);
    expect([...framed.subarray(0, 2)]).toEqual([0x12, 20]);
    // A buffer with room, asked for under a second tag, is copied: the first frame stays intact.
    const roomy = encodeBlockBytes({ data: { data: [bytesOf(100, 1)] } }, { withFrameRoom: true });
    const first = frameLengthDelimited(0x12, roomy);
    const other = frameLengthDelimited(0x0a, roomy);
    expect(sharesMemory(first, roomy)).toBe(true);
    expect(sharesMemory(other, roomy)).toBe(false);
    expect(other[0]).toBe(0x0a);
    expect(first[0]).toBe(0x12);
  });
});

describe('a block as its header and data, then a metadata field', () => {
  const blockOf = (random: () => number, withMetadata: boolean): common.BlockInit => ({
    header: { number: Math.floor(random() * 2 ** 40), previousHash: bytesOf(32, 1), dataHash: bytesOf(32, 2) },
    data: { data: Array.from({ length: Math.floor(random() * 40) }, (_, i) => bytesOf(Math.floor(random() * 20_000), i)) },
    ...(withMetadata ? { metadata: { metadata: Array.from({ length: 5 }, (_, i) => bytesOf(Math.floor(random() * 300), i)) } } : {}),
  });

  it('replacing the metadata after blockMetadataOffset gives what the generated encoder writes (seeded)', () => {
    const random = seeded(99);
    for (let i = 0; i < 50; i++) {
      const entry = common.Block.encode(blockOf(random, i % 3 !== 0));
      const at = blockMetadataOffset(entry);
      expect(at).toBeDefined();
      const filled = common.Block.decode(entry);
      filled.metadata = { metadata: [bytesOf(70 + i, 9), new Uint8Array(0), bytesOf(i, 3)] };
      const joined = Buffer.concat([entry.subarray(0, at), encodeBlockMetadataField(filled.metadata)]);
      expect(joined.toString('hex')).toBe(Buffer.from(common.Block.encode(filled)).toString('hex'));
    }
    // Absent metadata is no field at all, as the generated encoder leaves it out.
    expect(encodeBlockMetadataField(undefined)).toHaveLength(0);
    expect(Buffer.from(encodeBlockMetadataField({ metadata: [] }))).toEqual(Buffer.from([0x1a, 0x00]));
  });

  it('finds no offset in a block laid out otherwise: reordered, repeated or unknown fields, cut short', () => {
    const header = Buffer.from(common.Block.encode({ header: { number: 1 } }));
    const data = Buffer.from(common.Block.encode({ data: { data: [bytesOf(10, 1)] } }));
    const metadata = encodeBlockMetadataField({ metadata: [bytesOf(4, 2)] });
    expect(blockMetadataOffset(Buffer.concat([header, data, metadata]))).toBe(header.length + data.length);
    expect(blockMetadataOffset(Buffer.concat([header, data]))).toBe(header.length + data.length);
    expect(blockMetadataOffset(new Uint8Array(0))).toBe(0);
    expect(blockMetadataOffset(Buffer.concat([data, header, metadata]))).toBeUndefined();
    expect(blockMetadataOffset(Buffer.concat([header, header, data]))).toBeUndefined();
    expect(blockMetadataOffset(Buffer.concat([header, data, metadata, metadata]))).toBeUndefined();
    expect(blockMetadataOffset(Buffer.concat([header, Buffer.from([0x22, 0x01, 0x00]), data]))).toBeUndefined();
    expect(blockMetadataOffset(Buffer.concat([header, data]).subarray(0, header.length + 3))).toBeUndefined();
    expect(blockMetadataOffset(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBeUndefined();
  });

  it('Deliver sends the pieces behind a prefix, uncopied, and they parse as the block', () => {
    const block = blockOf(seeded(5), true);
    const whole = Buffer.from(common.Block.encode(block));
    const at = blockMetadataOffset(whole)!;
    const pieces = [whole.subarray(0, at), whole.subarray(at)];
    const gathered = encodeDeliverBlockResponsePieces(pieces);
    expect(gathered.chunks.slice(1)).toEqual(pieces);
    expect(gathered.chunks[1]).toBe(pieces[0]);
    const joined = gathered.join();
    expect(joined).toHaveLength(gathered.byteLength);
    expect(joined).toEqual(encodeDeliverBlockResponse(whole));
    const parsed = parseDeliverResponse(joined);
    expect(parsed.kind === 'block' && Buffer.from(parsed.blockBytes).equals(whole)).toBe(true);
  });
});
