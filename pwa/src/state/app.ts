// The app state (interface in types.ts): signals views read, actions views call. This module
// holds the account lifecycle — register, log in, unlock at start-up, log out, erase — and
// hands everything that happens while signed in to a Messenger (messenger.ts).
//
// Local data: one encrypted IndexedDB store per account ("secure-drop:<username>"); the name
// of the account last signed in on this device is kept in localStorage so the app can open
// its store at start-up — offline too — and show the history before any network.
//
// App lock (SECURITY.md "What a user's device holds"): a store whose data key is wrapped by a
// passphrase starts 'locked'. While locked the store's key is not in memory, the messenger is
// stopped (no WebSocket, so nothing arrives that could be acknowledged without being stored:
// messages wait on the relay), and the tokens are dropped; unlocking opens the store again and
// resumes from what it holds (outbox, WebSocket cursor). Log out forgets the session record
// and the remembered account, so a reload shows the login screen.

import { computed, type Signal, signal } from '@preact/signals-react';
import { base64 } from '@scure/base';
import { createLanguage } from '../i18n/i18n.ts';
import { checkedImport } from '../integrity/checked-import.ts';
import { createUpdatePrompt } from '../pwa/update.ts';
import { RECORD as SECURE, type StoredIdentity } from '../secure/records.ts';
import { archiveIdbStorage, archiveName, listIdbArchives } from '../storage/idb-archive.ts';
import {
  eraseIdbStorage,
  idbStorageLock,
  idbStoragePasskey,
  openIdbStorage,
} from '../storage/idb-storage.ts';
import type { LockKind, NewLock, UnlockSecret } from '../storage/keyring.ts';
import { createPasskey, evaluatePasskey, PasskeyUnavailableError } from '../storage/passkey.ts';
import { checkPassphrase, DEFAULT_KDF } from '../storage/passphrase.ts';
import { requestPersistentStorage } from '../storage/persist.ts';
import { type Storage, WrongPassphraseError } from '../storage/storage.ts';
import { RelayApi } from '../transport/api.ts';
import { accessUsable, type Tokens } from '../transport/http.ts';
import { sameOriginWsUrl } from '../transport/ws.ts';
import { ActiveTab, type TabLocks } from './active-tab.ts';
import { archivedPhotoUrl, readArchive } from './archive.ts';
import type { LinkCandidate } from './devices.ts';
import { toAddContactError, toAppError, toAppErrorCode } from './error-map.ts';
import { AppError } from './errors.ts';
import { type Clock, DEFAULT_IDLE_MINUTES, IDLE_MINUTES, IdleLock, systemClock } from './idle-lock.ts';
import type { Messenger } from './messenger.ts';
import { storedNotices, withNotice } from './notices.ts';
import { clearDraft, loadDraft, type RegistrationDraft, saveDraft } from './registration-draft.ts';
import { type TabEvent, TabSync } from './tab-sync.ts';
import {
  AUTH,
  type StoredAuth,
  storedAuth,
  storeKeeper,
  type TokenHome,
  tokensOf,
  underTokenLock,
} from './token-keeper.ts';
import type {
  App,
  AppNotice,
  ArchiveInfo,
  AuthState,
  BlockedUser,
  ChatMessage,
  ChatSummary,
  ConnectionStatus,
  Contact,
  DeviceInfo,
  LinkCandidateView,
  LinkingState,
  LockState,
  LoginConflict,
  PhotoView,
  RegistrationStart,
  SessionInfo,
} from './types.ts';

export interface RunningApp extends App {
  /** Opens the last account's local store and connects; call once at start-up. */
  start(): Promise<void>;
  /** Stops timers and sockets (tests, hot reload). */
  dispose(): void;
}

export interface AppOptions {
  /** Where the relay is mounted on this origin. */
  readonly apiBase?: string;
  readonly wsUrl?: string;
  readonly storageName?: (username: string) => string;
  readonly registerServiceWorker?: boolean;
  /** Time for the idle lock and the unlock delays (tests inject a manual clock). */
  readonly clock?: Clock;
  /** Argon2id cost of new passphrase locks (passphrase.ts; tests use the OWASP floor). */
  readonly kdfCost?: { m: number; t: number; p: number };
  /** The BroadcastChannel the app's tabs share their lock over (tab-sync.ts; tests isolate it). */
  readonly tabChannel?: string;
  /** Web Locks (active-tab.ts); navigator.locks by default, absent in Node. */
  readonly tabLocks?: TabLocks;
}

const ACCOUNT_KEY = 'sd.account';
/** The AppNotice waiting to be read, stored so a reload does not lose it. */
const NOTICE = 'notice';
/** Minutes without use before the app locks (encrypted store; only read once unlocked). */
const IDLE = 'lock.idle';
/** Active devices an account may have (spec/protocol.md §16 DEVICE_LIMIT, the relay's default). */
const DEVICE_LIMIT = 5;
/** Failed unlocks (localStorage: readable before unlock, and touching no stored data). */
const UNLOCK_FAILURES = 'sd.unlockFailures';

/**
 * Delay before the next unlock attempt after `failures` wrong passphrases: none for the first
 * two (typos), then 5 s doubling up to 5 minutes. It slows someone guessing at the screen; a
 * copied profile is guessed offline, where only the passphrase and Argon2id's cost count.
 */
export function unlockDelayMs(failures: number): number {
  return failures < 3 ? 0 : Math.min(5_000 * 2 ** (failures - 3), 300_000);
}

interface UnlockFailures {
  readonly count: number;
  readonly until: number;
}

function readFailures(): UnlockFailures {
  try {
    const v = JSON.parse(localStorage.getItem(UNLOCK_FAILURES) ?? 'null') as UnlockFailures | null;
    if (v && Number.isSafeInteger(v.count) && typeof v.until === 'number') return v;
  } catch {
    // Unreadable: start again from none.
  }
  return { count: 0, until: 0 };
}

function writeFailures(v: UnlockFailures | null): void {
  try {
    if (v) localStorage.setItem(UNLOCK_FAILURES, JSON.stringify(v));
    else localStorage.removeItem(UNLOCK_FAILURES);
  } catch {
    // Private mode: the delay then lasts as long as the page.
  }
}

/** The crypto half of the app, fetched on first use (see crypto-layers.ts). */
const cryptoLayers = () => checkedImport(() => import('./crypto-layers.ts'));

const loadIdentity = (store: Storage) => store.get<StoredIdentity>(SECURE.identity);

/** Another tab took the account while this one was opening it (active-tab.ts). */
class TakenElsewhere extends Error {
  constructor() {
    super('taken by another tab');
  }
}

/**
 * storeForLogin found that the account already has an identity key this device does not hold
 * (a new device, or this device's keys were replaced elsewhere) and was not told what to do.
 */
class KeysMismatch extends Error {
  constructor(
    readonly localHistory: boolean,
    /** This device was unlinked from the account (RESUME answered device_removed). */
    readonly unlinked: boolean = false,
  ) {
    super('keys mismatch');
  }
}

/** What storeForLogin may do with a store whose keys were replaced: ask, erase, or archive it. */
type OnMismatch = 'ask' | 'erase' | 'archive';

/** What opens a store made with `lock` (the archive of a store shares its lock). */
const secretOf = (lock: NewLock): UnlockSecret | undefined =>
  lock === null ? undefined : 'passphrase' in lock ? lock.passphrase : { prf: lock.passkey.prf };

const groupsOf = (secret: string) => secret.replace(/\s+/g, '').match(/.{1,4}/g) ?? [];

const registrationStart = (r: Omit<RegistrationDraft, 'expiresAt'>): RegistrationStart => ({
  username: r.username,
  otpauthUri: r.otpauthUri,
  qrImageUrl: r.qrImageUrl,
  secret: r.secret,
  secretGroups: groupsOf(r.secret),
});

function rememberAccount(username: string | null): void {
  try {
    if (username) localStorage.setItem(ACCOUNT_KEY, username);
    else localStorage.removeItem(ACCOUNT_KEY);
  } catch {
    // Private mode: the user logs in again next time.
  }
}

function rememberedAccount(): string | null {
  try {
    return localStorage.getItem(ACCOUNT_KEY);
  } catch {
    return null;
  }
}

export function createApp(options: AppOptions = {}): RunningApp {
  const storageName = options.storageName ?? ((u: string) => `secure-drop:${u}`);
  const auth = signal<AuthState>({ status: 'loading', username: null });
  const connection = signal<ConnectionStatus>('offline');
  const contacts = signal<readonly Contact[]>([]);
  const chats = signal<readonly ChatSummary[]>([]);
  const storagePersisted = signal<boolean | null>(null);
  /** The notices not yet read, oldest first (notices.ts); the first is the one shown. */
  const notices = signal<readonly AppNotice[]>([]);
  const notice = computed(() => notices.value[0] ?? null);
  /** The account whose session the relay ended (not this user's own logout): App.sessionEnded. */
  const sessionEnded = signal<string | null>(null);
  /** A logout the user asked for is under way (sessionEnded stays null). */
  let endingByUser = false;
  const lockState = signal<LockState>({ kind: 'none', idleMinutes: DEFAULT_IDLE_MINUTES });
  const clock = options.clock ?? systemClock;
  const kdfCost = options.kdfCost ?? DEFAULT_KDF;
  const ownIdentityWarning = signal<{ readonly at: number } | null>(null);
  const loginConflict = signal<LoginConflict | null>(null);
  // The UI language belongs to this instance like the rest of the state (i18n/i18n.ts).
  const { language, setLanguage, dispose: disposeLanguage } = createLanguage();
  /** What the conflict's answer runs: finish the login erasing or archiving, or give it up. */
  let conflict: {
    erase: () => Promise<void>;
    archive: () => Promise<void>;
    cancel: () => Promise<void>;
    link: () => Promise<void>;
    /** Closes the store the login opened (another tab took the account). */
    close: () => void;
  } | null = null;
  /** The new device's link request while it waits for the other device (devices.ts). */
  const linking = signal<LinkingState | null>(null);
  let linkAbort: AbortController | null = null;
  /** The link code the existing device last inspected, for approveLink. */
  let candidate: { code: string; value: LinkCandidate } | null = null;
  const archives = signal<readonly ArchiveInfo[]>([]);
  /** The open archives (read-only stores) of the signed-in account, by id. */
  const archiveStores = new Map<string, { store: Storage; name: string; archivedAt: number }>();
  const keyChanges = computed(() => contacts.value.filter((c) => c.keyChanged).map((c) => c.username));
  const messageSignals = new Map<string, Signal<readonly ChatMessage[]>>();
  const photoSignals = new Map<string, Signal<PhotoView>>();

  let storage: Storage | null = null;
  /** Where the session's tokens are kept (token-keeper.ts): `storage`, and whose it is. */
  let tokenHome: TokenHome | null = null;
  let messenger: Messenger | null = null;
  let pending: { username: string } | null = null;
  /** A login whose store has an app lock, finished by unlock() (tokens held in memory). */
  let pendingLogin: { username: string; tokens: Tokens } | null = null;
  const idle = new IdleLock(clock, DEFAULT_IDLE_MINUTES * 60_000, () => {
    void lockNow();
  });
  /** The other tabs of this app, from start() on (tab-sync.ts: one lock for all tabs). */
  let tabs: TabSync | null = null;
  /** Whether this tab is the one the account is open in (active-tab.ts). */
  const activeTab = new ActiveTab(onTakenElsewhere, options.tabLocks);

  const api = new RelayApi({
    baseUrl: options.apiBase ?? '/api',
    keeper: storeKeeper(() => tokenHome),
    onSessionEnded: () => {
      void endSession('by-relay');
    },
  });

  const messagesSignal = (contact: string) => {
    let s = messageSignals.get(contact);
    if (!s) {
      s = signal<readonly ChatMessage[]>([]);
      messageSignals.set(contact, s);
    }
    return s;
  };
  const photoSignal = (id: string) => {
    let s = photoSignals.get(id);
    if (!s) {
      s = signal<PhotoView>({ status: 'idle', progress: 0, url: null });
      photoSignals.set(id, s);
    }
    return s;
  };

  const onOnline = () => messenger?.goOnline();
  const onActivity = () => {
    idle.activity();
    const username = auth.value.username;
    if (idle.active && username) tabs?.activity(username);
  };
  const onVisibility = () => idle.check();
  const ACTIVITY = ['pointerdown', 'keydown', 'wheel', 'touchstart'] as const;

  function clearViews(): void {
    contacts.value = [];
    chats.value = [];
    connection.value = 'offline';
    for (const s of messageSignals.values()) s.value = [];
    for (const s of photoSignals.values()) s.value = { status: 'idle', progress: 0, url: null };
  }

  /**
   * Starts the messenger over the account's open store, in the tab that holds the account
   * (active-tab.ts; the entry points claimed it). Another tab that took it meanwhile wins: the
   * store is closed again and TakenElsewhere thrown (this tab shows 'elsewhere').
   */
  async function openSession(username: string, store: Storage): Promise<void> {
    stillHere(username, store);
    storage = store;
    tokenHome = { store, username };
    const { Messenger } = await cryptoLayers();
    messenger = new Messenger({
      username,
      storage: store,
      api,
      wsUrl: options.wsUrl ?? sameOriginWsUrl('/api/ws'),
      sinks: {
        contacts,
        chats,
        connection,
        ownIdentity: ownIdentityWarning,
        messages: messagesSignal,
        photo: photoSignal,
      },
      onSessionEnded: () => {
        void endSession('by-relay');
      },
      onNotice: tell,
    });
    await messenger.load();
    notices.value = storedNotices(await store.get<unknown>(NOTICE));
    const minutes = await store.get<number>(IDLE);
    const idleMinutes = IDLE_MINUTES.find((m) => m === minutes) ?? DEFAULT_IDLE_MINUTES;
    lockState.value = { kind: store.lockKind(), idleMinutes };
    idle.stop();
    stillHere(username, store);
    if (store.lockKind() !== 'none') {
      idle.setTimeoutMs(idleMinutes * 60_000);
      idle.start();
    }
    auth.value = { status: 'signed-in', username };
    sessionEnded.value = null;
    // Signed in: a registration this tab had begun is over (its secret leaves the tab).
    clearDraft();
    rememberAccount(username);
    storagePersisted.value = await requestPersistentStorage();
  }

  /**
   * Closes the local session: the messenger stops (no socket, so nothing is acknowledged), the
   * store's key and the tokens leave memory, the views empty. 'locked' keeps the account
   * remembered for the unlock screen; 'signed-out' is the login screen, and lets another tab
   * have the account; 'elsewhere': another tab took it.
   */
  function closeSession(next: 'locked' | 'signed-out' | 'elsewhere', account?: string): void {
    const username = auth.value.username ?? account ?? null;
    idle.stop();
    messenger?.stop();
    messenger = null;
    storage?.lock();
    storage = null;
    tokenHome = null;
    closeArchives();
    api.http.setTokens(null);
    clearViews();
    notices.value = [];
    ownIdentityWarning.value = null;
    if (next === 'signed-out') activeTab.release();
    auth.value =
      next !== 'signed-out' && username
        ? { status: next, username }
        : { status: 'signed-out', username: null };
  }

  /**
   * Another tab took the account (its "Use here", login or unlock): this one lets it go, with a
   * login waiting here for the user's word (its store is open) or a link in progress.
   */
  function onTakenElsewhere(username: string): void {
    if (auth.value.username !== null && auth.value.username !== username) return;
    pendingLogin = null;
    linkAbort?.abort();
    linkAbort = null;
    linking.value = null;
    conflict?.close();
    conflict = null;
    loginConflict.value = null;
    candidate = null;
    closeSession('elsewhere', username);
  }

  /**
   * Before a step that opens, erases, archives or replaces the shared store: stops, the store
   * closed, when another tab has taken the account meanwhile (it may have that store open).
   */
  function stillHere(username: string, store: Storage): void {
    if (activeTab.holds(username)) return;
    store.lock();
    throw new TakenElsewhere();
  }

  /** No account open here: the login screen, and another tab may have the account. */
  function signedOut(): void {
    activeTab.release();
    auth.value = { status: 'signed-out', username: null };
  }

  function closeArchives(): void {
    for (const a of archiveStores.values()) a.store.lock();
    archiveStores.clear();
    archives.value = [];
  }

  /**
   * Opens the account's archives with what opened its store (`lock`; null without one): an
   * archive shares the lock of the store it came from. One that does not open stays listed as
   * unavailable (it can still be deleted). One that opens under a weaker lock than the store's
   * (a version-1 keyring opens without any secret, keyring.ts) is re-wrapped now, or erased when
   * it cannot be: no archive opens with less than the store (SECURITY.md "What a user's device
   * holds").
   */
  async function loadArchives(username: string, lock: NewLock): Promise<void> {
    closeArchives();
    if (!activeTab.holds(username)) return;
    const secret = secretOf(lock);
    const want = storage?.lockKind() ?? 'none';
    const found: ArchiveInfo[] = [];
    let erased = false;
    for (const a of await listIdbArchives(storageName(username)).catch(() => [])) {
      const id = String(a.archivedAt);
      let store: Storage;
      try {
        store = await openIdbStorage(a.name, secret === undefined ? {} : { passphrase: secret });
      } catch {
        found.push({ id, archivedAt: a.archivedAt, available: false });
        continue;
      }
      if (store.lockKind() !== want) {
        try {
          await store.setLock(secret, lock);
        } catch {
          store.lock();
          await eraseIdbStorage(a.name).catch(() => undefined);
          erased = true;
          continue;
        }
      }
      archiveStores.set(id, { store, name: a.name, archivedAt: a.archivedAt });
      found.push({ id, archivedAt: a.archivedAt, available: true });
    }
    // Taken by another tab while they opened: none stays open here.
    if (!activeTab.holds(username)) return closeArchives();
    archives.value = found;
    if (erased) await tell('archive_erased');
  }

  /**
   * Re-wraps every archive of the account, open or not, under the lock its store now has
   * (`next`), so one lock keeps opening both and no archive is left weaker than the store
   * (SECURITY.md "What a user's device holds"). Runs after the store's own re-wrap, so a wrong
   * current secret changes nothing; an archive that cannot be re-wrapped is erased and the user
   * told, and one an interruption skipped is re-wrapped by loadArchives at the next unlock.
   */
  async function relockArchives(username: string, current: UnlockSecret | undefined, next: NewLock) {
    let erased = false;
    for (const a of await listIdbArchives(storageName(username)).catch(() => [])) {
      // A handle of its own, not the one the archives list keeps open: another tab taking the
      // account closes those (closeArchives), and a re-wrap cut short that way would leave the
      // archive under the old lock while the store has the new one.
      try {
        const store = await openIdbStorage(a.name, current === undefined ? {} : { passphrase: current });
        try {
          await store.setLock(current, next);
        } finally {
          store.lock();
        }
      } catch {
        archiveStores.get(String(a.archivedAt))?.store.lock();
        await eraseIdbStorage(a.name).catch(() => undefined);
        erased = true;
      }
    }
    await loadArchives(username, next);
    if (erased) await tell('archive_erased');
  }

  /** A notice for the user, kept in the store until dismissed, after those not yet read. */
  async function tell(n: AppNotice): Promise<void> {
    notices.value = withNotice(notices.value, n);
    await storeNotices();
  }

  /** The notices not yet read, as the store keeps them for the next session. */
  function storeNotices(): Promise<void> {
    if (!storage) return Promise.resolve();
    const left = notices.value;
    return (left.length ? storage.put(NOTICE, left) : storage.delete(NOTICE)).catch(() => undefined);
  }

  /**
   * Locks an app that has a lock ("Lock now", idle); without one nothing would ask for it.
   * Every other tab locks with it (tab-sync.ts).
   */
  async function lockNow(): Promise<void> {
    const username = auth.value.username;
    if (auth.value.status !== 'signed-in' || lockState.value.kind === 'none' || !username) return;
    closeSession('locked');
    tabs?.post(username, { type: 'lock', kind: lockState.value.kind });
  }

  /** The lock (kind, idle time) now in force here, its idle timer following it. */
  function applyLock(kind: LockKind, idleMinutes: number): void {
    lockState.value = { kind, idleMinutes };
    if (kind === 'none') {
      idle.stop();
      return;
    }
    idle.setTimeoutMs(idleMinutes * 60_000);
    if (!idle.active && auth.value.status === 'signed-in') idle.start();
  }

  /** A lock set, changed or removed here: in force here, and every other tab reads it again. */
  function announceLock(kind: LockKind, idleMinutes: number): void {
    applyLock(kind, idleMinutes);
    const username = auth.value.username;
    if (username) tabs?.post(username, { type: 'lock-kind' });
  }

  /**
   * The lock as this tab's own store has it: the kind from the keyring (readable while locked),
   * the idle time from the open store (only an unlocked tab has it; a locked one reads it when
   * it opens). A channel message only says to look: any page of this origin can post one, and
   * none may stop or stretch the idle lock (SECURITY.md "Several tabs").
   */
  async function reloadLock(user: string): Promise<void> {
    const kind = await idbStorageLock(storageName(user));
    const minutes = storage ? await storage.get<number>(IDLE) : undefined;
    if (user !== auth.value.username) return;
    const idleMinutes = IDLE_MINUTES.find((m) => m === minutes) ?? lockState.value.idleMinutes;
    applyLock(kind ?? lockState.value.kind, idleMinutes);
  }

  /**
   * What another tab of this app did (tab-sync.ts). Its unlock is not among it: each tab asks
   * for the passphrase itself (SECURITY.md "What a user's device holds").
   */
  function onTabEvent(user: string, event: TabEvent): void {
    if (user !== auth.value.username) return;
    switch (event.type) {
      case 'activity':
        // With Web Locks the account is open in this tab only, so no other tab saw its use: such
        // a message is forged, and would hold the idle lock off for as long as it is repeated.
        if (!activeTab.exclusive) idle.activity();
        return;
      case 'lock':
        if (event.kind === 'none') return;
        lockState.value = { ...lockState.value, kind: event.kind };
        if (auth.value.status === 'signed-in') closeSession('locked');
        return;
      case 'lock-kind':
        void reloadLock(user).catch(() => undefined);
        return;
      case 'signed-out':
        // Logged out or erased there: the remembered account is gone, this tab follows.
        pendingLogin = null;
        closeSession('signed-out');
        return;
    }
  }

  /**
   * Logged out (here, everywhere, or the relay ended the session): the session record and the
   * remembered account go, so a reload shows the login screen; the history stays in the store,
   * readable after the next login (and, with a lock, only with the passphrase).
   */
  async function endSession(how: 'by-user' | 'by-relay' = 'by-user'): Promise<void> {
    const username = auth.value.username;
    // Not the user's doing (logged out from another device, this device removed): the login
    // screen says so, with the name filled in. The relay also ends the session of a logout the
    // user asked for here (the socket closes with it, or a refresh then fails): that one is not
    // explained. Decided now, before any wait, while the user's logout is known to be under way.
    const explain = how === 'by-relay' && !endingByUser;
    await storage?.delete(AUTH).catch(() => undefined);
    rememberAccount(null);
    pendingLogin = null;
    closeSession('signed-out');
    // A registration begun in this tab before is over too (registration-draft.ts).
    clearDraft();
    sessionEnded.value = explain ? username : null;
    if (username) tabs?.post(username, { type: 'signed-out' });
  }

  /**
   * This device's store holds protocol version 1 keys and sessions, which version 2 refuses
   * (UNSUPPORTED_VERSION): start over — a new, empty store with new keys and the same sign-in,
   * plus a stored notice telling the user. The new keys are published now (`publishNow`, right
   * after a login) or by the messenger's first prekey maintenance (prekey-lifecycle.ts: the
   * prekey state records what the relay has not accepted yet). The new store keeps the old one's
   * app lock (`relock`, what opened it): starting over must not leave the keys unprotected.
   */
  async function startOver(
    username: string,
    old: Storage,
    saved: StoredAuth | undefined,
    publishNow: boolean,
    relock: NewLock,
  ): Promise<Storage> {
    stillHere(username, old);
    await old.erase();
    const store = await openIdbStorage(storageName(username), { create: relock });
    const { createAccountKeys, publishAccountKeys } = await cryptoLayers();
    if (publishNow) await publishAccountKeys(store, username, api);
    else await createAccountKeys(store, username);
    if (saved) await store.put(AUTH, saved);
    await store.put(NOTICE, 'protocol_reset' satisfies AppNotice);
    return store;
  }

  /**
   * Resumes the session a store holds (start-up, unlock): its tokens, its keys, its messenger.
   * False, and the store closed, when it holds no session (logged out).
   */
  async function resume(username: string, opened: Storage, relock: NewLock = null): Promise<boolean> {
    let store = opened;
    const saved = await store.get<StoredAuth>(AUTH);
    if (!saved || !(await loadIdentity(store))) {
      store.lock();
      rememberAccount(null);
      signedOut();
      return false;
    }
    const { holdsVersion1State } = await cryptoLayers();
    // Published by the messenger's first prekey maintenance, once signed in: a token
    // refresh then lands in the new store.
    if (await holdsVersion1State(store)) store = await startOver(username, store, saved, false, relock);
    // The access token is stored with the refresh token (token-keeper.ts). One still valid
    // for ACCESS_TOKEN_MARGIN_MS is used as is; otherwise the refresh token gets a new one when
    // the network allows.
    const kept = tokensOf(saved);
    // Not in a tab that lost the account meanwhile: it keeps no tokens.
    stillHere(username, store);
    api.http.setTokens(accessUsable(kept) ? kept : { accessToken: '', refreshToken: kept.refreshToken });
    await openSession(username, store);
    // An exchange an earlier page began (reloaded, or the tab that had the account) whose answer
    // was never kept: retried now, while the relay still takes it as a retry (token-keeper.ts).
    if (saved.exchangeId) void api.http.refreshTokens().catch(() => undefined);
    await loadArchives(username, relock);
    messenger?.goOnline();
    return true;
  }

  /**
   * Opens the remembered account in this tab, which holds it (start, "Use here"): the unlock
   * screen when its store has a lock, else its session resumed.
   */
  async function openRemembered(username: string): Promise<void> {
    try {
      const kind = await idbStorageLock(storageName(username));
      if (!activeTab.holds(username)) return;
      if (kind && kind !== 'none') {
        // Nothing is decrypted, and nothing connects, before the passphrase (or passkey).
        lockState.value = { ...lockState.value, kind };
        auth.value = { status: 'locked', username };
        return;
      }
      await resume(username, await openIdbStorage(storageName(username)));
    } catch (err) {
      // Taken by another tab meanwhile (its store then closed under this one's reads): this one
      // says so already (onTakenElsewhere).
      if (err instanceof TakenElsewhere || !activeTab.holds(username)) return;
      signedOut();
    }
  }

  /**
   * Runs the rest of a login or registration that claimed the account for this tab: when it
   * fails with nothing opened (still signed out, no question waiting), the claim is let go.
   */
  async function keepIfOpened<T>(task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } catch (err) {
      // (A session opened halfway, its messenger and store, is closed with it.)
      if (auth.value.status === 'signed-out' && !conflict) closeSession('signed-out');
      throw err;
    }
  }

  /** Erases this device's keys, history and archives, and signs out (App.eraseDevice). */
  async function erase(): Promise<void> {
    // What is to be erased is taken before anything is awaited: the relay's end of the session
    // (its socket closing, a refresh refused) can reach this page while the logout below is on
    // its way and close the session here — which forgot the store, the account and the archives,
    // and left the history on the device.
    const name = auth.value.username ?? rememberedAccount();
    const store = storage;
    const archived = [...archiveStores.values()];
    storage = null;
    tokenHome = null;
    // Locked (a forgotten passphrase) there are no tokens in memory to end the session with.
    if (api.http.hasSession) await api.logout().catch(() => undefined);
    idle.stop();
    messenger?.stop();
    messenger = null;
    if (store) await store.erase();
    else if (name) await eraseIdbStorage(storageName(name));
    // Erasing the device takes the read-only archives of earlier keys with it.
    for (const a of archived) await a.store.erase();
    archiveStores.clear();
    archives.value = [];
    if (name) for (const a of await listIdbArchives(storageName(name))) await eraseIdbStorage(a.name);
    rememberAccount(null);
    writeFailures(null);
    pendingLogin = null;
    api.http.setTokens(null);
    clearViews();
    lockState.value = { kind: 'none', idleMinutes: DEFAULT_IDLE_MINUTES };
    signedOut();
    if (name) tabs?.post(name, { type: 'signed-out' });
  }

  function requireMessenger(): Messenger {
    if (!messenger) throw new AppError('unauthorized');
    return messenger;
  }

  /**
   * Keeps the session's tokens in the store it is opening with: those this page holds now, which a
   * refresh during the login (a link can wait for many minutes) may have rotated since, with the
   * id of such a refresh that had no answer (TokenKeeper).
   */
  async function saveTokens(store: Storage, username: string): Promise<void> {
    await underTokenLock(username, async () => {
      const tokens = api.http.current;
      if (tokens) await store.put(AUTH, storedAuth(username, tokens, api.http.unansweredExchange));
    });
  }

  /**
   * The store to use after a login: this device's, when its identity key is the one the
   * relay publishes; otherwise (a new device, or keys replaced elsewhere) a fresh store with
   * new keys, uploaded — a reinstall, which the relay announces to contacts as a key change.
   * A device holding history under replaced keys is erased or archived (read-only, under the
   * same lock) only when the user said so (`onMismatch`, SECURITY.md "What a user's device
   * holds"); else KeysMismatch, store left open.
   */
  async function storeForLogin(
    username: string,
    opened: Storage,
    relock: NewLock,
    onMismatch: OnMismatch,
  ): Promise<Storage> {
    const local = await loadIdentity(opened);
    const remote = await api.keyStatus();
    const { publishAccountKeys, holdsVersion1State, resumeDevice, describeThisDevice } = await cryptoLayers();
    if (local && (await holdsVersion1State(opened)))
      return startOver(username, opened, undefined, true, relock);
    let unlinked = false;
    if (local && remote.identity_key === base64.encode(local.keyPair.publicKey)) {
      // RESUME (spec §16): the new session is bound to this device, still one of the account's.
      // A device that was unlinked (409 device_removed) is asked like a new one: link again, or
      // start over — its history kept read-only or erased as the user says.
      try {
        await resumeDevice(opened, api);
        return opened;
      } catch (err) {
        if (toAppError(err).code !== 'device_removed') throw err;
        unlinked = true;
      }
    }
    // The account has keys this device does not hold: link to another device, or start over
    // (spec/protocol.md §16) — asked first, as erasing is (SECURITY.md "What a user's device holds").
    if (onMismatch === 'ask' && (local || remote.identity_key))
      throw new KeysMismatch(local !== undefined, unlinked);
    const store = await freshStore(username, opened, relock, onMismatch === 'archive' ? 'archive' : 'erase');
    // START OVER (spec/protocol.md §16): a new identity key, this device described like a linked one.
    await publishAccountKeys(store, username, api, undefined, describeThisDevice());
    return store;
  }

  /**
   * An empty store for the account in place of `opened`: a store holding history is archived
   * (read-only, same lock) or erased as the user chose; an empty one is used as it is.
   */
  async function freshStore(
    username: string,
    opened: Storage,
    relock: NewLock,
    how: 'archive' | 'erase',
  ): Promise<Storage> {
    if (!(await loadIdentity(opened))) return opened;
    stillHere(username, opened);
    const name = storageName(username);
    if (how === 'archive') {
      opened.lock();
      await archiveIdbStorage(name, archiveName(name, clock.now()));
    } else await opened.erase();
    return openIdbStorage(name, { create: relock });
  }

  /**
   * Links this device to the account (spec/protocol.md §16, devices.ts): shows the link code,
   * waits for the other device's sealed payload, checks it, uploads this device's prekeys as a
   * new device and imports the contacts and history. Whatever this device held under other keys
   * is kept read-only (archived), never erased without the user's word.
   */
  async function startLinking(username: string, opened: Storage, relock: NewLock): Promise<void> {
    linkAbort?.abort();
    const abort = new AbortController();
    linkAbort = abort;
    const { describeThisDevice, openLinkRequest, waitForProvisioning, openLinkPayload, completeLink } =
      await cryptoLayers();
    const device = describeThisDevice();
    const pending = await openLinkRequest(api, device);
    if (abort.signal.aborted) return;
    const view = {
      uri: pending.uri,
      expiresAt: pending.expiresAt,
      deviceName: device.name,
      deviceKind: device.kind,
    };
    linking.value = { ...view, status: 'waiting' };
    void (async () => {
      try {
        const message = await waitForProvisioning(api, pending, abort.signal);
        linking.value = { ...view, status: 'linking' };
        const payload = await openLinkPayload(api, pending, message, username);
        if (abort.signal.aborted) return;
        const store = await freshStore(username, opened, relock, 'archive');
        await completeLink(api, store, username, payload, device);
        await saveTokens(store, username);
        conflict = null;
        loginConflict.value = null;
        linking.value = null;
        linkAbort = null;
        await openSession(username, store);
        await loadArchives(username, relock);
        messenger?.goOnline();
      } catch (err) {
        if (abort.signal.aborted) return;
        linking.value = { ...view, status: 'failed', error: toAppError(err).code };
      }
    })();
  }

  /**
   * Finishes a login over this device's opened store. When its keys were replaced elsewhere
   * the login waits in loginConflict for the user's answer (resolveLoginConflict).
   */
  async function finishLogin(username: string, opened: Storage, relock: NewLock): Promise<void> {
    const finish = async (onMismatch: OnMismatch) => {
      const s = await storeForLogin(username, opened, relock, onMismatch);
      await saveTokens(s, username);
      await openSession(username, s);
      await loadArchives(username, relock);
      messenger?.goOnline();
    };
    try {
      await finish('ask');
    } catch (err) {
      if (!(err instanceof KeysMismatch)) throw err;
      // Taken by another tab while the relay was asked: no question is left waiting here.
      stillHere(username, opened);
      const wasLocked = auth.value.status === 'locked';
      conflict = {
        erase: () => finish('erase'),
        archive: () => finish('archive'),
        link: () => startLinking(username, opened, relock),
        cancel: async () => {
          linkAbort?.abort();
          linkAbort = null;
          linking.value = null;
          // The session just opened is ended; the store stays as it was, closed.
          await api.logout().catch(() => undefined);
          opened.lock();
          if (wasLocked) rememberAccount(null);
          signedOut();
        },
        close: () => opened.lock(),
      };
      loginConflict.value = {
        username,
        localHistory: err.localHistory,
        ...(err.unlinked ? { unlinked: true } : {}),
      };
    }
  }

  /** Opens the locked store with what the user gave (passphrase or passkey PRF output). */
  async function unlockWith(passphrase: UnlockSecret, relock: NewLock): Promise<void> {
    const username = auth.value.username;
    if (auth.value.status !== 'locked' || !username) throw new AppError('not_found');
    // Unlocking is the user here: this tab takes the account (active-tab.ts).
    await activeTab.claim(username, 'take');
    const failures = readFailures();
    const now = clock.now();
    if (failures.until > now)
      throw new AppError('unlock_wait', { retryAfter: Math.ceil((failures.until - now) / 1000) });
    let store: Storage;
    try {
      store = await openIdbStorage(storageName(username), { passphrase });
    } catch (err) {
      if (!(err instanceof WrongPassphraseError)) throw err;
      const count = failures.count + 1;
      const delay = unlockDelayMs(count);
      writeFailures({ count, until: clock.now() + delay });
      throw new AppError('wrong_passphrase', delay ? { retryAfter: Math.ceil(delay / 1000) } : {});
    }
    writeFailures(null);
    if (pendingLogin?.username === username) {
      // A login on this device whose store has a lock: its tokens are in memory since login().
      api.http.setTokens(pendingLogin.tokens);
      pendingLogin = null;
      await finishLogin(username, store, relock);
      return;
    }
    const resumed = await resume(username, store, relock);
    if (!resumed) throw new AppError('unauthorized');
  }

  /** The passkey's answer; a cancelled or failed prompt becomes 'cancelled'. */
  async function passkeyOutput<T>(ask: () => Promise<T>): Promise<T> {
    try {
      return await ask();
    } catch (err) {
      if (err instanceof PasskeyUnavailableError) throw new AppError('passkey_unavailable');
      // NotAllowedError (cancelled, timed out) and the like: nothing was changed.
      throw new AppError('cancelled');
    }
  }

  /** What opens the current lock, for re-wrapping: the passphrase given, or the passkey. */
  async function currentSecret(passphrase: string | null): Promise<UnlockSecret | undefined> {
    const username = auth.value.username;
    if (lockState.value.kind === 'passkey' && username) {
      const passkey = await idbStoragePasskey(storageName(username));
      if (passkey)
        return { prf: await passkeyOutput(() => evaluatePasskey(passkey.credentialId, passkey.prfSalt)) };
    }
    return passphrase ?? undefined;
  }

  const wrap =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toAppError(err);
      }
    };

  const updates = createUpdatePrompt();

  const app: RunningApp = {
    auth,
    connection,
    contacts,
    chats,
    keyChanges,
    language,
    update: updates.update,
    storagePersisted,
    notice,
    sessionEnded,
    lock: lockState,
    ownIdentityWarning,
    loginConflict,
    linking,
    archives,

    async start() {
      // A registration draft this tab kept past its expiry goes now (registration-draft.ts).
      loadDraft();
      if (options.registerServiceWorker !== false) updates.register();
      window.addEventListener('online', onOnline);
      for (const e of ACTIVITY) window.addEventListener(e, onActivity, { passive: true });
      document.addEventListener('visibilitychange', onVisibility);
      tabs ??= new TabSync(clock, onTabEvent, options.tabChannel);
      const username = rememberedAccount();
      if (!username) {
        signedOut();
        return;
      }
      if (!(await activeTab.claim(username, 'wait'))) {
        auth.value = { status: 'elsewhere', username };
        return;
      }
      // Logged out in the other tab while this one waited for it.
      if (rememberedAccount() !== username) return signedOut();
      await openRemembered(username);
    },

    openHere: wrap(async () => {
      const username = auth.value.username;
      if (auth.value.status !== 'elsewhere' || !username) throw new AppError('not_found');
      await activeTab.claim(username, 'take');
      await openRemembered(username);
    }),

    dispose() {
      disposeLanguage();
      window.removeEventListener('online', onOnline);
      for (const e of ACTIVITY) window.removeEventListener(e, onActivity);
      document.removeEventListener('visibilitychange', onVisibility);
      tabs?.close();
      tabs = null;
      idle.stop();
      messenger?.stop();
      activeTab.release();
    },

    unlock: wrap((passphrase: string) => unlockWith(passphrase, { passphrase, cost: kdfCost })),

    unlockWithPasskey: wrap(async () => {
      const username = auth.value.username;
      if (auth.value.status !== 'locked' || !username) throw new AppError('not_found');
      const passkey = await idbStoragePasskey(storageName(username));
      if (!passkey) throw new AppError('not_found');
      const prf = await passkeyOutput(() => evaluatePasskey(passkey.credentialId, passkey.prfSalt));
      await unlockWith({ prf }, { passkey: { ...passkey, prf } });
    }),

    setPasskey: wrap(async (currentPassphrase: string | null) => {
      if (!storage) throw new AppError('unauthorized');
      const username = auth.value.username ?? '';
      const current = await currentSecret(currentPassphrase);
      const passkey = await passkeyOutput(() => createPasskey(username));
      await storage.setLock(current, { passkey });
      await relockArchives(username, current, { passkey });
      // (Taken by another tab meanwhile, this one has no store left to announce.)
      if (storage) announceLock(storage.lockKind(), lockState.value.idleMinutes);
    }),

    lockNow,

    setPassphrase: wrap(async (current: string | null, next: string) => {
      checkPassphrase(next);
      if (!storage) throw new AppError('unauthorized');
      const secret = await currentSecret(current);
      await storage.setLock(secret, { passphrase: next, cost: kdfCost });
      await relockArchives(auth.value.username ?? '', secret, { passphrase: next, cost: kdfCost });
      // (Taken by another tab meanwhile, this one has no store left to announce.)
      if (storage) announceLock(storage.lockKind(), lockState.value.idleMinutes);
    }),

    removePassphrase: wrap(async (current: string) => {
      if (!storage) throw new AppError('unauthorized');
      const secret = await currentSecret(current);
      await storage.setLock(secret, null);
      await relockArchives(auth.value.username ?? '', secret, null);
      // (Taken by another tab meanwhile, this one has no store left to announce.)
      if (storage) announceLock(storage.lockKind(), lockState.value.idleMinutes);
    }),

    setIdleMinutes: wrap(async (minutes: number) => {
      const m = IDLE_MINUTES.find((x) => x === minutes);
      if (!m || !storage) throw new AppError('unknown');
      await storage.put(IDLE, m);
      announceLock(lockState.value.kind, m);
    }),

    startRegistration: wrap(async (username: string): Promise<RegistrationStart> => {
      const r = await api.register(username);
      pending = { username: r.username };
      // Kept for a reload of this tab (registration-draft.ts), while the relay holds the name.
      if (Number.isFinite(r.expiresAt)) saveDraft(r);
      return registrationStart(r);
    }),

    resumeRegistration(): RegistrationStart | null {
      const draft = loadDraft();
      if (!draft) return null;
      pending = { username: draft.username };
      return registrationStart(draft);
    },

    abandonRegistration(): void {
      pending = null;
      clearDraft();
    },

    confirmRegistration: wrap(async (code: string, passphrase?: string) => {
      if (!pending) throw new AppError('not_found');
      // Checked before the relay consumes the code, so a too-short passphrase costs nothing.
      if (passphrase) checkPassphrase(passphrase);
      const { username } = pending;
      const session = await api
        .confirmRegistration(username, code.replace(/\s+/g, ''))
        .catch((err: unknown) => {
          // Lapsed at the relay: nothing to go on with after a reload either.
          if (toAppErrorCode(err) === 'not_found') clearDraft();
          throw err;
        });
      // Confirmed: the secret is the account's second factor now, no longer a draft's.
      clearDraft();
      await activeTab.claim(session.username, 'take');
      return keepIfOpened(async () => {
        // A store left from an earlier account of the same name would hold foreign keys, and its
        // archives that account's history.
        await eraseIdbStorage(storageName(session.username));
        for (const a of await listIdbArchives(storageName(session.username))) await eraseIdbStorage(a.name);
        // A lock chosen now wraps the data key from its first byte on disk: no key that opens it
        // alone is ever written (keyring.ts).
        const store = await openIdbStorage(storageName(session.username), {
          create: passphrase ? { passphrase, cost: kdfCost } : null,
        });
        const { publishAccountKeys, describeThisDevice } = await cryptoLayers();
        // The account's first device, described as a linked one is (Settings → Linked devices).
        await publishAccountKeys(store, session.username, api, undefined, describeThisDevice());
        await saveTokens(store, session.username);
        pending = null;
        await openSession(session.username, store);
        messenger?.goOnline();
        return { recoveryCodes: session.recoveryCodes };
      });
    }),

    login: wrap(async (username: string, code: string) => {
      const session = await api.login(username, code.trim());
      // Logging in is the user here: this tab takes the account (active-tab.ts).
      await activeTab.claim(session.username, 'take');
      await keepIfOpened(async () => {
        const kind = await idbStorageLock(storageName(session.username));
        if (kind && kind !== 'none') {
          // This device's store has a lock: the login finishes once unlock() has the passphrase.
          pendingLogin = { username: session.username, tokens: session.tokens };
          api.http.setTokens(null);
          lockState.value = { ...lockState.value, kind };
          auth.value = { status: 'locked', username: session.username };
          return;
        }
        await finishLogin(session.username, await openIdbStorage(storageName(session.username)), null);
      });
    }),

    resolveLoginConflict: wrap(async (choice: 'link' | 'erase' | 'archive' | 'cancel') => {
      const c = conflict;
      if (!c) throw new AppError('not_found');
      // Linking keeps the question open: giving up the link returns to it (cancelLinking).
      if (choice === 'link') return c.link();
      linkAbort?.abort();
      linkAbort = null;
      linking.value = null;
      conflict = null;
      loginConflict.value = null;
      if (choice === 'cancel') return c.cancel();
      // A failed answer leaves the login screen: its store closed, and the account free again.
      await keepIfOpened(async () => {
        try {
          await c[choice]();
        } catch (err) {
          c.close();
          throw err;
        }
      });
    }),

    cancelLinking() {
      linkAbort?.abort();
      linkAbort = null;
      linking.value = null;
    },

    listDevices: wrap(
      async (): Promise<readonly DeviceInfo[]> =>
        (await api.devices()).map((d) => ({
          id: d.deviceId,
          name: d.name,
          kind: d.kind,
          createdAt: Date.parse(d.createdAt),
          lastSeenAt: d.lastSeenAt ? Date.parse(d.lastSeenAt) : null,
          current: d.current,
        })),
    ),

    removeDevice: wrap(async (id: number, code?: string) => {
      // Removing another device takes a fresh second factor (the relay answers 403
      // reauth_required otherwise; the view then asks for a code).
      if (code) await api.reauth(code.replace(/\s+/g, ''));
      await api.removeDevice(id);
    }),

    inspectLinkCode: wrap(async (code: string): Promise<LinkCandidateView> => {
      if (!storage) throw new AppError('unauthorized');
      const { inspectLinkCode } = await cryptoLayers();
      const value = await inspectLinkCode(api, code);
      candidate = { code, value };
      return { name: value.name, kind: value.kind, createdAt: value.createdAt, expiresAt: value.expiresAt };
    }),

    approveLink: wrap(async (code: string, options: { history: boolean }) => {
      const store = storage;
      if (!store) throw new AppError('unauthorized');
      const { inspectLinkCode, approveLink } = await cryptoLayers();
      const c = candidate?.code === code ? candidate.value : await inspectLinkCode(api, code);
      candidate = null;
      // The relay would refuse the new device's keys (409 device_limit) only after it holds the
      // account's identity seed: said here first, and nothing is sent (spec/protocol.md §16).
      if ((await api.devices()).length >= DEVICE_LIMIT) throw new AppError('device_limit');
      await approveLink(api, store, c, options);
    }),

    openArchive: wrap(async (id: string) => {
      const a = archiveStores.get(id);
      if (!a) throw new AppError('not_found');
      return readArchive(a.store, id, a.archivedAt);
    }),

    archivePhoto: wrap(async (id: string, messageId: string) => {
      const a = archiveStores.get(id);
      if (!a) throw new AppError('not_found');
      return archivedPhotoUrl(a.store, messageId);
    }),

    deleteArchive: wrap(async (id: string) => {
      const username = auth.value.username;
      if (auth.value.status !== 'signed-in' || !username) throw new AppError('unauthorized');
      const open = archiveStores.get(id);
      archiveStores.delete(id);
      if (open) await open.store.erase();
      else {
        const listed = (await listIdbArchives(storageName(username))).find(
          (x) => String(x.archivedAt) === id,
        );
        if (!listed) throw new AppError('not_found');
        await eraseIdbStorage(listed.name);
      }
      archives.value = archives.value.filter((x) => x.id !== id);
    }),

    startTotpReenroll: wrap(async (code: string): Promise<RegistrationStart> => {
      const r = await api.startTotpReenroll(code.replace(/\s+/g, ''));
      return {
        username: r.username,
        otpauthUri: r.otpauthUri,
        qrImageUrl: r.qrImageUrl,
        secret: r.secret,
        secretGroups: groupsOf(r.secret),
      };
    }),

    confirmTotpReenroll: wrap(async (code: string) => {
      await api.confirmTotpReenroll(code.replace(/\s+/g, ''));
    }),

    regenerateRecoveryCodes: wrap(async (code: string) => ({
      recoveryCodes: await api.regenerateRecoveryCodes(code.replace(/\s+/g, '')),
    })),

    listSessions: wrap(
      async (): Promise<readonly SessionInfo[]> =>
        (await api.sessions()).map((s) => ({
          id: s.id,
          client: s.client,
          createdAt: Date.parse(s.createdAt),
          lastUsedAt: Date.parse(s.lastUsedAt),
          current: s.current,
        })),
    ),

    endOtherSession: wrap((id: string) => api.endSession(id)),

    logout: wrap(async () => {
      endingByUser = true;
      try {
        await api.logout().catch(() => undefined);
        await endSession();
      } finally {
        endingByUser = false;
      }
    }),

    logoutEverywhere: wrap(async () => {
      endingByUser = true;
      try {
        await api.logoutAll();
        await endSession();
      } finally {
        endingByUser = false;
      }
    }),

    eraseDevice: wrap(async () => {
      // Erasing is the user's own end of the session: nothing to explain at the next login,
      // however the relay's end of it reaches this page meanwhile.
      endingByUser = true;
      try {
        await erase();
      } finally {
        endingByUser = false;
        sessionEnded.value = null;
        clearDraft();
      }
    }),

    addContact: async (username: string) => {
      try {
        await requireMessenger().addContact(username);
      } catch (err) {
        throw toAddContactError(err);
      }
    },
    removeContact: wrap((username: string) => requireMessenger().removeContact(username)),
    blockContact: wrap((username: string) => requireMessenger().blockContact(username)),
    listBlocked: wrap(
      async (): Promise<readonly BlockedUser[]> =>
        (await api.blocks()).map((b) => ({ username: b.username, blockedAt: Date.parse(b.blockedAt) })),
    ),
    unblock: wrap((username: string) => requireMessenger().unblock(username)),
    messagesFor: messagesSignal,
    markRead(contact) {
      messenger?.markRead(contact);
    },
    sendText: wrap(async (contact: string, text: string) => {
      if (!text.trim()) throw new AppError('unknown');
      return requireMessenger().sendText(contact, text);
    }),
    sendPhoto: wrap((contact: string, file: Blob) => requireMessenger().sendPhoto(contact, file)),
    cancelSend(messageId) {
      messenger?.cancel(messageId);
    },
    retry: wrap((messageId: string) => requireMessenger().retry(messageId)),
    photo(messageId) {
      const s = photoSignal(messageId);
      if (s.value.status === 'idle') void messenger?.loadPhoto(messageId);
      return s;
    },

    // During an unacknowledged key change the number and QR are those of the PENDING key, and
    // a scan is compared with it; a scan matching only the superseded key is 'old-key' and
    // accepts nothing, and the user may then keep that key (refuseKeyChange; SECURITY.md,
    // "Trust model").
    safetyNumber: wrap(async (contact: string) => {
      const m = requireMessenger();
      const keys = await m.safetyKeys(contact);
      const { safetyNumberOf } = await cryptoLayers();
      const theirs = keys.pending ?? keys.theirs;
      const n = safetyNumberOf({ me: keys.me, mine: keys.mine, contact, theirs });
      return {
        contact,
        digits: n.digits,
        groups: n.groups,
        qrText: n.qrText,
        verified: keys.verified && keys.pending === null,
        pending: keys.pending !== null,
      };
    }),
    compareScanned: wrap(async (contact: string, scanned: string) => {
      const m = requireMessenger();
      const keys = await m.safetyKeys(contact);
      const { compareScannedDuringChange, compareScannedText } = await cryptoLayers();
      const { me, mine } = keys;
      if (keys.pending) {
        const result = compareScannedDuringChange(
          { me, mine, contact, trusted: keys.theirs, pending: keys.pending },
          scanned,
        );
        // The contact's device shows the new key: verified and accepted in one step.
        if (result === 'match') await m.acceptScannedKey(contact, keys.pending);
        return result;
      }
      const result = compareScannedText({ me, mine, contact, theirs: keys.theirs }, scanned);
      if (result === 'match') await m.setVerified(contact, true);
      if (result !== 'mismatch') return result;
      // The contact's screen shows a key the user refused: the refusal was wrong (an old code of
      // theirs was scanned, say), and the scan now proves this key (SECURITY.md, "Trust model").
      const refused = keys.refused.find(
        (theirs) => compareScannedText({ me, mine, contact, theirs }, scanned) === 'match',
      );
      if (!refused) return result;
      await m.acceptRefusedKey(contact, refused);
      return 'match';
    }),
    refuseKeyChange: wrap(async (contact: string, scanned: string) => {
      const m = requireMessenger();
      const keys = await m.safetyKeys(contact);
      if (!keys.pending) return 'mismatch';
      const { compareScannedDuringChange } = await cryptoLayers();
      const result = compareScannedDuringChange(
        { me: keys.me, mine: keys.mine, contact, trusted: keys.theirs, pending: keys.pending },
        scanned,
      );
      // Compared again here, against the keys as they are now: the refusal names both.
      if (result === 'old-key') await m.refuseKeyChange(contact, keys.theirs, keys.pending);
      return result;
    }),
    markVerified: wrap((contact: string, verified: boolean) =>
      requireMessenger().setVerified(contact, verified),
    ),
    acknowledgeKeyChange: wrap((contact: string, options?: { withoutVerifying?: boolean }) =>
      requireMessenger().acknowledgeKeyChange(
        contact,
        options?.withoutVerifying ? 'without-verifying' : 'click',
      ),
    ),

    dismissOwnIdentityWarning: wrap(async () => {
      await requireMessenger().dismissOwnIdentityWarning();
    }),

    setLanguage,
    applyUpdate: updates.apply,
    dismissUpdate: updates.dismiss,
    dismissNotice() {
      notices.value = notices.value.slice(1);
      void storeNotices();
    },
  };

  return app;
}
