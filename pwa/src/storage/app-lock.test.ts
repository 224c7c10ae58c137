// The app lock's storage layer (keyring.ts, passphrase.ts), each weakness written first as the
// attack: what someone holding a copy of the database (fake-indexeddb here; a copied profile
// in pwa/e2e/app-lock.e2e.ts) can do with it.
import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import { openDB } from 'idb';
import { beforeEach, describe, expect, it } from 'vitest';
import { eraseIdbStorage, idbStorageLock, openIdbStorage } from './idb-storage.ts';
import { type StoredKeyring, unwrapDataKey } from './keyring.ts';
import {
  checkPassphrase,
  deriveWrappingKey,
  MIN_KDF,
  newKdfParams,
  PassphraseRuleError,
} from './passphrase.ts';
import { PassphraseRequiredError, WrongPassphraseError } from './storage.ts';

/** The OWASP floor (the lowest cost a store accepts) keeps the tests fast. */
const COST = MIN_KDF;
const PASS = 'glacier teapot orbit';

let name: string;
beforeEach(() => {
  name = `lock-test-${crypto.randomUUID()}`;
});

/** Every value of the meta store, as an attacker reading the database file sees them. */
async function meta(dbName: string): Promise<Record<string, unknown>> {
  const db = await openDB(dbName);
  const keys = await db.getAllKeys('meta');
  const out: Record<string, unknown> = {};
  for (const k of keys) out[String(k)] = await db.get('meta', k);
  db.close();
  return out;
}

/** Every sealed record and message, byte for byte. */
async function sealedRows(dbName: string): Promise<string> {
  const db = await openDB(dbName);
  const rows = [...(await db.getAll('records')), ...(await db.getAll('messages'))];
  db.close();
  return JSON.stringify(rows, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v));
}

const hasCryptoKey = (v: unknown): boolean =>
  v instanceof CryptoKey ||
  (typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && Object.values(v).some(hasCryptoKey));

describe('Argon2id (hash-wasm)', () => {
  it('matches @noble/hashes argon2id (a second implementation) on the same inputs', async () => {
    const { argon2id } = await import('hash-wasm');
    const salt = new Uint8Array(16).fill(7);
    const password = new TextEncoder().encode('pässwörd');
    const ours = await argon2id({
      password,
      salt,
      iterations: 2,
      parallelism: 1,
      memorySize: 64,
      hashLength: 32,
      outputType: 'binary',
    });
    expect(ours).toEqual(nobleArgon2id(password, salt, { t: 2, m: 64, p: 1, dkLen: 32 }));
  });

  it('derives the same key for the same passphrase whatever its Unicode normalisation', async () => {
    const k = newKdfParams(COST);
    const nfc = await deriveWrappingKey('caf\u00e9 au lait', k);
    const nfd = await deriveWrappingKey('cafe\u0301 au lait', k);
    const data = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
    const iv = new Uint8Array(12);
    const wrapped = await crypto.subtle.wrapKey('raw', data, nfc, { name: 'AES-GCM', iv });
    await expect(
      crypto.subtle.unwrapKey('raw', wrapped, nfd, { name: 'AES-GCM', iv }, 'AES-GCM', false, ['encrypt']),
    ).resolves.toBeTruthy();
  });

  it('refuses stored parameters below the floor or above the ceiling (a tampered keyring)', async () => {
    const k = newKdfParams(COST);
    await expect(deriveWrappingKey(PASS, { ...k, m: 1024 })).rejects.toThrow(RangeError);
    await expect(deriveWrappingKey(PASS, { ...k, t: 1 })).rejects.toThrow(RangeError);
    await expect(deriveWrappingKey(PASS, { ...k, m: 4_194_304 })).rejects.toThrow(RangeError);
    await expect(deriveWrappingKey(PASS, { ...k, salt: new Uint8Array(4) })).rejects.toThrow(RangeError);
  });

  it('bounds a new passphrase: 8 to 1024 code points', () => {
    expect(() => checkPassphrase('short')).toThrow(PassphraseRuleError);
    expect(() => checkPassphrase('🔒'.repeat(7))).toThrow(PassphraseRuleError);
    expect(() => checkPassphrase('🔒'.repeat(8))).not.toThrow();
    expect(() => checkPassphrase('x'.repeat(1025))).toThrow(PassphraseRuleError);
  });
});

describe('app lock over the encrypted store', () => {
  it('finding: a copy of a store without a lock opens with what the copy itself holds', async () => {
    // The attack the lock exists for: everything needed is in the database.
    const store = await openIdbStorage(name);
    await store.put('history', 'secret text');
    store.lock();
    const keyring = (await meta(name)).keyring as StoredKeyring;
    expect(hasCryptoKey(keyring)).toBe(true);
    await expect(unwrapDataKey(keyring)).resolves.toBeTruthy();
  });

  it('regression: with a lock set, nothing in the database opens the data key without the passphrase', async () => {
    const store = await openIdbStorage(name);
    await store.put('history', 'secret text');
    await store.setLock(undefined, { passphrase: PASS, cost: COST });
    store.lock();
    const all = await meta(name);
    // The stored wrapping key is gone: no CryptoKey anywhere in the clear part of the store.
    expect(hasCryptoKey(all)).toBe(false);
    const keyring = all.keyring as StoredKeyring;
    expect(keyring).toMatchObject({ version: 2, lock: 'passphrase', kdf: { alg: 'argon2id', m: COST.m } });
    await expect(unwrapDataKey(keyring)).rejects.toThrow(PassphraseRequiredError);
    await expect(unwrapDataKey(keyring, 'wrong passphrase')).rejects.toThrow(WrongPassphraseError);
    await expect(openIdbStorage(name)).rejects.toThrow(PassphraseRequiredError);
    expect(await idbStorageLock(name)).toBe('passphrase');
    const reopened = await openIdbStorage(name, { passphrase: PASS });
    expect(await reopened.get('history')).toBe('secret text');
    expect(reopened.lockKind()).toBe('passphrase');
  });

  it('a store created with a lock never holds a device key', async () => {
    const store = await openIdbStorage(name, { create: { passphrase: PASS, cost: COST } });
    await store.put('k', 1);
    store.lock();
    expect(hasCryptoKey(await meta(name))).toBe(false);
    expect((await openIdbStorage(name, { passphrase: PASS })).lockKind()).toBe('passphrase');
  });

  it('a wrong passphrase changes nothing in the database', async () => {
    const store = await openIdbStorage(name, { create: { passphrase: PASS, cost: COST } });
    await store.put('k', 'v');
    store.lock();
    const before = JSON.stringify(await meta(name), (_k, v: unknown) =>
      v instanceof Uint8Array ? [...v] : v,
    );
    const rows = await sealedRows(name);
    await expect(openIdbStorage(name, { passphrase: `${PASS}!` })).rejects.toThrow(WrongPassphraseError);
    expect(JSON.stringify(await meta(name), (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v))).toBe(
      before,
    );
    expect(await sealedRows(name)).toBe(rows);
  });

  it('changing and removing the passphrase re-wraps the key and leaves every sealed record as it was', async () => {
    const store = await openIdbStorage(name, { create: { passphrase: PASS, cost: COST } });
    await store.put('k', 'history');
    await store.putMessage('chat', 'm1', { text: 'hello' });
    const rows = await sealedRows(name);
    const firstWrap = ((await meta(name)).keyring as StoredKeyring).wrappedDataKey;

    await expect(store.setLock('not it', { passphrase: 'new passphrase', cost: COST })).rejects.toThrow(
      WrongPassphraseError,
    );
    await store.setLock(PASS, { passphrase: 'new passphrase', cost: COST });
    expect(((await meta(name)).keyring as StoredKeyring).wrappedDataKey).not.toEqual(firstWrap);
    expect(await sealedRows(name)).toBe(rows);
    store.lock();
    await expect(openIdbStorage(name, { passphrase: PASS })).rejects.toThrow(WrongPassphraseError);
    const changed = await openIdbStorage(name, { passphrase: 'new passphrase' });
    expect(await changed.get('k')).toBe('history');

    await changed.setLock('new passphrase', null);
    expect(changed.lockKind()).toBe('none');
    expect(await sealedRows(name)).toBe(rows);
    changed.lock();
    expect(await idbStorageLock(name)).toBe('none');
    const plain = await openIdbStorage(name);
    expect(await plain.getMessage('m1')).toEqual({ text: 'hello' });
  });

  it('a passkey lock (PRF output from the authenticator) opens only with that output', async () => {
    const store = await openIdbStorage(name, { create: { passphrase: PASS, cost: COST } });
    await store.put('k', 'history');
    const rows = await sealedRows(name);
    const prf = crypto.getRandomValues(new Uint8Array(32));
    const passkey = { credentialId: new Uint8Array([1, 2, 3]), prfSalt: new Uint8Array(32).fill(9), prf };
    await store.setLock(PASS, { passkey });
    expect(store.lockKind()).toBe('passkey');
    store.lock();
    const all = await meta(name);
    expect(hasCryptoKey(all)).toBe(false);
    // The PRF output itself is never stored, only which credential and which salt.
    expect(JSON.stringify(all, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v))).not.toContain(
      JSON.stringify([...prf]).slice(1, -1),
    );
    expect(await idbStorageLock(name)).toBe('passkey');
    await expect(openIdbStorage(name, { passphrase: PASS })).rejects.toThrow(PassphraseRequiredError);
    await expect(
      openIdbStorage(name, { passphrase: { prf: crypto.getRandomValues(new Uint8Array(32)) } }),
    ).rejects.toThrow(WrongPassphraseError);
    const opened = await openIdbStorage(name, { passphrase: { prf } });
    expect(await opened.get('k')).toBe('history');
    expect(await sealedRows(name)).toBe(rows);
  });

  it('a locked store is erased by name without its passphrase', async () => {
    const store = await openIdbStorage(name, { create: { passphrase: PASS, cost: COST } });
    store.lock();
    await eraseIdbStorage(name);
    expect((await indexedDB.databases()).map((d) => d.name)).not.toContain(name);
    expect(await idbStorageLock(name)).toBeNull();
  });
});
