// GENERATED from spec/openapi.yaml (components.schemas.Username, UsernameInput) by
// scripts/gen-username-rule.mjs — do not edit: change the spec, then run `npm run gen:username`.
// The same module is written into the relay and the PWA (relay/README.md "Usernames").

/** Username's pattern: every canonical name matches it. */
export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9_]{1,30}[a-z0-9]$/;
export const USERNAME_MIN = 3;
export const USERNAME_MAX = 32;
/** UsernameInput's maxLength: the longest text looked at, which bounds the normalisation work. */
export const USERNAME_INPUT_MAX = 128;

/** Names that could pass for the operator or the service, refused at registration. */
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

/**
 * Input that Unicode NFKC normalisation would change is refused (null), never folded —
 * fullwidth letters, ligatures, the Kelvin sign — so no compatibility form can squat or
 * impersonate a name; otherwise case is folded.
 */
export function foldUsername(input: string): string | null {
  return input.normalize('NFKC') === input ? input.toLowerCase() : null;
}

/** The canonical username `input` names, or null when it breaks the rule (reserved names pass). */
export function canonicalUsername(input: string): string | null {
  if (input.length > USERNAME_INPUT_MAX) return null;
  const name = foldUsername(input);
  if (name === null || name.length < USERNAME_MIN || name.length > USERNAME_MAX) return null;
  return USERNAME_PATTERN.test(name) ? name : null;
}

export const isReservedUsername = (canonical: string): boolean => RESERVED_USERNAMES.has(canonical);
