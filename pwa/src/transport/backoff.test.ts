import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.ts';

describe('backoffDelay', () => {
  it('stays within [0, min(max, base·2^attempt)] for any attempt and random draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 600_000 }),
        (attempt, r, baseMs, maxMs) => {
          const d = backoffDelay(attempt, r, { baseMs, maxMs });
          expect(Number.isInteger(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30)));
        },
      ),
    );
  });

  it('grows exponentially until the cap (largest draw)', () => {
    const o = { baseMs: 100, maxMs: 10_000 };
    const top = 0.999999;
    expect([0, 1, 2, 3, 6, 7, 20].map((a) => backoffDelay(a, top, o))).toEqual([
      99, 199, 399, 799, 6399, 9999, 9999,
    ]);
  });

  it('is monotone in the random draw for a fixed attempt (jitter spreads, never exceeds)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(backoffDelay(attempt, lo)).toBeLessThanOrEqual(backoffDelay(attempt, hi));
        },
      ),
    );
  });
});
