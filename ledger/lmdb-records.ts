// Byte layouts shared by the block environment and the tx-id index environment of a channel store.
import { CorruptionError } from './errors';
import { SHA256_BYTES } from './hash';
import type { TxLocation } from './block-store';

/** LMDB's portable key limit; with the one-byte tag, ids over 510 UTF-8 bytes are not indexed. */
export const MAX_TXID_KEY_BYTES = 511;

/** A chain position: `height` blocks, the last of which hashes to `lastHash`. */
export interface Tip {
  height: number;
  /** hash(header) of block height-1; empty while the store is empty. */
  lastHash: Uint8Array;
}

export const EMPTY = new Uint8Array(0);
export const EMPTY_TIP: Tip = { height: 0, lastHash: EMPTY };
const TIP_BYTES = 8 + SHA256_BYTES;
const TX_LOCATION_BYTES = 12;

export type Bytes = Buffer;

/** Every named database of the store holds raw bytes under raw byte keys. */
export const BINARY_DB_OPTIONS = { encoding: 'binary', keyEncoding: 'binary', compression: false } as const;

function writeUint64(out: Buffer, value: number, offset: number): void {
  out.writeUInt32BE(Math.floor(value / 0x1_0000_0000), offset);
  out.writeUInt32BE(value >>> 0, offset + 4);
}

function readUint64(bytes: Buffer, offset: number): number {
  return bytes.readUInt32BE(offset) * 0x1_0000_0000 + bytes.readUInt32BE(offset + 4);
}

/** 8-byte big-endian, so LMDB's byte order is block order. */
export function blockKey(number: number): Buffer {
  const key = Buffer.allocUnsafe(8);
  writeUint64(key, number, 0);
  return key;
}

export function blockNumberOfKey(key: Buffer): number {
  return readUint64(key, 0);
}

export function encodeTip(tip: Tip): Buffer {
  const out = Buffer.alloc(TIP_BYTES);
  writeUint64(out, tip.height, 0);
  out.set(tip.lastHash, 8);
  return out;
}

/** `what` names the record in the error, e.g. "tip". */
export function decodeTip(bytes: Buffer | undefined, what: string): Tip | undefined {
  if (bytes === undefined) return undefined;
  if (bytes.length !== TIP_BYTES) throw new CorruptionError(-1, 'tip-mismatch', `${what} record has ${bytes.length} bytes`);
  const height = readUint64(bytes, 0);
  return { height, lastHash: height === 0 ? EMPTY : Uint8Array.prototype.slice.call(bytes, 8) };
}

export function encodeTxLocation(blockNumber: number, txIndex: number): Buffer {
  const out = Buffer.allocUnsafe(TX_LOCATION_BYTES);
  writeUint64(out, blockNumber, 0);
  out.writeUInt32BE(txIndex, 8);
  return out;
}

export function decodeTxLocation(bytes: Buffer): TxLocation {
  return { blockNumber: readUint64(bytes, 0), txIndex: bytes.readUInt32BE(8) };
}

/** The value of a lowercase hex digit's char code; -1 for any other character. */
function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 97 && code <= 102) return code - 87; // a-f
  return -1;
}

/**
 * Writes a 64-character lowercase hex id as its 32 bytes at key[1..32]; false (key half written)
 * for any other id. One pass over the characters: a regular expression and then Buffer#write
 * took twice as long, on every index write and every leader's "already ordered?" lookup.
 */
function packHexTxId(txId: string, key: Buffer): boolean {
  for (let i = 0; i < 32; i++) {
    const high = hexDigit(txId.charCodeAt(2 * i));
    const low = hexDigit(txId.charCodeAt(2 * i + 1));
    if ((high | low) < 0) return false;
    key[i + 1] = (high << 4) | low;
  }
  return true;
}

/**
 * An id's first 8 characters as a number when they are lowercase hex, else -1. For a Fabric id
 * (which txIdKey packs) that is the first 32 bits of its key, so such keys sort as these numbers
 * do. Two ids with one key always agree on it: packed keys are equal only for equal ids, and
 * UTF-8 keys only for ids that differ in unpaired surrogates, which are not hex.
 */
export function hexPrefix32(txId: string): number {
  if (txId.length < 8) return -1;
  let prefix = 0;
  for (let i = 0; i < 8; i++) {
    const digit = hexDigit(txId.charCodeAt(i));
    if (digit < 0) return -1;
    prefix = prefix * 16 + digit;
  }
  return prefix;
}

/** Whether txIdKey gives the id a key (not empty, not too long), without allocating the key. */
export function isIndexedTxId(txId: string): boolean {
  if (txId.length === 0) return false;
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short ids (Fabric's 64) need no byte count.
  return txId.length * 3 + 1 <= MAX_TXID_KEY_BYTES || Buffer.byteLength(txId, 'utf8') + 1 <= MAX_TXID_KEY_BYTES;
}

/** Key tags: a packed lowercase-hex id, or any other id as UTF-8. The tag keeps the two apart. */
const PACKED_HEX_TAG = 0;
const UTF8_TAG = 1;

/**
 * The index key of a tx id. Fabric's tx ids are 64 lowercase hex characters (SHA-256); they are
 * stored as their 32 bytes, which makes an index entry about 40% smaller (fewer pages to write and
 * to keep resident). Any other id, uppercase hex included, is stored as its UTF-8 bytes.
 */
export function txIdKey(txId: string): Buffer | undefined {
  if (txId.length === 0) return undefined;
  if (txId.length === 64) {
    const key = Buffer.allocUnsafe(33);
    key[0] = PACKED_HEX_TAG;
    if (packHexTxId(txId, key)) return key;
  }
  const utf8Bytes = Buffer.byteLength(txId, 'utf8');
  if (utf8Bytes + 1 > MAX_TXID_KEY_BYTES) return undefined;
  const key = Buffer.allocUnsafe(utf8Bytes + 1);
  key[0] = UTF8_TAG;
  key.write(txId, 1, 'utf8');
  return key;
}
