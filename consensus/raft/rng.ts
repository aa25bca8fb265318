// A small seeded PRNG (mulberry32) so elections are reproducible: the core never reads
// Math.random, and a simulator run replays exactly from its seed.
import type { Rng } from './api';

export class SeededRng implements Rng {
  private state: number;

  constructor(seed: number) {
    // Any 32-bit value is a valid state; fold larger seeds down instead of rejecting them.
    this.state = seed >>> 0;
  }

  /** The next 32-bit unsigned value. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  nextInt(maxExclusive: number): number {
    if (!Number.isInteger(maxExclusive) || maxExclusive <= 0) {
      throw new RangeError(`nextInt bound must be a positive integer, got ${maxExclusive}`);
    }
    return Math.floor(this.nextFloat() * maxExclusive);
  }
}
