// Group commit (src/messages/group-commit.ts): sends that arrive together share a transaction,
// yet a failing row fails alone, one sender's messages keep their order and each recipient's
// stream stays gap-free, and a relay killed in the middle of batches has stored every message
// it acknowledged (results are given only after COMMIT).
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { makeUsers, type RelayProcess, startRelay } from '../bench/fixtures.js';
import { loadConfig } from '../src/config.js';
import { takeToken } from '../src/limits/token-bucket.js';
import { GroupCommit } from '../src/messages/group-commit.js';
import { messageService } from '../src/messages/service.js';
import type { SendInput, SendOutcome } from '../src/messages/store.js';
import { startTestApp, TEST_SECRETS, type TestApp } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';
import {
  b64,
  type DataUser,
  type Frame,
  makeDeviceUser,
  ORIGIN,
  sendBody,
  WsClient,
} from './helpers/relay-data.js';

let db: TestDatabase;
let t: TestApp;

beforeAll(async () => {
  db = await freshDatabase();
  t = await startTestApp({ databaseUrl: db.url, env: { SEND_RATE_BURST: '1000' } });
});
afterAll(async () => {
  await t?.close();
  await db?.drop();
});

/** Sends `messages` as send frames all at once (one write burst); resolves with the responses in send order. */
async function burst(ws: WsClient, messages: Record<string, unknown>[], firstId: number): Promise<Frame[]> {
  messages.forEach((message, i) => {
    ws.send({ type: 'send', id: firstId + i, message });
  });
  return Promise.all(messages.map((_, i) => ws.next((f) => f.type === 'response' && f.id === firstId + i)));
}

describe('group commit', () => {
  it('a row that fails in a batch fails alone; the others are stored and answered', async () => {
    // A real database fault on one row: a trigger refuses the client_id "poison".
    await t.deps.pool.query(`
      CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.client_id = 'poison' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
    try {
      const [alice, bob] = [await makeDeviceUser(t), await makeDeviceUser(t)];
      const ws = await WsClient.connect(t.baseUrl, alice.token);
      const stats = messageService(t.deps).groupCommit.stats;
      const fallbacksBefore = stats.fallbacks;
      const messages = Array.from({ length: 20 }, (_, i) =>
        sendBody(bob.username, { clientId: i === 7 ? 'poison' : randomUUID(), body: b64(16) }),
      );
      const answers = await burst(ws, messages, 1);
      expect(answers.map((a) => a.status)).toEqual(
        messages.map((m) => (m.client_id === 'poison' ? 500 : 201)),
      );
      expect(answers[7].body).toEqual({ error: 'internal', message: 'internal error' });
      // The poison row was in a batch with others (it was rolled back and rerun row by row).
      expect(stats.fallbacks).toBeGreaterThan(fallbacksBefore);
      const got = await t.api.get('/get_messages', { token: bob.token });
      expect(got.body.messages.map((m: Frame) => m.id)).toEqual(
        answers.filter((a) => a.status === 201).map((a) => a.body.id),
      );
      expect(got.body.messages.map((m: Frame) => m.seq)).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
      ws.close();
    } finally {
      await t.deps.pool.query('DROP TRIGGER refuse_poison ON messages; DROP FUNCTION refuse_poison()');
    }
  });

  it("keeps each sender's order and a gap-free stream per recipient through batches", async () => {
    const bob = await makeDeviceUser(t);
    const carol = await makeDeviceUser(t);
    const senders = await Promise.all(Array.from({ length: 4 }, () => makeDeviceUser(t)));
    const stats = messageService(t.deps).groupCommit.stats;
    const before = { ...stats };
    const sockets = await Promise.all(senders.map((s) => WsClient.connect(t.baseUrl, s.token)));
    // Each sender writes 60 frames in one burst, alternating recipients; the HTTP path adds more.
    const plan = senders.map((s) =>
      Array.from({ length: 60 }, (_, i) =>
        sendBody((i % 2 ? carol : bob).username, { clientId: `${s.username}-${i}`, body: b64(8) }),
      ),
    );
    const viaHttp = Array.from({ length: 10 }, (_, i) =>
      t.api.post('/send_message', sendBody(bob.username, { clientId: `h${i}`, body: b64(8) }), {
        token: (senders[0] as DataUser).token,
      }),
    );
    const answers = await Promise.all(plan.map((msgs, k) => burst(sockets[k] as WsClient, msgs, 1)));
    for (const r of await Promise.all(viaHttp)) expect(r.status).toBe(201);
    for (const a of answers.flat()) expect(a.status).toBe(201);
    expect(stats.rows - before.rows).toBe(250);
    expect(stats.batches - before.batches).toBeLessThan(250); // batched, not one commit per send

    for (const recipient of [bob, carol]) {
      const got = await t.api.get('/get_messages?limit=500', { token: recipient.token });
      const ms: Frame[] = got.body.messages;
      expect(ms.map((m) => m.seq)).toEqual(Array.from({ length: ms.length }, (_, i) => i + 1));
      const ids = new Map(answers.flat().map((a) => [a.body.id as number, a]));
      for (const [k, s] of senders.entries()) {
        // The sender's messages to this recipient, in stream order = the order it sent them.
        const mine = ms.filter((m) => m.from === s.username && ids.has(m.id)).map((m) => m.id);
        const expected = (answers[k] as Frame[])
          .filter((_, i) => (plan[k] as { to: string }[])[i]?.to === recipient.username)
          .map((a) => a.body.id);
        expect(mine).toEqual(expected);
      }
    }
    for (const ws of sockets) ws.close();
  });
});

describe('one batch, one statement', () => {
  it('gives every row of a batch its own answer without a rollback; the good rows are stored in order', async () => {
    // A batch runs its rows in recipient order (then send order), and every row takes the
    // sender's tokens in that order: the names are chosen so that zed's rows come last.
    const alice = await makeDeviceUser(t, 'aa');
    const bob = await makeDeviceUser(t, 'ba');
    const carol = await makeDeviceUser(t, 'bc');
    const dave = await makeDeviceUser(t, 'bd');
    const erin = await makeDeviceUser(t, 'be');
    const zed = await makeDeviceUser(t, 'zz');
    await t.deps.pool.query('INSERT INTO blocks (user_id, blocked_id) VALUES ($1, $2)', [
      dave?.id,
      alice?.id,
    ]);
    const gc = new GroupCommit(t.deps.pool, t.deps.logger);
    const now = new Date(t.deps.clock.now());
    // Ten tokens and no refill worth counting: the eleventh send on is rate-limited.
    const bucket = { name: `batch_test_${randomBytes(3).toString('hex')}`, burst: 10, perSecond: 0.0001 };
    const send = (to: string, clientId: string, body: Buffer, extra: Partial<SendInput> = {}) =>
      gc.submit({
        senderId: alice.id,
        sessionId: alice.sessionId,
        to,
        clientId,
        copies: [{ deviceId: 1, own: false, body }],
        now,
        bucket,
        mailboxCap: 100,
        ...extra,
      });
    const [x, y] = [randomBytes(16), randomBytes(16)];
    // Submitted in one event-loop turn by one sender: one lane, one batch.
    const outcomes = await Promise.all([
      send(bob.username, 'a', x), // stored
      send('nobody_here', 'b', x), // no such user (the tenth token)
      send(carol.username, 'c', x), // stored
      send(bob.username, 'd', x, { sessionId: randomUUID() }), // not its session: takes no token
      send(bob.username, 'a', x), // the same send again: a duplicate of the first
      send(bob.username, 'a', y), // the same client_id, another body: refused
      send(dave.username, 'e', x), // dave blocked alice: accepted, stored as a tombstone
      send(bob.username, 'k', x, { copies: [2].map((deviceId) => ({ deviceId, own: false, body: x })) }), // stale
      send(bob.username, 'f', y), // stored
      send(erin.username, 'g', x, { mailboxCap: 1 }), // stored: erin's mailbox now holds 1
      send(erin.username, 'h', x, { mailboxCap: 1 }), // erin's mailbox is full
      send(zed.username, 'i', x), // no token left
      send(zed.username, 'j', x), // no token left
    ]);
    expect(gc.stats).toEqual({ batches: 1, rows: 13, fallbacks: 0 });
    expect(outcomes.map((o) => o.kind)).toEqual([
      'stored',
      'no_recipient',
      'stored',
      'session_revoked',
      'duplicate',
      'conflict',
      'stored',
      'stale_devices',
      'stored',
      'stored',
      'mailbox_full',
      'rate_limited',
      'rate_limited',
    ]);
    const id = (o: SendOutcome | undefined) => (o && 'copies' in o ? o.copies[0]?.id : undefined);
    expect(id(outcomes[4])).toBe(id(outcomes[0]));
    expect((outcomes[11] as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0);
    expect(outcomes[7]).toEqual({ kind: 'stale_devices', recipient: [1], own: [] });
    // The blocked recipient's copy is a tombstone: no stream place, no receiver.
    expect((outcomes[6] as Extract<SendOutcome, { kind: 'stored' }>).copies).toMatchObject([
      { deviceId: 1, own: false, seq: null, receiverId: null },
    ]);
    const got = await t.api.get('/get_messages', { token: bob.token });
    // The retries of client_id "a" are found before any seq is taken; the stale send took one
    // (the device lists are read after the counters, migration 0071): the harmless gap.
    expect(got.body.messages.map((m: Frame) => [m.id, m.seq])).toEqual([
      [id(outcomes[0]), 1],
      [id(outcomes[8]), 3],
    ]);
    expect((await t.api.get('/get_messages', { token: erin.token })).body.messages).toHaveLength(1);
    expect((await t.api.get('/get_messages', { token: dave.token })).body.messages).toHaveLength(0);
    expect((await t.api.get('/get_messages', { token: zed.token })).body.messages).toHaveLength(0);
  });
});

describe('batches in flight at once', () => {
  it("runs two senders' batches at once without a deadlock; each sender's sends stay in order", async () => {
    const recipients = await Promise.all(Array.from({ length: 5 }, () => makeDeviceUser(t)));
    const senders = await Promise.all(Array.from({ length: 6 }, () => makeDeviceUser(t)));
    const gc = new GroupCommit(t.deps.pool, t.deps.logger, 2);
    const bucket = { name: `pipe_test_${randomBytes(3).toString('hex')}`, burst: 1000, perSecond: 1000 };
    const submitted = new Map<string, { to: string; clientId: string; p: Promise<SendOutcome> }[]>();
    let n = 0;
    // Every sender writes to every recipient in a shuffled order, so two batches running at once
    // share recipients (their stream counters) in both directions.
    const wave = (group: DataUser[]) => {
      for (const s of group) {
        for (const r of [...recipients].sort(() => Math.random() - 0.5)) {
          const clientId = `p${++n}`;
          const p = gc.submit({
            senderId: s.id,
            sessionId: s.sessionId,
            to: r.username,
            clientId,
            copies: [{ deviceId: 1, own: false, body: randomBytes(8) }],
            now: new Date(t.deps.clock.now()),
            bucket,
            mailboxCap: 1000,
          });
          const list = submitted.get(s.id) ?? [];
          list.push({ to: r.username, clientId, p });
          submitted.set(s.id, list);
        }
      }
    };
    const [a, b] = [senders.slice(0, 3), senders.slice(3)];
    // Group a's first batch is held in the database (its first sender's token bucket row locked
    // here) until the later waves have been submitted: without that, a fast answer could end it
    // before wave 2 arrived, and one batch would take everything.
    await takeToken(t.deps.pool, (a[0] as DataUser).id, bucket, new Date(t.deps.clock.now()));
    const hold = await t.deps.pool.connect();
    await hold.query('BEGIN');
    await hold.query('SELECT 1 FROM token_buckets WHERE user_id = $1 AND bucket = $2 FOR UPDATE', [
      (a[0] as DataUser).id,
      bucket.name,
    ]);
    try {
      // Wave 1 starts a batch at the end of this turn; wave 2 arrives while it runs and takes the
      // second slot, except for group a's sends, which wait for group a's batch to finish.
      wave(a);
      await new Promise((r) => setImmediate(r));
      for (let i = 0; i < 4; i++) {
        wave(b);
        wave(a);
        await new Promise((r) => setImmediate(r));
      }
      await vi.waitFor(() => expect(gc.peakInFlight).toBe(2));
    } finally {
      await hold.query('COMMIT');
      hold.release();
    }
    const outcomes = await Promise.all([...submitted.values()].flat().map((x) => x.p));
    expect(outcomes.every((o) => o.kind === 'stored')).toBe(true);
    expect(gc.peakInFlight).toBe(2);
    expect(gc.stats.fallbacks).toBe(0); // a deadlock would have rolled a batch back
    for (const r of recipients) {
      const got = await t.api.get('/get_messages?limit=500', { token: r.token });
      const ms: Frame[] = got.body.messages;
      expect(ms.map((m) => m.seq)).toEqual(Array.from({ length: ms.length }, (_, i) => i + 1));
      for (const s of senders) {
        const expected = await Promise.all(
          (submitted.get(s.id) ?? []).filter((x) => x.to === r.username).map(async (x) => await x.p),
        );
        const mine = ms.filter((m) => m.from === s.username).map((m) => m.id);
        expect(mine).toEqual(expected.map((o) => (o.kind === 'stored' ? o.copies[0]?.id : undefined)));
      }
    }
  });
});

describe('a relay killed mid-batch', () => {
  it('loses nothing it acknowledged to a sender', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-relay-kill-'));
    chmodSync(dir, 0o700);
    const env = {
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'error',
      ...TEST_SECRETS,
      WS_ALLOWED_ORIGINS: ORIGIN,
      SEND_RATE_BURST: '10000',
      SEND_RATE_PER_SECOND: '1000',
    };
    const config = loadConfig(env);
    const senders = await makeUsers(t.deps.pool, config, `k${randomBytes(2).toString('hex')}s`, 4);
    const [receiver] = await makeUsers(t.deps.pool, config, `k${randomBytes(2).toString('hex')}r`, 1);
    let relay: RelayProcess | undefined = await startRelay(env, await getPort({ host: '127.0.0.1' }));
    try {
      const acked = new Set<number>();
      let killing = false;
      const url = `${relay.baseUrl.replace('http', 'ws')}/ws`;
      // Each sender keeps 32 sends in flight until the socket dies with the process.
      const run = (token: string, name: string) =>
        new Promise<void>((resolve) => {
          const ws = new WebSocket(url, { origin: ORIGIN });
          let next = 0;
          const sendOne = () => {
            const id = ++next;
            const message = sendBody(receiver?.username ?? '', { clientId: `${name}-${id}`, body: b64(64) });
            ws.send(JSON.stringify({ type: 'send', id, message }));
          };
          ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token })));
          ws.on('message', (data) => {
            const f = JSON.parse(data.toString());
            if (f.type === 'ready') for (let i = 0; i < 32; i++) sendOne();
            if (f.type !== 'response') return;
            if (f.status === 201) acked.add(f.body.id);
            if (!killing) sendOne();
          });
          ws.on('close', () => resolve());
          ws.on('error', () => resolve());
        });
      const runs = senders.map((s) => run(s.token, s.username));
      // Kill once a few hundred sends were acknowledged, while the next batches are in flight.
      while (acked.size < 300) await new Promise((r) => setTimeout(r, 10));
      await relay.kill();
      killing = true;
      relay = undefined;
      await Promise.all(runs);
      const stored = await t.deps.pool.query<{ id: string }>(
        'SELECT id FROM messages WHERE id = ANY($1::bigint[]) AND receiver_id = $2',
        [[...acked], receiver?.id],
      );
      expect(stored.rows.length).toBe(acked.size);
    } finally {
      await relay?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
