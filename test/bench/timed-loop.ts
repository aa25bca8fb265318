// The timing loop of the micro-benchmarks (crypto, metrics): run an operation for a fixed time
// after a warm-up, in batches so the clock is read rarely.

/** How many times `op` ran in `seconds` (after `warmup` untimed calls), and how long that took. */
export function timedLoop(op: () => void, seconds: number, warmup: number, batch: number): { ops: number; elapsedNs: number } {
  for (let i = 0; i < warmup; i++) op();
  const start = process.hrtime.bigint();
  const limitNs = BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  let elapsed = 0n;
  while (elapsed < limitNs) {
    for (let i = 0; i < batch; i++) op();
    ops += batch;
    elapsed = process.hrtime.bigint() - start;
  }
  return { ops, elapsedNs: Number(elapsed) };
}
