// Two-phase enrolment (spec/openapi.yaml POST /register, POST /register/confirm): /register creates a PENDING user with a fresh
// TOTP secret; /register/confirm proves the authenticator works with its first code, activates
// the account, and hands out a session and the recovery codes. A pending registration expires
// after PENDING_REGISTRATION_TTL_SECONDS and then frees its username.
import { randomUUID } from 'node:crypto';
import { type PoolClient, withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { HttpError } from '../http/http-error.js';
import { rateLimited } from '../limits/rate-limited.js';
import { qrCodes } from './qr.js';
import { hashRecoveryCode, newRecoveryCode, RECOVERY_CODE_COUNT } from './recovery-codes.js';
import { createSession, type SessionTokens } from './sessions.js';
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

export interface Registration {
  username: string;
  otpauth_uri: string;
  secret: string;
  qr_png: string;
  qr_svg: string;
  expires_at: string;
}

const HOUR_MS = 3600_000;

/** Counts this registration against the client IP's hourly allowance; returns seconds to wait, or 0. */
async function takeRegistrationSlot(
  deps: AppDeps,
  client: PoolClient,
  ip: string,
  now: number,
): Promise<number> {
  const { rows } = await client.query<{ count: number; window_start: Date }>(
    `INSERT INTO registration_rate AS r (ip, window_start, count) VALUES ($1, $2, 1)
     ON CONFLICT (ip) DO UPDATE SET
       count = CASE WHEN r.window_start <= $3 THEN 1 ELSE r.count + 1 END,
       window_start = CASE WHEN r.window_start <= $3 THEN $2 ELSE r.window_start END
     RETURNING count, window_start`,
    [ip, new Date(now), new Date(now - HOUR_MS)],
  );
  const row = rows[0];
  if (!row || row.count <= deps.config.registerIpPerHour) return 0;
  return Math.max(1, Math.ceil((row.window_start.getTime() + HOUR_MS - now) / 1000));
}

export async function startRegistration(deps: AppDeps, username: string, ip: string): Promise<Registration> {
  const now = deps.clock.now();
  const expiresAt = new Date(now + deps.config.pendingRegistrationTtlSeconds * 1000);
  const id = randomUUID();
  const secret = newTotpSecret();
  const outcome = await withTransaction(deps.pool, async (client): Promise<HttpError | null> => {
    const wait = await takeRegistrationSlot(deps, client, ip, now);
    if (wait > 0)
      return rateLimited(wait, `too many registrations from this address; try again in ${wait} s`);
    // Expired pending registrations free their names (index users_pending_expiry keeps this cheap).
    await client.query(`DELETE FROM users WHERE status = 'pending' AND pending_expires_at <= $1`, [
      new Date(now),
    ]);
    const { rowCount } = await client.query(
      `INSERT INTO users (id, username, totp_secret, status, pending_expires_at, created_at)
       VALUES ($1, $2, $3, 'pending', $4, $5) ON CONFLICT (username) DO NOTHING`,
      [id, username, encryptTotpSecret(deps.config.secrets.totpKey, id, secret), expiresAt, new Date(now)],
    );
    return rowCount === 1 ? null : new HttpError(409, 'username_taken', 'this username is taken');
  });
  // Thrown after COMMIT so the attempt stays counted.
  if (outcome) throw outcome;
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

export interface Confirmed extends SessionTokens {
  recovery_codes: string[];
}

export async function confirmRegistration(
  deps: AppDeps,
  username: string,
  code: string,
  ip: string,
  userAgent?: string,
): Promise<Confirmed> {
  const now = deps.clock.now();
  const outcome = await withTransaction(
    deps.pool,
    async (client): Promise<{ error: HttpError } | { ok: Confirmed }> => {
      const { rows } = await client.query<{ id: string; totp_secret: Buffer; pending_expires_at: Date }>(
        `SELECT id, totp_secret, pending_expires_at FROM users WHERE username = $1 AND status = 'pending' FOR UPDATE`,
        [username],
      );
      const user = rows[0];
      if (!user || user.pending_expires_at.getTime() <= now)
        return {
          error: new HttpError(
            404,
            'registration_not_found',
            'no pending registration for this username (it may have expired)',
          ),
        };
      // Guessing the first code of someone else's pending registration is throttled like a login.
      const throttle = await lockThrottleRows(client, throttleKeys(user.id, ip));
      const wait = lockedForSeconds(throttle, now);
      if (wait > 0) return { error: locked(wait) };
      const secret = decryptTotpSecret(deps.config.secrets.totpKey, user.id, user.totp_secret);
      const step = await matchTotpStep(secret, code, now);
      if (step === null) {
        await recordFailure(client, throttle, now, deps.config.login);
        return {
          error: new HttpError(401, 'invalid_code', 'the code is not valid; check the authenticator app'),
        };
      }
      await client.query(
        `UPDATE users SET status = 'active', pending_expires_at = NULL, confirmed_at = $2, last_used_step = $3
        WHERE id = $1`,
        [user.id, new Date(now), step],
      );
      await recordSuccess(client, throttle);
      const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
      await client.query(`INSERT INTO recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])`, [
        user.id,
        codes.map((c) => hashRecoveryCode(c.replace(/-/g, ''))),
      ]);
      const session = await createSession(deps, client, { id: user.id, username }, userAgent);
      return { ok: { ...session, recovery_codes: codes } };
    },
  );
  if ('error' in outcome) throw outcome.error;
  return outcome.ok;
}
