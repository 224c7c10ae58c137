// Registration → QR → confirm → login → replay → recovery codes → sessions (spec/openapi.yaml tag "auth").
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFRESH_RETRY_WINDOW_SECONDS } from '../src/auth/sessions.js';
import { decryptTotpSecret } from '../src/auth/totp-secret.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { fromIp, loginNextStep, registerUser } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { deviceUpload } from './helpers/devices.js';
import { identityFor } from './helpers/identity.js';
import { hotp, totpAt } from './helpers/totp-reference.js';

// jsqr is CommonJS whose module.exports is the decoder function (its .d.ts says `export default`).
const jsQR = createRequire(import.meta.url)('jsqr') as typeof import('jsqr').default;

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({ databaseUrl: db.url });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

describe('TOTP reference', () => {
  it('matches RFC 6238 Appendix B (SHA-1, T = 59 s and 1111111109 s)', () => {
    const key = Buffer.from('12345678901234567890');
    expect(hotp(key, 1, 8)).toBe('94287082');
    expect(hotp(key, Math.floor(1111111109 / 30), 8)).toBe('07081804');
  });
});

describe('registration', () => {
  it('returns an otpauth URI with the agreed parameters, the base32 secret, and an expiry', async () => {
    const res = await t.api.post('/register', { username: 'alice' });
    expect(res.status).toBe(201);
    const uri = new URL(res.body.otpauth_uri);
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Secure Drop:alice');
    expect(uri.searchParams.get('issuer')).toBe('Secure Drop');
    // Key Uri Format: an omitted parameter means SHA1 / 6 / 30 (otplib omits the defaults,
    // which is what the widest range of authenticator apps expects).
    expect(uri.searchParams.get('algorithm') ?? 'SHA1').toBe('SHA1');
    expect(uri.searchParams.get('digits') ?? '6').toBe('6');
    expect(uri.searchParams.get('period') ?? '30').toBe('30');
    expect(uri.searchParams.get('secret')).toBe(res.body.secret);
    expect(res.body.secret.replace(/=+$/, '').length).toBeGreaterThanOrEqual(32); // ≥ 160 bits
    expect(Date.parse(res.body.expires_at) - t.clock.now()).toBe(600_000);
  });

  it('returns a QR PNG that decodes to the otpauth URI, and an SVG', async () => {
    const res = await t.api.post('/register', { username: 'qr_user' });
    const png = PNG.sync.read(Buffer.from(res.body.qr_png.replace(/^data:image\/png;base64,/, ''), 'base64'));
    const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
    expect(decoded?.data).toBe(res.body.otpauth_uri);
    expect(res.body.qr_svg).toMatch(
      /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<path[\s\S]*<\/svg>\s*$/,
    );
  });

  it('stores the TOTP secret encrypted (AES-256-GCM bound to the user id), not in clear', async () => {
    const res = await t.api.post('/register', { username: 'enc_user' });
    const { rows } = await t.deps.pool.query('SELECT id, totp_secret FROM users WHERE username = $1', [
      'enc_user',
    ]);
    const row = rows[0];
    expect(Buffer.from(row.totp_secret).includes(Buffer.from(res.body.secret))).toBe(false);
    expect(decryptTotpSecret(t.deps.config.secrets.totpKey, row.id, row.totp_secret)).toBe(res.body.secret);
    expect(() =>
      decryptTotpSecret(t.deps.config.secrets.totpKey, crypto.randomUUID(), row.totp_secret),
    ).toThrow();
    const tampered = Buffer.from(row.totp_secret);
    tampered[20] = (tampered[20] as number) ^ 1;
    expect(() => decryptTotpSecret(t.deps.config.secrets.totpKey, row.id, tampered)).toThrow();
  });

  it('keeps the account pending until a valid first code, then returns a session and 10 recovery codes', async () => {
    const reg = await t.api.post('/register', { username: 'bob' });
    // Pending: cannot log in yet.
    const early = await t.api.post('/login', {
      username: 'bob',
      code: totpAt(reg.body.secret, t.clock.now()),
    });
    expect([early.status, early.body.error]).toEqual([404, 'unknown_user']);
    const wrong = await t.api.post('/register/confirm', {
      username: 'bob',
      code: totpAt(reg.body.secret, t.clock.now() + 10 * 60_000),
    });
    expect([wrong.status, wrong.body.error]).toEqual([401, 'invalid_code']);
    const ok = await t.api.post('/register/confirm', {
      username: 'bob',
      code: totpAt(reg.body.secret, t.clock.now()),
    });
    expect(ok.status).toBe(201);
    expect(ok.body.user.username).toBe('bob');
    expect(new Set(ok.body.recovery_codes).size).toBe(10);
    const me = await t.api.get('/me', { token: ok.body.access_token });
    expect(me.body).toMatchObject({ id: ok.body.user.id, username: 'bob' });
    const again = await t.api.post('/register/confirm', {
      username: 'bob',
      code: totpAt(reg.body.secret, t.clock.now()),
    });
    expect([again.status, again.body.error]).toEqual([404, 'registration_not_found']);
    const { rows } = await t.deps.pool.query('SELECT code_hash FROM recovery_codes WHERE user_id = $1', [
      ok.body.user.id,
    ]);
    expect(rows).toHaveLength(10);
    for (const c of ok.body.recovery_codes as string[])
      for (const r of rows)
        expect(Buffer.from(r.code_hash).includes(Buffer.from(c.replace(/-/g, '')))).toBe(false);
  });

  it('refuses a taken name case-insensitively, and its compatibility forms as invalid', async () => {
    await registerUser(t.api, t.clock, 'carol');
    for (const name of ['carol', 'CAROL', 'Carol'])
      expect((await t.api.post('/register', { username: name })).body.error).toBe('username_taken');
    expect((await t.api.post('/register', { username: 'ｃａｒｏｌ' })).body.error).toBe('invalid_username');
  });

  it('expires a pending registration and frees the username (injected clock)', async () => {
    const first = await t.api.post('/register', { username: 'dave' });
    expect((await t.api.post('/register', { username: 'dave' })).status).toBe(409);
    t.clock.advance(600_000);
    const late = await t.api.post('/register/confirm', {
      username: 'dave',
      code: totpAt(first.body.secret, t.clock.now()),
    });
    expect([late.status, late.body.error]).toEqual([404, 'registration_not_found']);
    const second = await t.api.post('/register', { username: 'dave' });
    expect(second.status).toBe(201);
    expect(second.body.secret).not.toBe(first.body.secret);
    const old = await t.api.post('/register/confirm', {
      username: 'dave',
      code: totpAt(first.body.secret, t.clock.now()),
    });
    expect(old.body.error).toBe('invalid_code');
    const ok = await t.api.post('/register/confirm', {
      username: 'dave',
      code: totpAt(second.body.secret, t.clock.now()),
    });
    expect(ok.status).toBe(201);
  });
});

describe('pending registration cleanup', () => {
  it('deletes every expired pending registration when a new one starts', async () => {
    await t.api.post('/register', { username: 'stale_one' });
    await t.api.post('/register', { username: 'stale_two' });
    t.clock.advance(600_001);
    await t.api.post('/register', { username: 'fresh_one' });
    const { rows } = await t.deps.pool.query<{ username: string }>(
      `SELECT username FROM users WHERE username IN ('stale_one', 'stale_two', 'fresh_one')`,
    );
    expect(rows.map((r) => r.username)).toEqual(['fresh_one']);
  });
});

describe('username rules (username-confusable-squatting: compatibility forms refused, reserved names)', () => {
  it.each([
    ['Eve_1', 'eve_1'],
    ['a_b', 'a_b'],
    ['admin_fan', 'admin_fan'], // only the reserved names themselves are refused
    ['Rootbeer', 'rootbeer'],
    ['x'.repeat(32), 'x'.repeat(32)],
  ])('accepts %s as %s', async (input, canonical) => {
    const res = await t.api.post('/register', { username: input });
    expect(res.status).toBe(201);
    expect(res.body.username).toBe(canonical);
  });

  it.each([
    ['аlice', 'Cyrillic а'],
    ['bοb', 'Greek omicron'],
    ['İvan', 'dotted capital I'],
    ['ab', 'too short'],
    ['x'.repeat(33), 'too long'],
    ['_lead', 'leading underscore'],
    ['trail_', 'trailing underscore'],
    ['has space', 'space'],
    ['dot.name', 'dot'],
    ['zero\u200bwidth', 'zero-width space'],
    ['emoji😀x', 'emoji'],
    ['tab\tname', 'control character'],
    // Compatibility forms are refused, not folded (confusable-username squatting).
    ['ａｄｍｉｎ', 'fullwidth admin'],
    ['ＦＲＡＮＫ', 'fullwidth'],
    ['ﬁnn', 'ligature ﬁ'],
    ['\u212aelvin', 'Kelvin sign'],
    ['bob\u00b2', 'superscript two'],
    ['ⓑob', 'circled letter'],
    ['bo\u0301b', 'combining accent'],
    ['b\u00adob', 'soft hyphen'],
    // Reserved names, in any case.
    ['admin', 'reserved'],
    ['Admin', 'reserved, capitalised'],
    ['ROOT', 'reserved, upper case'],
    ['support', 'reserved'],
    ['securedrop', 'reserved'],
    ['system', 'reserved'],
    ['help', 'reserved'],
    ['moderator', 'reserved'],
  ])('refuses %s (%s) with invalid_username', async (input) => {
    const res = await t.api.post('/register', { username: input });
    expect([res.status, res.body.error]).toEqual([400, 'invalid_username']);
  });

  it('username-confusable-squatting: "ａｄｍｉｎ" registers no admin account', async () => {
    expect((await t.api.post('/register', { username: 'ａｄｍｉｎ' })).status).toBe(400);
    const { rows } = await t.deps.pool.query(`SELECT 1 FROM users WHERE username = 'admin'`);
    expect(rows).toEqual([]);
  });
});

describe('login', () => {
  it('logs in with the next TOTP code and rejects the same step a second time', async () => {
    const u = await registerUser(t.api, t.clock, 'grace');
    const first = await loginNextStep(t.api, t.clock, u);
    expect(first.status).toBe(200);
    const code = totpAt(u.secret, t.clock.now());
    const replay = await t.api.post(
      '/login',
      { username: 'grace', code },
      { headers: fromIp('198.51.100.1') },
    );
    expect([replay.status, replay.body.error]).toEqual([401, 'code_reused']);
    // The previous step is still inside the ±1 window but older than the last used one.
    t.clock.advance(30_000);
    const previous = await t.api.post(
      '/login',
      { username: 'grace', code },
      { headers: fromIp('198.51.100.1') },
    );
    expect(previous.body.error).toBe('code_reused');
    const next = await t.api.post('/login', { username: 'grace', code: totpAt(u.secret, t.clock.now()) });
    expect(next.status).toBe(200);
  });

  it('accepts codes one step early or late (clock drift) but not two', async () => {
    const u = await registerUser(t.api, t.clock, 'heidi');
    t.clock.advance(120_000);
    const late = await t.api.post('/login', {
      username: 'heidi',
      code: totpAt(u.secret, t.clock.now() - 30_000),
    });
    expect(late.status).toBe(200);
    t.clock.advance(120_000);
    const tooOld = await t.api.post('/login', {
      username: 'heidi',
      code: totpAt(u.secret, t.clock.now() - 60_000),
    });
    expect(tooOld.body.error).toBe('invalid_code');
    const early = await t.api.post('/login', {
      username: 'heidi',
      code: totpAt(u.secret, t.clock.now() + 30_000),
    });
    expect(early.status).toBe(200);
  });

  it('accepts one step once even under concurrent logins', async () => {
    const u = await registerUser(t.api, t.clock, 'ivan');
    t.clock.advance(30_000);
    const code = totpAt(u.secret, t.clock.now());
    const results = await Promise.all(
      Array.from({ length: 6 }, () => t.api.post('/login', { username: 'ivan', code })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    // The others are replays (code_reused); replays count as failures, so after three the
    // account is briefly delayed (locked) — either way none of them got a session.
    for (const r of results.filter((x) => x.status !== 200))
      expect(['code_reused', 'locked']).toContain(r.body.error);
    expect(results.filter((r) => r.body.error === 'code_reused').length).toBeGreaterThanOrEqual(3);
  });

  it('answers an unknown user distinctly', async () => {
    const res = await t.api.post('/login', { username: 'nobody_here', code: '123456' });
    expect([res.status, res.body.error]).toEqual([404, 'unknown_user']);
  });

  it('logs in with a recovery code once only; format is forgiving', async () => {
    const u = await registerUser(t.api, t.clock, 'judy');
    const [c0, c1] = u.recoveryCodes as [string, string];
    const ok = await t.api.post('/login', { username: 'judy', code: c0 });
    expect(ok.status).toBe(200);
    const again = await t.api.post('/login', { username: 'judy', code: c0 });
    expect([again.status, again.body.error]).toEqual([401, 'invalid_code']);
    const loose = await t.api.post('/login', {
      username: 'JUDY',
      code: ` ${c1.toUpperCase().replace(/-/g, ' ')} `,
    });
    expect(loose.status).toBe(200);
    const bogus = await t.api.post('/login', { username: 'judy', code: 'aaaa-bbbb-cccc-dddd' });
    expect(bogus.body.error).toBe('invalid_code');
    const { rows } = await t.deps.pool.query(
      'SELECT count(*)::int AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NOT NULL',
      [u.id],
    );
    expect(rows[0].n).toBe(2);
  });
});

describe('sessions', () => {
  it('logout ends this session at once; other sessions keep working', async () => {
    const u = await registerUser(t.api, t.clock, 'ken');
    const second = await loginNextStep(t.api, t.clock, u);
    expect((await t.api.get('/me', { token: u.access })).status).toBe(200);
    expect((await t.api.post('/logout', undefined, { token: u.access })).status).toBe(204);
    const after = await t.api.get('/me', { token: u.access });
    expect([after.status, after.body.error]).toEqual([401, 'session_revoked']);
    const refresh = await t.api.post('/session/refresh', { refresh_token: u.refresh });
    expect(refresh.body.error).toBe('session_revoked');
    expect((await t.api.get('/me', { token: second.body.access_token })).status).toBe(200);
  });

  it('logout/all ends every session of the user at once, and no one else’s', async () => {
    const u = await registerUser(t.api, t.clock, 'lena');
    const other = await registerUser(t.api, t.clock, 'mallory');
    const s2 = await loginNextStep(t.api, t.clock, u);
    const s3 = await loginNextStep(t.api, t.clock, u);
    expect((await t.api.post('/logout/all', undefined, { token: s2.body.access_token })).status).toBe(204);
    for (const token of [u.access, s2.body.access_token, s3.body.access_token]) {
      const r = await t.api.get('/me', { token });
      expect([r.status, r.body.error]).toEqual([401, 'session_revoked']);
    }
    expect((await t.api.post('/session/refresh', { refresh_token: s3.body.refresh_token })).status).toBe(401);
    expect((await t.api.get('/me', { token: other.access })).status).toBe(200);
    expect((await loginNextStep(t.api, t.clock, u)).status).toBe(200);
  });

  it('rotates refresh tokens; reusing a rotated one revokes the whole session', async () => {
    const u = await registerUser(t.api, t.clock, 'nina');
    const r1 = await t.api.post('/session/refresh', { refresh_token: u.refresh });
    expect(r1.status).toBe(200);
    expect(r1.body.refresh_token).not.toBe(u.refresh);
    expect((await t.api.get('/me', { token: r1.body.access_token })).status).toBe(200);
    const r2 = await t.api.post('/session/refresh', { refresh_token: r1.body.refresh_token });
    expect(r2.status).toBe(200);
    // A thief replays the first token: the session is ended for everyone holding it.
    const reuse = await t.api.post('/session/refresh', { refresh_token: u.refresh });
    expect([reuse.status, reuse.body.error]).toEqual([401, 'refresh_token_reused']);
    expect((await t.api.post('/session/refresh', { refresh_token: r2.body.refresh_token })).body.error).toBe(
      'session_revoked',
    );
    expect((await t.api.get('/me', { token: r2.body.access_token })).body.error).toBe('session_revoked');
    const unknown = await t.api.post('/session/refresh', { refresh_token: 'A'.repeat(43) });
    expect(unknown.body.error).toBe('invalid_refresh_token');
  });

  // The client's own random id of one exchange (spec/openapi.yaml POST /session/refresh).
  const refreshId = () => randomBytes(16).toString('base64url');
  const refresh = (token: string, id?: string) =>
    t.api.post(
      '/session/refresh',
      id === undefined ? { refresh_token: token } : { refresh_token: token, refresh_id: id },
    );

  it('a refresh whose answer was lost is made again by its client: answered, the session lives', async () => {
    const u = await registerUser(t.api, t.clock, 'lostanswer');
    // The relay rotates the token, but its answer never reaches the client (a dropped link, a
    // request given up at its deadline): the client still holds only the first token, and
    // retries the exchange with the same id.
    const id = refreshId();
    const lost = await refresh(u.refresh, id);
    expect(lost.status).toBe(200);
    t.clock.advance(45_000);
    const again = await refresh(u.refresh, id);
    expect(again.status).toBe(200);
    expect(again.body.refresh_token).not.toBe(lost.body.refresh_token);
    expect((await t.api.get('/me', { token: again.body.access_token })).status).toBe(200);
    const next = await refresh(again.body.refresh_token, refreshId());
    expect(next.status).toBe(200);
    // The answer that was lost is worth nothing now: whoever holds its token (read off the wire)
    // ends the session by presenting it.
    const stolen = await refresh(lost.body.refresh_token, refreshId());
    expect([stolen.status, stolen.body.error]).toEqual([401, 'refresh_token_reused']);
    expect((await t.api.get('/me', { token: next.body.access_token })).body.error).toBe('session_revoked');
  });

  it('a copy of a refresh token presented within the window, with another id or none, is reuse either way round', async () => {
    // The thief first: the owner's next refresh (its own id) ends the session, and with it the
    // thief's access token.
    const a = await registerUser(t.api, t.clock, 'thieffirst');
    const thief = await refresh(a.refresh, refreshId());
    expect(thief.status).toBe(200);
    t.clock.advance(10_000);
    const owner = await refresh(a.refresh, refreshId());
    expect([owner.status, owner.body.error]).toEqual([401, 'refresh_token_reused']);
    expect((await t.api.get('/me', { token: thief.body.access_token })).body.error).toBe('session_revoked');
    // The owner first: the thief's replay ends it, with or without an id.
    for (const [name, id] of [
      ['ownerfirst', refreshId()],
      ['ownerfirst2', undefined],
    ] as const) {
      const b = await registerUser(t.api, t.clock, name);
      const mine = await refresh(b.refresh, refreshId());
      expect(mine.status).toBe(200);
      const replay = await refresh(b.refresh, id);
      expect([replay.status, replay.body.error]).toEqual([401, 'refresh_token_reused']);
      expect((await t.api.get('/me', { token: mine.body.access_token })).body.error).toBe('session_revoked');
    }
    // An exchange made without an id cannot be retried at all.
    const c = await registerUser(t.api, t.clock, 'noid');
    expect((await refresh(c.refresh)).status).toBe(200);
    expect((await refresh(c.refresh)).body.error).toBe('refresh_token_reused');
  });

  it('a retry after the retry window, or after the new token was used, is reuse and ends the session', async () => {
    const u = await registerUser(t.api, t.clock, 'latereuse');
    const id = refreshId();
    const r1 = await refresh(u.refresh, id);
    expect(r1.status).toBe(200);
    t.clock.advance(REFRESH_RETRY_WINDOW_SECONDS * 1000 + 1);
    const late = await refresh(u.refresh, id);
    expect([late.status, late.body.error]).toEqual([401, 'refresh_token_reused']);
    expect((await refresh(r1.body.refresh_token, refreshId())).body.error).toBe('session_revoked');

    const v = await registerUser(t.api, t.clock, 'usedreuse');
    const vid = refreshId();
    const v1 = await refresh(v.refresh, vid);
    expect((await refresh(v1.body.refresh_token, refreshId())).status).toBe(200);
    const afterUse = await refresh(v.refresh, vid);
    expect([afterUse.status, afterUse.body.error]).toEqual([401, 'refresh_token_reused']);
  });

  it('retries do not stretch the window: it counts from the first exchange', async () => {
    const u = await registerUser(t.api, t.clock, 'stretch');
    const id = refreshId();
    expect((await refresh(u.refresh, id)).status).toBe(200);
    t.clock.advance(100_000);
    expect((await refresh(u.refresh, id)).status).toBe(200);
    t.clock.advance(REFRESH_RETRY_WINDOW_SECONDS * 1000 - 100_000 + 1);
    expect((await refresh(u.refresh, id)).body.error).toBe('refresh_token_reused');
  });

  it('two concurrent refreshes with one token: one wins, the other is reuse and ends the session', async () => {
    const u = await registerUser(t.api, t.clock, 'racer');
    const [a, b] = await Promise.all([refresh(u.refresh, refreshId()), refresh(u.refresh, refreshId())]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 401]);
    const loser = a.status === 401 ? a : b;
    const winner = a.status === 200 ? a : b;
    expect(loser.body.error).toBe('refresh_token_reused');
    expect((await t.api.get('/me', { token: winner.body.access_token })).body.error).toBe('session_revoked');
  });

  it('one client retrying while its first try is still running: both answered, one token live', async () => {
    const u = await registerUser(t.api, t.clock, 'retryrace');
    const id = refreshId();
    const [a, b] = await Promise.all([refresh(u.refresh, id), refresh(u.refresh, id)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    // The later exchange retired the earlier one's token (which is which depends on the commits).
    const sha = (token: string) => createHash('sha256').update(token, 'utf8').digest();
    const { rows } = await t.deps.pool.query<{ token_hash: Buffer; rotated_at: Date | null }>(
      'SELECT token_hash, rotated_at FROM refresh_tokens WHERE token_hash = ANY($1)',
      [[sha(a.body.refresh_token), sha(b.body.refresh_token)]],
    );
    expect(rows.map((r) => r.rotated_at === null).sort()).toEqual([false, true]);
    const liveHash = rows.find((r) => r.rotated_at === null)?.token_hash as Buffer;
    const [live, retired] = liveHash.equals(sha(a.body.refresh_token)) ? [a, b] : [b, a];
    expect((await t.api.get('/me', { token: live.body.access_token })).status).toBe(200);
    const reuse = await refresh(retired.body.refresh_token, refreshId());
    expect([reuse.status, reuse.body.error]).toEqual([401, 'refresh_token_reused']);
    expect((await refresh(live.body.refresh_token, refreshId())).body.error).toBe('session_revoked');
  });

  it('a refresh racing the removal of its device neither deadlocks nor fails', async () => {
    // Device removal locks the device's row, then its sessions' (src/devices/store.ts
    // removeDevices); a refresh locks its session, then marks the device seen. Here a removal
    // holds the device row while a refresh of that device's session runs, then goes on to the
    // session, as removeDevices does.
    const u = await registerUser(t.api, t.clock, 'removalrace');
    const keys = await t.api.post('/keys', deviceUpload(identityFor('removalrace')), { token: u.access });
    expect(keys.status, keys.text).toBe(200);
    const { rows } = await t.deps.pool.query<{ id: string; device_id: number }>(
      'SELECT id, device_id FROM sessions WHERE user_id = $1',
      [u.id],
    );
    const session = rows[0] as { id: string; device_id: number };
    const removal = await t.deps.pool.connect();
    let watching = true;
    try {
      await removal.query('BEGIN');
      await removal.query('SELECT 1 FROM devices WHERE user_id = $1 AND device_id = $2 FOR UPDATE', [
        u.id,
        session.device_id,
      ]);
      const refreshing = refresh(u.refresh, refreshId());
      // The refresh either answers while the device row is held, or waits for it (a lock wait
      // shows in pg_stat_activity); either way the removal then goes on to the session.
      const waits = async () => {
        while (watching) {
          const w = await t.deps.pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          );
          if ((w.rows[0]?.n ?? 0) > 0) return;
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await Promise.race([refreshing, waits()]);
      await removal.query(
        `UPDATE sessions SET revoked_at = now(), revoked_reason = 'device_removed' WHERE id = $1`,
        [session.id],
      );
      await removal.query('COMMIT');
      const answer = await refreshing;
      expect([answer.status, answer.body.error]).toEqual([200, undefined]);
    } finally {
      watching = false;
      await removal.query('ROLLBACK').catch(() => undefined);
      removal.release();
    }
  });

  it('refuses a malformed refresh_id with 400', async () => {
    const u = await registerUser(t.api, t.clock, 'badid');
    for (const bad of ['short', 'x'.repeat(65), 'has space in it 0123456789', 12345]) {
      const r = await t.api.post('/session/refresh', { refresh_token: u.refresh, refresh_id: bad });
      expect([r.status, r.body.error]).toEqual([400, 'invalid_request']);
    }
  });

  it('stores only hashes of refresh tokens', async () => {
    const u = await registerUser(t.api, t.clock, 'oscar');
    const { rows } = await t.deps.pool.query(
      'SELECT t.token_hash FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = $1',
      [u.id],
    );
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0].token_hash).toString('base64url')).not.toBe(u.refresh);
    const dump = JSON.stringify((await t.deps.pool.query('SELECT * FROM refresh_tokens')).rows);
    expect(dump).not.toContain(u.refresh);
  });

  it('caps live sessions per user, revoking the oldest', async () => {
    const capped = await startTestApp({
      databaseUrl: db.url,
      clock: t.clock,
      env: { MAX_SESSIONS_PER_USER: '2' },
    });
    try {
      const u = await registerUser(capped.api, t.clock, 'peggy');
      const s2 = await loginNextStep(capped.api, t.clock, u);
      const s3 = await loginNextStep(capped.api, t.clock, u);
      expect((await capped.api.get('/me', { token: u.access })).body.error).toBe('session_revoked');
      expect((await capped.api.get('/me', { token: s2.body.access_token })).status).toBe(200);
      expect((await capped.api.get('/me', { token: s3.body.access_token })).status).toBe(200);
    } finally {
      await capped.close();
    }
  });
});
