// TOTP per RFC 6238 with otplib: SHA-1, 6 digits, 30-second steps (the parameters every
// authenticator app accepts), ±1 step of clock drift. The caller enforces "each step at most
// once per user" with one conditional UPDATE (spec/openapi.yaml POST /login; see auth/login.ts).
import { generateSecret, generateURI, verify } from 'otplib';

export const TOTP = { issuer: 'Secure Drop', algorithm: 'sha1', digits: 6, period: 30, window: 1 } as const;
export const TOTP_CODE = /^\d{6}$/;

/** A new base32 secret of 160 bits (RFC 4226 §4 recommends 160). */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

export function otpauthUri(username: string, secret: string): string {
  return generateURI({
    issuer: TOTP.issuer,
    label: username,
    secret,
    algorithm: TOTP.algorithm,
    digits: TOTP.digits,
    period: TOTP.period,
  });
}

/** The RFC 6238 time step of a valid `code` at `nowMs` (±1 step), or null. otplib compares in constant time. */
export async function matchTotpStep(secret: string, code: string, nowMs: number): Promise<number | null> {
  if (!TOTP_CODE.test(code)) return null;
  const epoch = Math.floor(nowMs / 1000);
  const result = await verify({
    secret,
    token: code,
    algorithm: TOTP.algorithm,
    digits: TOTP.digits,
    period: TOTP.period,
    epoch,
    epochTolerance: TOTP.period * TOTP.window,
  });
  // delta: how many steps from the current one the code matched (−1, 0 or +1).
  return result.valid ? Math.floor(epoch / TOTP.period) + result.delta : null;
}
