// A resumable photo upload in real Chromium against the real relay (spec/openapi.yaml /uploads,
// tus 1.0.0): a photo of several 4 MiB PATCHes (pwa/src/photo/transfer.ts UPLOAD_CHUNK_BYTES)
// has its second PATCH cut as if the network dropped, after the first was stored; the app asks
// the relay how much arrived (HEAD), continues from that offset instead of from zero, and the
// receiver sees the photo.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addContact, finishRegistration, openChat, startRegistration } from './app-steps.ts';
import { launchChromium } from './browser.ts';
import { type RunningRelay, startAppWithRelay } from './relay.ts';
import type { Served } from './servers.ts';

let relay: RunningRelay;
let served: Served;
let browser: Browser;
let alice: { context: BrowserContext; page: Page };
let bob: { context: BrowserContext; page: Page };
const run = Math.random().toString(36).slice(2, 7);
const ALICE = `up_alice_${run}`;
const BOB = `up_bob_${run}`;

beforeAll(async () => {
  ({ served, relay } = await startAppWithRelay());
  browser = await launchChromium();
  const open = async () => {
    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 390, height: 844 } });
    context.setDefaultTimeout(30_000);
    return { context, page: await context.newPage() };
  };
  alice = await open();
  bob = await open();
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await relay?.stop();
});

/** A PNG of random pixels: it does not compress, so its re-encoded bytes span several PATCHes. */
function noisePng(width: number, height: number): Buffer {
  const png = new PNG({ width, height });
  png.data.set(randomBytes(width * height * 4));
  for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255;
  return PNG.sync.write(png);
}

const CHUNK = 4 * 1024 * 1024;

describe('resumable photo upload', () => {
  it('a photo upload cut mid-way resumes from the relay offset and reaches the receiver', async () => {
    const aliceSecret = await startRegistration(alice.page, served.url, ALICE);
    const bobSecret = await startRegistration(bob.page, served.url, BOB);
    await finishRegistration(alice.page, aliceSecret);
    await finishRegistration(bob.page, bobSecret);
    await addContact(alice.page, BOB);
    await addContact(bob.page, ALICE);
    await openChat(alice.page, served.url, BOB);
    await openChat(bob.page, served.url, ALICE);

    // Every upload request in order, with its Upload-Offset; the second PATCH (after the first
    // 4 MiB were stored) is cut as a dropped connection would cut it.
    const seen: { method: string; offset: string | undefined }[] = [];
    let patches = 0;
    await alice.context.route('**/api/uploads**', async (route) => {
      const request = route.request();
      const method = request.method();
      seen.push({ method, offset: (await request.allHeaders())['upload-offset'] });
      if (method === 'PATCH' && ++patches === 2) {
        await route.abort('connectionreset');
        return;
      }
      await route.continue();
    });

    await alice.page
      .locator('form.composer input[type=file]')
      .setInputFiles({ name: 'resume.png', mimeType: 'image/png', buffer: noisePng(1600, 1200) });
    await bob.page.locator(`.message-scroller img[alt="Photo from ${ALICE}"]`).waitFor({ timeout: 120_000 });

    const methods = seen.map((r) => r.method);
    expect(methods.filter((m) => m === 'POST')).toHaveLength(1);
    const cutAt = methods.indexOf('PATCH', methods.indexOf('PATCH') + 1);
    expect(cutAt).toBeGreaterThan(0);
    expect(seen[cutAt]?.offset).toBe(String(CHUNK));
    // After the cut: HEAD for the offset, then the next PATCH starts where the relay stopped —
    // the first 4 MiB are not sent again.
    expect(seen[cutAt + 1]?.method).toBe('HEAD');
    expect(seen[cutAt + 2]).toEqual({ method: 'PATCH', offset: String(CHUNK) });
    expect(seen.filter((r) => r.method === 'PATCH' && r.offset === '0')).toHaveLength(1);
    // Nothing about the upload (recipient, URL) is kept in the sender's clear-text localStorage.
    const stored = await alice.page.evaluate(() => Object.keys(localStorage));
    expect(stored.filter((k) => k.startsWith('tus::'))).toEqual([]);
    // Nothing is left in the relay's upload store once the photo is stored.
    expect(readdirSync(join(relay.dataDir, 'photo-uploads'))).toEqual([]);
  });
});
