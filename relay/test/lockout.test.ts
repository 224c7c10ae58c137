// Throttling of failed logins, stored in PostgreSQL: it holds across two app instances on one
// database and across a restart (a new instance), per (account, IP), per account and per IP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { fromIp, registerUser } from './helpers/auth-flow.js';
import { TestClock } from './helpers/clock.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { totpAt } from './helpers/totp-reference.js';

let db: TestDatabase;
const clock = new TestClock();
const open: TestApp[] = [];
const start = async (env: Record<string, string> = {}) => {
  const app = await startTestApp({ databaseUrl: db.url, clock, env });
  open.push(app);
  return app;
};

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(async () => {
  for (const a of open) await a.close().catch(() => undefined);
  await db?.drop();
});

const wrongCode = (secret: string) => {
  // A 6-digit code that is not valid for the current step or its neighbours.
  const valid = new Set([-30_000, 0, 30_000].map((d) => totpAt(secret, clock.now() + d)));
  for (let i = 0; ; i++) {
    const c = String(100000 + i);
    if (!valid.has(c)) return c;
  }
};

describe('per-(account, IP) lockout', () => {
  it('locks the pair after 10 failures across two instances, holds across a restart, then expires', async () => {
    const a = await start();
    const b = await start();
    const u = await registerUser(a.api, clock, 'victim');
    // From one IP (below its own limit of 30), waiting out the short delays. Other IPs stay
    // free: test/trust-path.test.ts "lockout without a denial-of-service lever".
    for (let i = 1; i <= 10; i++) {
      clock.advance(61_000);
      const app = i % 2 ? a : b;
      const r = await app.api.post(
        '/login',
        { username: 'victim', code: wrongCode(u.secret) },
        { headers: fromIp('203.0.113.1') },
      );
      expect([i, r.status, r.body.error]).toEqual([i, 401, 'invalid_code']);
    }
    clock.advance(30_000);
    const good = () => ({ username: 'victim', code: totpAt(u.secret, clock.now()) });
    for (const app of [a, b]) {
      const r = await app.api.post('/login', good(), { headers: fromIp('203.0.113.1') });
      expect([r.status, r.body.error]).toEqual([429, 'locked']);
      expect(r.body.retry_after_seconds).toBeGreaterThan(800);
      expect(r.body.retry_after_seconds).toBeLessThanOrEqual(900);
      expect(Number(r.headers.get('retry-after'))).toBe(r.body.retry_after_seconds);
    }
    // Restart: both instances gone, a new one on the same database.
    await a.close();
    await b.close();
    const c = await start();
    const afterRestart = await c.api.post('/login', good(), { headers: fromIp('203.0.113.1') });
    expect(afterRestart.body.error).toBe('locked');
    // Locked attempts are not evaluated and do not extend the lock.
    clock.advance(900_000);
    const ok = await c.api.post('/login', good(), { headers: fromIp('203.0.113.1') });
    expect(ok.status).toBe(200);
  });

  it('grows the delays before the lockout and doubles the lock after it', async () => {
    const app = await start();
    const u = await registerUser(app.api, clock, 'grower');
    // One (account, IP) pair: `_ip` only labels the attempt.
    const attempt = (_ip: string) =>
      app.api.post(
        '/login',
        { username: 'grower', code: wrongCode(u.secret) },
        { headers: fromIp('192.0.2.1') },
      );
    clock.advance(61_000);
    for (let i = 1; i <= 2; i++) expect((await attempt(`192.0.2.${i}`)).body.error).toBe('invalid_code');
    // 3rd failure → 1 s delay, 4th → 2 s, 5th → 4 s.
    const waits: number[] = [];
    for (let i = 3; i <= 5; i++) {
      expect((await attempt(`192.0.2.${i}`)).body.error).toBe('invalid_code');
      const blocked = await attempt(`192.0.2.${i}`);
      expect(blocked.body.error).toBe('locked');
      waits.push(blocked.body.retry_after_seconds);
      clock.advance(blocked.body.retry_after_seconds * 1000);
    }
    expect(waits).toEqual([1, 2, 4]);
    for (let i = 6; i <= 10; i++) {
      clock.advance(61_000);
      expect((await attempt(`192.0.2.${i}`)).body.error).toBe('invalid_code');
    }
    expect((await attempt('192.0.2.50')).body.retry_after_seconds).toBe(900);
    clock.advance(900_000);
    expect((await attempt('192.0.2.51')).body.error).toBe('invalid_code'); // 11th failure
    expect((await attempt('192.0.2.52')).body.retry_after_seconds).toBe(1800);
  });

  it('throttles registration confirmation guesses the same way', async () => {
    const app = await start();
    const reg = await app.api.post('/register', { username: 'pending_p' });
    for (let i = 1; i <= 3; i++) {
      const r = await app.api.post(
        '/register/confirm',
        { username: 'pending_p', code: wrongCode(reg.body.secret) },
        { headers: fromIp('198.18.0.1') },
      );
      expect(r.body.error).toBe('invalid_code');
    }
    const r = await app.api.post(
      '/register/confirm',
      { username: 'pending_p', code: totpAt(reg.body.secret, clock.now()) },
      { headers: fromIp('198.18.0.1') },
    );
    expect([r.status, r.body.error]).toEqual([429, 'locked']);
  });
});

describe('per-IP lockout', () => {
  it('locks a client IP after 30 failures on any accounts; other IPs are unaffected', async () => {
    const app = await start();
    const u = await registerUser(app.api, clock, 'bystander');
    const ip = '100.64.0.9';
    for (let i = 1; i <= 30; i++) {
      clock.advance(61_000);
      const r = await app.api.post(
        '/login',
        { username: `probe_${i}`, code: '123456' },
        { headers: fromIp(ip) },
      );
      expect([i, r.body.error]).toEqual([i, 'unknown_user']);
    }
    clock.advance(30_000);
    const code = () => totpAt(u.secret, clock.now());
    const blocked = await app.api.post(
      '/login',
      { username: 'bystander', code: code() },
      { headers: fromIp(ip) },
    );
    expect([blocked.status, blocked.body.error]).toEqual([429, 'locked']);
    const elsewhere = await app.api.post(
      '/login',
      { username: 'bystander', code: code() },
      { headers: fromIp('100.64.0.10') },
    );
    expect(elsewhere.status).toBe(200);
  });

  it('attack: a lock is no quiet hour — past the 1 h lock, each failure locks the address again instead of the count starting over', async () => {
    // IP failures are forgotten after an hour without one; a lock of an hour is itself an hour
    // without failures (locked attempts are not evaluated). An address that came back just after
    // its 1 h lock found its count forgotten and a fresh budget of 30: about 32 probes every two
    // hours for ever. Now it has one attempt an hour (the address's lock stops at 1 h).
    const app = await start();
    const ip = '100.64.7.7';
    let n = 0;
    /** One evaluated failure, after waiting out whatever lock or delay the address is under. */
    const failOnce = async (): Promise<void> => {
      for (;;) {
        const r = await app.api.post(
          '/login',
          { username: `probe_${++n}`, code: '123456' },
          { headers: fromIp(ip) },
        );
        if (r.status === 404) return;
        expect(r.body.error).toBe('locked');
        clock.advance(r.body.retry_after_seconds * 1000);
      }
    };
    for (let i = 1; i <= 32; i++) await failOnce();
    const locked = await app.api.post(
      '/login',
      { username: 'probe_x', code: '123456' },
      { headers: fromIp(ip) },
    );
    expect([locked.body.error, locked.body.retry_after_seconds]).toEqual(['locked', 3600]);
    clock.advance(3_601_000); // back one second after the lock ends
    for (let round = 0; round < 3; round++) {
      const probe = (name: string) =>
        app.api.post('/login', { username: `${name}${round}`, code: '123456' }, { headers: fromIp(ip) });
      expect((await probe('probe_y')).status).toBe(404);
      const next = await probe('probe_z');
      expect([next.status, next.body.error, next.body.retry_after_seconds]).toEqual([429, 'locked', 3600]);
      clock.advance(3_601_000);
    }
  });

  it('ignores X-Forwarded-For when the proxy is not trusted, so the IP limit cannot be dodged', async () => {
    const app = await start({ TRUST_PROXY: '', LOGIN_IP_MAX_FAILURES: '3' });
    // Clear any IP state the loopback address has from other tests in this file.
    await app.deps.pool.query(`DELETE FROM login_throttle WHERE scope = 'ip'`);
    for (let i = 1; i <= 3; i++) {
      clock.advance(61_000);
      const r = await app.api.post(
        '/login',
        { username: `spoof_${i}`, code: '123456' },
        { headers: fromIp(`10.9.9.${i}`) },
      );
      expect(r.body.error).toBe('unknown_user');
    }
    const r = await app.api.post(
      '/login',
      { username: 'spoof_x', code: '123456' },
      { headers: fromIp('10.9.9.99') },
    );
    expect(r.body.error).toBe('locked');
    const { rows } = await app.deps.pool.query(`SELECT key FROM login_throttle WHERE scope = 'ip'`);
    expect(rows.map((x) => x.key)).toEqual(['127.0.0.1']);
  });
});

describe('registration rate per IP', () => {
  it('allows REGISTER_IP_PER_HOUR registrations per client IP per hour, then 429 rate_limited', async () => {
    const app = await start({ REGISTER_IP_PER_HOUR: '3' });
    const ip = fromIp('100.64.7.7');
    for (let i = 1; i <= 3; i++)
      expect((await app.api.post('/register', { username: `squat_${i}` }, { headers: ip })).status).toBe(201);
    // A taken name still counts: probing is limited too.
    clock.advance(60_000);
    const fourth = await app.api.post('/register', { username: 'squat_4' }, { headers: ip });
    expect([fourth.status, fourth.body.error]).toEqual([429, 'rate_limited']);
    expect(fourth.body.retry_after_seconds).toBe(3540);
    expect(fourth.headers.get('retry-after')).toBe('3540');
    expect(
      (await app.api.post('/register', { username: 'squat_5' }, { headers: fromIp('100.64.7.8') })).status,
    ).toBe(201);
    clock.advance(3540_000);
    expect((await app.api.post('/register', { username: 'squat_4' }, { headers: ip })).status).toBe(201);
  });

  it('counts an IPv6 client by its /64, the block one subscriber holds, and an IPv4-mapped one as IPv4', async () => {
    const app = await start({ REGISTER_IP_PER_HOUR: '3' });
    // Three addresses of one /64 (each its own in a subscriber's prefix), then a fourth.
    const statuses: number[] = [];
    for (const [i, ip] of [
      '2001:db8:1:2::1',
      '2001:db8:1:2::2',
      '2001:DB8:1:2:ffff::9',
      '2001:db8:1:2:0:0:0:8',
    ].entries())
      statuses.push(
        (await app.api.post('/register', { username: `six_${i}` }, { headers: fromIp(ip) })).status,
      );
    expect(statuses).toEqual([201, 201, 201, 429]);
    // Another /64 is another client.
    expect(
      (await app.api.post('/register', { username: 'six_x' }, { headers: fromIp('2001:db8:1:3::1') })).status,
    ).toBe(201);
    // An IPv4 address written as IPv4-mapped IPv6 is that IPv4 address.
    for (let i = 0; i < 3; i++)
      expect(
        (await app.api.post('/register', { username: `four_${i}` }, { headers: fromIp('100.64.9.9') }))
          .status,
      ).toBe(201);
    const mapped = await app.api.post(
      '/register',
      { username: 'four_m' },
      { headers: fromIp('::ffff:100.64.9.9') },
    );
    expect(mapped.status).toBe(429);
  });
});
