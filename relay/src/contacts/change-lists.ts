// A change of an account's contact list or block list, and the contacts_changed item that tells
// the account's other devices (spec/openapi.yaml GET /ws): in one transaction, so the item is
// there exactly when the change is, and published after the commit. A request that changes
// nothing (adding a contact twice, removing one that is not there) adds no item.
import type { Request } from 'express';
import type pg from 'pg';
import { authOf } from '../auth/require-auth.js';
import { withTransaction } from '../db/pool.js';
import type { AppDeps } from '../deps.js';
import { appendAccountItem } from '../messages/stream.js';

export async function changeLists<R>(
  deps: AppDeps,
  req: Request,
  change: (tx: pg.PoolClient) => Promise<R>,
  changed: (result: R) => boolean,
): Promise<R> {
  const { userId, sessionId } = authOf(req);
  const { result, item } = await withTransaction(deps.pool, async (tx) => {
    const result = await change(tx);
    const item = changed(result)
      ? await appendAccountItem(tx, 'contacts_changed', userId, sessionId, new Date(deps.clock.now()))
      : null;
    return { result, item };
  });
  if (item) deps.notifier.publish({ kind: 'stream', userId: item.userId, seq: item.seq });
  return result;
}
