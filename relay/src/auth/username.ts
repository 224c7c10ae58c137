// Username rules (spec/openapi.yaml components.schemas.Username): NFKC-normalise, lowercase,
// then require 3–32 of a–z, 0–9, '_' with no '_' first or last. Only ASCII survives, so
// look-alikes from other scripts (Cyrillic 'а', Greek 'ο', …) are refused rather than stored;
// compatibility forms (fullwidth 'ａ') fold to their ASCII letter and so name the same account.
import { z } from 'zod';

export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9_]{1,30}[a-z0-9]$/;
export const USERNAME_RULE = '3–32 characters: a–z, 0–9 and _ (not first or last); case-insensitive';

/** The canonical form of `input`, or null when it breaks the rules. */
export function normalizeUsername(input: string): string | null {
  if (input.length > 128) return null; // bound the normalisation work
  const canonical = input.normalize('NFKC').toLowerCase();
  return USERNAME_PATTERN.test(canonical) ? canonical : null;
}

/** Raw string in the request; normalisation is checked by the route (error: invalid_username). */
export const usernameInput = z.string().min(1).max(128);
