// Per-user token buckets kept in PostgreSQL (table token_buckets, migration 0020), so a
// limit holds across every relay process behind the load balancer. One SQL function both
// refills and takes a token (token_bucket_take, migration 0060); its row lock serialises
// concurrent takes for one user, so a burst can never be overspent.
import type { Queryable } from '../db/pool.js';

export interface BucketSpec {
  /** Stable name of the limit, e.g. 'send' or 'prekey_fetch'. */
  name: string;
  /** Most tokens held (the burst). */
  burst: number;
  /** Tokens added per second. */
  perSecond: number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

// The refill-and-take is the SQL function token_bucket_take (migration 0060), so a statement of
// another module can take a token inside its own statement (POST /send_message: one statement,
// one commit, for the limit and the insert). Named, so each connection plans it once.
const TAKE = {
  name: 'token_bucket_take',
  text: `SELECT token_bucket_take(p_user => $1, p_bucket => $2, p_burst => $3, p_rate => $4, p_now => $5) AS ok`,
};

const PEEK = `SELECT tokens, updated_at FROM token_buckets WHERE user_id = $1 AND bucket = $2`;

/** Takes one token from `spec` for `userId` at time `now`; tells how long to wait when empty. */
export async function takeToken(
  db: Queryable,
  userId: string,
  spec: BucketSpec,
  now: Date,
): Promise<TakeResult> {
  const r = await db.query<{ ok: boolean }>({
    ...TAKE,
    values: [userId, spec.name, spec.burst, spec.perSecond, now],
  });
  if (r.rows[0]?.ok === true) return { ok: true };
  return { ok: false, retryAfterSeconds: await retryAfter(db, userId, spec, now) };
}

/** Seconds until the bucket holds a whole token again (0 when it already does). */
export async function retryAfter(
  db: Queryable,
  userId: string,
  spec: BucketSpec,
  now: Date,
): Promise<number> {
  const peek = await db.query<{ tokens: number; updated_at: Date }>(PEEK, [userId, spec.name]);
  const row = peek.rows[0];
  if (!row) return 0;
  const elapsed = Math.max(0, (now.getTime() - row.updated_at.getTime()) / 1000);
  const have = Math.min(spec.burst, row.tokens + spec.perSecond * elapsed);
  return have >= 1 ? 0 : Math.max(1, Math.ceil((1 - have) / spec.perSecond));
}
