// Usernames (spec/openapi.yaml components.schemas.Username): the rule itself — NFKC-changed input
// refused, ASCII case folded, the pattern, the length bounds and the reserved names — is
// generated from the spec into username-rule.generated.ts (relay/README.md "Usernames"). This
// file is the relay's glue: an unusable name is null, answered by the route as invalid_username.
import { z } from 'zod';
import {
  canonicalUsername,
  USERNAME_INPUT_MAX,
  USERNAME_MAX,
  USERNAME_MIN,
} from './username-rule.generated.js';

export { isReservedUsername, RESERVED_USERNAMES, USERNAME_PATTERN } from './username-rule.generated.js';

export const USERNAME_RULE = `${USERNAME_MIN}–${USERNAME_MAX} characters: a–z, 0–9 and _ (not first or last); case-insensitive`;

/** The canonical form of `input`, or null when it breaks the rules. */
export const normalizeUsername = (input: string): string | null => canonicalUsername(input);

/** Raw string in the request; normalisation is checked by the route (error: invalid_username). */
export const usernameInput = z.string().min(1).max(USERNAME_INPUT_MAX);
