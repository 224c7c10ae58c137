// Blocks (spec/openapi.yaml /blocks): the relay accepts and drops every message and photo a
// blocked user sends the blocker, answering exactly as for an accepted send, so the sender
// cannot tell (as Signal does). Blocking also removes the user from the blocker's contacts, so
// it no longer hears of the blocker's key changes.
import { Router } from 'express';
import { z } from 'zod';
import { authOf, requireAuth } from '../auth/require-auth.js';
import type { AppDeps } from '../deps.js';
import { jsonBody } from '../http/body.js';
import { badRequest, HttpError, notFound } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { findActiveUser, lookupName } from '../users/accounts.js';
import { changeLists, listChangeLimit } from './change-lists.js';

/** Most users one account may block: bounds the table and the list. */
export const MAX_BLOCKS = 1000;

const BlockSchema = z.strictObject({ username: z.string().min(1).max(64) });

export function blockRoutes(deps: AppDeps): Router {
  const router = Router();
  const auth = requireAuth(deps);
  const limited = listChangeLimit(deps);

  router.post('/blocks', auth, jsonBody('1kb'), limited, async (req, res) => {
    const { userId } = authOf(req);
    const target = await findActiveUser(deps.pool, parse(BlockSchema, req.body).username);
    if (!target) throw notFound('no such user');
    const { id: blockedId, username: name } = target;
    if (blockedId === userId) throw badRequest('you cannot block yourself');
    const r = await changeLists(
      deps,
      req,
      (tx) =>
        tx.query<{ created_at: Date; inserted: boolean }>(
          `WITH ins AS (
         INSERT INTO blocks (user_id, blocked_id, created_at)
         SELECT $1, $2, $3 WHERE (SELECT count(*) FROM blocks WHERE user_id = $1) < $4
         ON CONFLICT (user_id, blocked_id) DO NOTHING
         RETURNING created_at
       ), unlisted AS (
         DELETE FROM contacts WHERE user_id = $1 AND contact_id = $2 AND EXISTS (SELECT 1 FROM ins)
       )
       SELECT created_at, true AS inserted FROM ins
       UNION ALL
       SELECT created_at, false FROM blocks WHERE user_id = $1 AND blocked_id = $2`,
          [userId, blockedId, new Date(deps.clock.now()), MAX_BLOCKS],
        ),
      (r) => r.rows.some((x) => x.inserted),
    );
    const row = r.rows[0];
    if (!row) throw new HttpError(409, 'block_limit', `at most ${MAX_BLOCKS} blocked users`);
    res.status(row.inserted ? 201 : 200).json({ username: name, blocked_at: row.created_at.toISOString() });
  });

  router.get('/blocks', auth, async (req, res) => {
    const r = await deps.pool.query<{ username: string; created_at: Date }>(
      `SELECT u.username, b.created_at FROM blocks b JOIN users u ON u.id = b.blocked_id
        WHERE b.user_id = $1 ORDER BY u.username`,
      [authOf(req).userId],
    );
    res.json({
      blocks: r.rows.map((x) => ({ username: x.username, blocked_at: x.created_at.toISOString() })),
    });
  });

  router.delete('/blocks/:username', auth, limited, async (req, res) => {
    const name = lookupName(req.params.username);
    const r = name
      ? await changeLists(
          deps,
          req,
          (tx) =>
            tx.query(
              `DELETE FROM blocks b USING users u WHERE b.user_id = $1 AND b.blocked_id = u.id AND u.username = $2`,
              [authOf(req).userId, name],
            ),
          (r) => (r.rowCount ?? 0) > 0,
        )
      : undefined;
    if (!r?.rowCount) throw notFound('not blocked');
    res.status(204).end();
  });

  return router;
}
