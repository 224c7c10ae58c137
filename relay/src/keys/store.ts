// SQL for key material (migration 0021). The relay stores and hands out bytes; it never
// interprets them (spec/protocol.md §4).
import type pg from 'pg';
import type { Queryable } from '../messages/stream.js';
import { MAX_STORED_PREKEYS } from './limits.js';

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
}

export type UploadOutcome =
  | { kind: 'ok'; identityChanged: boolean; remaining: number; notified: { userId: string; seq: number }[] }
  | { kind: 'no_identity' }
  | { kind: 'too_many'; stored: number }
  | { kind: 'duplicate_key_id' };

// Announces a changed identity key to everyone on either side of a contact relation with the
// owner, as a 'key_change' item in each one's stream (targets locked in id order).
const ANNOUNCE = `
WITH targets AS (
  SELECT user_id AS id FROM contacts WHERE contact_id = $1
  UNION
  SELECT contact_id FROM contacts WHERE user_id = $1
),
alloc AS (
  INSERT INTO user_streams AS us (user_id, seq) SELECT id, 1 FROM targets ORDER BY id
  ON CONFLICT (user_id) DO UPDATE SET seq = us.seq + 1
  RETURNING user_id, seq
)
INSERT INTO stream_events (user_id, seq, kind, subject_id, created_at)
SELECT user_id, seq, 'key_change', $1, $2 FROM alloc
RETURNING user_id, seq`;

/** Applies an upload in one transaction (caller provides `tx`, already inside BEGIN). */
export async function applyUpload(
  tx: pg.PoolClient,
  userId: string,
  up: KeyUpload,
  now: Date,
): Promise<UploadOutcome> {
  // The identity row lock serialises uploads of one user (the stock count below stays exact).
  const cur = await tx.query<{ public_key: Buffer }>(
    'SELECT public_key FROM identity_keys WHERE user_id = $1 FOR UPDATE',
    [userId],
  );
  const existing = cur.rows[0]?.public_key;
  let identityChanged = false;
  let notified: { userId: string; seq: number }[] = [];
  if (up.identityKey) {
    if (!existing) {
      await tx.query(
        'INSERT INTO identity_keys (user_id, public_key, created_at, updated_at) VALUES ($1, $2, $3, $3)',
        [userId, up.identityKey, now],
      );
    } else if (!existing.equals(up.identityKey)) {
      // A reinstall: the old prekeys were signed by the old identity and can never be used again.
      identityChanged = true;
      await tx.query('UPDATE identity_keys SET public_key = $2, updated_at = $3 WHERE user_id = $1', [
        userId,
        up.identityKey,
        now,
      ]);
      await tx.query('DELETE FROM signed_prekeys WHERE user_id = $1', [userId]);
      await tx.query('DELETE FROM one_time_prekeys WHERE user_id = $1', [userId]);
      const r = await tx.query<{ user_id: string; seq: string }>(ANNOUNCE, [userId, now]);
      notified = r.rows.map((x) => ({ userId: x.user_id, seq: Number(x.seq) }));
    }
  } else if (!existing) {
    return { kind: 'no_identity' };
  }
  for (const [kind, key] of [
    ['x25519', up.signedPrekey],
    ['mlkem768', up.pqPrekey],
  ] as const) {
    if (!key) continue;
    await tx.query(
      `INSERT INTO signed_prekeys (user_id, kind, key_id, public_key, signature, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (user_id, kind) DO UPDATE
         SET key_id = EXCLUDED.key_id, public_key = EXCLUDED.public_key,
             signature = EXCLUDED.signature, updated_at = EXCLUDED.updated_at`,
      [userId, kind, key.keyId, key.publicKey, key.signature, now],
    );
  }
  const stock = await countPrekeys(tx, userId);
  const batch = up.oneTimePrekeys ?? [];
  if (batch.length === 0) return { kind: 'ok', identityChanged, remaining: stock, notified };
  if (stock + batch.length > MAX_STORED_PREKEYS) return { kind: 'too_many', stored: stock };
  const ids = batch.map((k) => k.keyId);
  const dup = await tx.query(
    'SELECT 1 FROM one_time_prekeys WHERE user_id = $1 AND key_id = ANY($2::bigint[]) LIMIT 1',
    [userId, ids],
  );
  if (dup.rowCount) return { kind: 'duplicate_key_id' };
  await tx.query(
    `INSERT INTO one_time_prekeys (user_id, key_id, public_key, created_at)
     SELECT $1, k, p, $4 FROM unnest($2::bigint[], $3::bytea[]) AS t(k, p)`,
    [userId, ids, batch.map((k) => k.publicKey), now],
  );
  return { kind: 'ok', identityChanged, remaining: stock + batch.length, notified };
}

export async function countPrekeys(db: Queryable, userId: string): Promise<number> {
  const r = await db.query<{ n: string }>('SELECT count(*) AS n FROM one_time_prekeys WHERE user_id = $1', [
    userId,
  ]);
  return Number(r.rows[0]?.n ?? 0);
}

export interface KeyStatus {
  identityKey: Buffer | null;
  signedPrekeyId: number | null;
  pqPrekeyId: number | null;
  remaining: number;
}

export async function keyStatus(db: Queryable, userId: string): Promise<KeyStatus> {
  const r = await db.query<{ public_key: Buffer | null; spk: string | null; pq: string | null; n: string }>(
    `SELECT (SELECT public_key FROM identity_keys WHERE user_id = $1) AS public_key,
            (SELECT key_id FROM signed_prekeys WHERE user_id = $1 AND kind = 'x25519') AS spk,
            (SELECT key_id FROM signed_prekeys WHERE user_id = $1 AND kind = 'mlkem768') AS pq,
            (SELECT count(*) FROM one_time_prekeys WHERE user_id = $1) AS n`,
    [userId],
  );
  const row = r.rows[0];
  return {
    identityKey: row?.public_key ?? null,
    signedPrekeyId: row?.spk == null ? null : Number(row.spk),
    pqPrekeyId: row?.pq == null ? null : Number(row.pq),
    remaining: Number(row?.n ?? 0),
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
