// Broadcast calls waiting for room in a busy leader's intake. They are woken when the
// intake drains below its high-water mark, when leadership moves (they then re-check
// who leads), or give up after a timeout.
import type { ChainTimers } from './types';

export class IntakeGate {
  private waiters: Array<() => void> = [];

  constructor(
    private readonly timers: ChainTimers,
    private readonly timeoutMs: number,
  ) {}

  /** Resolves true when woken, false after the timeout. */
  wait(): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let done = false;
      const wake = (): void => {
        if (done) return;
        done = true;
        cancel();
        resolve(true);
      };
      const cancel = this.timers.setTimeout(() => {
        if (done) return;
        done = true;
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(false);
      }, this.timeoutMs);
      this.waiters.push(wake);
    });
  }

  wakeAll(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
