// A BlockStore held in memory, for the whole-orderer simulator and in-process Chain tests: the
// same checks as the LMDB store makes on append (number = height, previous_hash = hash of the
// last header, data_hash over the envelopes) so a Chain that would be refused by LMDB is
// refused here too. Appends complete in a microtask, so a simulator that drains microtasks
// between steps stays deterministic. A store survives its Chain: a simulated crash keeps it.
import type {
  BlockInput,
  BlockIterator,
  BlockStore,
  BlockStoreStats,
  StoredBlock,
  TxLocation,
  VerifyReport,
} from '../../../ledger/block-store';
import { isDecodedBlockInput, type DecodedBlockInput } from '../../../ledger/block-store';
import { blockDataHash, blockHeaderHash, envelopeTxIdOrEmpty } from '../../../ledger/block';
import { BlockStoreError } from '../../../ledger/errors';
import { bytesEqual } from '../../../ledger/hash';
import { blockMetadataOffset, common } from '../../../protos';

const EMPTY = new Uint8Array(0);

export class MemoryBlockStore implements BlockStore {
  private readonly blocks: StoredBlock[] = [];
  private readonly txIndex = new Map<string, TxLocation>();
  private closed = false;
  private writes = 0;

  constructor(readonly channelId: string) {}

  height(): number {
    return this.blocks.length;
  }

  /** Its appends are durable as they are made: nothing is ever readable before. */
  readableHeight(): number {
    return this.blocks.length;
  }

  lastBlock(): StoredBlock | undefined {
    return this.blocks[this.blocks.length - 1];
  }

  lastHeaderHash(): Uint8Array | undefined {
    return this.lastBlock()?.headerHash;
  }

  getBlock(number: number): StoredBlock | undefined {
    return this.blocks[number];
  }

  getByTxId(txId: string): TxLocation | undefined {
    return this.txIndex.get(txId);
  }

  /** Every stored block, oldest first (the simulator's invariants read them). */
  all(): readonly StoredBlock[] {
    return this.blocks;
  }

  append(block: BlockInput): Promise<void> {
    return this.appendBatch([block]);
  }

  appendBatch(blocks: readonly BlockInput[]): Promise<void> {
    try {
      if (this.closed) throw new BlockStoreError('closed', `block store of ${this.channelId} is closed`);
      // All or nothing, as one LMDB transaction: check every block before storing any.
      const checked: StoredBlock[] = [];
      let height = this.blocks.length;
      let prevHash = this.lastHeaderHash();
      for (const input of blocks) {
        const decoded = isDecodedBlockInput(input) ? input : undefined;
        const first = decoded?.bytes ?? (input instanceof Uint8Array ? input : common.Block.encode(input as common.BlockInit));
        const metadataField = decoded?.metadataField;
        // A block given in two pieces: the header and data alone, then one metadata field.
        if (metadataField !== undefined && metadataField.length > 0 && (blockMetadataOffset(first) !== first.length || metadataField[0] !== 0x1a)) {
          throw new BlockStoreError('malformed-block', 'block given in pieces that are not its header and data, then its metadata field');
        }
        const pieces = metadataField !== undefined && metadataField.length > 0 ? [first, metadataField] : undefined;
        const bytes = pieces === undefined ? first : Buffer.concat(pieces);
        const block = common.Block.decode(bytes);
        // The LMDB store trusts a caller's decoded block and tx ids; here they are held to it.
        if (decoded !== undefined) checkDecodedInput(decoded, block);
        // Pieces are stored and served as they are: they must be the block as Fabric encodes it.
        if (pieces !== undefined && !bytesEqual(bytes, common.Block.encode(block))) {
          throw new Error(`block ${block.header?.number ?? -1} was given in pieces that are not its standard encoding`);
        }
        const header = block.header;
        if (header === undefined) throw new BlockStoreError('malformed-block', 'block without a header');
        if (header.number !== height) throw new BlockStoreError('block-number', `block ${header.number} appended at height ${height}`, header.number);
        if (!bytesEqual(header.previousHash, prevHash ?? EMPTY)) {
          throw new BlockStoreError('previous-hash', `block ${header.number} does not link to the last block`, header.number);
        }
        if (!bytesEqual(header.dataHash, blockDataHash(block.data?.data ?? []))) {
          throw new BlockStoreError('data-hash', `block ${header.number} data hash mismatch`, header.number);
        }
        const headerHash = blockHeaderHash(header);
        checked.push({ number: header.number, bytes, ...(pieces !== undefined ? { pieces } : {}), block, headerHash });
        height++;
        prevHash = headerHash;
      }
      for (const s of checked) {
        this.blocks.push(s);
        (s.block.data?.data ?? []).forEach((env, txIndex) => {
          const txId = envelopeTxIdOrEmpty(env);
          if (txId !== '' && !this.txIndex.has(txId)) this.txIndex.set(txId, { blockNumber: s.number, txIndex });
        });
      }
      this.writes++;
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  iterate(fromNumber: number): BlockIterator {
    // Stored blocks only: nothing in the simulator waits on an iterator.
    let next = fromNumber;
    const it: BlockIterator = {
      next: () => Promise.resolve(next < this.blocks.length ? { done: false, value: this.blocks[next++]! } : { done: true, value: undefined }),
      return: () => Promise.resolve({ done: true, value: undefined }),
      [Symbol.asyncIterator]() {
        return it;
      },
    };
    return it;
  }

  verify(): Promise<VerifyReport> {
    let prev: Uint8Array = EMPTY;
    let bytesChecked = 0;
    for (const b of this.blocks) {
      if (!bytesEqual(b.block.header!.previousHash, prev)) return Promise.reject(new Error(`block ${b.number} does not link to block ${b.number - 1}`));
      prev = b.headerHash;
      bytesChecked += b.bytes.length;
    }
    return Promise.resolve({ height: this.blocks.length, bytesChecked });
  }

  stats(): BlockStoreStats {
    return { height: this.blocks.length, waitingIterators: 0, openIterators: 0, writeTransactions: this.writes, cachedBlocks: 0, cachedBytes: 0 };
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** A simulated restart reopens the same store. */
  reopen(): void {
    this.closed = false;
  }
}

/** A decoded input must be what its bytes decode to, and its tx ids those of its envelopes. */
function checkDecodedInput(input: DecodedBlockInput, fromBytes: common.Block): void {
  const number = fromBytes.header?.number ?? -1;
  if (!bytesEqual(common.Block.encode(input.block), common.Block.encode(fromBytes))) {
    throw new Error(`block ${number} was appended with a decoded block that differs from its bytes`);
  }
  if (input.txIds === undefined) return;
  const want = (fromBytes.data?.data ?? []).map(envelopeTxIdOrEmpty);
  if (input.txIds.length !== want.length || input.txIds.some((t, i) => t !== want[i])) {
    throw new Error(`block ${number} was appended with tx ids that are not its envelopes'`);
  }
}
