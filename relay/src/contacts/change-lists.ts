// A change of an account's contact list or block list, and the contacts_changed item that tells
// the account's other devices (spec/openapi.yaml GET /ws): in one transaction, so the item is
// there exactly when the change is, and published after the commit. A request that changes
// nothing (adding a contact twice, removing one that is not there) adds no item.
//
// An account's list changes run one at a time: the transaction first locks the account's row
// (FOR NO KEY UPDATE: it does not wait on, nor hold up, the key-share locks that storing a message
// takes on it). Under READ COMMITTED a statement's snapshot is taken when it starts, so without
// the lock an add on one device and a block on another, at the same moment, each missed the
// other's row: the blocked user stayed a contact (everything they send dropped, their chat on
// every device), and two blocks of one user at once answered the second 409 block_limit.
import type { NextFunction, Request, Response } from 'express';
import type pg from 'pg';
import { authOf } from '../auth/require-auth.js';
import { withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { lockAccount } from '../devices/store.js';
import { takeOrRefuse } from '../limits/rate-limited.js';
import { appendAccountItem } from '../messages/stream.js';

/**
 * Middleware for the four list-change routes, after authentication and body parsing and BEFORE
 * the username is looked up: every request that may change a list costs a token, whether or not
 * it does (a loop of them costs the relay a transaction and the account's other devices two
 * reads each), an unknown name included — looked up first, an unknown name was a free 404, and
 * with the bucket empty a known name's 429 told it from an unknown one's 404: a name probe
 * beyond every rate limit.
 */
export function listChangeLimit(deps: AppDeps) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    await takeOrRefuse(
      deps,
      authOf(req).userId,
      deps.config.messaging.listChange,
      'too many contact or block list changes',
    );
    next();
  };
}

/** The change itself; the route took its token first (listChangeLimit). */
export async function changeLists<R>(
  deps: AppDeps,
  req: Request,
  change: (tx: pg.PoolClient) => Promise<R>,
  changed: (result: R) => boolean,
): Promise<R> {
  const { userId, sessionId } = authOf(req);
  const { result, item } = await withTransaction(deps.pool, async (tx) => {
    await lockAccount(tx, userId);
    const result = await change(tx);
    if (!changed(result)) return { result, item: null };
    // The item says only "read the lists again", so the newest one of a session stands for all
    // of its earlier ones: those go, and the stream holds at most one per session however many
    // changes are made. Per session, not per account: a device skips the items of its own
    // session, so a newer item of its own must not remove an older one of another device.
    await tx.query(
      `DELETE FROM stream_events WHERE user_id = $1 AND kind = 'contacts_changed' AND origin_session_id = $2`,
      [userId, sessionId],
    );
    const item = await appendAccountItem(
      tx,
      'contacts_changed',
      userId,
      sessionId,
      new Date(deps.clock.now()),
    );
    return { result, item };
  });
  if (item) deps.notifier.publish({ kind: 'stream', userId: item.userId, seq: item.seq });
  return result;
}
