// The username rule the relay enforces (spec/openapi.yaml components.schemas.Username): input
// that NFKC normalisation would change is refused, not folded (fullwidth letters, ligatures…);
// ASCII case is folded; then 3–32 of a–z, 0–9 and '_' with no '_' first or last; the reserved
// names of the spec cannot be registered. Checked here too so the user learns it before a round
// trip; the relay stays the authority.
export const USERNAME_MIN = 3;
export const USERNAME_MAX = 32;
const USERNAME_RE = /^[a-z0-9][a-z0-9_]{1,30}[a-z0-9]$/;

/** spec/openapi.yaml components.schemas.Username, "Reserved". */
const RESERVED = new Set([
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

/** Spaces around are dropped and case folded — only for input NFKC leaves alone (as the
 * relay checks it before folding: the Kelvin sign "K" must not become "k"). */
export function normalizeUsername(raw: string): string {
  const name = raw.trim();
  return name.normalize('NFKC') === name ? name.toLowerCase() : name;
}

export function isValidUsername(name: string): boolean {
  return name.normalize('NFKC') === name && USERNAME_RE.test(name);
}

/** Names no one may register (another user may still look one up if an old account has it). */
export function isReservedUsername(name: string): boolean {
  return RESERVED.has(name);
}
