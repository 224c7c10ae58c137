// Messages at retention (spec/openapi.yaml GET /ws, the `expired` item; migration 0081): every
// copy older than the cutoff goes — tombstones of acknowledged copies, copies dropped for a
// block, and copies no device ever acknowledged. For the last, the device they were sealed for
// gets one `expired` item per sender in its own stream, in the SAME statement as the delete: a
// copy is never deleted unread without its device being told, even if the process dies.
// What the item reveals is what that device would have learnt from the copies themselves (who
// wrote, when); a sibling device and the sender learn nothing (a sender told "not delivered"
// could tell a block, whose copies are tombstones from the start, from an absence).
import { retryOnDeadlock } from '../db/deadlock.js';
import type { Queryable } from '../db/pool.js';

// Counters are taken in user id order (stream_take_seq per notice, ordered), as a send takes
// them (migration 0071, send_message_copies step 5), so the two cannot wait on each other's.
const EXPIRE = `
WITH gone AS (
  DELETE FROM messages
   WHERE id IN (SELECT id FROM messages WHERE created_at < $1 LIMIT $3)
  RETURNING receiver_id, receiver_device_id, sender_id, created_at, acked_at
), unread AS (
  SELECT receiver_id, receiver_device_id, sender_id, count(*)::int AS n,
         min(created_at) AS first_sent, max(created_at) AS last_sent
    FROM gone WHERE acked_at IS NULL
   GROUP BY receiver_id, receiver_device_id, sender_id
), notices AS (
  INSERT INTO stream_events (user_id, seq, kind, subject_id, device_id, expired_count,
                             first_sent_at, last_sent_at, created_at)
  SELECT u.receiver_id, stream_take_seq(p_user => u.receiver_id), 'expired', u.sender_id,
         u.receiver_device_id, u.n, u.first_sent, u.last_sent, $2
    FROM (SELECT * FROM unread ORDER BY receiver_id, receiver_device_id, sender_id) u
  RETURNING user_id, seq
)
SELECT (SELECT count(*) FROM gone)::int AS deleted,
       coalesce((SELECT json_agg(json_build_array(user_id, seq)) FROM notices), '[]') AS notices`;

export interface ExpiredBatch {
  /** Copies deleted (read or not). */
  deleted: number;
  /** The notices written: whose stream, at which seq (to announce after the commit). */
  notices: { userId: string; seq: number }[];
}

/**
 * Deletes at most `limit` copies created before `cutoff` (one statement: the caller bounds its
 * locks and WAL); `now` dates the notices.
 */
export async function expireMessages(
  db: Queryable,
  cutoff: Date,
  now: Date,
  limit: number,
): Promise<ExpiredBatch> {
  const r = await retryOnDeadlock(() =>
    db.query<{ deleted: number; notices: [string, string | number][] }>(EXPIRE, [cutoff, now, limit]),
  );
  const row = r.rows[0] as { deleted: number; notices: [string, string | number][] };
  return {
    deleted: row.deleted,
    notices: row.notices.map(([userId, seq]) => ({ userId, seq: Number(seq) })),
  };
}
