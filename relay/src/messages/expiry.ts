// Messages at retention (spec/openapi.yaml GET /ws, the `expired` item; migration 0081): every
// copy older than the cutoff goes — tombstones of acknowledged copies, copies dropped for a
// block, and copies no device ever acknowledged. For the last, the device they were sealed for
// gets one `expired` item per sender in its own stream, in the SAME transaction as the delete: a
// copy is never deleted unread without its device being told, even if the process dies.
// What the item reveals is what that device would have learnt from the copies themselves (who
// wrote, when); a sibling device and the sender learn nothing (a sender told "not delivered"
// could tell a block, whose copies are tombstones from the start, from an absence).
import { retryOnDeadlock } from '../db/deadlock.js';
import { type Pool, withTransaction } from '../db/pool.js';
import { lockStreamCounters } from './stream.js';

// The batch, without locks: its ids, and the accounts whose unread copies are among them.
const PICK = `
SELECT coalesce(array_agg(m.id), '{}') AS ids,
       coalesce(array_agg(DISTINCT m.receiver_id) FILTER (WHERE m.acked_at IS NULL), '{}') AS receivers
  FROM (SELECT id, receiver_id, acked_at FROM messages WHERE created_at < $1 LIMIT $2) m`;

const EXPIRE = `
WITH gone AS (
  DELETE FROM messages WHERE id = ANY($1::bigint[])
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
  /** Copies picked for this batch (deleted now, or by another sweep meanwhile). */
  picked: number;
  /** Copies deleted (read or not). */
  deleted: number;
  /** The notices written: whose stream, at which seq (to announce after the commit). */
  notices: { userId: string; seq: number }[];
}

/**
 * Deletes at most `limit` copies created before `cutoff` (one transaction: the caller bounds
 * its locks and WAL); `now` dates the notices.
 */
export function expireMessages(pool: Pool, cutoff: Date, now: Date, limit: number): Promise<ExpiredBatch> {
  return retryOnDeadlock(() =>
    withTransaction(pool, async (tx) => {
      const picked = await tx.query<{ ids: string[]; receivers: string[] }>(PICK, [cutoff, limit]);
      const { ids, receivers } = picked.rows[0] as { ids: string[]; receivers: string[] };
      if (ids.length === 0) return { picked: 0, deleted: 0, notices: [] };
      // Those accounts' stream counters BEFORE any copy is locked: the order of
      // delete_device_mailbox (an unlink, a start over: the account's counter, then its copies;
      // migration 0071). Locking the copies first (a DELETE, then the counters for the notices)
      // deadlocked with an unlink of the very device whose copies were expiring. A group-committed
      // batch takes counters in username order (migration 0079): a cycle with one is broken by
      // deadlock detection and run again on either side. A copy unread when deleted was unread
      // when picked (copies are only ever acknowledged), so its account is among these.
      await lockStreamCounters(tx, receivers);
      const r = await tx.query<{ deleted: number; notices: [string, string | number][] }>(EXPIRE, [ids, now]);
      const row = r.rows[0] as { deleted: number; notices: [string, string | number][] };
      return {
        picked: ids.length,
        deleted: row.deleted,
        notices: row.notices.map(([userId, seq]) => ({ userId, seq: Number(seq) })),
      };
    }),
  );
}
