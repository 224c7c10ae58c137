// Every JSON route refuses a body that is not declared application/json with 415
// {"error":"unsupported_media_type","message":"this route expects application/json"}, documented
// in spec/openapi.yaml (checked by the api helper), instead of 400 "expected object, received
// undefined". The routes are found by walking the app for jsonBody's parser, so a new JSON route
// is covered without editing this file.
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { isJsonBody } from '../src/http/body.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { registerUser, type TestUser } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let t: TestApp;
let user: TestUser;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({ databaseUrl: db.url });
  user = await registerUser(t.api, t.clock, 'media_user');
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

interface Layer {
  handle?: { stack?: Layer[] };
  route?: { path: string; methods: Record<string, boolean>; stack: { handle: unknown }[] };
}

/** [METHOD, path] of every route whose handlers include jsonBody's parser. */
function jsonRoutes(app: Express): [string, string][] {
  const found: [string, string][] = [];
  const walk = (stack: Layer[] = []) => {
    for (const layer of stack) {
      if (layer.route) {
        if (layer.route.stack.some((h) => isJsonBody(h.handle)))
          for (const method of Object.keys(layer.route.methods))
            found.push([method.toUpperCase(), layer.route.path]);
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return found.sort((a, b) => a[1].localeCompare(b[1]));
}

const refused: [string, Record<string, string>, string | undefined][] = [
  ['no Content-Type, JSON text', {}, '{"username":"alice"}'],
  ['no Content-Type, no body', {}, undefined],
  ['text/plain', { 'content-type': 'text/plain' }, '{"username":"alice"}'],
  ['form encoded', { 'content-type': 'application/x-www-form-urlencoded' }, 'username=alice'],
  ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }, '--x--'],
  ['a JSON-like type', { 'content-type': 'application/merge-patch+json' }, '{}'],
  ['octet-stream', { 'content-type': 'application/octet-stream' }, '{}'],
];

describe('415 unsupported_media_type on every JSON route', () => {
  const routes = () => jsonRoutes(buildApp(t.deps));

  it('finds the JSON routes (and would find a new one)', () => {
    expect(routes()).toEqual([
      ['POST', '/ack'],
      ['POST', '/blocks'],
      ['POST', '/contacts'],
      ['POST', '/keys'],
      ['POST', '/login'],
      ['POST', '/provisioning'],
      ['POST', '/recovery_codes/regenerate'],
      ['POST', '/register'],
      ['POST', '/register/confirm'],
      ['POST', '/send_message'],
      ['POST', '/session/reauth'],
      ['POST', '/session/refresh'],
      ['POST', '/totp/reenroll'],
      ['POST', '/totp/reenroll/confirm'],
    ]);
  });

  it.each(refused)('%s → 415 naming application/json, on each route', async (_label, headers, raw) => {
    for (const [method, path] of routes()) {
      const r = await t.api.request(method, path, undefined, { raw, headers, token: user.access });
      expect([path, r.status, r.body]).toEqual([
        path,
        415,
        { error: 'unsupported_media_type', message: 'this route expects application/json' },
      ]);
    }
  });

  it('application/json with parameters or in capitals is parsed, not refused', async () => {
    for (const contentType of ['application/json; charset=utf-8', 'Application/JSON']) {
      const r = await t.api.post('/login', undefined, {
        raw: JSON.stringify({ username: 'nobody_here', code: '000000' }),
        headers: { 'content-type': contentType },
      });
      expect(r.status, contentType).not.toBe(415);
      expect(r.status, contentType).toBeLessThan(500);
    }
  });

  it('the connection is still usable after a refused body', async () => {
    const r = await t.api.post('/login', undefined, { raw: 'x'.repeat(2048), headers: {} });
    expect(r.status).toBe(415);
    expect((await t.api.get('/me', { token: user.access })).status).toBe(200);
  });
});
