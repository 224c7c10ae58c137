// A user's stream (migration 0020): messages addressed to them, key-change notices and
// delivery receipts, numbered by one per-user sequence. The WebSocket pushes it in seq order
// and a reconnecting client resumes from the last seq it saw (its cursor), so nothing sent
// while it was away is lost. GET /get_messages reads the message part with the same cursor.
// With linked devices (migration 0071) a device sees the account's stream without the other
// devices' mailboxes: its own message copies, and every other item (key_change, delivered,
// identity_replaced, devices_changed, contacts_changed), which is per account, and the expired
// notices of its own mailbox (migration 0081). Its cursor simply skips the seqs of its sibling
// devices' copies and notices.
import type { Queryable } from '../db/pool.js';

/**
 * The largest cursor a client may pass back, over the socket and over HTTP alike: seqs are
 * bigints, but a client holds them as JavaScript numbers (spec/ws-frames.schema.json Seq).
 */
export const MAX_CURSOR = Number.MAX_SAFE_INTEGER;

export interface MessageItem {
  type: 'message';
  seq: number;
  id: number;
  from: string;
  /** The sending device; a sync copy (from a sibling device) has `from` = the own username. */
  from_device: number;
  body: string;
  created_at: string;
}
export interface KeyChangeItem {
  type: 'key_change';
  seq: number;
  username: string;
  created_at: string;
}
export interface DeliveredItem {
  type: 'delivered';
  seq: number;
  message_id: number;
  client_id: string;
  to: string;
  created_at: string;
}
/** The caller's account had its identity key replaced by another of its sessions. */
export interface IdentityReplacedItem {
  type: 'identity_replaced';
  seq: number;
  created_at: string;
}
/** The caller's account gained or lost a device (spec/protocol.md §16): re-read GET /devices. */
export interface DevicesChangedItem {
  type: 'devices_changed';
  seq: number;
  created_at: string;
}
/**
 * The caller's account changed its contact or block list on another device (migration 0080):
 * re-read GET /contacts and GET /blocks.
 */
export interface ContactsChangedItem {
  type: 'contacts_changed';
  seq: number;
  created_at: string;
}
/**
 * Retention deleted `count` copies from `from` that this device never acknowledged, sent between
 * `first_sent_at` and `last_sent_at` (migration 0081): only in that device's stream.
 */
export interface ExpiredItem {
  type: 'expired';
  seq: number;
  from: string;
  count: number;
  first_sent_at: string;
  last_sent_at: string;
  created_at: string;
}
export type StreamItem =
  | ExpiredItem
  | MessageItem
  | KeyChangeItem
  | DeliveredItem
  | IdentityReplacedItem
  | DevicesChangedItem
  | ContactsChangedItem;

/** The items an account's change puts in its own stream for its other devices. */
export type AccountItemKind = 'devices_changed' | 'contacts_changed';

const READ = `
SELECT * FROM (
  SELECT m.seq, 'message' AS kind, m.id, u.username AS peer, m.message_encrypted AS body,
         NULL::text AS client_id, m.created_at, m.sender_device_id,
         NULL::int AS expired_count, NULL::timestamptz AS first_sent_at, NULL::timestamptz AS last_sent_at
    FROM messages m JOIN users u ON u.id = m.sender_id
   WHERE m.receiver_id = $1 AND m.receiver_device_id = $5 AND m.seq > $2
  UNION ALL
  SELECT e.seq, e.kind, e.message_id, u.username, NULL, e.client_id, e.created_at, NULL,
         e.expired_count, e.first_sent_at, e.last_sent_at
    FROM stream_events e JOIN users u ON u.id = e.subject_id
   WHERE e.user_id = $1 AND e.seq > $2 AND (e.device_id IS NULL OR e.device_id = $5)
     AND ($4::uuid IS NULL OR e.origin_session_id IS NULL OR e.origin_session_id <> $4::uuid)
) s ORDER BY seq LIMIT $3`;

interface Row {
  seq: string;
  kind: 'message' | 'key_change' | 'delivered' | 'identity_replaced' | 'expired' | AccountItemKind;
  id: string | null;
  peer: string;
  body: Buffer | null;
  client_id: string | null;
  created_at: Date;
  sender_device_id: number | null;
  expired_count: number | null;
  first_sent_at: Date | null;
  last_sent_at: Date | null;
}

/**
 * Stream items of `userId` after `cursor`, oldest first, at most `limit`, as device `deviceId`
 * on session `sessionId` sees them: its own mailbox's copies, and the account's other items
 * without the events that session caused itself (identity_replaced, devices_changed,
 * contacts_changed).
 */
export async function readStream(
  db: Queryable,
  userId: string,
  deviceId: number,
  cursor: number,
  limit: number,
  sessionId: string | null = null,
): Promise<StreamItem[]> {
  const r = await db.query<Row>(READ, [userId, cursor, limit, sessionId, deviceId]);
  return r.rows.map(toItem);
}

function toItem(row: Row): StreamItem {
  const seq = Number(row.seq);
  const created_at = row.created_at.toISOString();
  switch (row.kind) {
    case 'message':
      return {
        type: 'message',
        seq,
        id: Number(row.id),
        from: row.peer,
        from_device: row.sender_device_id ?? 0,
        body: (row.body as Buffer).toString('base64'),
        created_at,
      };
    case 'key_change':
      return { type: 'key_change', seq, username: row.peer, created_at };
    case 'identity_replaced':
      return { type: 'identity_replaced', seq, created_at };
    case 'devices_changed':
    case 'contacts_changed':
      return { type: row.kind, seq, created_at };
    case 'expired':
      return {
        type: 'expired',
        seq,
        from: row.peer,
        count: row.expired_count ?? 0,
        first_sent_at: (row.first_sent_at as Date).toISOString(),
        last_sent_at: (row.last_sent_at as Date).toISOString(),
        created_at,
      };
    case 'delivered':
      return {
        type: 'delivered',
        seq,
        message_id: Number(row.id),
        client_id: row.client_id ?? '',
        to: row.peer,
        created_at,
      };
  }
}

/**
 * An item of `kind` in the owner's own stream: every device of the account sees it but the
 * session that caused it (readStream). Returns what to publish after the commit.
 */
export async function appendAccountItem(
  db: Queryable,
  kind: AccountItemKind,
  userId: string,
  originSessionId: string,
  now: Date,
): Promise<{ userId: string; seq: number }> {
  const r = await db.query<{ user_id: string; seq: string }>(
    `INSERT INTO stream_events (user_id, seq, kind, subject_id, origin_session_id, created_at)
     VALUES ($1, stream_take_seq(p_user => $1), $2, $1, $3, $4)
     RETURNING user_id, seq`,
    [userId, kind, originSessionId, now],
  );
  const row = r.rows[0] as { user_id: string; seq: string };
  return { userId: row.user_id, seq: Number(row.seq) };
}

/**
 * Locks the stream counters of `userIds` (their user_streams rows) in user id order, as a single
 * send takes them (migration 0071, send_message_copies step 5). A transaction that will take
 * several accounts' counters in some other order (the retention sweep's notices, a start over's
 * key_change items after its own devices' mailboxes) takes them all here first, so that it never
 * waits on one while holding another out of order.
 */
export async function lockStreamCounters(db: Queryable, userIds: readonly string[]): Promise<void> {
  if (userIds.length === 0) return;
  await db.query('SELECT 1 FROM user_streams WHERE user_id = ANY($1::uuid[]) ORDER BY user_id FOR UPDATE', [
    userIds,
  ]);
}

/**
 * The cursor to read from: `cursor`, unless it lies beyond the user's current head (the relay's
 * database was restored or replaced under a client that kept its old cursor); then 0, so the
 * client gets everything still stored again (it deduplicates by id) instead of nothing until
 * the new sequence catches up with its stale cursor.
 */
export async function effectiveCursor(db: Queryable, userId: string, cursor: number): Promise<number> {
  if (cursor === 0) return 0;
  const r = await db.query<{ seq: string }>('SELECT seq FROM user_streams WHERE user_id = $1', [userId]);
  const head = Number(r.rows[0]?.seq ?? 0);
  return cursor > head ? 0 : cursor;
}
