// Simulated time for every timer a Chain uses (ChainTimers): nothing fires until the
// simulator advances the clock, and timers due at the same instant fire in the order they
// were set, so a run depends on its seed alone. Each node gets its own view whose timers can
// all be cancelled at once (a crashed process's timers die with it).
import type { ChainTimers } from '../../../orderer/chain/types';

interface Timer {
  atMs: number;
  seq: number;
  owner: number;
  fn: () => void;
  intervalMs: number;
  cancelled: boolean;
}

export class SimClock {
  private nowValue = 0;
  private seq = 0;
  private timers: Timer[] = [];

  nowMs(): number {
    return this.nowValue;
  }

  /** The timers of one owner (a node's incarnation). */
  timersFor(owner: number): ChainTimers {
    return {
      setTimeout: (fn, ms) => this.add(owner, fn, ms, 0),
      setInterval: (fn, ms) => this.add(owner, fn, ms, Math.max(1, ms)),
      nowMs: () => this.nowValue,
    };
  }

  cancelOwner(owner: number): void {
    for (const t of this.timers) if (t.owner === owner) t.cancelled = true;
    this.timers = this.timers.filter((t) => !t.cancelled);
  }

  /** Time of the next live timer, if any. */
  nextAtMs(): number | undefined {
    let best: Timer | undefined;
    for (const t of this.timers) if (!t.cancelled && (best === undefined || before(t, best))) best = t;
    return best?.atMs;
  }

  /**
   * Fires every timer due at or before `toMs`, one at a time in time order, calling
   * `afterEach` (the simulator drains the Chains' work there) after each; then sets the clock.
   */
  async advanceTo(toMs: number, afterEach: () => Promise<void>): Promise<void> {
    for (;;) {
      let best: Timer | undefined;
      for (const t of this.timers) if (!t.cancelled && t.atMs <= toMs && (best === undefined || before(t, best))) best = t;
      if (best === undefined) break;
      this.nowValue = Math.max(this.nowValue, best.atMs);
      if (best.intervalMs > 0) {
        best.atMs += best.intervalMs;
        best.seq = this.seq++;
      } else {
        best.cancelled = true;
        this.timers = this.timers.filter((t) => t !== best);
      }
      best.fn();
      await afterEach();
    }
    this.nowValue = Math.max(this.nowValue, toMs);
  }

  private add(owner: number, fn: () => void, ms: number, intervalMs: number): () => void {
    const t: Timer = { atMs: this.nowValue + Math.max(0, ms), seq: this.seq++, owner, fn, intervalMs, cancelled: false };
    this.timers.push(t);
    return () => {
      if (t.cancelled) return;
      t.cancelled = true;
      this.timers = this.timers.filter((x) => x !== t);
    };
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
