// Identity proof of possession (spec/protocol.md §4.6): the statement's bytes, the attacks it
// exists for (another account's name, a key the uploader does not hold, a small-order key
// that "verifies" anything under lax rules), and properties over random keys and names.
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateIdentity, signWithIdentity } from '../src/identity.js';
import {
  IDENTITY_PROOF_CONTEXT,
  identityProofStatement,
  signIdentityProof,
  verifyIdentityProof,
} from '../src/identity-proof.js';
import { generateSignedPreKey } from '../src/prekeys.js';
import { hex } from './fixtures.js';

const ascii = (s: string) => hex(new TextEncoder().encode(s));

describe('identity proof statement (§4.6)', () => {
  it('is context ‖ bytes16(canonical username) ‖ IK', () => {
    const ik = new Uint8Array(32).fill(0xab);
    const statement = identityProofStatement('bob', ik);
    expect(hex(statement)).toBe(
      `${ascii('SecureDrop_IdentityOwnership_v2')}0003${ascii('bob')}${'ab'.repeat(32)}`,
    );
    expect(IDENTITY_PROOF_CONTEXT).toBe('SecureDrop_IdentityOwnership_v2');
  });

  it('names the canonical username (§11.1): ASCII case folds, NFC applies', () => {
    const ik = generateIdentity().publicKey;
    expect(hex(identityProofStatement('Bob', ik))).toBe(hex(identityProofStatement('bob', ik)));
    expect(hex(identityProofStatement('e\u0301', ik))).toBe(hex(identityProofStatement('\u00e9', ik)));
  });

  it('refuses a name with no canonical form', () => {
    const ik = generateIdentity().publicKey;
    for (const name of ['', 'a b', 'x'.repeat(65), 'a\u0000b'])
      expect(() => identityProofStatement(name, ik)).toThrow(
        expect.objectContaining({ code: expect.stringMatching(/^BAD_(FORMAT|LENGTH)$/) }),
      );
  });
});

describe('identity proof: the attacks', () => {
  const bob = generateIdentity();
  const proof = signIdentityProof(bob, 'bob');

  it("Bob's proof verifies for bob, with his key", () => {
    expect(proof).toHaveLength(64);
    expect(verifyIdentityProof(bob.publicKey, 'bob', proof)).toBe(true);
    expect(verifyIdentityProof(bob.publicKey, 'BOB', proof)).toBe(true);
  });

  it('a proof for "bob" does not verify for "mallory" (republishing his key under her name)', () => {
    expect(verifyIdentityProof(bob.publicKey, 'mallory', proof)).toBe(false);
  });

  it("mallory's own signature does not prove Bob's key, nor hers under his name", () => {
    const mallory = generateIdentity();
    const forged = signIdentityProof(mallory, 'mallory');
    expect(verifyIdentityProof(bob.publicKey, 'mallory', forged)).toBe(false);
    expect(verifyIdentityProof(mallory.publicKey, 'bob', forged)).toBe(false);
    // A statement naming Bob's key, signed by mallory's key.
    const overBobsKey = signWithIdentity(mallory, identityProofStatement('mallory', bob.publicKey));
    expect(verifyIdentityProof(bob.publicKey, 'mallory', overBobsKey)).toBe(false);
  });

  it('any flipped bit of the signature, key or name is refused', () => {
    for (let bit = 0; bit < 64 * 8; bit++) {
      const s = proof.slice();
      s[bit >> 3] = (s[bit >> 3] as number) ^ (1 << (bit & 7));
      expect(verifyIdentityProof(bob.publicKey, 'bob', s), `signature bit ${bit}`).toBe(false);
    }
    for (let bit = 0; bit < 32 * 8; bit++) {
      const k = bob.publicKey.slice();
      k[bit >> 3] = (k[bit >> 3] as number) ^ (1 << (bit & 7));
      expect(verifyIdentityProof(k, 'bob', proof), `key bit ${bit}`).toBe(false);
    }
    expect(verifyIdentityProof(bob.publicKey, 'bnb', proof)).toBe(false);
  });

  it('a small-order key whose "signature" holds for every message under lax rules is refused', () => {
    // A = R = the neutral element, S = 0: [S]B = R + [k]A holds for any message, so a
    // non-strict verifier would accept it for any name (§4.1 forbids small-order A).
    const neutral = Uint8Array.of(1, ...new Uint8Array(31));
    const sig = new Uint8Array(64);
    sig.set(neutral, 0);
    const statement = identityProofStatement('bob', neutral);
    expect(ed25519.verify(sig, statement, neutral, { zip215: true })).toBe(true); // the lax rule accepts it
    expect(verifyIdentityProof(neutral, 'bob', sig)).toBe(false);
  });

  it('a prekey signature by the same key is not a proof (separate contexts, §4.3 vs §4.6)', () => {
    const spk = generateSignedPreKey(bob, 1);
    expect(verifyIdentityProof(bob.publicKey, 'bob', spk.signature)).toBe(false);
  });

  it('malformed lengths are false, wrong types throw BAD_TYPE', () => {
    expect(verifyIdentityProof(bob.publicKey, 'bob', proof.subarray(0, 63))).toBe(false);
    expect(verifyIdentityProof(bob.publicKey.subarray(0, 31), 'bob', proof)).toBe(false);
    expect(verifyIdentityProof(bob.publicKey, '', proof)).toBe(false);
    expect(() => verifyIdentityProof(bob.publicKey, 7 as unknown as string, proof)).toThrow(
      expect.objectContaining({ code: 'BAD_TYPE' }),
    );
    expect(() => verifyIdentityProof('x' as unknown as Uint8Array, 'bob', proof)).toThrow(
      expect.objectContaining({ code: 'BAD_TYPE' }),
    );
  });
});

describe('identity proof: properties', () => {
  const name = fc.stringMatching(/^[a-z0-9][a-z0-9_]{1,30}[a-z0-9]$/);

  it('verifies for its own key and name, never for another name or key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), name, name, (seed, a, b) => {
        const id = { secretKey: seed, publicKey: ed25519.getPublicKey(seed) };
        const sig = signIdentityProof(id, a);
        expect(verifyIdentityProof(id.publicKey, a, sig)).toBe(true);
        expect(verifyIdentityProof(id.publicKey, b, sig)).toBe(a === b);
        const other = generateIdentity();
        expect(verifyIdentityProof(other.publicKey, a, sig)).toBe(false);
      }),
      { numRuns: 50 },
    );
  });
});
