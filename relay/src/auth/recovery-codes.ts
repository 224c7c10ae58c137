// One-time recovery codes (spec/openapi.yaml POST /register/confirm): 10 codes of 80 random bits,
// shown once as xxxx-xxxx-xxxx-xxxx (base32, lowercase); only SHA-256 hashes are stored — a fast
// hash suffices for codes this random. Matching compares every stored hash in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
/** Accepted input: the code with any case, spaces or dashes. */
export const RECOVERY_CODE_INPUT = /^[A-Za-z2-7 -]{16,24}$/;

export function newRecoveryCode(): string {
  const bytes = randomBytes(10); // 80 bits → 16 base32 characters
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)?.join('-') ?? out;
}

export function normalizeRecoveryCode(input: string): string | null {
  if (!RECOVERY_CODE_INPUT.test(input)) return null;
  const c = input.replace(/[ -]/g, '').toLowerCase();
  return c.length === 16 ? c : null;
}

export function hashRecoveryCode(normalized: string): Buffer {
  return createHash('sha256').update(`secure-drop/recovery/v1:${normalized}`).digest();
}

/** The stored hash equal to `candidate`, comparing against all of them so timing reveals nothing. */
export function findMatchingHash(candidate: Buffer, stored: readonly Buffer[]): Buffer | null {
  let found: Buffer | null = null;
  for (const h of stored) if (h.length === candidate.length && timingSafeEqual(h, candidate)) found = h;
  return found;
}
