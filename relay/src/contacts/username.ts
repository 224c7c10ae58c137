// Looking a user up by a username typed by someone else: the same normalisation as
// registration (src/auth/username.ts), so a name finds exactly the account it names; text that
// cannot be a username is simply not found (404), never a 500.
import { normalizeUsername } from '../auth/username.js';

/** The stored form of `raw`, or null when no user can have that name. */
export function lookupName(raw: unknown): string | null {
  return typeof raw === 'string' ? normalizeUsername(raw) : null;
}
