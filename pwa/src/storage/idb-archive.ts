// Read-only archives of a store whose keys were replaced (SECURITY.md, "What a user's device
// holds"): IndexedDB cannot rename a database, so the store's rows are copied, still sealed,
// into a database named `<store>~archive~<archivedAt>`, and the original is deleted; the
// account's store name stays the same for the new keys. The archive gets a copy of the store's
// keyring, kept where the store's was (keyring-place.ts: its own keyring file, named for the
// archive, or without a file the IndexedDB record), so an archive opens with exactly what
// opened the store (the same app lock, or none) and a lock set or changed later rewrites its
// file like the store's. It keeps only what a reader shows: contacts, chat metadata, messages
// and stored photo bytes. Keys, sessions, prekeys, the outbox and the session tokens are not
// copied, so an archive can neither decrypt nor send anything. Archives are found with
// IDBFactory.databases().
import { eraseIdbStorage, openDatabase, type Schema } from './idb-storage.ts';
import type { StoredKeyring } from './keyring.ts';
import { KeyringFile } from './keyring-file.ts';
import { addKeyring, isKeyringMeta, loadKeyring } from './keyring-place.ts';

const SEPARATOR = '~archive~';
/** Record names (stored in clear) an archive keeps; everything else stays behind. */
const KEPT_RECORDS = ['peer:', 'chatmeta:', 'photo:'];

export interface IdbArchive {
  /** The archive's database name. */
  readonly name: string;
  /** When it was archived (ms since the epoch). */
  readonly archivedAt: number;
}

export const archiveName = (store: string, archivedAt: number): string => `${store}${SEPARATOR}${archivedAt}`;

/** The archives of the store named `store`, newest first. */
export async function listIdbArchives(store: string): Promise<IdbArchive[]> {
  const prefix = `${store}${SEPARATOR}`;
  const all = typeof indexedDB.databases === 'function' ? await indexedDB.databases() : [];
  return all
    .map((d) => d.name ?? '')
    .filter((n) => n.startsWith(prefix) && /^\d{1,16}$/.test(n.slice(prefix.length)))
    .map((name) => ({ name, archivedAt: Number(name.slice(prefix.length)) }))
    .sort((a, b) => b.archivedAt - a.archivedAt);
}

/**
 * Moves the store named `from` to a new archive database `to` (which must not exist): the
 * archive's keyring is written first, then the kept rows in one transaction, and only then is
 * `from` erased (its keyring file first), so a failure leaves the store as it was (and at
 * worst an archive to delete). Close `from` first.
 */
export async function archiveIdbStorage(from: string, to: string): Promise<void> {
  const src = await openDatabase(from, () => src.close());
  let keyring: StoredKeyring | undefined;
  let meta: { key: string; value: Schema['meta']['value'] }[];
  let records: { key: string; value: Schema['records']['value'] }[];
  let messages: Schema['messages']['value'][];
  try {
    // Read as it is, wherever it is kept; a keyring whose file this browser cannot reach
    // now fails here (StorageCorruptError) and nothing is archived.
    keyring = await loadKeyring(src, await KeyringFile.open(from), false);
    const tx = src.transaction(['meta', 'records', 'messages']);
    const [metaKeys, metaValues, recordKeys, recordValues, rows] = await Promise.all([
      tx.objectStore('meta').getAllKeys(),
      tx.objectStore('meta').getAll(),
      tx.objectStore('records').getAllKeys(),
      tx.objectStore('records').getAll(),
      tx.objectStore('messages').getAll(),
    ]);
    // Where the keyring is stays out of the copy: the archive's own is written below.
    meta = metaKeys
      .map((key, i) => ({ key, value: metaValues[i] as Schema['meta']['value'] }))
      .filter((m) => !isKeyringMeta(m.key));
    records = recordKeys
      .map((key, i) => ({ key, value: recordValues[i] as Schema['records']['value'] }))
      .filter((r) => KEPT_RECORDS.some((p) => r.key.startsWith(p)));
    messages = rows;
  } finally {
    src.close();
  }
  if (!keyring) throw new RangeError('nothing to archive');
  const dst = await openDatabase(to, () => dst.close());
  try {
    const used = await Promise.all([dst.count('meta'), dst.count('records'), dst.count('messages')]);
    if (used.some((n) => n > 0)) throw new RangeError('archive already exists');
    // The same wrapped data key, in the archive's own place (keyring-place.ts): its keyring
    // file where the browser has one, so no keyring of the archive is ever in IndexedDB and a
    // lock set later leaves no old key on disk (keyring-file.ts); else meta "keyring". Written
    // before the rows, so no sealed row is ever without the key that opens it.
    await addKeyring(dst, await KeyringFile.open(to), keyring);
    const tx = dst.transaction(['meta', 'records', 'messages'], 'readwrite', { durability: 'strict' });
    for (const m of meta) void tx.objectStore('meta').put(m.value, m.key);
    for (const r of records) void tx.objectStore('records').put(r.value, r.key);
    for (const row of messages) void tx.objectStore('messages').put(row);
    await tx.done;
  } finally {
    dst.close();
  }
  await eraseIdbStorage(from);
}
