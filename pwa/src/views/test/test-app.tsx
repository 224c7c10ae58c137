// A FAKE app-state object for view tests. It has the real kind of signals (@preact) and the
// App interface of src/state/types.ts, and its actions record their calls and change those
// signals in memory, mirroring what the real app (src/state/app.ts) publishes — for example
// adding someone already in the contacts changes nothing, as the relay answers 200
// (src/state/messenger.test.ts holds the real behaviour). What it does NOT do: no relay, no
// storage, no encryption. Messages never leave the 'sending' state and nothing arrives;
// photos stay 'loading' and sendPhoto adds no message; safety numbers and QR payloads are
// fixed strings (`sd-safety:<contact>`); TOTP, recovery and lock checks compare with the fixed
// values below; no error the relay would send (rate limits, network) is ever raised.
// The state layer itself is tested over the real relay (src/state/*.test.ts); views are
// rendered through the real route table (src/app/routes.tsx) in a memory router, so guards
// and navigation are the production ones.
import { computed, type Signal, signal } from '@preact/signals-react';
import { render } from '@testing-library/react';
import { createMemoryRouter, Outlet, type RouteObject, RouterProvider } from 'react-router';
import { routes } from '../../app/routes.tsx';
import { createLanguage, type Lang, type LanguageState } from '../../i18n/i18n.ts';
import { AppProvider } from '../../state/context.tsx';
import { AppError } from '../../state/errors.ts';
import type {
  App,
  AppNotice,
  ArchiveContents,
  ArchiveInfo,
  AuthState,
  BlockedUser,
  ChatMessage,
  ChatSummary,
  ConnectionStatus,
  Contact,
  DeviceInfo,
  LinkingState,
  LockState,
  LoginConflict,
  PhotoView,
  RegistrationStart,
  SafetyNumber,
  SessionInfo,
  UpdateState,
} from '../../state/types.ts';

/** A chat id for a test contact: UUID-shaped, as StoredPeer.chatId is, and fixed per name. */
export const chatIdOf = (username: string): string =>
  `00000000-0000-4000-8000-${[...username]
    .map((c) => c.charCodeAt(0).toString(16))
    .join('')
    .padEnd(12, '0')
    .slice(0, 12)}`;

/** The passphrase the test app's lock accepts. */
export const TEST_PASSPHRASE = 'correct horse battery';

// The language is the app instance's (i18n/i18n.ts createLanguage). A test picks it with
// setLanguage: test apps made afterwards start in it, and the ones already made switch to it
// as their LanguageSwitch would (not recorded as a call).
let testLanguage: Lang = 'en';
const made: Pick<LanguageState, 'setLanguage'>[] = [];
export function setLanguage(lang: Lang): void {
  testLanguage = lang;
  for (const app of made) app.setLanguage(lang);
}

export function makeTestApp(
  init: {
    signedIn?: string | null;
    locked?: string;
    elsewhere?: string;
    /** openHere() ends with the account taken back by the other tab (still 'elsewhere'). */
    takenBack?: boolean;
    passkeyCancelled?: boolean;
  } = {},
) {
  const auth = signal<AuthState>(
    init.elsewhere
      ? { status: 'elsewhere', username: init.elsewhere }
      : init.locked
        ? { status: 'locked', username: init.locked }
        : init.signedIn
          ? { status: 'signed-in', username: init.signedIn }
          : { status: 'signed-out', username: null },
  );
  const lock = signal<LockState>({ kind: init.locked ? 'passphrase' : 'none', idleMinutes: 15 });
  const connection = signal<ConnectionStatus>('online');
  const contacts = signal<readonly Contact[]>([]);
  const chats = signal<readonly ChatSummary[]>([]);
  const update = signal<UpdateState>({ available: false, offlineReady: true });
  const storagePersisted = signal<boolean | null>(true);
  const notice = signal<AppNotice | null>(null);
  const sessionEnded = signal<string | null>(null);
  const ownIdentityWarning = signal<{ readonly at: number } | null>(null);
  const loginConflict = signal<LoginConflict | null>(null);
  const linking = signal<LinkingState | null>(null);
  /** The code inspectLinkCode accepts ('sd-link:good'); 'sd-link:mismatch' is a swapped key. */
  const devices = signal<readonly DeviceInfo[]>([
    {
      id: 1,
      name: 'Chromium on Linux',
      kind: 'desktop',
      createdAt: 1_700_000_000_000,
      lastSeenAt: 1_700_000_500_000,
      current: true,
    },
    {
      id: 2,
      name: 'Safari on iOS',
      kind: 'phone',
      createdAt: 1_700_100_000_000,
      lastSeenAt: null,
      current: false,
    },
  ]);
  const archives = signal<readonly ArchiveInfo[]>([]);
  /** What openArchive returns, by id (tests put archives here). */
  const archiveContents = new Map<string, ArchiveContents>();
  /** The code the fake accepts for the authenticator, re-enrolment and regeneration. */
  const GOOD_CODE = '123456';
  const blocked = signal<readonly BlockedUser[]>([]);
  const sessions = signal<readonly SessionInfo[]>([
    {
      id: 's1',
      client: 'Firefox on Android',
      createdAt: 1_700_000_000_000,
      lastUsedAt: 1_700_000_500_000,
      current: true,
    },
    {
      id: 's2',
      client: 'Chrome on Windows',
      createdAt: 1_690_000_000_000,
      lastUsedAt: 1_695_000_000_000,
      current: false,
    },
  ]);
  const messages = new Map<string, Signal<readonly ChatMessage[]>>();
  const photos = new Map<string, Signal<PhotoView>>();
  const calls: { action: string; args: unknown[] }[] = [];
  const record = (action: string, ...args: unknown[]) => calls.push({ action, args });
  let nextId = 1;
  /** The registration in progress, as the tab's sessionStorage would keep it across a reload. */
  let registration: RegistrationStart | null = null;

  const messagesFor = (contact: string): Signal<readonly ChatMessage[]> => {
    let s = messages.get(contact);
    if (!s) {
      s = signal<readonly ChatMessage[]>([]);
      messages.set(contact, s);
    }
    return s;
  };

  const setContact = (username: string, patch: Partial<Contact>) => {
    contacts.value = contacts.value.map((c) => (c.username === username ? { ...c, ...patch } : c));
  };

  /** Expected QR payload per contact; what a scan must return to match. */
  const safety = new Map<string, string>();
  const { language, setLanguage } = createLanguage();
  setLanguage(testLanguage);
  made.push({ setLanguage });

  const app: App = {
    auth,
    connection,
    contacts,
    chats,
    keyChanges: computed(() => contacts.value.filter((c) => c.keyChanged).map((c) => c.username)),
    language,
    update,
    storagePersisted,
    notice,
    sessionEnded,
    lock,
    async unlock(passphrase) {
      record('unlock', passphrase);
      if (passphrase !== TEST_PASSPHRASE) throw new AppError('wrong_passphrase');
      auth.value = { status: 'signed-in', username: auth.value.username };
    },
    async openHere() {
      record('openHere');
      // As the real app: the account opens here as at start (signed in; this test app has no
      // lock), unless the other tab took it back meanwhile.
      if (!init.takenBack) auth.value = { status: 'signed-in', username: auth.value.username };
    },
    async unlockWithPasskey() {
      record('unlockWithPasskey');
      // The user dismissed the passkey prompt (NotAllowedError), as app.ts reports it.
      if (init.passkeyCancelled) throw new AppError('cancelled');
      auth.value = { status: 'signed-in', username: auth.value.username };
    },
    async setPasskey(current) {
      record('setPasskey', current);
      lock.value = { ...lock.value, kind: 'passkey' };
    },
    async lockNow() {
      record('lockNow');
      if (lock.value.kind !== 'none') auth.value = { status: 'locked', username: auth.value.username };
    },
    async setPassphrase(current, next) {
      record('setPassphrase', current, next);
      if (next.length < 8) throw new AppError('passphrase_too_short');
      if (lock.value.kind !== 'none' && current !== TEST_PASSPHRASE) throw new AppError('wrong_passphrase');
      lock.value = { ...lock.value, kind: 'passphrase' };
    },
    async removePassphrase(current) {
      record('removePassphrase', current);
      if (current !== TEST_PASSPHRASE) throw new AppError('wrong_passphrase');
      lock.value = { ...lock.value, kind: 'none' };
    },
    async setIdleMinutes(minutes) {
      record('setIdleMinutes', minutes);
      lock.value = { ...lock.value, idleMinutes: minutes };
    },
    ownIdentityWarning,
    loginConflict,
    async resolveLoginConflict(choice) {
      record('resolveLoginConflict', choice);
      const c = loginConflict.value;
      if (choice === 'link') {
        // As the real app: the question stays open while the code is shown.
        linking.value = {
          uri: 'securedrop-link:TEST',
          expiresAt: Date.now() + 300_000,
          deviceName: 'Chromium on Linux',
          deviceKind: 'phone',
          status: 'waiting',
        };
        return;
      }
      linking.value = null;
      loginConflict.value = null;
      if (choice !== 'cancel' && c) auth.value = { status: 'signed-in', username: c.username };
    },
    linking,
    cancelLinking() {
      record('cancelLinking');
      linking.value = null;
    },
    async listDevices() {
      record('listDevices');
      return devices.value;
    },
    async removeDevice(id, code) {
      record('removeDevice', id, code);
      const d = devices.value.find((x) => x.id === id);
      if (d && !d.current && code === undefined) throw new AppError('reauth_required');
      if (code !== undefined && code !== GOOD_CODE) throw new AppError('invalid_code');
      devices.value = devices.value.filter((x) => x.id !== id);
    },
    async inspectLinkCode(code) {
      record('inspectLinkCode', code);
      if (code === 'sd-link:mismatch') throw new AppError('link_mismatch');
      if (code === 'sd-link:used') throw new AppError('link_used');
      if (code !== 'sd-link:good') throw new AppError('link_invalid');
      return { name: 'Safari on iOS', kind: 'phone', createdAt: Date.now(), expiresAt: Date.now() + 240_000 };
    },
    async approveLink(code, options) {
      record('approveLink', code, options);
      if (devices.value.length >= 5) throw new AppError('device_limit');
    },
    archives,
    async openArchive(id) {
      record('openArchive', id);
      const a = archiveContents.get(id);
      if (!a) throw new AppError('not_found');
      return a;
    },
    async archivePhoto(id, messageId) {
      record('archivePhoto', id, messageId);
      return null;
    },
    async deleteArchive(id) {
      record('deleteArchive', id);
      archiveContents.delete(id);
      archives.value = archives.value.filter((a) => a.id !== id);
    },
    async startTotpReenroll(code) {
      record('startTotpReenroll', code);
      if (code !== GOOD_CODE && !code.includes('-')) throw new AppError('invalid_code');
      const secret = 'KRUGS4ZANFZSAYJAONSWG4TFOQQQ2345';
      return {
        username: auth.value.username ?? '',
        otpauthUri: `otpauth://totp/Secure%20Drop:x?secret=${secret}&issuer=Secure%20Drop`,
        qrImageUrl: '',
        secret,
        secretGroups: secret.match(/.{1,4}/g) ?? [],
      };
    },
    async confirmTotpReenroll(code) {
      record('confirmTotpReenroll', code);
      if (code !== '654321') throw new AppError('invalid_code');
      sessions.value = sessions.value.filter((s) => s.current);
    },
    async regenerateRecoveryCodes(code) {
      record('regenerateRecoveryCodes', code);
      if (code !== GOOD_CODE) throw new AppError('invalid_code');
      return { recoveryCodes: ['new1-aaaa-bbbb', 'new2-cccc-dddd'] };
    },
    async listSessions() {
      record('listSessions');
      return sessions.value;
    },
    async endOtherSession(id) {
      record('endOtherSession', id);
      sessions.value = sessions.value.filter((s) => s.id !== id);
    },
    async startRegistration(username) {
      record('startRegistration', username);
      const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
      registration = {
        username,
        otpauthUri: `otpauth://totp/Secure%20Drop:${username}?secret=${secret}&issuer=Secure%20Drop`,
        qrImageUrl: '',
        secret,
        secretGroups: secret.match(/.{1,4}/g) ?? [],
      };
      return registration;
    },
    resumeRegistration() {
      return registration;
    },
    abandonRegistration() {
      record('abandonRegistration');
      registration = null;
    },
    async confirmRegistration(code, passphrase) {
      record('confirmRegistration', code, passphrase);
      registration = null;
      auth.value = { status: 'signed-in', username: 'alice' };
      return { recoveryCodes: ['aaaa-bbbb-cccc', 'dddd-eeee-ffff', 'gggg-hhhh-iiii'] };
    },
    async login(username, code) {
      record('login', username, code);
      auth.value = { status: 'signed-in', username };
    },
    async logout() {
      record('logout');
      auth.value = { status: 'signed-out', username: null };
    },
    async logoutEverywhere() {
      record('logoutEverywhere');
      auth.value = { status: 'signed-out', username: null };
    },
    async eraseDevice() {
      record('eraseDevice');
      auth.value = { status: 'signed-out', username: null };
    },
    async addContact(username) {
      record('addContact', username);
      if (contacts.value.some((c) => c.username === username)) return; // as the real app: no change
      contacts.value = [
        ...contacts.value,
        { username, chatId: chatIdOf(username), verified: false, keyChanged: false, addedAt: Date.now() },
      ];
    },
    async removeContact(username) {
      record('removeContact', username);
      contacts.value = contacts.value.filter((c) => c.username !== username);
    },
    messagesFor,
    markRead(contact) {
      record('markRead', contact);
      chats.value = chats.value.map((c) => (c.contact === contact ? { ...c, unread: 0 } : c));
    },
    async sendText(contact, text) {
      record('sendText', contact, text);
      if (contacts.value.find((c) => c.username === contact)?.keyChanged) {
        throw new AppError('key_change_unacknowledged');
      }
      const id = `m${nextId++}`;
      const s = messagesFor(contact);
      s.value = [
        ...s.value,
        { id, contact, direction: 'out', at: Date.now(), state: 'sending', body: { kind: 'text', text } },
      ];
      return id;
    },
    async sendPhoto(contact, file) {
      record('sendPhoto', contact, file);
      return `p${nextId++}`;
    },
    cancelSend(id) {
      record('cancelSend', id);
    },
    async retry(id) {
      record('retry', id);
    },
    photo(id) {
      let s = photos.get(id);
      if (!s) {
        s = signal<PhotoView>({ status: 'loading', progress: 0.4, url: null });
        photos.set(id, s);
      }
      return s;
    },
    async safetyNumber(contact): Promise<SafetyNumber> {
      const digits = '123451234512345123451234512345123451234512345123451234512345';
      const qrText = safety.get(contact) ?? `sd-safety:${contact}`;
      safety.set(contact, qrText);
      return {
        contact,
        digits,
        groups: digits.match(/.{5}/g) ?? [],
        qrText,
        verified: contacts.value.find((c) => c.username === contact)?.verified ?? false,
        pending: contacts.value.find((c) => c.username === contact)?.keyChanged ?? false,
      };
    },
    async compareScanned(contact, scanned) {
      record('compareScanned', contact, scanned);
      if (!scanned.startsWith('sd-safety:')) return 'invalid';
      const changed = contacts.value.find((c) => c.username === contact)?.keyChanged ?? false;
      if (changed && scanned === `sd-safety:${contact}:old`) return 'old-key';
      if (scanned !== safety.get(contact)) return 'mismatch';
      setContact(contact, { verified: true, keyChanged: false, verifiedBeforeChange: false });
      return 'match';
    },
    async markVerified(contact, verified) {
      record('markVerified', contact, verified);
      setContact(contact, { verified });
    },
    async acknowledgeKeyChange(contact, options) {
      record('acknowledgeKeyChange', contact, ...(options ? [options] : []));
      const c = contacts.value.find((x) => x.username === contact);
      if (c?.verifiedBeforeChange && !options?.withoutVerifying) throw new AppError('verification_required');
      setContact(contact, { keyChanged: false, verifiedBeforeChange: false, verified: false });
    },
    async refuseKeyChange(contact, scanned) {
      record('refuseKeyChange', contact, scanned);
      const changed = contacts.value.find((c) => c.username === contact)?.keyChanged ?? false;
      if (!changed || scanned !== `sd-safety:${contact}:old`) return 'mismatch';
      setContact(contact, { keyChanged: false, verifiedBeforeChange: false, verified: true });
      return 'old-key';
    },
    setLanguage(lang) {
      record('setLanguage', lang);
      setLanguage(lang);
    },
    applyUpdate() {
      record('applyUpdate');
    },
    dismissNotice() {
      record('dismissNotice');
      notice.value = null;
    },
    async blockContact(username) {
      record('blockContact', username);
      contacts.value = contacts.value.filter((c) => c.username !== username);
      blocked.value = [...blocked.value, { username, blockedAt: Date.now() }];
    },
    async listBlocked() {
      record('listBlocked');
      return blocked.value;
    },
    async unblock(username) {
      record('unblock', username);
      if (!blocked.value.some((b) => b.username === username)) throw new AppError('not_found');
      blocked.value = blocked.value.filter((b) => b.username !== username);
    },
    async dismissOwnIdentityWarning() {
      record('dismissOwnIdentityWarning');
      ownIdentityWarning.value = null;
    },
    dismissUpdate() {
      update.value = { ...update.value, available: false, refused: [] };
    },
  };

  return {
    app,
    auth,
    lock,
    connection,
    contacts,
    chats,
    update,
    notice,
    sessionEnded,
    ownIdentityWarning,
    loginConflict,
    linking,
    devices,
    archives,
    archiveContents,
    sessions,
    blocked,
    messagesFor,
    photos,
    calls,
    setContact,
  };
}

export type TestApp = ReturnType<typeof makeTestApp>;

/** Renders the real route table at `path` over `app`. */
/**
 * A received message from bob reading "secret", for the screens that must show nothing of the
 * account (locked, open in another tab).
 */
export function holdSecret(t: ReturnType<typeof makeTestApp>): void {
  t.messagesFor('bob').value = [
    {
      id: 'a',
      contact: 'bob',
      direction: 'in',
      at: 1,
      state: 'received',
      body: { kind: 'text', text: 'secret' },
    },
  ];
}

/**
 * The route table with its screens loaded on first visit (routes.tsx `view`) loaded now, once,
 * so a test renders any path in one synchronous render. The loading itself is the browser's
 * (the e2e suite runs it in Chromium).
 */
async function loaded(table: RouteObject[]): Promise<RouteObject[]> {
  return Promise.all(
    table.map(async (route) => {
      const { lazy, children, ...rest } = route;
      const screen = typeof lazy === 'function' ? await lazy() : {};
      return {
        ...rest,
        ...screen,
        ...(children ? { children: await loaded(children) } : {}),
      } as RouteObject;
    }),
  );
}
const eagerRoutes = await loaded(routes);

export function renderAt(app: App, path: string) {
  // The same frame as src/app/App.tsx: one <main> landmark around the routed view.
  const shell = (
    <main id="main">
      <Outlet />
    </main>
  );
  const router = createMemoryRouter([{ element: shell, children: eagerRoutes }], { initialEntries: [path] });
  const result = render(
    <AppProvider app={app}>
      <RouterProvider router={router} />
    </AppProvider>,
  );
  return { ...result, router };
}
