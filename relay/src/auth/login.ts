// POST /login (spec/openapi.yaml): username + a TOTP code or a recovery code → session.
// The authorisation decision for a TOTP code is ONE conditional UPDATE of last_used_step:
// exactly one row changed ⇔ this time step was never accepted before for this user (RFC 6238 §5.2:
// "the verifier MUST NOT accept the second attempt of the OTP after the successful validation").
// A recovery code is consumed by a conditional UPDATE of used_at in the same way.

import { type PoolClient, withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { HttpError } from '../http/http-error.js';
import { findMatchingHash, hashRecoveryCode, normalizeRecoveryCode } from './recovery-codes.js';
import { createSession, type SessionTokens } from './sessions.js';
import {
  locked,
  lockedForSeconds,
  lockThrottleRows,
  recordFailure,
  recordSuccess,
  throttleKeys,
} from './throttle.js';
import { matchTotpStep, TOTP_CODE } from './totp.js';
import { decryptTotpSecret } from './totp-secret.js';

export const unknownUser = () => new HttpError(404, 'unknown_user', 'no account with this username');
const invalidCode = () => new HttpError(401, 'invalid_code', 'the code is not valid');
const codeReused = () =>
  new HttpError(
    401,
    'code_reused',
    'this code was already used; wait for the next one in the authenticator app',
  );

async function checkTotp(
  deps: AppDeps,
  client: PoolClient,
  user: { id: string; totp_secret: Buffer },
  code: string,
  now: number,
): Promise<HttpError | null> {
  const secret = decryptTotpSecret(deps.config.secrets.totpKey, user.id, user.totp_secret);
  const step = await matchTotpStep(secret, code, now);
  if (step === null) return invalidCode();
  const { rowCount } = await client.query(
    `UPDATE users SET last_used_step = $2 WHERE id = $1 AND (last_used_step IS NULL OR last_used_step < $2)`,
    [user.id, step],
  );
  return rowCount === 1 ? null : codeReused();
}

async function checkRecoveryCode(
  client: PoolClient,
  userId: string,
  code: string,
  now: number,
): Promise<HttpError | null> {
  const normalized = normalizeRecoveryCode(code);
  if (!normalized) return invalidCode();
  const { rows } = await client.query<{ code_hash: Buffer }>(
    'SELECT code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL',
    [userId],
  );
  const match = findMatchingHash(
    hashRecoveryCode(normalized),
    rows.map((r) => r.code_hash),
  );
  if (!match) return invalidCode();
  const { rowCount } = await client.query(
    'UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL',
    [userId, match, new Date(now)],
  );
  return rowCount === 1 ? null : invalidCode();
}

/**
 * Checks a second factor of `user` — a TOTP code (each time step once) or a recovery code
 * (consumed) — inside the caller's transaction, throttled per account, (account, IP) and IP
 * (auth/throttle.ts). Returns the refusal, or null when the code was accepted. The caller must
 * COMMIT even on a refusal, so the failure stays counted.
 */
export async function checkSecondFactor(
  deps: AppDeps,
  client: PoolClient,
  user: { id: string; totp_secret: Buffer },
  code: string,
  ip: string,
  now: number,
): Promise<HttpError | null> {
  const throttle = await lockThrottleRows(client, throttleKeys(user.id, ip));
  const wait = lockedForSeconds(throttle, now);
  if (wait > 0) return locked(wait);
  const failure = TOTP_CODE.test(code)
    ? await checkTotp(deps, client, user, code, now)
    : await checkRecoveryCode(client, user.id, code, now);
  if (failure) {
    await recordFailure(client, throttle, now, deps.config.login);
    return failure;
  }
  await recordSuccess(client, throttle);
  return null;
}

/** Runs `work` after `code` passed checkSecondFactor for the active user `userId`, in one transaction. */
export async function withSecondFactor<T>(
  deps: AppDeps,
  userId: string,
  code: string,
  ip: string,
  work: (client: PoolClient, user: { id: string; username: string }, now: number) => Promise<T>,
): Promise<T> {
  const now = deps.clock.now();
  const outcome = await withTransaction(
    deps.pool,
    async (client): Promise<{ error: HttpError } | { ok: T }> => {
      const { rows } = await client.query<{ id: string; username: string; totp_secret: Buffer }>(
        // No row lock here: like login, the throttle rows are locked first, then the user row
        // is written (last_used_step), so the two never wait on each other in opposite orders.
        `SELECT id, username, totp_secret FROM users WHERE id = $1 AND status = 'active'`,
        [userId],
      );
      const user = rows[0];
      if (!user) return { error: new HttpError(401, 'session_revoked', 'session ended; log in again') };
      const failure = await checkSecondFactor(deps, client, user, code, ip, now);
      if (failure) return { error: failure };
      return { ok: await work(client, user, now) };
    },
  );
  if ('error' in outcome) throw outcome.error;
  return outcome.ok;
}

export async function login(
  deps: AppDeps,
  username: string | null,
  code: string,
  ip: string,
  userAgent?: string,
): Promise<SessionTokens> {
  const now = deps.clock.now();
  const outcome = await withTransaction(
    deps.pool,
    async (client): Promise<{ error: HttpError } | { ok: SessionTokens }> => {
      const { rows } = username
        ? await client.query<{ id: string; username: string; totp_secret: Buffer }>(
            `SELECT id, username, totp_secret FROM users WHERE username = $1 AND status = 'active'`,
            [username],
          )
        : { rows: [] };
      const user = rows[0];
      if (!user) {
        const throttle = await lockThrottleRows(client, throttleKeys(null, ip));
        const wait = lockedForSeconds(throttle, now);
        if (wait > 0) return { error: locked(wait) };
        // Unknown names count against the IP too, which slows down username enumeration.
        await recordFailure(client, throttle, now, deps.config.login);
        return { error: unknownUser() };
      }
      const failure = await checkSecondFactor(deps, client, user, code, ip, now);
      if (failure) return { error: failure };
      return {
        ok: await createSession(deps, client, { id: user.id, username: user.username }, userAgent),
      };
    },
  );
  if ('error' in outcome) throw outcome.error;
  return outcome.ok;
}
