// Logs never contain a secret, TOTP code, recovery code, token or request body
// (SECURITY.md: no secret, code or token is ever logged). The app's pino output is captured
// at the most verbose level during a full auth flow and searched for every value used.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, TEST_SECRETS, type TestApp } from './helpers/app.js';
import { fromIp, loginNextStep, registerUser } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { totpAt } from './helpers/totp-reference.js';

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({ databaseUrl: db.url, env: { LOG_LEVEL: 'trace' } });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

describe('logs', () => {
  it('contain request lines but no secret, code, token or body', async () => {
    const sensitive: string[] = [TEST_SECRETS.JWT_SECRET, TEST_SECRETS.TOTP_ENCRYPTION_KEY];
    const u = await registerUser(t.api, t.clock, 'logwatch');
    sensitive.push(
      u.secret,
      u.access,
      u.refresh,
      ...u.recoveryCodes,
      ...u.recoveryCodes.map((c) => c.replace(/-/g, '')),
    );
    sensitive.push(totpAt(u.secret, t.clock.now()));

    const login = await loginNextStep(t.api, t.clock, u);
    sensitive.push(totpAt(u.secret, t.clock.now()), login.body.access_token, login.body.refresh_token);
    const replay = await t.api.post('/login', {
      username: 'logwatch',
      code: totpAt(u.secret, t.clock.now()),
    });
    expect(replay.body.error).toBe('code_reused');
    const wrong = await t.api.post(
      '/login',
      { username: 'logwatch', code: '000001' },
      { headers: fromIp('192.0.2.77') },
    );
    expect(wrong.body.error).toBe('invalid_code');
    const rec = await t.api.post('/login', { username: 'logwatch', code: u.recoveryCodes[0] });
    expect(rec.status).toBe(200);
    sensitive.push(rec.body.access_token, rec.body.refresh_token);
    const refreshed = await t.api.post('/session/refresh', { refresh_token: login.body.refresh_token });
    sensitive.push(refreshed.body.access_token, refreshed.body.refresh_token);
    await t.api.post('/session/refresh', { refresh_token: login.body.refresh_token }); // reuse
    await t.api.get('/me', { token: rec.body.access_token });
    await t.api.post('/logout', undefined, { token: rec.body.access_token });
    await t.api.get('/me', { token: rec.body.access_token }); // revoked
    // A body with a distinctive marker, and a token in a query string.
    await t.api.post('/register', { username: 'body_marker_q7zx' });
    await t.api.get(`/me?access_token=${u.access}`, { token: 'x.y.z' });
    const pending = await t.api.post('/register', { username: 'pending_logs' });
    sensitive.push(pending.body.secret, pending.body.otpauth_uri, pending.body.qr_png.slice(30, 90));

    // The trust-path routes: step-up, re-enrolment (a new secret) and new recovery codes.
    t.clock.advance(30_000);
    const stepCode = totpAt(u.secret, t.clock.now());
    sensitive.push(stepCode);
    expect((await t.api.post('/session/reauth', { code: stepCode }, { token: u.access })).status).toBe(204);
    t.clock.advance(30_000);
    const reCode = totpAt(u.secret, t.clock.now());
    const re = await t.api.post('/totp/reenroll', { code: reCode }, { token: u.access });
    expect(re.status).toBe(201);
    const confirmCode = totpAt(re.body.secret, t.clock.now());
    sensitive.push(reCode, re.body.secret, re.body.otpauth_uri, confirmCode);
    expect(
      (await t.api.post('/totp/reenroll/confirm', { code: confirmCode }, { token: u.access })).status,
    ).toBe(204);
    t.clock.advance(30_000);
    const regenCode = totpAt(re.body.secret, t.clock.now());
    const regen = await t.api.post('/recovery_codes/regenerate', { code: regenCode }, { token: u.access });
    expect(regen.status).toBe(200);
    sensitive.push(regenCode, ...regen.body.recovery_codes);
    expect(t.logs.join('')).toContain('"path":"/totp/reenroll/confirm"');

    const all = t.logs.join('');
    expect(all).toContain('"path":"/login"');
    expect(all).toContain('"path":"/register/confirm"');
    expect(all).toContain('"statusCode":401');
    for (const value of sensitive) {
      expect(value.length).toBeGreaterThanOrEqual(6);
      expect(all.includes(value), `log contains a sensitive value (${value.slice(0, 3)}…)`).toBe(false);
    }
    expect(all).not.toContain('body_marker_q7zx');
    expect(all.toLowerCase()).not.toContain('authorization');
    expect(all).not.toContain('Bearer');
  });
});
