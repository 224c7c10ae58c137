// The username rule the relay enforces (spec/openapi.yaml components.schemas.Username):
// NFKC-normalised, lowercased, then 3–32 of a–z, 0–9 and '_' with no '_' first or last.
// Checked here too so the user learns it before a round trip; the relay stays the authority.
export const USERNAME_MIN = 3;
export const USERNAME_MAX = 32;
const USERNAME_RE = /^[a-z0-9][a-z0-9_]{1,30}[a-z0-9]$/;

export function normalizeUsername(raw: string): string {
  return raw.trim().normalize('NFKC').toLowerCase();
}

export function isValidUsername(name: string): boolean {
  return USERNAME_RE.test(name);
}
