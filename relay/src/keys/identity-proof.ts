// Proof of possession of an uploaded identity key (spec/protocol.md §4.6). The rule lives in
// crypto-core, the one implementation both the PWA (which signs) and the relay (which checks)
// use; the relay never hand-writes the statement or the verification.
import { verifyIdentityProof } from '@secure-drop/crypto-core/identity-proof';

/** True iff `proof` is `identityKey`'s strict Ed25519 signature claiming the account `username`. */
export function identityProofValid(identityKey: Buffer, username: string, proof: Buffer): boolean {
  return verifyIdentityProof(identityKey, username, proof);
}
