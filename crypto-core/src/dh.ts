/**
 * X25519 (RFC 7748) as the handshake and the ratchet use it (spec/protocol.md §2, §5.2):
 * a shared secret that is all zeros — the sign of a low-order or otherwise degenerate
 * public key (RFC 7748 §6.1) — is refused with BAD_KEY, never returned. Public keys must
 * also be canonical (u < 2^255 − 19, so the top bit is clear): RFC 7748 §5 would mask and
 * reduce them, which gives one key several encodings; a handshake field that is not in
 * the associated data (EK_A) could then be altered without detection (spec §5.2).
 */
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
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

/** The u-coordinate a 32-byte public key encodes (little-endian, all 256 bits). */
function uOf(publicKey: Uint8Array): bigint {
  let u = 0n;
  for (let i = X25519_BYTES - 1; i >= 0; i--) u = (u << 8n) | BigInt(publicKey[i] as number);
  return u;
}

/** Throws BAD_KEY unless `publicKey` is 32 bytes encoding u < 2^255 − 19 little-endian. */
export function assertCanonicalX25519(publicKey: Uint8Array): void {
  expectBytes(publicKey, 'X25519 public key', X25519_BYTES);
  if (uOf(publicKey) >= P) fail('BAD_KEY', 'X25519 public key is not canonical (u ≥ 2^255 − 19)');
}

/**
 * Throws BAD_KEY unless `publicKey` is canonical and a point of the prime-order subgroup of
 * the curve. X25519 multiplies by a clamped scalar, a multiple of the cofactor 8, which erases
 * any small-order part: u(P + T) for T of order 8 gives the same shared secrets as u(P). A
 * handshake field that is not in AD (EK_A) could then be changed to up to seven other
 * encodings undetected, and a replay log keyed by it would miss the repeat (spec §5.2, §6.3).
 * Honest keys — a clamped scalar times the base point — are always in the subgroup.
 */
export function assertPrimeOrderX25519(publicKey: Uint8Array): void {
  assertCanonicalX25519(publicKey);
  const Fp = ed25519.Point.Fp;
  const u = uOf(publicKey);
  // The Edwards point of u (RFC 7748 §4.1: y = (u − 1)/(u + 1)); u = −1 has none.
  if (u + 1n === P) fail('BAD_KEY', 'X25519 public key is not a point of the prime-order subgroup');
  const y = Fp.mul(Fp.sub(u, 1n), Fp.inv(Fp.add(u, 1n)));
  let point: InstanceType<typeof ed25519.Point> | undefined;
  try {
    point = ed25519.Point.fromBytes(Fp.toBytes(y));
  } catch {
    point = undefined; // no x for this y: u lies on the twist
  }
  if (!point || point.is0() || !point.isTorsionFree())
    fail('BAD_KEY', 'X25519 public key is not a point of the prime-order subgroup');
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
