// Real identity keys for key uploads: an identity key is accepted only with its proof of
// possession for the uploading account (spec/protocol.md §4.6), signed here with crypto-core.
import { generateIdentity, type IdentityKeyPair } from '@secure-drop/crypto-core/identity';
import { signIdentityProof } from '@secure-drop/crypto-core/identity-proof';

/** An identity key pair and its upload fields: the key and its proof for `username`. */
export interface TestIdentity {
  keyPair: IdentityKeyPair;
  identity_key: string;
  identity_proof: string;
}

export function identityFor(username: string, keyPair: IdentityKeyPair = generateIdentity()): TestIdentity {
  return {
    keyPair,
    identity_key: Buffer.from(keyPair.publicKey).toString('base64'),
    identity_proof: Buffer.from(signIdentityProof(keyPair, username)).toString('base64'),
  };
}

/** The `identity_key` + `identity_proof` fields of an upload. */
export const identityFields = (id: TestIdentity) => ({
  identity_key: id.identity_key,
  identity_proof: id.identity_proof,
});
