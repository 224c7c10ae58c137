// WebSocket (spec/openapi.yaml GET /ws): push in order, catch-up from a cursor after being away,
// delivery receipts, authentication before any data (never a token in the URL), Origin check,
// payload and connection caps, heartbeats, revocation closing sockets, and two relay
// instances (separate notifiers, separate ports, one database) delivering across each other.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { until } from '../../scripts/lib/until.mjs';
import { startTestApp, type TestApp } from './helpers/app.js';
import { loginNextStep, registerUser } from './helpers/auth-flow.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import {
  b64,
  bindSessionsToDevice,
  type DataUser,
  type Frame,
  makeDeviceUser,
  newSession,
  ORIGIN,
  sendBody,
  streamBarrier,
  WsClient,
} from './helpers/relay-data.js';

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({
    databaseUrl: db.url,
    env: { SEND_RATE_BURST: '1000', WS_MAX_CONNECTIONS_PER_USER: '2', WS_AUTH_TIMEOUT_MS: '500' },
  });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

const isMsg = (f: Frame) => f.type === 'message';

async function sendVia(
  app: TestApp,
  from: DataUser,
  to: DataUser,
  body = b64(40),
  clientId: string = randomUUID(),
) {
  const res = await app.api.post('/send_message', sendBody(to.username, { clientId, body }), {
    token: from.token,
  });
  expect(res.status).toBe(201);
  return { id: res.body.id as number, body, clientId };
}

describe('push and catch-up', () => {
  it('pushes new messages in order to every socket of the recipient', async () => {
    const alice = await makeDeviceUser(t);
    const bob = await makeDeviceUser(t);
    const bob2 = await newSession(t, bob.id, { deviceId: 1 });
    const ws1 = await WsClient.connect(t.baseUrl, bob.token);
    const ws2 = await WsClient.connect(t.baseUrl, bob2.token);
    const sent = [];
    for (let i = 0; i < 10; i++) sent.push(await sendVia(t, alice, bob));
    for (const ws of [ws1, ws2]) {
      const got = await ws.collect(isMsg, 10);
      expect(got.map((f) => f.id)).toEqual(sent.map((s) => s.id));
      expect(got.map((f) => f.body)).toEqual(sent.map((s) => s.body));
      expect(got.every((f) => f.from === alice.username)).toBe(true);
      const seqs = got.map((f) => f.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      ws.close();
    }
  });

  it('delivers concurrent sends from many senders exactly once, in seq order, live and on catch-up', async () => {
    const bob = await makeDeviceUser(t);
    const senders = await Promise.all(Array.from({ length: 5 }, () => makeDeviceUser(t)));
    const live = await WsClient.connect(t.baseUrl, bob.token);
    // Each sender fires 20 sends without waiting for one another.
    const sent = (
      await Promise.all(
        senders.map((s) => Promise.all(Array.from({ length: 20 }, () => sendVia(t, s, bob, b64(16))))),
      )
    ).flat();
    const got = await live.collect(isMsg, 100);
    // A 101st message, sent after all of them, arrives after any late duplicate would have.
    const barrier = await streamBarrier(t, senders[0] as DataUser, bob, live);
    expect(live.frames.filter((f) => isMsg(f) && f.id !== barrier)).toHaveLength(100); // no duplicates arrived late
    const seqs = got.map((f) => f.seq);
    expect(seqs.every((q, i) => i === 0 || q > (seqs[i - 1] as number))).toBe(true);
    expect(new Set(got.map((f) => f.id))).toEqual(new Set(sent.map((m) => m.id)));
    // A reconnect from the middle sees exactly the second half, in the same order.
    const mid = seqs[49] as number;
    const again = await WsClient.connect(t.baseUrl, bob.token, mid);
    const rest = await again.collect((f) => isMsg(f) && f.id !== barrier, 50);
    expect(rest.map((f) => f.seq)).toEqual(seqs.slice(50));
    live.close();
    again.close();
  });

  it('catches up from the cursor after being away, and rewinds on catch_up', async () => {
    const alice = await makeDeviceUser(t);
    const bob = await makeDeviceUser(t);
    const first = await WsClient.connect(t.baseUrl, bob.token);
    await sendVia(t, alice, bob);
    await sendVia(t, alice, bob);
    const seen = await first.collect(isMsg, 2);
    const cursor = seen[1].seq;
    first.close();
    await first.closed();
    const away = [await sendVia(t, alice, bob), await sendVia(t, alice, bob), await sendVia(t, alice, bob)];
    const back = await WsClient.connect(t.baseUrl, bob.token, cursor);
    const caught = await back.collect(isMsg, 3);
    expect(caught.map((f) => f.id)).toEqual(away.map((s) => s.id));
    // Sent after the three, so it arrives after anything repeated from before the cursor would.
    const barrier = await streamBarrier(t, alice, bob, back);
    const notBarrier = (f: Frame) => isMsg(f) && f.id !== barrier;
    expect(back.frames.filter(notBarrier)).toHaveLength(3); // nothing before the cursor is repeated
    back.send({ type: 'catch_up', cursor: 0 });
    const all = await back.collect(notBarrier, 8);
    expect(all.slice(3).map((f) => f.id)).toEqual([...seen.map((f) => f.id), ...away.map((s) => s.id)]);
    back.close();
  });

  it('treats a cursor beyond the stream (a restored database) as 0, over WS and HTTP', async () => {
    const alice = await makeDeviceUser(t);
    const bob = await makeDeviceUser(t);
    const m1 = await sendVia(t, alice, bob);
    const m2 = await sendVia(t, alice, bob);
    const ws = await WsClient.connect(t.baseUrl, bob.token, 1_000_000);
    expect(ws.frames[0]).toEqual({ type: 'ready', cursor: 0 });
    expect((await ws.collect(isMsg, 2)).map((f) => f.id)).toEqual([m1.id, m2.id]);
    const page = await t.api.get('/get_messages?cursor=1000000', { token: bob.token });
    expect(page.body.messages.map((m: { id: number }) => m.id)).toEqual([m1.id, m2.id]);
    const head = page.body.next_cursor;
    expect((await t.api.get(`/get_messages?cursor=${head}`, { token: bob.token })).body.messages).toEqual([]);
    ws.close();
  });

  it('tells the sender when the receiver acknowledged (delivered)', async () => {
    const alice = await makeDeviceUser(t);
    const bob = await makeDeviceUser(t);
    const aliceWs = await WsClient.connect(t.baseUrl, alice.token);
    const m1 = await sendVia(t, alice, bob);
    const m2 = await sendVia(t, alice, bob);
    await t.api.post('/ack', { ids: [m2.id, m1.id] }, { token: bob.token });
    const receipts = await aliceWs.collect((f) => f.type === 'delivered', 2);
    expect(receipts.map((f) => [f.message_id, f.client_id, f.to])).toEqual([
      [m1.id, m1.clientId, bob.username],
      [m2.id, m2.clientId, bob.username],
    ]);
    aliceWs.close();
  });
});

describe('authentication and limits', () => {
  it('sends nothing before a valid auth frame and closes on anything else', async () => {
    const bob = await makeDeviceUser(t);
    const alice = await makeDeviceUser(t);
    await sendVia(t, alice, bob);
    const early = await WsClient.open(t.baseUrl);
    early.send({ type: 'catch_up', cursor: 0 });
    expect(await early.closed()).toBe(4401);
    expect(early.frames).toEqual([]);

    const bad = await WsClient.open(t.baseUrl);
    bad.send({ type: 'auth', token: 'e30.e30.e30' });
    expect(await bad.closed()).toBe(4401);
    expect(bad.frames).toEqual([]);

    const silent = await WsClient.open(t.baseUrl);
    expect(await silent.closed()).toBe(4408); // WS_AUTH_TIMEOUT_MS = 500
    expect(silent.frames).toEqual([]);

    const revoked = await newSession(t, bob.id, { deviceId: 1 });
    await t.deps.pool.query('UPDATE sessions SET revoked_at = now() WHERE id = $1', [revoked.sessionId]);
    const stale = await WsClient.open(t.baseUrl);
    stale.send({ type: 'auth', token: revoked.token });
    expect(await stale.closed()).toBe(4401);
    expect(stale.frames).toEqual([]);
  });

  it('refuses a token in the URL, a bad or missing Origin, and other paths', async () => {
    const bob = await makeDeviceUser(t);
    await expect(WsClient.open(t.baseUrl, { path: `/ws?token=${bob.token}` })).rejects.toThrow('refused 400');
    await expect(WsClient.open(t.baseUrl, { path: `/ws?access_token=${bob.token}` })).rejects.toThrow(
      'refused 400',
    );
    await expect(WsClient.open(t.baseUrl, { origin: 'https://evil.example' })).rejects.toThrow('refused 403');
    await expect(WsClient.open(t.baseUrl, { origin: null })).rejects.toThrow('refused 403');
    await expect(WsClient.open(t.baseUrl, { path: '/wss' })).rejects.toThrow('refused 404');
    const ok = await WsClient.connect(t.baseUrl, bob.token);
    ok.close();
  });

  it('caps frame size and sockets per user', async () => {
    const bob = await makeDeviceUser(t);
    const big = await WsClient.open(t.baseUrl);
    big.send({ type: 'auth', token: 'x'.repeat(5000) });
    expect(await big.closed()).toBe(1009);

    const s2 = await newSession(t, bob.id, { deviceId: 1 });
    const s3 = await newSession(t, bob.id, { deviceId: 1 });
    const a = await WsClient.connect(t.baseUrl, bob.token);
    const b = await WsClient.connect(t.baseUrl, s2.token);
    const c = await WsClient.open(t.baseUrl);
    c.send({ type: 'auth', token: s3.token });
    expect(await c.closed()).toBe(4429);
    const binary = a;
    binary.ws.send(Buffer.from([1, 2, 3]));
    expect(await binary.closed()).toBe(1003);
    b.send({ type: 'nonsense' });
    expect(await b.closed()).toBe(4400);
  });

  it('closes a socket that floods frames', async () => {
    const bob = await makeDeviceUser(t);
    const ws = await WsClient.connect(t.baseUrl, bob.token);
    for (let i = 0; i < 40; i++) ws.send({ type: 'catch_up', cursor: 0 });
    expect(await ws.closed()).toBe(4429);
  });

  it('drops a socket that stops answering pings', async () => {
    const hb = await startTestApp({
      databaseUrl: db.url,
      clock: t.clock,
      env: { WS_HEARTBEAT_SECONDS: '1' },
    });
    try {
      const bob = await makeDeviceUser(hb);
      const ws = new WebSocket(`${hb.baseUrl.replace('http', 'ws')}/ws`, { origin: ORIGIN, autoPong: false });
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'auth', token: bob.token }));
      const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
      expect(code).toBe(1006); // terminated, no close frame
    } finally {
      await hb.close();
    }
  });
});

describe('revocation', () => {
  it('closes the sockets of a revoked session at once, and all of them on logout-all', async () => {
    const bob = await makeDeviceUser(t);
    const other = await newSession(t, bob.id, { deviceId: 1 });
    const ws1 = await WsClient.connect(t.baseUrl, bob.token);
    const ws2 = await WsClient.connect(t.baseUrl, other.token);
    // What POST /logout does to the row; the trigger of migration 0025 tells every process.
    await t.deps.pool.query('UPDATE sessions SET revoked_at = now() WHERE id = $1', [bob.sessionId]);
    expect(await ws1.closed()).toBe(4403);
    // A message to bob reaches ws2 after the revocation was handled; a close of ws2 would have
    // come first on the same connection.
    const someone = await makeDeviceUser(t);
    await streamBarrier(t, someone, bob, ws2);
    expect(ws2.closeCode).toBeUndefined();
    await t.deps.pool.query(
      'UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL',
      [bob.id],
    );
    expect(await ws2.closed()).toBe(4403);
  });
});

describe('revocation through the real routes', () => {
  it('POST /logout closes that session’s socket; POST /logout/all closes the rest, in another process too', async () => {
    const other = await startTestApp({ databaseUrl: db.url, clock: t.clock });
    try {
      const user = await registerUser(t.api, t.clock, `wsrev_${randomUUID().slice(0, 8)}`);
      const second = await loginNextStep(t.api, t.clock, user);
      expect(second.status).toBe(200);
      // Both sessions on one device (as POST /keys binds them): a socket needs a device.
      await bindSessionsToDevice(t, user.username);
      const ws1 = await WsClient.connect(t.baseUrl, user.access);
      const ws2 = await WsClient.connect(other.baseUrl, second.body.access_token);
      expect((await t.api.post('/logout', undefined, { token: user.access })).status).toBe(204);
      expect(await ws1.closed()).toBe(4403);
      expect(ws2.closeCode).toBeUndefined();
      expect((await t.api.post('/logout/all', undefined, { token: second.body.access_token })).status).toBe(
        204,
      );
      expect(await ws2.closed()).toBe(4403);
    } finally {
      await other.close();
    }
  });
});

describe('two relay processes', () => {
  it('deliver messages and receipts across each other through LISTEN/NOTIFY', async () => {
    const one = await startTestApp({ databaseUrl: db.url, clock: t.clock, env: { SEND_RATE_BURST: '1000' } });
    const two = await startTestApp({ databaseUrl: db.url, clock: t.clock, env: { SEND_RATE_BURST: '1000' } });
    try {
      expect(one.baseUrl).not.toBe(two.baseUrl);
      const alice = await makeDeviceUser(one);
      const bob = await makeDeviceUser(one);
      const aliceWs = await WsClient.connect(one.baseUrl, alice.token);
      const bobWs = await WsClient.connect(two.baseUrl, bob.token);
      const sent = [];
      for (let i = 0; i < 5; i++) sent.push(await sendVia(one, alice, bob));
      const got = await bobWs.collect(isMsg, 5);
      expect(got.map((f) => f.id)).toEqual(sent.map((s) => s.id));
      await two.api.post('/ack', { ids: sent.map((s) => s.id) }, { token: bob.token });
      const receipts = await aliceWs.collect((f) => f.type === 'delivered', 5);
      expect(receipts.map((f) => f.message_id)).toEqual(sent.map((s) => s.id));
      // And the other way round.
      const back = await sendVia(two, bob, alice);
      expect((await aliceWs.next(isMsg)).id).toBe(back.id);
      aliceWs.close();
      bobWs.close();
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('push a small copy from its event without reading it back, a large one read back, both as a read-back would', async () => {
    const one = await startTestApp({ databaseUrl: db.url, clock: t.clock, env: { SEND_RATE_BURST: '1000' } });
    const two = await startTestApp({ databaseUrl: db.url, clock: t.clock, env: { SEND_RATE_BURST: '1000' } });
    // The stream reads process two makes (src/messages/stream.ts: the only query on stream_events).
    const reads: string[] = [];
    const query = two.deps.pool.query.bind(two.deps.pool) as (...a: unknown[]) => unknown;
    (two.deps.pool as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
      const text = typeof a[0] === 'string' ? a[0] : (a[0] as { text?: string }).text;
      if (text?.includes('FROM stream_events')) reads.push(text);
      return query(...a);
    };
    try {
      const alice = await makeDeviceUser(one);
      const bob = await makeDeviceUser(one);
      const bobWs = await WsClient.connect(two.baseUrl, bob.token);
      await until(() => reads.length > 0); // the catch-up at connect
      reads.length = 0;
      const small = [];
      for (let i = 0; i < 5; i++) small.push(await sendVia(one, alice, bob));
      const live = await bobWs.collect(isMsg, 5);
      expect(live.map((f) => f.id)).toEqual(small.map((s) => s.id));
      expect(reads).toEqual([]);
      // Larger than a NOTIFY carries (WIRE_ITEM_MAX_BYTES): announced by id, read back.
      const large = await sendVia(one, alice, bob, b64(3000));
      const all = await bobWs.collect(isMsg, 6);
      expect(all.map((f) => f.id)).toEqual([...small, large].map((s) => s.id));
      expect(reads.length).toBeGreaterThan(0);
      // Every frame is the one a catch-up reads from the database.
      const fresh = await WsClient.connect(two.baseUrl, bob.token, 0);
      expect(await fresh.collect(isMsg, 6)).toEqual(all);
      bobWs.close();
      fresh.close();
    } finally {
      await one.close();
      await two.close();
    }
  });
});
