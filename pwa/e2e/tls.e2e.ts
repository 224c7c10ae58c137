// The production front over real TLS (RELIABILITY.md "Real TLS front"): the project's own
// deploy/Caddyfile run by a real Caddy with its internal CA, in front of the real Django host
// (serving the production build) and the real relay, which Caddy reaches directly for /api
// (README "Architecture"), all on loopback. Chromium trusts that CA
// for this browser only (--ignore-certificate-errors-spki-list with the CA's key hashes; the
// system's trust store is untouched). Two users register, add each other and exchange messages
// through https:// and wss://; plain HTTP is redirected to HTTPS, HSTS is sent, and Caddy's
// access log holds no credential.
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import getPort from 'get-port';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addContact, finishRegistration, openChat, sendText, startRegistration } from './app-steps.ts';
import { CHROMIUM } from './browser.ts';
import { type RunningRelay, startRelay } from './relay.ts';
import { type Front, startFront } from './tls.ts';

let relay: RunningRelay;
let front: Front;
let browser: Browser;
const ctx: Record<'alice' | 'bob', { context: BrowserContext; page: Page }> = {} as never;
const run = Math.random().toString(36).slice(2, 7);
const ALICE = `tlsa_${run}`;
const BOB = `tlsb_${run}`;
const secrets: string[] = [];
const wsUrls: string[] = [];

beforeAll(async () => {
  for (let attempt = 1; ; attempt++) {
    try {
      // Caddy's Caddyfile names the ports it binds and it cannot bind port 0 and report back,
      // unlike the relay and the preview: ports the OS reports free now. A lost race fails
      // startFront, and this loop retries it.
      const ports = {
        http: await getPort({ host: '127.0.0.1' }),
        https: await getPort({ host: '127.0.0.1' }),
      };
      relay = await startRelay(`https://localhost:${ports.https}`);
      front = await startFront(relay.port, ports);
      break;
    } catch (err) {
      await relay?.stop().catch(() => undefined);
      relay = undefined as unknown as RunningRelay;
      if (attempt === 3) throw err;
    }
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      // Trust Caddy's local CA in this browser only (never the system store).
      `--ignore-certificate-errors-spki-list=${front.spkiHashes.join(',')}`,
    ],
  });
  for (const who of ['alice', 'bob'] as const) {
    const context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(30_000);
    const page = await context.newPage();
    page.on('websocket', (ws) => wsUrls.push(ws.url()));
    ctx[who] = { context, page };
  }
});

afterAll(async () => {
  await browser?.close();
  await front?.stop();
  await relay?.stop();
});

/** A plain-HTTP request to Caddy's HTTP port for the site's name. */
function plainHttp(path: string, host = 'localhost'): Promise<{ status: number; location?: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port: front.httpPort, path, headers: { host } }, (res) => {
      res.resume();
      done({ status: res.statusCode ?? 0, location: res.headers.location });
    });
    req.on('error', fail);
    req.end();
  });
}

describe('through Caddy over TLS', () => {
  it('redirects plain HTTP to HTTPS, keeping the path', async () => {
    const res = await plainHttp('/chats?x=1');
    expect([301, 302, 307, 308]).toContain(res.status);
    // Caddy names the HTTPS port only when the request named one (production: 80 → 443).
    const to = new URL(res.location ?? '');
    expect([to.protocol, to.hostname, to.pathname, to.search]).toEqual([
      'https:',
      'localhost',
      '/chats',
      '?x=1',
    ]);
    const withPort = await plainHttp('/chats', `localhost:${front.httpPort}`);
    expect(new URL(withPort.location ?? '').protocol).toBe('https:');
  });

  it('serves the app over HTTPS with HSTS, and the page is a secure context', async () => {
    const { page } = ctx.alice;
    const res = await page.goto(`${front.url}/register`);
    expect(res?.status()).toBe(200);
    const hsts = res?.headers()['strict-transport-security'] ?? '';
    expect(Number(/max-age=(\d+)/.exec(hsts)?.[1] ?? 0)).toBeGreaterThanOrEqual(31_536_000);
    expect(await page.evaluate(() => window.isSecureContext && location.protocol)).toBe('https:');
    // The API's answers too (fetched by the page, through the browser's TLS), straight from
    // the relay through Caddy: the same security headers, with the same values, as the app's,
    // but for the policy: an API answer runs nothing as a document (host/headers.py).
    const api = await page.evaluate(async () => {
      const r = await fetch('/api/health');
      const headers: Record<string, string> = {};
      r.headers.forEach((value, name) => {
        headers[name] = value;
      });
      return { status: r.status, headers };
    });
    expect(api.status).toBe(200);
    const app = res?.headers() ?? {};
    expect(api.headers['content-security-policy']).toBe(
      "default-src 'none'; frame-ancestors 'none'; sandbox",
    );
    for (const name of [
      'strict-transport-security',
      'permissions-policy',
      'referrer-policy',
      'x-content-type-options',
      'cross-origin-opener-policy',
      'cross-origin-resource-policy',
      'x-frame-options',
    ]) {
      expect([name, api.headers[name]]).toEqual([name, app[name]]);
    }
    expect(api.headers['x-powered-by']).toBeUndefined();
    expect(api.headers.server).toBeUndefined();
    expect(api.headers['cache-control']).toBe('no-store');
  });

  it('answers /api from the relay directly, never through the Django host', async () => {
    // The host's own forward points at a closed port: had the request reached it, this would
    // be its 502. The relay answers its JSON 404 for an unknown route (prefix stripped).
    const res = await ctx.alice.page.evaluate(async () => {
      const r = await fetch('/api/no-such-route');
      return {
        status: r.status,
        body: (await r.json()) as { error: string },
        csp: r.headers.get('content-security-policy'),
      };
    });
    // An /api answer runs nothing as a document (django-host/host/headers.py API_SECURITY_HEADERS).
    expect(res).toEqual({
      status: 404,
      body: expect.objectContaining({ error: 'not_found' }),
      csp: "default-src 'none'; frame-ancestors 'none'; sandbox",
    });
    expect(front.hostLog()).not.toMatch(/"[A-Z]+ \/api/);
  });

  it("answers /api errors at Caddy's body limit as JSON with the security headers", async () => {
    // 27 MiB, over request_body max_size (and the relay's photo cap).
    const res = await ctx.alice.page.evaluate(async () => {
      const r = await fetch('/api/send_photo', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(27 * 1024 * 1024),
      });
      return {
        status: r.status,
        body: (await r.json()) as { error: string },
        xfo: r.headers.get('x-frame-options'),
      };
    });
    expect(res).toEqual({
      status: 413,
      body: expect.objectContaining({ error: 'payload_too_large' }),
      xfo: 'DENY',
    });
  });

  it("answers the app's errors at Caddy's body limit with the security headers too", async () => {
    // Caddy answers this itself (the Django host never sees it), outside the /api routes.
    const res = await ctx.alice.page.evaluate(async () => {
      const r = await fetch('/upload-here', { method: 'POST', body: new Uint8Array(27 * 1024 * 1024) });
      return {
        status: r.status,
        csp: r.headers.get('content-security-policy'),
        xfo: r.headers.get('x-frame-options'),
        hsts: r.headers.get('strict-transport-security'),
      };
    });
    expect(res).toEqual({
      status: 413,
      csp: expect.stringContaining("default-src 'none'"),
      xfo: 'DENY',
      hsts: 'max-age=31536000',
    });
  });

  it('two users register, add each other and exchange messages through https:// and wss://', async () => {
    for (const [who, name] of [
      ['alice', ALICE],
      ['bob', BOB],
    ] as const) {
      const secret = await startRegistration(ctx[who].page, front.url, name);
      secrets.push(secret);
      await finishRegistration(ctx[who].page, secret);
    }
    await addContact(ctx.alice.page, BOB);
    await addContact(ctx.bob.page, ALICE);
    await openChat(ctx.alice.page, front.url, BOB);
    await openChat(ctx.bob.page, front.url, ALICE);
    const first = `over TLS ${run} 🔐`;
    await sendText(ctx.alice.page, BOB, first);
    // Bob's page is open and not reloaded: the message arrives over the WebSocket.
    await ctx.bob.page
      .locator('.message-scroller')
      .getByText(first, { exact: true })
      .waitFor({ timeout: 30_000 });
    const reply = `reply over TLS ${run} ✅`;
    await sendText(ctx.bob.page, ALICE, reply);
    await ctx.alice.page
      .locator('.message-scroller')
      .getByText(reply, { exact: true })
      .waitFor({ timeout: 30_000 });
    expect(wsUrls.length).toBeGreaterThan(0);
    for (const u of wsUrls) expect(u).toBe(`wss://localhost:${front.httpsPort}/api/ws`);
  });

  it("keeps credentials out of Caddy's access log", async () => {
    // A direct probe with credentials in every place a client might put them.
    const fakeJwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwcm9iZSJ9.c2lnbmF0dXJlLXByb2JlLXZhbHVl';
    const code = '493817';
    await new Promise<void>((done, fail) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port: front.httpsPort,
          path: `/api/me?token=${fakeJwt}&code=${code}`,
          headers: {
            host: 'localhost',
            authorization: `Bearer ${fakeJwt}`,
            cookie: `session=${fakeJwt}`,
          },
          rejectUnauthorized: false, // the probe checks the log, not the certificate
        },
        (res) => {
          res.resume();
          res.on('end', done);
        },
      );
      req.on('error', fail);
      req.end();
    });
    const deadline = Date.now() + 10_000;
    const probeLine = () => front.caddyLog().includes('"host":"localhost","uri":"/api/me');
    while (!probeLine() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const log = front.caddyLog();
    expect(probeLine()).toBe(true); // the access log is on and saw the probe
    expect(log).not.toContain(fakeJwt);
    expect(log).not.toContain(code);
    expect(log).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/); // no JWT of the users either
    expect(log).not.toMatch(/Bearer /i);
    for (const s of secrets) expect(log).not.toContain(s);
  });
});
