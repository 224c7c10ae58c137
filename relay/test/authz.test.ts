// Authorization matrix (SECURITY.md "Who is who"): a third user gets nothing of two others' messages and photos
// (404 like a nonexistent id, or nothing at all), over HTTP and the WebSocket; and the relay's
// logs carry no token, message body, key or photo bytes.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { identityFields, identityFor } from './helpers/identity.js';
import {
  b64,
  type DataUser,
  makeDeviceUser,
  makeUser,
  sendBody,
  streamBarrier,
  WsClient,
} from './helpers/relay-data.js';

let db: TestDatabase;
let t: TestApp;
let dataDir: string;
let alice: DataUser;
let bob: DataUser;
let carol: DataUser;
const messageIds: number[] = [];
const photoIds: string[] = [];
const secrets: string[] = [];

beforeAll(async () => {
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'sd-relay-authz-'));
  t = await startTestApp({ databaseUrl: db.url, env: { DATA_DIR: dataDir, LOG_LEVEL: 'trace' } });
  // bob and carol are device sessions already; alice's session becomes device 1 by POST /keys.
  [alice, bob, carol] = [
    await makeUser(t, 'alice'),
    await makeDeviceUser(t, 'bob'),
    await makeDeviceUser(t, 'carol'),
  ];
  secrets.push(alice.token, bob.token, carol.token);
  const identity = identityFor(alice.username);
  secrets.push(identity.identity_key, identity.identity_proof);
  const published = await t.api.post(
    '/keys',
    {
      ...identityFields(identity),
      signed_prekey: { key_id: 7, public_key: b64(32), signature: b64(64) },
      pq_prekey: { key_id: 7, public_key: b64(1184), signature: b64(64) },
      one_time_prekeys: [{ key_id: 1, public_key: b64(32) }],
    },
    { token: alice.token },
  );
  expect(published.status).toBe(200);
  for (const [from, to] of [
    [alice, bob],
    [bob, alice],
  ] as const) {
    const body = b64(300);
    secrets.push(body);
    const m = await t.api.post('/send_message', sendBody(to.username, { body }), { token: from.token });
    messageIds.push(m.body.id);
    const blob = randomBytes(2000);
    secrets.push(blob.toString('base64').slice(0, 40), blob.toString('hex').slice(0, 40));
    const p = await t.api.post(`/send_photo?to=${to.username}`, undefined, {
      token: from.token,
      raw: blob,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(p.status).toBe(201);
    photoIds.push(p.body.id);
  }
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a third user', () => {
  it('reads none of their messages, over HTTP or the WebSocket', async () => {
    expect((await t.api.get('/get_messages', { token: carol.token })).body.messages).toEqual([]);
    const ws = await WsClient.connect(t.baseUrl, carol.token, 0);
    // A message to carol, received live, then a replay of her whole stream from 0: the replay
    // is in seq order and ends with that message, so anything else in her stream (theirs, if it
    // leaked) has arrived once it is there again.
    const barrier = await streamBarrier(t, alice, carol, ws);
    ws.send({ type: 'catch_up', cursor: 0 });
    await ws.collect((f) => f.id === barrier, 2);
    expect(ws.frames.filter((f) => f.type !== 'ready' && f.id !== barrier)).toEqual([]);
    ws.close();
  });

  it('gets the 404 of a nonexistent id for every one of their photos', async () => {
    const missing = await t.api.get(`/get_photo/${randomUUID()}`, { token: carol.token });
    expect(missing.status).toBe(404);
    for (const id of photoIds) {
      const res = await t.api.get(`/get_photo/${id}`, { token: carol.token });
      expect(res.status).toBe(404);
      expect(res.text).toBe(missing.text);
    }
  });

  it('cannot acknowledge (delete) their messages or photos', async () => {
    const ack = await t.api.post('/ack', { ids: messageIds, photo_ids: photoIds }, { token: carol.token });
    expect(ack.body).toEqual({ acked: 0, photos_acked: 0 });
    // The senders cannot delete them either: only the receiver acknowledges.
    const bySender = await t.api.post(
      '/ack',
      { ids: [messageIds[0]], photo_ids: [photoIds[0]] },
      { token: alice.token },
    );
    expect(bySender.body).toEqual({ acked: 0, photos_acked: 0 });
    expect((await t.api.get('/get_messages', { token: bob.token })).body.messages).toHaveLength(1);
    expect((await t.api.get('/get_messages', { token: alice.token })).body.messages).toHaveLength(1);
    for (const [id, owner] of [
      [photoIds[0], bob],
      [photoIds[1], alice],
    ] as const)
      expect((await t.api.get(`/get_photo/${id}`, { token: owner.token, spec: false })).status).toBe(200);
  });

  it('cannot read their contacts or key status (every listing is the caller’s own)', async () => {
    await t.api.post('/contacts', { username: bob.username }, { token: alice.token });
    expect((await t.api.get('/contacts', { token: carol.token })).body.contacts).toEqual([]);
    // carol's own device is published (test keys): her status shows her key, never alice's.
    const status = await t.api.get('/keys', { token: carol.token });
    expect(secrets).not.toContain(status.body.identity_key);
  });
});

describe('logs', () => {
  it('contain requests but no token, message body, key or photo bytes', async () => {
    // A failed WebSocket auth with a real-looking token must not log it either.
    const ws = await WsClient.open(t.baseUrl);
    ws.send({ type: 'auth', token: `${carol.token}x` });
    await ws.closed();
    const all = t.logs.join('\n');
    expect(all).toContain('/send_message');
    expect(all).toContain('/send_photo');
    for (const s of secrets) expect(all).not.toContain(s);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/); // no JWT of any kind
  });
});
