// Every 429 answer of the relay: {"error":"rate_limited"|"locked","message","retry_after_seconds"}
// plus a Retry-After header (RFC 9110 §10.2.3), both in whole seconds.
import type { AppDeps } from '../deps.js';
import { HttpError } from '../http/http-error.js';
import { type BucketSpec, takeToken } from './token-bucket.js';

export function rateLimited(
  retryAfterSeconds: number,
  message = 'too many requests; retry later',
  code: 'rate_limited' | 'locked' = 'rate_limited',
): HttpError {
  const s = Math.max(1, Math.ceil(retryAfterSeconds));
  return new HttpError(429, code, message, { retry_after_seconds: s }, { 'Retry-After': String(s) });
}

/**
 * A token of `spec` for `userId` at the relay's now, or the request refused (429 with `message`):
 * the first step of every route a per-account bucket limits (src/limits/token-bucket.ts).
 */
export async function takeOrRefuse(
  deps: Pick<AppDeps, 'pool' | 'clock'>,
  userId: string,
  spec: BucketSpec,
  message: string,
): Promise<void> {
  const take = await takeToken(deps.pool, userId, spec, new Date(deps.clock.now()));
  if (!take.ok) throw rateLimited(take.retryAfterSeconds, message);
}
