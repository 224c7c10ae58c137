// Auth routes (spec/openapi.yaml tag "auth"): registration with QR, login, sessions.
import { type Request, Router } from 'express';
import { z } from 'zod';
import type { AppDeps } from '../deps.js';
import { jsonBody } from '../http/body.js';
import { clientIp } from '../http/client-ip.js';
import { HttpError } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { login, withSecondFactor } from './login.js';
import { confirmReenrollment, regenerateRecoveryCodes, startReenrollment } from './reenroll.js';
import { confirmRegistration, startRegistration } from './register.js';
import { authOf, requireAuth } from './require-auth.js';
import {
  endSession,
  listSessions,
  markReauthenticated,
  refreshSession,
  revokeAllSessions,
  revokeSession,
} from './sessions.js';
import { isReservedUsername, normalizeUsername, USERNAME_RULE, usernameInput } from './username.js';

const BODY_LIMIT = '2kb';
// A TOTP code (6 digits) or a recovery code (16 base32 characters, dashes/spaces allowed).
const codeInput = z.string().min(1).max(64);

const registerBody = z.object({ username: usernameInput }).strict();
const confirmBody = z.object({ username: usernameInput, code: codeInput }).strict();
const loginBody = z.object({ username: usernameInput, code: codeInput }).strict();
// refresh_id: the client's own random id of one exchange, sent again when it retries it
// (spec/openapi.yaml POST /session/refresh, src/auth/sessions.ts refreshSession).
const refreshBody = z
  .object({
    refresh_token: z.string().min(1).max(256),
    refresh_id: z
      .string()
      .regex(/^[A-Za-z0-9_-]{22,64}$/)
      .optional(),
  })
  .strict();
const codeBody = z.object({ code: codeInput }).strict();
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The User-Agent, only for the coarse client description of a new session (auth/client-description.ts). */
const userAgentOf = (req: Request) => req.get('user-agent');

function canonicalUsername(raw: string): string {
  const name = normalizeUsername(raw);
  if (!name) throw new HttpError(400, 'invalid_username', `username must be ${USERNAME_RULE}`);
  return name;
}

export function authRoutes(deps: AppDeps): Router {
  const router = Router();

  router.post('/register', jsonBody(BODY_LIMIT), async (req, res) => {
    const { username } = parse(registerBody, req.body);
    const name = canonicalUsername(username);
    if (isReservedUsername(name)) throw new HttpError(400, 'invalid_username', 'this username is reserved');
    res.status(201).json(await startRegistration(deps, name, clientIp(req)));
  });

  router.post('/register/confirm', jsonBody(BODY_LIMIT), async (req, res) => {
    const { username, code } = parse(confirmBody, req.body);
    res
      .status(201)
      .json(
        await confirmRegistration(
          deps,
          canonicalUsername(username),
          code.trim(),
          clientIp(req),
          userAgentOf(req),
        ),
      );
  });

  router.post('/login', jsonBody(BODY_LIMIT), async (req, res) => {
    const { username, code } = parse(loginBody, req.body);
    // A name that breaks the rules cannot exist: login() answers unknown_user and counts it against the IP.
    res.json(await login(deps, normalizeUsername(username), code.trim(), clientIp(req), userAgentOf(req)));
  });

  router.post('/session/refresh', jsonBody(BODY_LIMIT), async (req, res) => {
    const { refresh_token, refresh_id } = parse(refreshBody, req.body);
    res.json(await refreshSession(deps, refresh_token, refresh_id));
  });

  router.post('/logout', requireAuth(deps), async (req, res) => {
    await revokeSession(deps, authOf(req).sessionId);
    res.status(204).end();
  });

  router.post('/logout/all', requireAuth(deps), async (req, res) => {
    await revokeAllSessions(deps, authOf(req).userId);
    res.status(204).end();
  });

  // Step-up (spec/openapi.yaml /session/reauth): a fresh second factor for sensitive changes.
  router.post('/session/reauth', requireAuth(deps), jsonBody(BODY_LIMIT), async (req, res) => {
    const { code } = parse(codeBody, req.body);
    const { userId, sessionId } = authOf(req);
    await withSecondFactor(deps, userId, code.trim(), clientIp(req), (client, _user, now) =>
      markReauthenticated(client, sessionId, now),
    );
    res.status(204).end();
  });

  router.get('/sessions', requireAuth(deps), async (req, res) => {
    const { userId, sessionId } = authOf(req);
    res.json({ sessions: await listSessions(deps.pool, userId, sessionId, deps.clock.now()) });
  });

  router.delete('/sessions/:id', requireAuth(deps), async (req, res) => {
    const id = req.params.id;
    const ended =
      typeof id === 'string' &&
      SESSION_ID.test(id) &&
      (await endSession(deps.pool, authOf(req).userId, id, deps.clock.now()));
    if (!ended) throw new HttpError(404, 'not_found', 'no such live session of your account');
    res.status(204).end();
  });

  router.post('/totp/reenroll', requireAuth(deps), jsonBody(BODY_LIMIT), async (req, res) => {
    const { code } = parse(codeBody, req.body);
    res.status(201).json(await startReenrollment(deps, authOf(req), code.trim(), clientIp(req)));
  });

  router.post('/totp/reenroll/confirm', requireAuth(deps), jsonBody(BODY_LIMIT), async (req, res) => {
    const { code } = parse(codeBody, req.body);
    await confirmReenrollment(deps, authOf(req), code.trim(), clientIp(req));
    res.status(204).end();
  });

  router.post('/recovery_codes/regenerate', requireAuth(deps), jsonBody(BODY_LIMIT), async (req, res) => {
    const { code } = parse(codeBody, req.body);
    res.json({
      recovery_codes: await regenerateRecoveryCodes(deps, authOf(req), code.trim(), clientIp(req)),
    });
  });

  router.get('/me', requireAuth(deps), async (req, res) => {
    const { rows } = await deps.pool.query<{ id: string; username: string; created_at: Date }>(
      'SELECT id, username, created_at FROM users WHERE id = $1',
      [authOf(req).userId],
    );
    const me = rows[0];
    if (!me) throw new HttpError(401, 'session_revoked', 'session ended; log in again');
    res.json({ id: me.id, username: me.username, created_at: me.created_at.toISOString() });
  });

  return router;
}
