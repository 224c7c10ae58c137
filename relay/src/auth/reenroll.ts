// Re-enrolling the authenticator and regenerating recovery codes (spec/openapi.yaml
// /totp/reenroll, /totp/reenroll/confirm, /recovery_codes/regenerate): how a user shuts out
// someone holding a stolen authenticator, recovery code or session. Both are authorised by a
// current second factor (auth/login.ts withSecondFactor, throttled like a login) and end every
// OTHER session of the account.
import { withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { HttpError } from '../http/http-error.js';
import { withSecondFactor } from './login.js';
import { qrCodes } from './qr.js';
import { hashRecoveryCode, newRecoveryCode, RECOVERY_CODE_COUNT } from './recovery-codes.js';
import type { Registration } from './register.js';
import { markReauthenticated, revokeOtherSessions } from './sessions.js';
import {
  locked,
  lockedForSeconds,
  lockThrottleRows,
  recordFailure,
  recordSuccess,
  throttleKeys,
} from './throttle.js';
import { matchTotpStep, newTotpSecret, otpauthUri } from './totp.js';
import { decryptTotpSecret, encryptTotpSecret } from './totp-secret.js';

interface Caller {
  userId: string;
  sessionId: string;
}

/** POST /totp/reenroll: a new pending secret, active only once confirmed with one of its codes. */
export async function startReenrollment(
  deps: AppDeps,
  who: Caller,
  code: string,
  ip: string,
): Promise<Registration> {
  const secret = newTotpSecret();
  const { username, expiresAt } = await withSecondFactor(
    deps,
    who.userId,
    code,
    ip,
    async (client, user, now) => {
      const expires = new Date(now + deps.config.pendingRegistrationTtlSeconds * 1000);
      await client.query(
        'UPDATE users SET pending_totp_secret = $2, pending_totp_expires_at = $3 WHERE id = $1',
        [user.id, encryptTotpSecret(deps.config.secrets.totpKey, user.id, secret), expires],
      );
      await markReauthenticated(client, who.sessionId, now);
      return { username: user.username, expiresAt: expires };
    },
  );
  const uri = otpauthUri(username, secret);
  const qr = await qrCodes(uri);
  return {
    username,
    otpauth_uri: uri,
    secret,
    qr_png: qr.png,
    qr_svg: qr.svg,
    expires_at: expiresAt.toISOString(),
  };
}

const noReenrollment = () =>
  new HttpError(
    404,
    'reenrollment_not_found',
    'no authenticator re-enrolment in progress (it may have expired)',
  );

/** POST /totp/reenroll/confirm: the pending secret becomes the account's; other sessions end. */
export async function confirmReenrollment(
  deps: AppDeps,
  who: Caller,
  code: string,
  ip: string,
): Promise<void> {
  const now = deps.clock.now();
  const error = await withTransaction(deps.pool, async (client): Promise<HttpError | null> => {
    // Lock order as at login (auth/login.ts): throttle rows first, then the user row.
    const throttle = await lockThrottleRows(client, throttleKeys(who.userId, ip));
    const wait = lockedForSeconds(throttle, now);
    if (wait > 0) return locked(wait);
    const { rows } = await client.query<{
      pending_totp_secret: Buffer | null;
      pending_totp_expires_at: Date | null;
    }>(
      `SELECT pending_totp_secret, pending_totp_expires_at FROM users
        WHERE id = $1 AND status = 'active' FOR NO KEY UPDATE`,
      [who.userId],
    );
    const row = rows[0];
    if (
      !row?.pending_totp_secret ||
      !row.pending_totp_expires_at ||
      row.pending_totp_expires_at.getTime() <= now
    )
      return noReenrollment();
    const secret = decryptTotpSecret(deps.config.secrets.totpKey, who.userId, row.pending_totp_secret);
    const step = await matchTotpStep(secret, code, now);
    if (step === null) {
      await recordFailure(client, throttle, now, deps.config.login);
      return new HttpError(401, 'invalid_code', 'the code is not valid for the new authenticator');
    }
    await recordSuccess(client, throttle);
    await client.query(
      `UPDATE users SET totp_secret = pending_totp_secret, pending_totp_secret = NULL,
              pending_totp_expires_at = NULL, last_used_step = $2 WHERE id = $1`,
      [who.userId, step],
    );
    await revokeOtherSessions(client, who.userId, who.sessionId, 'totp_reenrolled', now);
    await markReauthenticated(client, who.sessionId, now);
    return null;
  });
  if (error) throw error;
}

/** POST /recovery_codes/regenerate: every old code stops working; other sessions end. */
export async function regenerateRecoveryCodes(
  deps: AppDeps,
  who: Caller,
  code: string,
  ip: string,
): Promise<string[]> {
  return withSecondFactor(deps, who.userId, code, ip, async (client, user, now) => {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await client.query('DELETE FROM recovery_codes WHERE user_id = $1', [user.id]);
    await client.query('INSERT INTO recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])', [
      user.id,
      codes.map((c) => hashRecoveryCode(c.replace(/-/g, ''))),
    ]);
    await revokeOtherSessions(client, user.id, who.sessionId, 'recovery_codes_regenerated', now);
    await markReauthenticated(client, who.sessionId, now);
    return codes;
  });
}
