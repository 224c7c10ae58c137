// The username rule the relay enforces; checked here too so the user learns it before a round
// trip. Keep in step with the relay's validation (spec/openapi.yaml, /register).
export const USERNAME_MIN = 3;
export const USERNAME_MAX = 32;
const USERNAME_RE = /^[a-z0-9_]+$/;

export function normalizeUsername(raw: string): string {
  return raw.trim().toLowerCase();
}

export function isValidUsername(name: string): boolean {
  return name.length >= USERNAME_MIN && name.length <= USERNAME_MAX && USERNAME_RE.test(name);
}
