// Exponential backoff between reconnection attempts, bounded so a peer that comes back is
// reached within maxDelayMs, with jitter so the streams of many channels do not retry in step.

export interface BackoffOptions {
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** Fraction of the delay randomized either way, in [0, 1). */
  readonly jitter?: number;
  /** Uniform in [0, 1); Math.random by default (the transport is not part of the deterministic core). */
  readonly random?: () => number;
}

export class Backoff {
  private failures = 0;
  private readonly jitter: number;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions) {
    if (!(options.minDelayMs > 0) || !(options.maxDelayMs >= options.minDelayMs)) {
      throw new RangeError(`invalid backoff bounds ${options.minDelayMs}..${options.maxDelayMs} ms`);
    }
    this.jitter = options.jitter ?? 0.2;
    this.random = options.random ?? Math.random;
  }

  /** Delay before the next attempt; each call doubles the base, up to maxDelayMs. */
  nextDelayMs(): number {
    const base = Math.min(this.options.maxDelayMs, this.options.minDelayMs * 2 ** Math.min(this.failures, 30));
    this.failures += 1;
    const spread = 1 + this.jitter * (2 * this.random() - 1);
    return Math.round(Math.min(this.options.maxDelayMs, Math.max(this.options.minDelayMs, base * spread)));
  }

  reset(): void {
    this.failures = 0;
  }

  get maxDelayMs(): number {
    return this.options.maxDelayMs;
  }
}
