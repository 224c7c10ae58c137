// requireAuth: the gate for every protected route. Verifies the access JWT, then checks its
// session row on every request, so logout and logout-all take effect immediately
// (spec/openapi.yaml info: authenticated routes). On success req.auth = { userId, sessionId,
// deviceId } (deviceId: the device the session is bound to, null while device-less; spec/protocol.md
// §16). POST /send_message, the hot path, does the same session check inside its own statement
// (requireTokenSessionInStatement; deviceId is then undefined: not looked up).
import type { NextFunction, Request, Response } from 'express';
import type { AppDeps } from '../deps.js';
import { HttpError, unauthorized } from '../http/http-error.js';
import { verifyAccessToken } from './access-token.js';
import { liveSessionDevice } from './session-live.js';

export interface AuthContext {
  userId: string;
  sessionId: string;
  /**
   * The session's device (migration 0070): a number once POST /keys bound it, null while the
   * session is device-less, undefined when not looked up (token-only routes, see
   * src/devices/require-device.ts for the check routes that need a device use).
   */
  deviceId?: number | null;
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

/** An access token's caller and the time (ms) from which the token is refused. */
export interface TokenContext extends AuthContext {
  expiresAtMs: number;
}

/** Verifies the access JWT alone (signature and claims, not the session), or throws HttpError 401. */
export async function verifyToken(deps: AppDeps, token: string): Promise<TokenContext> {
  const result = await verifyAccessToken(deps, token);
  if (!result.ok)
    throw unauthorized(
      result.reason,
      result.reason === 'token_expired' ? 'access token expired' : 'invalid access token',
    );
  const { userId, sessionId } = result.claims;
  if (!UUID.test(userId) || !UUID.test(sessionId))
    throw unauthorized('invalid_token', 'invalid access token');
  return { userId, sessionId, expiresAtMs: result.expiresAtMs };
}

export const sessionEnded = () => unauthorized('session_revoked', 'session ended; log in again');

/**
 * Throws 401 session_revoked unless the session of `ctx` is live now; returns its device (null:
 * device-less) and records it in `ctx`.
 */
export async function assertSessionLive(deps: AppDeps, ctx: AuthContext): Promise<number | null> {
  const live = await liveSessionDevice(deps.pool, ctx.userId, ctx.sessionId, new Date(deps.clock.now()));
  if (!live) throw sessionEnded();
  ctx.deviceId = live.deviceId;
  return live.deviceId;
}

/** Resolves a bearer token to its live session (and device), or throws HttpError 401. Also used by the WebSocket. */
export async function authenticateToken(deps: AppDeps, token: string): Promise<TokenContext> {
  const ctx = await verifyToken(deps, token);
  await assertSessionLive(deps, ctx);
  return ctx;
}

function bearerOf(req: Request): string {
  const header = req.get('authorization');
  if (!header) throw unauthorized('unauthorized', 'missing bearer token');
  const match = BEARER.exec(header);
  if (!match?.[1]) throw unauthorized('invalid_token', 'malformed bearer token');
  return match[1];
}

export function requireAuth(deps: AppDeps) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    // The device the session check read is kept: requireDevice and POST /keys rely on it
    // (undefined would make every device route a 500 and every device session device-less).
    const { userId, sessionId, deviceId } = await authenticateToken(deps, bearerOf(req));
    req.auth = { userId, sessionId, deviceId: deviceId ?? null };
    next();
  };
}

/**
 * For a route whose own statement checks the session (session_is_live, in the same statement and
 * snapshot as its write), so the session costs no extra round trip: POST /send_message. Verifies
 * the JWT only; a route using it MUST check the session in its statement and answer
 * session_revoked when that fails. Put `sessionBeforeErrors(deps)` right after the body parser,
 * and check the session before any other refusal the route makes before its statement, so a
 * client whose session ended still learns that first (as with requireAuth).
 */
export function requireTokenSessionInStatement(deps: AppDeps) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const { userId, sessionId } = await verifyToken(deps, bearerOf(req));
    req.auth = { userId, sessionId };
    next();
  };
}

/** Error middleware: an error raised before the route's statement becomes 401 if the session ended. */
export function sessionBeforeErrors(deps: AppDeps) {
  return async (err: unknown, req: Request, _res: Response, next: NextFunction) => {
    if (req.auth) await assertSessionLive(deps, req.auth);
    next(err);
  };
}

/** The authenticated caller of a route behind requireAuth. */
export function authOf(req: Request): AuthContext {
  if (!req.auth) throw new HttpError(500, 'internal', 'internal error');
  return req.auth;
}
