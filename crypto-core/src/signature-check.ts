/**
 * Strict Ed25519 verification for a public key the caller has ALREADY validated with
 * assertIdentityPublicKey (spec/protocol.md §4.1), and the bytes a prekey signature covers
 * (§4.3). Internal: it lets verifyBundle check the identity key once instead of once per
 * signature (each check is a full scalar multiplication).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { ByteWriter, expectBytes } from './bytes.js';
import { fail } from './errors.js';
import { ED25519_SIGNATURE_BYTES } from './protocol-constants.js';

/** Throws BAD_SIGNATURE unless `signature` verifies strictly (zip215: false). */
export function verifyStrictValidatedKey(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): void {
  expectBytes(message, 'message');
  expectBytes(signature, 'signature', ED25519_SIGNATURE_BYTES);
  let ok = false;
  try {
    ok = ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    ok = false;
  }
  if (!ok) fail('BAD_SIGNATURE', 'Ed25519 signature does not verify');
}

/** What the identity key signs for a prekey: context ‖ u32(id) ‖ publicKey (§4.3). */
export function prekeySignedBytes(context: Uint8Array, id: number, publicKey: Uint8Array): Uint8Array {
  return new ByteWriter().rest(context).u32(id).rest(publicKey).finish();
}
