// @ts-check
// The verifier's boundaries: which URLs it will check, and how a build comparison reports.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkDeployment,
  compareWithBuild,
  deploymentMatches,
  deploymentOrigin,
} from '../src/deployment.mjs';
import { createManifest, generateReleaseKey, RELEASE_FILE, signRelease } from '../src/release.mjs';

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

/**
 * A small signed deployment on loopback, served from a directory, with `serve` deciding the
 * answer per request (a compromised server): it may change headers, or bytes, by request.
 */
describe('checkDeployment against a server that answers some requests differently', () => {
  const CSP = "default-src 'none'; require-trusted-types-for 'script'";
  const key = generateReleaseKey();
  const dist = mkdtempSync(join(tmpdir(), 'sd-verify-unit-'));
  /** @type {(req: import('node:http').IncomingMessage, headers: Record<string, string>, body: Buffer) => { headers: Record<string, string>, body: Buffer }} */
  let serve = (_req, headers, body) => ({ headers, body });
  /** @type {import('node:http').Server} */
  let server;
  let origin = '';

  beforeAll(async () => {
    const sri = (/** @type {string} */ text) =>
      `sha256-${createHash('sha256').update(text).digest('base64')}`;
    const index = '<!doctype html><script type="module" src="/assets/app.js"></script>';
    const app = 'export {};';
    mkdirSync(join(dist, 'assets'));
    writeFileSync(join(dist, 'index.html'), index);
    writeFileSync(join(dist, 'assets/app.js'), app);
    const table = [
      { integrity: sri(app), revision: null, url: 'assets/app.js' },
      { integrity: sri(index), revision: 'abc123', url: 'index.html' },
    ];
    writeFileSync(join(dist, 'sw.js'), `self.m=${JSON.stringify(table)};`);
    const manifest = createManifest({ dist, app: 'x', version: '1', commit: 'c'.repeat(40), csp: CSP });
    writeFileSync(join(dist, RELEASE_FILE), JSON.stringify(signRelease(manifest, key.secretKey)));
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const file = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
      let body;
      try {
        body = readFileSync(join(dist, file));
      } catch {
        res.writeHead(404).end();
        return;
      }
      const answer = serve(req, { 'content-security-policy': CSP }, body);
      res.writeHead(200, answer.headers).end(answer.body);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
    origin = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(() => resolve(undefined)));
    rmSync(dist, { recursive: true, force: true });
  });

  it('passes the deployment as built', async () => {
    serve = (_req, headers, body) => ({ headers, body });
    const report = await checkDeployment(origin, [key.publicKey]);
    expect(report.files).toEqual([]);
    expect(deploymentMatches(report)).toBe(true);
  });

  it('names a Link header on the shell: a modulepreload it names skips the integrity index.html gives', async () => {
    // The browser puts the module into the page's module map unchecked; the page's own
    // <link rel=modulepreload integrity> and import() of that URL then take the map's copy.
    serve = (_req, headers, body) => ({
      headers: { ...headers, link: '</assets/app.js>; rel=modulepreload' },
      body,
    });
    const report = await checkDeployment(origin, [key.publicKey]);
    expect(report.files.filter((f) => f.problem === 'headers').map((f) => f.path)).toEqual(
      expect.arrayContaining(['/index.html', '/']),
    );
    expect(report.files.find((f) => f.path === '/')?.detail).toMatch(/Link header/);
    expect(deploymentMatches(report)).toBe(false);
  });

  it("checks the shell as the service worker's install fetches and keeps it (workbox's revision query)", async () => {
    // Every installing worker asks for /index.html?__WB_REVISION__=…; a server that sends the
    // signed headers everywhere else but not there leaves the installed app without its policy.
    serve = (req, headers, body) =>
      req.url?.includes('__WB_REVISION__') ? { headers: {}, body } : { headers, body };
    const report = await checkDeployment(origin, [key.publicKey]);
    expect(report.files).toEqual([
      expect.objectContaining({ path: '/index.html?__WB_REVISION__=abc123', problem: 'headers' }),
    ]);
    expect(deploymentMatches(report)).toBe(false);

    serve = (req, headers, body) =>
      req.url?.includes('__WB_REVISION__')
        ? { headers, body: Buffer.from('<!doctype html>evil') }
        : { headers, body };
    const changed = await checkDeployment(origin, [key.publicKey]);
    expect(changed.files).toEqual([
      expect.objectContaining({ path: '/index.html?__WB_REVISION__=abc123', problem: 'differs' }),
    ]);
  });

  it('fetches sw.js as a browser does, so a server cannot keep the Service-Worker request header for itself', async () => {
    serve = (req, headers, body) =>
      req.url === '/sw.js' && req.headers['service-worker'] === 'script'
        ? { headers, body: Buffer.from(`${body};importScripts('/evil.js')`) }
        : { headers, body };
    const report = await checkDeployment(origin, [key.publicKey]);
    expect(report.files).toEqual([expect.objectContaining({ path: '/sw.js', problem: 'differs' })]);
  });
});
