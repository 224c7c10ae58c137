// SQL for messages (migrations 0023, 0071, 0074 to 0077). Every statement is a single autocommitted statement,
// so the relay spends one commit per accepted send (all its copies), the same as a bare INSERT.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/pool.js';
import { type BucketSpec, retryAfter } from '../limits/token-bucket.js';

/** One copy of a send: for a device of the recipient, or (own) a sync copy for another device of the sender. */
export interface Copy {
  deviceId: number;
  own: boolean;
  body: Buffer;
}

/** A copy as stored: its message id; seq and receiverId are null for a blocked recipient's tombstone. */
export interface StoredCopy {
  deviceId: number;
  own: boolean;
  id: number;
  seq: number | null;
  receiverId: string | null;
}

export type SendOutcome =
  | { kind: 'stored'; copies: StoredCopy[]; createdAt: Date; sender: string; senderDevice: number }
  | { kind: 'duplicate'; copies: StoredCopy[]; createdAt: Date }
  | { kind: 'conflict' }
  | { kind: 'stale_devices'; recipient: number[]; own: number[] }
  | { kind: 'rate_limited'; retryAfterSeconds: number }
  | { kind: 'mailbox_full' }
  | { kind: 'no_recipient' }
  | { kind: 'own_account' }
  | { kind: 'device_required' }
  | { kind: 'session_revoked' };

// One statement: send_message_copies (migration 0071) checks the sender's session ($2) and its
// device, takes ONE token from its bucket, resolves the recipient, checks the copies against
// both accounts' current device lists, takes the streams' next seqs and inserts every copy or
// none: the one definition of storing a send, used for a single send and, through
// send_message_batch, for a group-committed batch (src/messages/group-commit.ts; migration 0075
// stores a batch whose every send is stored with one statement per step for the whole batch,
// property-tested against this function send by send; 0077 takes its tokens and stream numbers
// with one statement each). Same snapshot rule as a separate session check: a logout committed
// before this statement began is seen. Named, so each pool connection parses it once; the
// functions' own statements are planned once per connection too (migration 0076).
const INSERT_NAME = 'send_message_copies';
const INSERT = `
SELECT refusal, device_id, own, id, seq, receiver_id, created_at, sender, sender_device,
       recipient_devices, own_devices
  FROM send_message_copies(p_sender => $1, p_session => $2, p_to => $3, p_client => $4,
                           p_device => $5::int[], p_own => $6::bool[], p_body => $7::bytea[],
                           p_now => $8, p_bucket => $9, p_burst => $10, p_rate => $11, p_cap => $12)`;

const INSERT_BATCH_NAME = 'send_message_batch';
const INSERT_BATCH = `
SELECT ord, refusal, device_id, own, id, seq, receiver_id, created_at, sender, sender_device,
       recipient_devices, own_devices
  FROM send_message_batch(p_sender => $1::uuid[], p_session => $2::uuid[], p_to => $3::text[],
                          p_client => $4::text[], p_first => $5::int[], p_count => $6::int[],
                          p_device => $7::int[], p_own => $8::bool[], p_body => $9::bytea[],
                          p_now => $10::timestamptz[], p_bucket => $11::text[], p_burst => $12::float8[],
                          p_rate => $13::float8[], p_cap => $14::bigint[])`;

/** send_message_copies's answer: one row per stored copy, or one row with the refusal. */
interface SendRow {
  refusal: string | null;
  device_id: number | null;
  own: boolean | null;
  id: string | null;
  seq: string | null;
  receiver_id: string | null;
  created_at: Date | null;
  sender: string | null;
  sender_device: number | null;
  recipient_devices: number[] | null;
  own_devices: number[] | null;
}

/** What the send statement did with one send: stored it, or stored nothing, and why. */
export type SendAttempt =
  | Extract<SendOutcome, { kind: 'stored' }>
  | { kind: 'not_stored'; refusal: string; recipient: number[] | null; own: number[] | null };

function attempt(rows: SendRow[]): SendAttempt {
  const first = rows[0];
  if (!first) throw new Error('the send statement returned no row');
  if (first.refusal !== null)
    return {
      kind: 'not_stored',
      refusal: first.refusal,
      recipient: first.recipient_devices,
      own: first.own_devices,
    };
  return {
    kind: 'stored',
    copies: rows.map((r) => ({
      deviceId: r.device_id as number,
      own: r.own as boolean,
      id: Number(r.id),
      seq: r.seq === null ? null : Number(r.seq),
      receiverId: r.receiver_id,
    })),
    createdAt: first.created_at as Date,
    sender: first.sender as string,
    senderDevice: first.sender_device as number,
  };
}

// A send with a client_id seen before: its stored copies, to tell the same send again (a
// duplicate) from another one (client_id_reused). `same_receiver`: an unacknowledged copy is
// still in the mailbox the request names (the recipient's, or the sender's own for a sync copy).
// A tombstone (acknowledged, or dropped for a block) is compared by its digest (migration 0082):
// `receiver` is the account the request names for the copy.
const EXISTING = `
SELECT m.id, m.own, m.receiver_device_id, m.first_copy, m.created_at, m.acked_at, m.message_encrypted,
       m.body_digest, (CASE WHEN m.own THEN m.sender_id ELSE r.id END)::text AS receiver,
       (m.receiver_id IS NOT DISTINCT FROM CASE WHEN m.own THEN m.sender_id ELSE r.id END) AS same_receiver
  FROM messages m LEFT JOIN users r ON r.username = $2
 WHERE m.sender_id = $1 AND m.client_id = $3`;

/** A copy's digest as a tombstone keeps it (migration 0082): SHA-256 of receiver id (text) ‖ body. */
export const copyDigest = (receiverId: string, body: Buffer): Buffer =>
  createHash('sha256').update(receiverId, 'utf8').update(body).digest();

/** One send, as insertMessage takes it. */
export interface SendInput {
  senderId: string;
  /** The sender's session (the access token's sid): checked live, and its device, in the statement itself. */
  sessionId: string;
  to: string;
  clientId: string;
  /** Recipient copies and sync copies, any order (each (own, deviceId) once). */
  copies: Copy[];
  now: Date;
  bucket: BucketSpec;
  /** Most unacknowledged copies a device's mailbox may hold (MAX_PENDING_MESSAGES). */
  mailboxCap: number;
}

/** Stores a send's copies all at once, once per (sender, client_id), if the sender's `bucket` has a token. */
export async function insertMessage(db: Queryable, m: SendInput): Promise<SendOutcome> {
  const r = await db.query<SendRow>({
    name: INSERT_NAME,
    text: INSERT,
    values: [
      m.senderId,
      m.sessionId,
      m.to,
      m.clientId,
      m.copies.map((c) => c.deviceId),
      m.copies.map((c) => c.own),
      m.copies.map((c) => c.body),
      m.now,
      m.bucket.name,
      m.bucket.burst,
      m.bucket.perSecond,
      m.mailboxCap,
    ],
  });
  const a = attempt(r.rows);
  return a.kind === 'stored' ? a : whyNotStored(db, m, a);
}

/**
 * Runs the sends `ms` in this order with ONE autocommitted statement (one round trip, one
 * commit), each exactly as insertMessage's statement would one after another in one
 * transaction. Returns one attempt per send, in the order of `ms`; a send that stored nothing
 * gets its answer from whyNotStored. Throws, having stored nothing, if the statement fails.
 */
export async function insertMessages(db: Queryable, ms: readonly SendInput[]): Promise<SendAttempt[]> {
  const first: number[] = [];
  const count: number[] = [];
  const copies: Copy[] = [];
  for (const m of ms) {
    first.push(copies.length + 1);
    count.push(m.copies.length);
    copies.push(...m.copies);
  }
  const r = await db.query<SendRow & { ord: number }>({
    name: INSERT_BATCH_NAME,
    text: INSERT_BATCH,
    values: [
      ms.map((m) => m.senderId),
      ms.map((m) => m.sessionId),
      ms.map((m) => m.to),
      ms.map((m) => m.clientId),
      first,
      count,
      copies.map((c) => c.deviceId),
      copies.map((c) => c.own),
      copies.map((c) => c.body),
      ms.map((m) => m.now),
      ms.map((m) => m.bucket.name),
      ms.map((m) => m.bucket.burst),
      ms.map((m) => m.bucket.perSecond),
      ms.map((m) => m.mailboxCap),
    ],
  });
  const rows: SendRow[][] = Array.from({ length: ms.length }, () => []);
  for (const row of r.rows) rows[row.ord - 1]?.push(row);
  return rows.map(attempt);
}

/**
 * Why the send statement stored nothing for `m`: the refusal it reported, with the wait of a
 * spent bucket read now, and for a known client_id whether the stored copies are this send's
 * (a duplicate) or another's (a conflict).
 */
export async function whyNotStored(
  db: Queryable,
  m: SendInput,
  seen: Extract<SendAttempt, { kind: 'not_stored' }>,
): Promise<SendOutcome> {
  switch (seen.refusal) {
    case 'session_revoked':
    case 'device_required':
    case 'mailbox_full':
    case 'no_recipient':
    case 'own_account':
      return { kind: seen.refusal };
    case 'stale_devices':
      return { kind: 'stale_devices', recipient: seen.recipient ?? [], own: seen.own ?? [] };
    case 'rate_limited':
      // The wait is read now; a later send may have moved the bucket, but this send had no token.
      return {
        kind: 'rate_limited',
        retryAfterSeconds: Math.max(1, await retryAfter(db, m.senderId, m.bucket, m.now)),
      };
    case 'known':
      return known(db, m);
  }
  throw new Error(`unknown refusal from the send statement: ${seen.refusal}`);
}

/** The client_id was used: the same copies again (acknowledged ones count as the same) or another send. */
async function known(db: Queryable, m: SendInput): Promise<SendOutcome> {
  const e = await db.query<{
    id: string;
    own: boolean;
    receiver_device_id: number;
    first_copy: boolean;
    created_at: Date;
    acked_at: Date | null;
    message_encrypted: Buffer | null;
    body_digest: Buffer | null;
    receiver: string | null;
    same_receiver: boolean;
  }>(EXISTING, [m.senderId, m.to, m.clientId]);
  // Swept by retention between the statement and this look-up: the send is new again.
  if (e.rows.length === 0) return insertMessage(db, m);
  const stored = new Map(e.rows.map((r) => [`${r.own}:${r.receiver_device_id}`, r]));
  const same =
    stored.size === m.copies.length &&
    m.copies.every((c) => {
      const r = stored.get(`${c.own}:${c.deviceId}`);
      if (r === undefined) return false;
      if (r.message_encrypted) return r.same_receiver && r.message_encrypted.equals(c.body);
      // A tombstone (acknowledged, or dropped for a block) is the same copy only if its digest
      // is this copy's: answering it by anything less would tell the sender what became of it.
      // One from before migration 0082 has none: the same copy, as it was then answered.
      if (r.body_digest)
        return r.receiver !== null && timingSafeEqual(r.body_digest, copyDigest(r.receiver, c.body));
      return r.acked_at !== null;
    });
  if (!same) return { kind: 'conflict' };
  const lead = e.rows.find((r) => r.first_copy) ?? (e.rows[0] as (typeof e.rows)[number]);
  return {
    kind: 'duplicate',
    createdAt: lead.created_at,
    copies: e.rows
      .map((r) => ({
        deviceId: r.receiver_device_id,
        own: r.own,
        id: Number(r.id),
        seq: null,
        receiverId: null,
      }))
      .sort((a, b) => Number(a.own) - Number(b.own) || a.deviceId - b.deviceId),
  };
}

/**
 * An unacknowledged copy in a device's mailbox as GET /get_messages lists it (the `Envelope`
 * schema of spec/openapi.yaml): the opaque ciphertext in base64 with its place and its sending
 * device. A sync copy has `from` = the caller's own username.
 */
export interface PendingMessage {
  id: number;
  seq: number;
  from: string;
  from_device: number;
  body: string;
  created_at: string;
}

const LIST = `
SELECT m.id, m.seq, u.username AS sender, m.sender_device_id, m.message_encrypted, m.created_at
  FROM messages m JOIN users u ON u.id = m.sender_id
 WHERE m.receiver_id = $1 AND m.receiver_device_id = $4 AND m.seq > $2
 ORDER BY m.seq LIMIT $3`;

/** Unacknowledged copies for device `deviceId` of `userId` after `cursor` (a seq), oldest first. */
export async function listMessages(
  db: Queryable,
  userId: string,
  deviceId: number,
  cursor: number,
  limit: number,
): Promise<PendingMessage[]> {
  const r = await db.query<{
    id: string;
    seq: string;
    sender: string;
    sender_device_id: number;
    message_encrypted: Buffer;
    created_at: Date;
  }>(LIST, [userId, cursor, limit, deviceId]);
  return r.rows.map((x) => ({
    id: Number(x.id),
    seq: Number(x.seq),
    from: x.sender,
    from_device: x.sender_device_id,
    body: x.message_encrypted.toString('base64'),
    created_at: x.created_at.toISOString(),
  }));
}

// Acknowledging, by one device and only in its own mailbox: the ciphertext and receiver are
// deleted (a tombstone stays, see migration 0023) and the sender gets a 'delivered' item in its
// own stream for each RECIPIENT copy (a sync copy is the sender's own: no receipt to itself).
// Seqs are taken per sender in blocks (one stream_take_seq call per sender, senders taken in id
// order so two concurrent acks cannot deadlock: the ordered subquery is not flattened, so the
// calls follow its order).
const ACK = `
WITH acked AS (
  UPDATE messages SET message_encrypted = NULL, receiver_id = NULL, acked_at = $3
   WHERE receiver_id = $1 AND receiver_device_id = $4 AND id = ANY($2::bigint[])
  RETURNING id, sender_id, client_id, own
),
receipts AS (SELECT id, sender_id, client_id FROM acked WHERE NOT own),
counts AS (SELECT sender_id, count(*)::bigint AS n FROM receipts GROUP BY sender_id),
alloc AS (
  SELECT c.sender_id AS user_id, stream_take_seq(p_user => c.sender_id, p_count => c.n) AS top
    FROM (SELECT sender_id, n FROM counts ORDER BY sender_id) c
),
numbered AS (
  SELECT a.id, a.sender_id, a.client_id, c.n,
         row_number() OVER (PARTITION BY a.sender_id ORDER BY a.id) AS rn
    FROM receipts a JOIN counts c USING (sender_id)
),
events AS (
  INSERT INTO stream_events (user_id, seq, kind, subject_id, message_id, client_id, created_at)
  SELECT nb.sender_id, al.top - nb.n + nb.rn, 'delivered', $1, nb.id, nb.client_id, $3
    FROM numbered nb JOIN alloc al ON al.user_id = nb.sender_id
  RETURNING user_id, seq
)
SELECT (SELECT count(*) FROM acked)::int AS acked, user_id, seq FROM events
UNION ALL
SELECT (SELECT count(*) FROM acked)::int, NULL, NULL WHERE NOT EXISTS (SELECT 1 FROM events)`;

// Acknowledging without a receipt (spec/openapi.yaml POST /ack no_receipt_ids): a message
// request, so a stranger learns nothing of when (or whether) the user got it; and sync copies.
const ACK_SILENT = `
UPDATE messages SET message_encrypted = NULL, receiver_id = NULL, acked_at = $3
 WHERE receiver_id = $1 AND receiver_device_id = $4 AND id = ANY($2::bigint[])`;

/** Acknowledges `ids` in the mailbox of device `deviceId` of `userId` with no receipt; returns how many. */
export async function ackMessagesSilently(
  db: Queryable,
  userId: string,
  deviceId: number,
  ids: number[],
  now: Date,
): Promise<number> {
  if (ids.length === 0) return 0;
  const r = await db.query(ACK_SILENT, [userId, ids, now, deviceId]);
  return r.rowCount ?? 0;
}

/**
 * Acknowledges `ids` in the mailbox of device `deviceId` of `userId` (other ids, another
 * device's included, are ignored); returns how many and the senders' new stream seqs.
 */
export async function ackMessages(
  db: Queryable,
  userId: string,
  deviceId: number,
  ids: number[],
  now: Date,
): Promise<{ acked: number; receipts: { userId: string; seq: number }[] }> {
  if (ids.length === 0) return { acked: 0, receipts: [] };
  const r = await db.query<{ acked: number; user_id: string | null; seq: string | null }>(ACK, [
    userId,
    ids,
    now,
    deviceId,
  ]);
  return {
    acked: r.rows[0]?.acked ?? 0,
    receipts: r.rows
      .filter((x) => x.user_id !== null)
      .map((x) => ({ userId: x.user_id as string, seq: Number(x.seq) })),
  };
}

/**
 * A removed device's mailbox (spec/openapi.yaml DELETE /devices/{device_id}), inside the
 * unlink's transaction, AFTER its device row is marked removed (migration 0071,
 * delete_device_mailbox; src/devices/store.ts calls the SQL function directly): its pending
 * copies become tombstones and its photo acknowledgements are dropped (a photo nobody is left to
 * acknowledge goes at the next sweep).
 */
export async function deleteDeviceMailbox(db: Queryable, userId: string, deviceId: number): Promise<number> {
  const r = await db.query<{ n: string }>('SELECT delete_device_mailbox(p_user => $1, p_device => $2) AS n', [
    userId,
    deviceId,
  ]);
  return Number(r.rows[0]?.n ?? 0);
}
