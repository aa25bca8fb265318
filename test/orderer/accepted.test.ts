// The accepted-envelope set (orderer/chain/accepted.ts) is bounded in count and in bytes and never
// evicts: room is reserved before an envelope is taken, refused when full, and comes back on settle.
import { AcceptedEnvelopes, DEFAULT_MAX_ACCEPTED_BYTES, type AcceptedEnvelope } from '../../orderer/chain/accepted';

const env = (txId: string, bytes: number): AcceptedEnvelope => ({
  txId,
  envelopeBytes: new Uint8Array(bytes),
  messageSizeBytes: bytes,
  acceptedAtMs: 0,
  lastSentAtMs: 0,
});

function take(set: AcceptedEnvelopes, e: AcceptedEnvelope): boolean {
  if (!set.tryReserve(e.envelopeBytes.length)) return false;
  set.add(e);
  set.release(e.envelopeBytes.length);
  return true;
}

test('the default byte bound is 256 MiB', () => {
  expect(DEFAULT_MAX_ACCEPTED_BYTES).toBe(256 * 1024 * 1024);
});

test('full in bytes: the next envelope is refused and nothing tracked is dropped; a settle makes room', () => {
  const set = new AcceptedEnvelopes(1_000, 300);
  expect(take(set, env('a', 100))).toBe(true);
  expect(take(set, env('b', 100))).toBe(true);
  expect(take(set, env('c', 100))).toBe(true);
  expect(set.bytes).toBe(300);
  expect(take(set, env('d', 1))).toBe(false);
  expect(set.all().map((e) => e.txId)).toEqual(['a', 'b', 'c']);
  set.settle('b');
  expect(set.bytes).toBe(200);
  expect(take(set, env('d', 100))).toBe(true);
  expect(set.all().map((e) => e.txId)).toEqual(['a', 'c', 'd']);
});

test('full in count: refused, never evicted', () => {
  const set = new AcceptedEnvelopes(2, 1 << 20);
  expect(take(set, env('a', 1))).toBe(true);
  expect(take(set, env('b', 1))).toBe(true);
  expect(take(set, env('c', 1))).toBe(false);
  expect(set.size).toBe(2);
  expect(set.has('a')).toBe(true);
});

test('reservations in flight count against the bound until released', () => {
  const set = new AcceptedEnvelopes(1_000, 200);
  expect(set.tryReserve(100)).toBe(true);
  expect(set.tryReserve(100)).toBe(true);
  expect(set.tryReserve(1)).toBe(false);
  set.release(100); // refused downstream: the room comes back
  expect(set.tryReserve(100)).toBe(true);
});

test('an empty set takes one envelope larger than the byte bound, so it is not refused forever', () => {
  const set = new AcceptedEnvelopes(10, 50);
  expect(take(set, env('big', 100))).toBe(true);
  expect(take(set, env('next', 1))).toBe(false);
  set.settle('big');
  expect(set.bytes).toBe(0);
  expect(take(set, env('next', 1))).toBe(true);
});

test('expire keeps the byte count', () => {
  const set = new AcceptedEnvelopes(10, 1_000);
  take(set, { ...env('old', 10), acceptedAtMs: 1 });
  take(set, { ...env('new', 20), acceptedAtMs: 5 });
  expect(set.expire(3)).toBe(1);
  expect(set.bytes).toBe(20);
});
