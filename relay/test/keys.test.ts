// Keys (spec/openapi.yaml tag "keys"): upload, own status, bundle fetch handing out each one-time prekey
// once (also under concurrency), low-stock signal, fetch rate limit, key-change announcement.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { asDevice } from './helpers/devices.js';
import { identityFields, identityFor, type TestIdentity } from './helpers/identity.js';
import { b64, type DataUser, makeDeviceUser, makeUser, WsClient } from './helpers/relay-data.js';

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({
    databaseUrl: db.url,
    env: { PREKEY_FETCH_BURST: '1000', PREKEY_LOW_THRESHOLD: '5' },
  });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

const opks = (first: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ key_id: first + i, public_key: b64(32) }));

const pqOpks = (first: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ key_id: first + i, public_key: b64(1184), signature: b64(64) }));

/** A full upload for `u`: a real identity key with its proof (spec/protocol.md §4.6) and prekeys. */
function fullUpload(u: DataUser, nOpk: number, nPq = 0, id: TestIdentity = identityFor(u.username)) {
  return {
    ...identityFields(id),
    signed_prekey: { key_id: 1, public_key: b64(32), signature: b64(64) },
    pq_prekey: { key_id: 1, public_key: b64(1184), signature: b64(64) },
    one_time_prekeys: opks(100, nOpk),
    ...(nPq ? { one_time_pq_prekeys: pqOpks(100, nPq) } : {}),
  };
}

async function publish(u: DataUser, nOpk: number) {
  const body = fullUpload(u, nOpk);
  const res = await t.api.post('/keys', body, { token: u.token });
  expect(res.status).toBe(200);
  return body;
}

describe('key upload', () => {
  it('stores a full set and reports the stock', async () => {
    const u = await makeUser(t);
    const body = fullUpload(u, 10, 6);
    const res = await t.api.post('/keys', body, { token: u.token });
    expect(res.body).toEqual({
      identity_changed: false,
      device_id: 1,
      device_created: true,
      resume_secret: expect.any(String),
      one_time_prekeys: 10,
      prekeys_low: false,
      one_time_pq_prekeys: 6,
      pq_prekeys_low: false,
    });
    const status = await t.api.get('/keys', { token: u.token });
    expect(status.body).toEqual({
      identity_key: body.identity_key,
      device_id: 1,
      signed_prekey_id: 1,
      pq_prekey_id: 1,
      one_time_prekeys: 10,
      prekeys_low: false,
      one_time_pq_prekeys: 6,
      pq_prekeys_low: false,
    });
  });

  it('refuses prekeys before an identity key', async () => {
    const u = await makeUser(t);
    const res = await t.api.post('/keys', { one_time_prekeys: opks(1, 3) }, { token: u.token });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('identity_key_required');
  });

  it('caps sizes, counts and formats with 400, never 500', async () => {
    const u = await makeUser(t);
    const bad = [
      { identity_key: b64(65) },
      { identity_key: 'not base64!' },
      { identity_key: 'QUJD' + '\n' },
      { identity_key: '' },
      { identity_key: b64(32), pq_prekey: { key_id: 1, public_key: b64(1601), signature: b64(64) } },
      { identity_key: b64(32), signed_prekey: { key_id: 2 ** 32, public_key: b64(32), signature: b64(64) } },
      { identity_key: b64(32), signed_prekey: { key_id: 1, public_key: b64(32), signature: b64(129) } },
      { identity_key: b64(32), one_time_prekeys: opks(0, 201) },
      { identity_key: b64(32), one_time_prekeys: [...opks(0, 2), ...opks(0, 1)] },
      { identity_key: b64(32), extra: 1 },
      {},
      [],
    ];
    for (const body of bad) {
      const res = await t.api.post('/keys', body, { token: u.token });
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
    const notJson = await t.api.post('/keys', undefined, {
      token: u.token,
      raw: '{',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.status).toBe(400);
  });

  it('holds at most 500 one-time prekeys and refuses a stored key id twice', async () => {
    const u = await makeUser(t);
    await t.api.post('/keys', identityFields(identityFor(u.username)), { token: u.token });
    for (let i = 0; i < 2; i++) {
      const res = await t.api.post('/keys', { one_time_prekeys: opks(i * 200, 200) }, { token: u.token });
      expect(res.body.one_time_prekeys).toBe((i + 1) * 200);
    }
    const over = await t.api.post('/keys', { one_time_prekeys: opks(400, 101) }, { token: u.token });
    expect(over.status).toBe(409);
    expect(over.body.error).toBe('prekey_limit');
    const dup = await t.api.post('/keys', { one_time_prekeys: opks(399, 2) }, { token: u.token });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toBe('duplicate_key_id');
    const fill = await t.api.post('/keys', { one_time_prekeys: opks(400, 100) }, { token: u.token });
    expect(fill.body.one_time_prekeys).toBe(500);
  });

  it('requires authentication', async () => {
    expect((await t.api.post('/keys', { one_time_prekeys: opks(1, 1) })).status).toBe(401);
    expect((await t.api.get('/keys')).status).toBe(401);
    expect((await t.api.get('/keys/someone')).status).toBe(401);
  });
});

describe('bundle fetch', () => {
  it('returns the bundle and hands out each one-time prekey once, then none', async () => {
    const owner = await makeUser(t);
    const caller = await asDevice(t, await makeUser(t));
    const up = await publish(owner, 3);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.api.get(`/keys/${owner.username}`, { token: caller.token });
      expect(res.status).toBe(200);
      expect(res.body.identity_key).toBe(up.identity_key);
      expect(res.body.devices).toHaveLength(1);
      const [d] = res.body.devices;
      expect(d.device_id).toBe(1);
      expect(d.signed_prekey).toEqual(up.signed_prekey);
      expect(d.pq_prekey).toEqual({ kind: 'last_resort', ...up.pq_prekey });
      const opk = up.one_time_prekeys.find((k) => k.key_id === d.one_time_prekey.key_id);
      expect(d.one_time_prekey).toEqual(opk);
      seen.push(d.one_time_prekey.key_id);
    }
    expect(new Set(seen).size).toBe(3);
    const empty = await t.api.get(`/keys/${owner.username.toUpperCase()}`, { token: caller.token });
    expect(empty.status).toBe(200);
    expect(empty.body.devices[0].one_time_prekey).toBeNull();
  });

  it('never hands out one prekey twice under 25 concurrent fetches of 20 keys', async () => {
    const owner = await makeUser(t);
    await publish(owner, 20);
    const callers = await Promise.all(Array.from({ length: 5 }, async () => asDevice(t, await makeUser(t))));
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        t.api.get(`/keys/${owner.username}`, { token: (callers[i % 5] as DataUser).token }),
      ),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const ids = results.map((r) => r.body.devices[0].one_time_prekey?.key_id).filter((x) => x !== undefined);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
    const left = await t.deps.pool.query(
      'SELECT count(*)::int AS n FROM one_time_prekeys WHERE user_id = $1',
      [owner.id],
    );
    expect(left.rows[0].n).toBe(0);
  });

  it('answers 404 alike for an unknown user, an invalid name and a user without keys', async () => {
    const caller = await asDevice(t, await makeUser(t));
    const keyless = await makeUser(t);
    for (const name of ['nobody_here', 'x', '%E2%80%AE', keyless.username]) {
      const res = await t.api.get(`/keys/${name}`, { token: caller.token });
      expect(res.status).toBe(404);
      expect(res.body).toEqual({ error: 'not_found', message: 'no key bundle for this user' });
    }
  });

  it('tells the owner when the stock runs low: in the response and over the WebSocket', async () => {
    const owner = await makeUser(t);
    const caller = await asDevice(t, await makeUser(t));
    const up = await t.api.post('/keys', fullUpload(owner, 6, 20), { token: owner.token });
    expect(up.body.prekeys_low).toBe(false);
    const ws = await WsClient.connect(t.baseUrl, owner.token);
    await t.api.get(`/keys/${owner.username}`, { token: caller.token }); // 5 left: not yet low
    await t.api.get(`/keys/${owner.username}`, { token: caller.token }); // 4 left: low (threshold 5)
    const frame = await ws.next((f) => f.type === 'prekeys_low');
    expect(frame).toEqual({ type: 'prekeys_low', remaining: 4, remaining_pq: 18 });
    expect(ws.frames.filter((f) => f.type === 'prekeys_low')).toHaveLength(1);
    const status = await t.api.get('/keys', { token: owner.token });
    expect(status.body).toMatchObject({ one_time_prekeys: 4, prekeys_low: true });
    ws.close();
  });

  it('rate-limits fetches per caller with 429 and Retry-After, refilling with time', async () => {
    const limited = await startTestApp({
      databaseUrl: db.url,
      clock: t.clock,
      env: { PREKEY_FETCH_BURST: '3', PREKEY_FETCH_PER_MINUTE: '10' },
    });
    try {
      const owner = await makeUser(limited);
      const caller = await asDevice(limited, await makeUser(limited));
      const other = await asDevice(limited, await makeUser(limited));
      await publish(owner, 10);
      for (let i = 0; i < 3; i++)
        expect((await limited.api.get(`/keys/${owner.username}`, { token: caller.token })).status).toBe(200);
      const res = await limited.api.get(`/keys/${owner.username}`, { token: caller.token });
      expect(res.status).toBe(429);
      expect(res.body).toMatchObject({ error: 'rate_limited', retry_after_seconds: 6 });
      expect(res.headers.get('retry-after')).toBe('6');
      // Another caller has its own bucket; the limit also applies to names that do not exist.
      expect((await limited.api.get(`/keys/${owner.username}`, { token: other.token })).status).toBe(200);
      limited.clock.advance(6_000);
      expect((await limited.api.get(`/keys/${owner.username}`, { token: caller.token })).status).toBe(200);
      expect((await limited.api.get('/keys/nobody_at_all', { token: caller.token })).status).toBe(429);
    } finally {
      await limited.close();
    }
  });
});

describe('identity key change', () => {
  it('is allowed, drops the old prekeys and is announced to the contacts the owner added, not to those who added the owner', async () => {
    const alice = await makeUser(t, 'alice');
    const bob = await asDevice(t, await makeUser(t, 'bob'));
    // carol and dave only watch their streams over /ws: device sessions.
    const carol = await makeDeviceUser(t, 'carol');
    const dave = await makeDeviceUser(t, 'dave');
    const firstId = identityFor(alice.username);
    const first = fullUpload(alice, 5, 0, firstId);
    expect((await t.api.post('/keys', first, { token: alice.token })).status).toBe(200);
    // bob has alice as a contact; alice has carol; dave has no relation with alice.
    expect((await t.api.post('/contacts', { username: alice.username }, { token: bob.token })).status).toBe(
      201,
    );
    expect((await t.api.post('/contacts', { username: carol.username }, { token: alice.token })).status).toBe(
      201,
    );
    const bobWs = await WsClient.connect(t.baseUrl, bob.token);
    const daveWs = await WsClient.connect(t.baseUrl, dave.token);

    const same = await t.api.post('/keys', identityFields(firstId), { token: alice.token });
    expect(same.body).toMatchObject({ identity_changed: false, one_time_prekeys: 5 });

    const changed = await t.api.post('/keys', fullUpload(alice, 2), { token: alice.token });
    expect(changed.body).toEqual({
      identity_changed: true,
      device_id: 1,
      device_created: false,
      one_time_prekeys: 2,
      prekeys_low: true,
      one_time_pq_prekeys: 0,
      pq_prekeys_low: true,
    });
    // carol (whom alice added) was offline: she sees it when she connects and catches up from 0.
    const carolWs = await WsClient.connect(t.baseUrl, carol.token, 0);
    const frame = await carolWs.next((f) => f.type === 'key_change');
    expect(frame).toMatchObject({ type: 'key_change', username: alice.username });
    expect(frame.seq).toBeGreaterThan(0);
    // Notices go only to users alice added (spec/openapi.yaml POST /keys): bob, who merely added
    // alice, and dave get none. The notices are written in the upload's transaction, so the
    // stored streams are final once it has answered.
    const notices = await t.deps.pool.query<{ user_id: string }>(
      `SELECT user_id FROM stream_events WHERE kind = 'key_change' AND subject_id = $1`,
      [alice.id],
    );
    expect(notices.rows.map((r) => r.user_id)).toEqual([carol.id]);
    expect(bobWs.frames.filter((f) => f.type === 'key_change')).toHaveLength(0);
    expect(daveWs.frames.filter((f) => f.type === 'key_change')).toHaveLength(0);

    const bundle = await t.api.get(`/keys/${alice.username}`, { token: bob.token });
    expect(bundle.body.identity_key).not.toBe(first.identity_key);
    const otk = bundle.body.devices[0].one_time_prekey;
    expect(first.one_time_prekeys.map((k) => k.key_id)).toContain(otk.key_id); // ids reused…
    expect(first.one_time_prekeys.map((k) => k.public_key)).not.toContain(otk.public_key); // …keys new
    for (const c of [bobWs, carolWs, daveWs]) c.close();
  });
});
