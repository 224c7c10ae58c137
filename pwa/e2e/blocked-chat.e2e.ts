// A chat marked blocked (the account's block list names the contact, spec/protocol.md §16.4) that
// also has a key change, and one that is also a message request, on a small phone (360×640) in
// Russian and English: the chat view keeps room for the kept history and the composer on screen,
// and the chat list's "Blocked" is never cut off by a long name. The block is written into the
// relay's PostgreSQL (as another device's POST /blocks leaves it); the page reloads, and the
// lists are read on connecting.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  addContact,
  finishRegistration,
  openChat,
  screenshot,
  sendText,
  sidewaysOverflow,
  startRegistration,
  widerThanScreen,
} from './app-steps.ts';
import { launchChromium } from './browser.ts';
import { changeKeyOf, type RunningRelay, relayDb, startAppWithRelay } from './relay.ts';
import type { Served } from './servers.ts';

let relay: RunningRelay;
let served: Served;
let browser: Browser;
const contexts: BrowserContext[] = [];
const run = Math.random().toString(36).slice(2, 7);
/** A small Android phone (the e2e suite's usual phone is 390×844). */
const PHONE = { width: 360, height: 640 };

beforeAll(async () => {
  ({ served, relay } = await startAppWithRelay());
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await served?.close();
  await relay?.stop();
});

async function newPage(viewport = { width: 1280, height: 800 }): Promise<Page> {
  const context = await browser.newContext({ locale: 'en-US', viewport });
  context.setDefaultTimeout(30_000);
  contexts.push(context);
  return context.newPage();
}

async function register(name: string, viewport?: typeof PHONE): Promise<Page> {
  const page = await newPage(viewport);
  const secret = await startRegistration(page, served.url, name);
  await finishRegistration(page, secret);
  return page;
}

async function sql(text: string, params: unknown[]): Promise<void> {
  const db = await relayDb(relay);
  try {
    await db.query(text, params);
  } finally {
    await db.end();
  }
}

async function layout(page: Page) {
  return page.evaluate(() => {
    const scroller = document.querySelector('.message-scroller');
    const box = document.querySelector('form[aria-label^="Message to"], form[aria-label^="Сообщение"]');
    const r = box?.getBoundingClientRect();
    return {
      scrollerHeight: scroller?.clientHeight ?? -1,
      composerBottom: r ? r.bottom : -1,
      viewport: window.innerHeight,
    };
  });
}

it('marked + key change and marked + request fit a phone, in English and Russian', async () => {
  const A = `bu_alice_${run}`;
  // The longest usernames there are, padded with the widest letter there is, with nowhere to break.
  const B = `bu_bob_${run}`.padEnd(32, 'm');
  const C = `bu_carol_${run}`.padEnd(32, 'm');
  const alice = await register(A, PHONE);
  const bob = await register(B);
  const carol = await register(C);
  await addContact(alice, B);
  await addContact(bob, A);
  await openChat(bob, served.url, A);
  await sendText(bob, A, 'hello from bob');
  await openChat(alice, served.url, B);
  await alice.locator('.message-scroller').getByText('hello from bob', { exact: true }).waitFor();
  await addContact(carol, A);
  await openChat(carol, served.url, A);
  await sendText(carol, A, 'a request from carol');
  await alice.goto(`${served.url}/chats/${C}`);
  await alice.getByText('a request from carol', { exact: true }).waitFor();
  await alice.goto(`${served.url}/chats/${B}`);
  // bob's key changes (the relay's table rewritten, announced as key_change), and the account's
  // block list names bob and carol, as another device's POST /blocks leaves it.
  await changeKeyOf(relay, A, B);
  await alice.getByRole('alert', { name: 'Security key changed.' }).waitFor();
  await sql(
    `INSERT INTO blocks (user_id, blocked_id)
     SELECT a.id, b.id FROM users a, users b WHERE a.username = $1 AND b.username = ANY($2)`,
    [A, [B, C]],
  );
  await sql(
    `DELETE FROM contacts WHERE user_id = (SELECT id FROM users WHERE username = $1)
     AND contact_id = (SELECT id FROM users WHERE username = $2)`,
    [A, B],
  );
  const problems: string[] = [];
  for (const lang of ['en', 'ru']) {
    await alice.evaluate((l) => localStorage.setItem('sd.lang', l), lang);
    for (const who of [B, C]) {
      await alice.goto(`${served.url}/chats/${who}`);
      const title = lang === 'en' ? `You blocked ${who}.` : `Вы заблокировали ${who}.`;
      await alice.getByRole('region', { name: title }).waitFor();
      await alice.locator('.message-scroller .bubble').first().waitFor();
      const l = await layout(alice);
      const over = await sidewaysOverflow(alice);
      await screenshot(alice, `blocked-${who === B ? 'keychange' : 'request'}-${lang}-phone`);
      const what = `${who === B ? 'marked+key change' : 'marked+request'} ${lang}`;
      if (over > 0) problems.push(`${what}: sideways overflow ${over}px: ${await widerThanScreen(alice)}`);
      if (l.composerBottom > l.viewport + 1)
        problems.push(`${what}: composer below the screen (${l.composerBottom} > ${l.viewport})`);
      if (l.scrollerHeight < 120) problems.push(`${what}: message list only ${l.scrollerHeight}px tall`);
    }
    await alice.goto(`${served.url}/chats`);
    await expect.poll(() => alice.locator('.chat-list-blocked').count()).toBe(2);
    await screenshot(alice, `blocked-list-${lang}-phone`);
    // The list's "Blocked" must be whole on screen, not cut off with the line's ellipsis.
    const clipped = await alice.evaluate(() =>
      Array.from(document.querySelectorAll('.chat-list-preview')).flatMap((line) => {
        const mark = line.querySelector('.chat-list-blocked');
        if (!mark) return [`${line.textContent}: no marker`];
        return mark.getBoundingClientRect().right > line.getBoundingClientRect().right + 0.5
          ? [`${line.textContent}: marker cut off`]
          : [];
      }),
    );
    for (const c of clipped) problems.push(`list ${lang}: ${c}`);
  }
  expect(problems).toEqual([]);
}, 240_000);
