// scripts/lib/device-keys.mjs builds the key upload of the scripted accounts with noble directly
// (plain Node runs it, without a TypeScript loader): its statements must stay those of
// crypto-core (spec/protocol.md §4.3 prekey signatures, §4.6 identity proof), checked here with
// crypto-core's own verifiers. The relay checks the proof again on every upload.
import { describe, expect, it } from 'vitest';
import { verifyIdentityProof } from '../../crypto-core/src/identity-proof.ts';
import { verifyPqPreKey, verifySignedPreKey } from '../../crypto-core/src/prekeys.ts';
import { deviceKeyUpload, resumeUpload } from '../lib/device-keys.mjs';

const bytes = (b64) => new Uint8Array(Buffer.from(b64, 'base64'));

describe('scripts/lib/device-keys.mjs', () => {
  it('signs what crypto-core verifies: identity proof and both signed prekeys', () => {
    const { body, identity } = deviceKeyUpload('Scripted_User1');
    const ik = bytes(body.identity_key);
    expect(ik).toEqual(identity.publicKey);
    // The proof names the canonical form (§11.1): the same for any case of the name.
    expect(verifyIdentityProof(ik, 'scripted_user1', bytes(body.identity_proof))).toBe(true);
    expect(verifyIdentityProof(ik, 'someone_else', bytes(body.identity_proof))).toBe(false);
    const spk = body.signed_prekey;
    expect(() =>
      verifySignedPreKey(ik, {
        id: spk.key_id,
        publicKey: bytes(spk.public_key),
        signature: bytes(spk.signature),
      }),
    ).not.toThrow();
    const pq = body.pq_prekey;
    expect(bytes(pq.public_key)).toHaveLength(1184);
    expect(() =>
      verifyPqPreKey(ik, {
        kind: 'last-resort',
        id: pq.key_id,
        publicKey: bytes(pq.public_key),
        signature: bytes(pq.signature),
      }),
    ).not.toThrow();
    const resume = resumeUpload('scripted_user1', identity, 1, 'c2VjcmV0');
    expect(resume).toEqual({
      identity_key: body.identity_key,
      identity_proof: body.identity_proof,
      device_id: 1,
      resume_secret: 'c2VjcmV0',
    });
  });
});
