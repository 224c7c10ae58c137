/**
 * The long-term identity key (spec/protocol.md §4.1–§4.2): one Ed25519 key pair. It signs
 * the prekeys, and its X25519 form — the same key through the birational map between
 * edwards25519 and curve25519 (RFC 7748 §4.1) — takes part in the handshake DHs. One key
 * and one fingerprint per user, as Signal's XEdDSA design has, but from the Ed25519 side.
 *
 * Verification is strict (RFC 8032 §5.1.7 plus canonical encodings): non-canonical R or
 * A, S ≥ L, and small-order public keys are all rejected, so a signature has exactly one
 * accepted form (no malleability).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { expectBytes } from './bytes.js';
import { type RandomSource, systemRandom } from './deps.js';
import { fail } from './errors.js';
import { ED25519_PUBLIC_BYTES, ED25519_SECRET_BYTES } from './protocol-constants.js';
import { draw } from './random-draw.js';
import { verifyStrictValidatedKey } from './signature-check.js';

/**
 * An identity key pair. `secretKey` is the 32-byte Ed25519 seed (RFC 8032 §5.1.5);
 * `publicKey` the 32-byte Ed25519 public key. Plain data: storable by structured clone.
 *
 * @example
 * const id: IdentityKeyPair = generateIdentity();
 */
export interface IdentityKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/**
 * Generates a new identity key pair.
 *
 * @example
 * const alice = generateIdentity();
 * // store alice.secretKey on the device only; publish alice.publicKey
 */
export function generateIdentity(random: RandomSource = systemRandom): IdentityKeyPair {
  const secretKey = draw(random, ED25519_SECRET_BYTES);
  return { secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

/**
 * Checks an identity public key: 32 bytes, a canonical encoding of a curve point, not of
 * small order and in the prime-order subgroup. Throws BAD_KEY otherwise.
 *
 * @example
 * assertIdentityPublicKey(bundle.identityKey); // throws CryptoCoreError('BAD_KEY') if unusable
 */
export function assertIdentityPublicKey(publicKey: Uint8Array): void {
  expectBytes(publicKey, 'identity public key', ED25519_PUBLIC_BYTES);
  let ok = false;
  try {
    const p = ed25519.Point.fromBytes(publicKey, false);
    ok = !p.isSmallOrder() && p.isTorsionFree();
  } catch {
    ok = false;
  }
  if (!ok) fail('BAD_KEY', 'identity public key is not a valid prime-order Ed25519 point');
}

/**
 * Signs `message` with the identity key (deterministic Ed25519, RFC 8032).
 *
 * @example
 * const sig = signWithIdentity(alice, message);
 */
export function signWithIdentity(identity: IdentityKeyPair, message: Uint8Array): Uint8Array {
  expectBytes(identity?.secretKey, 'identity secret key', ED25519_SECRET_BYTES);
  expectBytes(message, 'message');
  return ed25519.sign(message, identity.secretKey);
}

/**
 * Verifies an Ed25519 signature strictly; throws BAD_SIGNATURE if it does not verify,
 * BAD_KEY if the public key is unusable, BAD_TYPE/BAD_LENGTH for malformed arguments.
 *
 * @example
 * verifyIdentitySignature(bundle.identityKey, signedBytes, signature);
 */
export function verifyIdentitySignature(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): void {
  assertIdentityPublicKey(publicKey);
  verifyStrictValidatedKey(publicKey, message, signature);
}
