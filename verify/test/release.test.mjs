// @ts-check
// The signed release manifest: sign/verify round trip with a throwaway key, and every way a
// server could pass off something else (another key, a changed field, a hostile shape).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildHash,
  canonicalBytes,
  generateReleaseKey,
  publicKeyOf,
  ReleaseError,
  signRelease,
  validateManifest,
  verifyRelease,
} from '../src/release.mjs';

const DIGEST = 'A'.repeat(43);

/** @returns {import('../src/release.mjs').Manifest} */
function sample() {
  return {
    app: 'https://example.org/secure-drop',
    version: '0.1.0',
    commit: '0123456789abcdef0123456789abcdef01234567',
    default_csp: "default-src 'none'; require-trusted-types-for 'script'",
    default_index: 'index.html',
    default_fallback: '/index.html',
    files: { '/index.html': DIGEST, '/sw.js': 'B'.repeat(43), '/assets/app-1.js': 'C'.repeat(43) },
    wasm: [],
    build_hash: 'a'.repeat(64),
  };
}

/** @param {unknown} value */
const json = (value) => JSON.stringify(value);

describe('release manifest signatures', () => {
  const key = generateReleaseKey();

  it('verifies what the release key signed, and names the signer', () => {
    const signed = signRelease(sample(), key.secretKey);
    expect(publicKeyOf(key.secretKey)).toBe(key.publicKey);
    const { manifest, signer } = verifyRelease(json(signed), [key.publicKey]);
    expect(manifest).toEqual(sample());
    expect(signer).toBe(key.publicKey);
  });

  it('signs the RFC 8785 canonical form, so key order and whitespace do not matter', () => {
    const signed = signRelease(sample(), key.secretKey);
    const reordered = {
      signatures: signed.signatures,
      manifest: Object.fromEntries(Object.entries(signed.manifest).reverse()),
    };
    expect(verifyRelease(JSON.stringify(reordered, null, 4), [key.publicKey]).signer).toBe(key.publicKey);
    expect(new TextDecoder().decode(canonicalBytes(sample()))).toMatch(/^\{"app":/);
  });

  it('refuses a manifest signed by a key that is not trusted (a server signing its own)', () => {
    const other = generateReleaseKey();
    const signed = signRelease(sample(), other.secretKey);
    expect(() => verifyRelease(json(signed), [key.publicKey])).toThrow(/no valid signature/);
  });

  it('refuses a manifest with no signatures at all', () => {
    expect(() => verifyRelease(json({ manifest: sample() }), [key.publicKey])).toThrow(ReleaseError);
  });

  it('refuses any change to any signed field (property)', () => {
    const signed = signRelease(sample(), key.secretKey);
    const fields = /** @type {const} */ (['app', 'version', 'commit', 'default_csp', 'build_hash']);
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.string({ minLength: 1, maxLength: 40 }), (field, value) => {
        const changed = {
          ...signed.manifest,
          [field]: field === 'build_hash' ? 'b'.repeat(64) : `${value}x`,
        };
        if (changed[field] === signed.manifest[field]) return;
        expect(() => verifyRelease(json({ ...signed, manifest: changed }), [key.publicKey])).toThrow(
          ReleaseError,
        );
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a changed file digest, an added file and a removed file', () => {
    const signed = signRelease(sample(), key.secretKey);
    const variants = [
      { ...signed.manifest.files, '/assets/app-1.js': 'D'.repeat(43) },
      { ...signed.manifest.files, '/assets/extra.js': DIGEST },
      Object.fromEntries(Object.entries(signed.manifest.files).filter(([p]) => p !== '/assets/app-1.js')),
    ];
    for (const files of variants) {
      expect(() =>
        verifyRelease(json({ ...signed, manifest: { ...signed.manifest, files } }), [key.publicKey]),
      ).toThrow(/no valid signature/);
    }
  });

  it('refuses a flipped signature bit and a signature of the wrong length', () => {
    const signed = signRelease(sample(), key.secretKey);
    const sig = Buffer.from(signed.signatures[key.publicKey] ?? '', 'base64url');
    sig[10] = (sig[10] ?? 0) ^ 1;
    const flipped = { ...signed, signatures: { [key.publicKey]: sig.toString('base64url') } };
    expect(() => verifyRelease(json(flipped), [key.publicKey])).toThrow(/no valid signature/);
    const short = { ...signed, signatures: { [key.publicKey]: sig.subarray(0, 63).toString('base64url') } };
    expect(() => verifyRelease(json(short), [key.publicKey])).toThrow(/no valid signature/);
  });
});

describe('hostile manifests are refused before any signature work', () => {
  const cases = /** @type {[string, (m: Record<string, any>) => unknown][]} */ ([
    ['a path that climbs out', (m) => ({ ...m, files: { ...m.files, '/../etc/passwd': DIGEST } })],
    ['a relative path', (m) => ({ ...m, files: { ...m.files, 'assets/x.js': DIGEST } })],
    ['a digest that is not SHA-256', (m) => ({ ...m, files: { ...m.files, '/index.html': 'abc' } })],
    ['a missing index', (m) => ({ ...m, default_index: 'nope.html' })],
    ['an unknown field', (m) => ({ ...m, run_this: 'x' })],
    ['a non-string version', (m) => ({ ...m, version: 1 })],
    ['a build hash that is not hex', (m) => ({ ...m, build_hash: 'z'.repeat(64) })],
    [
      'too many files',
      (m) => ({
        ...m,
        files: Object.fromEntries(Array.from({ length: 2001 }, (_, i) => [`/f${i}`, DIGEST])),
      }),
    ],
  ]);
  it.each(cases)('%s', (_name, mutate) => {
    expect(() => validateManifest(mutate(sample()))).toThrow(ReleaseError);
  });

  it('refuses a document that is not JSON or is too large', () => {
    expect(() => verifyRelease('{nope', ['x'])).toThrow(/not JSON/);
    expect(() => verifyRelease(' '.repeat(1024 * 1024 + 1), ['x'])).toThrow(/too large/);
  });
});

describe('build hash', () => {
  it('does not depend on the order of the precache table, and changes with any entry', () => {
    const a = { url: 'index.html', integrity: 'sha256-AAAA' };
    const b = { url: 'assets/x.js', integrity: 'sha256-BBBB' };
    expect(buildHash([a, b])).toBe(buildHash([b, a]));
    expect(buildHash([a, b])).not.toBe(buildHash([a, { ...b, integrity: 'sha256-BBBC' }]));
    expect(buildHash([a, b])).toMatch(/^[0-9a-f]{64}$/);
  });
});
