// requireAuth: the gate for every protected route. Verifies the access JWT, then checks its
// session row on every request, so logout and logout-all take effect immediately
// (issue 3 "Sessions"). On success req.auth = { userId, sessionId }.
import type { NextFunction, Request, Response } from 'express';
import type { AppDeps } from '../deps.js';
import { HttpError, unauthorized } from '../http/http-error.js';
import { verifyAccessToken } from './access-token.js';

export interface AuthContext {
  userId: string;
  sessionId: string;
}

declare global {
  namespace Express {
    interface Request {
      /** Set by requireAuth. */
      auth?: AuthContext;
    }
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Resolves a bearer token to its live session, or throws HttpError 401. Also used by the WebSocket. */
export async function authenticateToken(deps: AppDeps, token: string): Promise<AuthContext> {
  const result = await verifyAccessToken(deps, token);
  if (!result.ok)
    throw unauthorized(
      result.reason,
      result.reason === 'token_expired' ? 'access token expired' : 'invalid access token',
    );
  const { userId, sessionId } = result.claims;
  if (!UUID.test(userId) || !UUID.test(sessionId))
    throw unauthorized('invalid_token', 'invalid access token');
  const { rowCount } = await deps.pool.query(
    `SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3 AND u.status = 'active'`,
    [sessionId, userId, new Date(deps.clock.now())],
  );
  if (rowCount !== 1) throw unauthorized('session_revoked', 'session ended; log in again');
  return { userId, sessionId };
}

export function requireAuth(deps: AppDeps) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const header = req.get('authorization');
    if (!header) throw unauthorized('unauthorized', 'missing bearer token');
    const match = BEARER.exec(header);
    if (!match?.[1]) throw unauthorized('invalid_token', 'malformed bearer token');
    req.auth = await authenticateToken(deps, match[1]);
    next();
  };
}

/** The authenticated caller of a route behind requireAuth. */
export function authOf(req: Request): AuthContext {
  if (!req.auth) throw new HttpError(500, 'internal', 'internal error');
  return req.auth;
}
