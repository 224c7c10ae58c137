// Protocol version 2 on the relay (spec/protocol.md §4.3–§4.6, spec/openapi.yaml tag "keys"),
// each weakness written as the attack first: an identity key published under another account
// (unknown key share, X3DH §4.8), unthrottled identity replacements flooding contacts with
// key_change, signed prekeys going backwards, one-time ML-KEM prekeys handed out twice, and an
// identity lookup that drains the one-time prekey stock.
import { generateIdentity, signWithIdentity } from '@secure-drop/crypto-core/identity';
import { identityProofStatement } from '@secure-drop/crypto-core/identity-proof';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { asDevice } from './helpers/devices.js';
import { identityFields, identityFor, type TestIdentity } from './helpers/identity.js';
import { b64, type DataUser, makeUser, newSession, WsClient } from './helpers/relay-data.js';

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({
    databaseUrl: db.url,
    env: { PREKEY_FETCH_BURST: '1000', PREKEY_LOW_THRESHOLD: '5', IDENTITY_LOOKUP_BURST: '1000' },
  });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

const signed = (keyId: number, size = 32) => ({ key_id: keyId, public_key: b64(size), signature: b64(64) });
const opks = (first: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({ key_id: first + i, public_key: b64(32) }));
const pqOpks = (first: number, n: number) => Array.from({ length: n }, (_, i) => signed(first + i, 1184));

function fullUpload(id: TestIdentity, nOpk = 3, nPq = 3, spkId = 1) {
  return {
    ...identityFields(id),
    signed_prekey: signed(spkId),
    pq_prekey: signed(spkId, 1184),
    one_time_prekeys: opks(100, nOpk),
    one_time_pq_prekeys: pqOpks(500, nPq),
  };
}

async function publish(u: DataUser, nOpk = 3, nPq = 3) {
  const id = identityFor(u.username);
  const body = fullUpload(id, nOpk, nPq);
  const res = await t.api.post('/keys', body, { token: u.token });
  expect(res.status, res.text).toBe(200);
  return { id, body };
}

const stocks = async (u: DataUser) => {
  const r = await t.deps.pool.query<{ x: number; pq: number }>(
    `SELECT (SELECT count(*)::int FROM one_time_prekeys WHERE user_id = $1) AS x,
            (SELECT count(*)::int FROM one_time_pq_prekeys WHERE user_id = $1) AS pq`,
    [u.id],
  );
  return r.rows[0];
};

describe('identity proof: an identity key published under another account (unknown key share)', () => {
  it('an upload without identity_proof is refused (400 bad_identity_proof)', async () => {
    const u = await makeUser(t);
    const id = identityFor(u.username);
    const res = await t.api.post('/keys', { identity_key: id.identity_key }, { token: u.token });
    expect([res.status, res.body.error]).toEqual([400, 'bad_identity_proof']);
    expect((await t.api.get('/keys', { token: u.token })).body.identity_key).toBeNull();
  });

  it("mallory republishing Bob's identity key with Bob's proof is refused: the proof names bob (400)", async () => {
    const bob = await makeUser(t, 'bob');
    const mallory = await makeUser(t, 'mallory');
    const { id } = await publish(bob);
    const res = await t.api.post('/keys', fullUpload(id), { token: mallory.token });
    expect([res.status, res.body.error]).toEqual([400, 'bad_identity_proof']);
    expect((await t.api.get('/keys', { token: mallory.token })).body.identity_key).toBeNull();
  });

  it("mallory republishing Bob's identity key with a forged proof is refused (400)", async () => {
    const bob = await makeUser(t, 'bob');
    const mallory = await makeUser(t, 'mallory');
    const { id } = await publish(bob);
    const her = generateIdentity();
    // Her own key signs the statement naming her account and Bob's key; and random bytes.
    const forged = signWithIdentity(her, identityProofStatement(mallory.username, id.keyPair.publicKey));
    for (const proof of [Buffer.from(forged).toString('base64'), b64(64), b64(64, 0)]) {
      const res = await t.api.post(
        '/keys',
        { identity_key: id.identity_key, identity_proof: proof },
        { token: mallory.token },
      );
      expect([res.status, res.body.error]).toEqual([400, 'bad_identity_proof']);
    }
  });

  it('an identity key registered to another account is refused even with a valid proof (409 identity_key_taken)', async () => {
    const bob = await makeUser(t, 'bob');
    const mallory = await makeUser(t, 'mallory');
    const { id, body } = await publish(bob);
    // Whoever holds Bob's secret (his second account, or a thief) can sign for "mallory".
    const stolen = identityFor(mallory.username, id.keyPair);
    const res = await t.api.post('/keys', fullUpload(stolen), { token: mallory.token });
    expect([res.status, res.body.error]).toEqual([409, 'identity_key_taken']);
    expect((await t.api.get('/keys', { token: mallory.token })).body).toMatchObject({
      identity_key: null,
      one_time_prekeys: 0,
      one_time_pq_prekeys: 0,
    });
    // Bob's published keys are untouched; mallory has no bundle.
    const caller = await asDevice(t, await makeUser(t));
    const bundle = await t.api.get(`/keys/${bob.username}`, { token: caller.token });
    expect(bundle.body.identity_key).toBe(body.identity_key);
    expect((await t.api.get(`/keys/${mallory.username}`, { token: caller.token })).status).toBe(404);
  });

  it('two accounts racing to register one identity key: exactly one gets it', async () => {
    const keyPair = generateIdentity();
    const users = await Promise.all(Array.from({ length: 6 }, () => makeUser(t, 'race')));
    const results = await Promise.all(
      users.map((u) =>
        t.api.post('/keys', identityFields(identityFor(u.username, keyPair)), { token: u.token }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200))
      expect([r.status, r.body.error]).toEqual([409, 'identity_key_taken']);
  });

  it('two accounts racing to REPLACE their identity keys with the same one: exactly one gets it', async () => {
    const users = await Promise.all(Array.from({ length: 4 }, () => makeUser(t, 'swap')));
    for (const u of users)
      expect(
        (await t.api.post('/keys', identityFields(identityFor(u.username)), { token: u.token })).status,
      ).toBe(200);
    const keyPair = generateIdentity();
    const results = await Promise.all(
      users.map((u) =>
        t.api.post('/keys', identityFields(identityFor(u.username, keyPair)), { token: u.token }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200))
      expect([r.status, r.body.error]).toEqual([409, 'identity_key_taken']);
    const holders = await t.deps.pool.query('SELECT user_id FROM identity_keys WHERE public_key = $1', [
      Buffer.from(keyPair.publicKey),
    ]);
    expect(holders.rowCount).toBe(1);
  });

  it('a proof without an identity key, a small-order key, a proof of the wrong length: 400', async () => {
    const u = await makeUser(t);
    const id = identityFor(u.username);
    const neutral = Buffer.from(Uint8Array.of(1, ...new Uint8Array(31))).toString('base64');
    const zeroSig = Buffer.concat([Buffer.from(Uint8Array.of(1)), Buffer.alloc(63)]).toString('base64');
    const cases = [
      { identity_proof: id.identity_proof },
      { identity_key: neutral, identity_proof: zeroSig },
      { identity_key: id.identity_key, identity_proof: b64(63) },
      { identity_key: b64(33), identity_proof: id.identity_proof },
    ];
    for (const body of cases) {
      const res = await t.api.post('/keys', body, { token: u.token });
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
    }
  });

  it('re-sending the stored identity key with its proof changes nothing', async () => {
    const u = await makeUser(t);
    const { id } = await publish(u, 4, 2);
    const res = await t.api.post('/keys', identityFields(id), { token: u.token });
    expect(res.body).toMatchObject({ identity_changed: false, one_time_prekeys: 4, one_time_pq_prekeys: 2 });
  });
});

describe('identity replacements are rate-limited per account', () => {
  it('identity re-uploads unthrottled: 30 replacements in a burst → at most IDENTITY_CHANGE_BURST succeed, contacts hear at most that many key_change', async () => {
    const limited = await startTestApp({
      databaseUrl: db.url,
      clock: t.clock,
      env: { IDENTITY_CHANGE_BURST: '3', IDENTITY_CHANGE_PER_DAY: '3' },
    });
    try {
      const alice = await makeUser(limited, 'alice');
      const contact = await makeUser(limited, 'contact');
      expect(
        (await limited.api.post('/contacts', { username: contact.username }, { token: alice.token })).status,
      ).toBe(201);
      const first = await limited.api.post('/keys', identityFields(identityFor(alice.username)), {
        token: alice.token,
      });
      expect(first.status).toBe(200); // the first identity is no replacement
      const results = await Promise.all(
        Array.from({ length: 30 }, () =>
          limited.api.post('/keys', identityFields(identityFor(alice.username)), { token: alice.token }),
        ),
      );
      const ok = results.filter((r) => r.status === 200);
      expect(ok.length).toBeLessThanOrEqual(3);
      expect(ok.length).toBeGreaterThan(0);
      for (const r of results.filter((x) => x.status !== 200)) {
        expect([r.status, r.body.error]).toEqual([429, 'rate_limited']);
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      const events = await limited.deps.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM stream_events WHERE user_id = $1 AND kind = 'key_change' AND subject_id = $2`,
        [contact.id, alice.id],
      );
      expect(events.rows[0]?.n).toBe(ok.length);
      expect(events.rows[0]?.n).toBeLessThanOrEqual(3);
      // The refused uploads changed nothing: the stored key is the last one that succeeded.
      const stored = (await limited.api.get('/keys', { token: alice.token })).body.identity_key;
      expect(ok.map((r) => r.body.identity_changed)).toEqual(ok.map(() => true));
      expect(stored).not.toBe(null);
      // A third of a day brings one replacement back (3 a day); the old access token has expired by then.
      limited.clock.advance(86_400_000 / 3);
      const { token } = await newSession(limited, alice.id);
      const later = await limited.api.post('/keys', identityFields(identityFor(alice.username)), { token });
      expect(later.status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('re-sending the same identity key is not a replacement and never limited', async () => {
    const limited = await startTestApp({
      databaseUrl: db.url,
      clock: t.clock,
      env: { IDENTITY_CHANGE_BURST: '1', IDENTITY_CHANGE_PER_DAY: '1' },
    });
    try {
      const u = await makeUser(limited);
      const id = identityFor(u.username);
      for (let i = 0; i < 5; i++)
        expect((await limited.api.post('/keys', identityFields(id), { token: u.token })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('signed prekeys: only the newest is kept, ids only move forward', () => {
  it('a key_id not greater than the stored one is refused (409 stale_prekey_id); identical bytes are a no-op', async () => {
    const u = await makeUser(t);
    const caller = await asDevice(t, await makeUser(t));
    const id = identityFor(u.username);
    const v5 = { spk: signed(5), pq: signed(5, 1184) };
    expect(
      (
        await t.api.post(
          '/keys',
          { ...identityFields(id), signed_prekey: v5.spk, pq_prekey: v5.pq },
          { token: u.token },
        )
      ).status,
    ).toBe(200);
    for (const field of ['signed_prekey', 'pq_prekey'] as const) {
      const size = field === 'pq_prekey' ? 1184 : 32;
      for (const stale of [signed(4, size), signed(5, size), signed(0, size)]) {
        const res = await t.api.post('/keys', { [field]: stale }, { token: u.token });
        expect([res.status, res.body.error], `${field} ${stale.key_id}`).toEqual([409, 'stale_prekey_id']);
      }
    }
    // A retry of the very same upload (its response was lost) succeeds and changes nothing.
    const retry = await t.api.post('/keys', { signed_prekey: v5.spk, pq_prekey: v5.pq }, { token: u.token });
    expect(retry.status).toBe(200);
    const bundle = await t.api.get(`/keys/${u.username}`, { token: caller.token });
    expect(bundle.body.devices[0].signed_prekey).toEqual(v5.spk);
    expect(bundle.body.devices[0].pq_prekey).toEqual({ kind: 'last_resort', ...v5.pq });
    // Forward: the newest replaces the old one.
    const v6 = { spk: signed(6), pq: signed(9, 1184) };
    expect(
      (await t.api.post('/keys', { signed_prekey: v6.spk, pq_prekey: v6.pq }, { token: u.token })).status,
    ).toBe(200);
    const next = await t.api.get(`/keys/${u.username}`, { token: caller.token });
    expect(next.body.devices[0].signed_prekey).toEqual(v6.spk);
    expect(next.body.devices[0].pq_prekey).toEqual({ kind: 'last_resort', ...v6.pq });
    expect(await t.api.get('/keys', { token: u.token })).toMatchObject({
      body: { signed_prekey_id: 6, pq_prekey_id: 9 },
    });
  });

  it('a refused upload stores nothing of its other parts (all or nothing)', async () => {
    const u = await makeUser(t);
    await publish(u, 2, 2);
    const res = await t.api.post(
      '/keys',
      { signed_prekey: signed(1), one_time_prekeys: opks(1, 5), one_time_pq_prekeys: pqOpks(1, 5) },
      { token: u.token },
    );
    expect([res.status, res.body.error]).toEqual([409, 'stale_prekey_id']);
    expect(await stocks(u)).toEqual({ x: 2, pq: 2 });
  });

  it('an identity replacement resets the ids (new identity, new ids) and drops every old prekey', async () => {
    const u = await makeUser(t);
    await publish(u, 3, 3);
    expect(
      (
        await t.api.post(
          '/keys',
          { signed_prekey: signed(50), pq_prekey: signed(50, 1184) },
          { token: u.token },
        )
      ).status,
    ).toBe(200);
    const again = await t.api.post('/keys', fullUpload(identityFor(u.username), 1, 1, 1), { token: u.token });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ identity_changed: true, one_time_prekeys: 1, one_time_pq_prekeys: 1 });
    expect((await t.api.get('/keys', { token: u.token })).body).toMatchObject({
      signed_prekey_id: 1,
      pq_prekey_id: 1,
    });
  });
});

describe('one-time ML-KEM-768 prekeys', () => {
  it('are handed out once each as kind one_time, then the last-resort key', async () => {
    const owner = await makeUser(t);
    const caller = await asDevice(t, await makeUser(t));
    const { body } = await publish(owner, 0, 3);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.api.get(`/keys/${owner.username}`, { token: caller.token });
      expect(res.body.devices[0].pq_prekey.kind).toBe('one_time');
      const { kind: _kind, ...key } = res.body.devices[0].pq_prekey;
      expect(body.one_time_pq_prekeys).toContainEqual(key);
      seen.push(key.key_id);
    }
    expect(new Set(seen).size).toBe(3);
    const fallback = await t.api.get(`/keys/${owner.username}`, { token: caller.token });
    expect(fallback.body.devices[0].pq_prekey).toEqual({ kind: 'last_resort', ...body.pq_prekey });
  });

  it('never hands out one twice under 25 concurrent fetches of 20', async () => {
    const owner = await makeUser(t);
    await publish(owner, 0, 20);
    const callers = await Promise.all(Array.from({ length: 5 }, async () => asDevice(t, await makeUser(t))));
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        t.api.get(`/keys/${owner.username}`, { token: (callers[i % 5] as DataUser).token }),
      ),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const oneTime = results
      .filter((r) => r.body.devices[0].pq_prekey.kind === 'one_time')
      .map((r) => r.body.devices[0].pq_prekey.key_id);
    expect(oneTime).toHaveLength(20);
    expect(new Set(oneTime).size).toBe(20);
    expect(results.filter((r) => r.body.devices[0].pq_prekey.kind === 'last_resort')).toHaveLength(5);
    expect(await stocks(owner)).toEqual({ x: 0, pq: 0 });
  });

  it('caps: ≤ 100 per upload (400), ≤ 200 stored (409 prekey_limit), a stored key_id twice (409)', async () => {
    const u = await makeUser(t);
    await t.api.post('/keys', identityFields(identityFor(u.username)), { token: u.token });
    const over = await t.api.post('/keys', { one_time_pq_prekeys: pqOpks(0, 101) }, { token: u.token });
    expect(over.status).toBe(400);
    const dupInBatch = await t.api.post(
      '/keys',
      { one_time_pq_prekeys: [...pqOpks(0, 2), ...pqOpks(1, 1)] },
      { token: u.token },
    );
    expect(dupInBatch.status).toBe(400);
    for (let i = 0; i < 2; i++) {
      const res = await t.api.post(
        '/keys',
        { one_time_pq_prekeys: pqOpks(i * 100, 100) },
        { token: u.token },
      );
      expect(res.status, res.text).toBe(200);
      expect(res.body.one_time_pq_prekeys).toBe((i + 1) * 100);
    }
    const full = await t.api.post('/keys', { one_time_pq_prekeys: pqOpks(200, 1) }, { token: u.token });
    expect([full.status, full.body.error, full.body.stored]).toEqual([409, 'prekey_limit', 200]);
    const v = await makeUser(t);
    await t.api.post(
      '/keys',
      { ...identityFields(identityFor(v.username)), one_time_pq_prekeys: pqOpks(0, 3) },
      {
        token: v.token,
      },
    );
    const dup = await t.api.post('/keys', { one_time_pq_prekeys: pqOpks(2, 2) }, { token: v.token });
    expect([dup.status, dup.body.error]).toEqual([409, 'duplicate_key_id']);
  });

  it('stock counts and low flags in GET /keys, and both counts in the prekeys_low frame', async () => {
    const owner = await makeUser(t);
    const caller = await asDevice(t, await makeUser(t));
    const up = await t.api.post('/keys', fullUpload(identityFor(owner.username), 10, 6), {
      token: owner.token,
    });
    expect(up.body).toMatchObject({
      one_time_prekeys: 10,
      prekeys_low: false,
      one_time_pq_prekeys: 6,
      pq_prekeys_low: false,
    });
    const ws = await WsClient.connect(t.baseUrl, owner.token);
    await t.api.get(`/keys/${owner.username}`, { token: caller.token }); // 9 and 5 left: not yet low
    await t.api.get(`/keys/${owner.username}`, { token: caller.token }); // 8 and 4: PQ low (threshold 5)
    expect(await ws.next((f) => f.type === 'prekeys_low')).toEqual({
      type: 'prekeys_low',
      remaining: 8,
      remaining_pq: 4,
    });
    expect(ws.frames.filter((f) => f.type === 'prekeys_low')).toHaveLength(1);
    expect((await t.api.get('/keys', { token: owner.token })).body).toMatchObject({
      one_time_prekeys: 8,
      prekeys_low: false,
      one_time_pq_prekeys: 4,
      pq_prekeys_low: true,
    });
    ws.close();
  });
});

describe('identity route', () => {
  it('finding 6: the identity route leaves the one-time prekey stock (both kinds) unchanged', async () => {
    const owner = await makeUser(t);
    const caller = await asDevice(t, await makeUser(t));
    const { body } = await publish(owner, 4, 4);
    for (let i = 0; i < 10; i++) {
      const res = await t.api.get(`/identity/${owner.username}`, { token: caller.token });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        username: owner.username,
        identity_key: body.identity_key,
        device_ids: [1],
        devices: [{ device_id: 1, signed_prekey_id: 1, pq_prekey_id: 1 }],
      });
    }
    expect(await stocks(owner)).toEqual({ x: 4, pq: 4 });
    // The bundle route, by contrast, spends one of each.
    await t.api.get(`/keys/${owner.username}`, { token: caller.token });
    expect(await stocks(owner)).toEqual({ x: 3, pq: 3 });
  });

  it('answers 404 alike for an unknown user, an invalid name and a user without keys', async () => {
    const caller = await asDevice(t, await makeUser(t));
    const keyless = await makeUser(t);
    const halfway = await makeUser(t); // an identity key but no signed prekeys yet
    await t.api.post('/keys', identityFields(identityFor(halfway.username)), { token: halfway.token });
    for (const name of ['nobody_here', 'x', '%E2%80%AE', keyless.username, halfway.username]) {
      const res = await t.api.get(`/identity/${name}`, { token: caller.token });
      expect(res.status, name).toBe(404);
      expect(res.body).toEqual({ error: 'not_found', message: 'no identity key for this user' });
    }
    expect((await t.api.get(`/identity/${keyless.username}`)).status).toBe(401);
  });

  it('has its own rate limit, more generous than bundles, which it does not spend', async () => {
    const limited = await startTestApp({
      databaseUrl: db.url,
      clock: t.clock,
      env: {
        PREKEY_FETCH_BURST: '2',
        PREKEY_FETCH_PER_MINUTE: '1',
        IDENTITY_LOOKUP_BURST: '5',
        IDENTITY_LOOKUP_PER_MINUTE: '60',
      },
    });
    try {
      const owner = await makeUser(limited);
      const caller = await asDevice(limited, await makeUser(limited));
      await limited.api.post('/keys', fullUpload(identityFor(owner.username)), { token: owner.token });
      for (let i = 0; i < 5; i++)
        expect((await limited.api.get(`/identity/${owner.username}`, { token: caller.token })).status).toBe(
          200,
        );
      const res = await limited.api.get(`/identity/${owner.username}`, { token: caller.token });
      expect([res.status, res.body.error, res.headers.get('retry-after')]).toEqual([
        429,
        'rate_limited',
        '1',
      ]);
      // Bundles are still available: the lookups took nothing from their bucket.
      expect((await limited.api.get(`/keys/${owner.username}`, { token: caller.token })).status).toBe(200);
      expect((await limited.api.get(`/keys/${owner.username}`, { token: caller.token })).status).toBe(200);
      limited.clock.advance(1000);
      expect((await limited.api.get(`/identity/${owner.username}`, { token: caller.token })).status).toBe(
        200,
      );
    } finally {
      await limited.close();
    }
  });
});
