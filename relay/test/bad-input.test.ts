// Bad input on every auth route gives a 4xx JSON {"error","message"} that conforms to the
// spec — never a 500, never a stack trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { registerUser, type TestUser } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let t: TestApp;
let user: TestUser;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({ databaseUrl: db.url });
  user = await registerUser(t.api, t.clock, 'matrix_user');
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

const JSON_CT = { 'content-type': 'application/json' };
const routes = ['/register', '/register/confirm', '/login', '/session/refresh'];

// [label, raw body, headers]
const rawCases: [string, string, Record<string, string>][] = [
  ['invalid JSON', '{"username": ', JSON_CT],
  ['JSON string', '"alice"', JSON_CT],
  ['JSON number', '42', JSON_CT],
  ['JSON null', 'null', JSON_CT],
  ['JSON array', '[{"username":"alice"}]', JSON_CT],
  ['empty object', '{}', JSON_CT],
  ['empty body', '', JSON_CT],
  ['text/plain', 'username=alice', { 'content-type': 'text/plain' }],
  ['form encoded', 'username=alice&code=123456', { 'content-type': 'application/x-www-form-urlencoded' }],
  ['no content type', '{"username":"alice"}', {}],
  ['oversized', JSON.stringify({ username: 'a'.repeat(5000), code: '1' }), JSON_CT],
  ['deep nesting', `${'['.repeat(500)}${']'.repeat(500)}`, JSON_CT],
  ['non-UTF charset', '{"username":"alice"}', { 'content-type': 'application/json; charset=latin1' }],
  ['gzip claimed', '{"username":"alice"}', { ...JSON_CT, 'content-encoding': 'gzip' }],
  ['unknown encoding', '{"username":"alice"}', { ...JSON_CT, 'content-encoding': 'br2' }],
];

const objectCases: [string, unknown][] = [
  ['username number', { username: 7, code: '123456', refresh_token: 1 }],
  ['username null', { username: null, code: null, refresh_token: null }],
  ['username object', { username: { $ne: '' }, code: ['123456'], refresh_token: {} }],
  ['extra field', { username: 'alice', code: '123456', refresh_token: 'x', admin: true }],
  ['empty strings', { username: '', code: '', refresh_token: '' }],
  ['huge code', { username: 'alice', code: '1'.repeat(65), refresh_token: 'x'.repeat(257) }],
  ['NUL bytes', { username: 'al\u0000ice', code: '12\u000034', refresh_token: '\u0000' }],
  ['lone surrogate', { username: 'a\ud800b', code: '\udfff', refresh_token: '\ud800' }],
  ['__proto__', JSON.parse('{"__proto__": {"polluted": true}, "username": "alice", "code": "1"}')],
];

function expectClientError(label: string, r: { status: number; body: unknown; text: string }) {
  expect(r.status, `${label}: ${r.text}`).toBeGreaterThanOrEqual(400);
  expect(r.status, `${label}: ${r.text}`).toBeLessThan(500);
  const body = r.body as { error?: unknown; message?: unknown };
  expect(typeof body.error, label).toBe('string');
  expect(typeof body.message, label).toBe('string');
  expect(r.text).not.toMatch(/at .+\.(ts|js):\d+|node_modules|stack/i);
}

describe('bad input matrix', () => {
  for (const route of routes) {
    it.each(rawCases)(`${route}: %s → 4xx JSON`, async (label, raw, headers) => {
      expectClientError(label, await t.api.post(route, undefined, { raw, headers }));
    });
    it.each(objectCases)(`${route}: %s → 4xx JSON`, async (label, body) => {
      expectClientError(label, await t.api.post(route, body));
    });
  }

  it('oversized bodies are 413 payload_too_large', async () => {
    const r = await t.api.post('/login', { username: 'a', code: 'x'.repeat(5000) });
    expect([r.status, r.body.error]).toEqual([413, 'payload_too_large']);
  });

  it('malformed JSON is 400 invalid_json; failed validation 400 invalid_request', async () => {
    expect((await t.api.post('/login', undefined, { raw: '{', headers: JSON_CT })).body.error).toBe(
      'invalid_json',
    );
    expect((await t.api.post('/login', { username: 1 })).body.error).toBe('invalid_request');
  });

  it.each([
    ['no header', {}],
    ['not bearer', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['garbage bearer', { authorization: 'Bearer not-a-jwt' }],
    ['two tokens', { authorization: 'Bearer a.b.c, Bearer d.e.f' }],
    ['huge token', { authorization: `Bearer ${'a'.repeat(4000)}.b.c` }],
  ])('protected routes with %s → 401 JSON', async (label, headers) => {
    for (const [method, path] of [
      ['GET', '/me'],
      ['POST', '/logout'],
      ['POST', '/logout/all'],
    ] as const) {
      const r = await t.api.request(method, path, undefined, { headers });
      expect(r.status, label).toBe(401);
      expectClientError(label, r);
    }
  });

  it('the test user still works after the matrix (nothing was corrupted)', async () => {
    expect((await t.api.get('/me', { token: user.access })).status).toBe(200);
  });
});
