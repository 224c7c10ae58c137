// Sessions and rotating refresh tokens (spec/openapi.yaml POST /login, POST /session/refresh). A session row is one login; its id
// is the access JWT's `sid`, checked on every request (require-auth.ts). Refresh tokens are 256
// random bits, stored only as SHA-256 hashes, single use: refreshing rotates the token, and
// presenting an already-rotated token again is taken as theft and revokes the whole session
// (except the same client retrying an exchange whose answer was lost, refreshSession).
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/pool.js';
import { type PoolClient, withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { HttpError } from '../http/http-error.js';
import { signAccessToken } from './access-token.js';
import { describeClient } from './client-description.js';

export interface SessionTokens {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  user: { id: string; username: string };
}

const hashToken = (token: string) => createHash('sha256').update(token, 'utf8').digest();
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;

async function issueRefreshToken(client: PoolClient, sessionId: string, nowMs: number): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await client.query('INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)', [
    hashToken(token),
    sessionId,
    new Date(nowMs),
  ]);
  return token;
}

/** The tokens of session `sessionId` (the answer of login, confirmation and refresh): a fresh
 * single-use refresh token stored in the caller's transaction and a new access token. */
async function issueTokens(
  deps: AppDeps,
  client: PoolClient,
  sessionId: string,
  user: { id: string; username: string },
  nowMs: number,
): Promise<SessionTokens> {
  const refresh = await issueRefreshToken(client, sessionId, nowMs);
  const access = await signAccessToken(deps, { userId: user.id, sessionId });
  return {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: access.expiresIn,
    refresh_token: refresh,
    user,
  };
}

/** Opens a session for `user` inside the caller's transaction; revokes the oldest beyond the per-user cap. */
export async function createSession(
  deps: AppDeps,
  client: PoolClient,
  user: { id: string; username: string },
  userAgent?: string,
): Promise<SessionTokens> {
  const now = deps.clock.now();
  const sessionId = randomUUID();
  // The login proved the second factor: it counts as a fresh authentication (REAUTH_WINDOW_MS).
  await client.query(
    `INSERT INTO sessions (id, user_id, created_at, expires_at, reauthenticated_at, last_used_at, client)
     VALUES ($1, $2, $3, $4, $3, $3, $5)`,
    [
      sessionId,
      user.id,
      new Date(now),
      new Date(now + deps.config.refreshTtlSeconds * 1000),
      describeClient(userAgent),
    ],
  );
  await client.query(
    `UPDATE sessions SET revoked_at = $3, revoked_reason = 'session_limit'
      WHERE id IN (SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL
                    ORDER BY created_at DESC, id OFFSET $2)`,
    [user.id, deps.config.limits.sessionsPerUser, new Date(now)],
  );
  return issueTokens(deps, client, sessionId, user, now);
}

/**
 * How long after a refresh its client may retry the exchange when the answer was lost
 * (spec/openapi.yaml POST /session/refresh): the PWA gives up on a refresh's answer after 35 s
 * (REFRESH_DEADLINE_MS) and tries again after its reconnect backoff (at most 30 s): 65 s in all,
 * well inside the window. A page reloaded, or another tab that took the account, retries as it opens
 * the store: at once, or once the user has unlocked it; an unlock later than this is reuse
 * (SECURITY.md "Refresh tokens are single use").
 */
export const REFRESH_RETRY_WINDOW_SECONDS = 120;

const invalidRefresh = () => new HttpError(401, 'invalid_refresh_token', 'refresh token not recognised');

/**
 * POST /session/refresh: rotate the token; reuse of a rotated token revokes the session, unless
 * it is the same client retrying an exchange whose answer never arrived: the same token with the
 * same `refreshId` as that exchange (a random id only that client knows), within
 * REFRESH_RETRY_WINDOW_SECONDS of it, while the token it gave out has never been presented. A
 * retry gets a new pair and retires the token the lost answer carried (presenting it later is
 * reuse). Anyone else presenting a rotated token — a copy, with another id or none — ends the
 * session as before.
 */
export async function refreshSession(
  deps: AppDeps,
  token: string,
  refreshId?: string,
): Promise<SessionTokens> {
  if (!REFRESH_TOKEN.test(token)) throw invalidRefresh();
  const now = deps.clock.now();
  const hash = hashToken(token);
  const idHash = refreshId === undefined ? null : hashToken(refreshId);
  const outcome = await withTransaction(deps.pool, async (client) => {
    const found = await client.query<{ session_id: string }>(
      'SELECT session_id FROM refresh_tokens WHERE token_hash = $1',
      [hash],
    );
    const sessionId = found.rows[0]?.session_id;
    if (!sessionId) return { error: invalidRefresh() };
    // Every refresh of a session runs under the session's row lock, taken before any token's:
    // two refreshes of one session (a retry and the lost answer's token) queue instead of
    // locking each other's tokens in opposite order.
    const { rows } = await client.query<{
      revoked_at: Date | null;
      expires_at: Date;
      user_id: string;
      username: string;
    }>(
      `SELECT s.revoked_at, s.expires_at, u.id AS user_id, u.username
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = $1
        FOR UPDATE OF s`,
      [sessionId],
    );
    const session = rows[0];
    if (!session) return { error: invalidRefresh() };
    if (session.revoked_at || session.expires_at.getTime() <= now)
      return { error: new HttpError(401, 'session_revoked', 'session ended; log in again') };
    // Read under the lock (a new statement, a new snapshot): a refresh of this session that
    // committed while this one waited is seen.
    const current = await client.query<{
      rotated_at: Date | null;
      replaced_by: Buffer | null;
      refresh_id_hash: Buffer | null;
    }>('SELECT rotated_at, replaced_by, refresh_id_hash FROM refresh_tokens WHERE token_hash = $1', [hash]);
    const row = current.rows[0];
    if (!row) return { error: invalidRefresh() };
    if (row.rotated_at) {
      // The same client (same id), in time, and the token the lost answer carried is retired
      // here only if it was never presented; any of these missing, it is reuse.
      const sameClientInTime =
        idHash !== null &&
        row.refresh_id_hash !== null &&
        timingSafeEqual(idHash, row.refresh_id_hash) &&
        now - row.rotated_at.getTime() <= REFRESH_RETRY_WINDOW_SECONDS * 1000;
      const retired =
        sameClientInTime &&
        row.replaced_by !== null &&
        (
          await client.query(
            'UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1 AND rotated_at IS NULL',
            [row.replaced_by, new Date(now)],
          )
        ).rowCount === 1;
      if (!retired) {
        await client.query(
          `UPDATE sessions SET revoked_at = $2, revoked_reason = 'refresh_reuse' WHERE id = $1 AND revoked_at IS NULL`,
          [sessionId, new Date(now)],
        );
        return {
          error: new HttpError(
            401,
            'refresh_token_reused',
            'refresh token was already used; the session has been ended',
          ),
        };
      }
    } else {
      await client.query(
        'UPDATE refresh_tokens SET rotated_at = $2, refresh_id_hash = $3 WHERE token_hash = $1',
        [hash, new Date(now), idHash],
      );
    }
    // A refresh is the session's device being used (GET /devices last_seen_at, spec/protocol.md §16).
    // Not if another transaction holds the device's row (SKIP LOCKED): device removal locks it
    // and then this session's row (src/devices/store.ts removeDevices), which this transaction
    // holds, so waiting for it would be a deadlock. A "last seen" left out once costs nothing.
    await client.query(
      `WITH s AS (UPDATE sessions SET last_used_at = $2 WHERE id = $1 RETURNING user_id, device_id),
            free AS (SELECT d.user_id, d.device_id FROM devices d JOIN s USING (user_id, device_id)
                        FOR UPDATE OF d SKIP LOCKED)
       UPDATE devices d SET last_seen_at = GREATEST(d.last_seen_at, $2)
         FROM free WHERE d.user_id = free.user_id AND d.device_id = free.device_id`,
      [sessionId, new Date(now)],
    );
    const tokens = await issueTokens(
      deps,
      client,
      sessionId,
      { id: session.user_id, username: session.username },
      now,
    );
    // The presented token now leads to this answer's (a retry keeps its first rotation time, so
    // retrying does not stretch the retry window).
    await client.query('UPDATE refresh_tokens SET replaced_by = $2 WHERE token_hash = $1', [
      hash,
      hashToken(tokens.refresh_token),
    ]);
    return { tokens };
  });
  // The revocation above must commit before the error is thrown, hence the result object.
  if ('error' in outcome) throw outcome.error;
  return outcome.tokens;
}

export async function revokeSession(deps: AppDeps, sessionId: string): Promise<void> {
  await deps.pool.query(
    `UPDATE sessions SET revoked_at = $2, revoked_reason = 'logout' WHERE id = $1 AND revoked_at IS NULL`,
    [sessionId, new Date(deps.clock.now())],
  );
}

/** POST /logout/all (spec/openapi.yaml): every session of the user ends now. Returns how many were live. */
export async function revokeAllSessions(deps: AppDeps, userId: string): Promise<number> {
  const { rowCount } = await deps.pool.query(
    `UPDATE sessions SET revoked_at = $2, revoked_reason = 'logout_all' WHERE user_id = $1 AND revoked_at IS NULL`,
    [userId, new Date(deps.clock.now())],
  );
  return rowCount ?? 0;
}

/**
 * How long a proof of the second factor (login, POST /session/reauth) lets this session make a
 * sensitive change — replacing the identity key (spec/openapi.yaml POST /keys; NIST SP 800-63B
 * §7.2 re-authentication before sensitive operations).
 */
export const REAUTH_WINDOW_MS = 5 * 60_000;

/** Records that session `sessionId` proved the second factor at `nowMs`. */
export async function markReauthenticated(
  client: Queryable,
  sessionId: string,
  nowMs: number,
): Promise<void> {
  await client.query('UPDATE sessions SET reauthenticated_at = $2, last_used_at = $2 WHERE id = $1', [
    sessionId,
    new Date(nowMs),
  ]);
}

/** True when session `sessionId` proved the second factor within REAUTH_WINDOW_MS before `nowMs`. */
export async function isFreshlyAuthenticated(
  db: Queryable,
  sessionId: string,
  nowMs: number,
): Promise<boolean> {
  const r = await db.query<{ fresh: boolean }>(
    'SELECT reauthenticated_at > $2 AND reauthenticated_at <= $3 AS fresh FROM sessions WHERE id = $1',
    [sessionId, new Date(nowMs - REAUTH_WINDOW_MS), new Date(nowMs)],
  );
  return r.rows[0]?.fresh === true;
}

export type RevokeReason = 'totp_reenrolled' | 'recovery_codes_regenerated';

/** Ends every live session of `userId` except `keep` (the revocation trigger closes their sockets). */
export async function revokeOtherSessions(
  client: Queryable,
  userId: string,
  keep: string,
  reason: RevokeReason,
  nowMs: number,
): Promise<number> {
  const { rowCount } = await client.query(
    `UPDATE sessions SET revoked_at = $3, revoked_reason = $4 WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`,
    [userId, keep, new Date(nowMs), reason],
  );
  return rowCount ?? 0;
}

export interface SessionInfo {
  id: string;
  created_at: string;
  last_used_at: string;
  client: string;
  current: boolean;
}

/** The live sessions of `userId`, newest first; `current` marks `sessionId`. */
export async function listSessions(
  db: Queryable,
  userId: string,
  sessionId: string,
  nowMs: number,
): Promise<SessionInfo[]> {
  const r = await db.query<{
    id: string;
    created_at: Date;
    last_used_at: Date | null;
    client: string | null;
  }>(
    `SELECT id, created_at, last_used_at, client FROM sessions
      WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id`,
    [userId, new Date(nowMs)],
  );
  return r.rows.map((x) => ({
    id: x.id,
    created_at: x.created_at.toISOString(),
    last_used_at: (x.last_used_at ?? x.created_at).toISOString(),
    client: x.client ?? 'Unknown on Unknown',
    current: x.id === sessionId,
  }));
}

/** Ends the live session `id` of `userId`; false when there is none (another account's, ended, unknown). */
export async function endSession(db: Queryable, userId: string, id: string, nowMs: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE sessions SET revoked_at = $3, revoked_reason = 'ended'
      WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3`,
    [id, userId, new Date(nowMs)],
  );
  return rowCount === 1;
}
