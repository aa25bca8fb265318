// The small pieces under the streams: reconnect backoff bounds and the FIFO used for queues.
import { Backoff } from '../../cluster';
import { Fifo } from '../../cluster/fifo';

describe('Backoff', () => {
  it('doubles from the minimum up to the maximum, and starts over after reset', () => {
    const backoff = new Backoff({ minDelayMs: 100, maxDelayMs: 5_000, jitter: 0 });
    const delays = Array.from({ length: 9 }, () => backoff.nextDelayMs());
    expect(delays).toEqual([100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000]);
    backoff.reset();
    expect(backoff.nextDelayMs()).toBe(100);
  });

  it('keeps jittered delays within the bounds', () => {
    let flip = 0;
    const extremes = () => (flip++ % 2 === 0 ? 0 : 0.999_999);
    const backoff = new Backoff({ minDelayMs: 100, maxDelayMs: 5_000, jitter: 0.5, random: extremes });
    for (let i = 0; i < 50; i++) {
      const d = backoff.nextDelayMs();
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(5_000);
    }
  });

  it('rejects bounds that make no sense', () => {
    expect(() => new Backoff({ minDelayMs: 0, maxDelayMs: 10 })).toThrow(RangeError);
    expect(() => new Backoff({ minDelayMs: 10, maxDelayMs: 5 })).toThrow(RangeError);
  });
});

describe('Fifo', () => {
  it('keeps order across compactions and drains what is left', () => {
    const fifo = new Fifo<number>();
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 1_000; i++) fifo.push(next++);
      for (let i = 0; i < 900; i++) expect(fifo.shift()).toBe(expected++);
    }
    expect(fifo.length).toBe(1_000);
    expect(fifo.drain()).toEqual(Array.from({ length: 1_000 }, (_, i) => expected + i));
    expect(fifo.length).toBe(0);
    expect(fifo.shift()).toBeUndefined();
  });

  it('lists what is queued, oldest first, without taking it', () => {
    const fifo = new Fifo<string>();
    for (const x of ['a', 'b', 'c']) fifo.push(x);
    fifo.shift();
    expect(fifo.toArray()).toEqual(['b', 'c']);
    expect(fifo.length).toBe(2);
    expect(fifo.shift()).toBe('b');
  });
});
