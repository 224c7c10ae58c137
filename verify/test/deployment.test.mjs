// @ts-check
// The verifier's boundaries: which URLs it will check, and how a build comparison reports.
import { describe, expect, it } from 'vitest';
import { compareWithBuild, deploymentMatches, deploymentOrigin } from '../src/deployment.mjs';

describe('deploymentOrigin', () => {
  it.each([
    ['https://chat.example.org/some/page?x=1', 'https://chat.example.org'],
    ['http://127.0.0.1:8000/', 'http://127.0.0.1:8000'],
    ['http://localhost:3000', 'http://localhost:3000'],
  ])('%s → %s', (url, origin) => {
    expect(deploymentOrigin(url)).toBe(origin);
  });

  it.each(['http://chat.example.org', 'ftp://example.org', 'file:///etc/passwd', 'not a url'])(
    'refuses %s',
    (url) => {
      expect(() => deploymentOrigin(url)).toThrow();
    },
  );
});

describe('compareWithBuild', () => {
  const manifest = /** @type {import('../src/release.mjs').Manifest} */ (
    /** @type {unknown} */ ({
      files: { '/index.html': 'A'.repeat(43), '/sw.js': 'B'.repeat(43) },
    })
  );
  it('reports nothing for an identical build', () => {
    expect(compareWithBuild(manifest, { '/index.html': 'A'.repeat(43), '/sw.js': 'B'.repeat(43) })).toEqual(
      [],
    );
  });
  it('names a differing, a missing and an extra file', () => {
    const findings = compareWithBuild(manifest, {
      '/index.html': 'C'.repeat(43),
      '/extra.js': 'D'.repeat(43),
    });
    expect(findings.map((f) => [f.path, f.problem])).toEqual([
      ['/index.html', 'differs'],
      ['/extra.js', 'missing'],
      ['/sw.js', 'unlisted'],
    ]);
  });
});

describe('deploymentMatches', () => {
  const base = {
    origin: 'https://x',
    manifest: /** @type {any} */ ({}),
    signer: 'k',
    manifestError: null,
    files: [],
    csp: { expected: 'a', actual: 'a' },
    buildHash: { expected: 'h', actual: 'h' },
    checked: 3,
  };
  it('is true only when files, CSP and build hash all match', () => {
    expect(deploymentMatches(base)).toBe(true);
    expect(deploymentMatches({ ...base, csp: { expected: 'a', actual: 'b' } })).toBe(false);
    expect(deploymentMatches({ ...base, csp: { expected: 'a', actual: null } })).toBe(false);
    expect(deploymentMatches({ ...base, buildHash: { expected: 'h', actual: 'g' } })).toBe(false);
    expect(deploymentMatches({ ...base, files: [{ path: '/x', problem: 'differs' }] })).toBe(false);
    expect(deploymentMatches({ ...base, manifest: null })).toBe(false);
  });
});
