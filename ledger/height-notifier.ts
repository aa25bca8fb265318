// One shared "height changed" signal for all readers of a store. Waiting iterators register a
// callback in a set; an append swaps the set out and calls each callback once. Cost per append is
// one call per waiting reader, and nothing at all per idle reader: no timers, no polling, and a
// reader that stops removes its own entry, so nothing accumulates.

export type Wake = () => void;

export class HeightNotifier {
  private waiters = new Set<Wake>();

  /** Calls `wake` once, at the next notify(). Returns a function that cancels the registration. */
  subscribe(wake: Wake): () => void {
    this.waiters.add(wake);
    return () => {
      this.waiters.delete(wake);
    };
  }

  notify(): void {
    if (this.waiters.size === 0) return;
    const woken = this.waiters;
    this.waiters = new Set();
    for (const wake of woken) wake();
  }

  get waiting(): number {
    return this.waiters.size;
  }
}
