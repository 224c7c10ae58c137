// The one polling helper of the tests of every package (relay, PWA, scripts): waits until a
// condition holds, through vitest's vi.waitFor, so it keeps working under fake timers. The
// timeout is a bound, not a wait — it resolves as soon as the condition holds — and it is
// generous because the suites often run on a loaded machine.
import { vi } from 'vitest';

/** Resolves once `check()` returns true; fails naming `what` after `timeoutMs`. */
export function until(check, what = 'condition', { timeoutMs = 20_000, intervalMs = 10 } = {}) {
  return vi.waitFor(
    () => {
      if (!check()) throw new Error(`timed out waiting for ${what}`);
    },
    { timeout: timeoutMs, interval: intervalMs },
  );
}
