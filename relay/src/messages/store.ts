// SQL for messages (migration 0023). Every statement is a single autocommitted statement, so
// the relay spends one commit per accepted message, the same as a bare INSERT.
import { sessionIsLive } from '../auth/session-live.js';
import type { Queryable } from '../db/pool.js';
import { type BucketSpec, retryAfter } from '../limits/token-bucket.js';

export type SendOutcome =
  | { kind: 'stored'; id: number; seq: number; receiverId: string; createdAt: Date; sender: string }
  | { kind: 'duplicate'; id: number; createdAt: Date }
  | { kind: 'dropped'; id: number; createdAt: Date }
  | { kind: 'conflict' }
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  | { kind: 'mailbox_full' }
  | { kind: 'no_recipient' }
  | { kind: 'session_revoked' };

// One statement: take a token from the sender's bucket, resolve the recipient (unless its
// mailbox already holds $9 unacknowledged messages), take the next seq of its stream and insert.
// The session check, the token bucket and the stream seq are the SQL functions of migration
// 0060 (session_is_live, token_bucket_take, stream_take_seq), the one definition of each rule.
// The mailbox check is O(1) in the usual case: every unacknowledged message has a seq between
// the oldest one still held and the stream's last seq, so (last seq + 1 - oldest seq) bounds
// their number from above (stream events and acknowledged messages only widen the range).
// Below the cap that proves the mailbox is not full; only at or above it are the messages
// counted exactly (on the (receiver_id, seq) index, stopped at the cap). Counting every time
// cost a scan of the whole mailbox per send: measured, it halved the statement's throughput
// once receivers held ~1,000 messages (relay/BENCHMARKS.md). Nothing past the bucket happens
// without a token: tb is the outer side of r's join, read before any recipient lookup (the
// LATERAL reference and OFFSET 0 keep the planner from reordering them), so a send to anyone,
// existing or not, takes its token exactly once.
// A retry with a known client_id hits ON CONFLICT and inserts nothing (the seq taken is a
// harmless gap). Lock order is always bucket (sender) then stream (receiver).
// The sender's session ($10) is checked first, inside the statement (spec: every request checks
// its session, so logout takes effect at once): a dead session takes no token (CASE evaluates
// its branches in order) and stores nothing. Same snapshot rule as a separate check: a logout
// committed before this statement began is seen. It saves one round trip per message
// (require-auth.ts, requireTokenSessionInStatement). Named, so each pool connection parses and
// plans it once.
const INSERT_NAME = 'send_message';
const INSERT = `
WITH tb AS (
  SELECT CASE WHEN session_is_live(p_session => $10, p_user => $1, p_now => $5)
              THEN token_bucket_take(p_user => $1, p_bucket => $6, p_burst => $7, p_rate => $8, p_now => $5)
              ELSE false END AS ok
),
r AS (
  SELECT rc.id FROM tb, LATERAL (
    SELECT u.id FROM users u
     WHERE tb.ok AND u.username = $2 AND u.status = 'active'
       AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = u.id AND b.blocked_id = $1)
       AND (COALESCE((SELECT us.seq + 1 - o.seq FROM user_streams us,
                            LATERAL (SELECT p.seq FROM messages p WHERE p.receiver_id = u.id ORDER BY p.seq LIMIT 1) o
                      WHERE us.user_id = u.id), 0) < $9
            OR (SELECT count(*) FROM (SELECT 1 FROM messages p WHERE p.receiver_id = u.id LIMIT $9) x) < $9)
    OFFSET 0
  ) rc
),
s AS (SELECT id AS user_id, stream_take_seq(p_user => id) AS seq FROM r)
INSERT INTO messages (sender_id, receiver_id, client_id, seq, message_encrypted, created_at)
SELECT $1, s.user_id, $3, s.seq, $4, $5 FROM s
ON CONFLICT (sender_id, client_id) DO NOTHING
RETURNING id, seq, receiver_id, created_at, (SELECT username FROM users WHERE id = $1) AS sender`;

const EXISTING = `
SELECT m.id, m.created_at, m.acked_at,
       (m.receiver_id IS NOT DISTINCT FROM r.id AND m.message_encrypted = $4) AS same
  FROM messages m LEFT JOIN users r ON r.username = $2
 WHERE m.sender_id = $1 AND m.client_id = $3`;

/** One send, as insertMessage takes it. */
export interface SendInput {
  senderId: string;
  /** The sender's session (the access token's sid): checked live in the statement itself. */
  sessionId: string;
  to: string;
  clientId: string;
  body: Buffer;
  now: Date;
  bucket: BucketSpec;
  /** Most unacknowledged messages a receiver may hold (MAX_PENDING_MESSAGES). */
  mailboxCap: number;
}

/** Stores a message once per (sender, client_id), if the sender's `bucket` has a token. */
export async function insertMessage(db: Queryable, m: SendInput): Promise<SendOutcome> {
  const r = await db.query<{
    id: string;
    seq: string;
    receiver_id: string;
    created_at: Date;
    sender: string;
  }>({
    name: INSERT_NAME,
    text: INSERT,
    values: [
      m.senderId,
      m.to,
      m.clientId,
      m.body,
      m.now,
      m.bucket.name,
      m.bucket.burst,
      m.bucket.perSecond,
      m.mailboxCap,
      m.sessionId,
    ],
  });
  const row = r.rows[0];
  if (row)
    return {
      kind: 'stored',
      id: Number(row.id),
      seq: Number(row.seq),
      receiverId: row.receiver_id,
      createdAt: row.created_at,
      sender: row.sender,
    };
  // Why nothing was stored (the rare path): a dead session, out of tokens, a retry, a full
  // mailbox, or no such recipient.
  if (!(await sessionIsLive(db, m.senderId, m.sessionId, m.now))) return { kind: 'session_revoked' };
  const wait = await retryAfter(db, m.senderId, m.bucket, m.now);
  if (wait > 0) return { kind: 'rate_limited', retryAfterSeconds: wait };
  const e = await db.query<{ id: string; created_at: Date; acked_at: Date | null; same: boolean | null }>(
    EXISTING,
    [m.senderId, m.to, m.clientId, m.body],
  );
  const prev = e.rows[0];
  if (!prev) {
    const u = await db.query<{ id: string; blocked: boolean }>(
      `SELECT id, EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = users.id AND b.blocked_id = $2) AS blocked
         FROM users WHERE username = $1 AND status = 'active'`,
      [m.to, m.senderId],
    );
    const to = u.rows[0];
    if (to?.blocked) {
      // Blocked (spec/openapi.yaml POST /blocks): stored only as the tombstone an acknowledged
      // message leaves (no body, no receiver, no receipt), so the sender sees an ordinary
      // accepted send and a retry with this client_id is an ordinary duplicate.
      const t = await db.query<{ id: string; created_at: Date }>(
        `INSERT INTO messages (sender_id, receiver_id, client_id, seq, message_encrypted, created_at, acked_at)
         VALUES ($1, NULL, $2, 0, NULL, $3, $3) ON CONFLICT (sender_id, client_id) DO NOTHING
         RETURNING id, created_at`,
        [m.senderId, m.clientId, m.now],
      );
      const row = t.rows[0];
      if (row) return { kind: 'dropped', id: Number(row.id), createdAt: row.created_at };
      return insertMessage(db, m); // a concurrent send with this client_id won: answer as it did
    }
    return to ? { kind: 'mailbox_full' } : { kind: 'no_recipient' };
  }
  // After acknowledgement only a tombstone remains (no body to compare): the retry is the same send.
  if (prev.acked_at !== null || prev.same)
    return { kind: 'duplicate', id: Number(prev.id), createdAt: prev.created_at };
  return { kind: 'conflict' };
}

/**
 * An unacknowledged message of the receiver's stream as GET /get_messages lists it (the
 * `Envelope` schema of spec/openapi.yaml): the opaque ciphertext in base64 with its place.
 */
export interface PendingMessage {
  id: number;
  seq: number;
  from: string;
  body: string;
  created_at: string;
}

const LIST = `
SELECT m.id, m.seq, u.username AS sender, m.message_encrypted, m.created_at
  FROM messages m JOIN users u ON u.id = m.sender_id
 WHERE m.receiver_id = $1 AND m.seq > $2
 ORDER BY m.seq LIMIT $3`;

/** Unacknowledged messages to `userId` after `cursor` (a seq), oldest first. */
export async function listMessages(
  db: Queryable,
  userId: string,
  cursor: number,
  limit: number,
): Promise<PendingMessage[]> {
  const r = await db.query<{
    id: string;
    seq: string;
    sender: string;
    message_encrypted: Buffer;
    created_at: Date;
  }>(LIST, [userId, cursor, limit]);
  return r.rows.map((x) => ({
    id: Number(x.id),
    seq: Number(x.seq),
    from: x.sender,
    body: x.message_encrypted.toString('base64'),
    created_at: x.created_at.toISOString(),
  }));
}

// Acknowledging: the ciphertext and receiver are deleted (a tombstone stays, see migration 0023)
// and each sender gets a 'delivered' item in its own stream. Seqs are taken per sender in
// blocks (one stream_take_seq call per sender, senders taken in id order so two concurrent
// acks cannot deadlock: the ordered subquery is not flattened, so the calls follow its order).
const ACK = `
WITH acked AS (
  UPDATE messages SET message_encrypted = NULL, receiver_id = NULL, acked_at = $3
   WHERE receiver_id = $1 AND id = ANY($2::bigint[])
  RETURNING id, sender_id, client_id
),
counts AS (SELECT sender_id, count(*)::bigint AS n FROM acked GROUP BY sender_id),
alloc AS (
  SELECT c.sender_id AS user_id, stream_take_seq(p_user => c.sender_id, p_count => c.n) AS top
    FROM (SELECT sender_id, n FROM counts ORDER BY sender_id) c
),
numbered AS (
  SELECT a.id, a.sender_id, a.client_id, c.n,
         row_number() OVER (PARTITION BY a.sender_id ORDER BY a.id) AS rn
    FROM acked a JOIN counts c USING (sender_id)
)
INSERT INTO stream_events (user_id, seq, kind, subject_id, message_id, client_id, created_at)
SELECT nb.sender_id, al.top - nb.n + nb.rn, 'delivered', $1, nb.id, nb.client_id, $3
  FROM numbered nb JOIN alloc al ON al.user_id = nb.sender_id
RETURNING user_id, seq`;

// Acknowledging without a receipt (spec/openapi.yaml POST /ack no_receipt_ids): a message
// request, so a stranger learns nothing of when (or whether) the user got it.
const ACK_SILENT = `
UPDATE messages SET message_encrypted = NULL, receiver_id = NULL, acked_at = $3
 WHERE receiver_id = $1 AND id = ANY($2::bigint[])`;

/** Acknowledges `ids` received by `userId` with no delivery receipt; returns how many. */
export async function ackMessagesSilently(
  db: Queryable,
  userId: string,
  ids: number[],
  now: Date,
): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await db.query(ACK_SILENT, [userId, ids, now]);
  return r.rowCount ?? 0;
}

/** Acknowledges `ids` received by `userId` (others' ids are ignored); returns the senders' new stream seqs. */
export async function ackMessages(
  db: Queryable,
  userId: string,
  ids: number[],
  now: Date,
): Promise<{ userId: string; seq: number }[]> {
  if (ids.length === 0) return [];
  const r = await db.query<{ user_id: string; seq: string }>(ACK, [userId, ids, now]);
  return r.rows.map((x) => ({ userId: x.user_id, seq: Number(x.seq) }));
}
