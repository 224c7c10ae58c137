// Linked devices on the relay (spec/protocol.md §16; spec/openapi.yaml POST /keys, GET
// /keys/{username}, GET /identity/{username}, /devices), each rule written as the attack first:
// a device-less session (a stolen login) fetching bundles or uploading prekeys, linking past the
// device cap, a removed device resuming, an unlinked device keeping its token or socket, one-time
// prekeys handed out twice across devices, a start over leaving the old devices alive.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStream } from '../src/messages/stream.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { registerUser } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { addDevice, deviceUpload, provisionedSession, type TestDevice } from './helpers/devices.js';
import { identityFor } from './helpers/identity.js';
import { type DataUser, makeUser, newSession, WsClient } from './helpers/relay-data.js';

const LIMIT = 3;
let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({
    databaseUrl: db.url,
    env: {
      DEVICE_LIMIT: String(LIMIT),
      PREKEY_FETCH_BURST: '1000',
      IDENTITY_LOOKUP_BURST: '1000',
      LIST_CHANGE_BURST: '1000',
      PREKEY_LOW_THRESHOLD: '2',
    },
  });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

/** An account with its first device set up (device 1). */
async function account(prefix = 'dev', opts: { opk?: number; pq?: number } = {}) {
  const user = await makeUser(t, prefix);
  const id = identityFor(user.username);
  const res = await t.api.post('/keys', deviceUpload(id, opts), { token: user.token });
  expect(res.status, res.text).toBe(200);
  const first: TestDevice = {
    deviceId: res.body.device_id,
    sessionId: user.sessionId,
    token: user.token,
    resumeSecret: res.body.resume_secret,
  };
  return { user, id, first };
}

const streamKinds = async (userId: string) =>
  (
    await t.deps.pool.query<{ kind: string }>(
      'SELECT kind FROM stream_events WHERE user_id = $1 ORDER BY seq',
      [userId],
    )
  ).rows.map((r) => r.kind);

const stock = async (userId: string, deviceId: number) =>
  (
    await t.deps.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM one_time_prekeys WHERE user_id = $1 AND device_id = $2',
      [userId, deviceId],
    )
  ).rows[0]?.n;

describe('POST /keys: devices', () => {
  it('the first identity key makes device 1 and binds the session to it', async () => {
    const user = await makeUser(t);
    const id = identityFor(user.username);
    const res = await t.api.post(
      '/keys',
      { ...deviceUpload(id), device: { name: 'Firefox on Android', kind: 'phone' } },
      { token: user.token },
    );
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ device_id: 1, device_created: true, identity_changed: false });
    const status = await t.api.get('/keys', { token: user.token });
    expect(status.body).toMatchObject({ device_id: 1, one_time_prekeys: 3, one_time_pq_prekeys: 3 });
    const list = await t.api.get('/devices', { token: user.token });
    expect(list.body.devices).toEqual([
      expect.objectContaining({ device_id: 1, name: 'Firefox on Android', kind: 'phone', current: true }),
    ]);
  });

  it('the same identity from a new login LINKS a new device: no key_change for contacts, devices_changed for the account', async () => {
    const { user, id, first } = await account();
    const carol = await makeUser(t, 'carol');
    // carol and the owner are contacts both ways
    await t.api.post('/contacts', { username: carol.username }, { token: user.token });
    await t.api.post('/contacts', { username: user.username }, { token: carol.token });
    const ws = await WsClient.connect(t.baseUrl, first.token);
    try {
      const second = await addDevice(t, user.id, id, { device: { name: 'Laptop', kind: 'desktop' } });
      expect(second.deviceId).toBe(2);
      // (Each has a contacts_changed item from adding the other, for its own other devices.)
      expect(await streamKinds(carol.id)).toEqual(['contacts_changed']);
      expect(await streamKinds(user.id)).toEqual(['contacts_changed', 'devices_changed']);
      await ws.next((f) => f.type === 'devices_changed');
      const list = await t.api.get('/devices', { token: second.token });
      expect(
        list.body.devices.map((d: { device_id: number; current: boolean }) => [d.device_id, d.current]),
      ).toEqual([
        [1, false],
        [2, true],
      ]);
      // Prekeys are per device: each has its own stock.
      expect(await stock(user.id, 1)).toBe(3);
      expect(await stock(user.id, 2)).toBe(3);
    } finally {
      ws.close();
    }
  });

  it('attack: a device-less session cannot upload prekeys, fetch bundles or PUT provisioning (409 device_required)', async () => {
    const { user } = await account();
    const bob = await account('bob');
    const stolen = await newSession(t, user.id);
    const up = await t.api.post(
      '/keys',
      { one_time_prekeys: [{ key_id: 9999, public_key: Buffer.alloc(32, 1).toString('base64') }] },
      { token: stolen.token },
    );
    expect([up.status, up.body.error]).toEqual([409, 'device_required']);
    const fetch = await t.api.get(`/keys/${bob.user.username}`, { token: stolen.token });
    expect([fetch.status, fetch.body.error]).toEqual([409, 'device_required']);
    // The identity lookup spends nothing and stays open to it (a new device checks its account's key).
    const ident = await t.api.get(`/identity/${user.username}`, { token: stolen.token });
    expect(ident.status).toBe(200);
    expect((await t.api.get('/keys', { token: stolen.token })).body).toMatchObject({
      device_id: null,
      signed_prekey_id: null,
      one_time_prekeys: 0,
    });
  });

  it(`attack: linking past DEVICE_LIMIT (${LIMIT}) is refused (409 device_limit), also by concurrent links`, async () => {
    const { user, id } = await account();
    await addDevice(t, user.id, id);
    // Two links race for the last slot: exactly one wins.
    const a = await provisionedSession(t, user.id);
    const b = await provisionedSession(t, user.id);
    const [ra, rb] = await Promise.all([
      t.api.post('/keys', deviceUpload(id), { token: a.token }),
      t.api.post('/keys', deviceUpload(id), { token: b.token }),
    ]);
    expect([ra.status, rb.status].sort()).toEqual([200, 409]);
    const refused = ra.status === 409 ? ra : rb;
    expect(refused.body).toMatchObject({ error: 'device_limit', limit: LIMIT });
    const c = await provisionedSession(t, user.id);
    const rc = await t.api.post('/keys', deviceUpload(id), { token: c.token });
    expect([rc.status, rc.body.error]).toEqual([409, 'device_limit']);
    // Nothing of a refused link is stored: no device, no prekeys, the session still device-less.
    const n = await t.deps.pool.query('SELECT count(*)::int AS n FROM devices WHERE user_id = $1', [user.id]);
    expect(n.rows[0].n).toBe(LIMIT);
    expect((await t.api.get('/keys', { token: c.token })).body.device_id).toBeNull();
  });

  it('RESUME: a new login with device_id binds to that device; a removed or unknown one is 409 device_removed', async () => {
    const { user, id, first } = await account();
    const second = await addDevice(t, user.id, id);
    const again = await newSession(t, user.id);
    const resumed = await t.api.post(
      '/keys',
      {
        identity_key: id.identity_key,
        identity_proof: id.identity_proof,
        device_id: second.deviceId,
        resume_secret: second.resumeSecret,
      },
      { token: again.token },
    );
    expect(resumed.status, resumed.text).toBe(200);
    // The secret is not rotated by a resume: a retry whose answer was lost still works.
    expect(resumed.body.resume_secret).toBeUndefined();
    expect(resumed.body).toMatchObject({
      device_id: second.deviceId,
      device_created: false,
      one_time_prekeys: 3,
    });
    expect((await t.api.get('/devices', { token: again.token })).body.devices).toHaveLength(2);

    expect((await t.api.delete(`/devices/${second.deviceId}`, { token: first.token })).status).toBe(204);
    const later = await newSession(t, user.id);
    for (const deviceId of [second.deviceId, 77]) {
      const r = await t.api.post(
        '/keys',
        {
          identity_key: id.identity_key,
          identity_proof: id.identity_proof,
          device_id: deviceId,
          resume_secret: second.resumeSecret,
        },
        { token: later.token },
      );
      expect([r.status, r.body.error]).toEqual([409, 'device_removed']);
    }
    // A bound session naming another device is refused.
    const other = await t.api.post(
      '/keys',
      { identity_key: id.identity_key, identity_proof: id.identity_proof, device_id: 5 },
      { token: first.token },
    );
    expect([other.status, other.body.error]).toEqual([409, 'device_mismatch']);
  });

  it("RESUME attack: another login with the identity proof and an active device's id is refused without that device's secret", async () => {
    const { user, id, first } = await account();
    const laptop = await addDevice(t, user.id, id);
    const proof = { identity_key: id.identity_key, identity_proof: id.identity_proof };
    const before = await t.api.get('/keys', { token: laptop.token });
    // The thief: a fresh login of the account (TOTP) holding a device's storage (identity seed),
    // naming the owner's still-active laptop, with no secret, another device's secret or junk.
    const thief = await newSession(t, user.id);
    for (const resume_secret of [undefined, first.resumeSecret, Buffer.alloc(32).toString('base64')]) {
      const r = await t.api.post(
        '/keys',
        { ...deviceUpload(id), device_id: laptop.deviceId, ...(resume_secret ? { resume_secret } : {}) },
        { token: thief.token },
      );
      expect([r.status, r.body.error]).toEqual([403, 'resume_refused']);
    }
    // Nothing changed: the thief is still device-less (no mailbox to read or acknowledge), the
    // laptop's prekeys are the ones it published.
    expect((await t.api.get('/keys', { token: thief.token })).body.device_id).toBeNull();
    for (const r of [
      await t.api.get('/get_messages', { token: thief.token }),
      await t.api.post('/ack', { ids: [1] }, { token: thief.token }),
    ])
      expect([r.status, r.body.error]).toEqual([409, 'device_required']);
    expect((await t.api.get('/keys', { token: laptop.token })).body).toEqual(before.body);
    // The laptop itself, logging in again, resumes with its secret.
    const back = await newSession(t, user.id);
    const ok = await t.api.post(
      '/keys',
      { ...proof, device_id: laptop.deviceId, resume_secret: laptop.resumeSecret },
      { token: back.token },
    );
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.device_id).toBe(laptop.deviceId);
    expect((await t.api.get('/get_messages', { token: back.token })).status).toBe(200);
    // resume_secret without device_id is a malformed request.
    const stray = await t.api.post(
      '/keys',
      { ...proof, resume_secret: laptop.resumeSecret },
      { token: thief.token },
    );
    expect(stray.status).toBe(400);
    // The secret never reaches the logs (SECURITY.md).
    const logs = t.logs.join('');
    expect(logs).toContain('/keys');
    for (const secret of [first.resumeSecret, laptop.resumeSecret]) expect(logs).not.toContain(secret);
  });

  it('RESUME of a device made before resume secrets: refused while another session is bound to it, else it gets a secret', async () => {
    const { user, id } = await account();
    const old = await addDevice(t, user.id, id);
    await t.deps.pool.query(
      'UPDATE devices SET resume_secret_hash = NULL WHERE user_id = $1 AND device_id = $2',
      [user.id, old.deviceId],
    );
    const proof = {
      identity_key: id.identity_key,
      identity_proof: id.identity_proof,
      device_id: old.deviceId,
    };
    const thief = await newSession(t, user.id);
    const busy = await t.api.post('/keys', proof, { token: thief.token });
    expect([busy.status, busy.body.error]).toEqual([403, 'resume_refused']);
    // Its sessions ended (logged out): the next login resumes it and receives a secret, which is
    // needed from then on.
    await t.deps.pool.query(
      "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE id = $1",
      [old.sessionId],
    );
    const back = await newSession(t, user.id);
    const ok = await t.api.post('/keys', proof, { token: back.token });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.resume_secret).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    await t.deps.pool.query(
      "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE id = $1",
      [back.sessionId],
    );
    const without = await t.api.post('/keys', proof, { token: thief.token });
    expect([without.status, without.body.error]).toEqual([403, 'resume_refused']);
    const again = await t.api.post(
      '/keys',
      { ...proof, resume_secret: ok.body.resume_secret },
      { token: thief.token },
    );
    expect(again.status, again.text).toBe(200);
    expect(t.logs.join('')).not.toContain(ok.body.resume_secret);
  });

  it('rejects bad device descriptions with 400', async () => {
    const user = await makeUser(t);
    const id = identityFor(user.username);
    for (const device of [
      { name: '', kind: 'phone' },
      { name: 'x'.repeat(65), kind: 'phone' },
      { name: 'evil\u202eenohp', kind: 'phone' },
      { name: 'line\nbreak', kind: 'phone' },
      { name: 'nul\u0000', kind: 'phone' },
      { name: 'lone \ud800 surrogate', kind: 'phone' },
      { name: 'ok', kind: 'toaster' },
      { name: 'ok', kind: 'phone', extra: 1 },
    ]) {
      const r = await t.api.post('/keys', { ...deviceUpload(id), device }, { token: user.token });
      expect([r.status, r.body.error], JSON.stringify(device)).toEqual([400, 'invalid_request']);
    }
    for (const device_id of [0, -1, 2 ** 31, 1.5, '1'])
      expect(
        (await t.api.post('/keys', { ...deviceUpload(id), device_id }, { token: user.token })).status,
      ).toBe(400);
  });
});

describe('GET /keys/{username}: one bundle per device', () => {
  it('returns every device of the user, spending one one-time prekey of each', async () => {
    const bob = await account('bob');
    const bob2 = await addDevice(t, bob.user.id, bob.id);
    const alice = await account('alice');
    const res = await t.api.get(`/keys/${bob.user.username}`, { token: alice.first.token });
    expect(res.status, res.text).toBe(200);
    expect(res.body.identity_key).toBe(bob.id.identity_key);
    expect(res.body.devices.map((d: { device_id: number }) => d.device_id)).toEqual([1, bob2.deviceId]);
    for (const d of res.body.devices) {
      expect(d.one_time_prekey).not.toBeNull();
      expect(d.pq_prekey.kind).toBe('one_time');
    }
    expect(await stock(bob.user.id, 1)).toBe(2);
    expect(await stock(bob.user.id, bob2.deviceId)).toBe(2);
    // ?device_ids= returns (and spends) only those.
    const only = await t.api.get(`/keys/${bob.user.username}?device_ids=${bob2.deviceId}`, {
      token: alice.first.token,
    });
    expect(only.body.devices.map((d: { device_id: number }) => d.device_id)).toEqual([bob2.deviceId]);
    expect(await stock(bob.user.id, 1)).toBe(2);
    expect(await stock(bob.user.id, bob2.deviceId)).toBe(1);
    const none = await t.api.get(`/keys/${bob.user.username}?device_ids=9`, { token: alice.first.token });
    expect(none.status).toBe(404);
  });

  it("own account: the caller's sibling devices, never its own device", async () => {
    const me = await account('me');
    const sibling = await addDevice(t, me.user.id, me.id);
    const res = await t.api.get(`/keys/${me.user.username}`, { token: me.first.token });
    expect(res.body.devices.map((d: { device_id: number }) => d.device_id)).toEqual([sibling.deviceId]);
    const self = await t.api.get(`/keys/${me.user.username}?device_ids=1`, { token: me.first.token });
    expect(self.status).toBe(404);
    const lone = await account('lone');
    expect((await t.api.get(`/keys/${lone.user.username}`, { token: lone.first.token })).status).toBe(404);
  });

  it('rejects malformed device_ids with 400', async () => {
    const me = await account();
    for (const q of [
      '',
      '0',
      'a',
      '1,,2',
      '-1',
      '01',
      '12345678901',
      Array(17)
        .fill(0)
        .map((_, i) => i + 1)
        .join(','),
    ])
      expect(
        (await t.api.get(`/keys/${me.user.username}?device_ids=${q}`, { token: me.first.token })).status,
        q,
      ).toBe(400);
    expect((await t.api.get(`/keys/${me.user.username}?other=1`, { token: me.first.token })).status).toBe(
      400,
    );
  });

  it('attack: concurrent fetches never get the same one-time prekey of any device', async () => {
    const N = 6;
    const bob = await account('bob', { opk: N, pq: N });
    const bob2 = await addDevice(t, bob.user.id, bob.id, { opk: N, pq: N });
    const fetchers = await Promise.all(Array.from({ length: 4 }, () => account('f')));
    const results = await Promise.all(
      Array.from({ length: N + 3 }, (_, i) =>
        t.api.get(`/keys/${bob.user.username}`, {
          token: (fetchers[i % fetchers.length] as { first: TestDevice }).first.token,
        }),
      ),
    );
    for (const device of [1, bob2.deviceId]) {
      const x: number[] = [];
      const pq: number[] = [];
      for (const r of results) {
        expect(r.status).toBe(200);
        const d = r.body.devices.find((b: { device_id: number }) => b.device_id === device);
        if (d.one_time_prekey) x.push(d.one_time_prekey.key_id);
        if (d.pq_prekey.kind === 'one_time') pq.push(d.pq_prekey.key_id);
      }
      // Every key handed out once, each fetch beyond the stock got none.
      expect(new Set(x).size).toBe(N);
      expect(x).toHaveLength(N);
      expect(new Set(pq).size).toBe(N);
      expect(pq).toHaveLength(N);
      expect(await stock(bob.user.id, device)).toBe(0);
    }
  });

  it('GET /identity/{username} lists the active devices with a complete bundle', async () => {
    const bob = await account('bob');
    const bob2 = await addDevice(t, bob.user.id, bob.id);
    const alice = await account('alice');
    const r = await t.api.get(`/identity/${bob.user.username}`, { token: alice.first.token });
    expect(r.body.device_ids).toEqual([1, bob2.deviceId]);
    expect(r.body.devices).toHaveLength(2);
  });
});

describe('DELETE /devices/{id}: unlink', () => {
  it("revokes the removed device's sessions at once: its token is refused and its socket closed", async () => {
    const { user, id, first } = await account();
    const second = await addDevice(t, user.id, id);
    const ws = await WsClient.connect(t.baseUrl, second.token);
    const alice = await account('alice');
    expect((await t.api.delete(`/devices/${second.deviceId}`, { token: first.token })).status).toBe(204);
    expect(await ws.closed()).toBe(4403);
    const refused = await t.api.get('/devices', { token: second.token });
    expect([refused.status, refused.body.error]).toEqual([401, 'session_revoked']);
    // Its prekeys are gone, it is no recipient any more, the others are told.
    expect(await stock(user.id, second.deviceId)).toBe(0);
    const bundle = await t.api.get(`/keys/${user.username}`, { token: alice.first.token });
    expect(bundle.body.devices.map((d: { device_id: number }) => d.device_id)).toEqual([1]);
    expect(
      (await t.api.get(`/identity/${user.username}`, { token: alice.first.token })).body.device_ids,
    ).toEqual([1]);
    expect(await streamKinds(user.id)).toEqual(['devices_changed', 'devices_changed']);
    expect((await t.api.get('/devices', { token: first.token })).body.devices).toHaveLength(1);
    // Removed once; its id is never reused.
    expect((await t.api.delete(`/devices/${second.deviceId}`, { token: first.token })).status).toBe(404);
    const third = await addDevice(t, user.id, id);
    expect(third.deviceId).toBe(3);
  });

  it('attack: removing ANOTHER device needs a fresh second factor (403 reauth_required); removing oneself does not', async () => {
    const { user, id, first } = await account();
    const second = await addDevice(t, user.id, id);
    t.clock.advance(6 * 60_000);
    const stale = await t.api.delete(`/devices/${second.deviceId}`, { token: first.token });
    expect([stale.status, stale.body.error]).toEqual([403, 'reauth_required']);
    expect((await t.api.get('/devices', { token: second.token })).status).toBe(200);
    expect((await t.api.delete(`/devices/${second.deviceId}`, { token: second.token })).status).toBe(204);
    expect((await t.api.get('/devices', { token: second.token })).status).toBe(401);
  });

  it("attack: a device-less login (a thief with a TOTP code, fresh) cannot unlink the owner's devices (409 device_required)", async () => {
    // Unlinking is device management, done from a device of the account (Signal: from a linked
    // device); a login alone — fresh, so the reauth rule passes — must not silently cut the
    // owner off (a start over would at least warn every contact).
    const { user, id, first } = await account();
    const second = await addDevice(t, user.id, id);
    const thief = await newSession(t, user.id);
    for (const d of [first.deviceId, second.deviceId]) {
      const r = await t.api.delete(`/devices/${d}`, { token: thief.token });
      expect([r.status, r.body.error]).toEqual([409, 'device_required']);
    }
    expect((await t.api.get('/devices', { token: first.token })).body.devices).toHaveLength(2);
  });

  it("another account's device, an unknown one and malformed ids: 404 / 400", async () => {
    const a = await account();
    const b = await account();
    await addDevice(t, b.user.id, b.id);
    expect((await t.api.delete('/devices/2', { token: a.first.token })).status).toBe(404);
    expect((await t.api.get('/devices', { token: b.first.token })).body.devices).toHaveLength(2);
    for (const bad of ['0', 'x', '01', '2147483648', '-1', '1.0'])
      expect((await t.api.delete(`/devices/${bad}`, { token: a.first.token })).status, bad).toBe(400);
  });
});

describe('START OVER: a new identity key removes every other device, and only then tells contacts', () => {
  it('without a fresh second factor nothing happens (403), with it the old devices are gone before key_change', async () => {
    const { user, id, first } = await account();
    const second = await addDevice(t, user.id, id);
    const carol = await makeUser(t, 'carol');
    await t.api.post('/contacts', { username: carol.username }, { token: user.token });
    const ws = await WsClient.connect(t.baseUrl, first.token);
    const fresh = identityFor(user.username);

    const stale = await newSession(t, user.id, { fresh: false });
    const refused = await t.api.post('/keys', deviceUpload(fresh), { token: stale.token });
    expect([refused.status, refused.body.error]).toEqual([403, 'reauth_required']);
    expect(await streamKinds(carol.id)).toEqual([]);
    expect((await t.api.get('/devices', { token: second.token })).body.devices).toHaveLength(2);

    const newcomer = await newSession(t, user.id);
    const res = await t.api.post('/keys', deviceUpload(fresh), { token: newcomer.token });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ identity_changed: true, device_created: true, device_id: 3 });
    expect(await ws.closed()).toBe(4403);
    for (const old of [first, second])
      expect((await t.api.get('/devices', { token: old.token })).status).toBe(401);
    const devices = await t.deps.pool.query(
      'SELECT device_id, removed_reason FROM devices WHERE user_id = $1 ORDER BY device_id',
      [user.id],
    );
    expect(devices.rows).toEqual([
      { device_id: 1, removed_reason: 'start_over' },
      { device_id: 2, removed_reason: 'start_over' },
      { device_id: 3, removed_reason: null },
    ]);
    const oldKeys = await t.deps.pool.query(
      `SELECT (SELECT count(*)::int FROM signed_prekeys WHERE user_id = $1 AND device_id < 3)
            + (SELECT count(*)::int FROM one_time_prekeys WHERE user_id = $1 AND device_id < 3) AS n`,
      [user.id],
    );
    expect(oldKeys.rows[0].n).toBe(0);
    expect(await streamKinds(carol.id)).toEqual(['key_change']);
    // Bundles now come from the new device only, under the new identity.
    const alice = await account('alice');
    const b = await t.api.get(`/keys/${user.username}`, { token: alice.first.token });
    expect(b.body.identity_key).toBe(fresh.identity_key);
    expect(b.body.devices.map((d: { device_id: number }) => d.device_id)).toEqual([3]);
    // The old device logging in again cannot resume.
    const back = await newSession(t, user.id);
    const resume = await t.api.post(
      '/keys',
      { identity_key: id.identity_key, identity_proof: id.identity_proof, device_id: 1 },
      { token: back.token },
    );
    expect(resume.status).toBe(409);
  });
});

describe('sessions carry their device', () => {
  it("a refresh keeps the device and marks it seen; a session cannot be bound to another account's device", async () => {
    const u = await registerUser(t.api, t.clock, `refresh_${Date.now().toString(36)}`);
    const id = identityFor(u.username);
    expect((await t.api.post('/keys', deviceUpload(id), { token: u.access })).body.device_id).toBe(1);
    const before = (await t.api.get('/devices', { token: u.access })).body.devices[0].last_seen_at;
    t.clock.advance(60_000);
    const r = await t.api.post('/session/refresh', { refresh_token: u.refresh });
    expect(r.status, r.text).toBe(200);
    const after = await t.api.get('/devices', { token: r.body.access_token });
    expect(after.body.devices[0]).toMatchObject({ device_id: 1, current: true });
    expect(Date.parse(after.body.devices[0].last_seen_at)).toBe(Date.parse(before) + 60_000);
    expect((await t.api.get('/keys', { token: r.body.access_token })).body.device_id).toBe(1);
    const intruder: DataUser = await makeUser(t);
    await expect(
      t.deps.pool.query('UPDATE sessions SET device_id = 1 WHERE id = $1', [intruder.sessionId]),
    ).rejects.toMatchObject({ code: '23503' });
  });
});

describe('the mailbox hook (delete_device_mailbox, replaced by the per-device messages migration)', () => {
  it('is called in the removing transaction for each removed device: unlink and start over', async () => {
    // Record the calls instead of deleting (this test's own database).
    await t.deps.pool.query('CREATE TABLE mailbox_calls (user_id uuid, device_id integer)');
    await t.deps.pool.query(`CREATE OR REPLACE FUNCTION delete_device_mailbox(p_user uuid, p_device integer)
      RETURNS bigint LANGUAGE sql VOLATILE AS $$
        INSERT INTO mailbox_calls VALUES (p_user, p_device) RETURNING 0::bigint $$`);
    const { user, id, first } = await account();
    const second = await addDevice(t, user.id, id);
    const third = await addDevice(t, user.id, id);
    expect((await t.api.delete(`/devices/${second.deviceId}`, { token: first.token })).status).toBe(204);
    const fresh = identityFor(user.username);
    const s = await newSession(t, user.id);
    expect((await t.api.post('/keys', deviceUpload(fresh), { token: s.token })).status).toBe(200);
    const calls = await t.deps.pool.query('SELECT user_id, device_id FROM mailbox_calls ORDER BY device_id');
    expect(calls.rows).toEqual([
      { user_id: user.id, device_id: 1 },
      { user_id: user.id, device_id: second.deviceId },
      { user_id: user.id, device_id: third.deviceId },
    ]);
  });
});

describe('publishedDeviceIds (the recipient list a send is checked against)', () => {
  it('equals the device_ids of GET /identity/{username}', async () => {
    const { publishedDeviceIds } = await import('../src/devices/store.js');
    const bob = await account('bob');
    const bob2 = await addDevice(t, bob.user.id, bob.id);
    // A linked session that uploaded its identity but no signed prekeys yet is not a recipient.
    const half = await provisionedSession(t, bob.user.id);
    const r = await t.api.post(
      '/keys',
      { identity_key: bob.id.identity_key, identity_proof: bob.id.identity_proof },
      { token: half.token },
    );
    expect(r.body.device_id).toBe(3);
    const ident = await t.api.get(`/identity/${bob.user.username}`, { token: bob.first.token });
    expect(await publishedDeviceIds(t.deps.pool, bob.user.id)).toEqual(ident.body.device_ids);
    expect(ident.body.device_ids).toEqual([1, bob2.deviceId]);
  });
});

describe('spec drift', () => {
  it('the device-name rule is the pattern of spec/openapi.yaml DeviceName', async () => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    const { SPEC_PATH } = await import('./helpers/openapi.js');
    const { DEVICE_NAME_PATTERN } = await import('../src/devices/validate.js');
    const spec = parse(readFileSync(SPEC_PATH, 'utf8'));
    expect(spec.components.schemas.DeviceName.pattern).toBe(DEVICE_NAME_PATTERN);
  });
});

describe('contacts_changed: the account’s contact and block lists changed on another device', () => {
  it('each change reaches the account’s other devices, never the session that made it; a request that changes nothing adds none', async () => {
    const { user, id, first } = await account('ccl');
    const second = await addDevice(t, user.id, id);
    const bob = await makeUser(t, 'ccb');
    const secondWs = await WsClient.connect(t.baseUrl, second.token);
    try {
      const head = Number(
        (
          await t.deps.pool.query<{ seq: string }>('SELECT seq FROM user_streams WHERE user_id = $1', [
            user.id,
          ])
        ).rows[0]?.seq ?? 0,
      );
      const steps: [method: 'post' | 'delete', path: string, body: unknown, status: number][] = [
        ['post', '/contacts', { username: bob.username }, 201],
        ['post', '/contacts', { username: bob.username.toUpperCase() }, 200],
        ['delete', `/contacts/${bob.username}`, undefined, 204],
        ['delete', `/contacts/${bob.username}`, undefined, 404],
        ['post', '/contacts', { username: bob.username }, 201],
        // Blocking a contact changes both lists at once: one item.
        ['post', '/blocks', { username: bob.username }, 201],
        ['post', '/blocks', { username: bob.username }, 200],
        ['delete', `/blocks/${bob.username}`, undefined, 204],
        ['delete', `/blocks/${bob.username}`, undefined, 404],
      ];
      for (const [method, path, body, status] of steps) {
        const res =
          method === 'post'
            ? await t.api.post(path, body, { token: first.token })
            : await t.api.delete(path, { token: first.token });
        expect(res.status, `${method} ${path}: ${res.text}`).toBe(status);
      }
      // Five changes took five seqs of the account's stream, the four requests that changed
      // nothing none; the session's newest item stands for its earlier ones (one row).
      const items = await t.deps.pool.query<{ seq: string }>(
        `SELECT seq FROM stream_events WHERE user_id = $1 AND kind = 'contacts_changed'`,
        [user.id],
      );
      expect(items.rows).toHaveLength(1);
      expect(Number(items.rows[0]?.seq) - head).toBe(5);
      const pushed = await secondWs.next((f) => f.type === 'contacts_changed' && f.seq === head + 5);
      expect(Object.keys(pushed).sort()).toEqual(['created_at', 'seq', 'type']);
      // The session that made the changes reads its stream (and so its socket is pushed) without
      // them, as for devices_changed (src/messages/stream.ts).
      const own = await readStream(t.deps.pool, user.id, first.deviceId, 0, 100, first.sessionId);
      expect(own.filter((i) => i.type === 'contacts_changed')).toEqual([]);
    } finally {
      secondWs.close();
    }
  });
});

describe('list changes from two devices at once', () => {
  const ROUNDS = 40;
  const state = async (userId: string, otherId: string) =>
    (
      await t.deps.pool.query<{ c: boolean; b: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM contacts WHERE user_id = $1 AND contact_id = $2) AS c,
                EXISTS (SELECT 1 FROM blocks WHERE user_id = $1 AND blocked_id = $2) AS b`,
        [userId, otherId],
      )
    ).rows[0];

  it('an add on one device and a block on the other never leave a blocked user a contact', async () => {
    const { user, id, first } = await account('lca');
    const second = await addDevice(t, user.id, id);
    const outcomes = new Set<string>();
    for (let i = 0; i < ROUNDS; i++) {
      const x = await makeUser(t, 'lcx');
      const [add, block] = await Promise.all([
        t.api.post('/contacts', { username: x.username }, { token: second.token }),
        t.api.post('/blocks', { username: x.username }, { token: first.token }),
      ]);
      // Whichever commits second sees the first: a block after the add removes the contact; an
      // add after the block is refused.
      outcomes.add(`${add.status} ${add.body.error ?? ''}/${block.status}`);
      expect(await state(user.id, x.id), `round ${i}: add ${add.status}, block ${block.status}`).toEqual({
        c: false,
        b: true,
      });
    }
    expect([...outcomes].every((o) => o === '201 /201' || o === '409 contact_blocked/201')).toBe(true);
  });

  it('two devices blocking (or adding) the same user at once both succeed: no spurious limit', async () => {
    const { user, id, first } = await account('lcb');
    const second = await addDevice(t, user.id, id);
    for (let i = 0; i < ROUNDS; i++) {
      const x = await makeUser(t, 'lcy');
      for (const path of ['/blocks', '/contacts']) {
        if (path === '/contacts') await t.api.delete(`/blocks/${x.username}`, { token: first.token });
        const answers = await Promise.all(
          [first, second].map((d) => t.api.post(path, { username: x.username }, { token: d.token })),
        );
        expect(
          answers.map((r) => r.status).sort(),
          `${path} round ${i}: ${answers.map((r) => r.text)}`,
        ).toEqual([200, 201]);
      }
    }
  });
});

describe('contacts_changed: bounded', () => {
  it('keeps one item per session that changed the lists: a flood of changes does not grow the stream', async () => {
    const { user, id, first } = await account('lcf');
    const second = await addDevice(t, user.id, id);
    const x = await makeUser(t, 'lcz');
    for (let i = 0; i < 10; i++) {
      expect((await t.api.post('/contacts', { username: x.username }, { token: first.token })).status).toBe(
        201,
      );
      expect((await t.api.delete(`/contacts/${x.username}`, { token: first.token })).status).toBe(204);
    }
    expect((await t.api.post('/blocks', { username: x.username }, { token: second.token })).status).toBe(201);
    const kinds = await streamKinds(user.id);
    expect(kinds.filter((k) => k === 'contacts_changed')).toHaveLength(2);
    // Each device still sees the other's newest change (never only its own, which it skips).
    const seen = async (d: TestDevice) =>
      (await readStream(t.deps.pool, user.id, d.deviceId, 0, 100, d.sessionId)).filter(
        (i) => i.type === 'contacts_changed',
      ).length;
    expect([await seen(first), await seen(second)]).toEqual([1, 1]);
  });
});
