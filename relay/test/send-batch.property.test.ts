// Group commit's batch statement (migration 0075 send_message_batch) against its contract: the
// sends of a batch are stored exactly as send_message_copies would store them one after another
// in one transaction (migration 0071). The set-based path (send_message_batch_whole) only runs
// when every send is stored, and the per-send loop decides the rest — so for any batch and any
// prior state, both must give the same answers per send (refusal, copies, seqs, the device lists
// of a stale_devices answer) and leave the same rows behind (messages, token buckets, stream
// counters). fast-check draws batches over a small world where every refusal is reachable: dead
// and device-less sessions, unknown recipients, one's own account, a block, reused client_ids,
// stale device lists either side, full mailboxes and spent buckets.
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BenchUser, makeUsers } from '../bench/fixtures.js';
import { loadConfig } from '../src/config.js';
import { TEST_SECRETS } from './helpers/app.js';
import { freshDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let pool: pg.Pool;
/** Four accounts with devices 1 and 2; see beforeAll for what differs between them. */
let users: BenchUser[];
/** Per user: the session ids usable as a sender (live device sessions, then the odd ones). */
const sessions: string[][] = [];

beforeAll(async () => {
  db = await freshDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const config = loadConfig({ ...TEST_SECRETS, DATABASE_URL: db.url, DATA_DIR: '/nonexistent' });
  users = await makeUsers(pool, config, 'p', 4, 2);
  for (const u of users) {
    const s2 = randomUUID();
    await pool.query(`UPDATE sessions SET id = $1 WHERE user_id = $2 AND device_id = 2`, [s2, u.id]);
    sessions.push([u.sessionId, s2]);
  }
  const [a, b, c, d] = users as [BenchUser, BenchUser, BenchUser, BenchUser];
  // a: a revoked session and a device-less one; b: device 2 removed (its session stays, bound to
  // a removed device); c: device 2 without its signed prekeys (not published); d blocks a.
  const revoked = randomUUID();
  const deviceless = randomUUID();
  await pool.query(
    `INSERT INTO sessions (id, user_id, expires_at, device_id, revoked_at)
     VALUES ($1, $3, now() + interval '1 day', 1, now()), ($2, $3, now() + interval '1 day', NULL, NULL)`,
    [revoked, deviceless, a.id],
  );
  (sessions[0] as string[]).push(revoked, deviceless);
  await pool.query(
    `UPDATE devices SET removed_at = now(), removed_reason = 'unlinked' WHERE user_id = $1 AND device_id = 2`,
    [b.id],
  );
  await pool.query(`DELETE FROM signed_prekeys WHERE user_id = $1 AND device_id = 2`, [c.id]);
  await pool.query(`INSERT INTO blocks (user_id, blocked_id) VALUES ($1, $2)`, [d.id, a.id]);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

/** What each account's devices are for a sender that gets them right (published, per beforeAll). */
const PUBLISHED = [[1, 2], [1], [1], [1, 2]];

interface SendSpec {
  from: number;
  session: number;
  /** 0–3: an account; 4: nobody. */
  to: number;
  client: string;
  recipient: 'right' | 'missing' | 'extra';
  own: 'right' | 'missing' | 'extra';
  cap: number;
  burst: number;
}

const sendSpec = fc.record<SendSpec>({
  from: fc.nat(3),
  session: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.nat(3)),
  to: fc.oneof({ weight: 6, arbitrary: fc.nat(3) }, fc.constant(4)),
  client: fc.oneof({ weight: 6, arbitrary: fc.constant('') }, fc.constantFrom('k1', 'k2')),
  recipient: fc.oneof(
    { weight: 8, arbitrary: fc.constant('right' as const) },
    fc.constantFrom('missing' as const, 'extra' as const),
  ),
  own: fc.oneof(
    { weight: 8, arbitrary: fc.constant('right' as const) },
    fc.constantFrom('missing' as const, 'extra' as const),
  ),
  cap: fc.oneof({ weight: 4, arbitrary: fc.constant(1000) }, fc.integer({ min: 1, max: 4 })),
  burst: fc.oneof({ weight: 4, arbitrary: fc.constant(1000) }, fc.integer({ min: 1, max: 3 })),
});

/** A send the relay stores (unless an earlier one used up its bucket or mailbox). */
const goodSpec = fc
  .record({
    from: fc.nat(3),
    session: fc.nat(1),
    other: fc.nat(2),
    client: fc.constant(''),
    cap: fc.oneof({ weight: 2, arbitrary: fc.constant(1000) }, fc.integer({ min: 1, max: 5 })),
  })
  .map(({ from, other, ...rest }): SendSpec => {
    // Any account but the sender's, and not d when a sends (d blocks a).
    const to = [0, 1, 2, 3].filter((u) => u !== from && !(from === 0 && u === 3))[
      other % (from === 0 ? 2 : 3)
    ] as number;
    return { ...rest, from, to, recipient: 'right', own: 'right', burst: 1000 };
  });
/** Batches where every send is stored, and batches of anything. */
const batchSpec = fc.oneof(
  fc.array(goodSpec, { minLength: 1, maxLength: 6 }),
  fc.array(sendSpec, { minLength: 1, maxLength: 6 }),
  fc.array(fc.oneof({ weight: 4, arbitrary: goodSpec }, sendSpec), { minLength: 1, maxLength: 6 }),
);

const T0 = Date.parse('2026-12-01T00:00:00Z');

/** The send_message_copies arguments of a spec (sent lists per its right/missing/extra). */
function args(s: SendSpec, i: number, fresh: string) {
  const sender = users[s.from] as BenchUser;
  const senderSessions = sessions[s.from] as string[];
  const sessionId = senderSessions[Math.min(s.session, senderSessions.length - 1)] as string;
  const sendingDevice = s.session === 1 ? 2 : 1;
  // As the send route admits them (src/messages/service.ts): at least one recipient copy, one
  // copy per device. A wrong list: a device left out (another one named instead when it was the
  // only one) or one too many.
  const adjust = (list: number[], how: SendSpec['own'], atLeastOne: boolean) =>
    how === 'missing'
      ? list.length > 1 || !atLeastOne
        ? list.slice(1)
        : [7]
      : how === 'extra'
        ? [...list, 9]
        : list;
  const recipient = adjust(s.to < 4 ? (PUBLISHED[s.to] as number[]) : [1], s.recipient, true);
  const own = adjust(
    (PUBLISHED[s.from] as number[]).filter((d) => d !== sendingDevice),
    s.own,
    false,
  );
  const body = (d: number, o: boolean) => Buffer.from(`${i}:${o ? 'own' : 'to'}:${d}`);
  const copies = [
    ...recipient.map((d) => ({ d, o: false, b: body(d, false) })),
    ...own.map((d) => ({ d, o: true, b: body(d, true) })),
  ];
  return {
    sender: sender.id,
    session: sessionId,
    to: s.to < 4 ? (users[s.to] as BenchUser).username : 'nobody',
    client: s.client || fresh,
    copies,
    now: new Date(T0 + i * 7),
    bucket: 'prop',
    burst: s.burst,
    rate: 1,
    cap: s.cap,
  };
}
type Args = ReturnType<typeof args>;

const ROW = `refusal, device_id, own, seq, receiver_id, created_at, sender, sender_device,
             recipient_devices, own_devices, id`;

/**
 * The rows without their ids (PostgreSQL's sequences hand out different ones on each path), after
 * checking that each id is the stored copy the row describes: the relay hands ids to clients
 * (acknowledgements name them), so a path that answered with another copy's id would be wrong.
 */
async function checkIds(c: pg.PoolClient, rows: Record<string, unknown>[]) {
  for (const row of rows) {
    if (row.refusal !== null) {
      expect(row.id).toBeNull();
      continue;
    }
    const m = await c.query(
      `SELECT own, receiver_device_id, seq, receiver_id, created_at, sender_device_id
         FROM messages WHERE id = $1`,
      [row.id],
    );
    expect(m.rows).toEqual([
      {
        own: row.own,
        receiver_device_id: row.device_id,
        seq: row.receiver_id === null ? '0' : row.seq,
        receiver_id: row.receiver_id,
        created_at: row.created_at,
        sender_device_id: row.sender_device,
      },
    ]);
  }
  return rows.map(({ id: _id, ...rest }) => rest);
}

async function copiesOne(c: pg.PoolClient, a: Args) {
  const r = await c.query(
    `SELECT ${ROW} FROM send_message_copies(p_sender => $1, p_session => $2, p_to => $3, p_client => $4,
       p_device => $5, p_own => $6, p_body => $7, p_now => $8, p_bucket => $9, p_burst => $10,
       p_rate => $11, p_cap => $12)`,
    [
      a.sender,
      a.session,
      a.to,
      a.client,
      a.copies.map((x) => x.d),
      a.copies.map((x) => x.o),
      a.copies.map((x) => x.b),
      a.now,
      a.bucket,
      a.burst,
      a.rate,
      a.cap,
    ],
  );
  return r.rows;
}

async function batch(c: pg.PoolClient, fn: 'send_message_batch' | 'send_message_batch_whole', as: Args[]) {
  const first: number[] = [];
  let n = 1;
  for (const a of as) {
    first.push(n);
    n += a.copies.length;
  }
  const all = as.flatMap((a) => a.copies);
  const r = await c.query(
    `SELECT ord, ${ROW} FROM ${fn}(p_sender => $1, p_session => $2, p_to => $3, p_client => $4,
       p_first => $5, p_count => $6, p_device => $7, p_own => $8, p_body => $9, p_now => $10,
       p_bucket => $11, p_burst => $12, p_rate => $13, p_cap => $14)`,
    [
      as.map((a) => a.sender),
      as.map((a) => a.session),
      as.map((a) => a.to),
      as.map((a) => a.client),
      first,
      as.map((a) => a.copies.length),
      all.map((x) => x.d),
      all.map((x) => x.o),
      all.map((x) => x.b),
      as.map((a) => a.now),
      as.map((a) => a.bucket),
      as.map((a) => a.burst),
      as.map((a) => a.rate),
      as.map((a) => a.cap),
    ],
  );
  return r.rows;
}

/** Everything a send writes, without the ids PostgreSQL's sequences hand out (not transactional). */
async function state(c: pg.PoolClient) {
  const m = await c.query(
    `SELECT sender_id, receiver_id, client_id, seq, encode(message_encrypted, 'escape') AS body, created_at,
            acked_at, receiver_device_id, sender_device_id, own, first_copy
       FROM messages ORDER BY sender_id, client_id, own, receiver_device_id`,
  );
  const b = await c.query(
    `SELECT user_id, bucket, tokens, updated_at FROM token_buckets ORDER BY user_id, bucket`,
  );
  const s = await c.query(`SELECT user_id, seq FROM user_streams ORDER BY user_id`);
  return { messages: m.rows, buckets: b.rows, streams: s.rows };
}

describe('send_message_batch (set-based when every send is stored, else the loop)', () => {
  it('answers and stores exactly as send_message_copies one send after another', async () => {
    let whole = 0;
    let loop = 0;
    // Set-based batches whose tokens one statement took (every send from another sender, one
    // bucket; migration 0077), and those that took them send by send.
    let oneTake = 0;
    let takePerSend = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(goodSpec, sendSpec), { maxLength: 6 }),
        batchSpec,
        async (history, specs) => {
          const c = await pool.connect();
          try {
            await c.query('BEGIN');
            const run = randomBytes(4).toString('hex');
            // A prior state: the history stored send by send.
            for (const [i, s] of history.entries()) await copiesOne(c, args(s, i, `h${run}${i}`));
            const as = specs.map((s, i) => args(s, history.length + i, `b${run}${i}`));
            await c.query('SAVEPOINT before');

            // Whether the set-based path takes this batch (it raises SDB01 otherwise).
            const took = await batch(c, 'send_message_batch_whole', as).then(
              () => true,
              (e: { code?: string }) => {
                if (e.code !== 'SDB01') throw e;
                return false;
              },
            );
            if (took) whole++;
            else loop++;
            const oneBucket = new Set(as.map((a) => `${a.bucket}/${a.burst}/${a.rate}`)).size === 1;
            if (took && oneBucket && new Set(as.map((a) => a.sender)).size === as.length) oneTake++;
            else if (took) takePerSend++;
            await c.query('ROLLBACK TO SAVEPOINT before');

            const batched = await checkIds(c, await batch(c, 'send_message_batch', as));
            const afterBatch = await state(c);
            await c.query('ROLLBACK TO SAVEPOINT before');

            const oneByOne = [];
            for (const [i, a] of as.entries())
              for (const row of await checkIds(c, await copiesOne(c, a)))
                oneByOne.push({ ord: i + 1, ...row });
            const afterLoop = await state(c);

            expect(batched).toEqual(oneByOne);
            expect(afterBatch).toEqual(afterLoop);
            if (took) expect(batched.every((r) => r.refusal === null)).toBe(true);
          } finally {
            await c.query('ROLLBACK');
            c.release();
          }
        },
      ),
      { numRuns: 200 },
    );
    // Both paths were exercised (the draws make refusals common, and clean batches too).
    expect(whole).toBeGreaterThan(40);
    expect(loop).toBeGreaterThan(40);
    expect(oneTake).toBeGreaterThan(8);
    expect(takePerSend).toBeGreaterThan(8);
  }, 120_000);
});
