// SHA-256 for block hashing. node:crypto is used rather than @noble/hashes because it runs the
// CPU's SHA extensions: on the development machine it hashed 1 MiB at ~1.7 GB/s against ~0.16 GB/s
// for the pure-JS implementation (test/bench/ledger-bench.ts re-measures both on every run).
import { createHash } from 'node:crypto';

export const SHA256_BYTES = 32;

export function sha256(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}

/** SHA-256 of the concatenation of the parts, without building the concatenation. */
export function sha256Concat(parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return h.digest();
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
