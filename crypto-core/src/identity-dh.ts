/**
 * The X25519 form of an Ed25519 identity key (spec/protocol.md §4.2), used only by the
 * handshake (x3dh.ts). Internal: not a public entry point.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { expectBytes } from './bytes.js';
import { fail } from './errors.js';
import type { IdentityKeyPair } from './identity.js';
import { ED25519_PUBLIC_BYTES, ED25519_SECRET_BYTES } from './protocol-constants.js';

/** The X25519 secret of an identity (first 32 bytes of SHA-512(seed), as RFC 8032 §5.1.5). */
export function identityDhSecret(identity: IdentityKeyPair): Uint8Array {
  expectBytes(identity?.secretKey, 'identity secret key', ED25519_SECRET_BYTES);
  return ed25519.utils.toMontgomerySecret(identity.secretKey);
}

/**
 * The X25519 public key of an identity public key: u = (1 + y) / (1 − y) (RFC 7748 §4.1).
 * Precondition: the key passed assertIdentityPublicKey (verifyBundle / acceptSession do
 * that first); here only its length and decodability are checked.
 */
export function identityDhPublic(publicKey: Uint8Array): Uint8Array {
  expectBytes(publicKey, 'identity public key', ED25519_PUBLIC_BYTES);
  try {
    return ed25519.utils.toMontgomery(publicKey);
  } catch {
    return fail('BAD_KEY', 'identity public key is not an Ed25519 point');
  }
}
