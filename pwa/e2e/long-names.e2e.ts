// The longest, widest usernames there can be (32 × 'm' after a short prefix: spec/openapi.yaml,
// Username allows 3–32 of [a-z0-9_], so nothing in one is a place to break a line) and the
// longer Russian labels, on two phones (360×640 and 390×844) in English and Russian, on every
// screen that shows a username: registration and its recovery codes, the chat list (a message
// request, a key change, a chat blocked elsewhere, expired messages), each chat banner, the
// block dialog, the photo viewer, the safety screen, settings and its dialogs, the not-found
// page, the "open in another tab" screen, the read-only archive, the unlock screen and the login
// screen after the relay ended the session. On each: nothing pans the page sideways, no control
// reaches past the screen's edges, the composer stays on screen, and no username is cut off with
// an ellipsis (two long names alike in their first 20 letters would read as one). The chat list
// and the archive, whose rules changed for this, are looked at on a desktop (1280×800) too.
// Screenshots go to node_modules/.e2e-screenshots (app-steps.ts) for a person to look at.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import {
  addContact,
  gradientPng,
  openChat,
  screenshot,
  sendText,
  sidewaysOverflow,
  startOverAfterLogin,
  startRegistration,
  totp,
  widerThanScreen,
} from './app-steps.ts';
import { launchChromium } from './browser.ts';
import { changeKeyOf, type RunningRelay, relayDb, startAppWithRelay } from './relay.ts';
import type { Served } from './servers.ts';

const SIZES = [
  { width: 360, height: 640 },
  { width: 390, height: 844 },
] as const;
/** Where a rule changed for the phones is looked at too: it must not spoil the desktop layout. */
const WITH_DESKTOP = [...SIZES, { width: 1280, height: 800 }] as const;
const LANGS = ['en', 'ru'] as const;
type Lang = (typeof LANGS)[number];

let relay: RunningRelay;
let served: Served;
let browser: Browser;
const run = Math.random().toString(36).slice(2, 7);
/** The longest username there is, padded with the widest letter, with nowhere to break. */
const long = (who: string) => `ln_${who}_${run}`.padEnd(32, 'm');
/** The account whose screens are looked at: its own name is long too. */
const A = long('a');
/** A contact whose key changes (and who sent a photo). */
const B = long('b');
/** Not a contact: a message request. */
const C = long('c');
/** A contact blocked on another device (the account's block list names them). */
const D = long('d');
/** A contact whose messages expired on the relay before A's device received them. */
const E = long('e');
/** No account at all: a chat opened by address. */
const NOBODY = long('x');

/** What was found, on every screen, reported together at the end. */
const problems: string[] = [];

beforeAll(async () => {
  ({ served, relay } = await startAppWithRelay({ RETENTION_DAYS: '1', SWEEP_INTERVAL_SECONDS: '1' }));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await relay?.stop();
});

async function newContext(viewport: { width: number; height: number } = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ locale: 'en-US', viewport });
  context.setDefaultTimeout(30_000);
  return context;
}

async function sql(text: string, params: unknown[]): Promise<unknown[]> {
  const db = await relayDb(relay);
  try {
    return (await db.query(text, params)).rows;
  } finally {
    await db.end();
  }
}

/**
 * Everything wrong with the screen as it is now: sideways panning (and what causes it), a
 * control or dialog reaching past the left or right edge, a message list under 120 px tall, the
 * composer below the screen, a username cut off with an ellipsis.
 */
async function fits(page: Page, what: string): Promise<void> {
  // A chat is measured once connected: "Connecting…" is a line above it for a moment after a load.
  if ((await page.locator('.message-scroller').count()) > 0)
    await expect.poll(() => page.locator('div.banner-offline[role="status"]').count()).toBe(0);
  const over = await sidewaysOverflow(page);
  if (over > 0)
    problems.push(`${what}: sideways overflow ${over}px: ${(await widerThanScreen(page)).join(' | ')}`);
  const found = await page.evaluate(
    (names) => {
      const w = window.innerWidth;
      const h = window.innerHeight;
      const out: string[] = [];
      const name = (el: Element) =>
        `${el.tagName.toLowerCase()}.${el.className} "${(el.textContent ?? '').trim().slice(0, 40)}"`;
      for (const el of Array.from(
        document.querySelectorAll('button, a.button, label.button, textarea, input, select, [role="dialog"]'),
      )) {
        const r = el.getBoundingClientRect();
        if (r.width <= 1 || r.height <= 1 || el.closest('.sr-only')) continue;
        if (r.left < -0.5 || r.right > w + 0.5)
          out.push(`${name(el)} spans ${Math.round(r.left)}…${Math.round(r.right)} of ${w}px`);
      }
      // Room for the history under the banners, as blocked-chat.e2e.ts asks of a marked chat.
      const scroller = document.querySelector('.message-scroller');
      if (scroller && scroller.clientHeight < 120)
        out.push(`message list only ${scroller.clientHeight}px tall`);
      const composer = document.querySelector('form.composer');
      if (composer && composer.getBoundingClientRect().bottom > h + 1)
        out.push(`composer below the screen (${Math.round(composer.getBoundingClientRect().bottom)} > ${h})`);
      // Text cut off with an ellipsis that holds a username.
      for (const el of Array.from(document.querySelectorAll('*'))) {
        if (getComputedStyle(el).textOverflow !== 'ellipsis' || el.scrollWidth <= el.clientWidth + 1)
          continue;
        const text = el.textContent ?? '';
        if (names.some((n) => text.includes(n))) out.push(`${name(el)} cut off with an ellipsis`);
      }
      return out;
    },
    [A, B, C, D, E, NOBODY],
  );
  for (const f of found) problems.push(`${what}: ${f}`);
}

/**
 * Each language and phone size: `show` brings the screen up (reloading it in that language,
 * localStorage 'sd.lang') and waits for it; then it is checked and photographed.
 */
async function everyWay(
  page: Page,
  what: string,
  show: (lang: Lang) => Promise<void>,
  sizes: readonly { width: number; height: number }[] = SIZES,
): Promise<void> {
  for (const lang of LANGS) {
    await page.evaluate((l) => localStorage.setItem('sd.lang', l), lang);
    for (const size of sizes) {
      await page.setViewportSize(size);
      await show(lang);
      const label = `${what} ${lang} ${size.width}×${size.height}`;
      await fits(page, label);
      await screenshot(page, `long-${label.replace(/[^a-z0-9]+/gi, '-')}`);
    }
  }
  await page.evaluate(() => localStorage.setItem('sd.lang', 'en'));
}

/** The same on a screen that is not reloaded: its language switch changes the language in place. */
async function everyWayInPlace(page: Page, what: string, ready: () => Promise<void>): Promise<void> {
  for (const lang of LANGS) {
    await page.locator(`.lang-switch button[lang="${lang}"]`).click();
    await page.locator(`.lang-switch button[lang="${lang}"][aria-pressed="true"]`).waitFor();
    for (const size of SIZES) {
      await page.setViewportSize(size);
      await ready();
      const label = `${what} ${lang} ${size.width}×${size.height}`;
      await fits(page, label);
      await screenshot(page, `long-${label.replace(/[^a-z0-9]+/gi, '-')}`);
    }
  }
  await page.locator('.lang-switch button[lang="en"]').click();
}

async function register(name: string): Promise<Page> {
  const page = await (await newContext()).newPage();
  const secret = await startRegistration(page, served.url, name);
  await page.getByLabel('2. Enter the code the app shows now').fill(await totp(secret));
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('checkbox', { name: 'I have saved my recovery codes' }).check({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(/\/chats$/);
  return page;
}

/** The account A, its context and its recovery codes (the archive step logs in with two). */
let aContext: BrowserContext;
let aPage: Page;
let aCodes: string[] = [];
let aSecret = '';

it('registration with the longest name: the username step, the authenticator step and the recovery codes', async () => {
  problems.length = 0;
  aContext = await newContext(SIZES[0]);
  aPage = await aContext.newPage();
  const page = aPage;
  await page.goto(`${served.url}/register`);
  await page.locator('input[name="username"]').fill(A);
  await everyWayInPlace(page, 'register: username', async () => {
    await page.locator('input[name="username"]').waitFor();
  });
  await page.getByRole('button', { name: 'Continue' }).click();
  const shown = ((await page.locator('.totp-secret').textContent()) ?? '').replace(/\s+/g, '');
  aSecret = shown.slice(shown.lastIndexOf(':') + 1);
  await everyWayInPlace(page, 'register: authenticator', async () => {
    await page.locator('.totp-secret').waitFor();
  });
  await page.setViewportSize(SIZES[0]);
  await page.getByLabel('2. Enter the code the app shows now').fill(await totp(aSecret));
  await page.getByRole('button', { name: 'Create account' }).click();
  const list = page.locator('ul.recovery-codes');
  await list.waitFor({ timeout: 60_000 });
  aCodes = (await list.locator('li').allTextContents()).map((c) => c.trim());
  // The codes are shown once, in this page's memory: the language changes in Settings, reached
  // through the navigation, not by reloading.
  for (const lang of LANGS) {
    await page.locator('a[href="/settings"]').click();
    await page.locator(`.lang-switch button[lang="${lang}"]`).click();
    await page.locator('a[href="/chats"]').first().click();
    await list.waitFor();
    for (const size of SIZES) {
      await page.setViewportSize(size);
      const label = `recovery codes ${lang} ${size.width}×${size.height}`;
      await fits(page, label);
      await screenshot(page, `long-${label.replace(/[^a-z0-9]+/gi, '-')}`);
    }
  }
  await page.locator('a[href="/settings"]').click();
  await page.locator('.lang-switch button[lang="en"]').click();
  await page.locator('a[href="/chats"]').first().click();
  await page.getByRole('checkbox', { name: 'I have saved my recovery codes' }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('Their username').waitFor();
  expect(problems).toEqual([]);
});

it('the chat list, each chat banner, the block dialog, the photo viewer, the safety screen, settings and not-found', async () => {
  problems.length = 0;
  const page = aPage;
  const [b, c, d, e] = await Promise.all([register(B), register(C), register(D), register(E)]);
  for (const [p, name] of [
    [b, B],
    [d, D],
    [e, E],
  ] as const) {
    await addContact(page, name);
    await addContact(p, A);
  }
  await addContact(c, A);
  for (const [p, name] of [
    [b, B],
    [c, C],
    [d, D],
    [e, E],
  ] as const) {
    await openChat(p, served.url, A);
    await sendText(p, A, `hello from ${name.slice(0, 6)}`);
  }
  await b.locator('form.composer input[type=file]').setInputFiles({
    name: 'photo.png',
    mimeType: 'image/png',
    buffer: gradientPng(800, 600, 90),
  });
  await openChat(page, served.url, B);
  await page.locator('.message-scroller .photo-thumb img').waitFor({ timeout: 60_000 });
  for (const name of [C, D, E]) {
    await page.goto(`${served.url}/chats/${name}`);
    await page.locator('.message-scroller .bubble').first().waitFor();
  }

  // A is away (its tab closed); E writes twice, and the relay's copies age past its retention.
  await page.close();
  await sendText(e, A, 'written while you were away');
  await sendText(e, A, 'and once more');
  const pending = async () =>
    Number(
      (
        (await sql(
          `SELECT count(*) AS n FROM messages
            WHERE receiver_id = (SELECT id FROM users WHERE username = $1) AND acked_at IS NULL`,
          [A],
        )) as { n: string }[]
      )[0]?.n,
    );
  await vi.waitFor(
    async () => {
      if ((await pending()) !== 2) throw new Error('waiting for both copies to be stored');
    },
    { timeout: 30_000, interval: 100 },
  );
  await sql(
    `UPDATE messages SET created_at = created_at - interval '2 days'
      WHERE receiver_id = (SELECT id FROM users WHERE username = $1) AND acked_at IS NULL`,
    [A],
  );
  await vi.waitFor(
    async () => {
      if ((await pending()) !== 0) throw new Error('waiting for the relay to sweep');
    },
    { timeout: 30_000, interval: 100 },
  );
  // B's key changes (the relay's table rewritten, announced as a stream item); the account's
  // block list names D, as another device's POST /blocks leaves it (its contact row goes).
  await changeKeyOf(relay, A, B);
  await sql(
    `INSERT INTO blocks (user_id, blocked_id)
     SELECT a.id, b.id FROM users a, users b WHERE a.username = $1 AND b.username = $2`,
    [A, D],
  );
  await sql(
    `DELETE FROM contacts WHERE user_id = (SELECT id FROM users WHERE username = $1)
      AND contact_id = (SELECT id FROM users WHERE username = $2)`,
    [A, D],
  );
  aPage = await aContext.newPage();
  const a = aPage;
  await a.goto(`${served.url}/chats`);

  await everyWay(
    a,
    'chat list',
    async () => {
      await a.goto(`${served.url}/chats`);
      await expect.poll(() => a.locator('.chat-list .icon-warning').count()).toBe(2);
      await a.locator('.chat-list-blocked').waitFor();
    },
    WITH_DESKTOP,
  );
  const banner = (name: string) => a.locator(`section.banner[aria-label*="${name}"]`);
  await everyWay(a, 'chat with a key change', async () => {
    await a.goto(`${served.url}/chats/${B}`);
    await a.locator('section.banner[role="alert"]').waitFor();
    await a.locator('.message-scroller .photo-thumb img').waitFor();
  });
  await everyWay(a, 'photo viewer', async () => {
    await a.goto(`${served.url}/chats/${B}`);
    // Clicked by script: on the smallest phone the key-change banner may leave it out of sight.
    await a.locator('.message-scroller .photo-thumb').evaluate((el) => (el as HTMLElement).click());
    await a.locator('.photo-viewer img').waitFor();
  });
  await everyWay(a, 'message request', async () => {
    await a.goto(`${served.url}/chats/${C}`);
    await banner(C).waitFor();
  });
  await everyWay(a, 'chat blocked elsewhere', async () => {
    await a.goto(`${served.url}/chats/${D}`);
    await banner(D).waitFor();
  });
  await everyWay(a, 'expired messages', async () => {
    await a.goto(`${served.url}/chats/${E}`);
    await a.locator('.timeline-entry').first().waitFor();
  });
  await everyWay(a, 'block dialog', async () => {
    await a.goto(`${served.url}/chats/${E}`);
    await a.locator('button.chat-action').click();
    await a.locator('[role="dialog"] h2').waitFor();
  });
  await everyWay(a, 'not a contact', async () => {
    await a.goto(`${served.url}/chats/${NOBODY}`);
    await banner(NOBODY).waitFor();
  });
  await everyWay(a, 'safety, key changed', async () => {
    await a.goto(`${served.url}/contacts/${B}/safety`);
    await a.locator('.safety-number').waitFor();
  });
  await everyWay(a, 'safety', async () => {
    await a.goto(`${served.url}/contacts/${E}/safety`);
    await a.locator('.safety-number').waitFor();
  });
  await everyWay(a, 'settings', async () => {
    await a.goto(`${served.url}/settings`);
    await a.locator('.session-list strong', { hasText: D }).waitFor();
    await a.locator('.session-list .session-item').first().waitFor();
  });
  const securityButton = (lang: Lang, which: 'reenrol' | 'recovery') =>
    a.getByRole('button', {
      name: {
        en: { reenrol: 'Re-enrol authenticator', recovery: 'New recovery codes' },
        ru: { reenrol: 'Перепривязать аутентификатор', recovery: 'Новые коды восстановления' },
      }[lang][which],
      exact: true,
    });
  for (const which of ['reenrol', 'recovery'] as const)
    await everyWay(a, `settings: ${which} dialog`, async (lang) => {
      await a.goto(`${served.url}/settings`);
      await securityButton(lang, which).click();
      await a.locator('[role="dialog"] input').first().waitFor();
    });
  await everyWay(a, 'not found', async () => {
    await a.goto(`${served.url}/no-such-page`);
    await a.locator('h1').waitFor();
  });
  // Accepting the request from the add form: the form says who was added, with a link.
  await a.evaluate(() => localStorage.setItem('sd.lang', 'ru'));
  await a.goto(`${served.url}/chats`);
  await a.locator('.add-contact input').fill(C);
  await a.locator('.add-contact button').click();
  await a.locator('form.card p.ok').waitFor();
  for (const size of SIZES) {
    await a.setViewportSize(size);
    await fits(a, `contact added ru ${size.width}×${size.height}`);
    await screenshot(a, `long-contact-added-ru-${size.width}`);
  }
  await a.evaluate(() => localStorage.setItem('sd.lang', 'en'));
  expect(problems).toEqual([]);
}, 400_000);

it('another tab, the read-only archive, the unlock screen and the login after the session ended', async () => {
  problems.length = 0;
  const a = aPage;
  await a.goto(`${served.url}/chats`);
  await a.locator('.chat-list').waitFor();
  // A second tab of the same browser: the account is open in the first.
  const second = await aContext.newPage();
  await second.goto(`${served.url}/chats`);
  await everyWayInPlace(second, 'open in another tab', async () => {
    await second.locator('.card .button-primary').waitFor();
  });
  await second.close();

  // Logged out here keeping the history; logged in on another device (new keys); back here,
  // the old history is kept read-only: an archive of chats with long names.
  await a.setViewportSize(SIZES[0]);
  await a.goto(`${served.url}/settings`);
  await a.getByRole('button', { name: 'Log out', exact: true }).click();
  await a.getByRole('button', { name: 'Log out, keep the history' }).click();
  await a.waitForURL(/\/login$/);
  const login = async (p: Page, code: string) => {
    await p.goto(`${served.url}/login`);
    await p.getByLabel('Username').fill(A);
    await p.getByRole('button', { name: 'Lost your phone? Use a recovery code' }).click();
    await p.getByLabel('Recovery code').fill(code);
    await p.getByRole('button', { name: 'Log in' }).click();
  };
  const elsewhere = await (await newContext()).newPage();
  await login(elsewhere, aCodes[0] ?? '');
  await startOverAfterLogin(elsewhere);
  await elsewhere.context().close();
  await login(a, aCodes[1] ?? '');
  const dialog = a.getByRole('dialog', { name: 'This device holds older keys' });
  await dialog.waitFor({ timeout: 60_000 });
  for (const size of SIZES) {
    await a.setViewportSize(size);
    await fits(a, `older keys dialog en ${size.width}×${size.height}`);
  }
  await dialog.getByRole('button', { name: 'Keep the old history read-only' }).click();
  await a.waitForURL(/\/chats$/, { timeout: 60_000 });
  const archive = await a.locator('a[href^="/archives/"]').getAttribute('href');
  await everyWay(
    a,
    'archive',
    async () => {
      await a.goto(`${served.url}${archive}`);
      await a.locator('.archive-chats button').first().waitFor();
      await a.locator('.archive-messages .bubble').first().waitFor();
      // Below the banners on a phone: in sight for the screenshot.
      await a.locator('.archive-chats').scrollIntoViewIfNeeded();
    },
    WITH_DESKTOP,
  );

  // An app lock: a reload asks for the passphrase, naming the account.
  await a.goto(`${served.url}/settings`);
  await a.getByLabel('New passphrase').fill('a long enough passphrase');
  await a.getByLabel('Repeat the passphrase').fill('a long enough passphrase');
  await a.getByRole('button', { name: 'Set passphrase' }).click();
  await a.getByText('Passphrase saved.', { exact: false }).waitFor({ timeout: 60_000 });
  await a.reload();
  await everyWayInPlace(a, 'unlock', async () => {
    await a.locator('input[type="password"]').waitFor();
  });
  await a.getByLabel('Passphrase').fill('a long enough passphrase');
  await a.getByRole('button', { name: 'Unlock' }).click();
  await a.locator('.app-header nav').waitFor({ timeout: 60_000 });

  // The relay ends every session of the account (as "log out everywhere" on another device).
  await sql(
    `UPDATE sessions SET revoked_at = now(), revoked_reason = 'logout_all'
      WHERE user_id = (SELECT id FROM users WHERE username = $1) AND revoked_at IS NULL`,
    [A],
  );
  await a.locator('.card.warning-text').waitFor({ timeout: 60_000 });
  await everyWayInPlace(a, 'session ended', async () => {
    await a.locator('.card.warning-text').waitFor();
  });
  expect(problems).toEqual([]);
}, 400_000);
