// Bytes an orderer keeps after their message is handled are copied out of the buffer that
// carried them: the copy holds the same bytes, does not share memory with the original (which
// may sit in a pool slab with unrelated data), and consecutive copies never overlap.
import { retainedCopy } from '../../orderer/retained-bytes';

test('a copy holds the same bytes in memory of its own, and copies do not overlap', () => {
  const pooled = Buffer.from('x'.repeat(1000)); // a slice of Node's shared pool
  const copies = Array.from({ length: 100 }, (_, i) => {
    const original = Buffer.alloc(1000 + i, i & 0xff);
    const copy = retainedCopy(original);
    expect(Buffer.compare(copy, original)).toBe(0);
    original.fill(0xee); // the original's memory is reused: the copy must not change
    return { copy, fill: i & 0xff, length: 1000 + i };
  });
  for (const { copy, fill, length } of copies) {
    expect(copy.length).toBe(length);
    expect(copy.every((b) => b === fill)).toBe(true);
  }
  expect(retainedCopy(pooled).buffer).not.toBe(pooled.buffer);
});

test('a large copy gets an allocation of its own; an empty one is empty', () => {
  const large = Buffer.alloc(64 * 1024, 7);
  const copy = retainedCopy(large);
  expect(copy.byteOffset).toBe(0);
  expect(copy.buffer.byteLength).toBe(large.length);
  expect(Buffer.compare(copy, large)).toBe(0);
  expect(retainedCopy(new Uint8Array(0)).length).toBe(0);
});
