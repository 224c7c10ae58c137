// The app skeleton: headers, request ids, 404, error mapping, requireAuth, and the database.
import { Router } from 'express';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { signAccessToken } from '../src/auth/access-token.js';
import { authOf, requireAuth } from '../src/auth/require-auth.js';
import { loadConfig } from '../src/config.js';
import type { AppDeps } from '../src/deps.js';
import { jsonBody } from '../src/http/body.js';
import { parse } from '../src/http/validate.js';
import { healthRoutes } from '../src/routes/health.js';
import { makeApi, startTestApp, TEST_SECRETS, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';

// Probe routes exercising the foundation helpers; not part of the relay (so not in the spec).
function probeRoutes(deps: AppDeps): Router {
  const r = Router();
  r.post('/probe/echo', jsonBody('1kb'), (req, res) => {
    const body = parse(z.object({ n: z.number().int() }), req.body);
    res.json({ n: body.n });
  });
  r.get('/probe/me', requireAuth(deps), (req, res) => {
    res.json(authOf(req));
  });
  r.get('/probe/boom', () => {
    throw new Error('database password is hunter2');
  });
  return r;
}

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({ databaseUrl: db.url, routes: [healthRoutes, probeRoutes] });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

const raw = () => makeApi(t.baseUrl);

async function makeUserAndSession(revoked = false) {
  const userId = crypto.randomUUID();
  const sessionId = crypto.randomUUID();
  const name = `u${userId.slice(0, 8)}`;
  await t.deps.pool.query(
    `INSERT INTO users (id, username, totp_secret, status) VALUES ($1, $2, '\\x00', 'active')`,
    [userId, name],
  );
  await t.deps.pool.query(
    `INSERT INTO sessions (id, user_id, expires_at, revoked_at) VALUES ($1, $2, $3, $4)`,
    [sessionId, userId, new Date(t.clock.now() + 3600_000), revoked ? new Date(t.clock.now()) : null],
  );
  return { userId, sessionId };
}

describe('app foundation', () => {
  it('GET /health answers and conforms to the spec', async () => {
    const res = await t.api.get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers.get('secure-drop-run')).toBeNull();
  });

  it('GET /health names npm start’s run (SECURE_DROP_RUN_ID), by which the run knows its own relay', async () => {
    const runId = 'a1'.repeat(16);
    const own = await startTestApp({
      databaseUrl: db.url,
      routes: [healthRoutes],
      env: { SECURE_DROP_RUN_ID: runId },
    });
    try {
      const res = await own.api.get('/health');
      expect([res.status, res.headers.get('secure-drop-run')]).toEqual([200, runId]);
    } finally {
      await own.close();
    }
    expect(() => loadConfig({ NODE_ENV: 'test', ...TEST_SECRETS, SECURE_DROP_RUN_ID: 'not-hex' })).toThrow(
      /SECURE_DROP_RUN_ID/,
    );
  });

  it('sets security headers, a request id, and no x-powered-by', async () => {
    const res = await t.api.get('/health');
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('etag')).toBeNull();
    const missing = await raw().get('/no/such/route', { spec: false });
    expect(missing.headers.get('cache-control')).toBe('no-store');
    const echoed = await t.api.get('/health', { headers: { 'x-request-id': 'trace-12345678' } });
    expect(echoed.headers.get('x-request-id')).toBe('trace-12345678');
    const unsafe = await t.api.get('/health', { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/); // replaced, not echoed
  });

  it('answers unknown routes with 404 JSON', async () => {
    const res = await raw().get('/no/such/route', { spec: false });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'not_found', message: 'no such route' });
  });

  it('maps bad JSON to 400, oversize to 413, validation to 400, without stack traces', async () => {
    const api = raw();
    const bad = await api.post('/probe/echo', undefined, {
      raw: '{"n":',
      headers: { 'content-type': 'application/json' },
      spec: false,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_json');
    const big = await api.post('/probe/echo', { n: 1, pad: 'x'.repeat(2000) }, { spec: false });
    expect(big.status).toBe(413);
    expect(big.body.error).toBe('payload_too_large');
    const invalid = await api.post('/probe/echo', { n: 'one' }, { spec: false });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toBe('invalid_request');
    expect(invalid.body.message).toMatch(/^n: /);
    // No body and no Content-Type: not declared JSON, so 415 (src/http/body.ts); an empty body
    // declared as JSON fails validation (400).
    const noBody = await api.post('/probe/echo', undefined, { spec: false });
    expect(noBody.status).toBe(415);
    expect(noBody.body.error).toBe('unsupported_media_type');
    const emptyJson = await api.post('/probe/echo', undefined, {
      raw: '',
      headers: { 'content-type': 'application/json' },
      spec: false,
    });
    expect(emptyJson.status).toBe(400);
    const ok = await api.post('/probe/echo', { n: 7 }, { spec: false });
    expect(ok.body).toEqual({ n: 7 });
    for (const r of [bad, big, invalid, noBody, emptyJson])
      expect(r.text).not.toMatch(/\bat .*\.(ts|js):\d+/);
  });

  it('answers an unexpected error with 500 {"error":"internal"} and no details', async () => {
    const res = await raw().get('/probe/boom', { spec: false });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: 'internal', message: 'internal error' });
    expect(res.text).not.toContain('hunter2');
  });

  it('answers a malformed URI escape with 4xx JSON', async () => {
    const res = await raw().get('/probe/%E0%A4%A', { spec: false });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body).toHaveProperty('error');
  });
});

describe('requireAuth', () => {
  it('accepts a valid token for a live session and exposes {userId, sessionId, deviceId}', async () => {
    const claims = await makeUserAndSession();
    const { token } = await signAccessToken(t.deps, claims);
    const res = await raw().get('/probe/me', { token, spec: false });
    expect(res.status).toBe(200);
    // A fresh login is device-less until POST /keys binds it (spec/protocol.md §16).
    expect(res.body).toEqual({ ...claims, deviceId: null });
  });

  it('rejects a missing, malformed, or forged token with 401', async () => {
    const api = raw();
    const none = await api.get('/probe/me', { spec: false });
    expect([none.status, none.body.error]).toEqual([401, 'unauthorized']);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const junk = await api.get('/probe/me', { token: 'a.b.c', spec: false });
    expect([junk.status, junk.body.error]).toEqual([401, 'invalid_token']);
    const claims = await makeUserAndSession();
    const forged = await new SignJWT({ sid: claims.sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setSubject(claims.userId)
      .setIssuer(t.deps.config.jwt.issuer)
      .setAudience(t.deps.config.jwt.audience)
      .setIssuedAt(Math.floor(t.clock.now() / 1000))
      .setExpirationTime(Math.floor(t.clock.now() / 1000) + 60)
      .sign(new Uint8Array(32).fill(7));
    const f = await api.get('/probe/me', { token: forged, spec: false });
    expect([f.status, f.body.error]).toEqual([401, 'invalid_token']);
  });

  it('rejects alg "none", a wrong audience, and a token missing sid', async () => {
    const api = raw();
    const claims = await makeUserAndSession();
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const iat = Math.floor(t.clock.now() / 1000);
    const payload = {
      sub: claims.userId,
      sid: claims.sessionId,
      iss: t.deps.config.jwt.issuer,
      aud: t.deps.config.jwt.audience,
      iat,
      exp: iat + 60,
    };
    const none = `${enc({ alg: 'none', typ: 'at+jwt' })}.${enc(payload)}.x`;
    expect((await api.get('/probe/me', { token: none, spec: false })).status).toBe(401);
    const sign = (p: Record<string, unknown>) =>
      new SignJWT(p).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).sign(t.deps.config.secrets.jwtKey);
    const wrongAud = await sign({ ...payload, aud: 'someone-else' });
    expect((await api.get('/probe/me', { token: wrongAud, spec: false })).body.error).toBe('invalid_token');
    const { sid: _sid, ...noSid } = payload;
    expect((await api.get('/probe/me', { token: await sign(noSid), spec: false })).body.error).toBe(
      'invalid_token',
    );
  });

  it('rejects an expired token as token_expired', async () => {
    const claims = await makeUserAndSession();
    const { token } = await signAccessToken(t.deps, claims);
    t.clock.advance((t.deps.config.jwt.accessTtlSeconds + 1) * 1000);
    try {
      const res = await raw().get('/probe/me', { token, spec: false });
      expect([res.status, res.body.error]).toEqual([401, 'token_expired']);
    } finally {
      t.clock.advance(-(t.deps.config.jwt.accessTtlSeconds + 1) * 1000);
    }
  });

  it('still expires a token it has already verified (the verified-token memo checks exp on every hit)', async () => {
    const claims = await makeUserAndSession();
    const { token } = await signAccessToken(t.deps, claims);
    const api = raw();
    expect((await api.get('/probe/me', { token, spec: false })).status).toBe(200); // now remembered
    // A remembered token with its signature altered is a different token: verified afresh, refused.
    const sigAt = token.lastIndexOf('.') + 1; // the first signature character carries 6 real bits
    const altered = `${token.slice(0, sigAt)}${token[sigAt] === 'A' ? 'B' : 'A'}${token.slice(sigAt + 1)}`;
    expect((await api.get('/probe/me', { token: altered, spec: false })).body.error).toBe('invalid_token');
    const left =
      (Math.floor(t.clock.now() / 1000) + t.deps.config.jwt.accessTtlSeconds) * 1000 - t.clock.now();
    t.clock.advance(left - 1); // the last millisecond of validity
    try {
      expect((await api.get('/probe/me', { token, spec: false })).status).toBe(200);
      t.clock.advance(1); // now == exp: expired, as jose decides
      const res = await api.get('/probe/me', { token, spec: false });
      expect([res.status, res.body.error]).toEqual([401, 'token_expired']);
    } finally {
      t.clock.advance(-left);
    }
  });

  it('rejects a valid token whose session is revoked (checked on every request)', async () => {
    const claims = await makeUserAndSession();
    const { token } = await signAccessToken(t.deps, claims);
    expect((await raw().get('/probe/me', { token, spec: false })).status).toBe(200);
    await t.deps.pool.query('UPDATE sessions SET revoked_at = now() WHERE id = $1', [claims.sessionId]);
    const res = await raw().get('/probe/me', { token, spec: false });
    expect([res.status, res.body.error]).toEqual([401, 'session_revoked']);
  });
});

describe('database', () => {
  it('is migrated with the foundation tables', async () => {
    const { rows } = await t.deps.pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
    );
    const names = rows.map((r) => r.table_name);
    for (const n of [
      'users',
      'sessions',
      'refresh_tokens',
      'recovery_codes',
      'login_throttle',
      'pgmigrations',
    ])
      expect(names).toContain(n);
  });

  it('enforces the username format in the schema too', async () => {
    await expect(
      t.deps.pool.query(
        `INSERT INTO users (id, username, totp_secret, status) VALUES ($1, 'Bad-Name', '\\x00', 'active')`,
        [crypto.randomUUID()],
      ),
    ).rejects.toThrow(/users_username_format/);
  });
});
