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

describe('PgNotifier', () => {
  it('delivers published events to every subscriber, in order, in coalesced batches', async () => {
    const channel = `t_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const logger = createLogger('silent');
    const a = await PgNotifier.start({
      pool: t.deps.pool,
      listenConfig: { connectionString: db.url },
      logger,
      channel,
    });
    const b = await PgNotifier.start({
      pool: t.deps.pool,
      listenConfig: { connectionString: db.url },
      logger,
      channel,
    });
    try {
      const got: RelayEvent[] = [];
      b.subscribe((e) => got.push(e));
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
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('ignores payloads that are not events', async () => {
    const channel = `t_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const n = await PgNotifier.start({
      pool: t.deps.pool,
      listenConfig: { connectionString: db.url },
      logger: createLogger('silent'),
      channel,
    });
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
    } finally {
      await n.close();
    }
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
