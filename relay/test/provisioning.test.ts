// Provisioning addresses (spec/protocol.md §16 "Linking"; spec/openapi.yaml /provisioning), each
// rule written as the attack first: another account reading or filling an address, a device-less
// session (a stolen login) sealing to it, a message delivered twice, an address used after
// expiry, the message read by another session, unbounded addresses or bodies.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PROVISIONING_BYTES, PROVISIONING_TTL_SECONDS } from '../src/devices/limits.js';
import { sweepProvisioning } from '../src/devices/provisioning.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { addDevice, deviceUpload } from './helpers/devices.js';
import { identityFor } from './helpers/identity.js';
import { b64, makeUser, newSession } from './helpers/relay-data.js';

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

const OCTET = { 'content-type': 'application/octet-stream' };

/** An account with device 1, plus a new (device-less) login that opened an address. */
async function linking() {
  const user = await makeUser(t, 'link');
  const id = identityFor(user.username);
  const first = await t.api.post('/keys', deviceUpload(id), { token: user.token });
  expect(first.status).toBe(200);
  const newcomer = await newSession(t, user.id);
  const pqKey = b64(1184);
  const opened = await t.api.post(
    '/provisioning',
    { pq_key: pqKey, name: 'Chromium on Linux', kind: 'desktop' },
    { token: newcomer.token },
  );
  expect(opened.status, opened.text).toBe(201);
  return { user, id, device: user.token, newcomer, pqKey, address: opened.body.address as string };
}

const put = (address: string, token: string, body: Uint8Array, headers: Record<string, string> = OCTET) =>
  t.api.request('PUT', `/provisioning/${address}`, undefined, { token, raw: body, headers });

async function takeMessage(address: string, token: string) {
  const res = await fetch(`${t.baseUrl}/provisioning/${address}/message`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return {
    status: res.status,
    bytes: Buffer.from(await res.arrayBuffer()),
    type: res.headers.get('content-type'),
  };
}

describe('provisioning: the linking flow', () => {
  it('open → read by a device of the account → PUT once → fetched once by the opening session', async () => {
    const { device, newcomer, pqKey, address } = await linking();
    expect(address).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const read = await t.api.get(`/provisioning/${address}`, { token: device });
    expect(read.status, read.text).toBe(200);
    expect(read.body).toMatchObject({ pq_key: pqKey, name: 'Chromium on Linux', kind: 'desktop' });
    expect(Date.parse(read.body.expires_at) - Date.parse(read.body.created_at)).toBe(
      PROVISIONING_TTL_SECONDS * 1000,
    );

    expect((await takeMessage(address, newcomer.token)).status).toBe(204);
    const sealed = randomBytes(2000);
    expect((await put(address, device, sealed)).status).toBe(204);
    const got = await takeMessage(address, newcomer.token);
    expect(got.status).toBe(200);
    expect(got.type).toMatch(/^application\/octet-stream/);
    expect(got.bytes.equals(sealed)).toBe(true);
    // Once: the address is gone.
    expect((await takeMessage(address, newcomer.token)).status).toBe(404);
    expect((await put(address, device, sealed)).status).toBe(404);
    const rows = await t.deps.pool.query('SELECT count(*)::int AS n FROM provisioning');
    expect(rows.rows[0].n).toBe(0);
  });

  it('the new device then links with the same identity: a new device, no key change', async () => {
    const { user, id, device, newcomer, address } = await linking();
    expect((await put(address, device, randomBytes(2000))).status).toBe(204);
    expect((await takeMessage(address, newcomer.token)).status).toBe(200);
    const res = await t.api.post('/keys', deviceUpload(id), { token: newcomer.token });
    expect(res.body).toMatchObject({ device_id: 2, device_created: true, identity_changed: false });
    const kinds = await t.deps.pool.query<{ kind: string }>(
      'SELECT kind FROM stream_events WHERE subject_id = $1',
      [user.id],
    );
    expect(kinds.rows.map((r) => r.kind)).toEqual(['devices_changed']);
  });
});

describe('provisioning: attacks', () => {
  it('attack: a login with the identity proof but no provisioning message cannot link a device (403 provisioning_required)', async () => {
    // The thief of a removed device (it keeps the identity seed, spec §16.9) or anyone who saw an
    // upload's fixed proof (§4.6), with a login: no device of the account approved anything.
    const { user, id, newcomer } = await linking();
    const before = await t.deps.pool.query('SELECT count(*)::int AS n FROM devices WHERE user_id = $1', [
      user.id,
    ]);
    const res = await t.api.post('/keys', deviceUpload(id), { token: newcomer.token });
    expect([res.status, res.body.error]).toEqual([403, 'provisioning_required']);
    const thief = await newSession(t, user.id);
    const again = await t.api.post('/keys', deviceUpload(id), { token: thief.token });
    expect([again.status, again.body.error]).toEqual([403, 'provisioning_required']);
    const after = await t.deps.pool.query('SELECT count(*)::int AS n FROM devices WHERE user_id = $1', [
      user.id,
    ]);
    expect(after.rows[0].n).toBe(before.rows[0].n);
    expect((await t.api.get('/keys', { token: thief.token })).body.device_id).toBeNull();
  });

  it('attack: an unlinked device logging in again cannot link itself back without a device approving it', async () => {
    const { user, id, device } = await linking();
    const stolen = await addDevice(t, user.id, id);
    expect((await t.api.delete(`/devices/${stolen.deviceId}`, { token: device })).status).toBe(204);
    const login = await newSession(t, user.id);
    const resume = await t.api.post(
      '/keys',
      { ...deviceUpload(id), device_id: stolen.deviceId },
      { token: login.token },
    );
    expect([resume.status, resume.body.error]).toEqual([409, 'device_removed']);
    const relink = await t.api.post('/keys', deviceUpload(id), { token: login.token });
    expect([relink.status, relink.body.error]).toEqual([403, 'provisioning_required']);
  });

  it('attack: a second PUT (a second linking device, or a replay) is refused with 409 provisioning_used', async () => {
    const { user, id, device, address, newcomer } = await linking();
    const other = await addDevice(t, user.id, id);
    expect((await put(address, device, randomBytes(100))).status).toBe(204);
    const again = await put(address, other.token, randomBytes(100));
    expect([again.status, again.body.error]).toEqual([409, 'provisioning_used']);
    const read = await t.api.get(`/provisioning/${address}`, { token: other.token });
    expect([read.status, read.body.error]).toEqual([409, 'provisioning_used']);
    expect((await takeMessage(address, newcomer.token)).bytes.length).toBe(100);
  });

  it('attack: two concurrent PUTs — exactly one is stored', async () => {
    const { user, id, device, address, newcomer } = await linking();
    const other = await addDevice(t, user.id, id);
    const a = randomBytes(64);
    const b = randomBytes(64);
    const [ra, rb] = await Promise.all([put(address, device, a), put(address, other.token, b)]);
    expect([ra.status, rb.status].sort()).toEqual([204, 409]);
    const got = await takeMessage(address, newcomer.token);
    expect(got.bytes.equals(ra.status === 204 ? a : b)).toBe(true);
  });

  it('attack: after expiry the address is refused everywhere (410), then swept', async () => {
    const { device, address, newcomer } = await linking();
    t.clock.advance(PROVISIONING_TTL_SECONDS * 1000);
    const read = await t.api.get(`/provisioning/${address}`, { token: device });
    expect([read.status, read.body.error]).toEqual([410, 'provisioning_expired']);
    const late = await put(address, device, randomBytes(10));
    expect([late.status, late.body.error]).toEqual([410, 'provisioning_expired']);
    expect((await takeMessage(address, newcomer.token)).status).toBe(410);
    expect(await sweepProvisioning(t.deps.pool, new Date(t.clock.now()))).toBeGreaterThanOrEqual(1);
    expect((await t.api.get(`/provisioning/${address}`, { token: device })).status).toBe(404);
  });

  it('attack: a message PUT before expiry is not handed out after it', async () => {
    const { device, address, newcomer } = await linking();
    expect((await put(address, device, randomBytes(10))).status).toBe(204);
    t.clock.advance(PROVISIONING_TTL_SECONDS * 1000 + 1);
    expect((await takeMessage(address, newcomer.token)).status).toBe(410);
  });

  it('attack: another account can neither read nor fill an address (404, as an unknown one)', async () => {
    const { address, newcomer } = await linking();
    const mallory = await makeUser(t, 'mallory');
    const mid = identityFor(mallory.username);
    await t.api.post('/keys', deviceUpload(mid), { token: mallory.token });
    const read = await t.api.get(`/provisioning/${address}`, { token: mallory.token });
    expect([read.status, read.body.error]).toEqual([404, 'not_found']);
    expect((await put(address, mallory.token, randomBytes(10))).status).toBe(404);
    expect((await takeMessage(address, mallory.token)).status).toBe(404);
    // The address is untouched.
    expect((await takeMessage(address, newcomer.token)).status).toBe(204);
  });

  it('attack: a device-less session of the same account (a stolen login) cannot read or fill it (409 device_required)', async () => {
    const { user, address } = await linking();
    const stolen = await newSession(t, user.id);
    const read = await t.api.get(`/provisioning/${address}`, { token: stolen.token });
    expect([read.status, read.body.error]).toEqual([409, 'device_required']);
    const w = await put(address, stolen.token, randomBytes(10));
    expect([w.status, w.body.error]).toEqual([409, 'device_required']);
  });

  it('attack: only the opening session may fetch the message (another session of the account: 404)', async () => {
    const { user, device, address, newcomer } = await linking();
    expect((await put(address, device, randomBytes(10))).status).toBe(204);
    const other = await newSession(t, user.id);
    expect((await takeMessage(address, other.token)).status).toBe(404);
    expect((await takeMessage(address, device)).status).toBe(404);
    expect((await takeMessage(address, newcomer.token)).status).toBe(200);
  });

  it('attack: at most 3 open addresses per account (429 rate_limited with Retry-After)', async () => {
    const { user } = await linking();
    const s = await newSession(t, user.id);
    for (let i = 0; i < 2; i++)
      expect(
        (
          await t.api.post(
            '/provisioning',
            { pq_key: b64(1184), name: 'x', kind: 'other' },
            { token: s.token },
          )
        ).status,
      ).toBe(201);
    const over = await t.api.post(
      '/provisioning',
      { pq_key: b64(1184), name: 'x', kind: 'other' },
      { token: s.token },
    );
    expect([over.status, over.body.error]).toEqual([429, 'rate_limited']);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    t.clock.advance(PROVISIONING_TTL_SECONDS * 1000);
    expect(
      (await t.api.post('/provisioning', { pq_key: b64(1184), name: 'x', kind: 'other' }, { token: s.token }))
        .status,
    ).toBe(201);
  });

  it('refuses bodies over 8 MiB (413), of another type (415), empty (400), and malformed addresses (404)', async () => {
    const { device, address } = await linking();
    const big = await put(address, device, new Uint8Array(MAX_PROVISIONING_BYTES + 1));
    expect([big.status, big.body.error]).toEqual([413, 'payload_too_large']);
    const json = await put(address, device, new Uint8Array(10), { 'content-type': 'application/json' });
    expect([json.status, json.body.error]).toEqual([415, 'unsupported_media_type']);
    const empty = await put(address, device, new Uint8Array(0));
    expect(empty.status).toBe(400);
    // The largest allowed message is stored.
    expect((await put(address, device, new Uint8Array(MAX_PROVISIONING_BYTES).fill(7))).status).toBe(204);
    for (const bad of ['short', `${address}A`, address.replace(/.$/, 'B'), '%00'.repeat(8)])
      expect((await t.api.get(`/provisioning/${bad}`, { token: device })).status, bad).toBe(404);
  });

  it('refuses bad POST bodies with 400', async () => {
    const { user } = await linking();
    const s = await newSession(t, user.id);
    for (const body of [
      {},
      { pq_key: b64(1184), name: 'x' },
      { pq_key: b64(1601), name: 'x', kind: 'other' },
      { pq_key: 'not base64!', name: 'x', kind: 'other' },
      { pq_key: b64(1184), name: '', kind: 'other' },
      { pq_key: b64(1184), name: 'x', kind: 'fridge' },
      { pq_key: b64(1184), name: 'x', kind: 'other', extra: true },
    ])
      expect((await t.api.post('/provisioning', body, { token: s.token })).status, JSON.stringify(body)).toBe(
        400,
      );
  });

  it('unlinking the device that sealed a message deletes the message before it is fetched', async () => {
    const { user, id, device, address, newcomer } = await linking();
    const sealer = await addDevice(t, user.id, id);
    expect((await put(address, sealer.token, randomBytes(10))).status).toBe(204);
    expect((await t.api.delete(`/devices/${sealer.deviceId}`, { token: device })).status).toBe(204);
    expect((await takeMessage(address, newcomer.token)).status).toBe(404);
  });
});

describe('provisioning: rate', () => {
  it('attack: polling (or probing addresses) faster than the bucket allows is refused with 429', async () => {
    const { newcomer, address } = await linking();
    let status = 0;
    let n = 0;
    while (status !== 429 && n < 100) {
      status = (await takeMessage(address, newcomer.token)).status;
      n++;
    }
    expect(status).toBe(429);
    // The burst (60) less the open made by linking(): no refusal before it was spent.
    expect(n).toBe(60);
    t.clock.advance(2000);
    expect((await takeMessage(address, newcomer.token)).status).toBe(204);
  });
});
