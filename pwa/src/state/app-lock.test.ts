// The app lock in the app state (createApp) over the real relay — see app.test.ts for the
// environment. Time for the idle lock and the unlock delays comes from a manual clock.
// @vitest-environment-options { "url": "http://127.0.0.1:1/", "settings": { "fetch": { "disableSameOriginPolicy": true, "requestHeaders": [{ "headers": { "Cache-Control": "no-cache" } }] } } }
import { generate } from 'otplib';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { until } from '../../../scripts/lib/until.mjs';
import { RECORD as SECURE } from '../secure/records.ts';
import { archiveName, listIdbArchives } from '../storage/idb-archive.ts';
import { idbStorageLock, openIdbStorage } from '../storage/idb-storage.ts';
import { MIN_KDF } from '../storage/passphrase.ts';
import { freshName, relayUrl, relayWsUrl } from '../test/relay.ts';
import type { TabLocks } from './active-tab.ts';
import { createApp, type RunningApp, unlockDelayMs } from './app.ts';
import { AppError } from './errors.ts';
import { type Clock, IdleLock } from './idle-lock.ts';

const PASS = 'glacier teapot orbit';
const apps: RunningApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.dispose();
  localStorage.clear();
});

/** A clock tests move by hand: timers fire only in advance(). */
function manualClock(start = Date.now()) {
  let now = start;
  let seq = 0;
  let timers: { at: number; id: number; fn: () => void }[] = [];
  const clock: Clock & { advance(ms: number): void; pending(): number } = {
    now: () => now,
    setTimeout(fn, ms) {
      seq += 1;
      timers.push({ at: now + ms, id: seq, fn });
      return seq;
    },
    clearTimeout(id) {
      timers = timers.filter((t) => t.id !== id);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
    },
    pending: () => timers.length,
  };
  return clock;
}

function makeApp(ns: string, clock: Clock, apiBase = relayUrl(), tabLocks?: TabLocks): RunningApp {
  const app = createApp({
    ...(tabLocks ? { tabLocks } : {}),
    apiBase,
    wsUrl: apiBase === relayUrl() ? relayWsUrl() : 'ws://127.0.0.1:9/ws',
    storageName: (u) => `lock-${ns}:${u}`,
    registerServiceWorker: false,
    clock,
    kdfCost: MIN_KDF,
    // The apps of one namespace are the tabs of one browser.
    tabChannel: `tabs-${ns}`,
  });
  apps.push(app);
  return app;
}

async function registered(prefix: string, clock: Clock, passphrase?: string) {
  const ns = crypto.randomUUID();
  const app = makeApp(ns, clock);
  const username = freshName(prefix);
  const start = await app.startRegistration(username);
  const { recoveryCodes } = await app.confirmRegistration(
    await generate({ secret: start.secret }),
    passphrase,
  );
  expect(app.auth.value).toEqual({ status: 'signed-in', username });
  return { app, username, ns, recoveryCodes };
}

const codeOf = (e: unknown) => (e instanceof AppError ? e.code : String(e));
const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => ({ code: codeOf(e), retryAfter: e instanceof AppError ? e.retryAfter : undefined }),
  );

describe('IdleLock', () => {
  it('fires once after the idle time; activity pushes it back', () => {
    const clock = manualClock(0);
    let fired = 0;
    const idle = new IdleLock(clock, 60_000, () => {
      fired += 1;
    });
    idle.start();
    clock.advance(59_000);
    idle.activity();
    clock.advance(59_000);
    expect(fired).toBe(0);
    clock.advance(1_000);
    expect(fired).toBe(1);
    expect(idle.active).toBe(false);
    expect(clock.pending()).toBe(0);
    clock.advance(10 * 60_000);
    expect(fired).toBe(1);
  });

  it('a late timer (a tab in the background) does not keep it open: check() locks once the time is up', () => {
    const clock = manualClock(0);
    let fired = 0;
    const idle = new IdleLock(clock, 60_000, () => {
      fired += 1;
    });
    idle.start();
    // The browser held the timer back: time passed, the timer did not fire.
    clock.clearTimeout(1);
    clock.advance(120_000);
    expect(fired).toBe(0);
    idle.check(); // visibilitychange
    expect(fired).toBe(1);
  });

  it('a shorter idle time set while running applies at once', () => {
    const clock = manualClock(0);
    let fired = 0;
    const idle = new IdleLock(clock, 15 * 60_000, () => {
      fired += 1;
    });
    idle.start();
    clock.advance(2 * 60_000);
    idle.setTimeoutMs(60_000);
    expect(fired).toBe(1);
  });

  it('unlock delays grow after repeated failures and are capped', () => {
    expect([1, 2, 3, 4, 5].map(unlockDelayMs)).toEqual([0, 0, 5_000, 10_000, 20_000]);
    expect(unlockDelayMs(30)).toBe(300_000);
  });
});

describe('app lock over the real relay', () => {
  it('starts locked and connects to nothing before the passphrase; wrong ones wait longer and longer', async () => {
    const clock = manualClock();
    const alice = await registered('lka', clock, PASS);
    const bob = await registered('lkb', clock);
    expect(alice.app.lock.value.kind).toBe('passphrase');
    await alice.app.addContact(bob.username);
    await bob.app.addContact(alice.username);
    alice.app.dispose();
    // Bob writes while Alice's app is closed; her locked app must not take it from the relay.
    await bob.app.sendText(alice.username, 'while you were locked');
    await until(() => bob.app.messagesFor(alice.username).value[0]?.state === 'sent', 'stored by the relay');

    localStorage.setItem('sd.account', alice.username); // the last account on this "device"
    const app = makeApp(alice.ns, clock);
    await app.start();
    expect(app.auth.value).toEqual({ status: 'locked', username: alice.username });
    expect(app.connection.value).toBe('offline');
    expect(app.contacts.value).toEqual([]);
    await expect(app.sendText(bob.username, 'x')).rejects.toMatchObject({ code: 'unauthorized' });

    expect(await failure(app.unlock('wrong 1'))).toEqual({ code: 'wrong_passphrase', retryAfter: undefined });
    expect(await failure(app.unlock('wrong 2'))).toEqual({ code: 'wrong_passphrase', retryAfter: undefined });
    expect(await failure(app.unlock('wrong 3'))).toEqual({ code: 'wrong_passphrase', retryAfter: 5 });
    // Even the right passphrase waits out the delay.
    expect(await failure(app.unlock(PASS))).toEqual({ code: 'unlock_wait', retryAfter: 5 });
    clock.advance(5_000);
    expect(await failure(app.unlock('wrong 4'))).toEqual({ code: 'wrong_passphrase', retryAfter: 10 });
    clock.advance(10_000);
    expect(app.auth.value.status).toBe('locked');
    expect(app.connection.value).toBe('offline');

    await app.unlock(PASS);
    expect(app.auth.value).toEqual({ status: 'signed-in', username: alice.username });
    // Waited on the relay, delivered now.
    await until(
      () => app.messagesFor(bob.username).value.some((m) => m.direction === 'in'),
      'the message sent while locked',
    );
    await until(
      () => bob.app.messagesFor(alice.username).value[0]?.state === 'delivered',
      'acknowledged once stored',
    );
    // Lock now: back to the unlock screen, nothing in memory.
    await app.lockNow();
    expect(app.auth.value).toEqual({ status: 'locked', username: alice.username });
    expect(app.messagesFor(bob.username).value).toEqual([]);
  });

  it('locks after the idle time on an injected clock; unlocking keeps the outbox and the WebSocket cursor', async () => {
    const clock = manualClock();
    const alice = await registered('lki', clock, PASS);
    const bob = await registered('lkj', clock);
    await alice.app.addContact(bob.username);
    await bob.app.addContact(alice.username);
    await bob.app.sendText(alice.username, 'first');
    await until(() => alice.app.messagesFor(bob.username).value.length === 1, 'first received');
    alice.app.dispose();
    const name = `lock-${alice.ns}:${alice.username}`;
    const readCursor = async () => {
      const s = await openIdbStorage(name, { passphrase: PASS });
      const c = await s.get<number>('cursor');
      s.lock();
      return c;
    };
    const cursor = await readCursor();
    expect(cursor).toBeGreaterThan(0);

    // Offline (no relay at this address): unlocking needs no network; a reply waits in the outbox.
    localStorage.setItem('sd.account', alice.username);
    const offline = makeApp(alice.ns, clock, 'http://127.0.0.1:9');
    await offline.start();
    await offline.unlock(PASS);
    const id = await offline.sendText(bob.username, 'queued while offline');
    expect(offline.messagesFor(bob.username).value.find((m) => m.id === id)?.state).not.toBe('sent');
    clock.advance(14 * 60_000);
    expect(offline.auth.value.status).toBe('signed-in');
    clock.advance(60_000);
    expect(offline.auth.value).toEqual({ status: 'locked', username: alice.username });
    expect(offline.messagesFor(bob.username).value).toEqual([]);
    await offline.unlock(PASS);
    const kept = offline.messagesFor(bob.username).value.find((m) => m.id === id);
    expect(kept?.body).toEqual({ kind: 'text', text: 'queued while offline' });
    expect(kept?.state).not.toBe('sent');
    offline.dispose();
    expect(await readCursor()).toBe(cursor);

    // Online again: the outbox is sent, once.
    localStorage.setItem('sd.account', alice.username);
    const online = makeApp(alice.ns, clock);
    await online.start();
    await online.unlock(PASS);
    await until(
      () => bob.app.messagesFor(alice.username).value.some((m) => m.direction === 'in'),
      'the queued reply',
    );
    expect(
      bob.app
        .messagesFor(alice.username)
        .value.filter((m) => m.direction === 'in')
        .map((m) => m.body),
    ).toEqual([{ kind: 'text', text: 'queued while offline' }]);
  });

  it('log out forgets the session: a reload is signed out; logging in again asks for the passphrase', async () => {
    const clock = manualClock();
    const alice = await registered('lkl', clock, PASS);
    const bob = await registered('lkm', clock);
    await alice.app.addContact(bob.username);
    await alice.app.sendText(bob.username, 'kept in history');
    await until(() => alice.app.messagesFor(bob.username).value[0]?.state === 'sent', 'sent');
    localStorage.setItem('sd.account', alice.username);
    await alice.app.logout();
    expect(alice.app.auth.value.status).toBe('signed-out');
    expect(localStorage.getItem('sd.account')).toBeNull();

    const reloaded = makeApp(alice.ns, clock);
    await reloaded.start();
    expect(reloaded.auth.value.status).toBe('signed-out');
    expect(reloaded.messagesFor(bob.username).value).toEqual([]);

    await reloaded.login(alice.username, alice.recoveryCodes[0] ?? '');
    expect(reloaded.auth.value).toEqual({ status: 'locked', username: alice.username });
    expect(reloaded.messagesFor(bob.username).value).toEqual([]);
    expect(await failure(reloaded.unlock('not it at all'))).toMatchObject({ code: 'wrong_passphrase' });
    await reloaded.unlock(PASS);
    expect(reloaded.auth.value).toEqual({ status: 'signed-in', username: alice.username });
    expect(reloaded.messagesFor(bob.username).value.map((m) => m.body)).toEqual([
      { kind: 'text', text: 'kept in history' },
    ]);
    await until(() => reloaded.connection.value === 'online', 'online after the login');
  });

  it('a locked device whose keys were replaced elsewhere asks after the passphrase; cancel keeps it, erase keeps the lock', async () => {
    const clock = manualClock();
    const alice = await registered('lkr', clock, PASS);
    const bob = await registered('lks', clock);
    await alice.app.addContact(bob.username);
    await alice.app.logout();
    // Another device starts over (asked first: link or start over, spec/protocol.md §16).
    const other = makeApp(crypto.randomUUID(), clock);
    await other.login(alice.username, alice.recoveryCodes[0] ?? '');
    await other.resolveLoginConflict('erase');
    await until(() => other.auth.value.status === 'signed-in', 'other device signed in');

    const same = makeApp(alice.ns, clock);
    await same.login(alice.username, alice.recoveryCodes[1] ?? '');
    expect(same.auth.value.status).toBe('locked');
    await same.unlock(PASS);
    expect(same.loginConflict.value).toEqual({ username: alice.username, localHistory: true });
    expect(same.auth.value.status).not.toBe('signed-in');
    await same.resolveLoginConflict('cancel');
    expect(same.auth.value.status).toBe('signed-out');
    expect(await idbStorageLock(`lock-${alice.ns}:${alice.username}`)).toBe('passphrase');

    await same.login(alice.username, alice.recoveryCodes[2] ?? '');
    await same.unlock(PASS);
    await same.resolveLoginConflict('erase');
    expect(same.auth.value).toEqual({ status: 'signed-in', username: alice.username });
    expect(same.contacts.value).toEqual([]);
    expect(same.lock.value.kind).toBe('passphrase');
  });

  it('a locked device that keeps its replaced history read-only: the archive stays behind the same lock, and follows a passphrase change', async () => {
    const clock = manualClock();
    const alice = await registered('lka', clock, PASS);
    const bob = await registered('lkb', clock);
    await alice.app.addContact(bob.username);
    await alice.app.sendText(bob.username, 'locked history');
    await alice.app.logout();
    // Another device starts over (asked first: link or start over, spec/protocol.md §16).
    const other = makeApp(crypto.randomUUID(), clock);
    await other.login(alice.username, alice.recoveryCodes[0] ?? '');
    await other.resolveLoginConflict('erase');
    await until(() => other.auth.value.status === 'signed-in', 'other device signed in');

    const same = makeApp(alice.ns, clock);
    await same.login(alice.username, alice.recoveryCodes[1] ?? '');
    await same.unlock(PASS);
    await same.resolveLoginConflict('archive');
    expect(same.auth.value).toEqual({ status: 'signed-in', username: alice.username });
    expect(same.lock.value.kind).toBe('passphrase');
    const id = same.archives.value[0]?.id ?? '';
    const archived = `lock-${alice.ns}:${alice.username}~archive~${id}`;
    // Still behind the passphrase: nothing opens it without.
    expect(await idbStorageLock(archived)).toBe('passphrase');
    await expect(openIdbStorage(archived)).rejects.toThrow();
    const texts = async (app: RunningApp) =>
      (await app.openArchive(id)).chats.flatMap((c) =>
        c.messages.map((m) => (m.body.kind === 'text' ? m.body.text : '')),
      );
    expect(await texts(same)).toEqual(['locked history']);

    // Locked: the archive closes with the store; the one passphrase opens both again.
    await same.lockNow();
    expect(same.archives.value).toEqual([]);
    await same.unlock(PASS);
    expect(await texts(same)).toEqual(['locked history']);
    // A new passphrase re-wraps the archive too.
    const NEXT = 'lantern walrus meadow';
    await same.setPassphrase(PASS, NEXT);
    await same.lockNow();
    await same.unlock(NEXT);
    expect(same.archives.value.map((a) => a.available)).toEqual([true]);
    expect(await texts(same)).toEqual(['locked history']);
    // Erasing the device takes the archive with it.
    await same.eraseDevice();
    expect(await listIdbArchives(`lock-${alice.ns}:${alice.username}`)).toEqual([]);
  });

  it('a passphrase set later covers every archive, open or not; one it cannot cover is erased, never left weaker than the store', async () => {
    const clock = manualClock();
    const alice = await registered('lkw', clock);
    const base = `lock-${alice.ns}:${alice.username}`;
    // An archive this session never opened, kept only by the device key (no lock then).
    const plain = archiveName(base, 1000);
    const p = await openIdbStorage(plain, { create: null });
    await p.put('peer:carol', 'kept');
    p.lock();
    // One under a secret this device no longer knows: it cannot be re-wrapped.
    const foreign = archiveName(base, 2000);
    (await openIdbStorage(foreign, { create: { passphrase: 'forgotten old words', cost: MIN_KDF } })).lock();

    await alice.app.setPassphrase(null, PASS);
    // The attack: a copy of the profile opening archived history without the passphrase.
    expect(await idbStorageLock(plain)).toBe('passphrase');
    await expect(openIdbStorage(plain)).rejects.toThrow();
    expect((await listIdbArchives(base)).map((a) => a.name)).toEqual([plain]);
    expect(alice.app.notice.value).toBe('archive_erased');
    expect(alice.app.archives.value.map((a) => a.available)).toEqual([true]);

    // An archive still under the device key alone when the store is already locked (a re-wrap
    // interrupted): the next unlock re-wraps it before showing it.
    const late = archiveName(base, 3000);
    (await openIdbStorage(late, { create: null })).lock();
    await alice.app.lockNow();
    await alice.app.unlock(PASS);
    expect(await idbStorageLock(late)).toBe('passphrase');
    await expect(openIdbStorage(late)).rejects.toThrow();
    expect(alice.app.archives.value.map((a) => a.available)).toEqual([true, true]);

    // Removing the lock takes it off the archives too.
    await alice.app.removePassphrase(PASS);
    expect(await idbStorageLock(plain)).toBe('none');
    expect(await idbStorageLock(late)).toBe('none');
  });

  it('sets, changes and removes the passphrase from Settings; without one there is no lock to fall into', async () => {
    const clock = manualClock();
    const alice = await registered('lks', clock);
    expect(alice.app.lock.value.kind).toBe('none');
    await alice.app.lockNow();
    expect(alice.app.auth.value.status).toBe('signed-in');
    clock.advance(60 * 60_000);
    expect(alice.app.auth.value.status).toBe('signed-in');
    expect(await failure(alice.app.setPassphrase(null, 'short'))).toMatchObject({
      code: 'passphrase_too_short',
    });
    await alice.app.setPassphrase(null, PASS);
    expect(alice.app.lock.value.kind).toBe('passphrase');
    await alice.app.setIdleMinutes(5);
    clock.advance(5 * 60_000);
    expect(alice.app.auth.value.status).toBe('locked');
    await alice.app.unlock(PASS);
    expect(alice.app.lock.value.idleMinutes).toBe(5);
    expect(await failure(alice.app.setPassphrase('wrong', 'another passphrase'))).toMatchObject({
      code: 'wrong_passphrase',
    });
    await alice.app.setPassphrase(PASS, 'another passphrase');
    expect(await failure(alice.app.removePassphrase(PASS))).toMatchObject({ code: 'wrong_passphrase' });
    await alice.app.removePassphrase('another passphrase');
    expect(alice.app.lock.value.kind).toBe('none');
    alice.app.dispose();
    localStorage.setItem('sd.account', alice.username);
    const reloaded = makeApp(alice.ns, clock);
    await reloaded.start();
    expect(reloaded.auth.value.status).toBe('signed-in');
  });

  it('erases a locked device (forgotten passphrase): the store goes, a reload is signed out', async () => {
    const clock = manualClock();
    const alice = await registered('lke', clock, PASS);
    alice.app.dispose();
    localStorage.setItem('sd.account', alice.username);
    const app = makeApp(alice.ns, clock);
    await app.start();
    expect(app.auth.value.status).toBe('locked');
    await app.eraseDevice();
    expect(app.auth.value.status).toBe('signed-out');
    expect((await indexedDB.databases()).map((d) => d.name)).not.toContain(
      `lock-${alice.ns}:${alice.username}`,
    );
    const reloaded = makeApp(alice.ns, clock);
    await reloaded.start();
    expect(reloaded.auth.value.status).toBe('signed-out');
  });

  // A store holding protocol version 1 state starts over with new keys (app.ts startOver): the
  // new store was opened without the lock, so after the unlock every new key and message was
  // wrapped by the device key alone — a copied profile opened it, and the idle lock stopped.
  it('attack: a locked device that starts over (version 1 state) keeps its app lock, on unlock and on login', async () => {
    const clock = manualClock();
    const alice = await registered('lkv', clock, PASS);
    const name = `lock-${alice.ns}:${alice.username}`;
    const asVersion1 = async () => {
      const old = await openIdbStorage(name, { passphrase: PASS });
      await old.delete(SECURE.format);
      old.lock();
    };
    alice.app.dispose();
    await asVersion1();
    localStorage.setItem('sd.account', alice.username);
    const app = makeApp(alice.ns, clock);
    await app.start();
    expect(app.auth.value.status).toBe('locked');
    await app.unlock(PASS);
    expect(app.auth.value.status).toBe('signed-in');
    expect(app.notice.value).toBe('protocol_reset');
    expect(await idbStorageLock(name)).toBe('passphrase');
    expect(app.lock.value.kind).toBe('passphrase');
    await app.lockNow();
    expect(app.auth.value.status).toBe('locked');

    // The same after a login (storeForLogin's start over, keys published at once).
    await app.unlock(PASS);
    await app.logout();
    await asVersion1();
    await app.login(alice.username, alice.recoveryCodes[0] ?? '');
    expect(app.auth.value.status).toBe('locked');
    await app.unlock(PASS);
    expect(app.auth.value.status).toBe('signed-in');
    expect(await idbStorageLock(name)).toBe('passphrase');
    expect(app.lock.value.kind).toBe('passphrase');
  });
});

describe('one lock for every tab (tab-sync.ts)', () => {
  it('idle or Lock now in one tab locks every tab; each tab unlocks itself; changes and log out reach all', async () => {
    const clockA = manualClock();
    const alice = await registered('lkt', clockA, PASS);
    alice.app.dispose();
    // Two tabs of one browser: the same store and localStorage, each its own timers.
    const clockB = manualClock();
    localStorage.setItem('sd.account', alice.username);
    const a = makeApp(alice.ns, clockA, 'http://127.0.0.1:9');
    const b = makeApp(alice.ns, clockB, 'http://127.0.0.1:9');
    await a.start();
    await b.start();
    await a.unlock(PASS);
    await b.unlock(PASS);
    expect(b.auth.value.status).toBe('signed-in');

    // A's idle time runs out (B's clock stands still): both lock.
    clockA.advance(15 * 60_000);
    expect(a.auth.value).toEqual({ status: 'locked', username: alice.username });
    await until(() => b.auth.value.status === 'locked', 'the other tab to lock');

    // Unlocking A does not unlock B. A's next message (an idle time change) reaches B after
    // anything the unlock could have sent: once a listener opened after B's has it, B has it
    // too (BroadcastChannel: destinations in creation order), and B is still locked.
    const after = new BroadcastChannel(`tabs-${alice.ns}`);
    onTestFinished(() => after.close());
    const reached = new Promise<void>((resolve) => {
      after.onmessage = (e) => {
        if (e.data?.event?.type === 'lock-kind') resolve();
      };
    });
    await a.unlock(PASS);
    await a.setIdleMinutes(5);
    await reached;
    expect(b.auth.value.status).toBe('locked');
    expect(b.lock.value.kind).toBe('passphrase');

    // Lock now in B (once B is unlocked) locks A. B reads the idle time A chose from the store.
    await b.unlock(PASS);
    expect(b.lock.value.idleMinutes).toBe(5);
    await b.lockNow();
    await until(() => a.auth.value.status === 'locked', 'Lock now to reach the other tab');

    // Both open: an idle time chosen in one is read from the store by the other.
    await a.unlock(PASS);
    await b.unlock(PASS);
    await a.setIdleMinutes(30);
    await until(() => b.lock.value.idleMinutes === 30, 'the idle time to reach the other tab');

    // Log out in A: B follows to the login screen.
    await a.logout();
    await until(() => b.auth.value.status === 'signed-out', 'log out to reach the other tab');
    expect(b.messagesFor('anyone').value).toEqual([]);
  });

  /**
   * A started tab of a registered account with a passphrase, offline (the relay plays no part),
   * and a page of the origin posting on the tabs' channel. `forge` posts its events, the last a
   * lock change, and resolves once the tab has handled that: the tab sets its lock state anew
   * when it handles one, and one sender's messages reach a tab in order, so the events before it
   * were handled too. No wait is guessed.
   */
  async function forgedTabs(prefix: string, tabLocks?: TabLocks) {
    const clock = manualClock();
    const alice = await registered(prefix, clock, PASS);
    alice.app.dispose();
    localStorage.setItem('sd.account', alice.username);
    const app = makeApp(alice.ns, clock, 'http://127.0.0.1:9', tabLocks);
    await app.start();
    await app.unlock(PASS);
    const forger = new BroadcastChannel(`tabs-${alice.ns}`);
    onTestFinished(() => forger.close());
    const forge = async (...events: [...object[], { type: 'lock-kind'; [field: string]: unknown }]) => {
      const before = app.lock.value;
      for (const event of events) forger.postMessage({ user: alice.username, event });
      await until(() => app.lock.value !== before, 'the forged messages to be handled');
    };
    return { app, clock, username: alice.username, forge };
  }

  it('another page of the origin cannot switch the lock off: a "lock removed" message is checked against the store', async () => {
    const { app, clock, username, forge } = await forgedTabs('lkf');
    await forge({ type: 'lock-kind', kind: 'none', idleMinutes: 5 });
    await until(() => app.lock.value.kind === 'passphrase', 'the store to be read');
    clock.advance(15 * 60_000);
    expect(app.auth.value).toEqual({ status: 'locked', username });
    await app.unlock(PASS);
    await app.lockNow();
    expect(app.auth.value.status).toBe('locked');
  });

  it('attack: a forged lock change cannot stretch the idle time (1,440 minutes posted; Settings offers 1 to 60)', async () => {
    const { app, clock, username, forge } = await forgedTabs('lks');
    expect(app.lock.value).toEqual({ kind: 'passphrase', idleMinutes: 15 });
    await forge({ type: 'lock-kind', kind: 'passphrase', idleMinutes: 1440 });
    clock.advance(15 * 60_000);
    expect(app.auth.value).toEqual({ status: 'locked', username });
    expect(app.lock.value.idleMinutes).toBe(15);
  });

  it('attack: with Web Locks, forged activity from another page does not hold the idle lock off', async () => {
    // The account is open in this tab only (active-tab.ts): no other tab saw it used.
    const locks: TabLocks = { request: (_name, _options, callback) => callback(null) };
    const { app, clock, username, forge } = await forgedTabs('lka', locks);
    for (let i = 0; i < 3; i++) {
      clock.advance(10 * 60_000);
      // (The lock change as this app's earlier version posted it, which that version handled.)
      await forge({ type: 'activity' }, { type: 'lock-kind', kind: 'passphrase', idleMinutes: 15 });
    }
    expect(app.auth.value).toEqual({ status: 'locked', username });
  });
});
