// The trust path on the relay (spec/openapi.yaml /session/reauth, POST /keys, GET /ws
// identity_replaced, /totp/reenroll, /recovery_codes/regenerate, /sessions, POST /login
// throttling, /blocks, /ack no_receipt_ids). Each weakness is written as the attack first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { registerUser, type TestUser } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { identityFields, identityFor } from './helpers/identity.js';
import { b64, makeUser, newSession, WsClient } from './helpers/relay-data.js';
import { totpAt } from './helpers/totp-reference.js';

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

const MINUTE = 60_000;

/** A registered user with an identity key published from its first session. */
async function withIdentity(name: string): Promise<TestUser> {
  const u = await registerUser(t.api, t.clock, name);
  const r = await t.api.post('/keys', identityFields(identityFor(u.username)), { token: u.access });
  expect(r.status, r.text).toBe(200);
  return u;
}

/** A new access token for the session of `refresh` (what a thief holding the refresh token gets). */
async function refreshed(refresh: string): Promise<string> {
  const r = await t.api.post('/session/refresh', { refresh_token: refresh });
  expect(r.status, r.text).toBe(200);
  return r.body.access_token;
}

describe('step-up for identity replacement', () => {
  it('stolen refresh token: a live session cannot re-key the account without a fresh code', async () => {
    const u = await withIdentity('stepup_victim');
    t.clock.advance(6 * MINUTE); // the login is no longer fresh
    const thief = await refreshed(u.refresh);
    const attack = await t.api.post('/keys', identityFields(identityFor(u.username)), { token: thief });
    expect([attack.status, attack.body.error]).toEqual([403, 'reauth_required']);
    expect(attack.body.message).toMatch(/session\/reauth/);
    // Nothing changed: the published key is still the owner's.
    const before = (await t.api.get('/keys', { token: thief })).body.identity_key;
    expect(before).not.toBeNull();
    // Re-sending the current key and uploading prekeys need no step-up.
    expect(
      (
        await t.api.post(
          '/keys',
          { signed_prekey: { key_id: 1, public_key: b64(32), signature: b64(64) } },
          { token: thief },
        )
      ).status,
    ).toBe(200);
  });

  it('with a TOTP code or a recovery code checked within 5 minutes in THIS session the replacement is accepted', async () => {
    const u = await withIdentity('stepup_owner');
    t.clock.advance(6 * MINUTE);
    const wrong = await t.api.post('/session/reauth', { code: '000000' }, { token: u.access });
    expect([wrong.status, wrong.body.error]).toEqual([401, 'invalid_code']);
    const ok = await t.api.post(
      '/session/reauth',
      { code: totpAt(u.secret, t.clock.now()) },
      { token: u.access },
    );
    expect(ok.status, ok.text).toBe(204);
    const r = await t.api.post('/keys', identityFields(identityFor(u.username)), { token: u.access });
    expect([r.status, r.body.identity_changed]).toEqual([200, true]);
    // Another session of the account is not made fresh by it.
    const other = await newSession(t, u.id, { fresh: false });
    const r2 = await t.api.post('/keys', identityFields(identityFor(u.username)), { token: other.token });
    expect([r2.status, r2.body.error]).toEqual([403, 'reauth_required']);
    // 5 minutes later the step-up has lapsed.
    t.clock.advance(5 * MINUTE + 1000);
    const late = await t.api.post('/keys', identityFields(identityFor(u.username)), { token: u.access });
    expect([late.status, late.body.error]).toEqual([403, 'reauth_required']);
    // A recovery code works too, and is consumed by it.
    const code = u.recoveryCodes[0];
    expect((await t.api.post('/session/reauth', { code }, { token: u.access })).status).toBe(204);
    const r3 = await t.api.post('/keys', identityFields(identityFor(u.username)), { token: u.access });
    expect([r3.status, r3.body.identity_changed]).toEqual([200, true]);
    const again = await t.api.post('/session/reauth', { code }, { token: u.access });
    expect([again.status, again.body.error]).toEqual([401, 'invalid_code']);
  });
});

describe('the owner is told when the identity key is replaced', () => {
  it('every OTHER session gets identity_replaced, online over /ws and offline on catch-up; the replacing one does not', async () => {
    const owner = await makeUser(t, 'owner');
    const first = await t.api.post('/keys', identityFields(identityFor(owner.username)), {
      token: owner.token,
    });
    expect(first.status).toBe(200);
    const online = await newSession(t, owner.id);
    const offline = await newSession(t, owner.id);
    const peer = await makeUser(t, 'peer');
    const onlineWs = await WsClient.connect(t.baseUrl, online.token, 0);
    const actorWs = await WsClient.connect(t.baseUrl, owner.token, 0);

    const at = t.clock.now();
    const r = await t.api.post('/keys', identityFields(identityFor(owner.username)), { token: owner.token });
    expect([r.status, r.body.identity_changed]).toEqual([200, true]);
    const frame = await onlineWs.next((f) => f.type === 'identity_replaced');
    expect(frame).toEqual({
      type: 'identity_replaced',
      seq: frame.seq,
      created_at: new Date(at).toISOString(),
    });

    // A message sent after the change comes later in the same stream: once the replacing
    // session has it, it has seen everything before it — and no identity_replaced.
    const sent = await t.api.post(
      '/send_message',
      { to: owner.username, client_id: 'after-change', body: b64(40) },
      { token: peer.token },
    );
    expect(sent.status).toBe(201);
    await actorWs.next((f) => f.type === 'message' && f.id === sent.body.id);
    expect(actorWs.frames.filter((f) => f.type === 'identity_replaced')).toEqual([]);

    const later = await WsClient.connect(t.baseUrl, offline.token, 0);
    expect(await later.next((f) => f.type === 'identity_replaced')).toMatchObject({ seq: frame.seq });
    for (const c of [onlineWs, actorWs, later]) c.close();
  });
});
