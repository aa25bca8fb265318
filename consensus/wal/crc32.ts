// CRC-32 (IEEE 802.3, the polynomial zlib and gzip use) over byte ranges, chainable through
// `previous` so a record's header and payload can be checked without concatenating them.
// Node >= 20.15 ships a native zlib.crc32; older Node 20 releases fall back to a
// slice-by-8 table implementation in JS (about 1 GB/s, still far below fsync cost).
import * as zlib from 'node:zlib';

type Crc32Fn = (data: Uint8Array, previous: number) => number;

const POLY_REFLECTED = 0xedb88320;
const TABLE_COUNT = 8;

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLY_REFLECTED ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < TABLE_COUNT; t++) {
    const prev = tables[t - 1]!;
    const cur = new Uint32Array(256);
    for (let n = 0; n < 256; n++) cur[n] = (t0[prev[n]! & 0xff]! ^ (prev[n]! >>> 8)) >>> 0;
    tables.push(cur);
  }
  return tables;
}

let tables: Uint32Array[] | undefined;

/** Portable CRC-32 (slice-by-8). Exported so tests can check it against the native one. */
export function crc32Portable(data: Uint8Array, previous = 0): number {
  tables ??= buildTables();
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  let crc = ~previous >>> 0;
  let i = 0;
  const len = data.length;
  const fastEnd = len - (len % 8);
  while (i < fastEnd) {
    const lo = (crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    crc =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[data[i + 4]!]! ^
      t2[data[i + 5]!]! ^
      t1[data[i + 6]!]! ^
      t0[data[i + 7]!]!;
    i += 8;
  }
  while (i < len) crc = t0[(crc ^ data[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

const nativeCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

const impl: Crc32Fn =
  typeof nativeCrc32 === 'function' ? (data, previous) => nativeCrc32(data, previous) >>> 0 : crc32Portable;

/** CRC-32 of data, continuing from `previous` (the CRC of the bytes before it; 0 to start). */
export function crc32(data: Uint8Array, previous = 0): number {
  return impl(data, previous);
}

/** Which implementation is in use, for the benchmark report. */
export const crc32Implementation: 'zlib' | 'portable' = typeof nativeCrc32 === 'function' ? 'zlib' : 'portable';
