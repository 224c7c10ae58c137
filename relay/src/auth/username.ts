// Username rules (spec/openapi.yaml components.schemas.Username): input that NFKC normalisation
// would change is refused, not folded (fullwidth "ａｄｍｉｎ", the ligature "ﬁ", the Kelvin sign
// "K"…), so every account has exactly one spelling a user can type and no compatibility form
// can squat or impersonate it; then ASCII case is folded and the name must be 3–32 of a–z, 0–9,
// '_' with no '_' first or last. Only ASCII survives, so look-alikes from other scripts (Cyrillic
// 'а', Greek 'ο', …) are refused too. Reserved names cannot be registered (RESERVED_USERNAMES).
import { z } from 'zod';

export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9_]{1,30}[a-z0-9]$/;
export const USERNAME_RULE = '3–32 characters: a–z, 0–9 and _ (not first or last); case-insensitive';

/** Names that could pass for the operator or the service (spec/openapi.yaml Username). */
export const RESERVED_USERNAMES: ReadonlySet<string> = new Set([
  'admin',
  'administrator',
  'root',
  'support',
  'securedrop',
  'secure_drop',
  'system',
  'help',
  'moderator',
  'security',
  'official',
  'staff',
]);

/** The canonical form of `input`, or null when it breaks the rules. */
export function normalizeUsername(input: string): string | null {
  if (input.length > 128) return null; // bound the normalisation work
  if (input.normalize('NFKC') !== input) return null;
  const canonical = input.toLowerCase();
  return USERNAME_PATTERN.test(canonical) ? canonical : null;
}

export const isReservedUsername = (canonical: string) => RESERVED_USERNAMES.has(canonical);

/** Raw string in the request; normalisation is checked by the route (error: invalid_username). */
export const usernameInput = z.string().min(1).max(128);
