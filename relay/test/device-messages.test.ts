// Messages and photos per device (spec/openapi.yaml POST /send_message, GET /get_messages,
// POST /ack, GET /ws, photos; migration 0071), written from the attacks: a device reading or
// acknowledging another device's mailbox (a stranger's, or a sibling device of the same
// account), a sync copy reaching the recipient's account, a push reaching the wrong device, a
// removed device's mail lingering, and a photo deleted before every device has it (or kept
// after). Real PostgreSQL, both transports where a send is involved.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepOnce } from '../src/jobs/retention.js';
import { deleteDeviceMailbox } from '../src/messages/store.js';
import type { TestApp } from './helpers/app.js';
import { type DataApp, startDataApp } from './helpers/data-app.js';
import {
  b64,
  type DataUser,
  type Frame,
  fanOut,
  linkDevice,
  makeDeviceUser,
  newSession,
  sendBody,
  streamBarrier,
  WsClient,
} from './helpers/relay-data.js';

let data: DataApp;
let t: TestApp;

beforeAll(async () => {
  data = await startDataApp('sd-relay-devmsg-', { SEND_RATE_BURST: '1000', MAX_PENDING_PHOTOS: '50' });
  t = data.app;
});
afterAll(async () => {
  await data?.close();
});

interface Pair {
  alice: DataUser;
  alice2: DataUser;
  bob: DataUser;
  bob2: DataUser;
}
/** Alice and Bob with two devices each. */
async function twoByTwo(): Promise<Pair> {
  const alice = await makeDeviceUser(t, 'alice');
  const bob = await makeDeviceUser(t, 'bob');
  return { alice, alice2: await linkDevice(t, alice), bob, bob2: await linkDevice(t, bob) };
}

/** A send from alice's device 1 with a distinct body per copy (recipient 1, 2; own 2). */
function fanBody(p: Pair, clientId?: string) {
  const bodies = { b1: b64(24), b2: b64(25), a2: b64(26) };
  const m = {
    ...sendBody(p.bob.username, clientId === undefined ? {} : { clientId }),
    messages: [
      { device_id: p.bob.deviceId, body: bodies.b1 },
      { device_id: p.bob2.deviceId, body: bodies.b2 },
    ],
    own: [{ device_id: p.alice2.deviceId, body: bodies.a2 }],
  };
  return { m, bodies };
}

const inbox = async (u: DataUser) => {
  const r = await t.api.get('/get_messages', { token: u.token });
  expect(r.status).toBe(200);
  return r.body.messages as Frame[];
};

describe('per-device mailboxes', () => {
  it('each device reads only the copy sealed for it; the sync copy goes to the sender’s other device only', async () => {
    const p = await twoByTwo();
    const { m, bodies } = fanBody(p);
    const sent = await t.api.post('/send_message', m, { token: p.alice.token });
    expect(sent.status).toBe(201);
    const copies = sent.body.copies as { device_id: number; own: boolean; id: number }[];
    expect(copies.map((c) => [c.device_id, c.own])).toEqual([
      [1, false],
      [2, false],
      [2, true],
    ]);
    expect(sent.body.id).toBe(copies[0]?.id);
    const idOf = (device: number, own: boolean) =>
      copies.find((c) => c.device_id === device && c.own === own)?.id;

    const [b1, b2, a1, a2] = await Promise.all([p.bob, p.bob2, p.alice, p.alice2].map(inbox));
    expect(b1?.map((x) => [x.id, x.body, x.from, x.from_device])).toEqual([
      [idOf(1, false), bodies.b1, p.alice.username, 1],
    ]);
    expect(b2?.map((x) => [x.id, x.body, x.from, x.from_device])).toEqual([
      [idOf(2, false), bodies.b2, p.alice.username, 1],
    ]);
    // The sync copy: in alice's device 2 only, `from` = her own name; nothing for the sender.
    expect(a2?.map((x) => [x.id, x.body, x.from, x.from_device])).toEqual([
      [idOf(2, true), bodies.a2, p.alice.username, 1],
    ]);
    expect(a1).toEqual([]);
    // Three copies, one send: one token of the send bucket (spec/openapi.yaml POST /send_message).
    const bucket = await t.deps.pool.query(
      `SELECT tokens FROM token_buckets WHERE user_id = $1 AND bucket = 'send'`,
      [p.alice.id],
    );
    expect(bucket.rows[0].tokens).toBe(999);
    // It is stored in alice's account, never in bob's.
    const row = await t.deps.pool.query('SELECT receiver_id, own FROM messages WHERE id = $1', [
      idOf(2, true),
    ]);
    expect(row.rows[0]).toEqual({ receiver_id: p.alice.id, own: true });
  });

  it('refuses to acknowledge another device’s copies — a stranger’s, or a sibling device of the same account', async () => {
    const p = await twoByTwo();
    const { m } = fanBody(p);
    const sent = await t.api.post('/send_message', m, { token: p.alice.token });
    const ids = (sent.body.copies as { id: number }[]).map((c) => c.id);
    // Every id, by every device that is not its mailbox: nothing acknowledged, nothing deleted.
    expect(
      (await t.api.post('/ack', { ids, no_receipt_ids: ids }, { token: p.alice.token })).body.acked,
    ).toBe(0);
    const [b1id, b2id, a2id] = ids;
    expect((await t.api.post('/ack', { ids: [b2id, a2id] }, { token: p.bob.token })).body.acked).toBe(0);
    expect((await t.api.post('/ack', { ids: [b1id, a2id] }, { token: p.bob2.token })).body.acked).toBe(0);
    expect((await t.api.post('/ack', { ids: [b1id, b2id] }, { token: p.alice2.token })).body.acked).toBe(0);
    // A second session of bob's device 2 is device 2: it may.
    const bob2again = { ...p.bob2, ...(await newSession(t, p.bob.id, { deviceId: p.bob2.deviceId })) };
    expect((await inbox(bob2again)).map((x) => x.id)).toEqual([b2id]);
    expect((await inbox(p.bob)).map((x) => x.id)).toEqual([b1id]);
    expect((await inbox(p.alice2)).map((x) => x.id)).toEqual([a2id]);
    expect((await t.api.post('/ack', { ids: [b2id] }, { token: bob2again.token })).body.acked).toBe(1);
    expect(await inbox(p.bob2)).toEqual([]);
    expect((await inbox(p.bob)).map((x) => x.id)).toEqual([b1id]);
  });

  it('checks the copies against the PUBLISHED devices (complete bundle), the list GET /identity gives', async () => {
    const p = await twoByTwo();
    // A third device of bob without prekeys yet: no sender can seal for it, so none must.
    await t.deps.pool.query(
      `INSERT INTO devices (user_id, device_id, name, kind) VALUES ($1, 3, 'no bundle yet', 'other')`,
      [p.bob.id],
    );
    const { m } = fanBody(p);
    expect((await t.api.post('/send_message', m, { token: p.alice.token })).status).toBe(201);
    const identity = await t.api.get(`/identity/${p.bob.username}`, { token: p.alice.token });
    expect(identity.body.device_ids).toEqual([1, 2]);
  });

  it('a device-less session has no mailbox: get_messages and ack are 409 device_required', async () => {
    const u = await makeDeviceUser(t);
    const bare = { ...u, ...(await newSession(t, u.id, { deviceId: null })) };
    for (const r of [
      await t.api.get('/get_messages', { token: bare.token }),
      await t.api.post('/ack', { ids: [1] }, { token: bare.token }),
    ]) {
      expect(r.status).toBe(409);
      expect(r.body.error).toBe('device_required');
    }
  });

  it('gives the sender one delivered item per recipient copy acknowledged in ids, none for a sync copy', async () => {
    const p = await twoByTwo();
    const a1 = await WsClient.connect(t.baseUrl, p.alice.token);
    const a2 = await WsClient.connect(t.baseUrl, p.alice2.token);
    const { m } = fanBody(p);
    const sent = await t.api.post('/send_message', m, { token: p.alice.token });
    const [b1id, b2id, a2id] = (sent.body.copies as { id: number }[]).map((c) => c.id);
    // The sync copy acknowledged in ids (by mistake) still gives no receipt.
    expect((await t.api.post('/ack', { ids: [a2id] }, { token: p.alice2.token })).body.acked).toBe(1);
    expect((await t.api.post('/ack', { ids: [b1id] }, { token: p.bob.token })).body.acked).toBe(1);
    expect((await t.api.post('/ack', { ids: [b2id] }, { token: p.bob2.token })).body.acked).toBe(1);
    // Stream items are the account's: both of alice's sockets get both receipts, in order.
    for (const ws of [a1, a2]) {
      const got = await ws.collect((f) => f.type === 'delivered', 2);
      expect(got.map((f) => [f.message_id, f.client_id, f.to])).toEqual([
        [b1id, m.client_id, p.bob.username],
        [b2id, m.client_id, p.bob.username],
      ]);
    }
    const receipts = await t.deps.pool.query(
      `SELECT message_id::int FROM stream_events WHERE user_id = $1 AND kind = 'delivered' ORDER BY seq`,
      [p.alice.id],
    );
    expect(receipts.rows.map((r) => r.message_id)).toEqual([b1id, b2id]);
    a1.close();
    a2.close();
  });

  it('a retry after some copies were acknowledged is still the same send (duplicate, same ids)', async () => {
    const p = await twoByTwo();
    const { m } = fanBody(p);
    const first = await t.api.post('/send_message', m, { token: p.alice.token });
    await t.api.post('/ack', { ids: [first.body.copies[0].id] }, { token: p.bob.token });
    const again = await t.api.post('/send_message', m, { token: p.alice.token });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, duplicate: true });
    // Nothing stored twice: three copies of the send in all.
    const n = await t.deps.pool.query('SELECT count(*)::int AS n FROM messages WHERE sender_id = $1', [
      p.alice.id,
    ]);
    expect(n.rows[0].n).toBe(3);
  });

  it('delete_device_mailbox (unlink) removes a device’s pending copies only; a retry stays a duplicate', async () => {
    const p = await twoByTwo();
    const { m } = fanBody(p);
    const first = await t.api.post('/send_message', m, { token: p.alice.token });
    expect(await deleteDeviceMailbox(t.deps.pool, p.bob.id, p.bob2.deviceId)).toBe(1);
    const gone = await t.deps.pool.query(
      'SELECT message_encrypted, receiver_id FROM messages WHERE id = $1',
      [first.body.copies[1].id],
    );
    expect(gone.rows[0]).toEqual({ message_encrypted: null, receiver_id: null });
    expect(await inbox(p.bob2)).toEqual([]);
    expect((await inbox(p.bob)).length).toBe(1);
    expect((await inbox(p.alice2)).length).toBe(1);
    expect((await t.api.post('/send_message', m, { token: p.alice.token })).status).toBe(200);
  });
});

describe('pushes per device over /ws', () => {
  it('pushes each copy only to the sockets of its device, and stream items to every socket of the account', async () => {
    const p = await twoByTwo();
    const carol = await makeDeviceUser(t, 'carol');
    const connect = (u: DataUser) => WsClient.connect(t.baseUrl, u.token);
    const [wb1, wb2, wa1, wa2] = [
      await connect(p.bob),
      await connect(p.bob2),
      await connect(p.alice),
      await connect(p.alice2),
    ];
    // Over the socket, as the PWA sends.
    const { m, bodies } = fanBody(p);
    wa1.send({ type: 'send', id: 1, message: m });
    const answer = await wa1.next((f) => f.type === 'response' && f.id === 1);
    expect(answer.status).toBe(201);
    const [b1id, b2id, a2id] = (answer.body.copies as { id: number }[]).map((c) => c.id);
    expect((await wb1.next((f) => f.type === 'message')).body).toBe(bodies.b1);
    expect((await wb2.next((f) => f.type === 'message')).body).toBe(bodies.b2);
    const sync = await wa2.next((f) => f.type === 'message');
    expect([sync.id, sync.body, sync.from, sync.from_device]).toEqual([a2id, bodies.a2, p.alice.username, 1]);
    // Barriers: a later message to each device proves, in stream order, what did NOT arrive.
    await streamBarrier(t, carol, p.bob, wb1);
    await streamBarrier(t, carol, p.bob2, wb2);
    await streamBarrier(t, carol, p.alice, wa1);
    const ids = (ws: WsClient) => ws.frames.filter((f) => f.type === 'message').map((f) => f.id);
    expect(ids(wb1)).not.toContain(b2id);
    expect(ids(wb1)).not.toContain(a2id);
    expect(ids(wb2)).not.toContain(b1id);
    expect(ids(wb2)).not.toContain(a2id);
    expect(ids(wa1)).not.toContain(a2id);
    expect([...ids(wb1), ...ids(wb2)]).not.toContain(a2id);
    // A catch-up from 0 reads the same: a device's own copies only.
    wb2.send({ type: 'catch_up', cursor: 0 });
    await wb2.collect((f) => f.type === 'message' && f.id === b2id, 2);
    expect(ids(wb2)).not.toContain(b1id);
    // devices_changed (written by the unlink, src/devices) reaches every socket of the account.
    const seq = await t.deps.pool.query<{ seq: string }>(
      `INSERT INTO stream_events (user_id, seq, kind, subject_id, created_at)
       VALUES ($1, stream_take_seq(p_user => $1), 'devices_changed', $1, now()) RETURNING seq`,
      [p.bob.id],
    );
    t.deps.notifier.publish({ kind: 'stream', userId: p.bob.id, seq: Number(seq.rows[0]?.seq) });
    for (const ws of [wb1, wb2])
      expect((await ws.next((f) => f.type === 'devices_changed')).seq).toBe(Number(seq.rows[0]?.seq));
    for (const ws of [wb1, wb2, wa1, wa2]) ws.close();
  });

  it('closes a device-less session’s socket with 4409', async () => {
    const u = await makeDeviceUser(t);
    const bare = await newSession(t, u.id, { deviceId: null });
    const ws = await WsClient.open(t.baseUrl);
    ws.send({ type: 'auth', token: bare.token });
    expect(await ws.closed()).toBe(4409);
    expect(ws.frames).toEqual([]);
  });
});

describe('group commit with fan-out rows', () => {
  it('keeps per-sender order on every device and lets a stale send in the batch fail alone', async () => {
    const p = await twoByTwo();
    const carol = await makeDeviceUser(t, 'carol');
    const ws = await WsClient.connect(t.baseUrl, p.alice.token);
    // 30 sends written at once, alternating bob (two devices + a sync copy) and carol (one
    // device + a sync copy); send 11 names only one of bob's devices.
    const plan = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const to = i % 2 ? carol.username : p.bob.username;
        const body = await fanOut(t, p.alice, to, { body: b64(12), clientId: `gc-${i}` });
        return i === 11 ? { ...body, to: p.bob.username, messages: [{ device_id: 1, body: b64(12) }] } : body;
      }),
    );
    plan.forEach((message, i) => {
      ws.send({ type: 'send', id: 100 + i, message });
    });
    const answers = await Promise.all(
      plan.map((_, i) => ws.next((f) => f.type === 'response' && f.id === 100 + i)),
    );
    expect(answers.map((a) => a.status)).toEqual(plan.map((_, i) => (i === 11 ? 409 : 201)));
    expect(answers[11]?.body).toMatchObject({
      error: 'stale_devices',
      devices: { recipient: [1, 2], own: [2] },
    });
    const idsFor = (device: number, own: boolean, to: string) =>
      answers
        .filter((a, i) => a.status === 201 && plan[i]?.to === to)
        .map(
          (a) =>
            (a.body.copies as { device_id: number; own: boolean; id: number }[]).find(
              (c) => c.device_id === device && c.own === own,
            )?.id,
        )
        .filter((id) => id !== undefined);
    const read = async (u: DataUser) => {
      const r = await t.api.get('/get_messages?limit=500', { token: u.token });
      return (r.body.messages as Frame[]).map((x) => x.id);
    };
    // Send order = stream order, on each of bob's devices and carol's; on alice's other device
    // per conversation (a batch runs its sends in recipient order, src/messages/group-commit.ts;
    // the client orders a chat by its §9.1 order field anyway).
    expect(await read(p.bob)).toEqual(idsFor(1, false, p.bob.username));
    expect(await read(p.bob2)).toEqual(idsFor(2, false, p.bob.username));
    expect(await read(carol)).toEqual(idsFor(1, false, carol.username));
    const synced = await read(p.alice2);
    expect(synced).toHaveLength(29);
    for (const to of [p.bob.username, carol.username]) {
      const mine = idsFor(2, true, to);
      expect(synced.filter((id) => mine.includes(id))).toEqual(mine);
    }
    ws.close();
  });
});

describe('photos uploaded once', () => {
  const photoFiles = async (id: string) => {
    const r = await t.deps.pool.query<{ file_path: string }>('SELECT file_path FROM photos WHERE id = $1', [
      id,
    ]);
    return r.rows[0]?.file_path;
  };
  const get = (u: DataUser, id: string) => t.api.get(`/get_photo/${id}`, { token: u.token });

  it('is readable by every device of the receiver and the sender’s other device, and deleted after the last of them acknowledged', async () => {
    const p = await twoByTwo();
    const stranger = await makeDeviceUser(t);
    const bytes = randomBytes(3000);
    const up = await t.api.post(`/send_photo?to=${p.bob.username}`, undefined, {
      token: p.alice.token,
      raw: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(up.status).toBe(201);
    const id = up.body.id as string;
    const file = join(data.dataDir, 'photos', (await photoFiles(id)) as string);
    for (const u of [p.bob, p.bob2, p.alice2, p.alice]) {
      const r = await fetch(`${t.baseUrl}/get_photo/${id}`, {
        headers: { authorization: `Bearer ${u.token}` },
      });
      expect(r.status).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).equals(bytes)).toBe(true);
    }
    expect((await get(stranger, id)).status).toBe(404);
    // A stranger's or the uploading device's acknowledgement counts for nothing.
    expect((await t.api.post('/ack', { photo_ids: [id] }, { token: stranger.token })).body.photos_acked).toBe(
      0,
    );
    expect((await t.api.post('/ack', { photo_ids: [id] }, { token: p.alice.token })).body.photos_acked).toBe(
      0,
    );
    for (const [u, last] of [
      [p.bob, false],
      [p.bob2, false],
      [p.bob2, false], // again: nothing more
      [p.alice2, true],
    ] as const) {
      expect(existsSync(file)).toBe(true);
      expect((await get(p.alice2, id)).status).toBe(200);
      await t.api.post('/ack', { photo_ids: [id] }, { token: u.token });
      expect(existsSync(file)).toBe(!last);
    }
    expect((await get(p.bob, id)).status).toBe(404);
  });

  it('a removed device no longer holds a photo back: the sweep deletes it once no reader is left', async () => {
    const p = await twoByTwo();
    const up = await t.api.post(`/send_photo?to=${p.bob.username}`, undefined, {
      token: p.alice.token,
      raw: randomBytes(100),
      headers: { 'content-type': 'application/octet-stream' },
    });
    const id = up.body.id as string;
    await t.api.post('/ack', { photo_ids: [id] }, { token: p.bob.token });
    await t.api.post('/ack', { photo_ids: [id] }, { token: p.alice2.token });
    await deleteDeviceMailbox(t.deps.pool, p.bob.id, p.bob2.deviceId);
    expect((await sweepOnce(t.deps, new Date(t.clock.now()))).photos).toBeGreaterThanOrEqual(1);
    expect(await photoFiles(id)).toBeUndefined();
  });

  it('a device-less session (a stolen login) can neither upload nor download a photo: 409 device_required', async () => {
    const p = await twoByTwo();
    const up = await t.api.post(`/send_photo?to=${p.bob.username}`, undefined, {
      token: p.alice.token,
      raw: randomBytes(100),
      headers: { 'content-type': 'application/octet-stream' },
    });
    const bare = await newSession(t, p.bob.id);
    const answers = [
      await t.api.get(`/get_photo/${up.body.id}`, { token: bare.token }),
      await t.api.post(`/send_photo?to=${p.alice.username}`, undefined, {
        token: bare.token,
        raw: randomBytes(100),
        headers: { 'content-type': 'application/octet-stream' },
      }),
      await t.api.post(`/uploads?to=${p.alice.username}`, undefined, {
        token: bare.token,
        headers: { 'tus-resumable': '1.0.0', 'upload-length': '100' },
      }),
      await t.api.post('/ack', { photo_ids: [up.body.id] }, { token: bare.token }),
    ];
    expect(answers.map((r) => [r.status, r.body.error])).toEqual(Array(4).fill([409, 'device_required']));
    expect(await photoFiles(up.body.id)).toBeDefined();
  });

  it('a resumable upload (tus) has the same readers as POST /send_photo', async () => {
    const p = await twoByTwo();
    const bytes = randomBytes(500);
    const created = await t.api.post(`/uploads?to=${p.bob.username}`, undefined, {
      token: p.alice.token,
      headers: { 'tus-resumable': '1.0.0', 'upload-length': String(bytes.length) },
    });
    expect(created.status).toBe(201);
    const location = created.headers.get('location') as string;
    const id = location.split('/').pop() as string;
    const patched = await fetch(`${t.baseUrl}/uploads/${id}`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${p.alice.token}`,
        'tus-resumable': '1.0.0',
        'upload-offset': '0',
        'content-type': 'application/offset+octet-stream',
      },
      body: bytes,
    });
    expect(patched.status).toBe(204);
    const targets = await t.deps.pool.query(
      'SELECT user_id, device_id FROM photo_targets WHERE photo_id = $1 ORDER BY user_id = $2, device_id',
      [id, p.alice.id],
    );
    expect(targets.rows).toEqual([
      { user_id: p.bob.id, device_id: 1 },
      { user_id: p.bob.id, device_id: 2 },
      { user_id: p.alice.id, device_id: 2 },
    ]);
  });
});
