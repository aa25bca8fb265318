// The simulator's one source of randomness. Everything a run decides (faults, delays,
// which node ticks, the seeds of each RawNode's own Rng) is drawn from one Prng built
// from the run's seed, in a fixed order, so a seed replays exactly.
//
// sfc32 (Chris Doty-Humphrey's small fast counting generator): 128 bits of state, passes
// PractRand, and needs only 32-bit integer math, which JavaScript does exactly.
import type { Rng } from '../../consensus/raft/api';

// Hot loops use module-level aliases: under jest the code runs in a vm context, where
// every lookup of a global (Math, Uint8Array) goes through the context's interceptors and
// costs more than the arithmetic itself.
const imul = Math.imul;
const floor = Math.floor;

export class Prng implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 spreads the (often small, consecutive) seed over the whole state, so
    // seeds 1 and 2 give unrelated streams.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = imul(z ^ (z >>> 16), 0x85ebca6b);
      z = imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    // The first outputs of sfc32 are weakly mixed; discard a few as its author recommends.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniformly distributed integer in [0, maxExclusive) (Rng contract for the core). */
  nextInt(maxExclusive: number): number {
    if (!Number.isInteger(maxExclusive) || maxExclusive <= 0) {
      throw new RangeError(`nextInt bound must be a positive integer, got ${maxExclusive}`);
    }
    return floor(this.nextFloat() * maxExclusive);
  }

  /** An integer in [lo, hi], both inclusive. */
  between(lo: number, hi: number): number {
    return lo + this.nextInt(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.nextFloat() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.nextInt(items.length)]!;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffled<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = out[i]!;
      out[i] = out[j]!;
      out[j] = tmp;
    }
    return out;
  }

  /** An independent stream seeded from this one (one per RawNode incarnation). */
  fork(): Prng {
    return new Prng(this.nextUint32());
  }
}
