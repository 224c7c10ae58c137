// Known-answer tests for the handshake's public-key code paths: RFC 7748 (X25519 and the
// low-order rule), Wycheproof x25519_test.json through dh(), Wycheproof ed25519_test.json
// through verifyIdentitySignature (strict), and the Ed25519 → X25519 identity map.
import { x25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { deterministicRandom } from '../scripts/deterministic-random.js';
import { assertCanonicalX25519, dh, dhWith, generateX25519With } from '../src/dh.js';
import { CryptoCoreError } from '../src/errors.js';
import {
  assertIdentityPublicKey,
  generateIdentity,
  signWithIdentity,
  verifyIdentitySignature,
} from '../src/identity.js';
import { identityDhPublic, identityDhSecret } from '../src/identity-dh.js';
import { defaultX25519, nobleX25519, webCryptoX25519 } from '../src/x25519-backend.js';
import { hex, unhex } from './fixtures.js';
import { loadWycheproof } from './util/wycheproof.js';

describe('X25519 (RFC 7748) through dh()', () => {
  // RFC 7748 §5.2, first test vector.
  it('§5.2 vector 1', () => {
    const k = unhex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
    const u = unhex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
    expect(hex(dh(k, u))).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
  });

  // RFC 7748 §5.2, second vector: its u has the top bit set. RFC 7748 masks it; the
  // protocol refuses non-canonical keys (spec §5.2), and with the bit cleared gets the RFC result.
  it('§5.2 vector 2: refused as non-canonical, RFC output once masked', () => {
    const k = unhex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d');
    const u = unhex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493');
    expect(() => dh(k, u)).toThrow(expect.objectContaining({ code: 'BAD_KEY' }));
    const masked = u.slice();
    masked[31] = (masked[31] as number) & 0x7f;
    expect(hex(dh(k, masked))).toBe('95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957');
  });

  // RFC 7748 §6.1: Alice and Bob's key pairs and their shared secret.
  it('§6.1 Diffie-Hellman', () => {
    const a = unhex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const b = unhex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    const aPub = x25519.getPublicKey(a);
    const bPub = x25519.getPublicKey(b);
    expect(hex(aPub)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(hex(bPub)).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const k = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(hex(dh(a, bPub))).toBe(k);
    expect(hex(dh(b, aPub))).toBe(k);
  });

  it('rejects the all-zero and low-order u-coordinates (RFC 7748 §6.1)', () => {
    const k = new Uint8Array(32).fill(3);
    for (const u of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))])
      expect(() => dh(k, u)).toThrow(expect.objectContaining({ code: 'BAD_KEY' }));
  });
});

describe('Wycheproof x25519_test.json through dh()', () => {
  const data = loadWycheproof('x25519_test.json');
  it('valid match; zero-shared and non-canonical rejected', () => {
    let valid = 0;
    let rejected = 0;
    for (const g of data.testGroups) {
      for (const t of g.tests as unknown as {
        tcId: number;
        public: string;
        private: string;
        shared: string;
        result: string;
        flags: string[];
      }[]) {
        const pub = unhex(t.public);
        const priv = unhex(t.private);
        let nonCanonical = false;
        try {
          assertCanonicalX25519(pub);
        } catch {
          nonCanonical = true;
        }
        if (t.flags.includes('ZeroSharedSecret') || nonCanonical) {
          expect(() => dh(priv, pub), `tcId ${t.tcId}`).toThrow(CryptoCoreError);
          rejected++;
        } else {
          // valid and the remaining 'acceptable' (twist points etc.) compute the listed value
          expect(hex(dh(priv, pub)), `tcId ${t.tcId}`).toBe(t.shared);
          if (t.result === 'valid') valid++;
        }
      }
    }
    expect(valid).toBe(264);
    expect(rejected).toBe(44);
  });
});

describe('X25519 backends of the ratchet (WebCrypto and noble)', () => {
  const data = loadWycheproof('x25519_test.json');
  const backends = [nobleX25519, webCryptoX25519];

  it('WebCrypto is the default where it works (Node ≥ 20)', async () => {
    expect((await defaultX25519()).name).toBe('webcrypto');
  });

  it.each(backends.map((b) => [b.name, b] as const))(
    '%s: RFC 7748 §6.1 and key generation match noble',
    async (_, b) => {
      const a = unhex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
      const bPub = unhex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
      expect(hex(await dhWith(b, a, bPub))).toBe(
        '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
      );
      const r1 = deterministicRandom('backend keygen');
      const r2 = deterministicRandom('backend keygen');
      for (let i = 0; i < 8; i++) {
        const k = await generateX25519With(r1, b);
        expect(hex(k.publicKey)).toBe(hex(x25519.getPublicKey(r2(32))));
      }
    },
  );

  it.each(backends.map((b) => [b.name, b] as const))(
    '%s: every Wycheproof case gives the same result as dh()',
    async (_, b) => {
      let n = 0;
      for (const g of data.testGroups) {
        for (const t of g.tests as unknown as { tcId: number; public: string; private: string }[]) {
          const pub = unhex(t.public);
          const priv = unhex(t.private);
          let expected: string;
          try {
            expected = hex(dh(priv, pub));
          } catch (e) {
            await expect(dhWith(b, priv, pub), `tcId ${t.tcId}`).rejects.toMatchObject({
              code: (e as CryptoCoreError).code,
            });
            n++;
            continue;
          }
          expect(hex(await dhWith(b, priv, pub)), `tcId ${t.tcId}`).toBe(expected);
          n++;
        }
      }
      expect(n).toBe(518);
    },
  );
});

describe('Wycheproof ed25519_test.json through verifyIdentitySignature (strict)', () => {
  const data = loadWycheproof('ed25519_test.json');
  it('every valid verifies, every invalid is rejected', () => {
    let valid = 0;
    let invalid = 0;
    for (const g of data.testGroups) {
      const pk = unhex((g.publicKey as { pk: string }).pk);
      for (const t of g.tests as unknown as { tcId: number; msg: string; sig: string; result: string }[]) {
        const run = () => verifyIdentitySignature(pk, unhex(t.msg), unhex(t.sig));
        if (t.result === 'valid') {
          expect(run, `tcId ${t.tcId}`).not.toThrow();
          valid++;
        } else {
          expect(run, `tcId ${t.tcId}`).toThrow(CryptoCoreError);
          invalid++;
        }
      }
    }
    expect(valid).toBe(88);
    expect(invalid).toBe(63);
  });
});

describe('identity key', () => {
  it('X25519 form: the birational map of the public key matches the secret scalar', () => {
    const id = generateIdentity();
    expect(hex(x25519.getPublicKey(identityDhSecret(id)))).toBe(hex(identityDhPublic(id.publicKey)));
  });

  it('rejects small-order, non-canonical and off-curve identity keys', () => {
    const identityPoint = Uint8Array.of(1, ...new Uint8Array(31)); // the neutral element
    const nonCanonical = new Uint8Array(32).fill(0xff); // y ≥ p
    nonCanonical[31] = 0x7f;
    for (const k of [identityPoint, nonCanonical, new Uint8Array(32)])
      expect(() => assertIdentityPublicKey(k)).toThrow(expect.objectContaining({ code: 'BAD_KEY' }));
  });

  it('a signature over other bytes or by another key is BAD_SIGNATURE', () => {
    const a = generateIdentity();
    const b = generateIdentity();
    const sig = signWithIdentity(a, Uint8Array.of(1, 2, 3));
    expect(() => verifyIdentitySignature(a.publicKey, Uint8Array.of(1, 2, 3), sig)).not.toThrow();
    expect(() => verifyIdentitySignature(a.publicKey, Uint8Array.of(1, 2, 4), sig)).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    );
    expect(() => verifyIdentitySignature(b.publicKey, Uint8Array.of(1, 2, 3), sig)).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    );
  });
});
