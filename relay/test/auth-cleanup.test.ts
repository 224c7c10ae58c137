// The auth housekeeping run by the retention sweep removes only what is finished.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepAuthState } from '../src/auth/cleanup.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { fromIp, registerUser } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let t: TestApp;
const DAY = 86_400_000;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({ databaseUrl: db.url });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

const count = async (sql: string, params: unknown[] = []) =>
  (await t.deps.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params)).rows[0]?.n;

describe('sweepAuthState', () => {
  it('deletes ended sessions, old rotated tokens, quiet throttle rows and expired registrations only', async () => {
    const live = await registerUser(t.api, t.clock, 'keeper');
    const gone = await registerUser(t.api, t.clock, 'leaver');
    await t.api.post('/logout', undefined, { token: gone.access });
    await t.api.post('/session/refresh', { refresh_token: live.refresh }); // one rotated token
    await t.api.post('/register', { username: 'never_confirmed' });
    await t.api.post('/login', { username: 'keeper', code: '000000' }, { headers: fromIp('192.0.2.9') });
    expect(await count(`login_throttle WHERE failures > 0`)).toBe(3); // account, (account, IP), IP

    // Same day: nothing finished long enough ago.
    const early = await sweepAuthState(t.deps, new Date(t.clock.now() + 60_000));
    expect(early.sessions).toBe(0);
    expect(early.refreshTokens).toBe(0);

    const later = await sweepAuthState(t.deps, new Date(t.clock.now() + 8 * DAY));
    expect(later.sessions).toBe(1); // the logged-out one
    expect(later.refreshTokens).toBe(1); // the rotated one
    expect(later.pending).toBe(1);
    expect(await count(`users WHERE username = 'never_confirmed'`)).toBe(0);
    expect(await count('login_throttle WHERE failures > 0')).toBe(0);
    expect(await count('sessions WHERE user_id = $1', [gone.id])).toBe(0);
    // The live session keeps its current refresh token.
    t.clock.advance(60_000);
    const { rows } = await t.deps.pool.query(
      'SELECT count(*)::int AS n FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE s.user_id = $1',
      [live.id],
    );
    expect(rows[0].n).toBe(1);
  });

  it('attack: a 24 h lock is no quiet day — the sweep keeps the row until a day after the lock ends', async () => {
    // Account and pair failures are forgotten after a day without one, and a lock reaches 24 h:
    // the sweep used to delete the row as the lock ended, handing back the whole budget.
    const u = await registerUser(t.api, t.clock, 'guessed');
    const now = t.clock.now();
    for (const [scope, key] of [
      ['user', u.id],
      ['user_ip', `${u.id}|198.51.100.7`],
    ])
      await t.deps.pool.query(
        `INSERT INTO login_throttle (scope, key, failures, last_failure_at, locked_until)
         VALUES ($1, $2, 20, $3, $4)
         ON CONFLICT (scope, key) DO UPDATE
           SET failures = 20, last_failure_at = EXCLUDED.last_failure_at, locked_until = EXCLUDED.locked_until`,
        [scope, key, new Date(now), new Date(now + DAY)],
      );
    const held = () => count(`login_throttle WHERE key LIKE $1 || '%' AND failures = 20`, [u.id]);
    expect(await held()).toBe(2);
    await sweepAuthState(t.deps, new Date(now + DAY + 1000)); // the lock has just ended
    expect(await held()).toBe(2);
    await sweepAuthState(t.deps, new Date(now + 2 * DAY + 1000)); // a quiet day after it
    expect(await held()).toBe(0);
  });
});
