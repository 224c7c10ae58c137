// Where a store's keyring (keyring.ts) is kept, and how it is replaced so that the replaced
// one leaves the disk (SECURITY.md "What a user's device holds"; keyring-file.ts says why a
// file and not IndexedDB).
//
// With a keyring file (OPFS):
//   file                  the keyring record: the wrapped data key with how it is wrapped
//                         (KDF salt and parameters, passkey credential and PRF salt, or the id
//                         of the device key below)
//   meta "keyring.file"   true: this store's keyring is in the file (a missing file is then
//                         an error, never a reason to make a new data key)
//   meta "deviceKey:<id>" only without an app lock: the non-extractable wrapping key
// A device key replaced or deleted stays in IndexedDB's files until the browser compacts
// them, but what it wrapped was only ever in the file, which is gone: it opens nothing.
//
// Without (no OPFS): meta "keyring" holds the whole record, the device key inside, as before
// there was a file; a store made so is moved to the file on the first start that has one.
import type { IDBPDatabase } from 'idb';
import { decodeValue, encodeValue } from './codec.ts';
import type { Schema } from './idb-storage.ts';
import type { StoredKeyring } from './keyring.ts';
import type { KeyringFile } from './keyring-file.ts';
import { validateKdfParams } from './passphrase.ts';
import { StorageCorruptError } from './storage.ts';

export const KEYRING = 'keyring';
const IN_FILE = 'keyring.file';
const DEVICE_KEY = 'deviceKey:';
const deviceKeyRange = () => IDBKeyRange.bound(DEVICE_KEY, `${DEVICE_KEY}\uffff`);

/** The keyring as the file holds it: a device keyring names its key instead of holding it. */
type KeyringRecord =
  | {
      readonly version: 1;
      readonly deviceKeyId: string;
      readonly wrappedDataKey: Uint8Array;
      readonly wrapIv: Uint8Array;
    }
  | Exclude<StoredKeyring, { version: 1 }>;

type Db = IDBPDatabase<Schema>;

/** Whether a meta key holds where the keyring is (the record, its file marker, a device key). */
export const isKeyringMeta = (key: string): boolean =>
  key === KEYRING || key === IN_FILE || key.startsWith(DEVICE_KEY);

const newDeviceKeyId = () => {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
};

function toRecord(k: StoredKeyring): { record: KeyringRecord; deviceKey?: [string, CryptoKey] } {
  if (k.version !== 1) return { record: k };
  const deviceKeyId = newDeviceKeyId();
  return {
    record: { version: 1, deviceKeyId, wrappedDataKey: k.wrappedDataKey, wrapIv: k.wrapIv },
    deviceKey: [`${DEVICE_KEY}${deviceKeyId}`, k.wrappingKey],
  };
}

const bytesOf = (v: unknown, min: number, max: number): v is Uint8Array =>
  v instanceof Uint8Array && v.length >= min && v.length <= max;

/** Reads the file's record, refusing anything not shaped like one (a boundary check). */
function decodeRecord(bytes: Uint8Array): KeyringRecord {
  let v: Record<string, unknown>;
  try {
    v = decodeValue<Record<string, unknown>>(bytes);
  } catch {
    throw new StorageCorruptError('keyring');
  }
  // AES-256-GCM wraps 32 key bytes into 48 (with the tag) under a 12-byte IV.
  const wrapped = v && bytesOf(v.wrappedDataKey, 48, 48) && bytesOf(v.wrapIv, 12, 12);
  if (!wrapped) throw new StorageCorruptError('keyring');
  if (v.version === 1 && typeof v.deviceKeyId === 'string' && /^[0-9a-f]{32}$/.test(v.deviceKeyId))
    return v as unknown as KeyringRecord;
  if (v.version === 2 && v.lock === 'passphrase') {
    try {
      validateKdfParams(v.kdf as never);
    } catch {
      throw new StorageCorruptError('keyring');
    }
    return v as unknown as KeyringRecord;
  }
  if (
    v.version === 3 &&
    v.lock === 'passkey' &&
    bytesOf(v.credentialId, 1, 1023) &&
    bytesOf(v.prfSalt, 32, 32)
  )
    return v as unknown as KeyringRecord;
  throw new StorageCorruptError('keyring');
}

async function isEmpty(db: Db): Promise<boolean> {
  return (await db.count('records')) === 0 && (await db.count('messages')) === 0;
}

/**
 * Deletes every device key but `keep` (left by a replaced keyring or an interrupted write).
 * Writes only when there is one: every open runs this, and a strict write costs a disk flush.
 */
async function dropDeviceKeys(db: Db, keep: string | null): Promise<void> {
  const stale = (await db.getAllKeys('meta', deviceKeyRange())).filter((key) => key !== keep);
  if (stale.length === 0) return;
  const tx = db.transaction('meta', 'readwrite', { durability: 'strict' });
  for (const key of stale) await tx.store.delete(key);
  await tx.done;
}

/** Moves a keyring kept in IndexedDB (a store made without a file) into the file. */
async function moveToFile(db: Db, file: KeyringFile, legacy: StoredKeyring): Promise<void> {
  const { record, deviceKey } = toRecord(legacy);
  if (deviceKey) {
    const tx = db.transaction('meta', 'readwrite', { durability: 'strict' });
    await tx.store.put(deviceKey[1], deviceKey[0]);
    await tx.done;
  }
  await file.write(encodeValue(record));
  // Until this commits the record in IndexedDB is the one that counts: a crash here moves it
  // again on the next start (and the device key written above is dropped as unused).
  const tx = db.transaction('meta', 'readwrite', { durability: 'strict' });
  await tx.store.put(true, IN_FILE);
  await tx.store.delete(KEYRING);
  await tx.done;
}

/**
 * The store's keyring, or undefined when it has none yet. With `tidy`, a keyring still in
 * IndexedDB moves to the file and device keys nothing names are deleted.
 */
export async function loadKeyring(
  db: Db,
  file: KeyringFile | null,
  tidy: boolean,
): Promise<StoredKeyring | undefined> {
  const legacy = (await db.get('meta', KEYRING)) as StoredKeyring | undefined;
  if (!file) {
    // The keyring is in a file this browser cannot reach now: never make a new one over it.
    if ((await db.get('meta', IN_FILE)) === true) throw new StorageCorruptError('keyring');
    return legacy;
  }
  if (legacy) {
    if (tidy) await moveToFile(db, file, legacy);
    return legacy;
  }
  // The marker is written before the file (addKeyring): a file without it is left from an
  // erased store of the same name, and the next addKeyring overwrites it.
  if ((await db.get('meta', IN_FILE)) !== true) return undefined;
  const bytes = await file.read();
  if (!bytes) {
    // A creation interrupted between its two writes leaves the marker and nothing sealed.
    if (tidy && (await isEmpty(db))) {
      await db.delete('meta', IN_FILE);
      await dropDeviceKeys(db, null);
      return undefined;
    }
    throw new StorageCorruptError('keyring');
  }
  const record = decodeRecord(bytes);
  if (record.version !== 1) {
    if (tidy) await dropDeviceKeys(db, null);
    return record;
  }
  const id = `${DEVICE_KEY}${record.deviceKeyId}`;
  const wrappingKey = await db.get('meta', id);
  if (!(wrappingKey instanceof CryptoKey)) throw new StorageCorruptError('keyring');
  if (tidy) await dropDeviceKeys(db, id);
  const { deviceKeyId: _, ...rest } = record;
  return { ...rest, wrappingKey };
}

/**
 * Stores the keyring of a new store. Fails (ConstraintError) when another tab made one
 * meanwhile, instead of orphaning the data that tab already wrote under its own key.
 */
export async function addKeyring(db: Db, file: KeyringFile | null, stored: StoredKeyring): Promise<void> {
  if (!file) {
    await db.add('meta', stored, KEYRING);
    return;
  }
  const { record, deviceKey } = toRecord(stored);
  const tx = db.transaction('meta', 'readwrite', { durability: 'strict' });
  await tx.store.add(true, IN_FILE);
  if (deviceKey) await tx.store.put(deviceKey[1], deviceKey[0]);
  await tx.done;
  await file.write(encodeValue(record));
}

/**
 * Replaces the keyring (a lock set, changed or removed). With a file the old record is
 * overwritten at once; a new device key is written before the file names it, and the old
 * one deleted after, so a crash at any point leaves a keyring that opens.
 */
export async function replaceKeyring(db: Db, file: KeyringFile | null, stored: StoredKeyring): Promise<void> {
  if (!file) {
    const tx = db.transaction('meta', 'readwrite', { durability: 'strict' });
    await tx.store.put(stored, KEYRING);
    await tx.done;
    return;
  }
  const { record, deviceKey } = toRecord(stored);
  if (deviceKey) {
    const tx = db.transaction('meta', 'readwrite', { durability: 'strict' });
    await tx.store.put(deviceKey[1], deviceKey[0]);
    await tx.done;
  }
  await file.write(encodeValue(record));
  await dropDeviceKeys(db, deviceKey?.[0] ?? null);
}
