// The send functions run on generic plans (migration 0076: plan_cache_mode = force_generic_plan,
// planned once per connection instead of on every call, and enable_seqscan = off). A generic
// plan is made without the call's values, so it must still look every row up by key, at any size
// of the tables, and a plan cached while the tables were small must not read them sequentially,
// nor read more of them at all, once they have grown, before or after ANALYZE (migration 0079).
// Checked with the per-transaction scan counters (pg_stat_xact_user_tables) and the buffers
// EXPLAIN (ANALYZE, BUFFERS) counts, not with time.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchUser, makeUsers } from '../bench/fixtures.js';
import { loadConfig } from '../src/config.js';
import type { Queryable } from '../src/db/pool.js';
import { insertMessage, insertMessages, type SendInput } from '../src/messages/store.js';
import { TEST_SECRETS } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';

/** The send statements' names (src/messages/store.ts): a send alone, and a batch. */
const SEND_STATEMENTS = ['send_message_copies', 'send_message_batch'];
/** Accounts when the send statements are planned, and in the baseline (sendAloneAndTen's 22). */
const TINY = 3;
const SMALL = 22;
/** Accounts once the tables have grown. */
const USERS = 3000;
/** Copies held in mailboxes once the tables have grown. */
const HELD = 6000;
/** Tables a send reads or writes. */
const TABLES = [
  'users',
  'sessions',
  'devices',
  'identity_keys',
  'signed_prekeys',
  'blocks',
  'token_buckets',
  'user_streams',
  'messages',
];

let db: TestDatabase;
let pool: pg.Pool;
/** One connection for every send: the cached plans live per connection. */
let conn: pg.PoolClient;
let users: BenchUser[];
/** Buffers each send statement touched with SMALL accounts (buffersPerStatement). */
let small: Record<string, number>;
const config = loadConfig({ ...TEST_SECRETS, DATABASE_URL: 'postgres://unused', DATA_DIR: '/nonexistent' });
let n = 0;

const send = (from: BenchUser, to: BenchUser): SendInput => ({
  senderId: from.id,
  sessionId: from.sessionId,
  to: to.username,
  clientId: `p${++n}`,
  copies: [{ deviceId: 1, own: false, body: randomBytes(16) }],
  now: new Date(),
  bucket: { name: 'plans', burst: 100_000, perSecond: 1 },
  mailboxCap: 100_000,
});
const user = (i: number) => users[i % users.length] as BenchUser;

/** Every kind of send statement: alone, and batches of 1, 3 and 10, each run a few times. */
async function sendEveryWay(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    expect((await insertMessage(conn, send(user(round), user(round + 1)))).kind).toBe('stored');
    for (const size of [1, 3, 10]) {
      const batch = Array.from({ length: size }, (_, i) =>
        send(user(10 * round + i), user(10 * round + i + 7)),
      );
      const out = await insertMessages(conn, batch);
      expect(out.map((o) => o.kind)).toEqual(batch.map(() => 'stored'));
    }
  }
}

/**
 * The shared buffers (hit or read) each send statement `fn` runs touches, summed over its runs,
 * by statement name: from EXPLAIN (ANALYZE, BUFFERS) of that statement, run first in a savepoint
 * (the top node's counts include every statement the send functions run, on their cached
 * plans). In one transaction, rolled back.
 */
async function buffersPerStatement(fn: (db: Queryable) => Promise<void>): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  const measuring = {
    query: async (q: pg.QueryConfig | string, values?: unknown[]) => {
      if (typeof q === 'object' && q.name !== undefined && SEND_STATEMENTS.includes(q.name)) {
        await conn.query('SAVEPOINT measure');
        const r = await conn.query({
          text: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${q.text}`,
          values: q.values,
        });
        const plan = (r.rows[0] as { 'QUERY PLAN': { Plan: Record<string, number> }[] })['QUERY PLAN'][0]
          ?.Plan;
        const buffers = (plan?.['Shared Hit Blocks'] ?? 0) + (plan?.['Shared Read Blocks'] ?? 0);
        seen[q.name] = (seen[q.name] ?? 0) + buffers;
        await conn.query('ROLLBACK TO SAVEPOINT measure');
      }
      return conn.query(q, values);
    },
  } as unknown as Queryable;
  await conn.query('BEGIN');
  try {
    await fn(measuring);
    return seen;
  } finally {
    await conn.query('ROLLBACK');
  }
}

/** A send alone and a batch of ten, each on its own senders and recipients. */
async function sendAloneAndTen(db: Queryable): Promise<void> {
  expect((await insertMessage(db, send(user(20), user(21)))).kind).toBe('stored');
  const batch = Array.from({ length: 10 }, (_, i) => send(user(i), user(i + 10)));
  expect((await insertMessages(db, batch)).map((o) => o.kind)).toEqual(batch.map(() => 'stored'));
}

/** The backend's sequential scans of each of TABLES not yet sent to the statistics system. */
async function seqScanCounters(): Promise<Map<string, number>> {
  const r = await conn.query<{ relname: string; seq_scan: string }>(
    `SELECT relname, seq_scan FROM pg_stat_xact_user_tables WHERE relname = ANY($1)`,
    [TABLES],
  );
  return new Map(r.rows.map((x) => [x.relname, Number(x.seq_scan)]));
}

/**
 * Sequential scans of TABLES by `fn`, in one transaction (then rolled back). The xact counters
 * also hold what earlier transactions of this backend left unsent (a backend sends them only
 * when idle outside a transaction), so it is the difference across `fn` that counts.
 */
async function seqScans(fn: () => Promise<void>): Promise<Record<string, number>> {
  await conn.query('BEGIN');
  try {
    const before = await seqScanCounters();
    await fn();
    const after = await seqScanCounters();
    return Object.fromEntries(
      [...after].map(([t, k]) => [t, k - (before.get(t) ?? 0)] as const).filter(([, k]) => k > 0),
    );
  } finally {
    await conn.query('ROLLBACK');
  }
}

beforeAll(async () => {
  db = await freshDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  conn = await pool.connect();
  // Statistics stay as the test sets them: autovacuum analyzing a table halfway would replace
  // the plans under test with new ones.
  for (const table of TABLES) await pool.query(`ALTER TABLE ${table} SET (autovacuum_enabled = off)`);
  // Tiny tables, analyzed, and every send statement planned on their statistics (a relay's
  // first sends, planned while its tables hold a handful of rows).
  users = await makeUsers(pool, config, 'tiny', TINY);
  await conn.query('ANALYZE');
  await sendEveryWay();
  // The baseline: enough accounts for a batch of ten distinct senders and recipients, on the
  // same statistics and plans.
  users = users.concat(await makeUsers(pool, config, 'small', SMALL - TINY));
  small = await buffersPerStatement(sendAloneAndTen);
}, 60_000);
afterAll(async () => {
  conn?.release();
  await pool?.end();
  await db?.drop();
});

/**
 * No sequential scan is not enough: a plan can read a whole table through an index (a full index
 * scan is no sequential scan). What a send statement reads must depend on its sends, not on how
 * many accounts, sessions and devices there are: the same sends on tables 140 times larger touch
 * about as many buffers (B-trees one level deeper at most).
 */
async function expectCostPerSend(when: string): Promise<void> {
  const grown = await buffersPerStatement(sendAloneAndTen);
  for (const name of SEND_STATEMENTS) {
    const before = small[name] ?? 0;
    const after = grown[name] ?? Number.POSITIVE_INFINITY;
    expect(before, `${name} measured on the small tables`).toBeGreaterThan(0);
    expect(
      after,
      `${name}, ${when}: ${after} buffers against ${before} on the small tables`,
    ).toBeLessThanOrEqual(2 * before);
  }
}

describe('the send functions on generic plans', () => {
  it('look every row up by key once the tables have grown, on the connection that planned them small', async () => {
    users = users.concat(await makeUsers(pool, config, 'grown', USERS));
    // Blocks, buckets and streams for every account; mailboxes holding HELD copies.
    await pool.query(
      `INSERT INTO blocks (user_id, blocked_id)
       SELECT u.id, v.id FROM users u JOIN users v ON v.username = 'grownuser' || ((substr(u.username, 10)::int + 1) % $1)
        WHERE u.username LIKE 'grownuser%'`,
      [USERS],
    );
    await pool.query(
      `INSERT INTO token_buckets (user_id, bucket, tokens, updated_at) SELECT id, 'plans', 100000, now() FROM users
       ON CONFLICT DO NOTHING`,
    );
    await pool.query(
      `INSERT INTO user_streams (user_id, seq) SELECT id, 1 FROM users ON CONFLICT DO NOTHING`,
    );
    const grown = users.slice(SMALL);
    for (let i = 0; i < HELD; i += 100)
      await insertMessages(
        pool,
        Array.from({ length: 100 }, (_, k) =>
          send(grown[(i + k) % USERS] as BenchUser, grown[(i + k + 1) % USERS] as BenchUser),
        ),
      );
    // Before autovacuum has analyzed the grown tables (it runs every autovacuum_naptime, a
    // minute by default: a busy new relay grows its tables by thousands of rows in that time),
    // the plans cached on the small tables are still in use, with their statistics.
    expect(await seqScans(sendEveryWay)).toEqual({});
    await expectCostPerSend('cached on the small tables');
    // After it: new statistics invalidate the cached plans, and they are made again.
    await pool.query('ANALYZE');
    expect(await seqScans(sendEveryWay)).toEqual({});
    await expectCostPerSend('after ANALYZE');
    // And planned afresh on the grown tables.
    conn.release(true);
    conn = await pool.connect();
    expect(await seqScans(sendEveryWay)).toEqual({});
    await expectCostPerSend('planned on the grown tables');
  }, 120_000);

  it('the check can see a sequential scan', async () => {
    // The counter this test relies on, shown to count: index scans disabled for one transaction.
    const scans = await seqScans(async () => {
      await conn.query('SET LOCAL enable_indexscan = off');
      await conn.query('SET LOCAL enable_bitmapscan = off');
      await conn.query('SET LOCAL enable_indexonlyscan = off');
      await conn.query(`SELECT id FROM users WHERE username = 'grownuser7'`);
    });
    expect(scans.users).toBeGreaterThan(0);
  });
});
