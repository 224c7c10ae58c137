// @ts-check
// The whole chain on real components: two clean builds of this checkout at different absolute
// paths are byte-identical; the build carries SRI and a precache table with integrity; a release
// is signed with a throwaway key (`npm run release:sign`'s script); real django-host servers
// (uvicorn, loopback, port chosen by the server) serve a correct build and one with a single
// byte changed; the verifier CLI says which.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reproducibleBuild } from '../src/build.mjs';
import { hostContentSecurityPolicy } from '../src/csp.mjs';
import {
  buildHash,
  generateReleaseKey,
  listFiles,
  precacheEntries,
  RELEASE_FILE,
  verifyRelease,
} from '../src/release.mjs';

const root = resolve(import.meta.dirname, '../..');
const verifyBin = join(root, 'verify/bin/secure-drop-verify.mjs');
const signBin = join(root, 'verify/bin/release-sign.mjs');

/** @type {string[]} */
const temporary = [];
/** @type {import('node:child_process').ChildProcess[]} */
const servers = [];
/** @type {{ a: string, b: string }} */
const dists = { a: '', b: '' };

/** @param {string} dir */
function sha256Tree(dir) {
  return Object.fromEntries(
    listFiles(dir).map((path) => [
      path,
      createHash('sha256')
        .update(readFileSync(join(dir, path)))
        .digest('hex'),
    ]),
  );
}

/** Starts django-host on a port the server picks; resolves with its URL. @param {string} dist */
async function startHost(dist) {
  /** @type {{ ensurePythonEnv(o: { log(m: string): void }): string }} */
  const pythonEnv = await import(pathToFileURL(join(root, 'scripts/python-env.mjs')).href);
  const python = pythonEnv.ensurePythonEnv({ log: () => {} });
  const child = spawn(
    python,
    ['-m', 'uvicorn', 'host.asgi:application', '--host', '127.0.0.1', '--port', '0', '--no-server-header'],
    {
      cwd: join(root, 'django-host'),
      env: { ...process.env, SECURE_DROP_PWA_DIST: dist, SECURE_DROP_RELAY_URL: 'http://127.0.0.1:9' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  servers.push(child);
  let log = '';
  return await new Promise((done, fail) => {
    /** @param {Buffer} chunk */
    const onData = (chunk) => {
      log += chunk;
      const port = /Uvicorn running on http:\/\/127\.0\.0\.1:(\d+)/.exec(log)?.[1];
      if (port) done(`http://127.0.0.1:${port}`);
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', onData);
    child.on('exit', (code) => fail(new Error(`django-host exited (${code}): ${log}`)));
  });
}

/** Runs the verifier CLI (asynchronously: the servers answer in other processes). @param {string[]} args */
function verify(args) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [verifyBin, ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('exit', (code) => done({ code, out }));
  });
}

beforeAll(() => {
  // Different absolute paths, and different depths, so a leaked path would show.
  const a = mkdtempSync(join(tmpdir(), 'sd-repro-a-'));
  const b = join(mkdtempSync(join(tmpdir(), 'sd-repro-bb-')), 'one', 'level', 'deeper');
  temporary.push(a, b);
  dists.a = reproducibleBuild({ workDir: a }).dist;
  // B is built as a compose deployment is: with its signed release.json in pwa/public/
  // (verify/README.md "Deploying a release"), which must leave every other byte unchanged.
  dists.b = reproducibleBuild({
    workDir: b,
    prepare: (dir) =>
      writeFileSync(join(dir, 'pwa/public', RELEASE_FILE), '{"manifest":{},"signatures":{}}\n'),
  }).dist;
});

afterAll(() => {
  for (const server of servers) server.kill('SIGTERM');
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

describe('reproducible build', () => {
  it('builds byte-identical pwa/dist in two clean directories at different absolute paths', () => {
    const a = sha256Tree(dists.a);
    const b = sha256Tree(dists.b);
    expect(Object.keys(a).length).toBeGreaterThan(10);
    expect(b).toEqual(a);
    for (const required of ['/index.html', '/sw.js', '/manifest.webmanifest'])
      expect(a[required]).toBeDefined();
    expect(existsSync(join(dists.b, RELEASE_FILE))).toBe(true);
    expect(readFileSync(join(dists.b, 'sw.js'), 'utf8')).not.toContain(RELEASE_FILE);
  });

  it('leaks no absolute path of the build directory into any file', () => {
    for (const path of listFiles(dists.a)) {
      const text = readFileSync(join(dists.a, path)).toString('latin1');
      expect(text.includes(dists.a.replace(/\/pwa\/dist$/, '')), path).toBe(false);
      expect(text.includes(root), path).toBe(false);
    }
  });

  it('puts SRI on every script and stylesheet index.html loads, matching the built file', () => {
    const html = readFileSync(join(dists.a, 'index.html'), 'utf8');
    const tags = [...html.matchAll(/<(script|link)\b[^>]*>/g)].map((m) => m[0]);
    const loading = tags.filter((t) => t.startsWith('<script') || /rel="(stylesheet|modulepreload)"/.test(t));
    expect(loading.length).toBeGreaterThanOrEqual(2);
    for (const tag of loading) {
      const url = /\s(?:src|href)="([^"]+)"/.exec(tag)?.[1] ?? '';
      const integrity = /\sintegrity="sha384-([^"]+)"/.exec(tag)?.[1];
      expect(integrity, tag).toBeDefined();
      const actual = createHash('sha384')
        .update(readFileSync(join(dists.a, url)))
        .digest('base64');
      expect(actual, url).toBe(integrity);
    }
  });

  it("gives every precache entry the SHA-256 of its file, so sw.js commits to the app's code", () => {
    const entries = precacheEntries(readFileSync(join(dists.a, 'sw.js'), 'utf8'));
    expect(entries.map((e) => e.url)).toContain('index.html');
    expect(entries.map((e) => e.url)).toContain('manifest.webmanifest');
    for (const entry of entries) {
      const actual = createHash('sha256')
        .update(readFileSync(join(dists.a, entry.url)))
        .digest('base64');
      expect(entry.integrity, entry.url).toBe(`sha256-${actual}`);
    }
    expect(buildHash(entries)).toMatch(/^[0-9a-f]{64}$/);
  });
});

/**
 * A release key whose public half starts with '-', as one base64url key in 64 does: a command
 * line parser takes such a value for an option unless the CLI says otherwise, so every run
 * exercises it instead of one run in 64.
 */
function dashLeadingReleaseKey() {
  for (;;) {
    const key = generateReleaseKey();
    if (key.publicKey.startsWith('-')) return key;
  }
}

describe('signed release and the verifier against real django-host servers', () => {
  const key = dashLeadingReleaseKey();
  /** @type {{ good: string, tampered: string, foreign: string }} */
  const urls = { good: '', tampered: '', foreign: '' };
  let changedFile = '';

  beforeAll(async () => {
    // `npm run release:sign` with a throwaway key from the environment (never a file in the tree).
    const signed = spawnSync(
      process.execPath,
      [signBin, '--dist', dists.a, '--unpublished-key', '--allow-dirty'],
      {
        cwd: root,
        env: { ...process.env, SECURE_DROP_RELEASE_KEY: key.secretKey },
        encoding: 'utf8',
      },
    );
    expect(signed.status, signed.stderr).toBe(0);
    expect(signed.stdout).toContain(key.publicKey);
    expect(signed.stdout + signed.stderr).not.toContain(key.secretKey);

    // The same build with one byte of the main bundle changed, under the same signed manifest.
    const tampered = mkdtempSync(join(tmpdir(), 'sd-tampered-'));
    temporary.push(tampered);
    cpSync(dists.a, tampered, { recursive: true });
    const main = readdirSync(join(tampered, 'assets')).find((f) => /^index-.*\.js$/.test(f)) ?? '';
    changedFile = `/assets/${main}`;
    const bytes = readFileSync(join(tampered, changedFile));
    bytes[100] = (bytes[100] ?? 0) ^ 0x01;
    writeFileSync(join(tampered, changedFile), bytes);

    // A deployment that signs its own manifest with a key nobody published.
    const foreign = mkdtempSync(join(tmpdir(), 'sd-foreign-'));
    temporary.push(foreign);
    cpSync(tampered, foreign, { recursive: true });
    const other = generateReleaseKey();
    const resigned = spawnSync(
      process.execPath,
      [signBin, '--dist', foreign, '--unpublished-key', '--allow-dirty'],
      {
        cwd: root,
        env: { ...process.env, SECURE_DROP_RELEASE_KEY: other.secretKey },
        encoding: 'utf8',
      },
    );
    expect(resigned.status, resigned.stderr).toBe(0);

    [urls.good, urls.tampered, urls.foreign] = await Promise.all([
      startHost(dists.a),
      startHost(tampered),
      startHost(foreign),
    ]);
  });

  it('signs a manifest of every file with the CSP the host sends, the commit and the version', async () => {
    const { manifest } = verifyRelease(readFileSync(join(dists.a, 'release.json')), [key.publicKey]);
    expect(Object.keys(manifest.files).sort()).toEqual(listFiles(dists.a));
    expect(manifest.default_csp).toBe(await hostContentSecurityPolicy());
    expect(manifest.default_csp).toContain("require-trusted-types-for 'script'");
    expect(manifest.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(manifest.version).toBe(JSON.parse(readFileSync(join(root, 'pwa/package.json'), 'utf8')).version);
  });

  it('passes a deployment serving exactly the signed build, compared with a second local build', async () => {
    const { code, out } = /** @type {{ code: number, out: string }} */ (
      await verify([urls.good, '--key', key.publicKey, '--local', dists.b])
    );
    expect(out).toContain('Result: OK');
    expect(out).toContain('local reproducible build: identical');
    expect(out).not.toContain('✗');
    expect(code).toBe(0);
  });

  it('names the one file that differs when a single byte was changed', async () => {
    const { code, out } = /** @type {{ code: number, out: string }} */ (
      await verify([urls.tampered, '--key', key.publicKey, '--local', dists.b])
    );
    expect(code).toBe(1);
    expect(out).toContain('Result: DIFFERENT');
    const differing = out.split('\n').filter((line) => line.includes('DIFFERS'));
    expect(differing).toHaveLength(1);
    expect(differing[0]).toContain(changedFile);
    // The manifest itself is authentic, and still matches the local build.
    expect(out).toContain('✓ release manifest');
    expect(out).toContain('local reproducible build: identical');
  });

  it('refuses a deployment whose manifest is signed by an unpublished key', async () => {
    const { code, out } = /** @type {{ code: number, out: string }} */ (
      await verify([urls.foreign, '--key', key.publicKey, '--no-build'])
    );
    expect(code).toBe(2);
    expect(out).toContain('CANNOT VERIFY');
    expect(out).toContain('no valid signature');
  });

  it('checks that the deployment sends the CSP with Trusted Types and the shell as built', async () => {
    const response = await fetch(`${urls.good}/chats`);
    expect(response.headers.get('content-security-policy')).toContain("require-trusted-types-for 'script'");
    expect(
      createHash('sha256')
        .update(new Uint8Array(await response.arrayBuffer()))
        .digest('hex'),
    ).toBe(sha256Tree(dists.b)['/index.html']);
  });

  it('names the shell or service worker served with headers that change what runs, though their bytes match', async () => {
    // Only the bytes are signed. A server that sends the signed shell without its policy (no
    // Trusted Types in the installed app) or with a Refresh to a page of its own must not pass.
    for (const [change, expected] of /** @type {const} */ ([
      [
        (/** @type {Headers} */ h) => h.delete('content-security-policy'),
        /\/index\.html\s+HEADERS: Content-Security-Policy "\(none\)"/,
      ],
      [
        (/** @type {Headers} */ h) => h.set('refresh', '0; url=/api/evil'),
        /\/index\.html\s+HEADERS: a Refresh header/,
      ],
    ])) {
      const front = await proxyAltering(urls.good, '/index.html', change);
      try {
        const { code, out } = /** @type {{ code: number, out: string }} */ (
          await verify([front.url, '--key', key.publicKey, '--no-build'])
        );
        expect(out).toMatch(expected);
        expect(out).toContain('Result: DIFFERENT');
        expect(code).toBe(1);
      } finally {
        await front.close();
      }
    }
  });
});

/**
 * A front for `upstream` that changes the headers of the response for `path` with `change`
 * (a compromised server: the same bytes, other headers).
 * @param {string} upstream @param {string} path @param {(h: Headers) => void} change
 */
async function proxyAltering(upstream, path, change) {
  const server = createServer(async (req, res) => {
    const answer = await fetch(`${upstream}${req.url}`, { headers: { 'cache-control': 'no-cache' } });
    const headers = new Headers(answer.headers);
    headers.delete('content-encoding');
    headers.delete('content-length');
    if (new URL(req.url ?? '/', upstream).pathname === path) change(headers);
    /** @type {Record<string, string>} */
    const out = {};
    headers.forEach((value, name) => {
      out[name] = value;
    });
    res.writeHead(answer.status, out);
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}
