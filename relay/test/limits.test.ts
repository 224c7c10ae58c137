// Properties of the boundary helpers: base64 fields decode exactly and refuse anything else;
// the PostgreSQL token bucket never grants more than burst + rate × elapsed, and refills.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64Bytes } from '../src/http/base64.js';
import { takeToken } from '../src/limits/token-bucket.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { makeDeviceUser } from './helpers/relay-data.js';

describe('base64Bytes', () => {
  const schema = base64Bytes(64);

  it('round-trips every byte string of 1..64 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        const out = schema.parse(Buffer.from(bytes).toString('base64'));
        expect(new Uint8Array(out)).toEqual(bytes);
      }),
    );
  });

  it('refuses oversize, empty, unpadded, url-safe and whitespace-carrying text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 65, maxLength: 200 }), (bytes) => {
        expect(schema.safeParse(Buffer.from(bytes).toString('base64')).success).toBe(false);
      }),
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 40 }),
        fc.constantFrom(' ', '\n', '-', '_', '.', '%'),
        fc.nat(),
        (bytes, bad, at) => {
          const text = Buffer.from(bytes).toString('base64');
          const i = at % (text.length + 1);
          expect(schema.safeParse(text.slice(0, i) + bad + text.slice(i)).success).toBe(false);
        },
      ),
    );
    for (const text of ['', 'QQ', 'QUI', '====', 'QQ=', 'Q==='])
      expect(schema.safeParse(text).success).toBe(false);
  });
});

describe('token bucket in PostgreSQL', () => {
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

  it('contact and block list changes: LIST_CHANGE_BURST of them, then 429 with Retry-After, and the refused one changes nothing', async () => {
    const user = await makeDeviceUser(t);
    const other = await makeDeviceUser(t);
    const { burst } = t.deps.config.messaging.listChange;
    for (let i = 0; i < burst / 2; i++) {
      expect(
        (await t.api.post('/contacts', { username: other.username }, { token: user.token })).status,
      ).toBe(201);
      expect((await t.api.delete(`/contacts/${other.username}`, { token: user.token })).status).toBe(204);
    }
    const refused = await t.api.post('/blocks', { username: other.username }, { token: user.token });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'rate_limited', retry_after_seconds: expect.any(Number) });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await t.api.get('/blocks', { token: user.token })).body.blocks).toEqual([]);
  });

  it('POST /contacts and POST /blocks spend the token before looking the name up: an unknown name is limited too, and an empty bucket does not tell names apart', async () => {
    // Attack: with the lookup first, an unknown name was 404 at no cost, and once the bucket was
    // empty a known name was 429 while an unknown one was still 404: an unlimited name probe.
    const user = await makeDeviceUser(t);
    const other = await makeDeviceUser(t);
    const { burst } = t.deps.config.messaging.listChange;
    for (let i = 0; i < burst; i++) {
      const path = i % 2 ? '/contacts' : '/blocks';
      expect((await t.api.post(path, { username: `nobody_${i}` }, { token: user.token })).status).toBe(404);
    }
    for (const path of ['/contacts', '/blocks']) {
      const unknown = await t.api.post(path, { username: 'nobody_else' }, { token: user.token });
      const known = await t.api.post(path, { username: other.username }, { token: user.token });
      expect(unknown.status).toBe(429);
      expect(known.status).toBe(429);
      expect(unknown.body.error).toBe(known.body.error);
    }
  });

  it('grants at most burst + rate × elapsed, and a full bucket after burst / rate seconds', async () => {
    const user = await makeDeviceUser(t);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 1500 }), { minLength: 1, maxLength: 25 }),
        async (burst, perSecond, gaps) => {
          const spec = { name: `p${randomUUID()}`, burst, perSecond };
          let now = Date.UTC(2026, 0, 1);
          const start = now;
          let granted = 0;
          for (const gap of gaps) {
            now += gap;
            const r = await takeToken(t.deps.pool, user.id, spec, new Date(now));
            if (r.ok) granted++;
            else expect(r.retryAfterSeconds).toBeGreaterThanOrEqual(1);
          }
          expect(granted).toBeLessThanOrEqual(burst + (perSecond * (now - start)) / 1000 + 1e-9);
          // After burst / perSecond seconds of rest, `burst` takes in a row succeed.
          now += Math.ceil((burst / perSecond) * 1000);
          for (let i = 0; i < burst; i++)
            expect((await takeToken(t.deps.pool, user.id, spec, new Date(now))).ok).toBe(true);
          expect((await takeToken(t.deps.pool, user.id, spec, new Date(now))).ok).toBe(false);
        },
      ),
      { numRuns: 30 },
    );
  });
});
