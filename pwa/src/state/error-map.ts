// Turns lower-layer failures into the AppError codes views translate (types.ts AppErrorCode).
import { PhotoRejected } from '../photo/rejected.ts';
import { SecureError } from '../secure/errors.ts';
import { PassphraseRuleError } from '../storage/passphrase.ts';
import { WrongPassphraseError } from '../storage/storage.ts';
import { ApiError } from '../transport/errors.ts';
import { AppError } from './errors.ts';
import type { AppErrorCode } from './types.ts';

// Relay codes (spec/openapi.yaml) → app codes.
const RELAY: Readonly<Record<string, AppErrorCode>> = {
  invalid_username: 'invalid_username',
  username_taken: 'username_taken',
  unknown_user: 'unknown_user',
  contact_blocked: 'contact_blocked',
  invalid_code: 'invalid_code',
  code_reused: 'code_reused',
  locked: 'locked_out',
  rate_limited: 'rate_limited',
  registration_not_found: 'not_found',
  not_found: 'not_found',
  payload_too_large: 'too_large',
  unauthorized: 'unauthorized',
  invalid_token: 'unauthorized',
  token_expired: 'unauthorized',
  session_revoked: 'unauthorized',
  invalid_refresh_token: 'unauthorized',
  network: 'network',
  provisioning_expired: 'link_expired',
  provisioning_used: 'link_used',
  device_limit: 'device_limit',
  mailbox_full: 'mailbox_full',
  reauth_required: 'reauth_required',
  aborted: 'cancelled',
  device_removed: 'device_removed',
  // RESUME without this device's secret (spec/protocol.md §16.9): as for an unlinked device, link
  // again or start over.
  resume_refused: 'device_removed',
};

export function toAppErrorCode(err: unknown): AppErrorCode {
  if (err instanceof AppError) return err.code;
  if (err instanceof ApiError) {
    const mapped = RELAY[err.code];
    if (mapped) return mapped;
    if (err.status === 429) return 'rate_limited';
    if (err.status === 401) return 'unauthorized';
    if (err.status === 404) return 'not_found';
    if (err.status === 413) return 'too_large';
    return 'unknown';
  }
  if (err instanceof SecureError)
    return err.code === 'key_change_unacknowledged' ||
      err.code === 'verification_required' ||
      err.code === 'contact_blocked'
      ? err.code
      : 'unknown';
  if (err instanceof PhotoRejected) return err.reason;
  if (err instanceof WrongPassphraseError) return 'wrong_passphrase';
  if (err instanceof PassphraseRuleError)
    return err.rule === 'too_short' ? 'passphrase_too_short' : 'passphrase_too_long';
  return 'unknown';
}

/**
 * Adding a contact: the relay answers 404 `not_found` for a name with no active account
 * (spec/openapi.yaml, POST /contacts; also GET /keys/{username} when its bundle is fetched), which
 * the user should read as "no account with this username", not a bare "Not found".
 */
export function toAddContactError(err: unknown): AppError {
  const app = toAppError(err);
  return app.code === 'not_found' ? new AppError('unknown_user') : app;
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const code = toAppErrorCode(err);
  const retryAfter = err instanceof ApiError ? err.retryAfter : undefined;
  return new AppError(code, retryAfter === undefined ? {} : { retryAfter });
}
