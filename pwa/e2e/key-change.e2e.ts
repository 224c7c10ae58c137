// Key changes as a user meets them, in real Chromium against the real relay (SECURITY.md,
// "Trust model"): (1) the relay substitutes a contact's identity key — the test rewrites it in
// the relay's PostgreSQL and announces it as the relay does — and the app warns; scanning the
// real contact's QR says it matches only the OLD key, nothing is accepted, sending stays held
// until the user keeps the old key, and then the conversation goes on;
// (2) a genuine reinstall: scanning the new device's QR verifies and accepts in one step;
// (3) a contact verified before changes key: sending is held until the new key is verified or
// the deliberate second step "accept without verifying" is taken; (4) logging in again on a
// device whose keys were replaced elsewhere asks first, and "keep the old history read-only"
// shows the old chat read-only while the new chat works (phone and desktop layouts).
// The QR is fed to the scanner as an image (the safety screen's picture option), as the other
// safety e2e tests do.
import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addContact,
  composer,
  finishRegistration,
  openChat,
  screenshot,
  sendText,
  sidewaysOverflow,
  startOverAfterLogin,
  startRegistration,
  totp,
} from './app-steps.ts';
import { launchChromium } from './browser.ts';
import { type RunningRelay, relayDb, startAppWithRelay } from './relay.ts';
import type { Served } from './servers.ts';

let relay: RunningRelay;
let served: Served;
let browser: Browser;
const contexts: BrowserContext[] = [];
const run = Math.random().toString(36).slice(2, 7);

beforeAll(async () => {
  ({ served, relay } = await startAppWithRelay());
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await relay?.stop();
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ locale: 'en-US' });
  context.setDefaultTimeout(30_000);
  contexts.push(context);
  return context.newPage();
}

interface User {
  readonly name: string;
  readonly secret: string;
  readonly page: Page;
}

async function register(prefix: string): Promise<User> {
  const page = await newPage();
  const name = `${prefix}_${run}`;
  const secret = await startRegistration(page, served.url, name);
  await finishRegistration(page, secret);
  return { name, secret, page };
}

/** Two users who added each other; `from` sent `to` a message, so `to` knows `from`'s key. */
async function acquainted(from: User, to: User): Promise<void> {
  await addContact(from.page, to.name);
  await addContact(to.page, from.name);
  await openChat(from.page, served.url, to.name);
  await openChat(to.page, served.url, from.name);
  const text = `hello from ${from.name}`;
  await sendText(from.page, to.name, text);
  await to.page.locator('.message-scroller').getByText(text, { exact: true }).waitFor();
}

/** The QR of `page`'s safety screen with `contact`, as an image. */
async function safetyQr(page: Page, contact: string): Promise<Buffer> {
  await page.goto(`${served.url}/contacts/${contact}/safety`);
  const qr = page.locator('svg[role="img"]').first();
  await qr.waitFor();
  return qr.screenshot();
}

/** Feeds a QR image to the open safety screen's scanner (its picture option). */
async function scanImage(page: Page, image: Buffer): Promise<void> {
  await page.getByText('Use a picture of the code instead').click();
  await page
    .locator('input.file-input[type=file]')
    .setInputFiles({ name: 'qr.png', mimeType: 'image/png', buffer: image });
}

/** The user logs in on a new device (a reinstall): a new identity key, announced by the relay. */
async function reinstall(user: User, step: number): Promise<Page> {
  const page = await newPage();
  await page.goto(`${served.url}/login`);
  await page.getByLabel('Username').fill(user.name);
  await page.getByLabel('Code from your authenticator app').fill(await totp(user.secret, step));
  await page.getByRole('button', { name: 'Log in' }).click();
  await startOverAfterLogin(page);
  return page;
}

/**
 * The attack: the relay publishes a key of its own as `victim`'s identity key and announces
 * the change to everyone on either side of a contact relation, as its key upload does
 * (relay/src/keys/store.ts, ANNOUNCE).
 */
async function substituteIdentity(victim: string): Promise<void> {
  const db = await relayDb(relay);
  try {
    const { rows } = await db.query<{ id: string }>('SELECT id FROM users WHERE username = $1', [victim]);
    const id = rows[0]?.id;
    if (!id) throw new Error(`no user ${victim}`);
    const updated = await db.query(
      'UPDATE identity_keys SET public_key = $2, updated_at = now() WHERE user_id = $1',
      [id, randomBytes(32)],
    );
    expect(updated.rowCount).toBe(1);
    await db.query(
      `WITH targets AS (
         SELECT user_id AS id FROM contacts WHERE contact_id = $1
         UNION SELECT contact_id FROM contacts WHERE user_id = $1
       ),
       alloc AS (
         INSERT INTO user_streams AS us (user_id, seq) SELECT id, 1 FROM targets ORDER BY id
         ON CONFLICT (user_id) DO UPDATE SET seq = us.seq + 1
         RETURNING user_id, seq
       )
       INSERT INTO stream_events (user_id, seq, kind, subject_id, created_at)
       SELECT user_id, seq, 'key_change', $1, now() FROM alloc`,
      [id],
    );
  } finally {
    await db.end();
  }
}

const banner = (page: Page) => page.getByRole('alert', { name: 'Security key changed.' });

describe('key changes, end to end', () => {
  it('the relay substitutes a contact’s key: warned; the real contact’s QR matches only the OLD key; nothing accepted, sending held until the old key is kept', async () => {
    const alice = await register('kca');
    const bob = await register('kcb');
    await acquainted(alice, bob);
    const realAlice = await safetyQr(alice.page, bob.name);

    await substituteIdentity(alice.name);
    // Bob's app catches up with its stream (a reload reconnects) and learns the new key.
    await openChat(bob.page, served.url, alice.name);
    await banner(bob.page).waitFor();
    expect(await composer(bob.page, alice.name).isDisabled()).toBe(true);

    await bob.page.goto(`${served.url}/contacts/${alice.name}/safety`);
    await bob.page.getByRole('heading', { name: `Safety number of the NEW key of ${alice.name}` }).waitFor();
    await scanImage(bob.page, realAlice);
    await bob.page
      .getByText(`This code belongs to the OLD key of ${alice.name}`)
      .waitFor({ timeout: 30_000 });
    expect(await bob.page.getByText('The numbers match').count()).toBe(0);
    // Nothing accepted: still unverified, still warned, sending still held.
    await bob.page.getByText(`${alice.name} is not verified yet.`).waitFor();
    await bob.page.reload();
    await banner(bob.page).waitFor();
    await openChat(bob.page, served.url, alice.name);
    await banner(bob.page).waitFor();
    expect(await composer(bob.page, alice.name).isDisabled()).toBe(true);

    // The held composer says why, on a phone too.
    await bob.page.setViewportSize({ width: 390, height: 844 });
    await bob.page.getByText('Sending is paused until you review the security key change above.').waitFor();
    expect(await sidewaysOverflow(bob.page)).toBeLessThanOrEqual(0);
    await screenshot(bob.page, 'key-change-held-phone');

    // Bob keeps the old key: the real Alice's screen showed it. The relay still publishes its
    // own key, but Bob's session with the real Alice goes on, and she reads what he writes.
    await bob.page.goto(`${served.url}/contacts/${alice.name}/safety`);
    await scanImage(bob.page, realAlice);
    await bob.page.getByRole('button', { name: 'Keep the old key and refuse the new one' }).click();
    await bob.page.getByText(`You kept the verified key of ${alice.name} and refused the new one.`).waitFor();
    await bob.page.getByText(`You have verified ${alice.name}.`).waitFor();
    expect(await sidewaysOverflow(bob.page)).toBeLessThanOrEqual(0);
    await screenshot(bob.page, 'key-kept-phone');
    await bob.page.setViewportSize({ width: 1280, height: 800 });
    await openChat(bob.page, served.url, alice.name);
    expect(await banner(bob.page).count()).toBe(0);
    await bob.page
      .locator('.message-scroller')
      .getByText(`You kept the verified security key of ${alice.name} and refused a new one`, {
        exact: false,
      })
      .waitFor();
    await sendText(bob.page, alice.name, 'still you?');
    await openChat(alice.page, served.url, bob.name);
    await alice.page.locator('.message-scroller').getByText('still you?', { exact: true }).waitFor();
  });

  it('a genuine reinstall: scanning the new device’s QR verifies and accepts the new key in one step', async () => {
    const carol = await register('kcc');
    const bob = await register('kcd');
    await acquainted(carol, bob);
    const carolNew = await reinstall(carol, 1);
    await openChat(bob.page, served.url, carol.name);
    await banner(bob.page).waitFor();
    expect(await composer(bob.page, carol.name).isDisabled()).toBe(true);

    // The new device knows its contacts from the relay; its safety screen shows its new key.
    await carolNew.getByText(bob.name).first().waitFor();
    const newQr = await safetyQr(carolNew, bob.name);
    await bob.page.goto(`${served.url}/contacts/${carol.name}/safety`);
    await bob.page.getByRole('heading', { name: `Safety number of the NEW key of ${carol.name}` }).waitFor();
    await scanImage(bob.page, newQr);
    await bob.page
      .getByText(`The numbers match the new key. It is accepted and ${carol.name} is verified.`)
      .waitFor({ timeout: 30_000 });
    await banner(bob.page).waitFor({ state: 'hidden' });
    await bob.page.getByText(`You have verified ${carol.name}.`).waitFor();

    await openChat(bob.page, served.url, carol.name);
    expect(await composer(bob.page, carol.name).isDisabled()).toBe(false);
    await sendText(bob.page, carol.name, 'to your new phone ✅');
    await openChat(carolNew, served.url, bob.name);
    await carolNew.locator('.message-scroller').getByText('to your new phone ✅', { exact: true }).waitFor();
    // The change stays in the history as a timeline entry.
    await openChat(bob.page, served.url, carol.name);
    await bob.page.getByText(`The security key of ${carol.name} changed`).waitFor();
  });

  it('a verified contact changes key: sending held until the deliberate second step, then shown unverified', async () => {
    const dave = await register('kce');
    const bob = await register('kcf');
    await acquainted(dave, bob);
    const daveQr = await safetyQr(dave.page, bob.name);
    await bob.page.goto(`${served.url}/contacts/${dave.name}/safety`);
    await scanImage(bob.page, daveQr);
    await bob.page.getByText(`The numbers match. ${dave.name} is verified.`).waitFor({ timeout: 30_000 });

    await reinstall(dave, 1);
    await openChat(bob.page, served.url, dave.name);
    await banner(bob.page).waitFor();
    await bob.page.getByText(`You had verified ${dave.name}.`).waitFor();
    expect(await bob.page.getByRole('button', { name: 'I understand, continue' }).count()).toBe(0);
    expect(await composer(bob.page, dave.name).isDisabled()).toBe(true);
    // The first step only asks; sending stays held.
    await bob.page.getByRole('button', { name: 'Accept without verifying…' }).click();
    await bob.page.getByText(`Accept the new key of ${dave.name} without verifying it?`).waitFor();
    expect(await composer(bob.page, dave.name).isDisabled()).toBe(true);
    await bob.page.getByRole('button', { name: 'Accept without verifying', exact: true }).click();
    await banner(bob.page).waitFor({ state: 'hidden' });
    expect(await composer(bob.page, dave.name).isDisabled()).toBe(false);
    await bob.page.goto(`${served.url}/contacts/${dave.name}/safety`);
    await bob.page.getByText(`${dave.name} is not verified yet.`).waitFor();
  });

  it('logging in again where the keys were replaced elsewhere: "keep read-only" shows the old chat read-only, and the new chat works', async () => {
    // Registered by hand to keep the recovery codes: each login below needs its own code.
    const page = await newPage();
    const name = `kcg_${run}`;
    const secret = await startRegistration(page, served.url, name);
    await page.getByLabel('2. Enter the code the app shows now').fill(await totp(secret));
    await page.getByRole('button', { name: 'Create account' }).click();
    const list = page.getByRole('list', { name: 'Recovery codes' });
    await list.waitFor({ timeout: 60_000 });
    const codes = (await list.getByRole('listitem').allTextContents()).map((c) => c.trim());
    await page.getByRole('checkbox', { name: 'I have saved my recovery codes' }).check();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(/\/chats$/);
    const erin: User = { name, secret, page };
    const bob = await register('kch');
    await acquainted(erin, bob);
    await sendText(bob.page, erin.name, 'reply to the old keys');
    await erin.page
      .locator('.message-scroller')
      .getByText('reply to the old keys', { exact: true })
      .waitFor();

    // Erin logs out here keeping the history, and logs in on another device (new keys).
    await erin.page.goto(`${served.url}/settings`);
    await erin.page.getByRole('button', { name: 'Log out', exact: true }).click();
    await erin.page.getByRole('button', { name: 'Log out, keep the history' }).click();
    await erin.page.waitForURL(/\/login$/);
    const login = async (p: Page, code: string) => {
      await p.goto(`${served.url}/login`);
      await p.getByLabel('Username').fill(erin.name);
      await p.getByRole('button', { name: 'Lost your phone? Use a recovery code' }).click();
      await p.getByLabel('Recovery code').fill(code);
      await p.getByRole('button', { name: 'Log in' }).click();
    };
    const elsewhere = await newPage();
    await login(elsewhere, codes[0] ?? '');
    await startOverAfterLogin(elsewhere);

    // Back on the first device: asked before anything is erased; she keeps it read-only.
    await login(erin.page, codes[1] ?? '');
    const dialog = erin.page.getByRole('dialog', { name: 'This device holds older keys' });
    await dialog.waitFor({ timeout: 60_000 });
    await dialog.getByRole('button', { name: 'Keep the old history read-only' }).click();
    await erin.page.waitForURL(/\/chats$/, { timeout: 60_000 });
    await erin.page.getByRole('link', { name: /^Read-only history from / }).click();
    await erin.page.getByRole('heading', { name: 'Read-only history', level: 1 }).waitFor();
    await erin.page.getByText(/^Archived on /).waitFor();
    await erin.page.getByText(`hello from ${erin.name}`, { exact: true }).waitFor();
    await erin.page.getByText('reply to the old keys', { exact: true }).waitFor();
    // Read-only: nothing to type into, nothing to send.
    expect(await erin.page.getByRole('textbox').count()).toBe(0);
    for (const [label, size] of [
      ['phone', { width: 390, height: 844 }],
      ['desktop', { width: 1280, height: 800 }],
    ] as const) {
      await erin.page.setViewportSize(size);
      expect(await sidewaysOverflow(erin.page), `${label}: no sideways scrolling`).toBeLessThanOrEqual(0);
      await expect
        .poll(() => erin.page.getByRole('button', { name: 'Delete this archive' }).isVisible())
        .toBe(true);
      await screenshot(erin.page, `archive-${label}`);
    }

    // The login went on with new keys: a new chat with Bob works.
    await erin.page.goto(`${served.url}/chats`);
    await addContact(erin.page, bob.name);
    await openChat(erin.page, served.url, bob.name);
    await sendText(erin.page, bob.name, 'from my new keys');
    await openChat(bob.page, served.url, erin.name);
    await bob.page.locator('.message-scroller').getByText('from my new keys', { exact: true }).waitFor();
  });
});
