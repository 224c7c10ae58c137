/**
 * The key-derivation and MAC calls of spec/protocol.md §2, wrapped once so that both
 * halves of crypto-core (ratchet and photos) and the known-answer tests go through the
 * same code path. Thin wrappers over @noble/hashes: no primitive is implemented here.
 */
import { expand, hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { expectBytes, expectInt, wipe } from './bytes.js';

const SHA256_BYTES = 32;
const SHA512_BYTES = 64;
const SHA512_BLOCK_BYTES = 128;

/**
 * HKDF-SHA-256 (RFC 5869): Extract with `salt` (an empty salt means HashLen zero bytes,
 * as the RFC says), then Expand with `info` to `length` bytes (at most 255 × 32).
 *
 * @example
 * const okm = hkdfSha256(ikm, new Uint8Array(32), utf8('SecureDrop_Photo_v2'), 32);
 */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  expectBytes(ikm, 'ikm');
  expectBytes(salt, 'salt');
  expectBytes(info, 'info');
  expectInt(length, 'length', 1, 255 * SHA256_BYTES);
  return hkdf(sha256, ikm, salt, info, length);
}

/**
 * HKDF-Expand with SHA-512 only (RFC 5869 §2.3) for a key of at most 128 bytes, used by C2SP chunked encryption
 * (spec/protocol.md §10.2), whose input key is already uniformly random.
 *
 * @example
 * const keys = hkdfExpandSha512(inputKey, info, 76);
 */
export function hkdfExpandSha512(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  expectBytes(prk, 'prk');
  expectBytes(info, 'info');
  expectInt(length, 'length', 1, 255 * SHA512_BYTES);
  expectInt(prk.length, 'prk length', 1, SHA512_BLOCK_BYTES);
  // C2SP keys HKDF-Expand-SHA-512 with a 32-byte input key, but noble's expand() demands
  // at least HashLen (64) bytes. HMAC zero-pads any key shorter than the 128-byte block
  // (RFC 2104 §2), so the key zero-padded to 64 bytes gives the very same HMAC and OKM.
  const padded = new Uint8Array(Math.max(prk.length, SHA512_BYTES));
  padded.set(prk);
  try {
    return expand(sha512, padded, info, length);
  } finally {
    wipe(padded);
  }
}

/**
 * HMAC-SHA-256 (RFC 2104), the Double Ratchet's chain-key KDF (spec/protocol.md §7).
 *
 * @example
 * const messageKey = hmacSha256(chainKey, Uint8Array.of(0x01));
 */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  expectBytes(key, 'key');
  expectBytes(data, 'data');
  return hmac(sha256, key, data);
}
