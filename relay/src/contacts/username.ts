// Looking a user up by a username typed by someone else. Stored usernames are normalised
// (NFKC, lowercase; migration 0001), so the same normalisation is applied here; text that
// cannot be a username is simply not found (404), never a 500.
const USERNAME = /^[a-z0-9][a-z0-9_]{1,30}[a-z0-9]$/;

/** The stored form of `raw`, or null when no user can have that name. */
export function lookupName(raw: unknown): string | null {
  if (typeof raw !== 'string' || raw.length > 64) return null;
  const name = raw.normalize('NFKC').toLowerCase();
  return USERNAME.test(name) ? name : null;
}
