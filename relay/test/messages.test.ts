// Contacts and messages (spec/openapi.yaml): contacts add/list/remove; send (idempotent retry),
// ordering and cursor paging, acknowledgement and deletion, the per-user send rate across two
// relay instances, and retention expiry with an injected clock.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepOnce } from '../src/jobs/retention.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { b64, type DataUser, makeDeviceUser, newSession, sendBody } from './helpers/relay-data.js';

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({ databaseUrl: db.url, env: { SEND_RATE_BURST: '1000' } });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

const send = (from: DataUser, to: string, body = b64(100), clientId: string = randomUUID()) =>
  t.api.post('/send_message', sendBody(to, { body, clientId }), { token: from.token });

describe('contacts', () => {
  it('adds by username (case-insensitive), lists, and removes', async () => {
    const me = await makeDeviceUser(t, 'me');
    const zed = await makeDeviceUser(t, 'zed');
    const amy = await makeDeviceUser(t, 'amy');
    const add = await t.api.post('/contacts', { username: zed.username.toUpperCase() }, { token: me.token });
    expect(add.status).toBe(201);
    expect(add.body.username).toBe(zed.username);
    const again = await t.api.post('/contacts', { username: zed.username }, { token: me.token });
    expect(again.status).toBe(200);
    expect(again.body.added_at).toBe(add.body.added_at);
    await t.api.post('/contacts', { username: amy.username }, { token: me.token });
    const list = await t.api.get('/contacts', { token: me.token });
    expect(list.body.contacts.map((c: { username: string }) => c.username)).toEqual([
      amy.username,
      zed.username,
    ]);
    // One direction only: zed's list is untouched.
    expect((await t.api.get('/contacts', { token: zed.token })).body.contacts).toEqual([]);
    expect((await t.api.delete(`/contacts/${zed.username}`, { token: me.token })).status).toBe(204);
    expect((await t.api.delete(`/contacts/${zed.username}`, { token: me.token })).status).toBe(404);
    expect((await t.api.get('/contacts', { token: me.token })).body.contacts).toHaveLength(1);
  });

  it('refuses unknown users, oneself and bad input', async () => {
    const me = await makeDeviceUser(t);
    expect((await t.api.post('/contacts', { username: 'no_such_user' }, { token: me.token })).status).toBe(
      404,
    );
    expect((await t.api.post('/contacts', { username: 'Ab' }, { token: me.token })).status).toBe(404);
    expect((await t.api.post('/contacts', { username: me.username }, { token: me.token })).status).toBe(400);
    expect((await t.api.post('/contacts', { name: 'x' }, { token: me.token })).status).toBe(400);
    expect((await t.api.post('/contacts', { username: 'x'.repeat(2000) }, { token: me.token })).status).toBe(
      413,
    );
    expect((await t.api.delete('/contacts/%ZZ', { token: me.token, spec: false })).status).toBe(400);
  });

  it('holds at most 1000 contacts', async () => {
    const me = await makeDeviceUser(t);
    const extra = await makeDeviceUser(t);
    await t.deps.pool.query(
      `WITH u AS (
         INSERT INTO users (id, username, totp_secret, status)
         SELECT gen_random_uuid(), 'bulk' || g || '_' || substr(md5($1::text), 1, 6), '\\x00', 'active'
           FROM generate_series(1, 1000) g
         RETURNING id)
       INSERT INTO contacts (user_id, contact_id) SELECT $1::uuid, id FROM u`,
      [me.id],
    );
    const res = await t.api.post('/contacts', { username: extra.username }, { token: me.token });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('contact_limit');
  });
});

describe('send_message', () => {
  it('stores once per client_id: a retry returns the same id and stores nothing', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const body = b64(500);
    const cid = randomUUID();
    const first = await send(a, b.username, body, cid);
    expect(first.status).toBe(201);
    expect(first.body.duplicate).toBe(false);
    const retries = await Promise.all([1, 2, 3].map(() => send(a, b.username, body, cid)));
    for (const r of retries) expect(r.body).toEqual({ ...first.body, duplicate: true });
    expect(retries.every((r) => r.status === 200)).toBe(true);
    const rows = await t.deps.pool.query('SELECT count(*)::int AS n FROM messages WHERE sender_id = $1', [
      a.id,
    ]);
    expect(rows.rows[0].n).toBe(1);
    const other = await send(a, b.username, b64(500), cid);
    expect(other.status).toBe(409);
    expect(other.body.error).toBe('client_id_reused');
    // The same client_id from another sender is another message.
    const c = await makeDeviceUser(t);
    expect((await send(c, b.username, body, cid)).status).toBe(201);
  });

  it('needs an existing recipient (not a contact) and valid input', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    expect((await send(a, 'nobody_here')).status).toBe(404);
    expect((await send(a, b.username)).status).toBe(201);
    const cap = t.deps.config.limits.messageBytes;
    expect((await send(a, b.username, b64(cap))).status).toBe(201);
    const bad = [
      sendBody(b.username, { clientId: randomUUID(), body: b64(cap + 1) }),
      sendBody(b.username, { clientId: randomUUID(), body: 'a b' }),
      sendBody(b.username, { clientId: randomUUID(), body: '' }),
      sendBody(b.username, { clientId: 'has space', body: b64(4) }),
      sendBody(b.username, { clientId: 'x'.repeat(65), body: b64(4) }),
      { to: b.username, messages: [{ device_id: 1, body: b64(4) }] },
      { ...sendBody(b.username, { clientId: 'a', body: b64(4) }), to: 5 },
    ];
    for (const body of bad)
      expect((await t.api.post('/send_message', body, { token: a.token })).status).toBe(400);
    // The whole request is bounded: DEVICE_LIMIT copies and DEVICE_LIMIT - 1 sync copies of the
    // largest body fit, anything past sendBodyBytes is refused before it is parsed.
    const huge = await t.api.post(
      '/send_message',
      sendBody(b.username, { clientId: 'x', body: 'A'.repeat(cap * 2 * 10) }),
      { token: a.token },
    );
    expect(huge.status).toBe(413);
  });
});

describe('get_messages and ack', () => {
  it('returns envelopes in order with cursor paging, and deletes what was acknowledged', async () => {
    const r = await makeDeviceUser(t, 'recv');
    const s1 = await makeDeviceUser(t, 'sa');
    const s2 = await makeDeviceUser(t, 'sb');
    const bodies: string[] = [];
    for (let i = 0; i < 7; i++) {
      const body = b64(20 + i);
      bodies.push(body);
      expect((await send(i % 2 ? s2 : s1, r.username, body)).status).toBe(201);
    }
    const pages: { body: string; seq: number; id: number; from: string }[][] = [];
    let cursor = 0;
    for (;;) {
      const res = await t.api.get(`/get_messages?cursor=${cursor}&limit=3`, { token: r.token });
      expect(res.status).toBe(200);
      pages.push(res.body.messages);
      cursor = res.body.next_cursor;
      if (!res.body.has_more) break;
    }
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    const all = pages.flat();
    expect(all.map((m) => m.body)).toEqual(bodies);
    expect(all.map((m) => m.from)).toEqual(bodies.map((_, i) => (i % 2 ? s2.username : s1.username)));
    const seqs = all.map((m) => m.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    // Nothing after the last cursor; the cursor stays put.
    const end = await t.api.get(`/get_messages?cursor=${cursor}`, { token: r.token });
    expect(end.body).toEqual({ messages: [], next_cursor: cursor, has_more: false });

    // Acknowledge the first four: gone for good (ciphertext deleted), the rest still there.
    const ack = await t.api.post('/ack', { ids: all.slice(0, 4).map((m) => m.id) }, { token: r.token });
    expect(ack.body).toEqual({ acked: 4, photos_acked: 0 });
    const left = await t.api.get('/get_messages', { token: r.token });
    expect(left.body.messages.map((m: { id: number }) => m.id)).toEqual(all.slice(4).map((m) => m.id));
    const stored = await t.deps.pool.query(
      'SELECT count(*)::int AS n FROM messages WHERE id = ANY($1) AND message_encrypted IS NOT NULL',
      [all.slice(0, 4).map((m) => m.id)],
    );
    expect(stored.rows[0].n).toBe(0);
    // Acking again, or acking as someone else, changes nothing.
    expect(
      (await t.api.post('/ack', { ids: all.slice(0, 4).map((m) => m.id) }, { token: r.token })).body.acked,
    ).toBe(0);
    expect(
      (await t.api.post('/ack', { ids: all.slice(4).map((m) => m.id) }, { token: s1.token })).body.acked,
    ).toBe(0);
    expect((await t.api.get('/get_messages', { token: r.token })).body.messages).toHaveLength(3);
  });

  it('keeps a retry idempotent after acknowledgement', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const cid = randomUUID();
    const body = b64(64);
    const first = await send(a, b.username, body, cid);
    await t.api.post('/ack', { ids: [first.body.id] }, { token: b.token });
    const retry = await send(a, b.username, body, cid);
    expect(retry.status).toBe(200);
    expect(retry.body.id).toBe(first.body.id);
    expect((await t.api.get('/get_messages', { token: b.token })).body.messages).toEqual([]);
  });

  it('rejects bad cursors, limits and ack bodies with 400', async () => {
    const u = await makeDeviceUser(t);
    for (const q of [
      'cursor=-1',
      'cursor=abc',
      'cursor=9007199254740992',
      'cursor=12345678901234567',
      'limit=0',
      'limit=501',
      'limit=1.5',
      'other=1',
    ])
      expect((await t.api.get(`/get_messages?${q}`, { token: u.token })).status, q).toBe(400);
    // Any cursor the socket takes, the HTTP route takes too (both up to 2^53 - 1): a client whose
    // cursor lies past the stream's head is read from 0 on either path.
    const highest = await t.api.get('/get_messages?cursor=9007199254740991', { token: u.token });
    expect([highest.status, highest.body.messages]).toEqual([200, []]);
    for (const body of [{}, { ids: [] }, { ids: ['1'] }, { ids: [0] }, { ids: Array(501).fill(1) }, { x: 1 }])
      expect((await t.api.post('/ack', body, { token: u.token })).status).toBe(400);
  });
});

describe('send_message checks the session inside its statement', () => {
  it('refuses a session ended on another instance at once, before any other refusal, storing nothing', async () => {
    const two = await startTestApp({ databaseUrl: db.url, clock: t.clock, env: { SEND_RATE_BURST: '1000' } });
    try {
      const a = await makeDeviceUser(t);
      const b = await makeDeviceUser(t);
      const other = await newSession(t, a.id, { deviceId: 1 });
      const post = (
        token: string,
        body: unknown = sendBody(b.username, { clientId: randomUUID(), body: b64(8) }),
      ) => two.api.post('/send_message', body, { token });
      expect((await post(a.token)).status).toBe(201);
      expect((await post(a.token, { to: b.username })).status).toBe(400); // live session: validation speaks
      // Logout on instance t; the very next send on instance two is refused.
      expect((await t.api.post('/logout', {}, { token: a.token })).status).toBe(204);
      const refused = await post(a.token);
      expect(refused.status).toBe(401);
      expect(refused.body.error).toBe('session_revoked');
      // The session is checked before validation, the body limit, the recipient and the rate limit.
      expect((await post(a.token, { to: b.username })).body.error).toBe('session_revoked');
      expect((await post(a.token, sendBody('nobody_here', { clientId: 'x', body: b64(8) }))).status).toBe(
        401,
      );
      expect(
        (await post(a.token, sendBody(b.username, { clientId: 'x', body: 'A'.repeat(2_000_000) }))).status,
      ).toBe(401);
      // The other session still sends; logout-all ends it too, at once.
      expect((await post(other.token)).status).toBe(201);
      expect((await t.api.post('/logout/all', {}, { token: other.token })).status).toBe(204);
      expect((await post(other.token)).body.error).toBe('session_revoked');
      const stored = await t.deps.pool.query('SELECT count(*)::int AS n FROM messages WHERE sender_id = $1', [
        a.id,
      ]);
      expect(stored.rows[0].n).toBe(2);
      // No token was taken for the refused sends.
      const bucket = await t.deps.pool.query(
        `SELECT tokens FROM token_buckets WHERE user_id = $1 AND bucket = 'send'`,
        [a.id],
      );
      expect(bucket.rows[0].tokens).toBe(998);
    } finally {
      await two.close();
    }
  });
});

describe('limits and retention', () => {
  it('limits sends per user with a token bucket shared by two relay instances', async () => {
    const env = { SEND_RATE_BURST: '3', SEND_RATE_PER_SECOND: '1' };
    const one = await startTestApp({ databaseUrl: db.url, env, clock: t.clock });
    const two = await startTestApp({ databaseUrl: db.url, env, clock: t.clock });
    try {
      const a = await makeDeviceUser(one);
      const b = await makeDeviceUser(one);
      const post = (app: TestApp) =>
        app.api.post('/send_message', sendBody(b.username, { clientId: randomUUID(), body: b64(8) }), {
          token: a.token,
        });
      expect((await post(one)).status).toBe(201);
      expect((await post(two)).status).toBe(201);
      expect((await post(one)).status).toBe(201);
      const limited = await post(two);
      expect(limited.status).toBe(429);
      expect(limited.body).toMatchObject({ error: 'rate_limited', retry_after_seconds: 1 });
      expect((await post(one)).status).toBe(429);
      // Another user is not affected; one second refills one token.
      expect(
        (
          await one.api.post('/send_message', sendBody(a.username, { clientId: 'x1', body: b64(8) }), {
            token: b.token,
          })
        ).status,
      ).toBe(201);
      t.clock.advance(1000);
      expect((await post(two)).status).toBe(201);
      expect((await post(one)).status).toBe(429);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('refuses sends to a full mailbox until the receiver acknowledges', async () => {
    const small = await startTestApp({
      databaseUrl: db.url,
      clock: t.clock,
      env: { MAX_PENDING_MESSAGES: '10', SEND_RATE_BURST: '100' },
    });
    try {
      const [a, c, b] = [
        await makeDeviceUser(small),
        await makeDeviceUser(small),
        await makeDeviceUser(small),
      ];
      const post = (from: DataUser) =>
        small.api.post('/send_message', sendBody(b.username, { clientId: randomUUID(), body: b64(8) }), {
          token: from.token,
        });
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) ids.push((await post(i % 2 ? a : c)).body.id);
      const full = await post(a);
      expect(full.status).toBe(409);
      expect(full.body.error).toBe('mailbox_full');
      expect((await post(c)).status).toBe(409); // for every sender
      await small.api.post('/ack', { ids: ids.slice(0, 2) }, { token: b.token });
      expect((await post(a)).status).toBe(201);
      expect((await post(c)).status).toBe(201);
      expect((await post(a)).status).toBe(409);
    } finally {
      await small.close();
    }
  });

  it('counts the mailbox exactly when old unacknowledged messages widen the seq range', async () => {
    // The send statement's quick bound (last seq + 1 - oldest unacknowledged seq) reaches the cap
    // here while only one message is held: the exact count must decide, and let sends through.
    const small = await startTestApp({
      databaseUrl: db.url,
      clock: t.clock,
      env: { MAX_PENDING_MESSAGES: '10', SEND_RATE_BURST: '100' },
    });
    try {
      const [a, b] = [await makeDeviceUser(small), await makeDeviceUser(small)];
      const post = () =>
        small.api.post('/send_message', sendBody(b.username, { clientId: randomUUID(), body: b64(8) }), {
          token: a.token,
        });
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) ids.push((await post()).body.id);
      expect((await post()).status).toBe(409);
      // Keep the oldest, acknowledge the other nine: one held, seq range still 10 wide.
      await small.api.post('/ack', { ids: ids.slice(1) }, { token: b.token });
      for (let i = 0; i < 9; i++) expect((await post()).status).toBe(201);
      const full = await post();
      expect(full.status).toBe(409);
      expect(full.body.error).toBe('mailbox_full');
    } finally {
      await small.close();
    }
  });

  it('deletes unacknowledged messages, tombstones and events once retention has passed', async () => {
    const a = await makeDeviceUser(t);
    const b = await makeDeviceUser(t);
    const old = await send(a, b.username);
    const acked = await send(a, b.username);
    await t.api.post('/ack', { ids: [acked.body.id] }, { token: b.token });
    const day = 86_400_000;
    t.clock.advance(29 * day);
    // Access tokens are short-lived: new sessions at the new time.
    Object.assign(a, await newSession(t, a.id, { deviceId: 1 }));
    Object.assign(b, await newSession(t, b.id, { deviceId: 1 }));
    const fresh = await send(a, b.username);
    expect(fresh.status).toBe(201);
    expect(await sweepOnce(t.deps, new Date(t.clock.now()))).toMatchObject({ messages: 0 });
    t.clock.advance(1 * day + 1000);
    Object.assign(b, await newSession(t, b.id, { deviceId: 1 }));
    const swept = await sweepOnce(t.deps, new Date(t.clock.now()));
    expect(swept.messages).toBeGreaterThanOrEqual(2);
    expect(swept.events).toBeGreaterThanOrEqual(1);
    const ids = (
      await t.deps.pool.query('SELECT id::int FROM messages WHERE sender_id = $1', [a.id])
    ).rows.map((r) => r.id);
    expect(ids).toEqual([fresh.body.id]);
    expect(ids).not.toContain(old.body.id);
    const inbox = await t.api.get('/get_messages', { token: b.token });
    expect(inbox.body.messages.map((m: { id: number }) => m.id)).toEqual([fresh.body.id]);
  });
});
