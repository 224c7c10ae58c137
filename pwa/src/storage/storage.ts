// The local store's interface (what higher layers use). One implementation: the encrypted
// IndexedDB backend in idb-storage.ts. Keys given to it (record names, chat ids, message
// ids) are stored in clear so records can be found; callers pass opaque ids there
// (a random chat id, never a username) — every value is encrypted.

import type { LockKind, NewLock, UnlockSecret } from './keyring.ts';

export interface StoredMessageRow<T> {
  readonly id: string;
  readonly value: T;
}

export type WriteOp =
  | { readonly kind: 'put'; readonly key: string; readonly value: unknown }
  | { readonly kind: 'delete'; readonly key: string }
  | { readonly kind: 'putMessage'; readonly chat: string; readonly id: string; readonly value: unknown }
  | { readonly kind: 'deleteMessage'; readonly id: string };

export interface WriteOptions {
  /**
   * 'strict': the transaction completes only once the browser says the data reached durable
   * storage (IndexedDB `durability: 'strict'`). Used for writes that advance a sending chain
   * or hold keys already published, so a crash right after cannot roll them back
   * (spec/protocol.md §15: a rolled-back sending state must be as rare as the platform allows).
   * Default: the browser's default ('relaxed' in Chromium) — faster, may lose the last commits.
   */
  readonly durability?: 'strict';
}

export interface Storage {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Records whose key starts with `prefix`, in key order. */
  list<T>(prefix: string): Promise<{ key: string; value: T }[]>;

  /** Inserts a message at the end of its chat, or replaces it in place when the id exists. */
  putMessage(chat: string, id: string, value: unknown): Promise<void>;
  getMessage<T>(id: string): Promise<T | undefined>;
  /** The last `limit` messages of a chat (all when omitted), oldest first. */
  messages<T>(chat: string, limit?: number): Promise<StoredMessageRow<T>[]>;
  deleteChat(chat: string): Promise<void>;

  /** Applies several writes in one transaction: all or none are stored. */
  write(ops: readonly WriteOp[], options?: WriteOptions): Promise<void>;

  /** Whether an app lock protects the data key (keyring.ts). */
  lockKind(): LockKind;
  /**
   * Wraps the data key under a new lock, or none (`next` null), without re-encrypting any
   * record. A store with a passphrase needs the current one (WrongPassphraseError otherwise).
   */
  setLock(current: UnlockSecret | undefined, next: NewLock): Promise<void>;

  /** Drops the data key from memory; every later call rejects with StorageLockedError. */
  lock(): void;
  /** Closes and deletes the whole database (keys, sessions, history). */
  erase(): Promise<void>;
}

export class StorageLockedError extends Error {
  constructor() {
    super('local store is locked');
    this.name = 'StorageLockedError';
  }
}

/** IndexedDB's failures are DOMExceptions of these names (W3C Indexed Database API 3.0 §7). */
const STORE_FAILURES = new Set([
  'QuotaExceededError',
  'AbortError',
  'UnknownError',
  'InvalidStateError',
  'TransactionInactiveError',
  'ReadOnlyError',
  'VersionError',
  'NotFoundError',
]);

/**
 * Whether `err` is the store failing (the disk full, a transaction aborted, the store locked),
 * not what was being stored: the same write may succeed later.
 */
export function isStoreFailure(err: unknown): boolean {
  return err instanceof StorageLockedError || (err instanceof Error && STORE_FAILURES.has(err.name));
}

/** A stored record failed authentication: tampered with or moved between keys. */
export class StorageCorruptError extends Error {
  constructor(where: string) {
    super(`stored record failed authentication: ${where}`);
    this.name = 'StorageCorruptError';
  }
}

/** The store has an app lock and was opened without its passphrase. */
export class PassphraseRequiredError extends Error {
  constructor() {
    super('local store needs its passphrase');
    this.name = 'PassphraseRequiredError';
  }
}

/** The passphrase did not unwrap the data key. Nothing was changed. */
export class WrongPassphraseError extends Error {
  constructor() {
    super('wrong passphrase');
    this.name = 'WrongPassphraseError';
  }
}
