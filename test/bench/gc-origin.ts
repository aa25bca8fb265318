// Preloaded into each orderer by `npm run bench -- --gc-stats` (node --require), never imported:
// prints, once, the Date.now() at which V8 started, so that the bench can place the process's
// --trace-gc times (which count from V8's start) on its own clock. Counted from the spawn instead,
// the windows landed 70-190 ms late on the 2-core machine (3-5% of a 4 s run); placed from this
// line, a collection lands within 5-20 ms of when it ran.
import { performance } from 'node:perf_hooks';
import { GC_ORIGIN_PREFIX } from './gc-trace';

// performance.timeOrigin is Date.now() at the process's start; nodeTiming.v8Start is relative to it.
process.stdout.write(`${GC_ORIGIN_PREFIX}${(performance.timeOrigin + performance.nodeTiming.v8Start).toFixed(1)}\n`);
