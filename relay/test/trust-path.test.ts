// The trust path on the relay (spec/openapi.yaml /session/reauth, POST /keys, GET /ws
// identity_replaced, /totp/reenroll, /recovery_codes/regenerate, /sessions, POST /login
// throttling, /blocks, /ack no_receipt_ids). Each weakness is written as the attack first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepAuthState } from '../src/auth/cleanup.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { fromIp, registerUser, type TestUser } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { identityFields, identityFor } from './helpers/identity.js';
import {
  b64,
  bindSessionsToDevice,
  makeDeviceUser,
  makeUser,
  newSession,
  publishKeys,
  sendBody,
  WsClient,
} from './helpers/relay-data.js';
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
    // Other sessions of the same device (a new identity removes the account's OTHER devices).
    const online = await newSession(t, owner.id, { deviceId: 1 });
    const offline = await newSession(t, owner.id, { deviceId: 1 });
    const peer = await makeDeviceUser(t, 'peer');
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
    // session has it, it has seen everything before it — and no identity_replaced. (The device
    // publishes its prekeys first: senders seal for published devices only.)
    await publishKeys(t, owner.id, 1);
    const sent = await t.api.post(
      '/send_message',
      sendBody(owner.username, { clientId: 'after-change', body: b64(40) }),
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

describe('re-enrolling the authenticator', () => {
  it('stolen authenticator: after re-enrolment the old secret stops working and every other session ends', async () => {
    const u = await registerUser(t.api, t.clock, 'reenrol_victim');
    // The thief holds the old TOTP secret and has a session of its own.
    t.clock.advance(30_000);
    const thief = await t.api.post('/login', { username: u.username, code: totpAt(u.secret, t.clock.now()) });
    expect(thief.status).toBe(200);
    await bindSessionsToDevice(t, u.username);
    const thiefWs = await WsClient.connect(t.baseUrl, thief.body.access_token);

    const bad = await t.api.post('/totp/reenroll', { code: '000000' }, { token: u.access });
    expect([bad.status, bad.body.error]).toEqual([401, 'invalid_code']);
    t.clock.advance(30_000);
    const start = await t.api.post(
      '/totp/reenroll',
      { code: totpAt(u.secret, t.clock.now()) },
      { token: u.access },
    );
    expect(start.status, start.text).toBe(201);
    expect(start.body.otpauth_uri).toMatch(/^otpauth:\/\/totp\//);
    expect(start.body.secret).not.toBe(u.secret);
    const newSecret: string = start.body.secret;
    // Until confirmed the old secret is still the account's.
    const wrongNew = await t.api.post(
      '/totp/reenroll/confirm',
      { code: totpAt(u.secret, t.clock.now() + 30_000) },
      { token: u.access },
    );
    expect([wrongNew.status, wrongNew.body.error]).toEqual([401, 'invalid_code']);
    const ok = await t.api.post(
      '/totp/reenroll/confirm',
      { code: totpAt(newSecret, t.clock.now()) },
      { token: u.access },
    );
    expect(ok.status, ok.text).toBe(204);

    expect(await thiefWs.closed()).toBe(4403);
    const thiefUse = await t.api.get('/me', { token: thief.body.access_token });
    expect([thiefUse.status, thiefUse.body.error]).toEqual([401, 'session_revoked']);
    const thiefRefresh = await t.api.post('/session/refresh', { refresh_token: thief.body.refresh_token });
    expect(thiefRefresh.status).toBe(401);
    expect((await t.api.get('/me', { token: u.access })).status).toBe(200); // the caller stays

    t.clock.advance(30_000);
    const oldCode = await t.api.post('/login', {
      username: u.username,
      code: totpAt(u.secret, t.clock.now()),
    });
    expect([oldCode.status, oldCode.body.error]).toEqual([401, 'invalid_code']);
    const newCode = await t.api.post('/login', {
      username: u.username,
      code: totpAt(newSecret, t.clock.now()),
    });
    expect(newCode.status).toBe(200);
    // Nothing left to confirm.
    const none = await t.api.post(
      '/totp/reenroll/confirm',
      { code: totpAt(newSecret, t.clock.now()) },
      { token: u.access },
    );
    expect([none.status, none.body.error]).toEqual([404, 'reenrollment_not_found']);
  });

  it('can be authorised by a recovery code; a pending secret expires unconfirmed', async () => {
    const u = await registerUser(t.api, t.clock, 'reenrol_recovery');
    const start = await t.api.post('/totp/reenroll', { code: u.recoveryCodes[1] }, { token: u.access });
    expect(start.status, start.text).toBe(201);
    t.clock.advance(Date.parse(start.body.expires_at) - t.clock.now() + 1000);
    const late = await t.api.post(
      '/totp/reenroll/confirm',
      { code: totpAt(start.body.secret, t.clock.now()) },
      { token: await refreshed(u.refresh) },
    );
    expect([late.status, late.body.error]).toEqual([404, 'reenrollment_not_found']);
    // The retention sweep forgets the unused secret.
    await sweepAuthState(t.deps, new Date(t.clock.now()));
    const row = await t.deps.pool.query('SELECT pending_totp_secret FROM users WHERE id = $1', [u.id]);
    expect(row.rows[0].pending_totp_secret).toBeNull();
  });
});

describe('regenerating recovery codes', () => {
  it('leaked recovery codes: after regeneration the old ones stop working and other sessions end', async () => {
    const u = await registerUser(t.api, t.clock, 'recovery_victim');
    const thief = await t.api.post('/login', { username: u.username, code: u.recoveryCodes[0] });
    expect(thief.status).toBe(200);
    t.clock.advance(30_000);
    const r = await t.api.post(
      '/recovery_codes/regenerate',
      { code: totpAt(u.secret, t.clock.now()) },
      { token: u.access },
    );
    expect(r.status, r.text).toBe(200);
    expect(r.body.recovery_codes).toHaveLength(10);
    expect(r.body.recovery_codes.filter((c: string) => u.recoveryCodes.includes(c))).toEqual([]);
    expect((await t.api.get('/me', { token: thief.body.access_token })).status).toBe(401);
    const old = await t.api.post('/login', { username: u.username, code: u.recoveryCodes[2] });
    expect([old.status, old.body.error]).toEqual([401, 'invalid_code']);
    const fresh = await t.api.post('/login', { username: u.username, code: r.body.recovery_codes[0] });
    expect(fresh.status).toBe(200);
    const unauthorised = await t.api.post(
      '/recovery_codes/regenerate',
      { code: '123456' },
      { token: u.access },
    );
    expect(unauthorised.status).toBe(401);
  });
});

describe('sessions list', () => {
  it('lists live sessions with a coarse client, marks the current one, and ends one; another account’s id is 404', async () => {
    const u = await registerUser(t.api, t.clock, 'sessions_owner');
    const firefox = 'Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0';
    t.clock.advance(30_000);
    const phone = await t.api.post(
      '/login',
      { username: u.username, code: totpAt(u.secret, t.clock.now()) },
      { headers: { 'user-agent': firefox } },
    );
    expect(phone.status).toBe(200);
    const list = await t.api.get('/sessions', { token: phone.body.access_token });
    expect(list.status).toBe(200);
    expect(list.body.sessions).toHaveLength(2);
    const mine = list.body.sessions.find((s: { current: boolean }) => s.current);
    expect(mine).toMatchObject({ client: 'Firefox on Android', current: true });
    const other = list.body.sessions.find((s: { current: boolean }) => !s.current);
    expect(other.client).toBe('Unknown on Unknown'); // registration from Node's fetch

    const stranger = await makeUser(t, 'stranger');
    const foreign = await t.api.delete(`/sessions/${other.id}`, { token: stranger.token });
    expect([foreign.status, foreign.body.error]).toEqual([404, 'not_found']);
    expect((await t.api.delete('/sessions/not-a-uuid', { token: stranger.token })).status).toBe(404);

    const end = await t.api.delete(`/sessions/${other.id}`, { token: phone.body.access_token });
    expect(end.status).toBe(204);
    expect((await t.api.get('/me', { token: u.access })).status).toBe(401);
    const after = await t.api.get('/sessions', { token: phone.body.access_token });
    expect(after.body.sessions.map((s: { id: string }) => s.id)).toEqual([mine.id]);
    expect((await t.api.delete(`/sessions/${other.id}`, { token: phone.body.access_token })).status).toBe(
      404,
    );
    // No IP or User-Agent is stored with a session.
    const cols = await t.deps.pool.query(
      `SELECT column_name FROM information_schema.columns WHERE table_name = 'sessions'`,
    );
    expect(cols.rows.map((c) => c.column_name).filter((n) => /ip|agent|addr/.test(n))).toEqual([]);
  });

  it('last_used_at follows refreshes', async () => {
    const u = await registerUser(t.api, t.clock, 'sessions_refresh');
    t.clock.advance(10 * MINUTE);
    const access = await refreshed(u.refresh);
    const [s] = (await t.api.get('/sessions', { token: access })).body.sessions;
    expect(s.last_used_at).toBe(new Date(t.clock.now()).toISOString());
    expect(Date.parse(s.created_at)).toBeLessThan(Date.parse(s.last_used_at));
  });
});

describe('lockout without a denial-of-service lever', () => {
  const wrong = (secret: string) => {
    const valid = new Set([-30_000, 0, 30_000].map((d) => totpAt(secret, t.clock.now() + d)));
    for (let i = 0; ; i++) if (!valid.has(String(200000 + i))) return String(200000 + i);
  };

  it('a failure storm from one IP does not stop the owner logging in from another IP', async () => {
    const u = await registerUser(t.api, t.clock, 'storm_victim');
    const attacker = fromIp('203.0.113.66');
    // Every guess is evaluated (the growing delays are waited out) until the pair is locked.
    for (let i = 1; i <= 12; i++) {
      t.clock.advance(61_000);
      const r = await t.api.post(
        '/login',
        { username: u.username, code: wrong(u.secret) },
        { headers: attacker },
      );
      expect([i, r.status, r.body.error]).toEqual([
        i,
        ...(i <= 10 ? [401, 'invalid_code'] : [429, 'locked']),
      ]);
    }
    t.clock.advance(30_000);
    const fromAttacker = await t.api.post(
      '/login',
      { username: u.username, code: totpAt(u.secret, t.clock.now()) },
      { headers: attacker },
    );
    expect([fromAttacker.status, fromAttacker.body.error]).toEqual([429, 'locked']);
    // …the owner is not.
    const owner = await t.api.post(
      '/login',
      { username: u.username, code: totpAt(u.secret, t.clock.now()) },
      { headers: fromIp('198.51.100.77') },
    );
    expect(owner.status, owner.text).toBe(200);
  });

  it('keeps NIST SP 800-63B §5.2.2: 100 consecutive failures on the account (from many IPs) lock it everywhere', async () => {
    const u = await registerUser(t.api, t.clock, 'storm_distributed');
    // 100 addresses, each below its own pair limit (one failure each).
    for (let i = 0; i < 100; i++) {
      const r = await t.api.post(
        '/login',
        { username: u.username, code: wrong(u.secret) },
        { headers: fromIp(`10.1.${i >> 8}.${i & 255}`) },
      );
      expect([i, r.status]).toEqual([i, 401]);
    }
    t.clock.advance(30_000);
    const clean = await t.api.post(
      '/login',
      { username: u.username, code: totpAt(u.secret, t.clock.now()) },
      { headers: fromIp('198.51.100.78') },
    );
    expect([clean.status, clean.body.error]).toEqual([429, 'locked']);
    expect(clean.body.retry_after_seconds).toBeGreaterThan(800);
  });
});

describe('blocking', () => {
  it('a blocked sender sees ordinary accepted sends; nothing reaches the blocker, no receipt; unblock restores delivery', async () => {
    const owner = await makeDeviceUser(t, 'blocker');
    const pest = await makeDeviceUser(t, 'pest');
    const friend = await makeDeviceUser(t, 'friend');
    expect((await t.api.post('/contacts', { username: pest.username }, { token: owner.token })).status).toBe(
      201,
    );
    const b = await t.api.post('/blocks', { username: pest.username.toUpperCase() }, { token: owner.token });
    expect([b.status, b.body.username]).toEqual([201, pest.username]);
    expect((await t.api.post('/blocks', { username: pest.username }, { token: owner.token })).status).toBe(
      200,
    );
    expect(
      (await t.api.get('/blocks', { token: owner.token })).body.blocks.map(
        (x: { username: string }) => x.username,
      ),
    ).toEqual([pest.username]);
    // Blocking removed the contact, so the blocked user no longer hears of key changes.
    expect((await t.api.get('/contacts', { token: owner.token })).body.contacts).toEqual([]);

    const ownerWs = await WsClient.connect(t.baseUrl, owner.token, 0);
    const pestWs = await WsClient.connect(t.baseUrl, pest.token, 0);
    const dropped = await t.api.post(
      '/send_message',
      sendBody(owner.username, { clientId: 'blocked-1', body: b64(40, 3) }),
      { token: pest.token },
    );
    expect([dropped.status, dropped.body.duplicate]).toEqual([201, false]);
    expect(dropped.body.id).toBeGreaterThan(0);
    const retry = await t.api.post(
      '/send_message',
      sendBody(owner.username, { clientId: 'blocked-1', body: b64(40, 3) }),
      { token: pest.token },
    );
    expect([retry.status, retry.body.id, retry.body.duplicate]).toEqual([200, dropped.body.id, true]);
    const photo = await t.api.post(`/send_photo?to=${owner.username}`, undefined, {
      token: pest.token,
      raw: new Uint8Array(1000),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect([photo.status, photo.body.size]).toEqual([201, 1000]);
    // Kept as any unopened photo is (so the sender cannot tell, relay/test/photos.test.ts): its
    // sender can still fetch it; only the message carrying its id and key is dropped.
    expect((await t.api.get(`/get_photo/${photo.body.id}`, { token: pest.token })).status).toBe(200);

    // A later message from a friend is the barrier: the owner has seen everything before it.
    const ok = await t.api.post(
      '/send_message',
      sendBody(owner.username, { clientId: 'friend-1', body: b64(40) }),
      { token: friend.token },
    );
    await ownerWs.next((f) => f.type === 'message' && f.id === ok.body.id);
    expect(ownerWs.frames.filter((f) => f.type === 'message').map((f) => f.from)).toEqual([friend.username]);
    const page = await t.api.get('/get_messages', { token: owner.token });
    expect(page.body.messages.map((m: { from: string }) => m.from)).toEqual([friend.username]);
    // No receipt was ever written for the dropped message.
    const receipts = await t.deps.pool.query(
      `SELECT 1 FROM stream_events WHERE user_id = $1 AND kind = 'delivered'`,
      [pest.id],
    );
    expect(receipts.rowCount).toBe(0);

    expect((await t.api.delete(`/blocks/${pest.username}`, { token: owner.token })).status).toBe(204);
    expect((await t.api.delete(`/blocks/${pest.username}`, { token: owner.token })).status).toBe(404);
    const after = await t.api.post(
      '/send_message',
      sendBody(owner.username, { clientId: 'after-unblock', body: b64(40) }),
      { token: pest.token },
    );
    expect(after.status).toBe(201);
    expect(await ownerWs.next((f) => f.type === 'message' && f.id === after.body.id)).toMatchObject({
      from: pest.username,
    });
    for (const c of [ownerWs, pestWs]) c.close();
  });

  it('a retry with the same client_id and ANOTHER body answers alike whether the recipient blocked the sender, acknowledged it silently, or has it pending', async () => {
    // Attack: resend under a used client_id with a changed body. A pending copy still has its
    // body (409 client_id_reused), but a blocked send's tombstone and a copy acknowledged in
    // no_receipt_ids had none to compare, and were answered 200 duplicate: a block, and a
    // message request read, were both told to their sender.
    const pending = await makeDeviceUser(t, 'pend');
    const blocker = await makeDeviceUser(t, 'blk');
    const reader = await makeDeviceUser(t, 'rdr');
    const pest = await makeDeviceUser(t, 'pest');
    expect((await t.api.post('/blocks', { username: pest.username }, { token: blocker.token })).status).toBe(
      201,
    );
    const answers: unknown[] = [];
    for (const to of [pending, blocker, reader]) {
      const clientId = `probe-${to.username}`;
      const first = await t.api.post('/send_message', sendBody(to.username, { clientId, body: b64(40, 1) }), {
        token: pest.token,
      });
      expect(first.status).toBe(201);
      if (to === reader) {
        const page = await t.api.get('/get_messages', { token: reader.token });
        const ids = page.body.messages.map((m: { id: number }) => m.id);
        expect(ids).toHaveLength(1);
        expect((await t.api.post('/ack', { no_receipt_ids: ids }, { token: reader.token })).body.acked).toBe(
          1,
        );
      }
      // The same copy again is a duplicate in every case.
      const same = await t.api.post('/send_message', sendBody(to.username, { clientId, body: b64(40, 1) }), {
        token: pest.token,
      });
      expect([same.status, same.body.duplicate]).toEqual([200, true]);
      const changed = await t.api.post(
        '/send_message',
        sendBody(to.username, { clientId, body: b64(40, 7) }),
        { token: pest.token },
      );
      answers.push([changed.status, changed.body.error]);
    }
    expect(answers).toEqual([
      [409, 'client_id_reused'],
      [409, 'client_id_reused'],
      [409, 'client_id_reused'],
    ]);
  });

  it('a blocker’s full mailbox answers the blocked sender as it answers everyone: 409 mailbox_full, not a telling 201', async () => {
    // Attack: an accomplice fills a device mailbox of the blocker (offline, or not reading), then
    // the suspect sends. Room was checked only for mailboxes that get a stored copy, and a blocked
    // sender's copies are tombstones: everyone else got 409 mailbox_full, the blocked one 201.
    const small = await startTestApp({
      databaseUrl: db.url,
      clock: t.clock,
      env: { MAX_PENDING_MESSAGES: '10', SEND_RATE_BURST: '100' },
    });
    try {
      const owner = await makeDeviceUser(small, 'fullblk');
      const pest = await makeDeviceUser(small, 'pest');
      const accomplice = await makeDeviceUser(small, 'acc');
      const block = await small.api.post('/blocks', { username: pest.username }, { token: owner.token });
      expect(block.status).toBe(201);
      const send = (from: { token: string }, clientId: string) =>
        small.api.post('/send_message', sendBody(owner.username, { clientId, body: b64(8) }), {
          token: from.token,
        });
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) ids.push((await send(accomplice, `fill-${i}`)).body.id);
      const over = [await send(accomplice, 'acc-over'), await send(pest, 'pest-over')];
      expect(over.map((r) => [r.status, r.body.error])).toEqual([
        [409, 'mailbox_full'],
        [409, 'mailbox_full'],
      ]);
      // Room again: both are accepted, and the blocked sender's copy is still dropped.
      expect((await small.api.post('/ack', { ids: ids.slice(0, 2) }, { token: owner.token })).status).toBe(
        200,
      );
      expect((await send(pest, 'pest-room')).status).toBe(201);
      expect((await send(accomplice, 'acc-room')).status).toBe(201);
      const page = await small.api.get('/get_messages', { token: owner.token });
      expect(page.body.messages.map((m: { from: string }) => m.from)).not.toContain(pest.username);
    } finally {
      await small.close();
    }
  });

  it('a blocked user cannot be added back as a contact, under any spelling, until unblocked', async () => {
    const owner = await makeDeviceUser(t, 'reblock');
    const pest = await makeDeviceUser(t, 'repest');
    expect((await t.api.post('/blocks', { username: pest.username }, { token: owner.token })).status).toBe(
      201,
    );
    // As a contact again while still blocked, everything they send would go on being dropped.
    for (const username of [pest.username, pest.username.toUpperCase()]) {
      const r = await t.api.post('/contacts', { username }, { token: owner.token });
      expect([r.status, r.body.error]).toEqual([409, 'contact_blocked']);
    }
    expect((await t.api.get('/contacts', { token: owner.token })).body.contacts).toEqual([]);
    expect((await t.api.delete(`/blocks/${pest.username}`, { token: owner.token })).status).toBe(204);
    expect((await t.api.post('/contacts', { username: pest.username }, { token: owner.token })).status).toBe(
      201,
    );
  });

  it('refuses bad block input with 4xx JSON', async () => {
    const u = await makeUser(t, 'blockinput');
    for (const body of [
      {},
      { username: '' },
      { username: 'x'.repeat(65) },
      { username: 1 },
      { username: 'a', extra: 1 },
    ]) {
      const r = await t.api.post('/blocks', body, { token: u.token });
      expect([r.status, r.body.error]).toEqual([400, 'invalid_request']);
    }
    expect((await t.api.post('/blocks', { username: 'no_such_user_here' }, { token: u.token })).status).toBe(
      404,
    );
    expect((await t.api.post('/blocks', { username: u.username }, { token: u.token })).status).toBe(400);
    expect((await t.api.delete('/blocks/%FF', { token: u.token })).status).toBeLessThan(500);
  });
});

describe('message requests produce no delivery receipt', () => {
  it('a stranger probing with messages learns nothing from an ack in no_receipt_ids; ids still give receipts', async () => {
    const owner = await makeDeviceUser(t, 'requested');
    const stranger = await makeDeviceUser(t, 'prober');
    const send = (client_id: string) =>
      t.api.post('/send_message', sendBody(owner.username, { clientId: client_id, body: b64(40) }), {
        token: stranger.token,
      });
    const probe = await send('probe-1');
    const accepted = await send('accepted-1');
    const strangerWs = await WsClient.connect(t.baseUrl, stranger.token, 0);
    const ack = await t.api.post('/ack', { no_receipt_ids: [probe.body.id] }, { token: owner.token });
    expect(ack.body).toEqual({ acked: 1, photos_acked: 0 });
    // Later, once accepted, a message acknowledged in `ids` is the barrier: its receipt comes after anything before.
    const ack2 = await t.api.post('/ack', { ids: [accepted.body.id, probe.body.id] }, { token: owner.token });
    expect(ack2.body.acked).toBe(1); // the probe was already gone
    const receipt = await strangerWs.next((f) => f.type === 'delivered');
    expect(receipt.message_id).toBe(accepted.body.id);
    expect(strangerWs.frames.filter((f) => f.type === 'delivered').map((f) => f.message_id)).toEqual([
      accepted.body.id,
    ]);
    const stored = await t.deps.pool.query(
      `SELECT message_id FROM stream_events WHERE user_id = $1 AND kind = 'delivered'`,
      [stranger.id],
    );
    expect(stored.rows.map((r) => Number(r.message_id))).toEqual([accepted.body.id]);
    // The request itself is gone from the relay.
    expect((await t.api.get('/get_messages', { token: owner.token })).body.messages).toEqual([]);
    strangerWs.close();
  });

  it('refuses bad no_receipt_ids with 400', async () => {
    const u = await makeDeviceUser(t, 'ackinput');
    for (const body of [
      { no_receipt_ids: [] },
      { no_receipt_ids: [0] },
      { no_receipt_ids: ['1'] },
      { no_receipt_ids: Array(501).fill(1) },
    ]) {
      const r = await t.api.post('/ack', body, { token: u.token });
      expect([r.status, r.body.error]).toEqual([400, 'invalid_request']);
    }
  });
});

describe('concurrent second-factor checks', () => {
  it('parallel logins, re-authentications and re-enrolments of one account never fail with 5xx (no lock-order deadlock)', async () => {
    const u = await registerUser(t.api, t.clock, 'parallel_codes');
    t.clock.advance(30_000);
    const code = totpAt(u.secret, t.clock.now());
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => [
        t.api.post('/login', { username: u.username, code }, { headers: fromIp(`198.51.100.${100 + i}`) }),
        t.api.post(
          '/session/reauth',
          { code },
          { token: u.access, headers: fromIp(`198.51.100.${120 + i}`) },
        ),
        t.api.post('/totp/reenroll', { code }, { token: u.access, headers: fromIp(`198.51.100.${140 + i}`) }),
      ]).flat(),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses.filter((s) => s < 300)).toHaveLength(1); // one time step, accepted once
  });
});
