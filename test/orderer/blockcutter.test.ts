import { BatchTimer, BlockCutter, envelopeMessageSizeBytes, type ScheduleFn } from '../../orderer/blockcutter';
import { common } from '../../protos';

// Envelopes are opaque to the cutter; a one-byte tag makes batches easy to read.
const env = (tag: number): Uint8Array => Uint8Array.of(tag);
const tags = (batches: Uint8Array[][]): number[][] => batches.map((b) => b.map((e) => e[0]!));

describe('envelopeMessageSizeBytes', () => {
  it('counts payload plus signature, not the marshaled envelope', () => {
    const e: common.Envelope = { payload: new Uint8Array(100), signature: new Uint8Array(71) };
    expect(envelopeMessageSizeBytes(e)).toBe(171);
    expect(common.Envelope.encode(e).length).toBeGreaterThan(171);
  });
});

describe('BlockCutter', () => {
  it('keeps a small message pending', () => {
    const c = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    const r = c.ordered(env(1), 10);
    expect(r).toEqual({ batches: [], pending: true });
    expect(c.pendingCount).toBe(1);
    expect(c.pendingBytes).toBe(10);
  });

  it('cuts when the count reaches MaxMessageCount, not before', () => {
    const c = new BlockCutter({ maxMessageCount: 3, preferredMaxBytes: 1000 });
    expect(c.ordered(env(1), 1)).toEqual({ batches: [], pending: true });
    expect(c.ordered(env(2), 1)).toEqual({ batches: [], pending: true });
    const r = c.ordered(env(3), 1);
    expect(tags(r.batches)).toEqual([[1, 2, 3]]);
    expect(r.pending).toBe(false);
    expect(c.pendingCount).toBe(0);
    expect(c.pendingBytes).toBe(0);
  });

  it('with MaxMessageCount 1 every message is its own batch', () => {
    const c = new BlockCutter({ maxMessageCount: 1, preferredMaxBytes: 1000 });
    expect(tags(c.ordered(env(1), 5).batches)).toEqual([[1]]);
    expect(tags(c.ordered(env(2), 5).batches)).toEqual([[2]]);
  });

  it('a message of exactly PreferredMaxBytes is enqueued, not sent alone', () => {
    const c = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    const r = c.ordered(env(1), 100);
    expect(r).toEqual({ batches: [], pending: true });
    expect(c.pendingBytes).toBe(100);
  });

  it('a message over PreferredMaxBytes with nothing pending becomes a batch alone', () => {
    const c = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    const r = c.ordered(env(9), 101);
    expect(tags(r.batches)).toEqual([[9]]);
    expect(r.pending).toBe(false);
    expect(c.pendingCount).toBe(0);
  });

  it('a message over PreferredMaxBytes cuts the pending batch first, then goes alone', () => {
    const c = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    c.ordered(env(1), 10);
    c.ordered(env(2), 10);
    const r = c.ordered(env(3), 500);
    expect(tags(r.batches)).toEqual([[1, 2], [3]]);
    expect(r.pending).toBe(false);
    expect(c.pendingCount).toBe(0);
    expect(c.pendingBytes).toBe(0);
  });

  it('pending bytes reaching exactly PreferredMaxBytes do not cut', () => {
    const c = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    c.ordered(env(1), 60);
    const r = c.ordered(env(2), 40);
    expect(r).toEqual({ batches: [], pending: true });
    expect(c.pendingBytes).toBe(100);
  });

  it('a message that would overflow the pending batch cuts it first and stays pending', () => {
    const c = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    c.ordered(env(1), 60);
    const r = c.ordered(env(2), 41);
    expect(tags(r.batches)).toEqual([[1]]);
    expect(r.pending).toBe(true);
    expect(c.pendingCount).toBe(1);
    expect(c.pendingBytes).toBe(41);
  });

  it('after an overflow cut the new message starts the next batch toward the count', () => {
    const c = new BlockCutter({ maxMessageCount: 2, preferredMaxBytes: 100 });
    c.ordered(env(1), 90);
    const r = c.ordered(env(2), 20); // overflow: [1] cut; [2] pending (count 1 < 2)
    expect(tags(r.batches)).toEqual([[1]]);
    expect(r.pending).toBe(true);
    const r2 = c.ordered(env(3), 20); // count reaches 2
    expect(tags(r2.batches)).toEqual([[2, 3]]);
    expect(r2.pending).toBe(false);
  });

  it('an overflow cut and a count cut can happen in one call', () => {
    const c = new BlockCutter({ maxMessageCount: 5, preferredMaxBytes: 100 });
    c.ordered(env(1), 90);
    c.updateLimits({ maxMessageCount: 1, preferredMaxBytes: 100 });
    const r = c.ordered(env(2), 20);
    expect(tags(r.batches)).toEqual([[1], [2]]);
    expect(r.pending).toBe(false);
  });

  it('zero-size messages only count toward MaxMessageCount', () => {
    const c = new BlockCutter({ maxMessageCount: 2, preferredMaxBytes: 1 });
    expect(c.ordered(env(1), 0)).toEqual({ batches: [], pending: true });
    expect(tags(c.ordered(env(2), 0).batches)).toEqual([[1, 2]]);
  });

  it('cut() with nothing pending returns an empty batch', () => {
    const c = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    expect(c.cut()).toEqual([]);
    expect(c.pendingCount).toBe(0);
  });

  it('cut() returns the pending batch in arrival order and empties it', () => {
    const c = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    c.ordered(env(1), 1);
    c.ordered(env(2), 1);
    expect(c.cut().map((e) => e[0])).toEqual([1, 2]);
    expect(c.pendingCount).toBe(0);
    expect(c.pendingBytes).toBe(0);
    expect(c.cut()).toEqual([]);
  });

  it('stores the envelope bytes it was given', () => {
    const c = new BlockCutter({ maxMessageCount: 1, preferredMaxBytes: 100 });
    const e = Uint8Array.of(7, 8, 9);
    expect(c.ordered(e, 3).batches[0]![0]).toBe(e);
  });

  it('new limits apply from the next message; a pending batch is not cut by the update alone', () => {
    const c = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    c.ordered(env(1), 10);
    c.ordered(env(2), 10);
    c.ordered(env(3), 10);
    c.updateLimits({ maxMessageCount: 2, preferredMaxBytes: 100 });
    expect(c.pendingCount).toBe(3);
    expect(c.currentLimits).toEqual({ maxMessageCount: 2, preferredMaxBytes: 100 });
    const r = c.ordered(env(4), 10); // count 4 >= 2
    expect(tags(r.batches)).toEqual([[1, 2, 3, 4]]);
    expect(r.pending).toBe(false);
  });

  it('a lowered PreferredMaxBytes applies to the next message', () => {
    const c = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    c.ordered(env(1), 50);
    c.updateLimits({ maxMessageCount: 10, preferredMaxBytes: 40 });
    const r = c.ordered(env(2), 45); // alone: 45 > 40
    expect(tags(r.batches)).toEqual([[1], [2]]);
  });

  it('rejects nonsensical limits and sizes', () => {
    expect(() => new BlockCutter({ maxMessageCount: 0, preferredMaxBytes: 100 })).toThrow(RangeError);
    expect(() => new BlockCutter({ maxMessageCount: 1, preferredMaxBytes: 0 })).toThrow(RangeError);
    expect(() => new BlockCutter({ maxMessageCount: 1.5, preferredMaxBytes: 10 })).toThrow(RangeError);
    const c = new BlockCutter({ maxMessageCount: 1, preferredMaxBytes: 10 });
    expect(() => c.updateLimits({ maxMessageCount: -1, preferredMaxBytes: 10 })).toThrow(RangeError);
    expect(() => c.ordered(env(1), -1)).toThrow(RangeError);
    expect(() => c.ordered(env(1), Number.NaN)).toThrow(RangeError);
  });

  it('Fabric defaults: 500 messages of 1 KiB fill one batch; 2 MiB preferred is never reached', () => {
    const c = new BlockCutter({ maxMessageCount: 500, preferredMaxBytes: 2 * 1024 * 1024 });
    const cut: Uint8Array[][] = [];
    for (let i = 0; i < 1000; i++) cut.push(...c.ordered(env(i & 0xff), 1024).batches);
    expect(cut.map((b) => b.length)).toEqual([500, 500]);
    expect(c.pendingCount).toBe(0);
  });
});

/** A manual clock for the timer tests. */
function fakeScheduler(): { schedule: ScheduleFn; fire: () => void; scheduled: number[]; active: () => number } {
  const timers = new Map<number, () => void>();
  const scheduled: number[] = [];
  let next = 0;
  return {
    scheduled,
    schedule: (delayMs, cb) => {
      const id = next++;
      scheduled.push(delayMs);
      timers.set(id, cb);
      return () => timers.delete(id);
    },
    fire: () => {
      const entries = [...timers.entries()];
      timers.clear();
      for (const [, cb] of entries) cb();
    },
    active: () => timers.size,
  };
}

describe('BatchTimer', () => {
  it('starts when something is pending, and the expiry cuts the pending batch', () => {
    const sched = fakeScheduler();
    const cutter = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    const blocks: number[][] = [];
    const timer = new BatchTimer(sched.schedule, () => {
      const batch = cutter.cut();
      if (batch.length > 0) blocks.push(batch.map((e) => e[0]!));
    });
    timer.afterOrdered(cutter.ordered(env(1), 1).pending, 2000);
    expect(timer.running).toBe(true);
    expect(sched.scheduled).toEqual([2000]);
    timer.afterOrdered(cutter.ordered(env(2), 1).pending, 2000);
    expect(sched.scheduled).toEqual([2000]); // not restarted
    sched.fire();
    expect(blocks).toEqual([[1, 2]]);
    expect(timer.running).toBe(false);
  });

  it('stops when nothing is left pending', () => {
    const sched = fakeScheduler();
    const cutter = new BlockCutter({ maxMessageCount: 2, preferredMaxBytes: 100 });
    const timer = new BatchTimer(sched.schedule, () => undefined);
    timer.afterOrdered(cutter.ordered(env(1), 1).pending, 2000);
    timer.afterOrdered(cutter.ordered(env(2), 1).pending, 2000); // count cut
    expect(timer.running).toBe(false);
    expect(sched.active()).toBe(0);
  });

  it('keeps running (no restart) when a batch is cut and a new one begins in the same call', () => {
    const sched = fakeScheduler();
    const cutter = new BlockCutter({ maxMessageCount: 10, preferredMaxBytes: 100 });
    const timer = new BatchTimer(sched.schedule, () => undefined);
    timer.afterOrdered(cutter.ordered(env(1), 90).pending, 2000);
    const r = cutter.ordered(env(2), 20);
    expect(r.batches.length).toBe(1);
    timer.afterOrdered(r.pending, 2000);
    expect(sched.scheduled).toEqual([2000]);
    expect(timer.running).toBe(true);
  });

  it('stop() cancels and is idempotent; a timer can start again afterwards', () => {
    const sched = fakeScheduler();
    let expired = 0;
    const timer = new BatchTimer(sched.schedule, () => expired++);
    timer.afterOrdered(true, 500);
    timer.stop();
    timer.stop();
    sched.fire();
    expect(expired).toBe(0);
    timer.afterOrdered(true, 700);
    expect(sched.scheduled).toEqual([500, 700]);
    sched.fire();
    expect(expired).toBe(1);
  });

  it('rejects a non-positive timeout', () => {
    const timer = new BatchTimer(fakeScheduler().schedule, () => undefined);
    expect(() => timer.afterOrdered(true, 0)).toThrow(RangeError);
    expect(() => timer.afterOrdered(false, 0)).not.toThrow();
  });
});
