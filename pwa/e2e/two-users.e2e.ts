// The whole product in real Chromium against the real relay (embedded PostgreSQL): two
// browser contexts register (codes computed from the secret shown on screen), add each other,
// exchange text with emoji and a photo both ways, verify safety numbers from each other's QR
// image, read history offline, queue a message offline that is delivered once, and log out
// everywhere. Then the plaintext canary: no message text or photo byte in the database dump
// or the photo store.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHash, precacheEntries } from '../../verify/src/release.mjs';
import { EXIF_MAKE, jpegWithGps } from '../src/photo/exif-fixture.ts';
import { scanMetadata } from '../src/photo/metadata-scan.ts';
import { startOverAfterLogin } from './app-steps.ts';
import { keepObjectUrlBlobs, launchChromium, watchPolicyViolations } from './browser.ts';
import { plaintextCanary, type RunningRelay, startAppWithRelay } from './relay.ts';
import { previewDir, type Served } from './servers.ts';

let relay: RunningRelay;
let served: Served;
let browser: Browser;
const ctx: Record<'alice' | 'bob', { context: BrowserContext; page: Page }> = {} as never;
/** CSP, Trusted Types and SRI violations each side's pages reported (the preview sends the host's CSP). */
const violations: Record<'alice' | 'bob', string[]> = { alice: [], bob: [] };
const run = Math.random().toString(36).slice(2, 7);
const ALICE = `alice_${run}`;
const BOB = `bob_${run}`;
const TEXTS = [
  'Привет, Bob! 🦊🔐 first secret line',
  'Hi Alice 👋 second secret line',
  'written while offline, delivered once 🛰️',
];
/** The ordering barrier of the offline test: sent after the queued message was delivered. */
const AFTER_RECONNECT = 'sent after reconnecting';
const secrets: Record<string, string> = {};
/**
 * How each side's sends and acknowledgements reached the relay: the types of the frames its
 * pages wrote on their WebSockets (the type only: the auth frame holds the token) and its
 * POST /send_message and POST /ack requests.
 */
const wire: Record<'alice' | 'bob', { frames: string[]; posts: string[] }> = {
  alice: { frames: [], posts: [] },
  bob: { frames: [], posts: [] },
};
/** Bytes of the photos as the receivers decrypted them, for the plaintext canary. */
const photoBytes: Uint8Array[] = [];

beforeAll(async () => {
  ({ served, relay } = await startAppWithRelay());
  browser = await launchChromium();
  for (const who of ['alice', 'bob'] as const) {
    const context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(30_000);
    violations[who] = await watchPolicyViolations(context);
    await keepObjectUrlBlobs(context);
    const page = await context.newPage();
    page.on('websocket', (ws) =>
      ws.on('framesent', (frame) => {
        const type =
          typeof frame.payload === 'string' ? (JSON.parse(frame.payload) as { type?: unknown }).type : null;
        if (typeof type === 'string') wire[who].frames.push(type);
      }),
    );
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (request.method() === 'POST' && /\/(send_message|ack)$/.test(path)) wire[who].posts.push(path);
    });
    ctx[who] = { context, page };
  }
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await relay?.stop();
});

/** A TOTP code for `secret` at an offset in 30-second steps (the relay accepts ±1 step once each). */
const totp = (secret: string, step = 0) =>
  generate({ secret, epoch: Math.floor(Date.now() / 1000) + step * 30 });

/**
 * Registers `username`. With `reloadMidway`, the page reloads at the enrolment step — as a phone
 * often reloads a tab while the user is in the authenticator app — and goes on with the same
 * secret (state/registration-draft.ts).
 */
async function register(page: Page, username: string, reloadMidway = false): Promise<string> {
  await page.goto(`${served.url}/register`);
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Continue' }).click();
  const shownSecret = async () => {
    const shown = ((await page.locator('.totp-secret').textContent()) ?? '').replace(/\s+/g, '');
    return shown.slice(shown.lastIndexOf(':') + 1);
  };
  const secret = await shownSecret();
  expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
  if (reloadMidway) {
    await page.reload();
    expect(await shownSecret()).toBe(secret);
  }
  await page.getByLabel('2. Enter the code the app shows now').fill(await totp(secret));
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor({ timeout: 60_000 });
  await page
    .getByRole('checkbox', { name: 'I have saved my recovery codes' })
    .check()
    .catch(() => undefined);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(/\/chats$/);
  return secret;
}

async function addContact(page: Page, username: string): Promise<void> {
  await page.getByLabel('Their username').fill(username);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByText(`${username} is in your contacts.`).waitFor();
}

async function openChat(page: Page, contact: string): Promise<void> {
  await page.goto(`${served.url}/chats/${contact}`);
  await composer(page, contact).waitFor();
}

const composer = (page: Page, contact: string) =>
  page.locator(`form[aria-label="Message to ${contact}"] textarea`);

/** Waits until the open chat shows `text` in a message bubble. */
const inChat = (page: Page, text: string) =>
  page.locator('.message-scroller').getByText(text, { exact: true }).waitFor({ timeout: 30_000 });

/** Waits until the app's socket is open and authenticated (the offline banner is gone). */
const socketOnline = (page: Page) =>
  page.locator('.banner-offline').waitFor({ state: 'hidden', timeout: 30_000 });

async function sendText(page: Page, contact: string, text: string): Promise<void> {
  const box = composer(page, contact);
  await box.fill(text);
  await box.press('Enter');
}

describe('two users, end to end', () => {
  it('register (Alice’s page reloads at the enrolment step), add each other and exchange text with emoji both ways', async () => {
    const { alice, bob } = ctx;
    await register(alice.page, ALICE, true);
    secrets.bob = await register(bob.page, BOB);
    await addContact(alice.page, BOB);
    await addContact(bob.page, ALICE);
    await openChat(alice.page, BOB);
    await openChat(bob.page, ALICE);
    await socketOnline(alice.page);
    await socketOnline(bob.page);
    await sendText(alice.page, BOB, 'Привет, Bob! 🦊🔐 first secret line');
    await inChat(bob.page, 'Привет, Bob! 🦊🔐 first secret line');
    await sendText(bob.page, ALICE, 'Hi Alice 👋 second secret line');
    await inChat(alice.page, 'Hi Alice 👋 second secret line');
  });

  it('shows delivery to the sender once the receiver has stored the message', async () => {
    await ctx.alice.page
      .locator('.message-scroller .delivery-delivered')
      .first()
      .waitFor({ timeout: 30_000 });
  });

  it('sent and acknowledged those over the WebSocket while online: no POST /send_message or /ack', () => {
    // spec/openapi.yaml GET /ws: a send frame is POST /send_message over the open socket.
    expect(wire.alice.frames).toContain('send');
    expect(wire.bob.frames).toContain('send');
    // Bob acknowledged Alice's message (she was shown it delivered).
    expect(wire.bob.frames).toContain('ack');
    expect([...wire.alice.posts, ...wire.bob.posts]).toEqual([]);
  });

  it('sends a photo with GPS EXIF both ways; the receiver gets it decrypted and without metadata', async () => {
    const photo = Buffer.from(jpegWithGps());
    for (const [from, to, name] of [
      ['alice', 'bob', ALICE],
      ['bob', 'alice', BOB],
    ] as const) {
      await ctx[from].page
        .locator('form.composer input[type=file]')
        .setInputFiles({ name: 'IMG_1234.JPG', mimeType: 'image/jpeg', buffer: photo });
      const img = ctx[to].page.locator(`.message-scroller img[alt="Photo from ${name}"]`);
      await img.waitFor({ timeout: 60_000 });
      // The exact bytes behind the blob: URL, kept by the init script (fetching a blob: URL is
      // something connect-src 'self' rightly forbids, and the app never does).
      const bytes = await img.evaluate(async (el: HTMLImageElement) => {
        const blob = (window as unknown as { __blobs: Map<string, Blob> }).__blobs.get(el.src);
        return blob ? [...new Uint8Array(await blob.arrayBuffer())] : [];
      });
      const received = Uint8Array.from(bytes);
      expect([...received.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
      expect(scanMetadata(received).found).not.toContain('gps');
      expect(scanMetadata(received).found).not.toContain('exif');
      expect(Buffer.from(received).includes(Buffer.from(EXIF_MAKE))).toBe(false);
      photoBytes.push(received);
    }
  });

  it("verifies safety numbers by reading the other side's QR code from an image", async () => {
    const shots: Record<string, Buffer> = {};
    for (const [who, contact] of [
      ['alice', BOB],
      ['bob', ALICE],
    ] as const) {
      const page = ctx[who].page;
      await page.goto(`${served.url}/contacts/${contact}/safety`);
      const qr = page.locator('svg[role="img"]').first();
      await qr.waitFor();
      shots[who] = await qr.screenshot();
    }
    for (const [who, contact, theirs] of [
      ['alice', BOB, 'bob'],
      ['bob', ALICE, 'alice'],
    ] as const) {
      const page = ctx[who].page;
      await page
        .locator('input.file-input[type=file]')
        .setInputFiles({ name: 'qr.png', mimeType: 'image/png', buffer: shots[theirs] as Buffer });
      await page.getByText(`The numbers match. ${contact} is verified.`).waitFor({ timeout: 30_000 });
    }
  });

  it('starts offline and still shows the recent history', async () => {
    const { context, page } = ctx.bob;
    await page.goto(`${served.url}/chats/${ALICE}`);
    await inChat(page, TEXTS[0] as string);
    // The service worker must control the page before the network goes away.
    await page.evaluate(() =>
      Promise.race([
        navigator.serviceWorker.ready.then(() => undefined),
        new Promise((_, fail) => setTimeout(() => fail(new Error('no service worker')), 20_000)),
      ]),
    );
    await page.reload();
    await context.setOffline(true);
    await page.reload();
    await inChat(page, TEXTS[0] as string);
    await inChat(page, TEXTS[1] as string);
    await context.setOffline(false);
  });

  it('queues a message written offline and delivers it exactly once after reconnecting', async () => {
    const { context, page } = ctx.alice;
    await openChat(page, BOB);
    await openChat(ctx.bob.page, ALICE);
    await context.setOffline(true);
    await page.evaluate(() => window.dispatchEvent(new Event('offline')));
    await sendText(page, BOB, TEXTS[2] as string);
    await inChat(page, TEXTS[2] as string);
    // Held in Alice's outbox: the relay has not accepted it, so it cannot have reached Bob.
    await page.locator('.message-scroller .delivery-queued').last().waitFor();
    expect(
      await ctx.bob.page
        .locator('.message-scroller')
        .getByText(TEXTS[2] as string)
        .count(),
    ).toBe(0);
    await context.setOffline(false);
    await page.evaluate(() => window.dispatchEvent(new Event('online')));
    await inChat(ctx.bob.page, TEXTS[2] as string);
    await page.locator('.message-scroller .delivery-delivered').last().waitFor({ timeout: 30_000 });
    // A later message reaches Bob after any second copy of the first would (the relay's stream
    // is in order), so once it is there the count is final.
    await sendText(page, BOB, AFTER_RECONNECT);
    await inChat(ctx.bob.page, AFTER_RECONNECT);
    expect(
      await ctx.bob.page
        .locator('.message-scroller')
        .getByText(TEXTS[2] as string, { exact: true })
        .count(),
    ).toBe(1);
  });

  it("warns when a verified contact's identity key changes and holds sending until the deliberate second step", async () => {
    // Bob logs in on a new device: new identity key, announced by the relay to his contacts.
    const context = await browser.newContext({ locale: 'en-US' });
    context.setDefaultTimeout(30_000);
    const bob2 = await context.newPage();
    await bob2.goto(`${served.url}/login`);
    await bob2.getByLabel('Username').fill(BOB);
    await bob2.getByLabel('Code from your authenticator app').fill(await totp(secrets.bob as string, 1));
    await bob2.getByRole('button', { name: 'Log in' }).click();
    await startOverAfterLogin(bob2);

    const { page } = ctx.alice;
    await openChat(page, BOB);
    await page.getByText('Security key changed.').waitFor({ timeout: 30_000 });
    await page.getByText('Sending is paused until you review the security key change above.').waitFor();
    // Alice verified Bob above: one click does not accept the new key (SECURITY.md, Trust
    // model) — the deliberate second step does, and Bob then shows as not verified.
    expect(await page.getByRole('button', { name: 'I understand, continue' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Accept without verifying…' }).click();
    await page.getByRole('button', { name: 'Accept without verifying', exact: true }).click();
    await page
      .getByText('Sending is paused until you review the security key change above.')
      .waitFor({ state: 'hidden' });
    await sendText(page, BOB, 'after the key change ✅');
    await inChat(page, 'after the key change ✅');
    await openChat(bob2, ALICE);
    await inChat(bob2, 'after the key change ✅');
    // Starting over removed Bob's first device from the account (spec/protocol.md §16): its
    // session ended. The new device is Bob's from here on.
    await ctx.bob.page.goto(`${served.url}/chats`);
    await ctx.bob.page.waitForURL(/\/login$/, { timeout: 30_000 });
    await ctx.bob.context.close();
    ctx.bob = { context, page: bob2 };
  });

  it('shows version and build hash in Settings → About, equal to what the verifier computes', async () => {
    const { page } = ctx.alice;
    await page.goto(`${served.url}/settings`);
    const about = page.getByRole('region', { name: 'About' });
    const { version } = JSON.parse(readFileSync(join(previewDir, '..', '..', 'package.json'), 'utf8'));
    await about.getByText(`Version ${version}`, { exact: true }).waitFor();
    const expected = buildHash(precacheEntries(readFileSync(join(previewDir, 'sw.js'), 'utf8')));
    await expect(about.getByTestId('build-hash').textContent()).resolves.toBe(expected);
    await about.getByText(`npx secure-drop-verify ${served.url}`).waitFor();
  });

  it('ran every step above with no CSP, Trusted Types or SRI violation', () => {
    // It can fail: it saw the test's own blob: fetch, before the photo test read bytes otherwise.
    expect(JSON.stringify(violations, null, 1)).toBe(JSON.stringify({ alice: [], bob: [] }, null, 1));
  });

  it('logs out everywhere: the session ends and the app returns to the login screen', async () => {
    const { page } = ctx.alice;
    await page.goto(`${served.url}/settings`);
    await page.getByRole('button', { name: 'Log out everywhere' }).click();
    await page
      .getByRole('dialog', { name: 'Log out everywhere?' })
      .getByRole('button', { name: 'Log out everywhere' })
      .click();
    await page.waitForURL(/\/login$/, { timeout: 30_000 });
    await page.reload();
    await page.waitForURL(/\/login$/);
  });

  it('erases the device after the typed confirmation: keys and history are gone', async () => {
    const { page } = ctx.bob;
    await page.goto(`${served.url}/settings`);
    const stores = () =>
      page.evaluate(async () =>
        (await indexedDB.databases()).map((d) => d.name ?? '').filter((n) => n.startsWith('secure-drop:')),
      );
    expect(await stores()).toEqual([`secure-drop:${BOB}`]);
    await page.getByRole('button', { name: 'Erase this device' }).click();
    const confirm = page.getByRole('button', { name: 'Erase everything' });
    expect(await confirm.isDisabled()).toBe(true);
    await page.getByLabel('Type “erase” to confirm').fill('erase');
    await confirm.click();
    await page.waitForURL(/\/register$/, { timeout: 30_000 });
    expect(await stores()).toEqual([]);
    expect(await page.evaluate(() => localStorage.getItem('sd.account'))).toBeNull();
    await page.goto(`${served.url}/chats`);
    await page.waitForURL(/\/login$/);
  });

  it('plaintext canary: no message text or photo byte in the database dump or the photo store', async () => {
    const needles = [
      ...TEXTS.map((t) => Buffer.from(t)),
      ...TEXTS.map((t) => Buffer.from(t.slice(0, 12))),
      Buffer.from(EXIF_MAKE),
      ...photoBytes.map((b) =>
        Buffer.from(b.subarray(Math.floor(b.length / 2), Math.floor(b.length / 2) + 32)),
      ),
      ...photoBytes.map((b) => Buffer.from(b.subarray(0, 64))),
    ];
    expect(await plaintextCanary(relay, needles)).toEqual([]);
  });
});
