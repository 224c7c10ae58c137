// Refresh tokens under churn, in real Chromium against a relay whose access tokens live 5 s
// (ACCESS_TOKEN_TTL_SECONDS): two tabs of one browser take the account in turn ("Use here") and
// reload while the tokens expire every few seconds, and the socket, the sends and the
// acknowledgements refresh them. Every refresh rotates the refresh token, and the relay ends the
// session when a rotated one is presented again (spec/openapi.yaml POST /session/refresh): the
// session must live through all of it (transport/http.ts TokenKeeper), and every message arrive.
// No fault is injected: this checks that keeping the tokens under one lock holds up, with no
// stall and no lost session, under real expiry (the app passed it before that keeping too). The
// tests that force each race the keeping closes are in app-lock.e2e.ts and src/state/app.test.ts.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addContact,
  composer,
  finishRegistration,
  openChat,
  sendText,
  startRegistration,
} from './app-steps.ts';
import { launchChromium } from './browser.ts';
import { type RunningRelay, startAppWithRelay } from './relay.ts';
import type { Served } from './servers.ts';

const ACCESS_TOKEN_TTL_SECONDS = 5;
/**
 * Rounds of churn, each one a takeover or a reload, then a message each way: at least this many,
 * and on until four access-token lifetimes have passed.
 */
const ROUNDS = 12;
const LIFETIMES = 4;
const run = Math.random().toString(36).slice(2, 7);
const ALICE = `alicech_${run}`;
const BOB = `bobch_${run}`;

let relay: RunningRelay;
let served: Served;
let browser: Browser;

beforeAll(async () => {
  ({ served, relay } = await startAppWithRelay({
    ACCESS_TOKEN_TTL_SECONDS: String(ACCESS_TOKEN_TTL_SECONDS),
  }));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await relay?.stop();
});

async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ locale: 'en-US' });
  context.setDefaultTimeout(30_000);
  return context;
}

const nav = (page: Page) => page.getByRole('navigation').getByRole('link', { name: 'Settings' });
/** The account open in `page`: the chat list's navigation, or the chat with Bob (a tab keeps its URL). */
const accountOpen = (page: Page) => nav(page).or(composer(page, BOB)).waitFor({ timeout: 60_000 });
const hereButton = (page: Page) => page.getByRole('button', { name: 'Use here' });
const inChat = (page: Page, text: string) =>
  page.locator('.message-scroller').getByText(text, { exact: true }).waitFor({ timeout: 30_000 });

describe('the session through token churn', () => {
  it(`two tabs taken in turn and reloaded while access tokens live ${ACCESS_TOKEN_TTL_SECONDS} s: the session never ends, every message arrives`, async () => {
    const aliceContext = await newContext();
    const bob = await (await newContext()).newPage();
    const tabs = [await aliceContext.newPage()] as [Page, Page?];
    let refreshes = 0;
    aliceContext.on('request', (r) => {
      if (r.url().endsWith('/session/refresh')) refreshes++;
    });
    const first = tabs[0];
    await finishRegistration(first, await startRegistration(first, served.url, ALICE));
    await finishRegistration(bob, await startRegistration(bob, served.url, BOB));
    await addContact(first, BOB);
    await addContact(bob, ALICE);
    await openChat(bob, served.url, ALICE);
    const second = await aliceContext.newPage();
    tabs[1] = second;
    await second.goto(`${served.url}/chats`);
    await hereButton(second).waitFor();

    let active = 0;
    const started = Date.now();
    const churning = (round: number) =>
      round < ROUNDS || Date.now() - started < LIFETIMES * ACCESS_TOKEN_TTL_SECONDS * 1000;
    let round = 0;
    for (; churning(round); round++) {
      if (round % 2 === 0) {
        // The other tab takes the account; the one that had it says it is open elsewhere.
        const taking = tabs[1 - active] as Page;
        await hereButton(taking).click();
        await accountOpen(taking);
        await hereButton(tabs[active] as Page).waitFor();
        active = 1 - active;
      } else {
        await (tabs[active] as Page).reload();
        await accountOpen(tabs[active] as Page);
      }
      const page = tabs[active] as Page;
      const fromBob = `churn ${round} from Bob`;
      const fromAlice = `churn ${round} from Alice`;
      await sendText(bob, ALICE, fromBob);
      await openChat(page, served.url, BOB);
      await inChat(page, fromBob);
      await sendText(page, BOB, fromAlice);
      await inChat(bob, fromAlice);
      for (const tab of tabs) expect(new URL((tab as Page).url()).pathname).not.toBe('/login');
    }
    // The churn was real: refreshes all through it (a tab that opens the account refreshes, its
    // stored access token having less than a minute left, transport/http.ts accessUsable).
    expect(refreshes).toBeGreaterThanOrEqual(round);
    // Still the one session of the registration, live, after one more reload.
    const page = tabs[active] as Page;
    await page.reload();
    await composer(page, BOB).waitFor({ timeout: 60_000 });
    await page.getByRole('link', { name: 'Back to chats' }).click();
    await nav(page).click();
    const sessions = page.getByRole('list', { name: 'Signed-in devices' }).getByRole('listitem');
    await sessions.first().waitFor();
    expect(await sessions.count()).toBe(1);
  });
});
