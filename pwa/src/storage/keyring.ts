// The keys that protect local data at rest (issue #4 §9; the pattern of Element Web's
// pickling key): a random AES-256-GCM data key encrypts every record, and is stored only
// wrapped by a NON-EXTRACTABLE AES-256-GCM key. IndexedDB keeps that CryptoKey as an
// object (structured clone preserves extractable: false), so script can use it but never
// read its bytes. Unwrapping yields the data key as a non-extractable CryptoKey as well.

const AES = { name: 'AES-GCM', length: 256 } as const;
const IV_BYTES = 12;

export interface StoredKeyring {
  readonly version: 1;
  readonly wrappingKey: CryptoKey;
  readonly wrappedDataKey: Uint8Array;
  readonly wrapIv: Uint8Array;
}

const WRAP_AAD = new TextEncoder().encode('secure-drop/data-key/v1');

/** Creates a fresh keyring; returns what to store and the usable data key. */
export async function createKeyring(): Promise<{ stored: StoredKeyring; dataKey: CryptoKey }> {
  const wrappingKey = await crypto.subtle.generateKey(AES, false, ['wrapKey', 'unwrapKey']);
  // The data key must be extractable exactly once, to be wrapped; the copy kept in memory
  // comes from unwrapKey below and is non-extractable.
  const fresh = await crypto.subtle.generateKey(AES, true, ['encrypt', 'decrypt']);
  const wrapIv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const wrapped = await crypto.subtle.wrapKey('raw', fresh, wrappingKey, {
    name: 'AES-GCM',
    iv: wrapIv,
    additionalData: WRAP_AAD,
  });
  const stored: StoredKeyring = { version: 1, wrappingKey, wrappedDataKey: new Uint8Array(wrapped), wrapIv };
  return { stored, dataKey: await unwrapDataKey(stored) };
}

export async function unwrapDataKey(stored: StoredKeyring): Promise<CryptoKey> {
  return crypto.subtle.unwrapKey(
    'raw',
    stored.wrappedDataKey as Uint8Array<ArrayBuffer>,
    stored.wrappingKey,
    { name: 'AES-GCM', iv: stored.wrapIv as Uint8Array<ArrayBuffer>, additionalData: WRAP_AAD },
    AES,
    false,
    ['encrypt', 'decrypt'],
  );
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
