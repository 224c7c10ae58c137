// Contacts (spec/openapi.yaml tag "contacts"): the table
// contacts(user_id, contact_id). Adding is one-directional and needs no consent: it shapes the
// caller's own list and makes the caller hear when that user's identity key changes.
import { Router } from 'express';
import { z } from 'zod';
import { authOf, requireAuth } from '../auth/require-auth.js';
import type { AppDeps } from '../deps.js';
import { jsonBody } from '../http/body.js';
import { badRequest, HttpError, notFound } from '../http/http-error.js';
import { parse } from '../http/validate.js';
import { findActiveUser, lookupName } from '../users/accounts.js';
import { changeLists, listChangeLimit } from './change-lists.js';

/** Most contacts per user: a personal address book, and a bound on key-change fan-out. */
export const MAX_CONTACTS = 1000;

const AddSchema = z.strictObject({ username: z.string().min(1).max(64) });

export function contactRoutes(deps: AppDeps): Router {
  const router = Router();
  const auth = requireAuth(deps);
  const limited = listChangeLimit(deps);

  router.post('/contacts', auth, jsonBody('1kb'), limited, async (req, res) => {
    const { userId } = authOf(req);
    const target = await findActiveUser(deps.pool, parse(AddSchema, req.body).username);
    if (!target) throw notFound('no such user');
    const { id: contactId, username: name } = target;
    if (contactId === userId) throw badRequest('you cannot add yourself');
    // Count, check and insert in one statement, with the account's list changes one at a time
    // (src/contacts/change-lists.ts), so the cap and the block are exact. A user the caller has
    // blocked is not added back (spec/openapi.yaml POST /contacts): blocking removed them, and as
    // a contact again everything they send would still be dropped; unblocking comes first.
    const r = await changeLists(
      deps,
      req,
      (tx) =>
        tx.query<{ created_at: Date | null; inserted: boolean; blocked: boolean }>(
          `WITH blocked AS (
         SELECT EXISTS (SELECT 1 FROM blocks WHERE user_id = $1 AND blocked_id = $2) AS b
       ),
       ins AS (
         INSERT INTO contacts (user_id, contact_id, created_at)
         SELECT $1, $2, $3
          WHERE NOT (SELECT b FROM blocked) AND (SELECT count(*) FROM contacts WHERE user_id = $1) < $4
         ON CONFLICT (user_id, contact_id) DO NOTHING
         RETURNING created_at
       )
       SELECT NULL::timestamptz AS created_at, false AS inserted, true AS blocked FROM blocked WHERE b
       UNION ALL
       SELECT created_at, true, false FROM ins
       UNION ALL
       SELECT created_at, false, false FROM contacts WHERE user_id = $1 AND contact_id = $2`,
          [userId, contactId, new Date(deps.clock.now()), MAX_CONTACTS],
        ),
      (r) => r.rows.some((x) => x.inserted),
    );
    // Whatever order the branches' rows come in, a block wins.
    if (r.rows.some((x) => x.blocked))
      throw new HttpError(
        409,
        'contact_blocked',
        'you blocked this user; unblock them first (DELETE /blocks)',
      );
    const row = r.rows[0];
    if (!row?.created_at) throw new HttpError(409, 'contact_limit', `at most ${MAX_CONTACTS} contacts`);
    res.status(row.inserted ? 201 : 200).json({ username: name, added_at: row.created_at.toISOString() });
  });

  router.get('/contacts', auth, async (req, res) => {
    const r = await deps.pool.query<{ username: string; created_at: Date }>(
      `SELECT u.username, c.created_at FROM contacts c JOIN users u ON u.id = c.contact_id
        WHERE c.user_id = $1 ORDER BY u.username`,
      [authOf(req).userId],
    );
    res.json({
      contacts: r.rows.map((x) => ({ username: x.username, added_at: x.created_at.toISOString() })),
    });
  });

  router.delete('/contacts/:username', auth, limited, async (req, res) => {
    const name = lookupName(req.params.username);
    const r = name
      ? await changeLists(
          deps,
          req,
          (tx) =>
            tx.query(
              `DELETE FROM contacts c USING users u
                WHERE c.user_id = $1 AND c.contact_id = u.id AND u.username = $2`,
              [authOf(req).userId, name],
            ),
          (r) => (r.rowCount ?? 0) > 0,
        )
      : undefined;
    if (!r?.rowCount) throw notFound('not in your contacts');
    res.status(204).end();
  });

  return router;
}
