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

  it('a validation error never echoes what the client sent, field names included, and stays short', async () => {
    // A code or token sent under the wrong name is still a secret.
    const misplaced = await t.api.post('/login', {
      username: 'abc',
      code: '123456',
      '483920': 'x',
      'my-token': 1,
    });
    expect([misplaced.status, misplaced.body.error]).toEqual([400, 'invalid_request']);
    expect(misplaced.text).not.toContain('483920');
    expect(misplaced.text).not.toContain('my-token');
    expect(misplaced.body.message).toMatch(/unknown field/);
    const many = Object.fromEntries(
      Array.from({ length: 2000 }, (_, i) => [`field_${i}_${'x'.repeat(40)}`, i]),
    );
    const flood = await t.api.post('/keys', many, { token: user.access });
    expect(flood.status).toBeGreaterThanOrEqual(400);
    expect(flood.status).toBeLessThan(500);
    expect(flood.text.length).toBeLessThan(1024);
  });

  // The trust-path routes (authenticated): the same bodies, with a valid token. Every object
  // case carries a field the route does not know, so no code is ever checked (no lockout).
  const authedRoutes = [
    '/session/reauth',
    '/totp/reenroll',
    '/totp/reenroll/confirm',
    '/recovery_codes/regenerate',
    '/blocks',
  ];
  for (const route of authedRoutes) {
    it.each(rawCases)(`${route}: %s → 4xx JSON`, async (label, raw, headers) => {
      expectClientError(label, await t.api.post(route, undefined, { raw, headers, token: user.access }));
    });
    it.each(objectCases)(`${route}: %s → 4xx JSON`, async (label, body) => {
      expectClientError(label, await t.api.post(route, body, { token: user.access }));
    });
  }

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
      ['POST', '/session/reauth'],
      ['GET', '/sessions'],
      ['DELETE', '/sessions/00000000-0000-4000-8000-000000000000'],
      ['POST', '/totp/reenroll'],
      ['POST', '/totp/reenroll/confirm'],
      ['POST', '/recovery_codes/regenerate'],
      ['GET', '/blocks'],
      ['POST', '/blocks'],
      ['DELETE', '/blocks/alice'],
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

// Key routes of protocol version 2 (spec/openapi.yaml tag "keys"): every malformed field of an
// upload, and hostile names on the lookup routes, are a 4xx JSON answer — never a 500.
describe('bad input matrix: keys', () => {
  const signed = (size: number) => ({
    key_id: 1,
    public_key: 'A'.repeat(Math.ceil(size / 3) * 4),
    signature: 'A'.repeat(88),
  });
  const keyCases: [string, unknown][] = [
    ['identity_proof number', { identity_key: 'A'.repeat(44), identity_proof: 7 }],
    ['identity_proof null', { identity_key: 'A'.repeat(44), identity_proof: null }],
    ['identity_proof object', { identity_key: 'A'.repeat(44), identity_proof: { $ne: '' } }],
    ['identity_proof not base64', { identity_key: 'A'.repeat(44), identity_proof: '!!!!' }],
    ['identity_proof empty', { identity_key: 'A'.repeat(44), identity_proof: '' }],
    ['identity_proof huge', { identity_key: 'A'.repeat(44), identity_proof: 'A'.repeat(4000) }],
    ['identity_proof alone', { identity_proof: 'A'.repeat(88) }],
    ['identity_key alone', { identity_key: 'A'.repeat(44) }],
    ['identity_key with NUL', { identity_key: 'AA\u0000A', identity_proof: 'A'.repeat(88) }],
    ['identity random bytes', { identity_key: 'A'.repeat(44), identity_proof: 'A'.repeat(88) }],
    ['pq list not array', { one_time_pq_prekeys: { key_id: 1 } }],
    ['pq list of strings', { one_time_pq_prekeys: ['AAAA'] }],
    [
      'pq list 101',
      { one_time_pq_prekeys: Array.from({ length: 101 }, (_, i) => ({ ...signed(4), key_id: i })) },
    ],
    ['pq item without signature', { one_time_pq_prekeys: [{ key_id: 1, public_key: 'AAAA' }] }],
    ['pq item extra field', { one_time_pq_prekeys: [{ ...signed(4), kind: 'one_time' }] }],
    ['pq key_id negative', { one_time_pq_prekeys: [{ ...signed(4), key_id: -1 }] }],
    ['pq key_id float', { one_time_pq_prekeys: [{ ...signed(4), key_id: 1.5 }] }],
    ['pq key_id 2^32', { one_time_pq_prekeys: [{ ...signed(4), key_id: 2 ** 32 }] }],
    ['pq key_id string', { one_time_pq_prekeys: [{ ...signed(4), key_id: '1' }] }],
    ['pq public key too big', { one_time_pq_prekeys: [signed(1601)] }],
    ['pq ids repeated', { one_time_pq_prekeys: [signed(4), signed(4)] }],
    ['signed_prekey key_id huge', { signed_prekey: { ...signed(4), key_id: 1e300 } }],
    ['pq_prekey as array', { pq_prekey: [signed(4)] }],
    ['prekeys before identity', { signed_prekey: signed(4), one_time_pq_prekeys: [signed(4)] }],
    ['__proto__', JSON.parse('{"__proto__": {"identity_key": "AAAA"}, "one_time_pq_prekeys": []}')],
  ];

  it.each(rawCases)('POST /keys: %s → 4xx JSON', async (label, raw, headers) => {
    expectClientError(label, await t.api.post('/keys', undefined, { raw, headers, token: user.access }));
  });

  it.each(keyCases)('POST /keys: %s → 4xx JSON', async (label, body) => {
    expectClientError(label, await t.api.post('/keys', body, { token: user.access }));
  });

  it('POST /keys over 256 KiB is 413 payload_too_large', async () => {
    const body = {
      one_time_pq_prekeys: Array.from({ length: 100 }, (_, i) => ({ ...signed(2000), key_id: i })),
    };
    const r = await t.api.post('/keys', body, { token: user.access });
    expect([r.status, r.body.error]).toEqual([413, 'payload_too_large']);
  });

  const names = [
    'x'.repeat(1000),
    '%00',
    '%ff',
    '%E2%80%AE',
    '..',
    '%2e%2e%2fkeys',
    'ａｄｍｉｎ',
    'a%20b',
    '%F0%9F%98%80',
    '__proto__',
    'constructor',
  ];
  it.each(names)('GET /identity/{name} and /keys/{name} with %s → 4xx JSON', async (name) => {
    for (const path of [`/identity/${name}`, `/keys/${name}`]) {
      const r = await t.api.get(path, { token: user.access });
      expectClientError(path, r);
    }
  });
});
