// The mailbox cap's cost (migration 0074 mailbox_room): a send into a device's mailbox that holds
// many unacknowledged copies must not read them all. Migration 0071 wrote the cheap bound and the
// exact count as two conditions of one WHERE, and PostgreSQL ran the count first: every send to a
// device that was offline read up to 10,000 index entries. Counted here with the index-read
// counter of the current transaction (pg_stat_get_xact_tuples_returned), not with time.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchUser, makeUsers } from '../bench/fixtures.js';
import { loadConfig } from '../src/config.js';
import { insertMessage, insertMessages, type SendInput } from '../src/messages/store.js';
import { TEST_SECRETS } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';

const HELD = 600;
let db: TestDatabase;
let pool: pg.Pool;
let users: BenchUser[];
const config = loadConfig({ ...TEST_SECRETS, DATABASE_URL: 'postgres://unused', DATA_DIR: '/nonexistent' });
let n = 0;

const send = (from: BenchUser, to: BenchUser, cap = 10_000): SendInput => ({
  senderId: from.id,
  sessionId: from.sessionId,
  to: to.username,
  clientId: `c${++n}`,
  copies: [{ deviceId: 1, own: false, body: randomBytes(16) }],
  now: new Date(),
  bucket: { name: 'cap-cost', burst: 100_000, perSecond: 1 },
  mailboxCap: cap,
});

/**
 * Index entries of the mailbox index read by `fn`, in one transaction (then rolled back). The
 * xact counter also holds what earlier transactions of this backend left unsent (a backend sends
 * its counters only when idle outside a transaction), so it is the difference across `fn`.
 */
async function mailboxReads(fn: (c: pg.PoolClient) => Promise<unknown>): Promise<number> {
  const c = await pool.connect();
  const read = async () =>
    Number(
      (
        await c.query<{ n: string }>(
          `SELECT pg_stat_get_xact_tuples_returned('messages_mailbox'::regclass) AS n`,
        )
      ).rows[0]?.n,
    );
  try {
    await c.query('BEGIN');
    const before = await read();
    await fn(c);
    return (await read()) - before;
  } finally {
    await c.query('ROLLBACK');
    c.release();
  }
}

beforeAll(async () => {
  db = await freshDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  users = await makeUsers(pool, config, 'm', 3);
  const [a, b] = users as [BenchUser, BenchUser];
  // b's device 1 holds HELD unacknowledged copies.
  for (let i = 0; i < HELD; i += 50)
    await insertMessages(
      pool,
      Array.from({ length: 50 }, () => send(a, b)),
    );
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

describe('the mailbox cap', () => {
  it('a send into a mailbox holding many copies reads a few index entries, not the mailbox', async () => {
    const [a, b] = users as [BenchUser, BenchUser];
    const single = await mailboxReads(async (c) => {
      expect((await insertMessage(c, send(a, b))).kind).toBe('stored');
    });
    // A dozen: the bound's look-up, the insert's uniqueness check (HELD is 600).
    expect(single).toBeLessThan(30);
    const batch = await mailboxReads(async (c) => {
      const out = await insertMessages(c, [send(a, b), send(users[2] as BenchUser, b)]);
      expect(out.map((o) => o.kind)).toEqual(['stored', 'stored']);
    });
    expect(batch).toBeLessThan(60);
  });

  it('counts exactly, and at most the cap, when the bound cannot prove room', async () => {
    const [a, b] = users as [BenchUser, BenchUser];
    // A cap below what is held: the bound fails, the count stops at the cap and refuses.
    const reads = await mailboxReads(async (c) => {
      expect((await insertMessage(c, send(a, b, 100))).kind).toBe('mailbox_full');
    });
    expect(reads).toBeGreaterThanOrEqual(100);
    expect(reads).toBeLessThan(100 + 30);
  });
});
