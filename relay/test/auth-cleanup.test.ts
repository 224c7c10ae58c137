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
});
