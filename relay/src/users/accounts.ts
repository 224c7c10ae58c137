// Looking a user up by a username typed by someone else: the same normalisation as
// registration (src/auth/username.ts), so a name finds exactly the account it names; text that
// cannot be a username is simply not found (404), never a 500.
import { normalizeUsername } from '../auth/username.js';
import type { Queryable } from '../db/pool.js';

/** The stored form of `raw`, or null when no user can have that name. */
export function lookupName(raw: unknown): string | null {
  return typeof raw === 'string' ? normalizeUsername(raw) : null;
}

/**
 * The active account a typed username names, or null (unknown, pending or unparsable alike):
 * what adding a contact and blocking both start from.
 */
export async function findActiveUser(
  db: Queryable,
  raw: unknown,
): Promise<{ id: string; username: string } | null> {
  const name = lookupName(raw);
  if (!name) return null;
  const r = await db.query<{ id: string }>(`SELECT id FROM users WHERE username = $1 AND status = 'active'`, [
    name,
  ]);
  const id = r.rows[0]?.id;
  return id ? { id, username: name } : null;
}
