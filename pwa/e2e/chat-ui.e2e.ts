// The chat as a person sees it, in real Chromium against the real relay, at desktop size and
// at 390×844 (a phone): registration cards line up with the heading; an unknown username is
// named as such; photos keep the chat at its newest message (arriving, on opening, after an
// offline reload) and a "new messages" button appears when the user has scrolled up; the
// full-screen photo viewer covers the viewport with Save and Close on top and clickable; after
// an offline reload the banner says "Offline", never "Connecting…"; the emoji picker works
// offline on its first use; controls are SVG icons, not emoji glyphs; on a phone in Russian each
// recovery code stays on one line and the confirmation box sits beside its wrapped label;
// messages that expired on the relay before the phone came back are named in its chat list and
// chat (the relay here keeps messages one day and sweeps every second; the test ages them).
// Screenshots of each screen go to node_modules/.e2e-screenshots (app-steps.ts) for a person to
// look at.
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  addContact,
  composer,
  distanceFromBottom,
  finishRegistration,
  gradientPng,
  openChat,
  screenshot,
  sendText,
  sidewaysOverflow,
  startRegistration,
  totp,
  widerThanScreen,
} from './app-steps.ts';
import { launchChromium } from './browser.ts';
import { type RunningRelay, relayDb, startAppWithRelay } from './relay.ts';
import type { Served } from './servers.ts';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let relay: RunningRelay;
let served: Served;
let browser: Browser;
let alice: { context: BrowserContext; page: Page };
let bob: { context: BrowserContext; page: Page };
const run = Math.random().toString(36).slice(2, 7);
const ALICE = `ui_alice_${run}`;
const BOB = `ui_bob_${run}`;
/** USERNAME_MAX (32) characters, none of them a place to break a line. */
// The longest username there is, padded with the widest letter, with nowhere to break.
const LONG = `ui_long_${run}`.padEnd(32, 'm');
/** Bob's authenticator secret (the re-enrolment dialog asks for a current code). */
let bobSecret = '';

beforeAll(async () => {
  ({ served, relay } = await startAppWithRelay({ RETENTION_DAYS: '1', SWEEP_INTERVAL_SECONDS: '1' }));
  browser = await launchChromium();
  const open = async (viewport: typeof DESKTOP) => {
    const context = await browser.newContext({ locale: 'en-US', viewport });
    context.setDefaultTimeout(30_000);
    return { context, page: await context.newPage() };
  };
  alice = await open(DESKTOP);
  bob = await open(PHONE);
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await relay?.stop();
});

/** The element's box in CSS pixels. */
async function box(locator: Locator) {
  const b = await locator.boundingBox();
  if (!b) throw new Error('element has no box');
  return b;
}

/** The heading and every card of the registration's enrolment step share a left edge and width. */
async function expectCardsAligned(page: Page) {
  const heading = await box(page.getByRole('heading', { level: 1 }));
  const cards = page.locator('.card');
  expect(await cards.count()).toBeGreaterThanOrEqual(3);
  for (const card of await cards.all()) {
    const b = await box(card);
    // Soft: a misalignment is reported, and the registration still finishes for the next tests.
    expect.soft(Math.abs(b.x - heading.x)).toBeLessThanOrEqual(1);
    expect.soft(Math.abs(b.width - heading.width)).toBeLessThanOrEqual(1);
  }
  const width = page.viewportSize()?.width ?? 0;
  expect(heading.x + heading.width).toBeLessThanOrEqual(width);
}

/**
 * The photo viewer is open and is a real full-screen modal: it covers the viewport, Save and
 * Close are inside it and are the topmost element at their centre (nothing paints over them).
 */
async function expectViewerCoversViewport(page: Page, name: string) {
  const viewport = page.viewportSize() as { width: number; height: number };
  const dialog = page.getByRole('dialog', { name: `Photo from ${BOB}` });
  await dialog.waitFor();
  const d = await box(dialog);
  expect(d).toEqual({ x: 0, y: 0, width: viewport.width, height: viewport.height });
  for (const control of [
    dialog.getByRole('link', { name: 'Save photo' }),
    dialog.getByRole('button', { name: 'Close' }),
  ]) {
    const b = await box(control);
    expect(b.x).toBeGreaterThanOrEqual(0);
    expect(b.y).toBeGreaterThanOrEqual(0);
    expect(b.x + b.width).toBeLessThanOrEqual(viewport.width);
    expect(b.y + b.height).toBeLessThanOrEqual(viewport.height);
    const onTop = await control.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
      return !!hit && el.contains(hit);
    });
    expect(onTop).toBe(true);
  }
  // The photo lies inside the viewer, below the bar, entirely on screen.
  const img = await box(dialog.getByRole('img'));
  const close = await box(dialog.getByRole('button', { name: 'Close' }));
  expect(img.y).toBeGreaterThanOrEqual(close.y + close.height);
  expect(img.y + img.height).toBeLessThanOrEqual(viewport.height);
  expect(img.width).toBeGreaterThan(viewport.width / 3);
  await screenshot(page, name);
}

/** What the user sees after reloading the chat with no network (see the offline test). */
async function offlineChecks(page: Page) {
  await page.reload();
  await composer(page, BOB).waitFor();
  await page
    .getByText('Offline — messages you write now will be sent when the connection is back.')
    .waitFor();
  await page.locator(`.message-scroller img[alt="Photo from ${BOB}"]`).nth(1).waitFor();
  expect(await distanceFromBottom(page)).toBeLessThanOrEqual(2);
  const said = await page.evaluate(() => (window as unknown as { __banner: string[] }).__banner);
  expect(said.length).toBeGreaterThan(0);
  expect(said.filter((s) => s.includes('Connecting'))).toEqual([]);
  // The emoji picker's first use, offline: its data comes from the service worker's precache.
  await page.getByRole('button', { name: 'Emoji' }).click();
  const grid = page.getByRole('list', { name: 'Emoji' });
  await grid.getByRole('button').first().waitFor();
  expect(await grid.getByRole('button').count()).toBeGreaterThan(50);
  await page.getByRole('button', { name: 'Animals and nature' }).click();
  await grid.getByRole('button', { name: 'cat face', exact: true }).click();
  expect(await composer(page, BOB).inputValue()).toBe('🐱');
  await screenshot(page, 'offline-emoji-desktop');
  expect(await page.getByText('Connecting…').count()).toBe(0);
}

describe('chat UI at desktop and phone sizes', () => {
  it('registration: the cards are as wide as the heading and start at its left edge', async () => {
    const aliceSecret = await startRegistration(alice.page, served.url, ALICE);
    await expectCardsAligned(alice.page);
    await screenshot(alice.page, 'register-desktop');
    bobSecret = await startRegistration(bob.page, served.url, BOB);
    await expectCardsAligned(bob.page);
    await screenshot(bob.page, 'register-phone');
    await finishRegistration(alice.page, aliceSecret);
    await finishRegistration(bob.page, bobSecret);
  });

  it('phone, in Russian: each recovery code on one line, the confirmation box beside its label; a 32-character username wraps', async () => {
    const context = await browser.newContext({ locale: 'ru-RU', viewport: PHONE });
    context.setDefaultTimeout(30_000);
    const page = await context.newPage();
    await page.goto(`${served.url}/register`);
    await page.getByLabel('Имя пользователя').fill(LONG);
    await page.getByRole('button', { name: 'Продолжить' }).click();
    const shown = ((await page.locator('.totp-secret').textContent()) ?? '').replace(/\s+/g, '');
    const secret = shown.slice(shown.lastIndexOf(':') + 1);
    await page.getByLabel('2. Введите код, который сейчас показывает приложение').fill(await totp(secret));
    await page.getByRole('button', { name: 'Создать аккаунт' }).click();
    await page.getByRole('heading', { name: 'Сохраните коды восстановления' }).waitFor({ timeout: 60_000 });
    await screenshot(page, 'recovery-codes-phone-ru');

    // A code broken over two lines reads as two codes, or as one with a piece missing.
    const codes = await page.getByRole('list', { name: 'Коды восстановления' }).getByRole('listitem').all();
    expect(codes.length).toBeGreaterThan(0);
    for (const code of codes) {
      const lineTops = await code.evaluate((el) => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top))).size;
      });
      expect(lineTops).toBe(1);
      const b = await box(code);
      expect(b.x + b.width).toBeLessThanOrEqual(PHONE.width);
    }

    // The label wraps beside the box: the box sits on its first line, left of the text.
    const check = page.getByRole('checkbox', { name: 'Коды восстановления сохранены в надёжном месте' });
    const firstLine = await page.locator('label', { has: check }).evaluate((el) => {
      const text = Array.from(el.childNodes).find((n) => n.nodeType === Node.TEXT_NODE);
      if (!text) throw new Error('the label has no text');
      const range = document.createRange();
      range.selectNodeContents(text);
      const r = range.getClientRects()[0] as DOMRect;
      return { left: r.left, top: r.top, bottom: r.bottom };
    });
    const b = await box(check);
    expect(b.x + b.width).toBeLessThanOrEqual(firstLine.left);
    expect(b.y + b.height / 2).toBeGreaterThanOrEqual(firstLine.top);
    expect(b.y + b.height / 2).toBeLessThanOrEqual(firstLine.bottom);

    await check.check();
    await page.getByRole('button', { name: 'Продолжить' }).click();
    await page.waitForURL(/\/chats$/);

    // The longest username there can be, with no place to break, in a heading on a phone: it
    // wraps instead of running off the screen or panning the page sideways.
    await addContact(bob.page, LONG);
    for (const path of [`/contacts/${LONG}/safety`, `/chats/${LONG}`]) {
      await bob.page.goto(`${served.url}${path}`);
      const heading = bob.page.getByRole('heading', { level: 1 });
      await heading.waitFor();
      expect(
        await sidewaysOverflow(bob.page),
        `${path}: ${await widerThanScreen(bob.page)}`,
      ).toBeLessThanOrEqual(0);
      const right = await heading.evaluate((el) => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return Math.max(...Array.from(range.getClientRects(), (r) => r.right));
      });
      expect(right, path).toBeLessThanOrEqual(PHONE.width);
    }
    await screenshot(bob.page, 'long-username-phone');
    await bob.page.goto(`${served.url}/chats`);
  });

  it('adding a username with no account says there is no such account', async () => {
    await addContact(alice.page, BOB);
    await addContact(bob.page, ALICE);
    await alice.page.getByLabel('Their username').fill(`nobody_${run}`);
    await alice.page.getByRole('button', { name: 'Add', exact: true }).click();
    await alice.page.getByText('There is no account with this username.').waitFor();
    expect(await alice.page.getByText('Not found.').count()).toBe(0);
  });

  it('controls are SVG icons with names, not emoji glyphs', async () => {
    await openChat(alice.page, served.url, BOB);
    for (const name of ['Emoji', 'Attach a photo', 'Back to chats']) {
      const control = alice.page.getByRole(name === 'Back to chats' ? 'link' : 'button', { name });
      expect(await control.locator('svg').count()).toBe(1);
      expect(((await control.textContent()) ?? '').trim()).toBe('');
    }
  });

  it('photos arriving keep the chat at its newest message; the box is reserved before loading', async () => {
    const page = alice.page;
    await openChat(bob.page, served.url, ALICE);
    for (let i = 1; i <= 12; i++) await sendText(bob.page, ALICE, `line ${i} before the photos`);
    await page.locator('.message-scroller').getByText('line 12 before the photos').waitFor();
    const photos: [string, Buffer][] = [
      ['landscape.png', gradientPng(1200, 900, 40)],
      ['portrait.png', gradientPng(1500, 2500, 200)],
    ];
    for (const [name, buffer] of photos) {
      await bob.page
        .locator('form.composer input[type=file]')
        .setInputFiles({ name, mimeType: 'image/png', buffer });
      await bob.page
        .locator('.message-scroller .photo-thumb img')
        .nth(photos.findIndex(([n]) => n === name))
        .waitFor({ timeout: 60_000 });
    }
    // The newest message is a photo: its row must not grow under the view when it loads.
    await page.locator(`.message-scroller img[alt="Photo from ${BOB}"]`).nth(1).waitFor({ timeout: 60_000 });
    expect(await distanceFromBottom(page)).toBeLessThanOrEqual(2);
    // Each image fills the box that was reserved for it from the stated width and height.
    for (const [i, ratio] of [
      [0, 1200 / 900],
      [1, 1500 / 2500],
    ] as const) {
      const b = await box(page.locator('.message-scroller .photo-box').nth(i));
      expect(Math.abs(b.width / b.height - ratio)).toBeLessThan(0.02);
      const img = await box(page.locator('.message-scroller .photo-box img').nth(i));
      expect(img).toEqual(b);
    }
    await screenshot(page, 'chat-desktop');
  });

  it('desktop: the photo viewer covers the viewport; Close is clickable; Escape, a click beside the photo and Close close it', async () => {
    const page = alice.page;
    const thumb = page.getByRole('button', { name: `Open full screen: Photo from ${BOB}` }).first();
    await thumb.click();
    await expectViewerCoversViewport(page, 'viewer-desktop');
    const dialog = page.getByRole('dialog');
    // Focus stays inside: Tab past the last control comes back to the first.
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      expect(await dialog.evaluate((el) => el.contains(document.activeElement))).toBe(true);
    }
    // The page under it is inert while it is open.
    expect(await page.evaluate(() => document.getElementById('root')?.inert)).toBe(true);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.getElementById('root')?.inert)).toBe(false);
    await thumb.click();
    await page.mouse.click(5, DESKTOP.height - 5);
    await dialog.waitFor({ state: 'detached' });
    await thumb.click();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(
      `Open full screen: Photo from ${BOB}`,
    );
  });

  it('phone: opening the chat lands on the newest message; the viewer covers the screen and closes', async () => {
    // A second tab of Alice's browser: the account is open in one tab at a time, so it takes it
    // ("Use here", state/active-tab.ts) and, once closed, leaves it free for her first tab again.
    const page = await alice.context.newPage();
    await page.setViewportSize(PHONE);
    await page.goto(`${served.url}/chats`);
    await page.getByRole('button', { name: 'Use here' }).click();
    await openChat(page, served.url, BOB);
    await page.locator(`.message-scroller img[alt="Photo from ${BOB}"]`).nth(1).waitFor({ timeout: 60_000 });
    expect(await distanceFromBottom(page)).toBeLessThanOrEqual(2);
    await screenshot(page, 'chat-phone');
    await page
      .getByRole('button', { name: `Open full screen: Photo from ${BOB}` })
      .last()
      .click();
    await expectViewerCoversViewport(page, 'viewer-phone');
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await page.close();
  });

  it('offline reload: "Offline", never "Connecting…"; the chat lands at the bottom; the emoji picker works', async () => {
    const { context, page } = alice;
    await openChat(page, served.url, BOB);
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    // Everything the connection banner ever says from the very start of each page load.
    await page.addInitScript(() => {
      const w = window as unknown as { __banner: string[] };
      w.__banner = [];
      new MutationObserver(() => {
        for (const el of Array.from(document.querySelectorAll('[role="status"]'))) {
          const text = el.textContent ?? '';
          if (/Connecting|Offline|Online/.test(text)) w.__banner.push(text);
        }
      }).observe(document, { subtree: true, childList: true, characterData: true });
    });
    await page.reload();
    await composer(page, BOB).waitFor();
    await context.setOffline(true);
    try {
      await offlineChecks(page);
    } finally {
      await context.setOffline(false);
    }
  });

  it('phone: scrolled up, a new message does not move the view and a "new messages" button brings it down', async () => {
    const page = bob.page;
    await openChat(page, served.url, ALICE);
    await sendText(alice.page, BOB, 'hello bob, photos received');
    await page.locator('.message-scroller').getByText('hello bob, photos received').waitFor();
    expect(await distanceFromBottom(page)).toBeLessThanOrEqual(2);
    await page.locator('.message-scroller').evaluate((el) => {
      el.scrollTop = 0;
    });
    await page.getByRole('button', { name: 'Newest messages' }).waitFor();
    await sendText(alice.page, BOB, 'one more while you read back');
    const button = page.getByRole('button', { name: '1 new message' });
    await button.waitFor();
    expect(await page.locator('.message-scroller').evaluate((el) => el.scrollTop)).toBe(0);
    await screenshot(page, 'new-messages-phone');
    await button.click();
    await page.locator('.message-scroller').getByText('one more while you read back').waitFor();
    expect(await distanceFromBottom(page)).toBeLessThanOrEqual(2);
    await page.getByRole('button', { name: /new message|Newest messages/ }).waitFor({ state: 'detached' });
  });

  it('the chat list and the safety screen at both sizes: icons drawn, nothing off screen', async () => {
    for (const [who, contact, size] of [
      [alice, BOB, 'desktop'],
      [bob, ALICE, 'phone'],
    ] as const) {
      const page = who.page;
      await page.goto(`${served.url}/chats`);
      const item = page.getByRole('listitem').filter({ hasText: contact });
      await item.waitFor();
      const width = page.viewportSize()?.width ?? 0;
      const b = await box(item);
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.x + b.width).toBeLessThanOrEqual(width);
      await screenshot(page, `chats-${size}`);
      await page.goto(`${served.url}/contacts/${contact}/safety`);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await screenshot(page, `safety-${size}`);
      // No horizontal scrolling anywhere on these screens.
      expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    }
  });

  it('phone, in Russian: the longer labels of the new-messages button and the viewer stay on screen', async () => {
    const page = bob.page;
    await page.goto(`${served.url}/settings`);
    await page.getByRole('button', { name: 'Русский' }).click();
    await page.goto(`${served.url}/chats/${ALICE}`);
    await page.locator('form.composer textarea').waitFor();
    // The text box keeps more than half the row: on a phone the send button is an icon (named
    // in words), where "Отправить" left the box a third of it. From 30rem up the word shows.
    const send = page.getByRole('button', { name: 'Отправить' });
    expect((await box(page.locator('form.composer textarea'))).width).toBeGreaterThan(PHONE.width / 2);
    const shown = async () => [
      await send.locator('svg').isVisible(),
      await send.getByText('Отправить').isVisible(),
    ];
    expect(await shown()).toEqual([true, false]);
    await page.setViewportSize(DESKTOP);
    expect(await shown()).toEqual([false, true]);
    await page.setViewportSize(PHONE);
    // The history is drawn after the screen: scrolled up before it is, the chat would still land
    // on its newest message once it arrives, and no button would be needed.
    await page.waitForFunction(() => {
      const el = document.querySelector('.message-scroller');
      return !!el && el.scrollHeight > el.clientHeight + 100;
    });
    const scroller = page.locator('.message-scroller');
    await scroller.evaluate((el) => {
      el.scrollTop = 0;
    });
    const toLatest = page.getByRole('button', { name: 'К новым сообщениям' });
    await toLatest.waitFor();
    const b = await box(toLatest);
    expect(b.x).toBeGreaterThanOrEqual(0);
    expect(b.x + b.width).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, 'to-latest-phone-ru');
    await toLatest.click();
    await page
      .getByRole('button', { name: /^Открыть во весь экран/ })
      .last()
      .click();
    const dialog = page.getByRole('dialog');
    for (const control of [
      dialog.getByRole('link', { name: 'Сохранить фото' }),
      dialog.getByRole('button', { name: 'Закрыть' }),
    ]) {
      const c = await box(control);
      expect(c.x).toBeGreaterThanOrEqual(0);
      expect(c.x + c.width).toBeLessThanOrEqual(PHONE.width);
    }
    await screenshot(page, 'viewer-phone-ru');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });
  it('phone, in Russian: settings (devices, new recovery codes in one frame, the re-enrolment dialog and its full-size QR code) and the chat header with Block stay on screen', async () => {
    const page = bob.page;
    await page.goto(`${served.url}/settings`);
    await page.getByRole('list', { name: 'Устройства со входом' }).waitFor();
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'settings-security-phone-ru');
    // New recovery codes, in their dialog: one frame (the dialog's), not a card drawn inside it.
    await page.getByRole('button', { name: 'Новые коды восстановления' }).click();
    const renew = page.getByRole('dialog', { name: 'Новые коды восстановления' });
    await renew.getByRole('textbox').fill(await totp(bobSecret, 1));
    await renew.getByRole('button', { name: 'Создать новые коды' }).click();
    const codes = renew.getByRole('list', { name: 'Коды восстановления' });
    await codes.waitFor();
    const inner = renew.locator('section', { has: page.getByRole('list', { name: 'Коды восстановления' }) });
    expect(await inner.evaluate((el) => getComputedStyle(el).borderTopWidth)).toBe('0px');
    const done = renew.getByRole('button', { name: 'Продолжить' });
    expect((await box(done)).x + (await box(done)).width).toBeLessThanOrEqual(PHONE.width);
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'new-recovery-codes-phone-ru');
    // The authenticator's code of this step is spent: a new recovery code opens the re-enrolment.
    const recoveryCode = ((await codes.getByRole('listitem').first().textContent()) ?? '').trim();
    await renew.getByRole('checkbox').check();
    await done.click();
    await renew.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Перепривязать аутентификатор' }).click();
    const dialog = page.getByRole('dialog', { name: 'Перепривязать аутентификатор' });
    await dialog.waitFor();
    for (const control of [dialog.getByRole('button', { name: 'Продолжить' }), dialog.getByRole('textbox')]) {
      const c = await box(control);
      expect(c.x).toBeGreaterThanOrEqual(0);
      expect(c.x + c.width).toBeLessThanOrEqual(PHONE.width);
    }
    await screenshot(page, 'reenrol-phone-ru');
    // The new entry's QR code, as large as at registration at either size: the dialog scrolls
    // rather than squeezing it (a phone's camera reads it off the laptop's screen).
    await dialog.getByRole('textbox').fill(recoveryCode);
    await dialog.getByRole('button', { name: 'Продолжить' }).click();
    const qr = dialog.getByRole('img', { name: /^QR-код/ });
    await qr.waitFor();
    for (const size of [PHONE, DESKTOP]) {
      await page.setViewportSize(size);
      const q = await box(qr);
      expect(q.width, `${size.width}px`).toBeGreaterThanOrEqual(Math.min(0.8 * size.width, 320) - 1);
      expect(q.height).toBeCloseTo(q.width, 0);
    }
    await page.setViewportSize(PHONE);
    await screenshot(page, 'reenrol-scan-phone-ru');
    // Cancelled before the new code is confirmed: the old authenticator stays the one that works.
    await dialog.getByRole('button', { name: 'Отмена' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.goto(`${served.url}/chats/${ALICE}`);
    const block = page.getByRole('button', { name: 'Заблокировать' });
    const b = await box(block);
    expect(b.x + b.width).toBeLessThanOrEqual(PHONE.width);
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'chat-header-block-phone-ru');
  });

  it('phone, in Russian: messages that expired unread on the relay are named in the chat list and in the chat', async () => {
    // Bob is away (his tab closed); Alice writes twice; the relay's copies for him age past its
    // retention, and its own sweep deletes them.
    await bob.page.close();
    await openChat(alice.page, served.url, BOB);
    await sendText(alice.page, BOB, 'written while you were away');
    await sendText(alice.page, BOB, 'and once more');
    const db = await relayDb(relay);
    const pending = async () =>
      Number(
        (
          await db.query(
            `SELECT count(*) AS n FROM messages
              WHERE receiver_id = (SELECT id FROM users WHERE username = $1) AND acked_at IS NULL`,
            [BOB],
          )
        ).rows[0]?.n,
      );
    try {
      // (`until` takes a synchronous check: these read the relay's database.)
      await vi.waitFor(
        async () => {
          if ((await pending()) !== 2) throw new Error('timed out waiting for both copies to be stored');
        },
        { timeout: 30_000, interval: 100 },
      );
      await db.query(
        `UPDATE messages SET created_at = created_at - interval '2 days'
          WHERE receiver_id = (SELECT id FROM users WHERE username = $1) AND acked_at IS NULL`,
        [BOB],
      );
      await vi.waitFor(
        async () => {
          if ((await pending()) !== 0) throw new Error('timed out waiting for the relay to sweep');
        },
        { timeout: 30_000, interval: 100 },
      );
    } finally {
      await db.end();
    }
    // Bob comes back: the chat list says it, before he opens the chat.
    bob.page = await bob.context.newPage();
    const page = bob.page;
    await page.goto(`${served.url}/chats`);
    const item = page.getByRole('listitem').filter({ hasText: ALICE });
    await item.getByText('2 сообщения не дошли').waitFor();
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'chats-expired-phone-ru');
    await item.getByRole('link').click();
    const entry = page.locator('.timeline-entry').filter({ hasText: `2 сообщения от ${ALICE}` });
    await entry.waitFor();
    expect(await entry.textContent()).toMatch(/отправленные между .+ и .+, слишком долго ждали на сервере/);
    const e = await box(entry);
    expect(e.x).toBeGreaterThanOrEqual(0);
    expect(e.x + e.width).toBeLessThanOrEqual(PHONE.width);
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    await screenshot(page, 'chat-expired-phone-ru');
    // Read: the chat list shows the last message again.
    await page.goto(`${served.url}/chats`);
    await item.waitFor();
    expect(await item.textContent()).not.toContain('не дошли');
  });
});
