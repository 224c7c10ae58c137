// The update prompt: a new version deployed while the app is open installs and WAITS; the
// page keeps running the old code and shows the prompt; only the user's "Update now" lets the
// new service worker take over and reloads once. No relay is needed.
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostContentSecurityPolicy } from '../../verify/src/csp.mjs';
import { buildHash, precacheEntries } from '../../verify/src/release.mjs';
import { launchChromium, watchPolicyViolations } from './browser.ts';
import { previewDir, type Served, startPreview } from './servers.ts';

let browser: Browser;
let served: Served;

beforeAll(async () => {
  served = await startPreview(9);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await served?.close();
});

/** The scripts index.html names with a modulepreload: those the app starts with, and those it
 *  imports later (low priority). Every script of the build but the page's own, which index.html
 *  loads itself, and the key-derivation worker's (src/storage/kdf.ts). */
function namedChunks(): { startup: string[]; later: string[] } {
  const index = readFileSync(join(previewDir, 'index.html'), 'utf8');
  const links = [...index.matchAll(/<link rel="modulepreload"[^>]*href="(\/assets\/[^"]+)"[^>]*>/g)];
  const startup = links.filter((m) => !m[0].includes('fetchpriority="low"')).map((m) => m[1] as string);
  const later = links.filter((m) => m[0].includes('fetchpriority="low"')).map((m) => m[1] as string);
  const entry = /<script[^>]*src="(\/assets\/[^"]+)"/.exec(index)?.[1];
  const all = readdirSync(join(previewDir, 'assets'))
    .filter((f) => f.endsWith('.js') && !f.startsWith('kdf-worker-'))
    .map((f) => `/assets/${f}`);
  // Nothing the page could run is left out.
  expect([...startup, ...later, entry].sort()).toEqual(all.sort());
  return { startup, later };
}
const laterChunks = () => namedChunks().later;

/** Appends a marker to each of `urls` for the length of `body`. */
async function changed<T>(urls: string[], body: () => Promise<T>): Promise<T> {
  const originals = new Map(urls.map((url) => [url, readFileSync(join(previewDir, url), 'utf8')]));
  try {
    for (const [url, code] of originals)
      writeFileSync(
        join(previewDir, url),
        `${code}\n;(globalThis.__tampered ??= []).push(${JSON.stringify(url)});\n`,
      );
    return await body();
  } finally {
    for (const [url, code] of originals) writeFileSync(join(previewDir, url), code);
  }
}

// SECURITY.md "Checking the code your server sends": a page the service worker does not control
// (a hard reload, a first visit) fetches from the network what it imports later: the crypto
// layer, the QR reader and writer, the emoji picker, Argon2id. A server or cache that changes one
// of those files must not get it run.
describe('code the page imports later', () => {
  it('a changed chunk is refused on a page no service worker controls, before any of it runs', async () => {
    const chunks = laterChunks();
    expect(chunks.some((u) => u.includes('/crypto-layers-'))).toBe(true);
    const context = await browser.newContext({ locale: 'en-US', serviceWorkers: 'block' });
    const page = await context.newPage();
    try {
      await changed(chunks, async () => {
        await page.goto(`${served.url}/login`);
        await page
          .getByRole('heading', { name: /log in/i })
          .first()
          .waitFor();
        expect(await page.evaluate('!!navigator.serviceWorker?.controller')).toBe(false);
        for (const url of chunks) {
          const outcome = await page.evaluate(
            `import(${JSON.stringify(url)}).then(() => 'ran', (e) => 'refused: ' + e.message)`,
          );
          expect(outcome, url).toMatch(/^refused: /);
        }
        expect(await page.evaluate('globalThis.__tampered ?? []')).toEqual([]);
      });
    } finally {
      await context.close();
    }
  });

  it('a changed start-up chunk: the page runs none of the app and says so in both languages', async () => {
    const { startup } = namedChunks();
    expect(startup.length).toBeGreaterThan(0);
    const context = await browser.newContext({ locale: 'en-US', serviceWorkers: 'block' });
    const page = await context.newPage();
    try {
      await changed(startup, async () => {
        await page.goto(`${served.url}/login`);
        await page.getByText('Secure Drop could not load its files safely.').waitFor();
        await page.getByText('Secure Drop не удалось безопасно загрузить свои файлы.').waitFor();
        expect(await page.evaluate('globalThis.__tampered ?? []')).toEqual([]);
      });
    } finally {
      await context.close();
    }
  });

  // A server, cache or proxy that fails the first request for a file (the preload index.html
  // makes) and answers the next with a changed one: Chromium's module map remembers a refused
  // integrity, not a failed fetch, so the import() after it would fetch again unchecked.
  async function failFirstThenChange(page: Page, url: string): Promise<number[]> {
    const genuine = readFileSync(join(previewDir, url), 'utf8');
    const requests: number[] = [];
    await page.route(`**${url}`, async (route) => {
      requests.push(requests.length + 1);
      if (requests.length === 1) return route.abort('connectionreset');
      return route.fulfill({
        status: 200,
        contentType: 'text/javascript',
        body: `${genuine}\n;(globalThis.__tampered ??= []).push(${JSON.stringify(url)});\n`,
      });
    });
    return requests;
  }

  it('a screen whose preload failed and whose next fetch is changed is refused, and the user is told', async () => {
    const [file] = readdirSync(join(previewDir, 'assets')).filter((f) => f.startsWith('RegisterView-'));
    if (!file) throw new Error('the build has no registration screen chunk');
    const context = await browser.newContext({ locale: 'en-US', serviceWorkers: 'block' });
    const page = await context.newPage();
    const requests = await failFirstThenChange(page, `/assets/${file}`);
    await page.goto(`${served.url}/login`);
    await page.getByRole('link', { name: 'Create account' }).click();
    await page.getByText('This part of Secure Drop could not be loaded safely.').waitFor();
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(await page.evaluate('globalThis.__tampered ?? []')).toEqual([]);
    expect(await page.evaluate('document.body.innerText')).not.toMatch(/Unexpected Application Error|at /);
    await context.close();
  });

  it('a start-up chunk whose preload failed and whose next fetch is changed never runs; a retry of the genuine one starts the app', async () => {
    const { startup } = namedChunks();
    expect(startup.length).toBeGreaterThan(0);
    for (const url of startup) {
      const context = await browser.newContext({ locale: 'ru-RU', serviceWorkers: 'block' });
      const page = await context.newPage();
      await failFirstThenChange(page, url);
      await page.goto(`${served.url}/login`);
      await page.getByText('Secure Drop не удалось безопасно загрузить свои файлы.').waitFor();
      expect(await page.evaluate('globalThis.__tampered ?? []'), url).toEqual([]);
      await context.close();
    }
    // A file that only failed once, then came genuine: the app starts.
    const context = await browser.newContext({ locale: 'en-US', serviceWorkers: 'block' });
    const page = await context.newPage();
    const url = startup[0] as string;
    let n = 0;
    await page.route(`**${url}`, (route) => (++n === 1 ? route.abort('connectionreset') : route.continue()));
    await page.goto(`${served.url}/login`);
    await page.getByRole('link', { name: 'Create account' }).waitFor();
    expect(n).toBeGreaterThanOrEqual(2);
    await context.close();
  });

  // A server that answers a chunk with a redirect to the same, genuine bytes in another directory:
  // the integrity matches, and a module's relative imports would resolve against where it was
  // finally served from (HTML Standard, "fetch a single module script"), there changed. Playwright
  // does not route a redirected request, so this is a plain server over the same build and CSP.
  it('a chunk redirected elsewhere with its genuine bytes gets no file fetched from there: nothing changed runs', async () => {
    const csp = await hostContentSecurityPolicy();
    const named = namedChunks();
    const app = /href="(\/assets\/[^"]+)"[^>]*data-app/.exec(
      readFileSync(join(previewDir, 'index.html'), 'utf8'),
    )?.[1];
    const screen = named.later.find((u) => u.includes('/RegisterView-'));
    if (!app || !screen) throw new Error('the build has no app entry or registration screen');
    let redirected = '';
    const elsewhere: string[] = [];
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === redirected) {
        res.writeHead(302, { location: `/x${path}`, 'cache-control': 'no-store' });
        res.end();
        return;
      }
      const moved = path.startsWith('/x/assets/');
      if (moved) elsewhere.push(path.slice(2));
      const file = join(previewDir, moved ? path.slice(2) : path);
      if (path.endsWith('.js') && existsSync(file) && statSync(file).isFile()) {
        const code = readFileSync(file, 'utf8');
        res.writeHead(200, { 'content-type': 'text/javascript', 'content-security-policy': csp });
        // Under /x/ every file but the redirected one is changed.
        res.end(
          moved && path.slice(2) !== redirected
            ? `${code}\n;(globalThis.__tampered ??= []).push(${JSON.stringify(path)});\n`
            : code,
        );
        return;
      }
      if (path.endsWith('.css') && existsSync(file)) {
        res.writeHead(200, { 'content-type': 'text/css', 'content-security-policy': csp });
        res.end(readFileSync(file));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html', 'content-security-policy': csp });
      res.end(readFileSync(join(previewDir, 'index.html')));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const target of [app, screen]) {
        redirected = target;
        elsewhere.length = 0;
        const context = await browser.newContext({ locale: 'en-US', serviceWorkers: 'block' });
        const page = await context.newPage();
        await page.goto(`${base}/login`);
        await page.getByRole('link', { name: 'Create account' }).click();
        await page.getByLabel('Username').waitFor();
        expect(await page.evaluate('globalThis.__tampered ?? []'), target).toEqual([]);
        expect(elsewhere, target).toEqual([target]);
        await context.close();
      }
    } finally {
      server.close();
    }
  });

  it('the unchanged chunks load on such a page without a policy or integrity complaint', async () => {
    const context = await browser.newContext({ locale: 'en-US', serviceWorkers: 'block' });
    const violations = await watchPolicyViolations(context);
    const page = await context.newPage();
    await page.goto(`${served.url}/login`);
    await page
      .getByRole('heading', { name: /log in/i })
      .first()
      .waitFor();
    for (const url of laterChunks()) {
      const outcome = await page.evaluate(
        `import(${JSON.stringify(url)}).then(() => 'ran', (e) => 'refused: ' + e.message)`,
      );
      expect(outcome, url).toBe('ran');
    }
    expect(violations).toEqual([]);
    await context.close();
  });
});

describe('service worker update', () => {
  it('never swaps in new code mid-session without the user saying so', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    const violations = await watchPolicyViolations(context);
    const page = await context.newPage();
    // Records every message the page posts to a service worker: the only way a waiting worker
    // takes over is SKIP_WAITING (src/sw.ts), and the page reloads only once it has.
    await page.addInitScript(() => {
      const sent: unknown[] = [];
      (window as unknown as { __swMessages: unknown[] }).__swMessages = sent;
      const post = ServiceWorker.prototype.postMessage;
      ServiceWorker.prototype.postMessage = function (this: ServiceWorker, ...args: Parameters<typeof post>) {
        sent.push(args[0]);
        return post.apply(this, args);
      } as typeof post;
    });
    await page.goto(`${served.url}/login`);
    await page.evaluate('navigator.serviceWorker.ready.then(() => undefined)');
    await page.reload();
    expect(await page.evaluate('!!navigator.serviceWorker.controller')).toBe(true);
    // A marker that survives only as long as this page is not reloaded.
    await page.evaluate('window.__sameSession = true');

    // "Deploy" a new version: any byte change to sw.js is a new service worker.
    appendFileSync(join(previewDir, 'sw.js'), '\n// next version\n');
    await page.evaluate('navigator.serviceWorker.getRegistration().then((r) => r.update())');

    await page.getByText('A new version of Secure Drop is ready.').waitFor({ timeout: 30_000 });
    expect(await page.evaluate('navigator.serviceWorker.getRegistration().then((r) => !!r.waiting)')).toBe(
      true,
    );
    // The prompt is drawn from the same 'waiting' handler that would have swapped: by now the
    // page has made its choice, and it asked no worker to take over (the only other message,
    // GET_BUILD, reads the build hash for Settings → About); the worker still waits.
    const sent = (await page.evaluate('window.__swMessages')) as { type?: unknown }[];
    expect(sent.filter((m) => m?.type !== 'GET_BUILD')).toEqual([]);
    expect(
      await page.evaluate('navigator.serviceWorker.getRegistration().then((r) => r.waiting.state)'),
    ).toBe('installed');
    expect(await page.evaluate('window.__sameSession === true')).toBe(true);

    await page.getByRole('button', { name: 'Update now' }).click();
    // Predicates as functions, not strings: Playwright polls a string predicate by evaluating it
    // in the page, which the app's CSP (no 'unsafe-eval', Trusted Types) rightly refuses, and the
    // refusal lands in `violations` whenever the reload takes longer than the first check.
    await page.waitForFunction(
      () => (window as unknown as { __sameSession?: boolean }).__sameSession !== true,
      undefined,
      { timeout: 30_000 },
    );
    await page.waitForFunction(async () => {
      const r = await navigator.serviceWorker.getRegistration();
      return !!r && !r.waiting && !!r.active && !!navigator.serviceWorker.controller;
    });
    expect(violations).toEqual([]);
  });

  it('shows the build hash in Settings → About, the same the verifier computes from sw.js', async () => {
    // Settings is a signed-in page (two-users.e2e.ts reads it there); here the worker is asked
    // exactly as Settings asks it (src/pwa/update.ts).
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    await page.goto(`${served.url}/login`);
    await page.evaluate('navigator.serviceWorker.ready.then(() => undefined)');
    const hash = await page.evaluate(`navigator.serviceWorker.ready.then((r) => new Promise((done) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = (e) => done(e.data.buildHash);
      r.active.postMessage({ type: 'GET_BUILD' }, [channel.port2]);
    }))`);
    const served_ = precacheEntries(readFileSync(join(previewDir, 'sw.js'), 'utf8'));
    expect(hash).toBe(buildHash(served_));
  });
  it('refuses an update whose files do not match its manifest, keeps the running version and says so', async () => {
    const context = await browser.newContext({ locale: 'en-US' });
    const violations = await watchPolicyViolations(context);
    const page = await context.newPage();
    await page.goto(`${served.url}/login`);
    await page.evaluate('navigator.serviceWorker.ready.then(() => undefined)');
    await page.reload();
    expect(await page.evaluate('!!navigator.serviceWorker.controller')).toBe(true);
    await page.evaluate('window.__sameSession = true');

    // A "deploy" whose sw.js announces a new index.html (new revision, so it is fetched) while
    // the server sends an index.html that is not the one sw.js carries the hash of.
    const swPath = join(previewDir, 'sw.js');
    const sw = readFileSync(swPath, 'utf8');
    const revised = sw.replace(
      /("revision":")([0-9a-f]{32})(","url":"index\.html")/,
      (_m, a, rev: string, b) => {
        return `${a}${rev.slice(0, -1)}${rev.endsWith('0') ? '1' : '0'}${b}`;
      },
    );
    expect(revised).not.toBe(sw);
    writeFileSync(swPath, revised);
    const indexPath = join(previewDir, 'index.html');
    const index = readFileSync(indexPath, 'utf8');
    writeFileSync(indexPath, index.replace('<title>Secure Drop</title>', '<title>Secure Drap</title>'));
    await page.evaluate(
      'navigator.serviceWorker.getRegistration().then((r) => r.update()).catch(() => undefined)',
    );

    await page.getByText('An update was refused: 1 of its files does not match').waitFor({ timeout: 30_000 });
    expect(
      await page.evaluate(
        'navigator.serviceWorker.getRegistration().then((r) => !r.waiting && !r.installing)',
      ),
    ).toBe(true);
    expect(await page.evaluate('window.__sameSession === true')).toBe(true);
    await expect(page.getByRole('button', { name: 'Update now' }).count()).resolves.toBe(0);
    expect(violations).toEqual([]);
  });
});
