// What a committed block is stored as (orderer/chain/apply.ts storedForm): the Raft entry's header
// and data as they are, uncopied, then the metadata this node filled in, only when that is byte
// for byte the block as Fabric encodes it; any other entry (from a foreign or faulty leader that
// encodes differently but decodes the same) is encoded whole, so what is hashed, stored and
// delivered is always the standard encoding.
import { common, encodeBlockBytes } from '../../protos';
import { storedForm } from '../../orderer/chain/apply';
import { blockDataHash } from '../../ledger/block';

const envelopes = [Buffer.alloc(40, 7), Buffer.alloc(0), Buffer.alloc(300, 3)];
const block: common.BlockInit = {
  header: { number: 5, previousHash: Buffer.alloc(32, 1), dataHash: blockDataHash(envelopes) },
  data: { data: envelopes },
};
const headerBytes = Buffer.from(common.BlockHeader.encode(block.header!));
/** Everything after the header field of the standard encoding. */
const afterHeader = (): Buffer => Buffer.from(encodeBlockBytes(block)).subarray(2 + headerBytes.length);

/** `entry` decodes to `block`'s header and data (whatever metadata it carries, which a node replaces). */
function sameHeaderAndData(entry: Buffer): boolean {
  const decoded = common.Block.decode(entry);
  decoded.metadata = undefined;
  return Buffer.from(common.Block.encode(decoded)).equals(Buffer.from(encodeBlockBytes(block)));
}

/** Stores `entry` as a node would and returns the stored bytes, checked to be the standard encoding. */
function stored(entry: Buffer): { pieces: boolean; sharesEntry: boolean } {
  const filled = common.Block.decode(entry);
  filled.metadata = { metadata: [Buffer.alloc(72, 9), new Uint8Array(0), Buffer.from([1])] };
  const { bytes, metadataField } = storedForm(filled, entry);
  const joined = Buffer.concat([bytes, metadataField ?? new Uint8Array(0)]);
  expect(joined.toString('hex')).toBe(Buffer.from(common.Block.encode(filled)).toString('hex'));
  // Small buffers share Node's pool: the same memory means the same buffer at an offset inside the entry.
  const sharesEntry = bytes.buffer === entry.buffer && bytes.byteOffset >= entry.byteOffset && bytes.byteOffset + bytes.length <= entry.byteOffset + entry.length;
  return { pieces: metadataField !== undefined, sharesEntry };
}

test('a standard entry, ours or as Go writes it with five empty metadata slots, is kept as a view of the entry', () => {
  expect(stored(Buffer.from(encodeBlockBytes(block)))).toEqual({ pieces: true, sharesEntry: true });
  const goStyle = Buffer.from(common.Block.encode({ ...block, metadata: { metadata: [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)] } }));
  expect(stored(goStyle)).toEqual({ pieces: true, sharesEntry: true });
  // No data field at all (an empty block as some encoders leave it out).
  expect(stored(Buffer.from(common.Block.encode({ header: block.header! })))).toEqual({ pieces: true, sharesEntry: true });
});

test('entries that decode to the same block but are encoded otherwise are stored in the standard encoding', () => {
  const len = headerBytes.length;
  const cases: Record<string, Buffer> = {
    'an over-long length of the header field': Buffer.concat([Buffer.from([0x0a, 0x80 | len, 0x00]), headerBytes, afterHeader()]),
    'an unknown field inside the header': Buffer.concat([Buffer.from([0x0a, len + 3]), headerBytes, Buffer.from([0x22, 0x01, 0x00]), afterHeader()]),
    'the header fields in another order': Buffer.concat([
      Buffer.from([0x0a, len]),
      Buffer.from(common.BlockHeader.encode({ previousHash: block.header!.previousHash })),
      Buffer.from(common.BlockHeader.encode({ number: 5 })),
      Buffer.from(common.BlockHeader.encode({ dataHash: block.header!.dataHash })),
      afterHeader(),
    ]),
    'the metadata field before the data field': Buffer.concat([Buffer.from([0x0a, len]), headerBytes, Buffer.from([0x1a, 0x00]), afterHeader()]),
  };
  for (const [what, entry] of Object.entries(cases)) {
    // Each really is the same block, encoded otherwise.
    expect({ what, sameBlock: sameHeaderAndData(entry) }).toEqual({ what, sameBlock: true });
    expect(entry.equals(Buffer.from(encodeBlockBytes(block)))).toBe(false);
    expect({ what, ...stored(entry) }).toEqual({ what, pieces: false, sharesEntry: false });
  }
});

test('an envelope with an over-long length inside the data field is stored in the standard encoding', () => {
  const data = Buffer.from(common.BlockData.encode({ data: envelopes }));
  // The first envelope's length (40) written in two bytes: the data field grows by one.
  const longer = Buffer.concat([data.subarray(0, 1), Buffer.from([0x80 | 40, 0x00]), data.subarray(2)]);
  const entry = Buffer.concat([Buffer.from([0x0a, headerBytes.length]), headerBytes, Buffer.from([0x12, 0x80 | (longer.length & 0x7f), longer.length >> 7]), longer]);
  expect(sameHeaderAndData(entry)).toBe(true);
  expect(stored(entry)).toEqual({ pieces: false, sharesEntry: false });
});
