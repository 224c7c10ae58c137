/**
 * Identity proof of possession (spec/protocol.md §4.6): the identity key signs a statement
 * naming the account it is uploaded to, so a relay can refuse an identity key uploaded by
 * anyone who does not hold its secret — "mallory" cannot republish Bob's public key under her
 * name (X3DH §4.8, unknown key share). The statement is domain-separated from every other
 * signature the identity key makes (the prekey contexts of §4.3).
 *
 * What this module does not know: how the relay stores keys, or which usernames exist; the
 * canonical username form is §11.1's (safety-number.ts), the relay's spelling of a name.
 */
import { ByteWriter, expectBytes, utf8 } from './bytes.js';
import { CryptoCoreError } from './errors.js';
import { type IdentityKeyPair, signWithIdentity, verifyIdentitySignature } from './identity.js';
import { fingerprintCanonicalUsername } from './safety-number.js';

/** Context of the statement (§4.6): ASCII, no terminator. */
export const IDENTITY_PROOF_CONTEXT = 'SecureDrop_IdentityOwnership_v2';

/**
 * The bytes an identity key signs to claim `username` (§4.6):
 * `"SecureDrop_IdentityOwnership_v2" ‖ bytes16(canonical username) ‖ IK`.
 * Throws BAD_FORMAT / BAD_LENGTH for a name that has no canonical form (§11.1), BAD_TYPE for
 * a key that is not bytes.
 *
 * @example
 * const statement = identityProofStatement('bob', bob.publicKey);
 */
export function identityProofStatement(username: string, identityKey: Uint8Array): Uint8Array {
  expectBytes(identityKey, 'identity key');
  return new ByteWriter()
    .rest(utf8(IDENTITY_PROOF_CONTEXT))
    .bytes16(utf8(fingerprintCanonicalUsername(username)), 'username')
    .rest(identityKey, 'identity key')
    .finish();
}

/**
 * Signs the §4.6 statement for `username` with the identity key; the 64-byte Ed25519
 * signature goes to the relay with the identity key (`identity_proof`).
 *
 * @example
 * const proof = signIdentityProof(bob, 'bob'); // upload with bob.publicKey
 */
export function signIdentityProof(identity: IdentityKeyPair, username: string): Uint8Array {
  expectBytes(identity?.publicKey, 'identity public key');
  return signWithIdentity(identity, identityProofStatement(username, identity.publicKey));
}

/**
 * True iff `signature` is a strictly valid Ed25519 signature (§4.1) by `identityKey` over the
 * §4.6 statement for `username`. Every malformed input — an invalid or small-order key, a
 * signature of the wrong length or not canonical, a name with no canonical form — is false,
 * never an exception, so a server can call it on untrusted bytes. Only arguments of the wrong
 * JavaScript type throw (BAD_TYPE), as they are a programming error.
 *
 * @example
 * if (!verifyIdentityProof(uploadedKey, 'bob', proof)) refuse();
 */
export function verifyIdentityProof(
  identityKey: Uint8Array,
  username: string,
  signature: Uint8Array,
): boolean {
  expectBytes(identityKey, 'identity key');
  expectBytes(signature, 'signature');
  try {
    verifyIdentitySignature(identityKey, identityProofStatement(username, identityKey), signature);
    return true;
  } catch (err) {
    if (err instanceof CryptoCoreError && err.code !== 'BAD_TYPE') return false;
    throw err;
  }
}
