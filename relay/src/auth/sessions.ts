// Sessions and rotating refresh tokens (issue 3 "Sessions"). A session row is one login; its id
// is the access JWT's `sid`, checked on every request (require-auth.ts). Refresh tokens are 256
// random bits, stored only as SHA-256 hashes, single use: refreshing rotates the token, and
// presenting an already-rotated token again is taken as theft and revokes the whole session.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { type PoolClient, withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { HttpError } from '../http/http-error.js';
import { signAccessToken } from './access-token.js';

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

/** Opens a session for `user` inside the caller's transaction; revokes the oldest beyond the per-user cap. */
export async function createSession(
  deps: AppDeps,
  client: PoolClient,
  user: { id: string; username: string },
): Promise<SessionTokens> {
  const now = deps.clock.now();
  const sessionId = randomUUID();
  await client.query('INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)', [
    sessionId,
    user.id,
    new Date(now),
    new Date(now + deps.config.refreshTtlSeconds * 1000),
  ]);
  await client.query(
    `UPDATE sessions SET revoked_at = $3, revoked_reason = 'session_limit'
      WHERE id IN (SELECT id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL
                    ORDER BY created_at DESC, id OFFSET $2)`,
    [user.id, deps.config.limits.sessionsPerUser, new Date(now)],
  );
  const refresh = await issueRefreshToken(client, sessionId, now);
  const access = await signAccessToken(deps, { userId: user.id, sessionId });
  return {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: access.expiresIn,
    refresh_token: refresh,
    user,
  };
}

const invalidRefresh = () => new HttpError(401, 'invalid_refresh_token', 'refresh token not recognised');

/** POST /session/refresh: rotate the token; reuse of a rotated token revokes the session. */
export async function refreshSession(deps: AppDeps, token: string): Promise<SessionTokens> {
  if (!REFRESH_TOKEN.test(token)) throw invalidRefresh();
  const now = deps.clock.now();
  const outcome = await withTransaction(deps.pool, async (client) => {
    const { rows } = await client.query<{
      session_id: string;
      rotated_at: Date | null;
      revoked_at: Date | null;
      expires_at: Date;
      user_id: string;
      username: string;
    }>(
      `SELECT t.session_id, t.rotated_at, s.revoked_at, s.expires_at, u.id AS user_id, u.username
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id
        WHERE t.token_hash = $1
        FOR UPDATE OF t, s`,
      [hashToken(token)],
    );
    const row = rows[0];
    if (!row) return { error: invalidRefresh() };
    if (row.revoked_at || row.expires_at.getTime() <= now)
      return { error: new HttpError(401, 'session_revoked', 'session ended; log in again') };
    if (row.rotated_at) {
      await client.query(
        `UPDATE sessions SET revoked_at = $2, revoked_reason = 'refresh_reuse' WHERE id = $1 AND revoked_at IS NULL`,
        [row.session_id, new Date(now)],
      );
      return {
        error: new HttpError(
          401,
          'refresh_token_reused',
          'refresh token was already used; the session has been ended',
        ),
      };
    }
    await client.query('UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1', [
      hashToken(token),
      new Date(now),
    ]);
    const refresh = await issueRefreshToken(client, row.session_id, now);
    const access = await signAccessToken(deps, { userId: row.user_id, sessionId: row.session_id });
    return {
      tokens: {
        access_token: access.token,
        token_type: 'Bearer' as const,
        expires_in: access.expiresIn,
        refresh_token: refresh,
        user: { id: row.user_id, username: row.username },
      },
    };
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

/** The brief's "token reset": every session of the user ends now. Returns how many were live. */
export async function revokeAllSessions(deps: AppDeps, userId: string): Promise<number> {
  const { rowCount } = await deps.pool.query(
    `UPDATE sessions SET revoked_at = $2, revoked_reason = 'logout_all' WHERE user_id = $1 AND revoked_at IS NULL`,
    [userId, new Date(deps.clock.now())],
  );
  return rowCount ?? 0;
}
