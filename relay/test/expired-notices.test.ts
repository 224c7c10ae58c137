// Messages that expire unread (spec/openapi.yaml GET /ws, the `expired` item; SECURITY.md
// "What the relay keeps"): retention deletes a copy no device acknowledged in RETENTION_DAYS.
// Before, that loss was silent: a device back after a long absence never learned that a
// contact had written. Each device now finds, in its own stream, how many copies from whom
// were deleted unread — and nothing else learns anything it did not know: not a sibling device,
// not the sender (whose `delivered` receipts would otherwise tell a block from an absence).
// Real PostgreSQL, an injected clock.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sweepOnce } from '../src/jobs/retention.js';
import { expireMessages } from '../src/messages/expiry.js';
import type { TestApp } from './helpers/app.js';
import { type DataApp, startDataApp } from './helpers/data-app.js';
import { deviceUpload } from './helpers/devices.js';
import { identityFor } from './helpers/identity.js';
import {
  type DataUser,
  type Frame,
  fanOut,
  linkDevice,
  makeDeviceUser,
  newSession,
  streamBarrier,
  WsClient,
} from './helpers/relay-data.js';

let data: DataApp;
let t: TestApp;

beforeAll(async () => {
  data = await startDataApp('sd-relay-expired-', { SEND_RATE_BURST: '1000' });
  t = data.app;
});
afterAll(async () => {
  await data?.close();
});

const DAY = 86_400_000;

/** Sends `n` messages from `from` to every device of `to` (and `from`'s other devices). */
async function sendMany(from: DataUser, to: DataUser, n: number): Promise<Frame[]> {
  const out: Frame[] = [];
  for (let i = 0; i < n; i++) {
    const r = await t.api.post('/send_message', await fanOut(t, from, to.username), { token: from.token });
    expect(r.status).toBe(201);
    out.push(r.body);
  }
  return out;
}

/** The copy of a send addressed to `device` (a recipient copy unless `own`). */
const copyFor = (sent: Frame, device: number, own = false): number =>
  (sent.copies as { device_id: number; own: boolean; id: number }[]).find(
    (c) => c.device_id === device && c.own === own,
  )?.id as number;

/** A fresh session on the same device (access tokens are short-lived; the clock moved). */
async function again(u: DataUser): Promise<DataUser> {
  return { ...u, ...(await newSession(t, u.id, { deviceId: u.deviceId })) };
}

/** Everything `u`'s device finds in its stream from the start, up to a barrier message. */
async function streamOf(u: DataUser, via: DataUser): Promise<Frame[]> {
  const ws = await WsClient.connect(t.baseUrl, u.token, 0);
  try {
    const barrier = await streamBarrier(t, via, u, ws);
    return ws.frames.filter((f: Frame) => f.type !== 'ready' && !(f.type === 'message' && f.id === barrier));
  } finally {
    ws.close();
  }
}

const expiredItems = (frames: Frame[]) => frames.filter((f) => f.type === 'expired');

/** Waits until a statement like `like` waits on a lock (PostgreSQL's own view of it). */
async function waitingOnLock(like: string): Promise<void> {
  // (`until` takes a synchronous check: this one reads the database.)
  await vi.waitFor(
    async () => {
      const r = await t.deps.pool.query(
        `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
        [like],
      );
      if (!r.rowCount) throw new Error(`nothing waits on a lock: ${like}`);
    },
    { timeout: 10_000, interval: 10 },
  );
}

describe('expired notices', () => {
  it('a device away longer than retention learns, per sender, how many copies were deleted unread', async () => {
    const alice = await makeDeviceUser(t, 'alice');
    const alice2 = await linkDevice(t, alice);
    let bob = await makeDeviceUser(t, 'bob');
    let bob2 = await linkDevice(t, bob);
    const first = (await t.api.get('/get_messages', { token: bob.token })).body.messages.length;
    expect(first).toBe(0);
    const t0 = t.clock.now();
    const sent = await sendMany(alice, bob, 3);
    // Bob's first device reads one of them; his second reads none.
    const read = await t.api.post('/ack', { ids: [copyFor(sent[0], bob.deviceId)] }, { token: bob.token });
    expect(read.status).toBe(200);

    t.clock.advance(30 * DAY + 1000);
    const swept = await sweepOnce(t.deps, new Date(t.clock.now()));
    expect(swept.messages).toBeGreaterThanOrEqual(9);
    bob = await again(bob);
    bob2 = await again(bob2);
    const carol = await makeDeviceUser(t, 'carol');

    const one = expiredItems(await streamOf(bob, carol));
    expect(one).toEqual([
      {
        type: 'expired',
        seq: expect.any(Number),
        from: alice.username,
        count: 2,
        first_sent_at: expect.any(String),
        last_sent_at: expect.any(String),
        created_at: new Date(t.clock.now()).toISOString(),
      },
    ]);
    expect(Date.parse(one[0].first_sent_at)).toBeGreaterThanOrEqual(t0);
    expect(Date.parse(one[0].first_sent_at)).toBeLessThanOrEqual(Date.parse(one[0].last_sent_at));
    const two = expiredItems(await streamOf(bob2, carol));
    expect(two.map((f) => [f.from, f.count])).toEqual([[alice.username, 3]]);
    // The sender's other device lost its sync copies: it is told they were its account's own.
    const own = expiredItems(await streamOf(await again(alice2), carol));
    expect(own.map((f) => [f.from, f.count])).toEqual([[alice.username, 3]]);
    // The sending device itself lost nothing, and learns nothing of what its recipient missed.
    expect(expiredItems(await streamOf(await again(alice), carol))).toEqual([]);
  });

  it('a copy that was read, or dropped for a block, expires without a notice to anyone', async () => {
    let alice = await makeDeviceUser(t, 'alice');
    let bob = await makeDeviceUser(t, 'bob');
    const blocked = await t.api.post('/blocks', { username: alice.username }, { token: bob.token });
    expect(blocked.status).toBeLessThan(300);
    await sendMany(alice, bob, 2); // stored as tombstones: bob never gets them
    let carol = await makeDeviceUser(t, 'carol');
    const sent = await sendMany(carol, bob, 1);
    expect(
      (await t.api.post('/ack', { ids: [copyFor(sent[0], bob.deviceId)] }, { token: bob.token })).status,
    ).toBe(200);

    t.clock.advance(30 * DAY + 1000);
    await sweepOnce(t.deps, new Date(t.clock.now()));
    [alice, bob, carol] = [await again(alice), await again(bob), await again(carol)];
    const dave = await makeDeviceUser(t, 'dave');
    expect(expiredItems(await streamOf(bob, dave))).toEqual([]);
    // The blocked sender learns nothing a delivered-but-unread message would not also show.
    expect(expiredItems(await streamOf(alice, dave))).toEqual([]);
    expect(expiredItems(await streamOf(carol, dave))).toEqual([]);
  });

  it('a notice is a stream item: a device reading past it does not get it again', async () => {
    const alice = await makeDeviceUser(t, 'alice');
    let bob = await makeDeviceUser(t, 'bob');
    await sendMany(alice, bob, 1);
    t.clock.advance(30 * DAY + 1000);
    await sweepOnce(t.deps, new Date(t.clock.now()));
    bob = await again(bob);
    const carol = await makeDeviceUser(t, 'carol');
    const [item] = expiredItems(await streamOf(bob, carol));
    expect(item?.count).toBe(1);
    const ws = await WsClient.connect(t.baseUrl, bob.token, item.seq);
    try {
      await streamBarrier(t, carol, bob, ws);
      expect(expiredItems(ws.frames)).toEqual([]);
    } finally {
      ws.close();
    }
    // A second sweep finds nothing more to announce.
    await sweepOnce(t.deps, new Date(t.clock.now()));
    expect(expiredItems(await streamOf(bob, carol))).toHaveLength(1);
  });

  it('a socket that is open when its copies expire gets the notice pushed', async () => {
    const alice = await makeDeviceUser(t, 'alice');
    let bob = await makeDeviceUser(t, 'bob');
    await sendMany(alice, bob, 2);
    t.clock.advance(30 * DAY + 1000);
    bob = await again(bob);
    const ws = await WsClient.connect(t.baseUrl, bob.token);
    try {
      // Connected without a cursor (from the head): nothing old comes; the notice is new.
      await sweepOnce(t.deps, new Date(t.clock.now()));
      const pushed = await ws.next((f) => f.type === 'expired');
      expect([pushed.from, pushed.count]).toEqual([alice.username, 2]);
    } finally {
      ws.close();
    }
  });

  it('a device unlinked while the sweep expires its copies: neither is a deadlock victim', async () => {
    // The sweep locked the copies it deleted, then the stream counters for its notices; an unlink
    // (delete_device_mailbox) takes the account's counter, then its copies: a lock cycle, and the
    // user's DELETE /devices answered 500. A send to another recipient X holding X's counter
    // makes the interleaving certain: the sweep waits there after picking its batch.
    const alice = await makeDeviceUser(t, 'alice');
    const [one, two] = [await makeDeviceUser(t, 'rx'), await makeDeviceUser(t, 'rb')];
    const [x, b] = one.id < two.id ? [one, two] : [two, one]; // X's counter comes first
    for (const to of [x, b]) await sendMany(alice, to, 1);
    t.clock.advance(30 * DAY + 1000);
    const now = new Date(t.clock.now());
    const bob = await again(b);
    const holder = await t.deps.pool.connect();
    let sweep: Promise<unknown> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT stream_take_seq(p_user => $1)', [x.id]);
      sweep = expireMessages(t.deps.pool, new Date(now.getTime() - 30 * DAY), now, 5000);
      await waitingOnLock('%'); // the sweep, at X's counter (nothing else runs now)
      const unlink = t.api.delete(`/devices/${bob.deviceId}`, { token: bob.token, spec: false });
      // The unlink finishes (nothing of its account is locked yet) or waits on the sweep.
      await Promise.race([unlink, waitingOnLock('%delete_device_mailbox%')]);
      await holder.query('COMMIT');
      const [u] = await Promise.all([unlink, sweep]);
      expect(u.status).toBe(204);
    } finally {
      holder.release();
      await sweep?.catch(() => undefined);
    }
    expect(t.logs.filter((l) => /deadlock/i.test(l))).toEqual([]);
  });

  it('a start over while the sweep expires copies: neither is a deadlock victim', async () => {
    // A start over (POST /keys with a new identity key) took the owner's counter (its devices'
    // mailboxes), then its contacts' (their key_change items); the sweep takes both in user id
    // order. With a contact whose id sorts first the two waited on each other, and POST /keys,
    // not run again, answered 500.
    const alice = await makeDeviceUser(t, 'alice');
    const [one, two] = [await makeDeviceUser(t, 'ua'), await makeDeviceUser(t, 'ub')];
    const [contact, owner] = one.id < two.id ? [one, two] : [two, one];
    await linkDevice(t, owner); // a second device: the start over removes both
    await t.deps.pool.query('INSERT INTO contacts (user_id, contact_id) VALUES ($1, $2)', [
      owner.id,
      contact.id,
    ]);
    for (const to of [owner, contact]) await sendMany(alice, to, 1);
    t.clock.advance(30 * DAY + 1000);
    const now = new Date(t.clock.now());
    const starter = await newSession(t, owner.id); // device-less, freshly authenticated
    const holder = await t.deps.pool.connect();
    let sweep: Promise<unknown> | undefined;
    let keys: ReturnType<typeof t.api.post> | undefined;
    try {
      // The start over pauses inside delete_device_mailbox, at a copy of the owner's.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM messages WHERE receiver_id = $1 FOR UPDATE', [owner.id]);
      keys = t.api.post('/keys', deviceUpload(identityFor(owner.username)), {
        token: starter.token,
        spec: false,
      });
      await waitingOnLock('%delete_device_mailbox%');
      sweep = expireMessages(t.deps.pool, new Date(now.getTime() - 30 * DAY), now, 5000);
      await waitingOnLock('%FROM user_streams%FOR UPDATE%');
      // Not a proof of absence: PostgreSQL aborts whichever waiter checks for a cycle after
      // deadlock_timeout (1 s) and finds one. Past the sweep's check, the start over is the one
      // that would find it, as the cycle closes.
      await new Promise((r) => setTimeout(r, 1500));
      await holder.query('COMMIT');
      const [k] = await Promise.all([keys, sweep]);
      expect(k.status, k.text).toBe(200);
    } finally {
      holder.release();
      await sweep?.catch(() => undefined);
      await keys?.catch(() => undefined);
    }
    expect(t.logs.filter((l) => /deadlock/i.test(l))).toEqual([]);
  });

  it('the notice outlives the copies by one more retention period, then goes too', async () => {
    const alice = await makeDeviceUser(t, 'alice');
    let bob = await makeDeviceUser(t, 'bob');
    await sendMany(alice, bob, 1);
    t.clock.advance(30 * DAY + 1000);
    await sweepOnce(t.deps, new Date(t.clock.now()));
    t.clock.advance(29 * DAY);
    await sweepOnce(t.deps, new Date(t.clock.now()));
    bob = await again(bob);
    const carol = await makeDeviceUser(t, 'carol');
    expect(expiredItems(await streamOf(bob, carol))).toHaveLength(1);
    t.clock.advance(1 * DAY + 1000);
    await sweepOnce(t.deps, new Date(t.clock.now()));
    bob = await again(bob);
    const dave = await makeDeviceUser(t, 'dave');
    expect(expiredItems(await streamOf(bob, dave))).toEqual([]);
  });
});
