// The encrypted IndexedDB backend of Storage (SECURITY.md "What a user's device holds"). Layout:
//   meta      where the keyring is (keyring-place.ts: the wrapped data key lives in a file of
//             the Origin Private File System, outside IndexedDB, with — without an app lock —
//             the non-extractable wrapping key here), and the message sequence counter — the
//             only unencrypted values
//   records   key → Sealed(value), AAD = "r|" + key
//   messages  {id, chat, seq, sealed}, AAD = "m|" + chat + "|" + id; index chat_seq orders a chat
// Each value is sealed (AES-256-GCM under the data key, fresh IV) before its transaction
// opens, because an IndexedDB transaction commits as soon as it waits on anything else.
import { type DBSchema, deleteDB, type IDBPDatabase, openDB } from 'idb';
import { decodeValue, encodeValue } from './codec.ts';
import {
  createKeyring,
  type LockKind,
  lockKindOf,
  type NewLock,
  open,
  rewrapKeyring,
  type Sealed,
  type StoredKeyring,
  seal,
  type UnlockSecret,
  unwrapDataKey,
} from './keyring.ts';
import { KeyringFile } from './keyring-file.ts';
import { addKeyring, loadKeyring, replaceKeyring } from './keyring-place.ts';
import {
  type Storage,
  StorageCorruptError,
  StorageLockedError,
  type StoredMessageRow,
  type WriteOp,
  type WriteOptions,
} from './storage.ts';

interface MessageRow {
  id: string;
  chat: string;
  seq: number;
  sealed: Sealed;
}

export interface Schema extends DBSchema {
  meta: { key: string; value: StoredKeyring | CryptoKey | number | boolean };
  records: { key: string; value: Sealed };
  messages: { key: string; value: MessageRow; indexes: { chat_seq: [string, number] } };
}

const SEQ = 'seq';
const encoder = new TextEncoder();
const recordAad = (key: string) => encoder.encode(`r|${key}`);
const messageAad = (chat: string, id: string) => encoder.encode(`m|${chat}|${id}`);

export interface OpenOptions {
  /** What opens the store's app lock (passphrase or passkey PRF output), when it has one. */
  readonly passphrase?: UnlockSecret;
  /** The lock a store created now gets (default: none). */
  readonly create?: NewLock;
}

export function openDatabase(name: string, onBlocking: () => void): Promise<IDBPDatabase<Schema>> {
  return openDB<Schema>(name, 1, {
    upgrade(database) {
      database.createObjectStore('meta');
      database.createObjectStore('records');
      database.createObjectStore('messages', { keyPath: 'id' }).createIndex('chat_seq', ['chat', 'seq']);
    },
    // Another connection (another tab, or this app starting over) deletes or upgrades the
    // database: let go — this store then behaves as locked — or that request waits for as
    // long as this connection lives.
    blocking() {
      onBlocking();
    },
  });
}

/**
 * Opens (creating on first use) the encrypted store named `name`. A store with an app lock
 * rejects with PassphraseRequiredError without `passphrase`, WrongPassphraseError with a wrong
 * one; neither writes anything.
 */
export async function openIdbStorage(name: string, options: OpenOptions = {}): Promise<Storage> {
  let opened: IdbStorage | undefined;
  const file = await KeyringFile.open(name);
  const db = await openDatabase(name, () => {
    if (opened) opened.lock();
    else db.close();
  });
  let keys: { dataKey: CryptoKey; lock: LockKind };
  try {
    keys = await loadOrCreateDataKey(db, file, options);
  } catch (err) {
    db.close();
    throw err;
  }
  opened = new IdbStorage(name, db, file, keys.dataKey, keys.lock);
  return opened;
}

/** The keyring of the store named `name`, read without opening the store or changing it. */
async function peekKeyring(name: string): Promise<StoredKeyring | undefined> {
  const file = await KeyringFile.open(name);
  const db = await openDatabase(name, () => db.close());
  try {
    return await loadKeyring(db, file, false);
  } finally {
    db.close();
  }
}

/** The lock of the store named `name` without opening it: null when it holds no keyring. */
export async function idbStorageLock(name: string): Promise<LockKind | null> {
  const existing = await peekKeyring(name);
  return existing ? lockKindOf(existing) : null;
}

/** The passkey a store's lock names (credential id, PRF salt), without opening it. */
export async function idbStoragePasskey(
  name: string,
): Promise<{ credentialId: Uint8Array; prfSalt: Uint8Array } | null> {
  const k = await peekKeyring(name);
  return k?.version === 3 ? { credentialId: k.credentialId, prfSalt: k.prfSalt } : null;
}

/**
 * Deletes the store named `name` without opening it (erase a locked device). The keyring file
 * goes first: without the wrapped data key, whatever of the database the browser's files still
 * hold until they are compacted is ciphertext nothing opens.
 */
export async function eraseIdbStorage(name: string): Promise<void> {
  await (await KeyringFile.open(name))?.remove();
  await deleteDB(name);
}

async function loadOrCreateDataKey(
  db: IDBPDatabase<Schema>,
  file: KeyringFile | null,
  options: OpenOptions,
): Promise<{ dataKey: CryptoKey; lock: LockKind }> {
  // Unwrapped before anything is tidied: a wrong passphrase changes nothing.
  const peeked = await loadKeyring(db, file, false);
  if (peeked) {
    const dataKey = await unwrapDataKey(peeked, options.passphrase);
    await loadKeyring(db, file, true);
    return { dataKey, lock: lockKindOf(peeked) };
  }
  const { stored, dataKey } = await createKeyring(options.create ?? null);
  await addKeyring(db, file, stored);
  return { dataKey, lock: lockKindOf(stored) };
}

class IdbStorage implements Storage {
  constructor(
    private readonly name: string,
    private readonly db: IDBPDatabase<Schema>,
    private readonly file: KeyringFile | null,
    private dataKey: CryptoKey | null,
    private lockState: LockKind,
  ) {}

  lockKind(): LockKind {
    return this.lockState;
  }

  async setLock(currentPassphrase: UnlockSecret | undefined, next: NewLock): Promise<void> {
    this.key();
    const stored = await loadKeyring(this.db, this.file, false);
    if (!stored) throw new StorageCorruptError('keyring');
    const rewrapped = await rewrapKeyring(stored, currentPassphrase, next);
    // The keyring file is overwritten, and the old device key deleted: the old wrapped data
    // key leaves the profile's files at once (keyring-file.ts). Without a file (no OPFS) the
    // IndexedDB record is replaced, and its old value stays in the browser's files until they
    // are compacted (SECURITY.md "What a user's device holds").
    await replaceKeyring(this.db, this.file, rewrapped);
    this.lockState = lockKindOf(rewrapped);
  }

  private key(): CryptoKey {
    if (!this.dataKey) throw new StorageLockedError();
    return this.dataKey;
  }

  private async openSealed<T>(sealed: Sealed, aad: Uint8Array, where: string): Promise<T> {
    let bytes: Uint8Array;
    try {
      bytes = await open(this.key(), sealed, aad);
    } catch (err) {
      if (err instanceof StorageLockedError) throw err;
      throw new StorageCorruptError(where);
    }
    return decodeValue<T>(bytes);
  }

  async get<T>(key: string): Promise<T | undefined> {
    this.key();
    const sealed = await this.db.get('records', key);
    return sealed ? this.openSealed<T>(sealed, recordAad(key), 'record') : undefined;
  }

  put(key: string, value: unknown): Promise<void> {
    return this.write([{ kind: 'put', key, value }]);
  }

  delete(key: string): Promise<void> {
    return this.write([{ kind: 'delete', key }]);
  }

  async list<T>(prefix: string): Promise<{ key: string; value: T }[]> {
    this.key();
    // Every string starting with prefix sorts below prefix + U+FFFF.
    const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`);
    const tx = this.db.transaction('records');
    const [keys, values] = await Promise.all([tx.store.getAllKeys(range), tx.store.getAll(range)]);
    return Promise.all(
      keys.map(async (key, i) => ({
        key,
        value: await this.openSealed<T>(values[i] as Sealed, recordAad(key), 'record'),
      })),
    );
  }

  putMessage(chat: string, id: string, value: unknown): Promise<void> {
    return this.write([{ kind: 'putMessage', chat, id, value }]);
  }

  async getMessage<T>(id: string): Promise<T | undefined> {
    this.key();
    const row = await this.db.get('messages', id);
    return row ? this.openSealed<T>(row.sealed, messageAad(row.chat, row.id), 'message') : undefined;
  }

  async messages<T>(chat: string, limit?: number): Promise<StoredMessageRow<T>[]> {
    this.key();
    const range = IDBKeyRange.bound([chat, 0], [chat, Number.MAX_SAFE_INTEGER]);
    const rows: MessageRow[] = [];
    // Walk backwards from the newest so a limit reads only what it returns.
    let cursor = await this.db.transaction('messages').store.index('chat_seq').openCursor(range, 'prev');
    while (cursor && (limit === undefined || rows.length < limit)) {
      rows.push(cursor.value);
      cursor = await cursor.continue();
    }
    rows.reverse();
    return Promise.all(
      rows.map(async (row) => ({
        id: row.id,
        value: await this.openSealed<T>(row.sealed, messageAad(row.chat, row.id), 'message'),
      })),
    );
  }

  async deleteChat(chat: string): Promise<void> {
    this.key();
    const range = IDBKeyRange.bound([chat, 0], [chat, Number.MAX_SAFE_INTEGER]);
    const tx = this.db.transaction('messages', 'readwrite');
    let cursor = await tx.store.index('chat_seq').openCursor(range);
    while (cursor) {
      await cursor.delete();
      cursor = await cursor.continue();
    }
    await tx.done;
  }

  async write(ops: readonly WriteOp[], options: WriteOptions = {}): Promise<void> {
    const key = this.key();
    // Seal everything first: the transaction below must not wait on WebCrypto.
    const sealed = await Promise.all(
      ops.map((op) => {
        if (op.kind === 'put') return seal(key, encodeValue(op.value), recordAad(op.key));
        if (op.kind === 'putMessage') return seal(key, encodeValue(op.value), messageAad(op.chat, op.id));
        return Promise.resolve(null);
      }),
    );
    const tx = this.db.transaction(
      ['meta', 'records', 'messages'],
      'readwrite',
      options.durability ? { durability: options.durability } : undefined,
    );
    const meta = tx.objectStore('meta');
    const records = tx.objectStore('records');
    const messages = tx.objectStore('messages');
    try {
      for (const [i, op] of ops.entries()) {
        const s = sealed[i] as Sealed;
        if (op.kind === 'put') await records.put(s, op.key);
        else if (op.kind === 'delete') await records.delete(op.key);
        else if (op.kind === 'deleteMessage') await messages.delete(op.id);
        else {
          const existing = await messages.get(op.id);
          if (existing && existing.chat !== op.chat)
            throw new RangeError('message id already used in another chat');
          let seq = existing?.seq;
          if (seq === undefined) {
            seq = (((await meta.get(SEQ)) as number | undefined) ?? 0) + 1;
            await meta.put(seq, SEQ);
          }
          await messages.put({ id: op.id, chat: op.chat, seq, sealed: s });
        }
      }
    } catch (err) {
      // All or nothing: undo the writes already made in this transaction.
      tx.abort();
      await tx.done.catch(() => undefined);
      throw err;
    }
    await tx.done;
  }

  lock(): void {
    this.dataKey = null;
    this.db.close();
  }

  async erase(): Promise<void> {
    this.dataKey = null;
    this.db.close();
    await this.file?.remove();
    await deleteDB(this.name);
  }
}
