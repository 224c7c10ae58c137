// Reconnect delays: exponential backoff with "full jitter" (a uniformly random delay up to
// the exponential cap), so many clients returning at once after an outage spread out.

export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

/** The delay before reconnect attempt `attempt` (0-based); `random` is in [0, 1). */
export function backoffDelay(
  attempt: number,
  random: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const cap = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  return Math.floor(Math.min(Math.max(random, 0), 1) * cap);
}
