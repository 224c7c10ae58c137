// Per-user token buckets kept in PostgreSQL (table token_buckets, migration 0020), so a
// limit holds across every relay process behind the load balancer. One statement both
// refills and takes a token; the row lock taken by ON CONFLICT … DO UPDATE makes
// concurrent takes for one user serialise, so a burst can never be overspent.
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

/**
 * The statement that refills and takes one token, with its parameters at the given positions
 * ($user uuid, $bucket text, $burst, $rate per second, $now timestamptz). It returns a row only
 * when a token was taken. Exported so that a caller can run it as a CTE of its own statement
 * (POST /send_message: one statement, one commit, for the limit and the insert).
 */
export function takeSql(p: {
  user: number;
  bucket: number;
  burst: number;
  rate: number;
  now: number;
  /** An SQL condition: when false, no token is taken and nothing is returned (e.g. a dead session). */
  onlyIf?: string;
}): string {
  const refilled = `LEAST($${p.burst}::float8, b.tokens + $${p.rate}::float8 * GREATEST(0, EXTRACT(EPOCH FROM ($${p.now}::timestamptz - b.updated_at))))`;
  const source = p.onlyIf
    ? `SELECT $${p.user}::uuid, $${p.bucket}::text, $${p.burst}::float8 - 1, $${p.now}::timestamptz WHERE ${p.onlyIf}`
    : `VALUES ($${p.user}, $${p.bucket}, $${p.burst}::float8 - 1, $${p.now})`;
  return `INSERT INTO token_buckets AS b (user_id, bucket, tokens, updated_at)
${source}
ON CONFLICT (user_id, bucket) DO UPDATE
  SET tokens = ${refilled} - 1, updated_at = GREATEST(b.updated_at, $${p.now}::timestamptz)
  WHERE ${refilled} >= 1
RETURNING tokens`;
}

const TAKE = takeSql({ user: 1, bucket: 2, burst: 3, rate: 4, now: 5 });

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
