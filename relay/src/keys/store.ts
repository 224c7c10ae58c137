// SQL for key material (migrations 0021, 0030). The relay stores and hands out bytes; it never
// interprets them (spec/protocol.md §4).
import type pg from 'pg';
import type { Queryable } from '../db/pool.js';
import { type BucketSpec, takeToken } from '../limits/token-bucket.js';
import { MAX_STORED_PQ_PREKEYS, MAX_STORED_PREKEYS } from './limits.js';

export interface SignedKey {
  keyId: number;
  publicKey: Buffer;
  signature: Buffer;
}
export interface OneTimeKey {
  keyId: number;
  publicKey: Buffer;
}
export interface KeyUpload {
  identityKey?: Buffer | undefined;
  signedPrekey?: SignedKey | undefined;
  pqPrekey?: SignedKey | undefined;
  oneTimePrekeys?: OneTimeKey[] | undefined;
  oneTimePqPrekeys?: SignedKey[] | undefined;
}

/** One-time prekey stocks: X25519 (`x25519`) and ML-KEM-768 (`pq`). */
export interface Stocks {
  x25519: number;
  pq: number;
}

export type UploadOutcome =
  | { kind: 'ok'; identityChanged: boolean; stocks: Stocks; notified: { userId: string; seq: number }[] }
  | { kind: 'no_identity' }
  | { kind: 'reauth_required' }
  | { kind: 'identity_taken' }
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  | { kind: 'stale_prekey'; which: 'signed_prekey' | 'pq_prekey' }
  | { kind: 'too_many'; which: 'one_time_prekeys' | 'one_time_pq_prekeys'; stored: number; max: number }
  | { kind: 'duplicate_key_id'; which: 'one_time_prekeys' | 'one_time_pq_prekeys' };

// Announces a changed identity key to the users the owner has added as contacts (never to
// users who merely added the owner: spec/openapi.yaml POST /keys), as a 'key_change' item in
// each one's stream (stream_take_seq, migration 0060; targets taken in id order: the ordered
// subquery is not flattened, so the calls follow its order).
const ANNOUNCE = `
WITH alloc AS (
  SELECT t.id AS user_id, stream_take_seq(p_user => t.id) AS seq
    FROM (SELECT contact_id AS id FROM contacts WHERE user_id = $1 ORDER BY contact_id) t
)
INSERT INTO stream_events (user_id, seq, kind, subject_id, created_at)
SELECT user_id, seq, 'key_change', $1, $2 FROM alloc
RETURNING user_id, seq`;

// Tells the owner's other sessions (spec/openapi.yaml GET /ws identity_replaced): an item in the
// owner's own stream that every session but $3, the one that made the change, receives.
const TELL_OWNER = `
INSERT INTO stream_events (user_id, seq, kind, subject_id, origin_session_id, created_at)
VALUES ($1, stream_take_seq(p_user => $1), 'identity_replaced', $1, $3, $2)
RETURNING user_id, seq`;

/** The unique index of migration 0030: one identity key names one account. */
export const IDENTITY_KEY_INDEX = 'identity_keys_public_key';

/** True for PostgreSQL's unique violation on `constraint` (a concurrent claim of the same row). */
export function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === '23505' && e.constraint === constraint;
}

/**
 * Applies an upload in one transaction (caller provides `tx`, already inside BEGIN) and tells
 * what happened; the caller rolls back on any outcome but 'ok', so an upload is applied
 * entirely or not at all. The proof of the identity key (spec/protocol.md §4.6) is checked by
 * the caller before. `identityChange` limits replacements of the identity key.
 */
export async function applyUpload(
  tx: pg.PoolClient,
  userId: string,
  up: KeyUpload,
  now: Date,
  identityChange: BucketSpec,
  caller: {
    sessionId: string;
    /** The session proved the second factor recently (auth/sessions.ts REAUTH_WINDOW_MS). */
    freshlyAuthenticated: () => Promise<boolean>;
  },
): Promise<UploadOutcome> {
  // The user row lock serialises the uploads of one user (the stock counts and the id checks
  // below stay exact), also the very first one, when no key row exists yet to lock. NO KEY
  // UPDATE: foreign-key checks of other tables (KEY SHARE) are not blocked by it.
  await tx.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [userId]);
  const cur = await tx.query<{ public_key: Buffer }>(
    'SELECT public_key FROM identity_keys WHERE user_id = $1',
    [userId],
  );
  const existing = cur.rows[0]?.public_key;
  let identityChanged = false;
  let notified: { userId: string; seq: number }[] = [];
  if (up.identityKey) {
    if (!existing) {
      // A conflict here can only be another account's row: this user has none (checked under the lock).
      const ins = await tx.query(
        `INSERT INTO identity_keys (user_id, public_key, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT DO NOTHING`,
        [userId, up.identityKey, now],
      );
      if (!ins.rowCount) return { kind: 'identity_taken' };
    } else if (!existing.equals(up.identityKey)) {
      const taken = await tx.query('SELECT 1 FROM identity_keys WHERE public_key = $1', [up.identityKey]);
      if (taken.rowCount) return { kind: 'identity_taken' };
      // Step-up: a live token alone (a stolen refresh token) must not re-key the account.
      if (!(await caller.freshlyAuthenticated())) return { kind: 'reauth_required' };
      // A reinstall warns every contact, so it is rate-limited (spec/openapi.yaml POST /keys).
      // The token is taken in this transaction: a refused upload later on gives it back.
      const token = await takeToken(tx, userId, identityChange, now);
      if (!token.ok) return { kind: 'rate_limited', retryAfterSeconds: token.retryAfterSeconds };
      // The old prekeys were signed by the old identity and can never be used again; ids start over.
      identityChanged = true;
      await tx.query('UPDATE identity_keys SET public_key = $2, updated_at = $3 WHERE user_id = $1', [
        userId,
        up.identityKey,
        now,
      ]);
      await tx.query('DELETE FROM signed_prekeys WHERE user_id = $1', [userId]);
      await tx.query('DELETE FROM one_time_prekeys WHERE user_id = $1', [userId]);
      await tx.query('DELETE FROM one_time_pq_prekeys WHERE user_id = $1', [userId]);
      // Stream counters are locked in id order (contacts, then the owner: the owner is never its own contact,
      // and two replacements of one account are serialised by the user row lock above).
      const r = await tx.query<{ user_id: string; seq: string }>(ANNOUNCE, [userId, now]);
      const own = await tx.query<{ user_id: string; seq: string }>(TELL_OWNER, [
        userId,
        now,
        caller.sessionId,
      ]);
      notified = [...r.rows, ...own.rows].map((x) => ({ userId: x.user_id, seq: Number(x.seq) }));
    }
  } else if (!existing) {
    return { kind: 'no_identity' };
  }

  for (const [kind, which, key] of [
    ['x25519', 'signed_prekey', up.signedPrekey],
    ['mlkem768', 'pq_prekey', up.pqPrekey],
  ] as const) {
    if (!key) continue;
    const stored = await tx.query<{ key_id: string; public_key: Buffer; signature: Buffer }>(
      'SELECT key_id, public_key, signature FROM signed_prekeys WHERE user_id = $1 AND kind = $2',
      [userId, kind],
    );
    const old = stored.rows[0];
    if (old) {
      // Only the newest is kept, and ids only move forward (spec/openapi.yaml POST /keys): an
      // old id would bring back a key whose secret its owner may already have deleted. The
      // same id with the same bytes is a retried upload whose answer was lost.
      const oldId = Number(old.key_id);
      if (key.keyId === oldId && old.public_key.equals(key.publicKey) && old.signature.equals(key.signature))
        continue;
      if (key.keyId <= oldId) return { kind: 'stale_prekey', which };
    }
    await tx.query(
      `INSERT INTO signed_prekeys (user_id, kind, key_id, public_key, signature, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (user_id, kind) DO UPDATE
         SET key_id = EXCLUDED.key_id, public_key = EXCLUDED.public_key,
             signature = EXCLUDED.signature, updated_at = EXCLUDED.updated_at`,
      [userId, kind, key.keyId, key.publicKey, key.signature, now],
    );
  }

  const stocks = await countPrekeys(tx, userId);
  const x = up.oneTimePrekeys ?? [];
  if (x.length) {
    if (stocks.x25519 + x.length > MAX_STORED_PREKEYS)
      return { kind: 'too_many', which: 'one_time_prekeys', stored: stocks.x25519, max: MAX_STORED_PREKEYS };
    const ids = x.map((k) => k.keyId);
    const dup = await tx.query(
      'SELECT 1 FROM one_time_prekeys WHERE user_id = $1 AND key_id = ANY($2::bigint[]) LIMIT 1',
      [userId, ids],
    );
    if (dup.rowCount) return { kind: 'duplicate_key_id', which: 'one_time_prekeys' };
    await tx.query(
      `INSERT INTO one_time_prekeys (user_id, key_id, public_key, created_at)
       SELECT $1, k, p, $4 FROM unnest($2::bigint[], $3::bytea[]) AS t(k, p)`,
      [userId, ids, x.map((k) => k.publicKey), now],
    );
    stocks.x25519 += x.length;
  }
  const pq = up.oneTimePqPrekeys ?? [];
  if (pq.length) {
    if (stocks.pq + pq.length > MAX_STORED_PQ_PREKEYS)
      return {
        kind: 'too_many',
        which: 'one_time_pq_prekeys',
        stored: stocks.pq,
        max: MAX_STORED_PQ_PREKEYS,
      };
    const ids = pq.map((k) => k.keyId);
    const dup = await tx.query(
      'SELECT 1 FROM one_time_pq_prekeys WHERE user_id = $1 AND key_id = ANY($2::bigint[]) LIMIT 1',
      [userId, ids],
    );
    if (dup.rowCount) return { kind: 'duplicate_key_id', which: 'one_time_pq_prekeys' };
    await tx.query(
      `INSERT INTO one_time_pq_prekeys (user_id, key_id, public_key, signature, created_at)
       SELECT $1, k, p, s, $5 FROM unnest($2::bigint[], $3::bytea[], $4::bytea[]) AS t(k, p, s)`,
      [userId, ids, pq.map((k) => k.publicKey), pq.map((k) => k.signature), now],
    );
    stocks.pq += pq.length;
  }
  return { kind: 'ok', identityChanged, stocks, notified };
}

export async function countPrekeys(db: Queryable, userId: string): Promise<Stocks> {
  const r = await db.query<{ x: string; pq: string }>(
    `SELECT (SELECT count(*) FROM one_time_prekeys WHERE user_id = $1) AS x,
            (SELECT count(*) FROM one_time_pq_prekeys WHERE user_id = $1) AS pq`,
    [userId],
  );
  return { x25519: Number(r.rows[0]?.x ?? 0), pq: Number(r.rows[0]?.pq ?? 0) };
}

export interface KeyStatus {
  identityKey: Buffer | null;
  signedPrekeyId: number | null;
  pqPrekeyId: number | null;
  stocks: Stocks;
}

export async function keyStatus(db: Queryable, userId: string): Promise<KeyStatus> {
  const r = await db.query<{
    public_key: Buffer | null;
    spk: string | null;
    pq: string | null;
    n: string;
    npq: string;
  }>(
    `SELECT (SELECT public_key FROM identity_keys WHERE user_id = $1) AS public_key,
            (SELECT key_id FROM signed_prekeys WHERE user_id = $1 AND kind = 'x25519') AS spk,
            (SELECT key_id FROM signed_prekeys WHERE user_id = $1 AND kind = 'mlkem768') AS pq,
            (SELECT count(*) FROM one_time_prekeys WHERE user_id = $1) AS n,
            (SELECT count(*) FROM one_time_pq_prekeys WHERE user_id = $1) AS npq`,
    [userId],
  );
  const row = r.rows[0];
  return {
    identityKey: row?.public_key ?? null,
    signedPrekeyId: row?.spk == null ? null : Number(row.spk),
    pqPrekeyId: row?.pq == null ? null : Number(row.pq),
    stocks: { x25519: Number(row?.n ?? 0), pq: Number(row?.npq ?? 0) },
  };
}

export interface Bundle {
  userId: string;
  identityKey: Buffer;
  signedPrekey: SignedKey;
  pqPrekey: SignedKey;
}

const BUNDLE = `
SELECT u.id, i.public_key AS ik,
       s.key_id AS s_id, s.public_key AS s_pk, s.signature AS s_sig,
       q.key_id AS q_id, q.public_key AS q_pk, q.signature AS q_sig
  FROM users u
  JOIN identity_keys i ON i.user_id = u.id
  JOIN signed_prekeys s ON s.user_id = u.id AND s.kind = 'x25519'
  JOIN signed_prekeys q ON q.user_id = u.id AND q.kind = 'mlkem768'
 WHERE u.username = $1 AND u.status = 'active'`;

/** The published keys of `username`, or null when it has no complete bundle (or does not exist). */
export async function readBundle(db: Queryable, username: string): Promise<Bundle | null> {
  const r = await db.query<{
    id: string;
    ik: Buffer;
    s_id: string;
    s_pk: Buffer;
    s_sig: Buffer;
    q_id: string;
    q_pk: Buffer;
    q_sig: Buffer;
  }>(BUNDLE, [username]);
  const x = r.rows[0];
  if (!x) return null;
  return {
    userId: x.id,
    identityKey: x.ik,
    signedPrekey: { keyId: Number(x.s_id), publicKey: x.s_pk, signature: x.s_sig },
    pqPrekey: { keyId: Number(x.q_id), publicKey: x.q_pk, signature: x.q_sig },
  };
}

export interface PublishedIdentity {
  identityKey: Buffer;
  signedPrekeyId: number;
  pqPrekeyId: number;
}

// The same condition as BUNDLE (a complete bundle), reading ids only and taking nothing.
const IDENTITY = `
SELECT i.public_key AS ik, s.key_id AS s_id, q.key_id AS q_id
  FROM users u
  JOIN identity_keys i ON i.user_id = u.id
  JOIN signed_prekeys s ON s.user_id = u.id AND s.kind = 'x25519'
  JOIN signed_prekeys q ON q.user_id = u.id AND q.kind = 'mlkem768'
 WHERE u.username = $1 AND u.status = 'active'`;

/** The identity key and current signed prekey ids of `username`, or null (as readBundle). */
export async function readIdentity(db: Queryable, username: string): Promise<PublishedIdentity | null> {
  const r = await db.query<{ ik: Buffer; s_id: string; q_id: string }>(IDENTITY, [username]);
  const x = r.rows[0];
  if (!x) return null;
  return { identityKey: x.ik, signedPrekeyId: Number(x.s_id), pqPrekeyId: Number(x.q_id) };
}

// Hands out the oldest one-time prekey exactly once: the row is locked with SKIP LOCKED (two
// concurrent fetches never wait for, nor get, the same row) and deleted by the same statement.
// The count is taken from the statement's snapshot, which still includes the row it deletes.
const TAKE_OPK = `
WITH taken AS (
  DELETE FROM one_time_prekeys
   WHERE id = (SELECT id FROM one_time_prekeys WHERE user_id = $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING key_id, public_key
)
SELECT t.key_id, t.public_key, (SELECT count(*) FROM one_time_prekeys WHERE user_id = $1) AS before
  FROM (SELECT 1) one LEFT JOIN taken t ON true`;

/** Takes one one-time prekey of `userId` (null when none is left) and tells how many remain. */
export async function takeOneTimePrekey(
  db: Queryable,
  userId: string,
): Promise<{ key: OneTimeKey | null; remaining: number }> {
  const r = await db.query<{ key_id: string | null; public_key: Buffer | null; before: string }>(TAKE_OPK, [
    userId,
  ]);
  const row = r.rows[0];
  const before = Number(row?.before ?? 0);
  if (!row?.public_key || row.key_id === null) return { key: null, remaining: before };
  return {
    key: { keyId: Number(row.key_id), publicKey: row.public_key },
    remaining: Math.max(0, before - 1),
  };
}

// The same hand-out for one-time ML-KEM-768 prekeys (migration 0030): SKIP LOCKED, deleted by
// the statement that returns it.
const TAKE_PQ = `
WITH taken AS (
  DELETE FROM one_time_pq_prekeys
   WHERE id = (SELECT id FROM one_time_pq_prekeys WHERE user_id = $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING key_id, public_key, signature
)
SELECT t.key_id, t.public_key, t.signature, (SELECT count(*) FROM one_time_pq_prekeys WHERE user_id = $1) AS before
  FROM (SELECT 1) one LEFT JOIN taken t ON true`;

/** Takes one one-time ML-KEM-768 prekey of `userId` (null when none is left) and tells how many remain. */
export async function takeOneTimePqPrekey(
  db: Queryable,
  userId: string,
): Promise<{ key: SignedKey | null; remaining: number }> {
  const r = await db.query<{
    key_id: string | null;
    public_key: Buffer | null;
    signature: Buffer | null;
    before: string;
  }>(TAKE_PQ, [userId]);
  const row = r.rows[0];
  const before = Number(row?.before ?? 0);
  if (!row?.public_key || !row.signature || row.key_id === null) return { key: null, remaining: before };
  return {
    key: { keyId: Number(row.key_id), publicKey: row.public_key, signature: row.signature },
    remaining: Math.max(0, before - 1),
  };
}
