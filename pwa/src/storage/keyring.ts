// The keys that protect local data at rest (SECURITY.md "What a user's device holds"; the
// pattern of Element Web's pickling key): a random AES-256-GCM data key encrypts every record,
// and is stored only wrapped. Without an app lock the wrapping key is a NON-EXTRACTABLE
// AES-256-GCM key that IndexedDB keeps as an object (structured clone preserves extractable:
// false), so script can use it but never read its bytes; Chromium still writes those bytes to
// disk, so without a lock a copy of the profile opens everything. With one (PassphraseKeyring,
// PasskeyKeyring) the wrapping key is derived from the passphrase or the passkey and never
// stored. Unwrapping yields the data key as a non-extractable CryptoKey. Where the wrapped key
// is kept, and why not in IndexedDB: keyring-place.ts, keyring-file.ts.

import { base64 } from '@scure/base';
import {
  DEFAULT_KDF,
  deriveWrappingKey,
  type KdfParams,
  newKdfParams,
  validateKdfParams,
} from './passphrase.ts';
import { PassphraseRequiredError, WrongPassphraseError } from './storage.ts';

const AES = { name: 'AES-GCM', length: 256 } as const;
const IV_BYTES = 12;

/** No app lock: the data key wrapped by a non-extractable key kept in the same database. */
export interface DeviceKeyring {
  readonly version: 1;
  readonly wrappingKey: CryptoKey;
  readonly wrappedDataKey: Uint8Array;
  readonly wrapIv: Uint8Array;
}

/**
 * App lock: the data key wrapped by a key derived from the passphrase (passphrase.ts). Only
 * the wrapped key, the salt and the cost parameters are stored: nothing here opens the data
 * key without the passphrase.
 */
export interface PassphraseKeyring {
  readonly version: 2;
  readonly lock: 'passphrase';
  readonly kdf: KdfParams;
  readonly wrappedDataKey: Uint8Array;
  readonly wrapIv: Uint8Array;
}

/**
 * App lock with a passkey: the data key wrapped by a key derived (HKDF-SHA-256) from the
 * output of the passkey's WebAuthn PRF extension for `prfSalt` (WebAuthn Level 3 §10.1.4).
 * The authenticator holds the secret; the store keeps which credential and which salt.
 */
export interface PasskeyKeyring {
  readonly version: 3;
  readonly lock: 'passkey';
  readonly credentialId: Uint8Array;
  readonly prfSalt: Uint8Array;
  readonly wrappedDataKey: Uint8Array;
  readonly wrapIv: Uint8Array;
}

export type StoredKeyring = DeviceKeyring | PassphraseKeyring | PasskeyKeyring;
export type LockKind = 'none' | 'passphrase' | 'passkey';

export const lockKindOf = (k: StoredKeyring): LockKind =>
  k.version === 3 ? 'passkey' : k.version === 2 ? 'passphrase' : 'none';

/** What opens a locked keyring: the passphrase, or the passkey's PRF output. */
export type UnlockSecret = string | { readonly prf: Uint8Array };

/** How a keyring is (re)made: no lock, a passphrase (cost parameters for tests), or a passkey. */
export type NewLock =
  | null
  | { readonly passphrase: string; readonly cost?: { m: number; t: number; p: number } }
  | {
      readonly passkey: {
        readonly credentialId: Uint8Array;
        readonly prfSalt: Uint8Array;
        readonly prf: Uint8Array;
      };
    };

const PASSKEY_AAD = new TextEncoder().encode('secure-drop/data-key/v3|passkey-prf');

/** HKDF-SHA-256 (RFC 5869) from the PRF output to the AES-256-GCM wrapping key. */
async function passkeyWrappingKey(prf: Uint8Array): Promise<CryptoKey> {
  if (prf.length !== 32) throw new RangeError('PRF output must be 32 bytes');
  const ikm = await crypto.subtle.importKey('raw', prf as Uint8Array<ArrayBuffer>, 'HKDF', false, [
    'deriveKey',
  ]);
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: PASSKEY_AAD },
    ikm,
    AES,
    false,
    ['wrapKey', 'unwrapKey'],
  );
}

const WRAP_AAD = new TextEncoder().encode('secure-drop/data-key/v1');
// The KDF parameters are bound to the wrapped key: changed parameters fail to unwrap.
/** The AAD of a passphrase-wrapped data key (exported for the profile-copy test that checks the disk). */
export const passphraseAad = (k: KdfParams) =>
  new TextEncoder().encode(
    `secure-drop/data-key/v2|argon2id|m=${k.m}|t=${k.t}|p=${k.p}|${base64.encode(k.salt)}`,
  );

async function wrapUnder(dataKey: CryptoKey, lock: NewLock): Promise<StoredKeyring> {
  const wrapIv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  if (!lock) {
    const wrappingKey = await crypto.subtle.generateKey(AES, false, ['wrapKey', 'unwrapKey']);
    const wrapped = await crypto.subtle.wrapKey('raw', dataKey, wrappingKey, {
      name: 'AES-GCM',
      iv: wrapIv,
      additionalData: WRAP_AAD,
    });
    return { version: 1, wrappingKey, wrappedDataKey: new Uint8Array(wrapped), wrapIv };
  }
  if ('passkey' in lock) {
    const kek = await passkeyWrappingKey(lock.passkey.prf);
    const wrapped = await crypto.subtle.wrapKey('raw', dataKey, kek, {
      name: 'AES-GCM',
      iv: wrapIv,
      additionalData: PASSKEY_AAD,
    });
    return {
      version: 3,
      lock: 'passkey',
      credentialId: lock.passkey.credentialId,
      prfSalt: lock.passkey.prfSalt,
      wrappedDataKey: new Uint8Array(wrapped),
      wrapIv,
    };
  }
  const kdf = newKdfParams(lock.cost ?? DEFAULT_KDF);
  const kek = await deriveWrappingKey(lock.passphrase, kdf);
  const wrapped = await crypto.subtle.wrapKey('raw', dataKey, kek, {
    name: 'AES-GCM',
    iv: wrapIv,
    additionalData: passphraseAad(kdf),
  });
  return { version: 2, lock: 'passphrase', kdf, wrappedDataKey: new Uint8Array(wrapped), wrapIv };
}

/** Creates a fresh keyring; returns what to store and the usable data key. */
export async function createKeyring(
  lock: NewLock = null,
): Promise<{ stored: StoredKeyring; dataKey: CryptoKey }> {
  // The data key must be extractable exactly once, to be wrapped; the copy kept in memory
  // comes from unwrapKey below and is non-extractable.
  const fresh = await crypto.subtle.generateKey(AES, true, ['encrypt', 'decrypt']);
  const stored = await wrapUnder(fresh, lock);
  const secret = !lock ? undefined : 'passkey' in lock ? { prf: lock.passkey.prf } : lock.passphrase;
  return { stored, dataKey: await unwrapDataKey(stored, secret) };
}

async function unwrap(stored: StoredKeyring, secret: UnlockSecret | undefined, extractable: boolean) {
  if (stored.version === 1)
    return crypto.subtle.unwrapKey(
      'raw',
      stored.wrappedDataKey as Uint8Array<ArrayBuffer>,
      stored.wrappingKey,
      { name: 'AES-GCM', iv: stored.wrapIv as Uint8Array<ArrayBuffer>, additionalData: WRAP_AAD },
      AES,
      extractable,
      ['encrypt', 'decrypt'],
    );
  if (secret === undefined) throw new PassphraseRequiredError();
  if (stored.version === 3) {
    if (typeof secret === 'string') throw new PassphraseRequiredError();
    const kek = await passkeyWrappingKey(secret.prf);
    try {
      return await crypto.subtle.unwrapKey(
        'raw',
        stored.wrappedDataKey as Uint8Array<ArrayBuffer>,
        kek,
        { name: 'AES-GCM', iv: stored.wrapIv as Uint8Array<ArrayBuffer>, additionalData: PASSKEY_AAD },
        AES,
        extractable,
        ['encrypt', 'decrypt'],
      );
    } catch {
      throw new WrongPassphraseError();
    }
  }
  if (typeof secret !== 'string') throw new PassphraseRequiredError();
  validateKdfParams(stored.kdf);
  const kek = await deriveWrappingKey(secret, stored.kdf);
  try {
    return await crypto.subtle.unwrapKey(
      'raw',
      stored.wrappedDataKey as Uint8Array<ArrayBuffer>,
      kek,
      {
        name: 'AES-GCM',
        iv: stored.wrapIv as Uint8Array<ArrayBuffer>,
        additionalData: passphraseAad(stored.kdf),
      },
      AES,
      extractable,
      ['encrypt', 'decrypt'],
    );
  } catch {
    // AES-GCM authentication failed: a wrong passphrase (or a tampered record; the same to us).
    throw new WrongPassphraseError();
  }
}

/** The data key, non-extractable. A passphrase keyring needs its passphrase. */
export function unwrapDataKey(stored: StoredKeyring, secret?: UnlockSecret): Promise<CryptoKey> {
  return unwrap(stored, secret, false);
}

/**
 * Wraps the same data key under a new lock (or none), without touching any record sealed
 * under it. The data key is extractable only inside this call, to be wrapped again.
 */
export async function rewrapKeyring(
  stored: StoredKeyring,
  current: UnlockSecret | undefined,
  next: NewLock,
): Promise<StoredKeyring> {
  const dataKey = await unwrap(stored, current, true);
  return wrapUnder(dataKey, next);
}

/** A record sealed under the data key; `aad` binds it to where it is stored. */
export interface Sealed {
  readonly iv: Uint8Array;
  readonly ct: Uint8Array;
}

export async function seal(dataKey: CryptoKey, plaintext: Uint8Array, aad: Uint8Array): Promise<Sealed> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: aad as Uint8Array<ArrayBuffer> },
    dataKey,
    plaintext as Uint8Array<ArrayBuffer>,
  );
  return { iv, ct: new Uint8Array(ct) };
}

export async function open(dataKey: CryptoKey, sealed: Sealed, aad: Uint8Array): Promise<Uint8Array> {
  const pt = await crypto.subtle.decrypt(
    {
      name: 'AES-GCM',
      iv: sealed.iv as Uint8Array<ArrayBuffer>,
      additionalData: aad as Uint8Array<ArrayBuffer>,
    },
    dataKey,
    sealed.ct as Uint8Array<ArrayBuffer>,
  );
  return new Uint8Array(pt);
}
