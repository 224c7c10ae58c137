// Where the keyring's bytes live: one small file in the Origin Private File System, outside
// IndexedDB (SECURITY.md "What a user's device holds", pwa/README.md "Local storage").
//
// Why not IndexedDB: Chromium keeps IndexedDB in a LevelDB, which appends every write to a log
// and drops a replaced or deleted value from its files only when it compacts them, at a time
// the page cannot choose. A keyring replaced there — the device-wrapped data key replaced by a
// passphrase-wrapped one when a lock is set later — stays readable in a copy of the profile
// until then, and opens the history without the passphrase. An OPFS file is an ordinary file
// of the profile directory: createWritable() writes a swap file that close() moves over the
// old one, and removeEntry() deletes the file, so the replaced bytes leave the profile
// directory at once (pwa/e2e/app-lock.e2e.ts scans a copied profile for them). Blocks the file
// system freed may still be on the disk itself; see SECURITY.md for what that means.
//
// Browsers without OPFS or without createWritable() (Safari before 26; some private modes)
// get null from openKeyringFile, and the keyring stays in IndexedDB (idb-storage.ts), with the
// weakness SECURITY.md names.

import { StorageCorruptError } from './storage.ts';

/** A keyring record is a few hundred bytes; anything far larger is not ours. */
const MAX_KEYRING_BYTES = 4096;

const isNotFound = (err: unknown) => err instanceof DOMException && err.name === 'NotFoundError';

export class KeyringFile {
  private constructor(
    private readonly dir: FileSystemDirectoryHandle,
    readonly fileName: string,
  ) {}

  /** The keyring file of the store named `storeName`, or null where OPFS cannot hold it. */
  static async open(storeName: string): Promise<KeyringFile | null> {
    const storage = globalThis.navigator?.storage as StorageManager | undefined;
    if (typeof storage?.getDirectory !== 'function') return null;
    if (
      typeof globalThis.FileSystemFileHandle === 'undefined' ||
      typeof FileSystemFileHandle.prototype.createWritable !== 'function'
    )
      return null;
    try {
      return new KeyringFile(await storage.getDirectory(), keyringFileName(storeName));
    } catch {
      // SecurityError (a private mode without OPFS) and the like: fall back.
      return null;
    }
  }

  /** The stored bytes, or null when there is no file. */
  async read(): Promise<Uint8Array | null> {
    let handle: FileSystemFileHandle;
    try {
      handle = await this.dir.getFileHandle(this.fileName);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const file = await handle.getFile();
    if (file.size > MAX_KEYRING_BYTES) throw new StorageCorruptError('keyring');
    return new Uint8Array(await file.arrayBuffer());
  }

  /**
   * Replaces the file's content all at once: a crash before close() leaves the old content
   * (the browser discards the swap file), after it only the new one.
   */
  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length > MAX_KEYRING_BYTES) throw new RangeError('keyring too large');
    const handle = await this.dir.getFileHandle(this.fileName, { create: true });
    const writable = await handle.createWritable({ keepExistingData: false });
    try {
      await writable.write(bytes as Uint8Array<ArrayBuffer>);
      await writable.close();
    } catch (err) {
      await writable.abort().catch(() => undefined);
      throw err;
    }
  }

  /** Deletes the file; nothing to do when it is already gone. */
  async remove(): Promise<void> {
    try {
      await this.dir.removeEntry(this.fileName);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}

/** The file's name: the store name made safe for a file name ('/' is not allowed in OPFS). */
export const keyringFileName = (storeName: string) => `${encodeURIComponent(storeName)}.keyring`;
