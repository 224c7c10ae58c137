/**
 * Known answers for src/kdf.ts, the one path both halves of crypto-core derive keys
 * through: RFC 5869 Appendix A test cases 1–3 (HKDF-SHA-256), Wycheproof
 * hkdf_sha256_test.json, hkdf_sha512_test.json (Expand step, after Extract) and
 * hmac_sha256_test.json.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { hkdfExpandSha512, hkdfSha256, hmacSha256 } from '../src/kdf.js';
import { hex, loadWycheproof, toHex, type WycheproofTest } from './util/wycheproof.js';

// RFC 5869, Appendix A.1–A.3 (https://www.rfc-editor.org/rfc/rfc5869#appendix-A), typed in.
const RFC5869 = [
  {
    name: 'A.1 basic test case with SHA-256',
    ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
    salt: '000102030405060708090a0b0c',
    info: 'f0f1f2f3f4f5f6f7f8f9',
    length: 42,
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    name: 'A.2 longer inputs/outputs with SHA-256',
    ikm: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f',
    salt: '606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf',
    info: 'b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff',
    length: 82,
    okm: 'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
  },
  {
    name: 'A.3 zero-length salt and info with SHA-256',
    ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
    salt: '',
    info: '',
    length: 42,
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
];

describe('RFC 5869 Appendix A through hkdfSha256', () => {
  it.each(RFC5869.map((v) => [v.name, v] as const))('%s', (_, v) => {
    expect(toHex(hkdfSha256(hex(v.ikm), hex(v.salt), hex(v.info), v.length))).toBe(v.okm);
  });
});

const HKDF256 = 'hkdf_sha256_test.json';
describe('Wycheproof HKDF-SHA-256 through hkdfSha256', () => {
  const tests: WycheproofTest[] = loadWycheproof(HKDF256).testGroups.flatMap((g) => g.tests);
  it('runs all 86 vectors', () => expect(tests.length).toBe(86));
  it.each(tests.map((t) => [`tcId ${t.tcId} ${t.result}: ${t.comment}`, t] as const))('%s', (_, t) => {
    const run = () =>
      hkdfSha256(hex(t.ikm as string), hex(t.salt as string), hex(t.info as string), t.size as number);
    if (t.result === 'valid') expect(toHex(run())).toBe(t.okm);
    else expect(run).toThrow(expect.objectContaining({ code: 'BAD_LENGTH' }));
  });
});

const HKDF512 = 'hkdf_sha512_test.json';
describe('Wycheproof HKDF-SHA-512 Expand through hkdfExpandSha512', () => {
  const tests: WycheproofTest[] = loadWycheproof(HKDF512).testGroups.flatMap((g) => g.tests);
  it('runs all 83 vectors', () => expect(tests.length).toBe(83));
  it.each(tests.map((t) => [`tcId ${t.tcId} ${t.result}: ${t.comment}`, t] as const))('%s', (_, t) => {
    // Extract (RFC 5869 §2.2; an empty salt is HashLen zeros) is not part of crypto-core's
    // path; the Expand step under test is.
    const salt = hex(t.salt as string);
    const prk = hmac(sha512, salt.length > 0 ? salt : new Uint8Array(64), hex(t.ikm as string));
    const run = () => hkdfExpandSha512(prk, hex(t.info as string), t.size as number);
    if (t.result === 'valid') expect(toHex(run())).toBe(t.okm);
    else expect(run).toThrow(expect.objectContaining({ code: 'BAD_LENGTH' }));
  });
});

const HMAC = 'hmac_sha256_test.json';
describe('Wycheproof HMAC-SHA-256 through hmacSha256', () => {
  const groups = loadWycheproof(HMAC).testGroups;
  it('runs all 174 vectors', () => expect(groups.flatMap((g) => g.tests).length).toBe(174));
  const cases = groups.flatMap((g) =>
    g.tests.map(
      (t) =>
        [`tcId ${t.tcId} ${t.result} (tag ${g.tagSize} bits): ${t.comment}`, t, g.tagSize as number] as const,
    ),
  );
  it.each(cases)('%s', (_, t, tagBits) => {
    const full = hmacSha256(hex(t.key as string), hex(t.msg as string));
    const matches = toHex(full.subarray(0, tagBits / 8)) === t.tag;
    expect(matches).toBe(t.result === 'valid');
  });
});
