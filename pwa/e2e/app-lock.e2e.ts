// The app lock against the attack it exists for (SECURITY.md "What a user's device holds"):
// a copy of the browser profile. Alice registers with a passphrase in a persistent Chromium
// profile and exchanges messages with Bob; her browser is closed and the profile directory
// copied. A byte scan of the copy finds neither the message texts nor the raw data key; a
// fresh Chromium on the copy shows only the unlock screen; a wrong passphrase shows nothing,
// the right one the history — plus a message Bob sent while she was locked, which therefore
// waited on the relay. Then log out → reload → the login screen with no history in the DOM;
// log in again → unlock → the history is back.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'otplib';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeValue } from '../src/storage/codec.ts';
import { passphraseAad } from '../src/storage/keyring.ts';
import { keyringFileName } from '../src/storage/keyring-file.ts';
import { deriveWrappingKey, type KdfParams } from '../src/storage/passphrase.ts';
import { sidewaysOverflow, startOverAfterLogin } from './app-steps.ts';
import { CHROMIUM, launchChromium } from './browser.ts';
import { filesUnder, type RunningRelay, startRelay } from './relay.ts';
import { LateRelayTarget, previewDir, type Served, startPreview } from './servers.ts';

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
let relayTarget: LateRelayTarget;
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
  relayTarget = new LateRelayTarget();
  served = await startPreview(undefined, 0, relayTarget);
  relay = await startRelay(`${served.url},${served.url.replace('127.0.0.1', 'localhost')}`);
  relayTarget.set(`http://127.0.0.1:${relay.port}`);
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
  codes?: string[],
): Promise<string> {
  await page.goto(`${base}/register`);
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Continue' }).click();
  const shown = ((await page.locator('.totp-secret').textContent()) ?? '').replace(/\s+/g, '');
  const secret = shown.slice(shown.lastIndexOf(':') + 1);
  await page.getByLabel('2. Enter the code the app shows now').fill(await totp(secret));
  if (passphrase) {
    await page.getByLabel('Passphrase (optional)').fill(passphrase);
    await page.getByLabel('Repeat the passphrase').fill(passphrase);
  }
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor({ timeout: 60_000 });
  if (codes) {
    const shownCodes = page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem');
    codes.push(...(await shownCodes.allTextContents()).map((c) => c.trim()));
  }
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

/**
 * What the page's origin keeps about a store's key: the keyring file (Origin Private File
 * System, src/storage/keyring-file.ts) decoded, or null, and IndexedDB's meta store — its keys
 * and whether it holds a CryptoKey (a device wrapping key).
 */
function keyringOf(
  page: Page,
  username: string,
): Promise<{ file: Record<string, unknown> | null; metaKeys: string[]; metaCryptoKey: boolean }> {
  return keyringOfStore(page, `secure-drop:${username}`);
}

/** keyringOf for the store (or read-only archive) named `store`. */
async function keyringOfStore(
  page: Page,
  store: string,
): Promise<{ file: Record<string, unknown> | null; metaKeys: string[]; metaCryptoKey: boolean }> {
  const raw = (await page.evaluate(`(async () => {
    const dir = await navigator.storage.getDirectory();
    let file = null;
    try {
      file = await (await (await dir.getFileHandle(${JSON.stringify(keyringFileName(store))})).getFile()).text();
    } catch (err) {
      if (err.name !== 'NotFoundError') throw err;
    }
    const meta = await new Promise((done, fail) => {
      const req = indexedDB.open(${JSON.stringify(store)});
      req.onerror = () => fail(req.error);
      req.onsuccess = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains('meta')) { db.close(); done({ keys: [], cryptoKey: false }); return; }
        const st = db.transaction('meta').objectStore('meta');
        const keys = st.getAllKeys();
        const values = st.getAll();
        values.onsuccess = () => {
          done({ keys: keys.result, cryptoKey: values.result.some((v) => v instanceof CryptoKey) });
          db.close();
        };
      };
    });
    return { file, meta };
  })()`)) as { file: string | null; meta: { keys: string[]; cryptoKey: boolean } };
  return {
    file: raw.file === null ? null : decodeValue(new TextEncoder().encode(raw.file)),
    metaKeys: raw.meta.keys,
    metaCryptoKey: raw.meta.cryptoKey,
  };
}

/** The forms a key's bytes could take on disk: raw, and base64 as the keyring file writes it. */
const diskForms = (bytes: Uint8Array) => [
  Buffer.from(bytes),
  Buffer.from(Buffer.from(bytes).toString('base64')),
];

/** The files under `dir` holding any of `needles` (paths relative to dir, with the needle's label). */
function scan(dir: string, needles: { label: string; bytes: Buffer }[]): string[] {
  const found: string[] = [];
  for (const f of filesUnder(dir)) {
    const bytes = readFileSync(f);
    for (const n of needles) if (bytes.includes(n.bytes)) found.push(`${f.slice(dir.length)}: ${n.label}`);
  }
  return found;
}

const bodyText = (page: Page) => page.evaluate(() => document.body.textContent ?? '');

/** Phone (390×844) and desktop: nothing wider than the screen, `what` within it. */
async function fitsBothSizes(page: Page, what: ReturnType<Page['getByRole']>): Promise<void> {
  for (const size of [
    { width: 390, height: 844 },
    { width: 1280, height: 800 },
  ]) {
    await page.setViewportSize(size);
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    const box = await what.boundingBox();
    expect(box && box.x >= 0 && box.x + box.width <= size.width).toBe(true);
  }
}

/** The raw data key, recovered the way only the passphrase allows (to look for it on disk). */
async function rawDataKey(keyring = stored): Promise<Uint8Array> {
  if (!keyring) throw new Error('keyring not read');
  const kek = await deriveWrappingKey(PASSPHRASE, keyring.kdf);
  const key = await crypto.subtle.unwrapKey(
    'raw',
    keyring.wrappedDataKey as Uint8Array<ArrayBuffer>,
    kek,
    {
      name: 'AES-GCM',
      iv: keyring.wrapIv as Uint8Array<ArrayBuffer>,
      additionalData: passphraseAad(keyring.kdf),
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
    // As a user opens it (a link, not a typed address naming Bob, which the browser would keep).
    await alice.getByRole('link', { name: 'Open the chat' }).click();
    await composer(alice, BOB).waitFor();
    await openChat(bob, ALICE);
    await send(alice, BOB, TEXTS.fromAlice);
    await inChat(bob, TEXTS.fromAlice);
    await send(bob, ALICE, TEXTS.fromBob);
    await inChat(alice, TEXTS.fromBob);
    // What the origin keeps in clear about the key: a passphrase keyring in the keyring file,
    // nothing of it in IndexedDB, and no CryptoKey at all.
    const kept = await keyringOf(alice, ALICE);
    const file = kept.file as {
      version: number;
      kdf: KdfParams;
      wrappedDataKey: Uint8Array;
      wrapIv: Uint8Array;
    };
    expect(file.version).toBe(2);
    expect(kept.metaCryptoKey).toBe(false);
    expect(kept.metaKeys).not.toContain('keyring');
    expect(file.kdf).toMatchObject({ alg: 'argon2id', m: 65_536, t: 2, p: 1 });
    stored = { kdf: file.kdf, wrappedDataKey: file.wrappedDataKey, wrapIv: file.wrapIv };
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
      // Whom Alice talks to: the browser keeps every address and title it shows (History,
      // Sessions, Favicons), so a chat's address and title name no one (src/state/contact-path.ts).
      Buffer.from(BOB, 'utf8'),
      Buffer.from(BOB, 'utf16le'),
    ];
    const files = filesUnder(copy);
    expect(files.length).toBeGreaterThan(10);
    const found: string[] = [];
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const n of needles)
        if (bytes.includes(n))
          found.push(
            `${f.slice(copy.length)}: ${n === key ? 'data key' : n.toString(n.includes(0) ? 'utf16le' : 'utf8').slice(0, 20)}`,
          );
    }
    expect(found).toEqual([]);
  });

  // SECURITY.md "Checking the code your server sends": the passphrase goes to Argon2id. On a page
  // the service worker controls, the worker's script is the copy the worker checked when it
  // installed; on a page it does not control (a hard reload), a worker script would come from the
  // network unchecked (a worker has no integrity attribute), so the page derives on its own
  // thread, from a chunk index.html names with its integrity.
  it('the passphrase never reaches a worker script the service worker did not check', async () => {
    const [workerFile] = readdirSync(join(previewDir, 'assets')).filter((f) => f.startsWith('kdf-worker-'));
    if (!workerFile) throw new Error('the build has no key-derivation worker');
    const workerPath = join(previewDir, 'assets', workerFile);
    const genuine = readFileSync(workerPath, 'utf8');
    // A changed worker that keeps the passphrase to itself and answers that derivation failed:
    // if it runs, the right passphrase does not unlock.
    writeFileSync(workerPath, "self.onmessage = () => self.postMessage({ error: 'failed' });\n");
    // These copies are Alice's device too: they must not reach the relay (their requests would
    // use her tokens and her ratchets). Unlocking works offline.
    relayTarget.set('http://127.0.0.1:9');
    try {
      for (const serviceWorkers of ['allow', 'block'] as const) {
        const dir = tempDir(`sd-lock-worker-${serviceWorkers}-`);
        // 'block' stops new registrations only: the copy's own service worker goes with it.
        const skip = serviceWorkers === 'block' ? /Singleton|Service Worker/ : /Singleton/;
        cpSync(copy, dir, { recursive: true, filter: (src) => !skip.test(src) });
        const context = await chromium.launchPersistentContext(dir, {
          executablePath: CHROMIUM,
          args: ARGS,
          locale: 'en-US',
          serviceWorkers,
        });
        open.add(context);
        try {
          context.setDefaultTimeout(30_000);
          const alice = context.pages()[0] ?? (await context.newPage());
          await alice.goto(`${served.url}/chats/${BOB}`);
          await alice.getByRole('heading', { name: 'Secure Drop is locked' }).waitFor();
          expect(await alice.evaluate(() => !!navigator.serviceWorker?.controller), serviceWorkers).toBe(
            serviceWorkers === 'allow',
          );
          await alice.getByLabel('Passphrase').fill(PASSPHRASE);
          await alice.getByRole('button', { name: 'Unlock' }).click();
          await inChat(alice, TEXTS.fromAlice);
        } finally {
          await context.close();
          open.delete(context);
        }
      }
    } finally {
      writeFileSync(workerPath, genuine);
      relayTarget.set(`http://127.0.0.1:${relay.port}`);
    }
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
    // Back to the chat the signed-out visit above was going to, at its address by chat id
    // (src/state/contact-path.ts), which names no one.
    await alice
      .waitForURL((url) => /^\/chats\/[0-9a-f-]{36}$/.test(url.pathname), {
        timeout: 60_000,
        waitUntil: 'commit',
      })
      .catch(async (err: unknown) => {
        throw new Error(`not at the chat after unlocking (${alice.url()}): ${await bodyText(alice)}`, {
          cause: err,
        });
      });
    await openChat(alice, BOB);
    await inChat(alice, TEXTS.fromAlice);
    await inChat(alice, TEXTS.whileLocked);
    await context.close();

    // After log out, a new login and an unlock, a copy of this profile still holds no message
    // text, no raw data key and not the passphrase typed into it.
    const again = tempDir('sd-lock-after-logout-');
    cpSync(copy, again, { recursive: true, filter: (src) => !/Singleton/.test(src) });
    expect(
      scan(again, [
        ...diskForms(await rawDataKey()).map((bytes) => ({ label: 'raw data key', bytes })),
        ...Object.values(TEXTS).flatMap((t) => [
          { label: t.slice(0, 20), bytes: Buffer.from(t, 'utf8') },
          { label: t.slice(0, 20), bytes: Buffer.from(t, 'utf16le') },
        ]),
        { label: 'passphrase', bytes: Buffer.from(PASSPHRASE, 'utf8') },
        { label: 'passphrase', bytes: Buffer.from(PASSPHRASE, 'utf16le') },
      ]),
    ).toEqual([]);
  });
});

describe('app lock set later, in Settings', () => {
  const profile = tempDir('sd-lock-later-');
  const copy = tempDir('sd-lock-later-copy-');
  const erasedCopy = tempDir('sd-lock-later-erased-');
  const CAROL = `carollk_${run}`;
  /** The data key as the device key wrapped it before the lock, and as the passphrase does after. */
  let oldWrap: Uint8Array = new Uint8Array(0);
  let locked: { kdf: KdfParams; wrappedDataKey: Uint8Array; wrapIv: Uint8Array } | null = null;

  // The attack: Chromium's IndexedDB (LevelDB) keeps a replaced record in its files until it
  // compacts them, so a keyring replaced there — the device wrapping key with the data key it
  // wraps — would stay in a profile copied right after the lock was set, and open it without
  // the passphrase. The keyring therefore lives in a file of the Origin Private File System
  // (src/storage/keyring-file.ts), which setting the lock overwrites.
  it('replaces the stored wrapping key: the copied profile no longer holds the old keyring', async () => {
    const context = await openProfile(profile);
    context.setDefaultTimeout(30_000);
    const carol = context.pages()[0] ?? (await context.newPage());
    await register(carol, CAROL);
    const before = await keyringOf(carol, CAROL);
    expect(before.file?.version).toBe(1);
    expect(before.metaCryptoKey).toBe(true); // the device wrapping key, in IndexedDB
    expect(before.metaKeys).not.toContain('keyring');
    oldWrap = before.file?.wrappedDataKey as Uint8Array;
    await carol.getByRole('link', { name: 'Settings' }).click();
    const section = carol.getByRole('region', { name: 'App lock' });
    await section.getByText('This device has no app lock.', { exact: false }).waitFor();
    await section.getByLabel('New passphrase', { exact: true }).fill(PASSPHRASE);
    await section.getByLabel('Repeat the passphrase').fill(PASSPHRASE);
    await section.getByRole('button', { name: 'Set passphrase' }).click();
    await section.getByText('This device is locked with a passphrase.', { exact: false }).waitFor();
    const after = await keyringOf(carol, CAROL);
    expect(after.file?.version).toBe(2);
    expect(after.metaCryptoKey).toBe(false); // the device key is deleted (its bytes may linger)
    locked = after.file as unknown as typeof locked;
    await context.close();
    cpSync(profile, copy, { recursive: true, filter: (src) => !/Singleton/.test(src) });
    // The device key may still be in IndexedDB's files until they are compacted, but what it
    // wrapped was only ever in the keyring file: neither that nor the raw data key is on disk.
    expect(
      scan(copy, [
        ...diskForms(oldWrap).map((bytes) => ({ label: 'old device-wrapped data key', bytes })),
        ...diskForms(await rawDataKey(locked)).map((bytes) => ({ label: 'raw data key', bytes })),
      ]),
    ).toEqual([]);
    // And the copy asks for the passphrase.
    const copied = await openProfile(copy);
    const page = copied.pages()[0] ?? (await copied.newPage());
    await page.goto(`${served.url}/chats`);
    await page.getByRole('heading', { name: 'Secure Drop is locked' }).waitFor({ timeout: 30_000 });
    await copied.close();
  });

  it('erase this device removes the keyring: a copy afterwards holds no wrapped data key', async () => {
    if (!locked) throw new Error('the lock was not set');
    const context = await openProfile(profile);
    context.setDefaultTimeout(30_000);
    const carol = context.pages()[0] ?? (await context.newPage());
    await carol.goto(`${served.url}/chats`);
    await carol.getByRole('heading', { name: 'Secure Drop is locked' }).waitFor();
    await carol.getByLabel('Passphrase').fill(PASSPHRASE);
    await carol.getByRole('button', { name: 'Unlock' }).click();
    await carol.getByRole('link', { name: 'Settings' }).click({ timeout: 60_000 });
    await carol.getByRole('button', { name: 'Erase this device' }).click();
    await carol.getByLabel('Type “erase” to confirm').fill('erase');
    await carol.getByRole('button', { name: 'Erase everything' }).click();
    await carol.waitForURL(/\/register$/);
    const gone = await keyringOf(carol, CAROL);
    expect(gone.file).toBeNull();
    expect(gone.metaKeys).toEqual([]);
    await context.close();
    cpSync(profile, erasedCopy, { recursive: true, filter: (src) => !/Singleton/.test(src) });
    // Sealed records may linger in IndexedDB's files until compaction; the data key that opens
    // them is gone in every form.
    expect(
      scan(erasedCopy, [
        ...diskForms(oldWrap).map((bytes) => ({ label: 'device-wrapped data key', bytes })),
        ...diskForms(locked.wrappedDataKey).map((bytes) => ({ label: 'passphrase-wrapped data key', bytes })),
        ...diskForms(await rawDataKey(locked)).map((bytes) => ({ label: 'raw data key', bytes })),
      ]),
    ).toEqual([]);
  });
});

describe('the read-only archive of replaced keys, behind the lock', () => {
  // Keeping the old history read-only copies the store into an archive database, and its
  // keyring into the archive's own keyring file (src/storage/idb-archive.ts), never into
  // IndexedDB: the archive then opens with the passphrase like the store, and erasing the
  // device removes its keyring file too.
  it('the archive of a locked store has its own keyring file, opens with the passphrase, and erase leaves no keyring file', async () => {
    const GRACE = `gracelk_${run}`;
    const TEXT = `kept read-only ${run}`;
    const context = await openProfile(tempDir('sd-lock-archive-'));
    context.setDefaultTimeout(30_000);
    const grace = context.pages()[0] ?? (await context.newPage());
    const codes: string[] = [];
    await register(grace, GRACE, PASSPHRASE, served.url, codes);
    const HANK = `hanklk_${run}`;
    const hankContext = await bobBrowser.newContext({ locale: 'en-US' });
    hankContext.setDefaultTimeout(30_000);
    await register(await hankContext.newPage(), HANK);
    await hankContext.close();
    await addContact(grace, HANK);
    await openChat(grace, HANK);
    await send(grace, HANK, TEXT);
    await inChat(grace, TEXT);
    await grace.goto(`${served.url}/settings`);
    await grace.getByRole('heading', { name: 'Secure Drop is locked' }).waitFor();
    await grace.getByLabel('Passphrase').fill(PASSPHRASE);
    await grace.getByRole('button', { name: 'Unlock' }).click();
    await grace.getByRole('button', { name: 'Log out', exact: true }).click();
    await grace.waitForURL(/\/login$/);
    const store = `secure-drop:${GRACE}`;
    const before = await keyringOfStore(grace, store);

    const login = async (page: Page, code: string) => {
      await page.goto(`${served.url}/login`);
      await page.getByLabel('Username').fill(GRACE);
      await page.getByRole('button', { name: 'Lost your phone? Use a recovery code' }).click();
      await page.getByLabel('Recovery code').fill(code);
      await page.getByRole('button', { name: 'Log in' }).click();
    };
    // Another device logs in: new keys replace the ones this profile holds.
    const elsewhere = await (await bobBrowser.newContext({ locale: 'en-US' })).newPage();
    await login(elsewhere, codes[0] ?? '');
    await startOverAfterLogin(elsewhere);
    await elsewhere.context().close();

    // Back here: the passphrase first, then the question; she keeps the history read-only.
    await login(grace, codes[1] ?? '');
    await grace.getByRole('heading', { name: 'Secure Drop is locked' }).waitFor({ timeout: 60_000 });
    await grace.getByLabel('Passphrase').fill(PASSPHRASE);
    await grace.getByRole('button', { name: 'Unlock' }).click();
    const dialog = grace.getByRole('dialog', { name: 'This device holds older keys' });
    await dialog.waitFor({ timeout: 60_000 });
    await dialog.getByRole('button', { name: 'Keep the old history read-only' }).click();
    // Her own log-out left no path to come back to (routes.tsx RequireAuth): the chats.
    await grace.waitForURL(/\/chats$/, { timeout: 60_000 });

    const archives = (await grace.evaluate(`(async () =>
      (await indexedDB.databases()).map((d) => d.name).filter((n) => n.startsWith(${JSON.stringify(`${store}~archive~`)}))
    )()`)) as string[];
    expect(archives).toHaveLength(1);
    const archived = await keyringOfStore(grace, archives[0] ?? '');
    // Its own keyring file, still behind the passphrase; nothing of a keyring in IndexedDB.
    expect(archived.file).toMatchObject({ version: 2, lock: 'passphrase' });
    expect(archived.metaKeys).toContain('keyring.file');
    expect(archived.metaKeys).not.toContain('keyring');
    expect(archived.metaCryptoKey).toBe(false);
    // A copy of the replaced store's keyring; the new store has a keyring file of its own.
    const wrapped = (k: { file: Record<string, unknown> | null }) =>
      Buffer.from(k.file?.wrappedDataKey as Uint8Array).toString('hex');
    expect(wrapped(archived)).toBe(wrapped(before));
    const current = await keyringOfStore(grace, store);
    expect(current.file).toMatchObject({ version: 2, lock: 'passphrase' });
    expect(wrapped(current)).not.toBe(wrapped(before));

    // A fresh start asks for the passphrase, which opens the archive too.
    await grace.goto(`${served.url}/chats`);
    await grace.getByRole('heading', { name: 'Secure Drop is locked' }).waitFor();
    await grace.getByLabel('Passphrase').fill(PASSPHRASE);
    await grace.getByRole('button', { name: 'Unlock' }).click();
    await grace.getByRole('link', { name: /^Read-only history from / }).click({ timeout: 60_000 });
    await grace.getByRole('heading', { name: 'Read-only history', level: 1 }).waitFor();
    await grace.getByText(TEXT, { exact: true }).waitFor();

    // Erase: no keyring file is left, neither the store's nor the archive's.
    await grace.goto(`${served.url}/settings`);
    await grace.getByLabel('Passphrase').fill(PASSPHRASE);
    await grace.getByRole('button', { name: 'Unlock' }).click();
    await grace.getByRole('button', { name: 'Erase this device' }).click({ timeout: 60_000 });
    await grace.getByLabel('Type “erase” to confirm').fill('erase');
    await grace.getByRole('button', { name: 'Erase everything' }).click();
    await grace.waitForURL(/\/register$/);
    const left = (await grace.evaluate(`(async () =>
      (await indexedDB.databases()).map((d) => d.name).filter((n) => n.startsWith(${JSON.stringify(store)}))
    )()`)) as string[];
    expect(left).toEqual([]);
    const files = (await grace.evaluate(`(async () => {
      const names = [];
      for await (const name of (await navigator.storage.getDirectory()).keys()) names.push(name);
      return names;
    })()`)) as string[];
    expect(files).toEqual([]);
    await context.close();
  });
});

describe('one tab at a time', () => {
  // Every tab of a browser shares the store, but each kept its own chats in memory and decrypted
  // what its own socket brought: a message showed only in the tab that took it first
  // (state/active-tab.ts). The account is now open in one tab at a time.
  it('a second tab says the app is open elsewhere; "Use here" moves it, and the lock, messages and log out follow', async () => {
    const ERIN = `erinlk_${run}`;
    const fromBob = `to Erin's one tab ${run}`;
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ locale: 'en-US' });
      context.setDefaultTimeout(30_000);
      const first = await context.newPage();
      await register(first, ERIN, PASSPHRASE);
      const nav = (page: Page) => page.getByRole('navigation').getByRole('link', { name: 'Settings' });
      const elsewhere = (page: Page) =>
        page.getByRole('heading', { name: 'Secure Drop is open in another tab or window' });
      const locked = (page: Page) => page.getByRole('heading', { name: 'Secure Drop is locked' });
      const chatLink = (page: Page) =>
        page.locator('.chat-list').getByRole('link', { name: new RegExp(`^${BOB}`) });

      // A second tab of the same browser opens nothing of the account: no unlock screen, no chats.
      const second = await context.newPage();
      await second.goto(`${served.url}/chats`);
      await elsewhere(second).waitFor();
      expect(await locked(second).count()).toBe(0);
      expect(await nav(second).count()).toBe(0);
      await nav(first).waitFor();

      // "Use here": the second tab takes the account and asks for its own unlock; the first
      // closes it, its chats gone from the page.
      await second.getByRole('button', { name: 'Use here' }).click();
      await locked(second).waitFor();
      await elsewhere(first).waitFor();
      expect(await nav(first).count()).toBe(0);
      await second.getByLabel('Passphrase').fill(PASSPHRASE);
      await second.getByRole('button', { name: 'Unlock' }).click();
      await nav(second).waitFor({ timeout: 60_000 });

      // Bob writes: the message shows in the tab in use …
      await addContact(second, BOB);
      await bob.goto(`${served.url}/chats`);
      await addContact(bob, ERIN);
      await openChat(bob, ERIN);
      await send(bob, ERIN, fromBob);
      await chatLink(second).click();
      await inChat(second, fromBob);
      // … and a reload keeps the account in its tab: it is not "open elsewhere" to itself.
      await second.reload();
      await locked(second).waitFor({ timeout: 60_000 });
      expect(await elsewhere(second).count()).toBe(0);

      // "Use here" in the first tab again: the same history opens there, the second lets go.
      await first.getByRole('button', { name: 'Use here' }).click();
      await first.getByLabel('Passphrase').fill(PASSPHRASE);
      await first.getByRole('button', { name: 'Unlock' }).click();
      await elsewhere(second).waitFor();
      await chatLink(first).click({ timeout: 60_000 });
      await inChat(first, fromBob);

      // Lock now, then log out in the first tab: the second, open elsewhere, goes to the login screen.
      await first.getByRole('link', { name: 'Back to chats' }).click();
      await nav(first).click();
      await first.getByRole('button', { name: 'Lock now' }).click();
      await locked(first).waitFor();
      await elsewhere(second).waitFor();
      await first.getByLabel('Passphrase').fill(PASSPHRASE);
      await first.getByRole('button', { name: 'Unlock' }).click();
      await nav(first).waitFor({ timeout: 60_000 });
      await nav(first).click();
      await first.getByRole('button', { name: 'Log out', exact: true }).click();
      await first.waitForURL(/\/login$/);
      await second.waitForURL(/\/login$/);
      await second.getByRole('button', { name: 'Log in' }).waitFor();
    } finally {
      await browser.close();
    }
  });
  // The relay rotates the refresh token at each refresh and ends the session when a rotated one
  // is presented again (spec/openapi.yaml POST /session/refresh). A refresh still in the air
  // when another tab takes the account never gets its answer kept: the first tab closes the
  // store at once. The store holds the exchange's id beside the old token, and the tab that
  // took the account retries that exchange as it opens, while the relay takes it as a retry
  // (transport/http.ts TokenKeeper). Before, that tab presented the old token without the id,
  // as a copy would, and the session ended.
  it('a refresh in the air when another tab takes the account is retried there: the session lives', async () => {
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ locale: 'en-US' });
      context.setDefaultTimeout(30_000);
      const first = await context.newPage();
      await register(first, `frank_${run}`);
      const settings = (page: Page) => page.getByRole('navigation').getByRole('link', { name: 'Settings' });
      const sessions = (page: Page) =>
        page.getByRole('list', { name: 'Signed-in devices' }).getByRole('listitem');
      // The first tab's next authenticated call carries a spoilt token (the relay answers 401
      // and the tab refreshes), and its refresh's answer waits until released.
      let spoil = false;
      const refreshIds = { first: [] as string[], second: [] as string[] };
      let release = () => {};
      const held = new Promise<void>((r) => {
        release = r;
      });
      const idOf = (body: string | null) =>
        (JSON.parse(body ?? '{}') as { refresh_id?: string }).refresh_id ?? '';
      await first.route('**/api/**', async (route) => {
        const request = route.request();
        if (request.url().endsWith('/session/refresh')) {
          refreshIds.first.push(idOf(request.postData()));
          const response = await route.fetch();
          await held;
          return route.fulfill({ response });
        }
        const headers = request.headers();
        if (spoil && headers.authorization) {
          spoil = false;
          return route.continue({ headers: { ...headers, authorization: 'Bearer aaa.bbb.ccc' } });
        }
        return route.continue();
      });
      spoil = true;
      await settings(first).click();
      await expect.poll(() => refreshIds.first.length).toBe(1);

      const second = await context.newPage();
      await second.route('**/session/refresh', async (route) => {
        refreshIds.second.push(idOf(route.request().postData()));
        return route.continue();
      });
      await second.goto(`${served.url}/chats`);
      await second.getByRole('button', { name: 'Use here' }).click();
      await settings(second).waitFor({ timeout: 60_000 });
      await first.getByRole('button', { name: 'Use here' }).waitFor();
      release();

      // The second tab retried the first tab's exchange (its id), and the session lives: the
      // sessions list loads, and after a reload too.
      await expect.poll(() => refreshIds.second.length).toBe(1);
      expect(refreshIds.second[0]).toBe(refreshIds.first[0]);
      await settings(second).click();
      await sessions(second).first().waitFor();
      expect(await sessions(second).count()).toBe(1);
      await second.reload();
      await settings(second).click({ timeout: 60_000 });
      await sessions(second).first().waitFor();
      expect(refreshIds.second).toHaveLength(1);
    } finally {
      await browser.close();
    }
  });
});

describe('a store from before the keyring file', () => {
  // Stores made before the keyring moved out of IndexedDB hold it in meta "keyring". The first
  // start moves it into the file (src/storage/keyring-place.ts) without changing the data key:
  // the moved keyring opens what was sealed before. (The old record itself stays in IndexedDB's
  // files until the browser compacts them; SECURITY.md says what that means.)
  it('moves the keyring into the file on the first start; the moved keyring opens the old records', async () => {
    const FRANK = `franklk_${run}`;
    const store = `secure-drop:${FRANK}`;
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ locale: 'en-US' });
      context.setDefaultTimeout(30_000);
      const page = await context.newPage();
      await page.goto(`${served.url}/login`);
      await page.getByRole('button', { name: 'Log in' }).waitFor();
      // The old layout, as idb-storage.ts wrote it: a device keyring and one sealed record.
      const legacyWrap = (await page.evaluate(`(async () => {
        const enc = (s) => new TextEncoder().encode(s);
        const db = await new Promise((ok, fail) => {
          const r = indexedDB.open(${JSON.stringify(store)}, 1);
          r.onupgradeneeded = () => {
            const d = r.result;
            d.createObjectStore('meta');
            d.createObjectStore('records');
            d.createObjectStore('messages', { keyPath: 'id' }).createIndex('chat_seq', ['chat', 'seq']);
          };
          r.onsuccess = () => ok(r.result);
          r.onerror = () => fail(r.error);
        });
        const AES = { name: 'AES-GCM', length: 256 };
        const dataKey = await crypto.subtle.generateKey(AES, true, ['encrypt', 'decrypt']);
        const wrappingKey = await crypto.subtle.generateKey(AES, false, ['wrapKey', 'unwrapKey']);
        const wrapIv = crypto.getRandomValues(new Uint8Array(12));
        const wrappedDataKey = new Uint8Array(await crypto.subtle.wrapKey('raw', dataKey, wrappingKey,
          { name: 'AES-GCM', iv: wrapIv, additionalData: enc('secure-drop/data-key/v1') }));
        const iv = crypto.getRandomValues(new Uint8Array(12));
        const ct = new Uint8Array(await crypto.subtle.encrypt(
          { name: 'AES-GCM', iv, additionalData: enc('r|probe') }, dataKey, enc('"sealed before the move"')));
        await new Promise((ok, fail) => {
          const tx = db.transaction(['meta', 'records'], 'readwrite');
          tx.objectStore('meta').put({ version: 1, wrappingKey, wrappedDataKey, wrapIv }, 'keyring');
          tx.objectStore('records').put({ iv, ct }, 'probe');
          tx.oncomplete = ok;
          tx.onerror = () => fail(tx.error);
        });
        db.close();
        localStorage.setItem('sd.account', ${JSON.stringify(FRANK)});
        return [...wrappedDataKey];
      })()`)) as number[];

      // The first start opens the store (no lock, no session in it: then the login screen).
      await page.reload();
      await page.getByRole('button', { name: 'Log in' }).waitFor({ timeout: 60_000 });
      const moved = await keyringOf(page, FRANK);
      expect(moved.file?.version).toBe(1);
      expect(Buffer.from(moved.file?.wrappedDataKey as Uint8Array)).toEqual(Buffer.from(legacyWrap));
      expect(moved.metaKeys).not.toContain('keyring');
      expect(moved.metaKeys).toContain('keyring.file');
      expect(moved.metaKeys.filter((k) => k.startsWith('deviceKey:'))).toEqual([
        `deviceKey:${moved.file?.deviceKeyId as string}`,
      ]);
      // The device key IndexedDB now keeps under that name and the wrapped key in the file
      // open the record sealed before the move.
      const opened = await page.evaluate(`(async () => {
        const enc = (s) => new TextEncoder().encode(s);
        const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
        const dir = await navigator.storage.getDirectory();
        const file = JSON.parse(await (await (await dir.getFileHandle(${JSON.stringify(keyringFileName(store))})).getFile()).text());
        const db = await new Promise((ok) => { const r = indexedDB.open(${JSON.stringify(store)}); r.onsuccess = () => ok(r.result); });
        const get = (st, k) => new Promise((ok) => { const g = db.transaction(st).objectStore(st).get(k); g.onsuccess = () => ok(g.result); });
        const wrappingKey = await get('meta', 'deviceKey:' + file.deviceKeyId);
        const dataKey = await crypto.subtle.unwrapKey('raw', b64(file.wrappedDataKey.$bytes), wrappingKey,
          { name: 'AES-GCM', iv: b64(file.wrapIv.$bytes), additionalData: enc('secure-drop/data-key/v1') },
          'AES-GCM', false, ['decrypt']);
        const probe = await get('records', 'probe');
        const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: probe.iv, additionalData: enc('r|probe') }, dataKey, probe.ct);
        db.close();
        return new TextDecoder().decode(pt);
      })()`);
      expect(opened).toBe('"sealed before the move"');
    } finally {
      await browser.close();
    }
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
      const keyring = await keyringOf(dave, DAVE);
      expect(keyring.file?.version).toBe(3);
      expect(keyring.metaCryptoKey).toBe(false);
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
