// Linked devices as people use them (spec/protocol.md §16), in real Chromium against the real
// relay: Alice's laptop, Alice's phone (390×844, a phone's User-Agent) and Bob, three browser
// contexts. Alice links the phone by its QR code, read from a picture (the link dialog's file
// option, as the safety e2e feeds QR codes). Bob is warned of nothing and sees the same safety
// number; his text and photo reach both of Alice's devices; what Alice sends from the phone
// shows on the laptop as sent by her; the phone got the recent history it was offered; a contact
// added on one device and a block made on the other reach the other device while both are
// online. Alice unlinks the phone and nothing more is stored for it. Then the plaintext canary over the
// relay's database and photo store. The new screens are checked at 390×844 and at desktop size.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addContact,
  finishRegistration,
  gradientPng,
  openChat,
  screenshot,
  sendText,
  sidewaysOverflow,
  startRegistration,
  totp,
} from './app-steps.ts';
import { keepObjectUrlBlobs, launchChromium, watchPolicyViolations } from './browser.ts';
import { plaintextCanary, type RunningRelay, relayDb, startAppWithRelay } from './relay.ts';
import type { Served } from './servers.ts';

let relay: RunningRelay;
let served: Served;
let browser: Browser;
const run = Math.random().toString(36).slice(2, 7);
const ALICE = `la_${run}`;
const BOB = `lb_${run}`;
const PHONE_UA =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const TEXTS = {
  before: 'before the phone existed 🦊 secret one',
  reply: 'Bob’s reply before linking — secret two',
  toBoth: 'Bob to both of Alice’s devices 📱💻 secret three',
  fromPhone: 'Alice from her phone — secret four',
  afterUnlink: 'after the phone was unlinked — secret five',
};

interface Side {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly violations: string[];
}
const sides: Record<'laptop' | 'phone' | 'bob', Side> = {} as never;
let aliceSecret = '';
let aliceRecovery: string[] = [];
let bobSafety = '';
/** Decrypted photo bytes as the receiving devices showed them (for the canary). */
const photoBytes: Uint8Array[] = [];

async function side(options: Parameters<Browser['newContext']>[0]): Promise<Side> {
  const context = await browser.newContext({ locale: 'en-US', ...options });
  context.setDefaultTimeout(30_000);
  const violations = await watchPolicyViolations(context);
  await keepObjectUrlBlobs(context);
  return { context, page: await context.newPage(), violations };
}

beforeAll(async () => {
  ({ served, relay } = await startAppWithRelay());
  browser = await launchChromium();
  sides.laptop = await side({ viewport: DESKTOP });
  sides.phone = await side({ viewport: PHONE, userAgent: PHONE_UA, isMobile: true, hasTouch: true });
  sides.bob = await side({ viewport: DESKTOP });
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await relay?.stop();
});

const scroller = (page: Page) => page.locator('.message-scroller');

/** No sideways scrolling at the page's current size. */
async function fits(page: Page, label: string): Promise<void> {
  expect(await sidewaysOverflow(page), `${label}: no sideways scrolling`).toBeLessThanOrEqual(0);
}

/** The bytes of the photo an <img> shows (kept by the init script). */
async function shownBytes(page: Page, alt: string): Promise<Uint8Array> {
  const img = page.locator(`.message-scroller img[alt="${alt}"]`).last();
  await img.waitFor({ timeout: 60_000 });
  await page.waitForFunction(
    (a) =>
      Array.from(document.querySelectorAll<HTMLImageElement>(`.message-scroller img[alt="${a}"]`)).some(
        (i) => i.complete && i.naturalWidth > 0,
      ),
    alt,
  );
  const bytes = await img.evaluate(async (el: HTMLImageElement) => {
    const blob = (window as unknown as { __blobs: Map<string, Blob> }).__blobs.get(el.src);
    return blob ? [...new Uint8Array(await blob.arrayBuffer())] : [];
  });
  return Uint8Array.from(bytes);
}

describe('linked devices, end to end', () => {
  it('Alice and Bob talk; Alice’s laptop holds the history', async () => {
    const { page: laptop } = sides.laptop;
    const { page: bob } = sides.bob;
    // Registered by hand to keep the recovery codes (the phone logs in again after the unlink).
    aliceSecret = await startRegistration(laptop, served.url, ALICE);
    await laptop.getByLabel('2. Enter the code the app shows now').fill(await totp(aliceSecret));
    await laptop.getByRole('button', { name: 'Create account' }).click();
    const codes = laptop.getByRole('list', { name: 'Recovery codes' });
    await codes.waitFor({ timeout: 60_000 });
    aliceRecovery = (await codes.getByRole('listitem').allTextContents()).map((c) => c.trim());
    await laptop.getByRole('checkbox', { name: 'I have saved my recovery codes' }).check();
    await laptop.getByRole('button', { name: 'Continue' }).click();
    await laptop.waitForURL(/\/chats$/);
    await finishRegistration(bob, await startRegistration(bob, served.url, BOB));
    await addContact(laptop, BOB);
    await addContact(bob, ALICE);
    await openChat(laptop, served.url, BOB);
    await sendText(laptop, BOB, TEXTS.before);
    await openChat(bob, served.url, ALICE);
    await scroller(bob).getByText(TEXTS.before, { exact: true }).waitFor();
    await sendText(bob, ALICE, TEXTS.reply);
    await scroller(laptop).getByText(TEXTS.reply, { exact: true }).waitFor();
    // Bob's safety number with Alice, before any linking.
    await bob.goto(`${served.url}/contacts/${ALICE}/safety`);
    bobSafety = ((await bob.locator('.safety-number').textContent()) ?? '').replace(/\s+/g, '');
    expect(bobSafety).toMatch(/^\d{60}$/);
  });

  it('the phone logs in, is offered linking, and shows its code (phone layout)', async () => {
    const { page: phone } = sides.phone;
    await phone.goto(`${served.url}/login`);
    await phone.getByLabel('Username').fill(ALICE);
    await phone.getByLabel('Code from your authenticator app').fill(await totp(aliceSecret, 1));
    await phone.getByRole('button', { name: 'Log in' }).click();
    const ask = phone.getByRole('dialog', { name: 'Your account is already set up on another device' });
    await ask.waitFor({ timeout: 60_000 });
    await fits(phone, 'link choice, phone');
    await screenshot(phone, 'link-choice-phone');
    await ask.getByRole('button', { name: 'Link to your other device' }).click();
    await phone.getByRole('img', { name: 'Link code of this device' }).waitFor({ timeout: 60_000 });
    await phone.getByText('This device appears there as: Chrome on Android (phone)').waitFor();
    await phone.getByText(/The code expires in [45]:\d\d\./).waitFor();
    await fits(phone, 'link code, phone');
    await screenshot(phone, 'link-code-phone');
  });

  it('the laptop links it from a picture of the code: the phone’s description, the history choice', async () => {
    const { page: laptop } = sides.laptop;
    const { page: phone } = sides.phone;
    const code = await phone.getByRole('img', { name: 'Link code of this device' }).screenshot();
    await laptop.goto(`${served.url}/settings`);
    await laptop.getByRole('list', { name: 'Your devices' }).getByText('this device').waitFor();
    await laptop.getByRole('button', { name: 'Link a new device' }).click();
    const dialog = laptop.getByRole('dialog', { name: 'Link a new device' });
    await dialog.getByText('Use a picture of the code instead').click();
    await dialog.getByText(/Never use a link code someone sent you/).waitFor();
    await fits(laptop, 'link dialog, desktop');
    await dialog
      .locator('input.file-input[type=file]')
      .setInputFiles({ name: 'link.png', mimeType: 'image/png', buffer: code });
    const confirm = laptop.getByRole('dialog', { name: 'Link this device?' });
    await confirm
      .getByText('“Chrome on Android” (phone) asks to join your account', { exact: false })
      .waitFor();
    const history = confirm.getByRole('checkbox', {
      name: 'Also send recent history (last 200 messages per chat)',
    });
    expect(await history.isChecked()).toBe(true);
    await screenshot(laptop, 'link-confirm-desktop');
    await laptop.setViewportSize(PHONE);
    await fits(laptop, 'link confirmation, phone');
    await screenshot(laptop, 'link-confirm-phone');
    await laptop.setViewportSize(DESKTOP);
    await confirm.getByRole('button', { name: 'Link device' }).click();
    const done = laptop.getByRole('dialog', { name: 'Link a new device' });
    await done.getByText('“Chrome on Android” is linked.', { exact: false }).waitFor({ timeout: 60_000 });
    await done.getByRole('button', { name: 'Close' }).click();

    // The phone finishes by itself: signed in, the chat with Bob and its recent history there.
    await phone.waitForURL(/\/chats$/, { timeout: 60_000 });
    await openChat(phone, served.url, BOB);
    await scroller(phone).getByText(TEXTS.before, { exact: true }).waitFor();
    await scroller(phone).getByText(TEXTS.reply, { exact: true }).waitFor();
    // Imported history is read: no unread mark for it.
    await phone.goto(`${served.url}/chats`);
    expect(await phone.getByText(/unread message/).count()).toBe(0);
    // Both devices listed, on both.
    for (const page of [laptop, phone]) {
      await page.goto(`${served.url}/settings`);
      const list = page.getByRole('list', { name: 'Your devices' });
      await list.getByText('Chrome on Android').waitFor();
      await expect.poll(() => list.getByRole('listitem').count()).toBe(2);
    }
    await fits(phone, 'device list, phone');
    await screenshot(phone, 'devices-phone');
    await screenshot(laptop, 'devices-desktop');
  });

  it('Bob is warned of nothing and sees the same safety number', async () => {
    const { page: bob } = sides.bob;
    await bob.reload();
    await bob.goto(`${served.url}/contacts/${ALICE}/safety`);
    await bob.locator('.safety-number').waitFor();
    const now = ((await bob.locator('.safety-number').textContent()) ?? '').replace(/\s+/g, '');
    expect(now).toBe(bobSafety);
    await openChat(bob, served.url, ALICE);
    expect(await bob.getByText('Security key changed.').count()).toBe(0);
    expect(await bob.getByText(/security key of .* changed/).count()).toBe(0);
  });

  it('Bob’s text and photo reach both of Alice’s devices', async () => {
    const { page: bob } = sides.bob;
    const { page: laptop } = sides.laptop;
    const { page: phone } = sides.phone;
    await openChat(laptop, served.url, BOB);
    await openChat(phone, served.url, BOB);
    await sendText(bob, ALICE, TEXTS.toBoth);
    await scroller(laptop).getByText(TEXTS.toBoth, { exact: true }).waitFor({ timeout: 60_000 });
    await scroller(phone).getByText(TEXTS.toBoth, { exact: true }).waitFor({ timeout: 60_000 });
    await bob
      .locator('form.composer input[type=file]')
      .setInputFiles({ name: 'view.png', mimeType: 'image/png', buffer: gradientPng(320, 240, 90) });
    const onLaptop = await shownBytes(laptop, `Photo from ${BOB}`);
    const onPhone = await shownBytes(phone, `Photo from ${BOB}`);
    expect(onLaptop.length).toBeGreaterThan(100);
    expect(Buffer.from(onPhone).equals(Buffer.from(onLaptop))).toBe(true);
    photoBytes.push(onLaptop);
  });

  it('what Alice sends from the phone shows on the laptop as sent by her', async () => {
    const { page: bob } = sides.bob;
    const { page: laptop } = sides.laptop;
    const { page: phone } = sides.phone;
    await sendText(phone, BOB, TEXTS.fromPhone);
    await scroller(bob).getByText(TEXTS.fromPhone, { exact: true }).waitFor({ timeout: 60_000 });
    const mine = scroller(laptop).locator('.bubble-mine').getByText(TEXTS.fromPhone, { exact: true });
    await mine.waitFor({ timeout: 60_000 });
    expect(
      await scroller(laptop).locator('.bubble:not(.bubble-mine)').getByText(TEXTS.fromPhone).count(),
    ).toBe(0);
  });

  it('a contact added on the laptop appears on the phone, and one blocked on the phone is marked blocked on the laptop, both online', async () => {
    const { page: laptop } = sides.laptop;
    const { page: phone } = sides.phone;
    const carol = await side({ viewport: DESKTOP });
    try {
      const CAROL = `lc_${run}`;
      await finishRegistration(carol.page, await startRegistration(carol.page, served.url, CAROL));
      const chatLink = (page: Page) =>
        page.locator('.chat-list').getByRole('link', { name: new RegExp(`^${CAROL}`) });
      await laptop.goto(`${served.url}/chats`);
      // The phone goes to its chat list inside the app, without a reload: its socket stays the
      // one it had, so Carol can only arrive through it (a reload would read the lists anew).
      await phone.getByRole('link', { name: 'Back to chats' }).click();
      await phone.waitForURL(/\/chats$/);
      await addContact(laptop, CAROL);
      // The laptop's change reaches the phone over its open socket (a contacts_changed item).
      await chatLink(phone).waitFor({ timeout: 30_000 });
      await chatLink(phone).click();
      await phone.getByRole('button', { name: 'Block' }).click();
      await phone
        .getByRole('dialog', { name: `Block ${CAROL}?` })
        .getByRole('button', { name: 'Block' })
        .click();
      await phone.waitForURL(/\/chats$/);
      expect(await chatLink(phone).count()).toBe(0);
      // The laptop keeps its chat, marked blocked: the account's block list is the relay's word,
      // which must not wipe a history (SECURITY.md "Blocking"). Deleting it there is one tap.
      await chatLink(laptop).filter({ hasText: 'blocked' }).waitFor({ timeout: 30_000 });
      await chatLink(laptop).click();
      const banner = laptop.getByRole('region', { name: `You blocked ${CAROL}.` });
      await banner.waitFor();
      expect(await laptop.getByRole('textbox', { name: `Message to ${CAROL}` }).isDisabled()).toBe(true);
      await fits(laptop, 'chat blocked on another device, desktop');
      await laptop.setViewportSize(PHONE);
      await fits(laptop, 'chat blocked on another device, phone');
      await screenshot(laptop, 'chat-blocked-elsewhere-phone');
      await laptop.setViewportSize(DESKTOP);
      await banner.getByRole('button', { name: 'Delete chat' }).click();
      await laptop.waitForURL(/\/chats$/);
      await chatLink(laptop).waitFor({ state: 'detached', timeout: 30_000 });
    } finally {
      await carol.context.close();
    }
  });

  it('Alice unlinks the phone from the laptop: it is signed out and nothing more is stored for it', async () => {
    const { page: bob } = sides.bob;
    const { page: laptop } = sides.laptop;
    const { page: phone } = sides.phone;
    await laptop.goto(`${served.url}/settings`);
    await laptop.getByRole('button', { name: 'Remove Chrome on Android' }).click();
    const dialog = laptop.getByRole('dialog', { name: 'Remove Chrome on Android?' });
    await dialog.getByRole('button', { name: 'Remove device' }).click();
    // More than 5 minutes since the laptop's login: the relay asks for a fresh code.
    const code = dialog.getByLabel('Code from your authenticator app');
    const asked = await Promise.race([
      code.waitFor().then(() => true),
      laptop
        .getByText('Chrome on Android was removed.')
        .waitFor()
        .then(() => false),
    ]);
    if (asked) {
      // Minutes after the logins: the current step's code is a fresh one.
      await code.fill(await totp(aliceSecret));
      await dialog.getByRole('button', { name: 'Remove device' }).click();
    }
    await laptop.getByText('Chrome on Android was removed.').waitFor({ timeout: 30_000 });
    await expect
      .poll(() => laptop.getByRole('list', { name: 'Your devices' }).getByRole('listitem').count())
      .toBe(1);
    // The phone's session ended: it is back at the login screen.
    await phone.reload();
    await phone.waitForURL(/\/login$/, { timeout: 60_000 });
    // Logging in there again: told it was unlinked; linking again is offered first.
    await phone.getByLabel('Username').fill(ALICE);
    await phone.getByRole('button', { name: 'Lost your phone? Use a recovery code' }).click();
    await phone.getByLabel('Recovery code').fill(aliceRecovery[0] ?? '');
    await phone.getByRole('button', { name: 'Log in' }).click();
    const unlinked = phone.getByRole('dialog', { name: 'This device was unlinked from your account' });
    await unlinked.waitFor({ timeout: 60_000 });
    await unlinked.getByRole('button', { name: 'Link to your other device' }).waitFor();
    await fits(phone, 'unlinked device, phone');
    await screenshot(phone, 'unlinked-phone');
    await unlinked.getByRole('button', { name: 'Cancel, keep the history' }).click();
    await unlinked.waitFor({ state: 'hidden' });

    await sendText(bob, ALICE, TEXTS.afterUnlink);
    await openChat(laptop, served.url, BOB);
    await scroller(laptop).getByText(TEXTS.afterUnlink, { exact: true }).waitFor({ timeout: 60_000 });
    const db = await relayDb(relay);
    try {
      const alice = (await db.query<{ id: string }>('SELECT id FROM users WHERE username = $1', [ALICE]))
        .rows[0]?.id;
      const bobId = (await db.query<{ id: string }>('SELECT id FROM users WHERE username = $1', [BOB]))
        .rows[0]?.id;
      const removed = await db.query<{ device_id: number; removed_at: Date }>(
        "SELECT device_id, removed_at FROM devices WHERE user_id = $1 AND removed_reason = 'unlinked'",
        [alice],
      );
      expect(removed.rows).toHaveLength(1);
      const phoneId = removed.rows[0]?.device_id;
      const copies = await db.query<{ receiver_device_id: number }>(
        'SELECT receiver_device_id FROM messages WHERE sender_id = $1 AND NOT own AND created_at > $2',
        [bobId, removed.rows[0]?.removed_at],
      );
      // Bob's message after the unlink: a copy for the laptop, none for the phone.
      expect(copies.rows.length).toBeGreaterThan(0);
      expect(copies.rows.map((r) => r.receiver_device_id)).not.toContain(phoneId);
      const live = await db.query(
        'SELECT 1 FROM sessions WHERE user_id = $1 AND device_id = $2 AND revoked_at IS NULL',
        [alice, phoneId],
      );
      expect(live.rows).toHaveLength(0);
    } finally {
      await db.end();
    }
  });

  it('plaintext canary: no message text or photo byte in the database or the photo store; no CSP violation', async () => {
    const needles = [
      ...Object.values(TEXTS).map((t) => Buffer.from(t)),
      ...Object.values(TEXTS).map((t) => Buffer.from(t.slice(0, 12))),
      ...photoBytes.map((b) =>
        Buffer.from(b.subarray(Math.floor(b.length / 2), Math.floor(b.length / 2) + 32)),
      ),
    ];
    expect(await plaintextCanary(relay, needles)).toEqual([]);
    for (const s of Object.values(sides)) expect(s.violations).toEqual([]);
  });
});
