// The 429 answer shared by every per-user limit: {"error":"rate_limited","message","retry_after_seconds"}
// plus a Retry-After header (RFC 9110 §10.2.3), both in whole seconds.
import { HttpError } from '../http/http-error.js';

export function rateLimited(
  retryAfterSeconds: number,
  message = 'too many requests; retry later',
): HttpError {
  const s = Math.max(1, Math.ceil(retryAfterSeconds));
  return new HttpError(
    429,
    'rate_limited',
    message,
    { retry_after_seconds: s },
    { 'Retry-After': String(s) },
  );
}
