/**
 * Safety numbers (spec/protocol.md §11): libsignal's published fingerprint vectors, the
 * spec/vectors file, and properties — both sides see the same 60 digits, QR payloads match
 * each other and nothing else, and any change of key or username changes the number.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../src/bytes.js';
import { CryptoCoreError } from '../src/errors.js';
import {
  compareSafetyQr,
  computeSafetyNumber,
  fingerprintCanonicalUsername,
  fingerprintDigits,
  fingerprintHash,
  SAFETY_QR_BYTES,
} from '../src/safety-number.js';
import { hex, toHex } from './util/wycheproof.js';

// libsignal rust/protocol/src/fingerprint.rs, test fingerprint_test_v1 (= Java
// testVectorsVersion1): 33-byte Curve25519 identity keys, phone numbers as stable ids.
const LIBSIGNAL = {
  aliceKey: hex('0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868'),
  bobKey: hex('05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b'),
  aliceId: '+14152222222',
  bobId: '+14153333333',
  display: '300354477692869396892869876765458257569162576843440918079131',
  aliceScannable: '1e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df',
  bobScannable: 'd62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d',
};

describe('safety numbers: libsignal known answers', () => {
  it('reproduces the fingerprint hashes and the 60 displayed digits', () => {
    const a = fingerprintHash(LIBSIGNAL.aliceKey, utf8(LIBSIGNAL.aliceId));
    const b = fingerprintHash(LIBSIGNAL.bobKey, utf8(LIBSIGNAL.bobId));
    expect(toHex(a.subarray(0, 32))).toBe(LIBSIGNAL.aliceScannable);
    expect(toHex(b.subarray(0, 32))).toBe(LIBSIGNAL.bobScannable);
    const [x, y] = [fingerprintDigits(a), fingerprintDigits(b)].sort();
    expect(`${x}${y}`).toBe(LIBSIGNAL.display);
  });

  it('computeSafetyNumber gives the same digits from both sides', () => {
    const alice = { username: LIBSIGNAL.aliceId, identityKey: LIBSIGNAL.aliceKey };
    const bob = { username: LIBSIGNAL.bobId, identityKey: LIBSIGNAL.bobKey };
    const fromAlice = computeSafetyNumber(alice, bob);
    expect(fromAlice.digits).toBe(LIBSIGNAL.display);
    expect(computeSafetyNumber(bob, alice).digits).toBe(LIBSIGNAL.display);
    expect(fromAlice.groups).toHaveLength(12);
    expect(toHex(fromAlice.qrPayload)).toBe(`01${LIBSIGNAL.aliceScannable}${LIBSIGNAL.bobScannable}`);
  });
});

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const username = fc.stringMatching(/^[a-z0-9_]{1,32}$/);
const party = fc.record({ username, identityKey: key });

describe('safety numbers: properties', () => {
  it('both sides see the same 60 digits and their QR payloads match each other', () => {
    fc.assert(
      fc.property(party, party, (a, b) => {
        const fromA = computeSafetyNumber(a, b);
        const fromB = computeSafetyNumber(b, a);
        expect(fromA.digits).toBe(fromB.digits);
        expect(fromA.digits).toMatch(/^\d{60}$/);
        expect(fromA.qrPayload).toHaveLength(SAFETY_QR_BYTES);
        expect(compareSafetyQr(fromA, fromB.qrPayload)).toBe('match');
        expect(compareSafetyQr(fromB, fromA.qrPayload)).toBe('match');
      }),
      { numRuns: 15 },
    );
  });

  it('any change of a key or username changes the number and gives a mismatch', () => {
    fc.assert(
      fc.property(party, party, fc.nat(), fc.integer({ min: 0, max: 3 }), (a, b, pos, which) => {
        fc.pre(a.username !== b.username);
        const base = computeSafetyNumber(a, b);
        const flip = (k: Uint8Array) => {
          const c = k.slice();
          c[pos % 32] = (c[pos % 32] as number) ^ (1 << (pos % 8));
          return c;
        };
        const a2 = { ...a };
        const b2 = { ...b };
        if (which === 0) a2.identityKey = flip(a.identityKey);
        if (which === 1) b2.identityKey = flip(b.identityKey);
        if (which === 2) a2.username = `${a.username}x`;
        if (which === 3) b2.username = `${b.username}x`;
        // The peer's (attacked) view: it computes with the changed inputs.
        const peer = computeSafetyNumber(b2, a2);
        expect(peer.digits).not.toBe(base.digits);
        expect(compareSafetyQr(base, peer.qrPayload)).toBe('mismatch');
        expect(compareSafetyQr(peer, base.qrPayload)).toBe('mismatch');
      }),
      { numRuns: 15 },
    );
  });

  it('a payload compared with itself is a mismatch (no reflection)', () => {
    const n = computeSafetyNumber(
      { username: 'alice', identityKey: new Uint8Array(32).fill(1) },
      {
        username: 'bob',
        identityKey: new Uint8Array(32).fill(2),
      },
    );
    expect(compareSafetyQr(n, n.qrPayload)).toBe('mismatch');
  });

  it('usernames differing only in ASCII case give the same number', () => {
    const k = new Uint8Array(32).fill(3);
    const m = new Uint8Array(32).fill(4);
    expect(
      computeSafetyNumber({ username: 'Alice', identityKey: k }, { username: 'BOB', identityKey: m }).digits,
    ).toBe(
      computeSafetyNumber({ username: 'alice', identityKey: k }, { username: 'bob', identityKey: m }).digits,
    );
    expect(fingerprintCanonicalUsername('ÄlIce')).toBe('Älice');
  });

  it('rejects other versions and malformed payloads with typed errors', () => {
    const n = computeSafetyNumber(
      { username: 'a', identityKey: new Uint8Array(32) },
      {
        username: 'b',
        identityKey: new Uint8Array(32).fill(9),
      },
    );
    const v2 = n.qrPayload.slice();
    v2[0] = 2;
    expect(() => compareSafetyQr(n, v2)).toThrow(expect.objectContaining({ code: 'VERSION_MISMATCH' }));
    expect(() => compareSafetyQr(n, n.qrPayload.subarray(0, 64))).toThrow(
      expect.objectContaining({ code: 'BAD_FORMAT' }),
    );
    expect(() => compareSafetyQr(n, new Uint8Array([1, ...n.qrPayload.subarray(1), 0]))).toThrow(
      expect.objectContaining({ code: 'BAD_FORMAT' }),
    );
    expect(() => compareSafetyQr(n, new Uint8Array(0))).toThrow(CryptoCoreError);
  });
});
