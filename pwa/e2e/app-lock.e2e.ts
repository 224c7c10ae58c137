// The app lock against the attack it exists for (SECURITY.md "What a user's device holds"):
// a copy of the browser profile. Alice registers with a passphrase in a persistent Chromium
// profile and exchanges messages with Bob; her browser is closed and the profile directory
// copied. A byte scan of the copy finds neither the message texts nor the raw data key; a
// fresh Chromium on the copy shows only the unlock screen; a wrong passphrase shows nothing,
// the right one the history — plus a message Bob sent while she was locked, which therefore
// waited on the relay. Then log out → reload → the login screen with no history in the DOM;
// log in again → unlock → the history is back.
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'otplib';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passphraseAad } from '../src/storage/keyring.ts';
import { deriveWrappingKey, type KdfParams } from '../src/storage/passphrase.ts';
import { CHROMIUM, launchChromium } from './browser.ts';
import { filesUnder, type RunningRelay, startRelay } from './relay.ts';
import { LateRelayTarget, type Served, startPreview } from './servers.ts';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const run = Math.random().toString(36).slice(2, 7);
const ALICE = `alicelk_${run}`;
const BOB = `boblk_${run}`;
const PASSPHRASE = 'glacier teapot orbit 7';
const TEXTS = {
  fromAlice: `Alice's locked secret ${run} 🔒`,
  fromBob: `Bob's reply ${run} 🗝️`,
  whileLocked: `sent while Alice was locked ${run}`,
};

let relay: RunningRelay;
let served: Served;
let bobBrowser: Browser;
let bob: Page;
const dirs: string[] = [];
let aliceSecret = '';
let stored: { kdf: KdfParams; wrappedDataKey: Uint8Array; wrapIv: Uint8Array } | null = null;

const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

/** Persistent contexts still open (a failed test leaves one), closed in afterAll. */
const open = new Set<BrowserContext>();
async function openProfile(dir: string): Promise<BrowserContext> {
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    args: ARGS,
    locale: 'en-US',
  });
  open.add(context);
  context.on('close', () => open.delete(context));
  return context;
}

beforeAll(async () => {
  // Every port is the OS's choice: the preview binds port 0, the relay (PORT=0) learns the
  // page's origins from it (127.0.0.1, and localhost for the passkey test: a WebAuthn relying
  // party is a domain), then the preview's /api proxy is pointed at the port the relay got.
  const target = new LateRelayTarget();
  served = await startPreview(undefined, 0, target);
  relay = await startRelay(`${served.url},${served.url.replace('127.0.0.1', 'localhost')}`);
  target.set(`http://127.0.0.1:${relay.port}`);
  bobBrowser = await launchChromium();
  const context = await bobBrowser.newContext({ locale: 'en-US' });
  context.setDefaultTimeout(30_000);
  bob = await context.newPage();
});

afterAll(async () => {
  for (const c of [...open]) await c.close().catch(() => undefined);
  await bobBrowser?.close();
  await served?.close();
  await relay?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const totp = (secret: string, step = 0) =>
  generate({ secret, epoch: Math.floor(Date.now() / 1000) + step * 30 });

async function register(
  page: Page,
  username: string,
  passphrase?: string,
  base = served.url,
): Promise<string> {
  await page.goto(`${base}/register`);
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Continue' }).click();
  const shown = ((await page.locator('.totp-secret').textContent()) ?? '').replace(/\s+/g, '');
  const secret = shown.slice(shown.lastIndexOf(':') + 1);
  await page.getByLabel('2. Enter the code the app shows now').fill(await totp(secret));
  if (passphrase) {
    await page.getByLabel('Passphrase (optional)').fill(passphrase);
    await page.getByLabel('Repeat the new passphrase').fill(passphrase);
  }
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

const composer = (page: Page, contact: string) =>
  page.locator(`form[aria-label="Message to ${contact}"] textarea`);

/** Opens a chat by URL: a page load starts the app, which asks for the passphrase when locked. */
async function openChat(page: Page, contact: string): Promise<void> {
  await page.goto(`${served.url}/chats/${contact}`);
  const unlock = page.getByRole('heading', { name: 'Secure Drop is locked' });
  await composer(page, contact).or(unlock).waitFor();
  if (await unlock.isVisible()) {
    await page.getByLabel('Passphrase').fill(PASSPHRASE);
    await page.getByRole('button', { name: 'Unlock' }).click();
  }
  await composer(page, contact).waitFor({ timeout: 60_000 });
}

async function send(page: Page, contact: string, text: string): Promise<void> {
  await composer(page, contact).fill(text);
  await composer(page, contact).press('Enter');
}

const inChat = (page: Page, text: string) =>
  page.locator('.message-scroller').getByText(text, { exact: true }).waitFor({ timeout: 30_000 });

const bodyText = (page: Page) => page.evaluate(() => document.body.textContent ?? '');

/** Phone (390×844) and desktop: nothing wider than the screen, `what` within it. */
async function fitsBothSizes(page: Page, what: ReturnType<Page['getByRole']>): Promise<void> {
  for (const size of [
    { width: 390, height: 844 },
    { width: 1280, height: 800 },
  ]) {
    await page.setViewportSize(size);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    const box = await what.boundingBox();
    expect(box && box.x >= 0 && box.x + box.width <= size.width).toBe(true);
  }
}

/** The raw data key, recovered the way only the passphrase allows (to look for it on disk). */
async function rawDataKey(): Promise<Uint8Array> {
  if (!stored) throw new Error('keyring not read');
  const kek = await deriveWrappingKey(PASSPHRASE, stored.kdf);
  const key = await crypto.subtle.unwrapKey(
    'raw',
    stored.wrappedDataKey as Uint8Array<ArrayBuffer>,
    kek,
    {
      name: 'AES-GCM',
      iv: stored.wrapIv as Uint8Array<ArrayBuffer>,
      additionalData: passphraseAad(stored.kdf),
    },
    'AES-GCM',
    true,
    ['encrypt'],
  );
  return new Uint8Array(await crypto.subtle.exportKey('raw', key));
}

describe('app lock: a copied profile', () => {
  const profile = tempDir('sd-lock-profile-');
  const copy = tempDir('sd-lock-copy-');

  it('Alice registers with a passphrase and exchanges messages with Bob', async () => {
    const context = await openProfile(profile);
    context.setDefaultTimeout(30_000);
    const alice = context.pages()[0] ?? (await context.newPage());
    aliceSecret = await register(alice, ALICE, PASSPHRASE);
    await register(bob, BOB);
    await addContact(alice, BOB);
    await addContact(bob, ALICE);
    await openChat(alice, BOB);
    await openChat(bob, ALICE);
    await send(alice, BOB, TEXTS.fromAlice);
    await inChat(bob, TEXTS.fromAlice);
    await send(bob, ALICE, TEXTS.fromBob);
    await inChat(alice, TEXTS.fromBob);
    // What the store keeps in clear about its key: a passphrase keyring, no CryptoKey at all.
    const meta = (await alice.evaluate(`new Promise((done, fail) => {
      const req = indexedDB.open(${JSON.stringify(`secure-drop:${ALICE}`)});
      req.onerror = () => fail(req.error);
      req.onsuccess = () => {
        const tx = req.result.transaction('meta');
        const get = tx.objectStore('meta').get('keyring');
        get.onsuccess = () => {
          const k = get.result;
          done({
            version: k.version,
            hasCryptoKey: Object.values(k).some((v) => v instanceof CryptoKey),
            kdf: { ...k.kdf, salt: [...k.kdf.salt] },
            wrappedDataKey: [...k.wrappedDataKey],
            wrapIv: [...k.wrapIv],
          });
          req.result.close();
        };
      };
    })`)) as {
      version: number;
      hasCryptoKey: boolean;
      kdf: KdfParams & { salt: number[] };
      wrappedDataKey: number[];
      wrapIv: number[];
    };
    expect(meta.version).toBe(2);
    expect(meta.hasCryptoKey).toBe(false);
    expect(meta.kdf).toMatchObject({ alg: 'argon2id', m: 65_536, t: 2, p: 1 });
    stored = {
      kdf: { ...meta.kdf, salt: Uint8Array.from(meta.kdf.salt) },
      wrappedDataKey: Uint8Array.from(meta.wrappedDataKey),
      wrapIv: Uint8Array.from(meta.wrapIv),
    };
    await context.close();
  });

  it('a byte scan of the copied profile finds neither the message texts nor the raw data key', async () => {
    cpSync(profile, copy, { recursive: true, filter: (src) => !/Singleton/.test(src) });
    const key = Buffer.from(await rawDataKey());
    const needles = [
      key,
      ...Object.values(TEXTS).flatMap((t) => [Buffer.from(t, 'utf8'), Buffer.from(t, 'utf16le')]),
      // Prefixes, in case a string is stored split or in another encoding of its tail.
      ...Object.values(TEXTS).map((t) => Buffer.from(t.slice(0, 14), 'latin1')),
    ];
    const files = filesUnder(copy);
    expect(files.length).toBeGreaterThan(10);
    const found: string[] = [];
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const n of needles)
        if (bytes.includes(n))
          found.push(`${f.slice(copy.length)}: ${n === key ? 'data key' : n.toString('utf8').slice(0, 20)}`);
    }
    expect(found).toEqual([]);
  });

  it('a fresh Chromium on the copy shows only the unlock screen; a wrong passphrase shows nothing', async () => {
    // Bob writes while Alice's app is locked: the message must wait on the relay.
    await send(bob, ALICE, TEXTS.whileLocked);
    await inChat(bob, TEXTS.whileLocked);
    const context = await openProfile(copy);
    context.setDefaultTimeout(30_000);
    const alice = context.pages()[0] ?? (await context.newPage());
    await alice.goto(`${served.url}/chats/${BOB}`);
    await alice.getByRole('heading', { name: 'Secure Drop is locked' }).waitFor();
    for (const text of Object.values(TEXTS)) expect(await bodyText(alice)).not.toContain(text);
    await fitsBothSizes(alice, alice.getByRole('button', { name: 'Unlock' }));
    await alice.getByLabel('Passphrase').fill('not the passphrase');
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await alice.getByText('Wrong passphrase. Nothing was changed.').waitFor();
    expect(await alice.locator('.message-scroller').count()).toBe(0);
    for (const text of Object.values(TEXTS)) expect(await bodyText(alice)).not.toContain(text);

    // The right passphrase: the history, and what arrived while locked.
    await alice.getByLabel('Passphrase').fill(PASSPHRASE);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await inChat(alice, TEXTS.fromAlice);
    await inChat(alice, TEXTS.fromBob);
    await inChat(alice, TEXTS.whileLocked);

    // Log out → reload → the login screen, no history in the DOM.
    // In-app navigation: a page load would start the app again, locked.
    await alice.evaluate(() => {
      history.pushState({}, '', '/settings');
      dispatchEvent(new PopStateEvent('popstate'));
    });
    await fitsBothSizes(alice, alice.getByRole('button', { name: 'Lock now' }));
    await alice.getByRole('button', { name: 'Log out', exact: true }).click();
    await alice.waitForURL(/\/login$/);
    await alice.reload();
    await alice.getByRole('button', { name: 'Log in' }).waitFor();
    expect(alice.url()).toMatch(/\/login$/);
    for (const text of Object.values(TEXTS)) expect(await bodyText(alice)).not.toContain(text);
    await alice.goto(`${served.url}/chats/${BOB}`);
    await alice.waitForURL(/\/login$/);
    expect(await alice.evaluate(() => localStorage.getItem('sd.account'))).toBeNull();

    // Log in again → unlock → the history is back.
    await alice.getByLabel('Username').fill(ALICE);
    await alice.getByLabel('Code from your authenticator app').fill(await totp(aliceSecret, 1));
    await alice.getByRole('button', { name: 'Log in' }).click();
    await alice.getByRole('heading', { name: 'Secure Drop is locked' }).waitFor({ timeout: 60_000 });
    for (const text of Object.values(TEXTS)) expect(await bodyText(alice)).not.toContain(text);
    await alice.getByLabel('Passphrase').fill(PASSPHRASE);
    await alice.getByRole('button', { name: 'Unlock' }).click();
    await alice
      .waitForURL(/\/chats$/, { timeout: 60_000, waitUntil: 'commit' })
      .catch(async (err: unknown) => {
        throw new Error(`not at /chats after unlocking (${alice.url()}): ${await bodyText(alice)}`, {
          cause: err,
        });
      });
    await openChat(alice, BOB);
    await inChat(alice, TEXTS.fromAlice);
    await inChat(alice, TEXTS.whileLocked);
    await context.close();
  });
});

describe('app lock set later, in Settings', () => {
  const profile = tempDir('sd-lock-later-');
  const copy = tempDir('sd-lock-later-copy-');
  const CAROL = `carollk_${run}`;
  let oldWrap: Buffer = Buffer.alloc(0);

  // FINDING (open, SECURITY.md "What a user's device holds"): Chromium's IndexedDB (LevelDB)
  // keeps the replaced keyring record — the device wrapping key's bytes with the wrapped data
  // key — in its log file until it compacts, so a profile copied soon after a lock was set in
  // Settings still opens without the passphrase. A lock chosen at registration is not affected
  // (the first describe). Kept as the attack: \`it.fails\` turns red once a fix makes it pass.
  it.fails('replaces the stored wrapping key: the copied profile no longer holds the old keyring', async () => {
    const context = await openProfile(profile);
    context.setDefaultTimeout(30_000);
    const carol = context.pages()[0] ?? (await context.newPage());
    await register(carol, CAROL);
    const readWrap = () =>
      carol.evaluate(`new Promise((done, fail) => {
        const req = indexedDB.open(${JSON.stringify(`secure-drop:${CAROL}`)});
        req.onerror = () => fail(req.error);
        req.onsuccess = () => {
          const get = req.result.transaction('meta').objectStore('meta').get('keyring');
          get.onsuccess = () => {
            done({ version: get.result.version, wrapped: [...get.result.wrappedDataKey] });
            req.result.close();
          };
        };
      })`) as Promise<{ version: number; wrapped: number[] }>;
    const before = await readWrap();
    expect(before.version).toBe(1);
    oldWrap = Buffer.from(before.wrapped);
    await carol.getByRole('link', { name: 'Settings' }).click();
    const section = carol.getByRole('region', { name: 'App lock' });
    await section.getByText('This device has no app lock.', { exact: false }).waitFor();
    await section.getByLabel('New passphrase', { exact: true }).fill(PASSPHRASE);
    await section.getByLabel('Repeat the new passphrase').fill(PASSPHRASE);
    await section.getByRole('button', { name: 'Set passphrase' }).click();
    await section.getByText('This device is locked with a passphrase.', { exact: false }).waitFor();
    expect((await readWrap()).version).toBe(2);
    await context.close();
    cpSync(profile, copy, { recursive: true, filter: (src) => !/Singleton/.test(src) });
    // The old keyring record held the wrapping key's bytes next to this wrapped data key: if
    // the storage engine still kept it on disk, the copy would open without the passphrase.
    const holders = filesUnder(copy).filter((f) => readFileSync(f).includes(oldWrap));
    expect(holders.map((f) => f.slice(copy.length))).toEqual([]);
  });
});

describe('passkey lock (WebAuthn PRF, Chromium virtual authenticator)', () => {
  it('locks with a passkey from Settings; a reload asks for it and the passkey opens the history', async () => {
    const DAVE = `davelk_${run}`;
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ locale: 'en-US' });
      context.setDefaultTimeout(30_000);
      const dave = await context.newPage();
      const cdp = await context.newCDPSession(dave);
      await cdp.send('WebAuthn.enable');
      await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2',
          ctap2Version: 'ctap2_1',
          transport: 'internal',
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          hasPrf: true,
          automaticPresenceSimulation: true,
        },
      });
      // A WebAuthn relying party is a domain, never an IP address: the app at localhost.
      const base = served.url.replace('127.0.0.1', 'localhost');
      await register(dave, DAVE, undefined, base);
      await dave.getByRole('link', { name: 'Settings' }).click();
      const section = dave.getByRole('region', { name: 'App lock' });
      await section.getByRole('button', { name: 'Use a passkey instead' }).click();
      await section.getByText('The app is now locked with your passkey.').waitFor();
      const keyring = (await dave.evaluate(`new Promise((done) => {
        const req = indexedDB.open(${JSON.stringify(`secure-drop:${DAVE}`)});
        req.onsuccess = () => {
          const get = req.result.transaction('meta').objectStore('meta').get('keyring');
          get.onsuccess = () => {
            done({ version: get.result.version, hasCryptoKey: Object.values(get.result).some((v) => v instanceof CryptoKey) });
            req.result.close();
          };
        };
      })`)) as { version: number; hasCryptoKey: boolean };
      expect(keyring).toEqual({ version: 3, hasCryptoKey: false });
      await dave.goto(`${base}/chats`);
      await dave.getByRole('heading', { name: 'Secure Drop is locked' }).waitFor();
      expect(await dave.getByRole('navigation').count()).toBe(0);
      await dave.getByRole('button', { name: 'Unlock with passkey' }).click();
      await dave.getByRole('navigation').getByRole('link', { name: 'Settings' }).waitFor({ timeout: 60_000 });
      expect(dave.url()).toMatch(/\/chats$/);
    } finally {
      await browser.close();
    }
  });
});
