// Housekeeping for auth state, run by the retention sweep (src/jobs/retention.ts). Every
// step is an idempotent DELETE, safe in several processes at once.
// - sessions ended (revoked or expired) more than a day ago, with their refresh tokens;
// - rotated refresh tokens older than a week (a replay of one after that is refused as
//   unknown rather than detected as reuse);
// - throttle rows neither locked nor failed for a day (so an account's failure count is
//   forgotten after a quiet day), and expired registration-rate windows;
// - expired pending registrations, and expired pending authenticator re-enrolments.
import type { AppDeps } from '../deps.js';

const DAY_MS = 86_400_000;

export interface AuthSweepResult {
  sessions: number;
  refreshTokens: number;
  throttle: number;
  pending: number;
}

export async function sweepAuthState(deps: AppDeps, now: Date): Promise<AuthSweepResult> {
  const dayAgo = new Date(now.getTime() - DAY_MS);
  const sessions = await deps.pool.query(
    `DELETE FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < $1) OR expires_at < $1`,
    [dayAgo],
  );
  const refreshTokens = await deps.pool.query(
    'DELETE FROM refresh_tokens WHERE rotated_at IS NOT NULL AND rotated_at < $1',
    [new Date(now.getTime() - 7 * DAY_MS)],
  );
  const throttle = await deps.pool.query(
    // A quiet day, counted from the last failure or the end of the lock (auth/throttle.ts).
    `DELETE FROM login_throttle
      WHERE (locked_until IS NULL OR locked_until < $1) AND (last_failure_at IS NULL OR last_failure_at < $1)`,
    [dayAgo],
  );
  await deps.pool.query('DELETE FROM registration_rate WHERE window_start < $1', [
    new Date(now.getTime() - 3_600_000),
  ]);
  // Unconfirmed authenticator re-enrolments past their expiry (their secrets are never used).
  await deps.pool.query(
    `UPDATE users SET pending_totp_secret = NULL, pending_totp_expires_at = NULL
      WHERE pending_totp_expires_at <= $1`,
    [now],
  );
  const pending = await deps.pool.query(
    `DELETE FROM users WHERE status = 'pending' AND pending_expires_at <= $1`,
    [now],
  );
  return {
    sessions: sessions.rowCount ?? 0,
    refreshTokens: refreshTokens.rowCount ?? 0,
    throttle: throttle.rowCount ?? 0,
    pending: pending.rowCount ?? 0,
  };
}
