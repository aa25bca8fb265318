// The one polling helper every test uses: wait for an event by checking for it, with a generous
// overall timeout that only a real defect reaches (a loaded 2-core machine makes events late,
// never absent).
import { sleep } from './ports';

/** What `check` returns while the awaited event has not happened yet. */
export type NotYet = undefined | false;

/** The first poll comes after this many ms; without `intervalMs`, the pause then doubles up to POLL_MAX_MS. */
const POLL_MIN_MS = 5;
const POLL_MAX_MS = 200;

/**
 * Calls `check` until it returns something other than `undefined` or `false`, and returns that;
 * after `timeoutMs` it throws, naming `what` and the last error `check` threw (a throw counts as
 * "not yet", so a check may talk to a server that is still starting). A boolean check thus
 * resolves to `true`; a check that returns a value resolves to it.
 *
 * `intervalMs` fixes the pause between checks (for checks that are expensive, like reading a
 * whole chain over Deliver); without it the pause starts at 5 ms and doubles up to 200 ms, so
 * in-process events are seen at once and slow ones are not polled in a tight loop.
 */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | NotYet> | T | NotYet, intervalMs?: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let pauseMs = intervalMs ?? POLL_MIN_MS;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError !== undefined ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await sleep(pauseMs);
    if (intervalMs === undefined) pauseMs = Math.min(POLL_MAX_MS, pauseMs * 2);
  }
}
