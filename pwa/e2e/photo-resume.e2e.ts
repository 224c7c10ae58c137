// A resumable photo upload in real Chromium against the real relay (spec/openapi.yaml /uploads,
// tus 1.0.0): the first PATCH carrying the photo's ciphertext is cut as if the network dropped;
// the app asks the relay how much arrived (HEAD), sends the rest, and the receiver sees the photo.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addContact, finishRegistration, gradientPng, openChat, startRegistration } from './app-steps.ts';
import { launchChromium } from './browser.ts';
import { type RunningRelay, startRelay } from './relay.ts';
import { LateRelayTarget, type Served, startPreview } from './servers.ts';

let relay: RunningRelay;
let served: Served;
let browser: Browser;
let alice: { context: BrowserContext; page: Page };
let bob: { context: BrowserContext; page: Page };
const run = Math.random().toString(36).slice(2, 7);
const ALICE = `up_alice_${run}`;
const BOB = `up_bob_${run}`;

beforeAll(async () => {
  const target = new LateRelayTarget();
  served = await startPreview(undefined, 0, target);
  relay = await startRelay(served.url);
  target.set(`http://127.0.0.1:${relay.port}`);
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

    // Every upload request in order; the first PATCH is cut as a dropped connection would.
    const seen: string[] = [];
    let cut = false;
    await alice.context.route('**/api/uploads**', async (route) => {
      const method = route.request().method();
      seen.push(method);
      if (method === 'PATCH' && !cut) {
        cut = true;
        await route.abort('connectionreset');
        return;
      }
      await route.continue();
    });

    await alice.page
      .locator('form.composer input[type=file]')
      .setInputFiles({ name: 'resume.png', mimeType: 'image/png', buffer: gradientPng(1600, 1200, 120) });
    await bob.page.locator(`.message-scroller img[alt="Photo from ${ALICE}"]`).waitFor({ timeout: 90_000 });

    expect(cut).toBe(true);
    // Created once; after the cut the app asked for the offset and sent the rest to the same upload.
    expect(seen.filter((m) => m === 'POST')).toHaveLength(1);
    const afterCut = seen.slice(seen.indexOf('PATCH') + 1);
    expect(afterCut[0]).toBe('HEAD');
    expect(afterCut).toContain('PATCH');
    // Nothing is left in the relay's upload store once the photo is stored.
    const { readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    expect(readdirSync(join(relay.dataDir, 'photo-uploads'))).toEqual([]);
  });
});
