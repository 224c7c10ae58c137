// The interface views code against: signals to read and actions to call. Views never touch
// storage, transport or crypto directly (pwa/README.md: transport, key store, state and views are
// separate layers). The implementation is src/state/app.ts; components get it with useApp().
//
// Reading signals in a component: call useSignals() from '@preact/signals-react/runtime' at
// the top of every component that reads `.value` (React 19 + plugin-react 6: no Babel
// transform is used in this project).
import type { ReadonlySignal } from '@preact/signals-react';
import type { Lang } from '../i18n/i18n.ts';

// ── errors ────────────────────────────────────────────────────────────────────────────────

/**
 * What went wrong, as a code views translate (error.<code> keys). Relay error codes pass
 * through unchanged when they are known here; anything else becomes 'unknown'.
 */
export type AppErrorCode =
  | 'invalid_username'
  | 'username_taken'
  | 'unknown_user'
  /** Adding a contact this account has blocked (relay 409): unblock first (Settings → Blocked users). */
  | 'contact_blocked'
  | 'invalid_code'
  | 'code_reused'
  | 'locked_out'
  | 'rate_limited'
  | 'unauthorized'
  | 'not_found'
  | 'cannot_add_self'
  | 'too_large'
  | 'unsupported_image'
  /** A received photo is not the picture its message announced (spec/protocol.md §10.5): not shown. */
  | 'photo_mismatch'
  /** A recipient device holds too many messages it has not fetched (relay 409): sent when there is room. */
  | 'mailbox_full'
  | 'key_change_unacknowledged'
  | 'verification_required'
  /** RESUME (spec §16): this device was unlinked from the account — erase it or link it again. */
  | 'device_removed'
  | 'safety_mismatch'
  | 'cancelled'
  | 'wrong_passphrase'
  | 'unlock_wait'
  | 'passphrase_too_short'
  | 'passphrase_too_long'
  | 'passkey_unavailable'
  | 'network'
  | 'link_invalid'
  | 'link_mismatch'
  | 'link_expired'
  | 'link_used'
  | 'link_wrong_account'
  | 'device_limit'
  | 'reauth_required'
  | 'unknown';

/** Every action rejects with an AppError (never a raw Error), so views can switch on `code`. */
export interface AppErrorShape {
  readonly code: AppErrorCode;
  /** Seconds until a lockout or rate limit ends, when the relay says. */
  readonly retryAfter?: number;
}

// ── auth and registration ─────────────────────────────────────────────────────────────────

/**
 * 'loading': opening the local store. 'signed-out': no account on this device (or logged
 * out). 'locked': the account's store has an app lock and waits for its passphrase — nothing
 * is decrypted and nothing connects (`username` names the account). 'signed-in': the local
 * store is open; the app works offline in this state too — see `connection` for whether the
 * relay is reachable. 'elsewhere': the account is open in another tab or window of this browser
 * (active-tab.ts) — this one holds nothing of it until openHere().
 */
type AuthStatus = 'loading' | 'signed-out' | 'locked' | 'signed-in' | 'elsewhere';

/** The app lock: what protects the store's data key, and the idle time before it locks. */
export interface LockState {
  /**
   * 'none': the data key is wrapped by a key kept in the same browser profile. 'passkey': by a
   * key from a passkey's WebAuthn PRF output.
   */
  readonly kind: 'none' | 'passphrase' | 'passkey';
  readonly idleMinutes: number;
}

export interface AuthState {
  readonly status: AuthStatus;
  readonly username: string | null;
}

/** What POST /register gives back, ready to show. */
export interface RegistrationStart {
  readonly username: string;
  /** otpauth://totp/… link: a phone opens the authenticator app with it. */
  readonly otpauthUri: string;
  /** The QR code of otpauthUri as an image URL (data: URL) for an <img>. */
  readonly qrImageUrl: string;
  /** Base32 secret for manual entry. */
  readonly secret: string;
  /** The secret in groups of four for readable manual entry. */
  readonly secretGroups: readonly string[];
}

interface RegistrationDone {
  /** One-time recovery codes: shown once, never stored by the app. */
  readonly recoveryCodes: readonly string[];
}

/** A user this account has blocked (GET /blocks). */
export interface BlockedUser {
  readonly username: string;
  /** Milliseconds since the epoch. */
  readonly blockedAt: number;
}

/** One live session of the account (a device or browser signed in). */
export interface SessionInfo {
  readonly id: string;
  /** Coarse "<browser> on <OS>" the relay derived from the User-Agent at login. */
  readonly client: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly lastUsedAt: number;
  /** This device's own session. */
  readonly current: boolean;
}

/**
 * A login on a device whose stored keys are not the ones the relay publishes for the account
 * (they were replaced from another device): the app asks before erasing the local history.
 */
export interface LoginConflict {
  readonly username: string;
  /**
   * This device holds history under keys the account no longer publishes; false on a new
   * device. Either way the account has keys elsewhere: link to another device, or start over.
   */
  readonly localHistory: boolean;
  /** This device was unlinked from the account (spec/protocol.md §16): link it again, or start over. */
  readonly unlinked?: boolean;
}

/** What a device says it is (spec/openapi.yaml DeviceKind). */
export type DeviceKind = 'phone' | 'tablet' | 'desktop' | 'other';

/** One active device of the account (spec/protocol.md §16). */
export interface DeviceInfo {
  readonly id: number;
  readonly name: string;
  readonly kind: DeviceKind;
  /** When it was linked (ms since the epoch). */
  readonly createdAt: number;
  /** When the relay last saw it; null if never since it was linked. */
  readonly lastSeenAt: number | null;
  readonly current: boolean;
}

/**
 * A new device waiting to be linked, as this device shows it for the user to confirm: what it
 * says it is (the relay cannot change it without the QR check failing — only the name it
 * carries is the new device's own word).
 */
export interface LinkCandidateView {
  readonly name: string;
  readonly kind: DeviceKind;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/**
 * This (new) device waiting to be linked: the code to show, until when, as what it presents
 * itself. 'waiting': polling for the other device; 'linking': the payload arrived and is being
 * imported; 'failed': see `error` (link_expired: show a new code).
 */
export interface LinkingState {
  readonly uri: string;
  readonly expiresAt: number;
  readonly deviceName: string;
  readonly deviceKind: DeviceKind;
  readonly status: 'waiting' | 'linking' | 'failed';
  readonly error?: AppErrorCode;
}

/**
 * The history of this device's earlier keys, kept read-only when a login replaced them
 * (resolveLoginConflict 'archive'): opened with the same app lock as the account's store.
 * `available` is false when it could not be opened (its lock no longer matches).
 */
export interface ArchiveInfo {
  readonly id: string;
  readonly archivedAt: number;
  readonly available: boolean;
}

/** One archived chat: its contact and its messages, oldest first. Nothing in it can be sent. */
export interface ArchivedChat {
  readonly contact: string;
  readonly messages: readonly ChatMessage[];
}

export interface ArchiveContents {
  readonly id: string;
  readonly archivedAt: number;
  /** Most recent chat first. */
  readonly chats: readonly ArchivedChat[];
}

// ── contacts, chats, messages ─────────────────────────────────────────────────────────────

export type ConnectionStatus = 'online' | 'connecting' | 'offline';

export interface Contact {
  readonly username: string;
  /** This device's id for the chat (StoredPeer.chatId): its address names it, not the username. */
  readonly chatId: string;
  /** The safety number was compared and matched (dropped when the identity key changes). */
  readonly verified: boolean;
  /** The contact's identity key changed and the user has not acknowledged it yet. */
  readonly keyChanged: boolean;
  /**
   * The contact was verified before the pending key change: acknowledging takes a scan of the
   * new key or the explicit acknowledgeKeyChange(contact, { withoutVerifying: true }).
   */
  readonly verifiedBeforeChange?: boolean;
  /**
   * A message request: someone not added wrote first. No delivery receipt is sent until the
   * user accepts (addContact), deletes (removeContact) or blocks.
   */
  readonly request?: boolean;
  /**
   * Blocked from another device (the account's block list names them): nothing can be sent, the
   * history stays here until the user deletes the chat or unblocks (SessionManager.setBlocked).
   */
  readonly blocked?: boolean;
  readonly addedAt: number;
}

export interface ChatSummary {
  readonly contact: string;
  readonly last: {
    readonly kind: 'text' | 'photo';
    /** Text preview (first ~100 chars); '' for a photo. */
    readonly preview: string;
    readonly at: number;
    readonly outgoing: boolean;
  } | null;
  readonly unread: number;
  readonly keyChanged: boolean;
  /**
   * Messages from the contact that expired on the relay unread (timeline entries stored since
   * the chat was last read): the chat list says so, or the user might never open the chat.
   */
  readonly expired?: number;
}

/**
 * Outgoing: queued (offline, in the outbox) → sending → sent (relay stored it) → delivered
 * (the recipient acknowledged it); failed (retry()). Incoming: received.
 */
export type DeliveryState = 'queued' | 'sending' | 'sent' | 'delivered' | 'failed' | 'received';

export interface PhotoInfo {
  readonly mime: 'image/jpeg' | 'image/png';
  readonly width: number;
  readonly height: number;
  /** Size of the re-encoded plaintext image in bytes. */
  readonly size: number;
}

type MessageBody =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'photo'; readonly photo: PhotoInfo }
  /**
   * A timeline entry, not a message: the contact's security key changed at `at`, or (`refused`)
   * the user kept the verified key and refused the new one (kept in the history; SECURITY.md,
   * "Trust model").
   */
  | { readonly kind: 'keyChange'; readonly refused?: true }
  /**
   * A timeline entry: this message request became a contact at `at` because the account's
   * contact list names them (accepted on another device, or so the relay says; SECURITY.md
   * "Blocking"); with `added`, the contact was not known here at all (added on another device,
   * or so the relay says). One kind for both: a build that knows only the first shows it.
   */
  | { readonly kind: 'acceptedElsewhere'; readonly added?: true }
  | ExpiredBody;

/**
 * A timeline entry, stored and shown alike: `count` messages from the contact waited on the
 * relay longer than it keeps them and were deleted before this device received them, sent
 * between the two times (the relay's clock; spec/openapi.yaml GET /ws, `expired`).
 */
export interface ExpiredBody {
  readonly kind: 'expired';
  readonly count: number;
  readonly firstSentAt: number;
  readonly lastSentAt: number;
}

export interface ChatMessage {
  /** Stable local id (the outgoing message's client_id, or the relay envelope id). */
  readonly id: string;
  readonly contact: string;
  readonly direction: 'out' | 'in';
  /**
   * Milliseconds since the epoch: the sender's clock (for incoming messages the time sealed
   * inside the ciphertext, never the relay's). Messages are listed in this order.
   */
  readonly at: number;
  /** Incoming: when the relay received the message (its clock). */
  readonly receivedAt?: number;
  readonly state: DeliveryState;
  readonly body: MessageBody;
  /** 0..1 while a photo uploads or downloads; undefined otherwise. */
  readonly progress?: number;
  /** Why the last attempt failed, when state is 'failed'. */
  readonly error?: AppErrorCode;
}

/** A decrypted photo, ready for <img src>. The URL is revoked when the app locks. */
export interface PhotoView {
  readonly status: 'idle' | 'loading' | 'ready' | 'failed';
  /** 0..1 download progress while loading. */
  readonly progress: number;
  readonly url: string | null;
  readonly error?: AppErrorCode;
}

// ── safety numbers ────────────────────────────────────────────────────────────────────────

export interface SafetyNumber {
  readonly contact: string;
  /** 60 decimal digits. */
  readonly digits: string;
  /** The 60 digits in 12 groups of 5 for display. */
  readonly groups: readonly string[];
  /** Text to encode in the QR code the contact scans (compareScanned takes it back). */
  readonly qrText: string;
  readonly verified: boolean;
  /**
   * The number is that of the contact's NEW (pending) key during an unacknowledged key change
   * — not of the key this device trusted so far.
   */
  readonly pending: boolean;
}

/**
 * 'match': the scanned QR is the number shown (during a key change: the PENDING key's, which is
 * then accepted and verified). 'old-key': during a key change, the QR matches only the
 * superseded key — nothing accepted. 'mismatch', 'invalid': as named.
 */
export type ScanResult = 'match' | 'old-key' | 'mismatch' | 'invalid';

// ── app update ────────────────────────────────────────────────────────────────────────────

export interface UpdateState {
  /** A new version is installed and waiting for the user's word. */
  readonly available: boolean;
  /** The app shell is cached: the app starts without network. */
  readonly offlineReady: boolean;
  /** An update was refused: these files did not match the manifest its worker came with. */
  readonly refused?: readonly string[];
  /** The running build's hash (src/sw.ts buildHash); undefined while unknown or without a worker. */
  readonly buildHash?: string;
}

// ── the whole interface ───────────────────────────────────────────────────────────────────

interface AppState {
  readonly auth: ReadonlySignal<AuthState>;
  readonly connection: ReadonlySignal<ConnectionStatus>;
  readonly contacts: ReadonlySignal<readonly Contact[]>;
  /** Sorted newest activity first. */
  readonly chats: ReadonlySignal<readonly ChatSummary[]>;
  /** Contacts whose identity key changed and that still wait for acknowledgeKeyChange(). */
  readonly keyChanges: ReadonlySignal<readonly string[]>;
  readonly language: ReadonlySignal<Lang>;
  readonly update: ReadonlySignal<UpdateState>;
  /** navigator.storage.persist() result; null while unknown or unsupported. */
  readonly storagePersisted: ReadonlySignal<boolean | null>;
  /** Something the user must be told once, kept until dismissNotice() (notice.<code> keys). */
  readonly notice: ReadonlySignal<AppNotice | null>;
  /**
   * The username whose session the relay ended while it was open here (logged out from another
   * device, or this device removed from the account), until the next sign-in: the login screen
   * says so and fills the name in. Null after the user's own logout.
   */
  readonly sessionEnded: ReadonlySignal<string | null>;
  readonly lock: ReadonlySignal<LockState>;
  /**
   * This account's identity key was replaced from another device (the relay told this session,
   * or no longer publishes this device's key): when this device learnt it. Shown on every
   * signed-in screen until dismissed (SECURITY.md, "Trust model").
   */
  readonly ownIdentityWarning: ReadonlySignal<{ readonly at: number } | null>;
  /** A login waiting for the user's word: link this device, or start over (new keys). */
  readonly loginConflict: ReadonlySignal<LoginConflict | null>;
  /** This device's link request while it is shown (after resolveLoginConflict('link')). */
  readonly linking: ReadonlySignal<LinkingState | null>;
  /** Read-only archives of earlier keys' history on this device, newest first (signed in). */
  readonly archives: ReadonlySignal<readonly ArchiveInfo[]>;
}

/**
 * 'protocol_reset': this device held keys and sessions of protocol version 1, which version 2
 * cannot use; it started over with new keys (contacts see a key change) and a new store.
 * 'archive_erased': an archive could not be re-wrapped under the store's lock and was erased
 * rather than left weaker than the store (SECURITY.md "What a user's device holds").
 */
export type AppNotice = 'protocol_reset' | 'archive_erased' | 'sync_expired';

interface AppActions {
  // registration and sessions
  startRegistration(username: string): Promise<RegistrationStart>;
  /**
   * The registration this tab began and has not confirmed, if the relay still holds it (a reload
   * during enrolment): it goes on from the enrolment step, the same secret and QR.
   */
  resumeRegistration(): RegistrationStart | null;
  /** Forgets the registration in progress ("start again with another name"). */
  abandonRegistration(): void;
  /**
   * Confirms the first code; creates and uploads this device's keys; signs in. With a
   * passphrase the store is created under an app lock.
   */
  confirmRegistration(code: string, passphrase?: string): Promise<RegistrationDone>;
  /** `code` is a 6-digit TOTP code or a recovery code. */
  login(username: string, code: string): Promise<void>;
  /** Ends this session on the relay and locks the local store. */
  logout(): Promise<void>;
  /** Ends every session of this account (POST /logout/all), then locks. */
  logoutEverywhere(): Promise<void>;
  /** Wipes this device's keys and history (also when locked). Views ask for confirmation first. */
  eraseDevice(): Promise<void>;
  /**
   * The account is open in another tab ('elsewhere'): opens it here instead; that tab closes it
   * and says so. Then as at start: the unlock screen, or signed in.
   */
  openHere(): Promise<void>;
  /**
   * Answers loginConflict: 'link' shows this device's link code (`linking`) and finishes the
   * login once another device of the account approved it; 'erase' (start over) erases this
   * device's history and keys, if any, and finishes the login with new keys (contacts are told
   * of a key change); 'archive' keeps the history as a read-only archive (no keys, no
   * sessions, same app lock) and finishes the login with new keys in a new store; 'cancel'
   * ends the new session and keeps everything as it was.
   */
  resolveLoginConflict(choice: 'link' | 'erase' | 'archive' | 'cancel'): Promise<void>;
  /**
   * Gives up the link request shown (its address expires unused) and returns to the question
   * of loginConflict. Calling resolveLoginConflict('link') again shows a new code.
   */
  cancelLinking(): void;
  /** An archive's chats and messages (read-only). */
  openArchive(id: string): Promise<ArchiveContents>;
  /** A photo an archive holds the bytes of, as an object URL; null when it never was downloaded. */
  archivePhoto(id: string, messageId: string): Promise<string | null>;
  /** Deletes an archive from this device. */
  deleteArchive(id: string): Promise<void>;

  // the authenticator and sessions
  /**
   * Starts re-enrolling the authenticator, authorised by a current TOTP code or a recovery
   * code: the new (pending) secret to show. The old one stays active until confirmed.
   */
  startTotpReenroll(code: string): Promise<RegistrationStart>;
  /** Confirms with a code of the NEW secret; the old stops working and every other session ends. */
  confirmTotpReenroll(code: string): Promise<void>;
  /** New recovery codes (authorised by a current code); the old ones stop working. */
  regenerateRecoveryCodes(code: string): Promise<RegistrationDone>;
  /** The account's live sessions, newest first. */
  listSessions(): Promise<readonly SessionInfo[]>;
  /** Ends another session of this account (its device is signed out). */
  endOtherSession(id: string): Promise<void>;

  // linked devices (spec/protocol.md §16)
  /** The account's active devices, this one marked `current`. */
  listDevices(): Promise<readonly DeviceInfo[]>;
  /**
   * Removes a device: it is signed out and gets nothing more. Another device needs a fresh
   * second factor: without `code` it may reject 'reauth_required'; with it, the code is checked
   * first (POST /session/reauth).
   */
  removeDevice(id: number, code?: string): Promise<void>;
  /**
   * Reads a scanned link code and fetches what the new device says it is; rejects link_invalid,
   * link_expired, link_used, or link_mismatch (the key behind the code is not the one it names).
   */
  inspectLinkCode(code: string): Promise<LinkCandidateView>;
  /** The user confirmed: sends this account (and, if asked, the recent history) to that device. */
  approveLink(code: string, options: { history: boolean }): Promise<void>;

  // app lock
  /** Opens the locked store; rejects 'wrong_passphrase' or 'unlock_wait' (with retryAfter). */
  unlock(passphrase: string): Promise<void>;
  /** Unlocks with the passkey the lock names (the browser asks the user). */
  unlockWithPasskey(): Promise<void>;
  /**
   * Locks with a new passkey (WebAuthn PRF) instead; `currentPassphrase` when a passphrase
   * lock is set. Rejects 'passkey_unavailable' where the browser or authenticator has no PRF.
   */
  setPasskey(currentPassphrase: string | null): Promise<void>;
  /** Locks now (only when a lock is set). */
  lockNow(): Promise<void>;
  /** Sets or changes the passphrase (`current` when one is set); history is not re-encrypted. */
  setPassphrase(current: string | null, next: string): Promise<void>;
  /** Removes the lock after checking the current passphrase. */
  removePassphrase(current: string): Promise<void>;
  /** Minutes without use before the app locks (one of IDLE_MINUTES in idle-lock.ts). */
  setIdleMinutes(minutes: number): Promise<void>;

  // contacts
  addContact(username: string): Promise<void>;
  removeContact(username: string): Promise<void>;

  // messages
  /** The messages of one chat in time order (a stable signal per contact). */
  messagesFor(contact: string): ReadonlySignal<readonly ChatMessage[]>;
  /** Marks a chat read (clears its unread count). */
  markRead(contact: string): void;
  /** Queues and sends a text; resolves with the message id once it is stored locally. */
  sendText(contact: string, text: string): Promise<string>;
  /**
   * Checks, strips, downscales, encrypts and uploads a photo. Resolves with the message id
   * once it is stored locally; upload progress shows on the message (`progress`).
   */
  sendPhoto(contact: string, file: Blob): Promise<string>;
  /** Cancels an upload in flight; the message becomes 'failed' with error 'cancelled'. */
  cancelSend(messageId: string): void;
  /** Sends a failed message again (same client_id, so never twice). */
  retry(messageId: string): Promise<void>;
  /** The decrypted photo of a message; starts the download on first call. */
  photo(messageId: string): ReadonlySignal<PhotoView>;

  // safety numbers and key changes
  safetyNumber(contact: string): Promise<SafetyNumber>;
  /** Compares what was scanned (QR text) with the expected safety number; a match marks verified. */
  compareScanned(contact: string, scanned: string): Promise<ScanResult>;
  markVerified(contact: string, verified: boolean): Promise<void>;
  /**
   * Accepts the contact's pending key unverified. For a contact verified before the change it
   * rejects with `verification_required` unless `withoutVerifying` is set (the deliberate
   * second step).
   */
  acknowledgeKeyChange(contact: string, options?: { withoutVerifying?: boolean }): Promise<void>;
  /**
   * Refuses the contact's pending key: `scanned` (the contact's own screen) must still be the
   * code of the TRUSTED key ('old-key'), which is then kept and verified, the change and its
   * sessions dropped. Resolves to the comparison made; anything but 'old-key' refuses nothing.
   */
  refuseKeyChange(contact: string, scanned: string): Promise<ScanResult>;
  /** Blocks a user at the relay (its messages are dropped) and removes its chat here. */
  blockContact(username: string): Promise<void>;
  /** The users this account has blocked, by username. */
  listBlocked(): Promise<readonly BlockedUser[]>;
  /**
   * Unblocks a user: what they send from now on arrives again (what the relay dropped meanwhile
   * is gone). It does not make them a contact again.
   */
  unblock(username: string): Promise<void>;
  /** The user says the replacement of this account's key was theirs. */
  dismissOwnIdentityWarning(): Promise<void>;

  // preferences and updates
  setLanguage(lang: Lang): void;
  /** Activates the waiting version (reloads the page). */
  applyUpdate(): void;
  dismissUpdate(): void;
  /** The user has read the notice: it is not shown again. */
  dismissNotice(): void;
}

export type App = AppState & AppActions;
