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

import { argon2idBytes } from './kdf.ts';
import { type KdfParams, validateKdfParams } from './kdf-params.ts';

export {
  DEFAULT_KDF,
  type KdfParams,
  MAX_KDF,
  MIN_KDF,
  newKdfParams,
  SALT_BYTES,
  validateKdfParams,
} from './kdf-params.ts';

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

/**
 * The wrapping key: Argon2id(passphrase NFC-normalised, UTF-8) → 32 bytes → a non-extractable
 * AES-256-GCM key for wrapKey/unwrapKey, derived in a Web Worker where there is one (kdf.ts).
 * The passphrase's bytes are zeroed by whoever derives, the 32 derived bytes once imported.
 */
export async function deriveWrappingKey(passphrase: string, k: KdfParams): Promise<CryptoKey> {
  validateKdfParams(k);
  const raw = await argon2idBytes(new TextEncoder().encode(passphrase.normalize('NFC')), k);
  try {
    return await crypto.subtle.importKey('raw', raw as Uint8Array<ArrayBuffer>, 'AES-GCM', false, [
      'wrapKey',
      'unwrapKey',
    ]);
  } finally {
    raw.fill(0);
  }
}
