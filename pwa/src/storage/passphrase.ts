// The app lock's key derivation (SECURITY.md "What a user's device holds"): the passphrase is
// stretched with Argon2id (RFC 9106) into the AES-256-GCM key that wraps the storage data key.
//
// Library: hash-wasm (maintained, WebAssembly). Measured in headless Chromium on the same
// machine (pwa/BENCHMARKS.md) it runs Argon2id 3–5× faster than @noble/hashes' pure-JS one;
// an attacker runs optimised native code either way, so the faster defender affords that much
// more memory for the same wait. It needs 'wasm-unsafe-eval' in the CSP (django-host/host/headers.py).
//
// Parameters: OWASP's Password Storage Cheat Sheet asks for Argon2id with at least 19 MiB of
// memory, 2 iterations and parallelism 1 (or an equivalent trade such as 46 MiB × 1). That is
// a server's floor, set so a login server can afford many hashes per second; here the device
// derives one key per unlock, so we spend what an unlock can bear (0.5–1 s in headless
// Chromium): 64 MiB × 2 iterations, parallelism 1 — 3.4× the floor's memory at the same
// iterations. The parameters are stored with the wrapped key (and bound to it), so they can
// be raised later without breaking existing locks.

/** Argon2id cost parameters; m in KiB (RFC 9106 §3.1). */
export interface KdfParams {
  readonly alg: 'argon2id';
  readonly m: number;
  readonly t: number;
  readonly p: number;
  readonly salt: Uint8Array;
}

export const DEFAULT_KDF = { m: 65_536, t: 2, p: 1 } as const;
/** OWASP's floor (see above): stored parameters below it are refused. */
export const MIN_KDF = { m: 19_456, t: 2, p: 1 } as const;
/** Ceilings, so a tampered store cannot make an unlock allocate gigabytes or run for minutes. */
export const MAX_KDF = { m: 1_048_576, t: 10, p: 4 } as const;
export const SALT_BYTES = 16;
/** Passphrase length bounds, in Unicode code points. */
export const PASSPHRASE_MIN = 8;
export const PASSPHRASE_MAX = 1024;

export class PassphraseRuleError extends RangeError {
  constructor(readonly rule: 'too_short' | 'too_long') {
    super(`passphrase ${rule.replace('_', ' ')}`);
    this.name = 'PassphraseRuleError';
  }
}

/** Checks the bounds of a new passphrase (never its content: that is the user's). */
export function checkPassphrase(passphrase: string): void {
  const n = [...passphrase.normalize('NFC')].length;
  if (n < PASSPHRASE_MIN) throw new PassphraseRuleError('too_short');
  if (n > PASSPHRASE_MAX) throw new PassphraseRuleError('too_long');
}

export function newKdfParams(cost: { m: number; t: number; p: number } = DEFAULT_KDF): KdfParams {
  const params = {
    alg: 'argon2id' as const,
    ...cost,
    salt: crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
  };
  validateKdfParams(params);
  return params;
}

/** Refuses stored parameters outside the bounds above (a boundary check on what is read back). */
export function validateKdfParams(k: KdfParams): void {
  const int = (v: unknown, lo: number, hi: number) =>
    typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  if (
    k.alg !== 'argon2id' ||
    !int(k.m, MIN_KDF.m, MAX_KDF.m) ||
    !int(k.t, MIN_KDF.t, MAX_KDF.t) ||
    !int(k.p, MIN_KDF.p, MAX_KDF.p) ||
    !(k.salt instanceof Uint8Array) ||
    k.salt.length !== SALT_BYTES
  )
    throw new RangeError('unsupported key derivation parameters');
}

/**
 * The wrapping key: Argon2id(passphrase NFC-normalised, UTF-8) → 32 bytes → a non-extractable
 * AES-256-GCM key for wrapKey/unwrapKey. The 32 derived bytes are zeroed once imported.
 */
export async function deriveWrappingKey(passphrase: string, k: KdfParams): Promise<CryptoKey> {
  validateKdfParams(k);
  const { argon2id } = await import('hash-wasm');
  const password = new TextEncoder().encode(passphrase.normalize('NFC'));
  const raw = await argon2id({
    password,
    salt: k.salt,
    iterations: k.t,
    parallelism: k.p,
    memorySize: k.m,
    hashLength: 32,
    outputType: 'binary',
  });
  password.fill(0);
  try {
    return await crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, 'AES-GCM', false, [
      'wrapKey',
      'unwrapKey',
    ]);
  } finally {
    raw.fill(0);
  }
}
