// End to end: `npm start` (scripts/start.mjs) really brings up the relay on a fresh embedded
// PostgreSQL and the Django host, the page loads, /api reaches the relay (HTTP and WebSocket),
// and SIGINT stops everything with exit code 0. NODE_ENV=development as for a person running
// it (vitest sets "test", under which the relay rightly demands configured secrets).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import getPort from 'get-port';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { NOISE } from './noise.mjs';

const root = resolve(import.meta.dirname, '../..');

describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sd-start-'));
  let child;
  let output = '';
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts, serves the app and the API on one origin, and stops on Ctrl-C', {
    timeout: 300_000,
  }, async () => {
    const [port, relayPort] = [await getPort({ host: '127.0.0.1' }), await getPort({ host: '127.0.0.1' })];
    child = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(port),
        SECURE_DROP_RELAY_PORT: String(relayPort),
        DATA_DIR: dataDir,
        HOST: '',
        NODE_ENV: 'development',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })));
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const started = await new Promise((done) => {
      const timer = setInterval(() => {
        if (output.includes('Secure Drop is running')) done(true);
        else if (child.exitCode !== null) done(false);
      }, 200);
      exited.then(() => setTimeout(() => clearInterval(timer), 500));
      child.once('exit', () => done(output.includes('Secure Drop is running')));
    });
    expect(started, output.slice(-3000)).toBe(true);
    expect(output).toContain(`http://localhost:${port}`);
    // Progress lines only: no tool warnings, colour codes or JSON log lines.
    for (const noise of [...NOISE, /"level":/]) expect(output).not.toMatch(noise);

    const base = `http://localhost:${port}`;
    const page = await fetch(`${base}/chats`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<div id="root">|<!doctype html>/i);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);

    const health = await fetch(`${base}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const bad = await fetch(`${base}/api/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toBeTypeOf('string');

    // The WebSocket crosses the host to the relay (which accepts our origin): our auth frame
    // reaches it, and its close code and reason come back through the host.
    const closed = await new Promise((done) => {
      const ws = new WebSocket(`ws://localhost:${port}/api/ws`, { origin: base });
      ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: 'not-a-token' })));
      ws.on('close', (code, reason) => done({ code, reason: reason.toString() }));
      ws.on('error', (err) => done({ error: err.message }));
    });
    expect(closed).toEqual({ code: 4401, reason: 'invalid or revoked token' });

    // In a real browser, served by the host: the PWA runs under the host's CSP without a single
    // violation, its service worker takes the whole site (scope "/"), and the shell then
    // opens offline from the worker's cache.
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const context = await browser.newContext();
      const tab = await context.newPage();
      const console_ = [];
      tab.on('console', (m) => console_.push(m.text()));
      tab.on('pageerror', (e) => console_.push(e.message));
      await tab.goto(`${base}/`, { waitUntil: 'load' });
      const scope = await tab.evaluate(() =>
        Promise.race([
          navigator.serviceWorker.ready.then((r) => r.scope),
          new Promise((r) => setTimeout(() => r('no service worker within 20 s'), 20_000)),
        ]),
      );
      expect(scope).toBe(`${base}/`);
      // connect-src 'self' lets the page open its same-origin WebSocket (CSP Level 3).
      const wsOpened = await tab.evaluate(
        () =>
          new Promise((resolve) => {
            try {
              // window.WebSocket: the bare name is this file's import of `ws` (rewritten by vitest).
              const ws = new window.WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/ws`);
              ws.onopen = () => {
                ws.close(1000);
                resolve(true);
              };
              ws.onerror = () => resolve('error event');
            } catch (err) {
              resolve(String(err));
            }
          }),
      );
      expect(wsOpened).toBe(true);
      await context.setOffline(true);
      await tab.goto(`${base}/chats`, { waitUntil: 'load' });
      expect(await tab.locator('#root').count()).toBe(1);
      // CSP, Trusted Types (e.g. "requires 'TrustedScriptURL' assignment") and SRI refusals.
      expect(
        console_.filter((m) =>
          /Content Security Policy|Refused to|Trusted ?(Type|Script|HTML)|integrity/i.test(m),
        ),
      ).toEqual([]);
    } finally {
      await browser.close();
    }

    child.kill('SIGINT');
    const { code } = await exited;
    expect(code, output.slice(-3000)).toBe(0);
  });
});
