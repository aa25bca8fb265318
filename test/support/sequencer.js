// Runs the longest test files first, on a clean clone too. Jest orders files by the durations it
// recorded in its cache, longest first, so that no worker is left alone with a long file at the
// end; without a cache (CI's clean clone on a fresh machine) it falls back to file size, which put
// the simulator suites (small files, minutes of work) last: a clean-clone run took 606 s against
// 379 s with the cache. Files jest has not timed get an estimate from the table below instead.
'use strict';

const Sequencer = require('@jest/test-sequencer').default;

/** Seconds a file takes on a 2-core machine (measured in clean-clone runs), first match wins. */
const ESTIMATED_SECONDS = [
  [/test\/sim\/sim(-shard1)?\.test\.ts$/, 170],
  [/test\/sim\/sim-durable\.test\.ts$/, 150],
  [/test\/sim\/orderer-sim(-shard1)?\.test\.ts$/, 75],
  [/test\/e2e\/devnet\.test\.ts$/, 70],
  [/test\/sim\//, 30],
  [/test\/e2e\//, 25],
  [/test\/cmd\//, 12],
];
const DEFAULT_SECONDS = 2;

class LongestFirstSequencer extends Sequencer {
  time(test) {
    const recorded = super.time(test);
    if (recorded != null) return recorded;
    const path = test.path.split('\\').join('/');
    for (const [pattern, seconds] of ESTIMATED_SECONDS) if (pattern.test(path)) return seconds * 1000;
    return DEFAULT_SECONDS * 1000;
  }
}

module.exports = LongestFirstSequencer;
