// Cheap 53-bit hashes (they fit a JS number exactly) for comparing entries and whole log
// prefixes. Not cryptographic: the simulator only needs accidental collisions to be
// vanishingly rare over a run's few thousand entries.

// Hot loops use module-level aliases: under jest the code runs in a vm context, where
// every lookup of a global (Math, Uint8Array) goes through the context's interceptors and
// costs more than the arithmetic itself.
const imul = Math.imul;
const floor = Math.floor;
const U8 = Uint8Array;
const U8_PROTO = Uint8Array.prototype;
const protoOf = Object.getPrototypeOf;

function fmix32(h: number): number {
  let x = h >>> 0;
  x ^= x >>> 16;
  x = imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Join a 32-bit and a 21-bit lane into one exact JS number. */
function join(hi: number, lo: number): number {
  return (hi >>> 0) * 0x200000 + ((lo >>> 0) & 0x1fffff);
}

export function hashBytes(input: Uint8Array): number {
  // Keep the loop monomorphic: decoded fields are Buffers, and under jest they even come
  // from another realm; indexing a mix of array kinds is several times slower than a copy.
  const data = protoOf(input) === U8_PROTO ? input : new U8(input);
  let h1 = 0x811c9dc5;
  let h2 = 0x12345678 ^ data.length;
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    h1 = imul(h1 ^ b, 0x01000193);
    h2 = imul(h2 ^ b, 0x5bd1e995) ^ (h2 >>> 15);
  }
  return join(fmix32(h1), fmix32(h2));
}

function mix(h: number, v: number): number {
  // Fold a (possibly 53-bit) value into a 32-bit lane.
  const lo = v >>> 0;
  const hi = floor(v / 4294967296) >>> 0;
  return fmix32(imul(fmix32(h ^ lo), 0x9e3779b1) ^ hi);
}

/**
 * Hash of a log prefix ending in the entry (index, term, type, dataHash), given the hash
 * of the prefix before it. Two logs with equal chain hashes at index i hold identical
 * entries 1..i, which is what Raft's Log Matching property is about.
 */
export function chainNext(prev: number, index: number, term: number, type: number, dataHash: number): number {
  let a = mix(0x2545f491, prev);
  let b = mix(0x6c8e9cf5, prev);
  for (const v of [index, term, type, dataHash]) {
    a = mix(a, v);
    b = mix(b ^ 0x5851f42d, v);
  }
  return join(a, b);
}

/** Chain hash of the empty log (before index 1). */
export const CHAIN_START = 0;
