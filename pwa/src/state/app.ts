// The app state (interface in types.ts): signals views read, actions views call. This module
// holds the account lifecycle — register, log in, unlock at start-up, log out, erase — and
// hands everything that happens while signed in to a Messenger (messenger.ts).
//
// Local data: one encrypted IndexedDB store per account ("secure-drop:<username>"); the name
// of the account last signed in on this device is kept in localStorage so the app can open
// its store at start-up — offline too — and show the history before any network.
import { computed, type Signal, signal } from '@preact/signals-react';
import { base64 } from '@scure/base';
import { language, setLanguage } from '../i18n/i18n.ts';
import { applyUpdate, dismissUpdate, registerServiceWorker, update } from '../pwa/update.ts';
import { RECORD as SECURE, type StoredIdentity } from '../secure/records.ts';
import { openIdbStorage } from '../storage/idb-storage.ts';
import { requestPersistentStorage } from '../storage/persist.ts';
import type { Storage } from '../storage/storage.ts';
import { RelayApi } from '../transport/api.ts';
import type { Tokens } from '../transport/http.ts';
import { sameOriginWsUrl } from '../transport/ws.ts';
import { toAddContactError, toAppError } from './error-map.ts';
import { AppError } from './errors.ts';
import type { Messenger } from './messenger.ts';
import type {
  App,
  AppNotice,
  AuthState,
  ChatMessage,
  ChatSummary,
  ConnectionStatus,
  Contact,
  PhotoView,
  RegistrationStart,
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
}

const ACCOUNT_KEY = 'sd.account';
const AUTH = 'auth';
/** The AppNotice waiting to be read, stored so a reload does not lose it. */
const NOTICE = 'notice';

/**
 * The session's tokens, in the encrypted store. The access token is kept with the refresh
 * token (same protection) so that reloading the app within its 15 minutes does not rotate the
 * refresh token: a reload that interrupted a rotation would present the old, already-rotated
 * token next time, which the relay rightly treats as theft and ends the session.
 */
interface StoredAuth {
  readonly username: string;
  readonly refreshToken: string;
  readonly accessToken?: string;
  readonly accessExpiresAt?: number;
}

const storedAuth = (username: string, t: Tokens): StoredAuth => ({
  username,
  refreshToken: t.refreshToken,
  ...(t.accessExpiresAt ? { accessToken: t.accessToken, accessExpiresAt: t.accessExpiresAt } : {}),
});

/** The crypto half of the app, fetched on first use (see crypto-layers.ts). */
const cryptoLayers = () => import('./crypto-layers.ts');

const loadIdentity = (store: Storage) => store.get<StoredIdentity>(SECURE.identity);

const groupsOf = (secret: string) => secret.replace(/\s+/g, '').match(/.{1,4}/g) ?? [];

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
  const notice = signal<AppNotice | null>(null);
  const ownIdentityWarning = signal<{ readonly at: number } | null>(null);
  const keyChanges = computed(() => contacts.value.filter((c) => c.keyChanged).map((c) => c.username));
  const messageSignals = new Map<string, Signal<readonly ChatMessage[]>>();
  const photoSignals = new Map<string, Signal<PhotoView>>();

  let storage: Storage | null = null;
  let messenger: Messenger | null = null;
  let pending: { username: string } | null = null;

  const api = new RelayApi({
    baseUrl: options.apiBase ?? '/api',
    onTokens: (tokens: Tokens) => {
      const name = auth.value.username;
      if (storage && name) void storage.put(AUTH, storedAuth(name, tokens)).catch(() => undefined);
    },
    onSessionEnded: () => {
      void lock();
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

  function clearViews(): void {
    contacts.value = [];
    chats.value = [];
    connection.value = 'offline';
    for (const s of messageSignals.values()) s.value = [];
    for (const s of photoSignals.values()) s.value = { status: 'idle', progress: 0, url: null };
  }

  /** Opens the account's store and starts the messenger over it. */
  async function unlock(username: string, store: Storage): Promise<void> {
    storage = store;
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
        void lock();
      },
    });
    await messenger.load();
    notice.value = (await store.get<AppNotice>(NOTICE)) ?? null;
    auth.value = { status: 'signed-in', username };
    rememberAccount(username);
    storagePersisted.value = await requestPersistentStorage();
  }

  /** Ends the local session: the store's key leaves memory, the views empty. */
  async function lock(): Promise<void> {
    messenger?.stop();
    messenger = null;
    storage?.lock();
    storage = null;
    api.http.setTokens(null);
    clearViews();
    notice.value = null;
    ownIdentityWarning.value = null;
    auth.value = { status: 'signed-out', username: null };
  }

  /**
   * This device's store holds protocol version 1 keys and sessions, which version 2 refuses
   * (UNSUPPORTED_VERSION): start over — a new, empty store with new keys and the same sign-in,
   * plus a stored notice telling the user. The new keys are published now (`publishNow`, right
   * after a login) or by the messenger's first prekey maintenance (prekey-lifecycle.ts: the
   * prekey state records what the relay has not accepted yet).
   */
  async function startOver(
    username: string,
    old: Storage,
    saved: StoredAuth | undefined,
    publishNow: boolean,
  ): Promise<Storage> {
    await old.erase();
    const store = await openIdbStorage(storageName(username));
    const { createAccountKeys, publishAccountKeys } = await cryptoLayers();
    if (publishNow) await publishAccountKeys(store, username, api);
    else await createAccountKeys(store, username);
    if (saved) await store.put(AUTH, saved);
    await store.put(NOTICE, 'protocol_reset' satisfies AppNotice);
    return store;
  }

  function requireMessenger(): Messenger {
    if (!messenger) throw new AppError('unauthorized');
    return messenger;
  }

  async function saveTokens(store: Storage, username: string, tokens: Tokens): Promise<void> {
    await store.put(AUTH, storedAuth(username, tokens));
  }

  /**
   * The store to use after a login: this device's, when its identity key is the one the
   * relay publishes; otherwise (a new device, or keys replaced elsewhere) a fresh store with
   * new keys, uploaded — a reinstall, which the relay announces to contacts as a key change.
   */
  async function storeForLogin(username: string): Promise<Storage> {
    let store = await openIdbStorage(storageName(username));
    const local = await loadIdentity(store);
    const remote = await api.keyStatus();
    const { publishAccountKeys, holdsVersion1State } = await cryptoLayers();
    if (local && (await holdsVersion1State(store))) return startOver(username, store, undefined, true);
    if (local && remote.identity_key === base64.encode(local.keyPair.publicKey)) return store;
    if (local) {
      await store.erase();
      store = await openIdbStorage(storageName(username));
    }
    await publishAccountKeys(store, username, api);
    return store;
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

  const app: RunningApp = {
    auth,
    connection,
    contacts,
    chats,
    keyChanges,
    language,
    update,
    storagePersisted,
    notice,
    ownIdentityWarning,

    async start() {
      if (options.registerServiceWorker !== false) registerServiceWorker();
      window.addEventListener('online', onOnline);
      const username = rememberedAccount();
      if (!username) {
        auth.value = { status: 'signed-out', username: null };
        return;
      }
      try {
        let store = await openIdbStorage(storageName(username));
        const saved = await store.get<StoredAuth>(AUTH);
        if (!saved || !(await loadIdentity(store))) {
          store.lock();
          auth.value = { status: 'signed-out', username: null };
          return;
        }
        const { holdsVersion1State } = await cryptoLayers();
        // Published by the messenger's first prekey maintenance, once signed in: a token
        // refresh then lands in the new store.
        if (await holdsVersion1State(store)) store = await startOver(username, store, saved, false);
        // The access token is stored with the refresh token (StoredAuth above). One still valid
        // for at least a minute is used as is; otherwise the refresh token gets a new one when
        // the network allows.
        const fresh = saved.accessToken && (saved.accessExpiresAt ?? 0) - 60_000 > Date.now();
        api.http.setTokens({
          accessToken: fresh ? (saved.accessToken as string) : '',
          refreshToken: saved.refreshToken,
        });
        await unlock(username, store);
        messenger?.goOnline();
      } catch {
        auth.value = { status: 'signed-out', username: null };
      }
    },

    dispose() {
      window.removeEventListener('online', onOnline);
      messenger?.stop();
    },

    startRegistration: wrap(async (username: string): Promise<RegistrationStart> => {
      const r = await api.register(username);
      pending = { username: r.username };
      return {
        username: r.username,
        otpauthUri: r.otpauthUri,
        qrImageUrl: r.qrImageUrl,
        secret: r.secret,
        secretGroups: groupsOf(r.secret),
      };
    }),

    confirmRegistration: wrap(async (code: string) => {
      if (!pending) throw new AppError('not_found');
      const { username } = pending;
      const session = await api.confirmRegistration(username, code.replace(/\s+/g, ''));
      // A store left from an earlier account of the same name would hold foreign keys.
      const stale = await openIdbStorage(storageName(session.username));
      await stale.erase();
      const store = await openIdbStorage(storageName(session.username));
      const { publishAccountKeys } = await cryptoLayers();
      await publishAccountKeys(store, session.username, api);
      await saveTokens(store, session.username, session.tokens);
      pending = null;
      await unlock(session.username, store);
      messenger?.goOnline();
      return { recoveryCodes: session.recoveryCodes };
    }),

    login: wrap(async (username: string, code: string) => {
      const session = await api.login(username, code.trim());
      const store = await storeForLogin(session.username);
      await saveTokens(store, session.username, session.tokens);
      await unlock(session.username, store);
      messenger?.goOnline();
    }),

    logout: wrap(async () => {
      await api.logout().catch(() => undefined);
      await lock();
    }),

    logoutEverywhere: wrap(async () => {
      await api.logoutAll();
      await lock();
    }),

    eraseDevice: wrap(async () => {
      await api.logout().catch(() => undefined);
      messenger?.stop();
      messenger = null;
      const store = storage;
      storage = null;
      if (store) await store.erase();
      else {
        const name = rememberedAccount();
        if (name) await (await openIdbStorage(storageName(name))).erase();
      }
      rememberAccount(null);
      api.http.setTokens(null);
      clearViews();
      auth.value = { status: 'signed-out', username: null };
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
    // accepts nothing (SECURITY.md, "Trust model").
    safetyNumber: wrap(async (contact: string) => {
      const m = requireMessenger();
      const keys = await m.sm.safetyKeys(contact);
      const { safetyNumberOf } = await cryptoLayers();
      const theirs = keys.pending ?? keys.theirs;
      const n = safetyNumberOf({ me: keys.me, mine: keys.mine, contact, theirs });
      const peer = await m.sm.peer(contact);
      return {
        contact,
        digits: n.digits,
        groups: n.groups,
        qrText: n.qrText,
        verified: (peer?.verified ?? false) && keys.pending === null,
        pending: keys.pending !== null,
      };
    }),
    compareScanned: wrap(async (contact: string, scanned: string) => {
      const m = requireMessenger();
      const keys = await m.sm.safetyKeys(contact);
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
    applyUpdate,
    dismissUpdate,
    dismissNotice() {
      notice.value = null;
      void storage?.delete(NOTICE).catch(() => undefined);
    },
  };

  return app;
}
