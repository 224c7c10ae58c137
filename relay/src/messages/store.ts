// SQL for messages (migration 0023). Every statement is a single autocommitted statement, so
// the relay spends one commit per accepted message, the same as a bare INSERT.
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

// One statement: send_message_row (migration 0061) checks the sender's session ($2), takes a
// token from its bucket, resolves the recipient (unless its mailbox is full), takes the next seq
// of its stream and inserts: the one definition of storing a message, used for a single send
// and, through send_message_rows, for a group-committed batch (src/messages/group-commit.ts).
// Same snapshot rule as a separate session check: a logout committed before this statement
// began is seen. It saves one round trip per message (require-auth.ts,
// requireTokenSessionInStatement). Named, so each pool connection parses and plans it once.
const INSERT_NAME = 'send_message';
const INSERT = `
SELECT id, seq, receiver_id, created_at, sender, session_live, token_taken
  FROM send_message_row(p_sender => $1, p_session => $2, p_to => $3, p_client => $4, p_body => $5,
                        p_now => $6, p_bucket => $7, p_burst => $8, p_rate => $9, p_cap => $10)`;

const INSERT_BATCH_NAME = 'send_messages';
const INSERT_BATCH = `
SELECT ord, id, seq, receiver_id, created_at, sender, session_live, token_taken
  FROM send_message_rows(p_sender => $1::uuid[], p_session => $2::uuid[], p_to => $3::text[],
                         p_client => $4::text[], p_body => $5::bytea[], p_now => $6::timestamptz[],
                         p_bucket => $7::text[], p_burst => $8::float8[], p_rate => $9::float8[],
                         p_cap => $10::bigint[])`;

/** send_message_row's answer for one send (migration 0061). */
interface SendRow {
  id: string | null;
  seq: string | null;
  receiver_id: string | null;
  created_at: Date | null;
  sender: string | null;
  session_live: boolean;
  token_taken: boolean;
}

/** What the send statement did with one send: stored it, or stored nothing, and what it saw. */
export type SendAttempt =
  | Extract<SendOutcome, { kind: 'stored' }>
  | { kind: 'not_stored'; sessionLive: boolean; tokenTaken: boolean };

function attempt(row: SendRow | undefined): SendAttempt {
  if (!row) throw new Error('the send statement returned no row');
  if (row.id === null)
    return { kind: 'not_stored', sessionLive: row.session_live, tokenTaken: row.token_taken };
  return {
    kind: 'stored',
    id: Number(row.id),
    seq: Number(row.seq),
    receiverId: row.receiver_id as string,
    createdAt: row.created_at as Date,
    sender: row.sender as string,
  };
}

// A send that stored nothing although it had a live session and a token: the same client_id
// sent before (the same send again, or another one).
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
  const r = await db.query<SendRow>({
    name: INSERT_NAME,
    text: INSERT,
    values: [
      m.senderId,
      m.sessionId,
      m.to,
      m.clientId,
      m.body,
      m.now,
      m.bucket.name,
      m.bucket.burst,
      m.bucket.perSecond,
      m.mailboxCap,
    ],
  });
  const a = attempt(r.rows[0]);
  return a.kind === 'stored' ? a : whyNotStored(db, m, a);
}

/**
 * Runs the sends `ms` in this order with ONE autocommitted statement (one round trip, one
 * commit), each exactly as insertMessage's statement would one after another in one
 * transaction. Returns one attempt per send, in the order of `ms`; a send that stored nothing
 * gets its answer from whyNotStored. Throws, having stored nothing, if the statement fails.
 */
export async function insertMessages(db: Queryable, ms: readonly SendInput[]): Promise<SendAttempt[]> {
  const r = await db.query<SendRow & { ord: number }>({
    name: INSERT_BATCH_NAME,
    text: INSERT_BATCH,
    values: [
      ms.map((m) => m.senderId),
      ms.map((m) => m.sessionId),
      ms.map((m) => m.to),
      ms.map((m) => m.clientId),
      ms.map((m) => m.body),
      ms.map((m) => m.now),
      ms.map((m) => m.bucket.name),
      ms.map((m) => m.bucket.burst),
      ms.map((m) => m.bucket.perSecond),
      ms.map((m) => m.mailboxCap),
    ],
  });
  const rows: (SendRow | undefined)[] = new Array(ms.length);
  for (const row of r.rows) rows[row.ord - 1] = row;
  return Array.from(rows, attempt);
}

/**
 * Why the send statement stored nothing for `m` (the rare path): a dead session or no token, as
 * the statement saw them (`seen`), else a retry, a full mailbox, no such recipient, or a block
 * (then the tombstone is stored here).
 */
export async function whyNotStored(
  db: Queryable,
  m: SendInput,
  seen: Extract<SendAttempt, { kind: 'not_stored' }>,
): Promise<SendOutcome> {
  if (!seen.sessionLive) return { kind: 'session_revoked' };
  // The wait is read now; a later send may have moved the bucket, but this send had no token.
  if (!seen.tokenTaken)
    return {
      kind: 'rate_limited',
      retryAfterSeconds: Math.max(1, await retryAfter(db, m.senderId, m.bucket, m.now)),
    };
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
