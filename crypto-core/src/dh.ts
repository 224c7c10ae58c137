/**
 * X25519 (RFC 7748) as the handshake and the ratchet use it (spec/protocol.md §2, §5.2):
 * a shared secret that is all zeros — the sign of a low-order or otherwise degenerate
 * public key (RFC 7748 §6.1) — is refused with BAD_KEY, never returned. Public keys must
 * also be canonical (u < 2^255 − 19, so the top bit is clear): RFC 7748 §5 would mask and
 * reduce them, which gives one key several encodings; a handshake field that is not in
 * the associated data (EK_A) could then be altered without detection (spec §5.2).
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { expectBytes } from './bytes.js';
import type { RandomSource } from './deps.js';
import { fail } from './errors.js';
import { X25519_BYTES } from './protocol-constants.js';
import { draw } from './random-draw.js';
import type { PreparedPeerKey, X25519Backend } from './x25519-backend.js';

/** An X25519 key pair: 32-byte secret scalar and 32-byte public u-coordinate. */
export interface X25519KeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** A fresh X25519 key pair from `random` (32 bytes, clamped by X25519 itself). */
export function generateX25519(random: RandomSource): X25519KeyPair {
  const secretKey = draw(random, X25519_BYTES);
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

const P = 2n ** 255n - 19n;

/** Throws BAD_KEY unless `publicKey` is 32 bytes encoding u < 2^255 − 19 little-endian. */
export function assertCanonicalX25519(publicKey: Uint8Array): void {
  expectBytes(publicKey, 'X25519 public key', X25519_BYTES);
  let u = 0n;
  for (let i = X25519_BYTES - 1; i >= 0; i--) u = (u << 8n) | BigInt(publicKey[i] as number);
  if (u >= P) fail('BAD_KEY', 'X25519 public key is not canonical (u ≥ 2^255 − 19)');
}

/**
 * X25519(secret, public). Throws BAD_KEY when the result would be all zeros (noble
 * refuses to return it; both cases map to the same code).
 */
export function dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  expectBytes(secretKey, 'X25519 secret key', X25519_BYTES);
  assertCanonicalX25519(publicKey);
  let out: Uint8Array;
  try {
    out = x25519.getSharedSecret(secretKey, publicKey);
  } catch {
    return fail('BAD_KEY', 'X25519 public key gives a degenerate (all-zero) shared secret');
  }
  let acc = 0;
  for (const b of out) acc |= b;
  if (acc === 0) fail('BAD_KEY', 'X25519 public key gives a degenerate (all-zero) shared secret');
  return out;
}

/**
 * {@link dh} through an X25519 backend (the ratchet's DH steps, spec §7.4). Same checks and
 * same bytes; if the backend fails for any reason the result is decided by noble, so an
 * all-zero output is BAD_KEY whatever the backend's way of refusing it. `ownPublicKey`, the
 * public half of `secretKey` when the caller holds it, lets a backend with the
 * `keyPairSharedSecret` shortcut use it (x25519-backend.ts); a wrong one only costs that
 * shortcut. `peerKey`: `publicKey` as the backend's `preparePeerKey` prepared it, to share it.
 */
export async function dhWith(
  backend: X25519Backend,
  secretKey: Uint8Array,
  publicKey: Uint8Array,
  ownPublicKey?: Uint8Array,
  peerKey?: PreparedPeerKey,
): Promise<Uint8Array> {
  expectBytes(secretKey, 'X25519 secret key', X25519_BYTES);
  assertCanonicalX25519(publicKey);
  let out: Uint8Array | undefined;
  if (
    backend.keyPairSharedSecret !== undefined &&
    ownPublicKey instanceof Uint8Array &&
    ownPublicKey.length === X25519_BYTES
  )
    out = await backend.keyPairSharedSecret(secretKey, ownPublicKey, publicKey, peerKey);
  try {
    out ??= await backend.sharedSecret(secretKey, publicKey);
  } catch {
    return dh(secretKey, publicKey);
  }
  let acc = 0;
  for (const b of out) acc |= b;
  if (out.length !== X25519_BYTES || acc === 0)
    fail('BAD_KEY', 'X25519 public key gives a degenerate (all-zero) shared secret');
  return out;
}

/** {@link generateX25519} with the public key computed by `backend` (noble if it fails). */
export async function generateX25519With(
  random: RandomSource,
  backend: X25519Backend,
): Promise<X25519KeyPair> {
  const secretKey = draw(random, X25519_BYTES);
  let publicKey: Uint8Array;
  try {
    publicKey = await backend.publicKey(secretKey);
  } catch {
    publicKey = x25519.getPublicKey(secretKey);
  }
  return { secretKey, publicKey };
}
