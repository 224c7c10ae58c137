// Every 429 answer of the relay: {"error":"rate_limited"|"locked","message","retry_after_seconds"}
// plus a Retry-After header (RFC 9110 §10.2.3), both in whole seconds.
import { HttpError } from '../http/http-error.js';

export function rateLimited(
  retryAfterSeconds: number,
  message = 'too many requests; retry later',
  code: 'rate_limited' | 'locked' = 'rate_limited',
): HttpError {
  const s = Math.max(1, Math.ceil(retryAfterSeconds));
  return new HttpError(429, code, message, { retry_after_seconds: s }, { 'Retry-After': String(s) });
}
