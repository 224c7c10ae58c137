// Per-user token buckets kept in PostgreSQL (table token_buckets, migration 0020), so a
// limit holds across every relay process behind the load balancer. One statement both
// refills and takes a token; the row lock taken by ON CONFLICT … DO UPDATE makes
// concurrent takes for one user serialise, so a burst can never be overspent.
import type { Queryable } from '../messages/stream.js';

export interface BucketSpec {
  /** Stable name of the limit, e.g. 'send' or 'prekey_fetch'. */
  name: string;
  /** Most tokens held (the burst). */
  burst: number;
  /** Tokens added per second. */
  perSecond: number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

const TAKE = `
INSERT INTO token_buckets AS b (user_id, bucket, tokens, updated_at)
VALUES ($1, $2, $3::float8 - 1, $5)
ON CONFLICT (user_id, bucket) DO UPDATE
  SET tokens = LEAST($3::float8, b.tokens + $4::float8 * GREATEST(0, EXTRACT(EPOCH FROM ($5 - b.updated_at)))) - 1,
      updated_at = GREATEST(b.updated_at, $5)
  WHERE LEAST($3::float8, b.tokens + $4::float8 * GREATEST(0, EXTRACT(EPOCH FROM ($5 - b.updated_at)))) >= 1
RETURNING tokens`;

const PEEK = `SELECT tokens, updated_at FROM token_buckets WHERE user_id = $1 AND bucket = $2`;

/** Takes one token from `spec` for `userId` at time `now`; tells how long to wait when empty. */
export async function takeToken(
  db: Queryable,
  userId: string,
  spec: BucketSpec,
  now: Date,
): Promise<TakeResult> {
  const r = await db.query(TAKE, [userId, spec.name, spec.burst, spec.perSecond, now]);
  if (r.rowCount === 1) return { ok: true };
  const peek = await db.query<{ tokens: number; updated_at: Date }>(PEEK, [userId, spec.name]);
  const row = peek.rows[0];
  const elapsed = row ? Math.max(0, (now.getTime() - row.updated_at.getTime()) / 1000) : 0;
  const have = row ? Math.min(spec.burst, row.tokens + spec.perSecond * elapsed) : 0;
  return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - have) / spec.perSecond)) };
}
