// The LISTEN/NOTIFY notifier (src/notify/pg-notifier.ts) against a real PostgreSQL: round trip,
// coalesced batches in order (one stream event per user and batch), hostile payloads ignored, and recovery when its LISTEN connection
// is killed — including a message stored meanwhile still reaching a socket after the resync.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../scripts/lib/until.mjs';
import { createLogger } from '../src/logger.js';
import { insertMessage } from '../src/messages/store.js';
import type { RelayEvent } from '../src/notify/notifier.js';
import { PgNotifier } from '../src/notify/pg-notifier.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import { b64, makeDeviceUser, sendBody, WsClient } from './helpers/relay-data.js';

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

async function killListeners(channel = 'relay_events') {
  await t.deps.pool.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = current_database() AND query = $1 AND pid <> pg_backend_pid()`,
    [`LISTEN ${channel}`],
  );
}

/** A fresh channel name, so tests do not hear each other. */
const freshChannel = () => `t_${randomUUID().replace(/-/g, '').slice(0, 12)}`;

/** A notifier on `channel`, publishing through `pool` (the test app's unless given). */
const notifier = (channel: string, pool = t.deps.pool) =>
  PgNotifier.start({
    pool,
    listenConfig: { connectionString: db.url },
    logger: createLogger('silent'),
    channel,
  });

/**
 * A notifier `a` (publishing through `pool`) and a listening one whose events `got` collects, on
 * a fresh channel: `fn` runs with them, then both close.
 */
async function withPair(
  fn: (a: PgNotifier, got: RelayEvent[]) => Promise<void>,
  pool = t.deps.pool,
): Promise<void> {
  const channel = freshChannel();
  const a = await notifier(channel, pool);
  const b = await notifier(channel);
  const got: RelayEvent[] = [];
  b.subscribe((e) => got.push(e));
  try {
    await fn(a, got);
  } finally {
    await a.close();
    await b.close();
  }
}

describe('PgNotifier', () => {
  it('delivers published events to every subscriber, in order, in coalesced batches', async () => {
    await withPair(async (a, got) => {
      const users = Array.from({ length: 5 }, () => randomUUID());
      const user = users[0] as string;
      for (let i = 1; i <= 500; i++) a.publish({ kind: 'stream', userId: users[i % 5] as string, seq: i });
      a.publish({ kind: 'prekeys_low', userId: user, remaining: 3, remainingPq: 2 });
      a.publish({ kind: 'revoked', userId: user, sessionId: 'abc' });
      await a.flush();
      await until(() => got.some((e) => e.kind === 'revoked'));
      // Stream events of one user waiting together become one, carrying the highest seq (a
      // listener reads its stream up to it); each user's seqs still only rise.
      const streams = got.filter((e) => e.kind === 'stream');
      expect(streams.length).toBeLessThan(500);
      for (const [k, u] of users.entries()) {
        const seqs = streams.filter((e) => e.userId === u).map((e) => e.seq);
        expect(seqs.at(-1)).toBe(500 - ((5 - k) % 5));
        expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      }
      expect(got.filter((e) => e.kind !== 'stream')).toEqual([
        { kind: 'prekeys_low', userId: user, remaining: 3, remainingPq: 2 },
        { kind: 'revoked', userId: user, sessionId: 'abc' },
      ]);
    });
  });

  it('ignores payloads that are not events', async () => {
    const channel = freshChannel();
    const n = await notifier(channel);
    try {
      const got: RelayEvent[] = [];
      n.subscribe((e) => got.push(e));
      for (const payload of [
        'garbage',
        '{}',
        '[1,2]',
        '{"u":"x","k":"s","q":"1"}',
        '{"u":"","k":"s","q":1}',
        '{"u":"x","k":"zz"}',
      ])
        await t.deps.pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
      await t.deps.pool.query('SELECT pg_notify($1, $2)', [channel, '[{"u":"ok","k":"s","q":7}]']);
      await until(() => got.length === 1);
      expect(got).toEqual([{ kind: 'stream', userId: 'ok', seq: 7 }]);
      // A message item that does not parse is not pushed: the event still announces the seq, and
      // the socket reads the row back (src/ws/hub.ts).
      const item = { i: 5, f: 'alice', e: 1, b: 'AAAA', t: '2026-12-06T08:00:00.000Z' };
      for (const m of [
        { ...item, i: 0 },
        { ...item, i: '5' },
        { ...item, f: '' },
        { ...item, f: 'x'.repeat(65) },
        { ...item, e: -1 },
        { ...item, b: 'not base64!' },
        { ...item, b: 'A'.repeat(4000) },
        { ...item, t: 'yesterday' },
        'text',
      ])
        await t.deps.pool.query('SELECT pg_notify($1, $2)', [
          channel,
          JSON.stringify({ u: 'ok', k: 's', q: 8, d: 1, m }),
        ]);
      await t.deps.pool.query('SELECT pg_notify($1, $2)', [
        channel,
        JSON.stringify({ u: 'ok', k: 's', q: 9, d: 0, m: item }),
      ]);
      await until(() => got.length === 11);
      expect(got.slice(1)).toEqual([
        ...Array.from({ length: 9 }, () => ({ kind: 'stream', userId: 'ok', seq: 8 })),
        { kind: 'stream', userId: 'ok', seq: 9 },
      ]);
    } finally {
      await n.close();
    }
  });

  it('sends a small message copy with its item and device, alone; a large one, and the rest, as ids', async () => {
    await withPair(async (a, got) => {
      const user = randomUUID();
      const item = (seq: number, bytes: number) => ({
        type: 'message' as const,
        seq,
        id: 100 + seq,
        from: 'alice',
        from_device: 2,
        body: Buffer.alloc(bytes, seq).toString('base64'),
        created_at: new Date(Date.UTC(2026, 11, 6, 8, 0, seq)).toISOString(),
      });
      const small = [1, 2, 3].map((seq) => ({
        kind: 'stream' as const,
        userId: user,
        seq,
        deviceId: 1,
        item: item(seq, 200),
      }));
      for (const e of small) a.publish(e);
      // Too large for the wire (WIRE_ITEM_MAX_BYTES), then an event without an item: both
      // become one id-only event, the highest seq.
      a.publish({ kind: 'stream', userId: user, seq: 4, deviceId: 1, item: item(4, 3000) });
      a.publish({ kind: 'stream', userId: user, seq: 5 });
      await a.flush();
      await until(() => got.length === 4);
      expect(got).toEqual([...small, { kind: 'stream', userId: user, seq: 5 }]);
    });
  });

  it('while NOTIFYs fall behind, holds a bounded amount of items: later copies wait as one id event per user', async () => {
    // Copies that travel with their item are not merged; while the broker is slower than the
    // sends, the queue (memory, and the delay before any process hears of a new copy) must not
    // grow with every message, as coalescing kept it before (src/notify/pg-notifier.ts).
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    let notifies = 0;
    const slow = {
      query: async (...a: unknown[]) => {
        notifies++;
        await gate;
        return (t.deps.pool.query as (...x: unknown[]) => Promise<unknown>)(...a);
      },
    } as unknown as typeof t.deps.pool;
    await withPair(async (a, got) => {
      const user = randomUUID();
      const copy = (seq: number) => ({
        kind: 'stream' as const,
        userId: user,
        seq,
        deviceId: 1,
        item: {
          type: 'message' as const,
          seq,
          id: seq,
          from: 'alice',
          from_device: 1,
          body: Buffer.alloc(2000, seq).toString('base64'),
          created_at: new Date(Date.UTC(2026, 11, 6, 8, 0, 0)).toISOString(),
        },
      });
      a.publish(copy(1));
      await until(() => notifies === 1); // in flight, held at the gate
      const SENDS = 2000;
      for (let seq = 2; seq <= SENDS; seq++) a.publish(copy(seq));
      open();
      await a.flush();
      await until(() => got.some((e) => e.kind === 'stream' && e.seq === SENDS));
      // 2,000 copies of about 2,800 bytes on the wire: one per copy pair without a bound.
      expect(notifies).toBeLessThan(40);
      // Nothing is lost: the last event names the head, and the seqs that came whole are the
      // first ones, in order.
      const streams = got.filter((e) => e.kind === 'stream');
      expect(streams.at(-1)?.seq).toBe(SENDS);
      const whole = streams.filter((e) => e.item).map((e) => e.seq);
      expect(whole).toEqual(Array.from({ length: whole.length }, (_, i) => i + 1));
    }, slow);
  });

  it('reconnects after its LISTEN connection is killed and resyncs sockets, so nothing is lost', async () => {
    const alice = await makeDeviceUser(t);
    const bob = await makeDeviceUser(t);
    const ws = await WsClient.connect(t.baseUrl, bob.token);
    const events: RelayEvent[] = [];
    const unsubscribe = t.deps.notifier.subscribe((e) => events.push(e));
    try {
      await killListeners();
      // Stored with no NOTIFY at all (as by a process that died right after its commit): only
      // the resync after the reconnect can bring it to the socket.
      const stored = await insertMessage(t.deps.pool, {
        senderId: alice.id,
        sessionId: alice.sessionId,
        to: bob.username,
        clientId: randomUUID(),
        copies: [{ deviceId: 1, own: false, body: Buffer.from('lost notify') }],
        now: new Date(t.clock.now()),
        bucket: t.deps.config.messaging.send,
        mailboxCap: 100,
      });
      if (stored.kind !== 'stored') throw new Error(stored.kind);
      await until(() => events.some((e) => e.kind === 'resync'));
      expect((await ws.next((f) => f.type === 'message')).id).toBe(stored.copies[0]?.id);
      // Live delivery works again through the new connection.
      const next = await t.api.post(
        '/send_message',
        sendBody(bob.username, { clientId: randomUUID(), body: b64(10) }),
        { token: alice.token },
      );
      await ws.collect((f) => f.type === 'message', 2);
      expect(ws.frames.filter((f) => f.type === 'message').map((f) => f.id)).toEqual([
        stored.copies[0]?.id,
        next.body.id,
      ]);
    } finally {
      unsubscribe();
      ws.close();
    }
  });
});
