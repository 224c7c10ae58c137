// send_message_batch (migration 0075) against a concurrent transaction: the set-based path must
// either store every send exactly as send_message_copies would, or raise SDB01 so the batch runs
// the per-send loop — never fail the whole statement with another error the loop would not
// raise. The race here: another relay process stores the same send (same sender and client_id,
// a client retrying over another connection) and commits while the batch waits on it.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchUser, makeUsers } from '../bench/fixtures.js';
import { loadConfig } from '../src/config.js';
import { TEST_SECRETS } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let pool: pg.Pool;
/** Three accounts with devices 1 and 2, all published. */
let users: BenchUser[];

beforeAll(async () => {
  db = await freshDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const config = loadConfig({ ...TEST_SECRETS, DATABASE_URL: db.url, DATA_DIR: '/nonexistent' });
  users = await makeUsers(pool, config, 'race', 3, 2);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

interface Send {
  sender: BenchUser;
  to: BenchUser;
  client: string;
}
/** A send from device 1: recipient copies to devices 1 and 2, a sync copy to the sender's device 2. */
const copies = [
  { d: 1, o: false },
  { d: 2, o: false },
  { d: 2, o: true },
];
const now = new Date();
const common = { bucket: 'race', burst: 1000, rate: 1, cap: 1000 };

async function copiesOne(c: pg.PoolClient, s: Send) {
  return (
    await c.query(
      `SELECT refusal, device_id, own, seq FROM send_message_copies(p_sender => $1, p_session => $2,
         p_to => $3, p_client => $4, p_device => $5, p_own => $6, p_body => $7, p_now => $8,
         p_bucket => $9, p_burst => $10, p_rate => $11, p_cap => $12)`,
      [
        s.sender.id,
        s.sender.sessionId,
        s.to.username,
        s.client,
        copies.map((x) => x.d),
        copies.map((x) => x.o),
        copies.map((x) => Buffer.from(`${s.client}:${x.o}:${x.d}`)),
        now,
        common.bucket,
        common.burst,
        common.rate,
        common.cap,
      ],
    )
  ).rows;
}

async function batch(c: pg.PoolClient, sends: Send[]) {
  return (
    await c.query(
      `SELECT ord, refusal, device_id, own, seq FROM send_message_batch(p_sender => $1, p_session => $2,
         p_to => $3, p_client => $4, p_first => $5, p_count => $6, p_device => $7, p_own => $8,
         p_body => $9, p_now => $10, p_bucket => $11, p_burst => $12, p_rate => $13, p_cap => $14)`,
      [
        sends.map((s) => s.sender.id),
        sends.map((s) => s.sender.sessionId),
        sends.map((s) => s.to.username),
        sends.map((s) => s.client),
        sends.map((_, i) => 1 + i * copies.length),
        sends.map(() => copies.length),
        sends.flatMap(() => copies.map((x) => x.d)),
        sends.flatMap(() => copies.map((x) => x.o)),
        sends.flatMap((s) => copies.map((x) => Buffer.from(`${s.client}:${x.o}:${x.d}`))),
        sends.map(() => now),
        sends.map(() => common.bucket),
        sends.map(() => common.burst),
        sends.map(() => common.rate),
        sends.map(() => common.cap),
      ],
    )
  ).rows;
}

/** Waits until backend `pid` waits for a lock (polled; bounded at ~10 s for a loaded machine). */
async function waitingForLock(pid: number) {
  for (let i = 0; i < 1000; i++) {
    const r = await pool.query(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [pid]);
    if (r.rows[0]?.wait_event_type === 'Lock') return;
    await new Promise((ok) => setTimeout(ok, 10));
  }
  throw new Error(`backend ${pid} never waited for a lock`);
}

describe('send_message_batch against a concurrent transaction', () => {
  it('answers a send stored meanwhile by another process as known, the rest stored', async () => {
    const [a, b, c] = users as [BenchUser, BenchUser, BenchUser];
    const retried: Send = { sender: a, to: b, client: `x${randomUUID()}` };
    const other: Send = { sender: c, to: b, client: `y${randomUUID()}` };
    const first = await pool.connect();
    const second = await pool.connect();
    try {
      // The other process has stored the send, not yet committed.
      await first.query('BEGIN');
      expect((await copiesOne(first, retried)).every((r) => r.refusal === null)).toBe(true);
      const pid = (await second.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const running = batch(second, [retried, other]).then(
        (rows) => ({ rows }),
        (err: { code?: string; message?: string }) => ({ err }),
      );
      await waitingForLock(pid);
      await first.query('COMMIT');
      const got = await running;
      // As the loop answers it: known for the retried send, the other one stored whole.
      expect(got).not.toHaveProperty('err');
      const rows = (got as { rows: { ord: number; refusal: string | null }[] }).rows;
      expect(rows.filter((r) => r.ord === 1).map((r) => r.refusal)).toEqual(['known']);
      expect(rows.filter((r) => r.ord === 2).map((r) => r.refusal)).toEqual([null, null, null]);
      // One send's copies each, nothing of the batch's own attempt at the retried send.
      const stored = await pool.query(
        `SELECT client_id, count(*)::int AS n FROM messages WHERE client_id = ANY($1) GROUP BY client_id`,
        [[retried.client, other.client]],
      );
      expect(Object.fromEntries(stored.rows.map((r) => [r.client_id, r.n]))).toEqual({
        [retried.client]: 3,
        [other.client]: 3,
      });
    } finally {
      await first.query('ROLLBACK').catch(() => undefined);
      first.release();
      second.release();
    }
  }, 30_000);
  it('an unlink committing while the batch waits on the counter: the send sees the device removed', async () => {
    const [a, b] = users as [BenchUser, BenchUser];
    const s: Send = { sender: a, to: b, client: `u${randomUUID()}` };
    const unlink = await pool.connect();
    const sender = await pool.connect();
    try {
      // b unlinks its device 2 (src/devices/store.ts removeDevices: the device marked removed,
      // then delete_device_mailbox, which takes b's counter first), not yet committed.
      await unlink.query('BEGIN');
      await unlink.query(
        `UPDATE devices SET removed_at = now(), removed_reason = 'unlinked'
                           WHERE user_id = $1 AND device_id = 2`,
        [b.id],
      );
      await unlink.query('SELECT delete_device_mailbox(p_user => $1, p_device => 2)', [b.id]);
      const pid = (await sender.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const running = batch(sender, [
        s,
        { sender: users[2] as BenchUser, to: a, client: `v${randomUUID()}` },
      ]);
      await waitingForLock(pid);
      await unlink.query('COMMIT');
      const rows = await running;
      expect(rows.filter((r) => r.ord === 1).map((r) => r.refusal)).toEqual(['stale_devices']);
      expect(rows.filter((r) => r.ord === 2).map((r) => r.refusal)).toEqual([null, null, null]);
      const left = await pool.query('SELECT count(*)::int AS n FROM messages WHERE client_id = $1', [
        s.client,
      ]);
      expect(left.rows[0].n).toBe(0);
    } finally {
      await unlink.query('ROLLBACK').catch(() => undefined);
      await pool.query(
        `UPDATE devices SET removed_at = NULL, removed_reason = NULL WHERE user_id = $1 AND device_id = 2`,
        [b.id],
      );
      unlink.release();
      sender.release();
    }
  }, 30_000);

  it("an unlink waiting on the batch's counter: it sees the stored copy and deletes it", async () => {
    const [a, b] = users as [BenchUser, BenchUser];
    const s: Send = { sender: a, to: b, client: `w${randomUUID()}` };
    const unlink = await pool.connect();
    const sender = await pool.connect();
    try {
      await sender.query('BEGIN');
      expect(
        (
          await batch(sender, [s, { sender: users[2] as BenchUser, to: a, client: `z${randomUUID()}` }])
        ).every((r) => r.refusal === null),
      ).toBe(true);
      await unlink.query('BEGIN');
      await unlink.query(
        `UPDATE devices SET removed_at = now(), removed_reason = 'unlinked'
                           WHERE user_id = $1 AND device_id = 2`,
        [b.id],
      );
      const pid = (await unlink.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const deleting = unlink.query('SELECT delete_device_mailbox(p_user => $1, p_device => 2) AS n', [b.id]);
      await waitingForLock(pid);
      await sender.query('COMMIT');
      expect(Number((await deleting).rows[0].n)).toBe(1);
      await unlink.query('COMMIT');
      const left = await pool.query(
        'SELECT receiver_device_id, receiver_id IS NULL AS gone FROM messages WHERE client_id = $1 AND NOT own ORDER BY 1',
        [s.client],
      );
      expect(left.rows).toEqual([
        { receiver_device_id: 1, gone: false },
        { receiver_device_id: 2, gone: true },
      ]);
    } finally {
      await sender.query('ROLLBACK').catch(() => undefined);
      await unlink.query('ROLLBACK').catch(() => undefined);
      await pool.query(
        `UPDATE devices SET removed_at = NULL, removed_reason = NULL WHERE user_id = $1 AND device_id = 2`,
        [b.id],
      );
      sender.release();
      unlink.release();
    }
  }, 30_000);
});
