/**
 * AES-256-GCM with a 96-bit nonce and 128-bit tag (NIST SP 800-38D), the one AEAD of
 * spec/protocol.md §2. Two interchangeable backends that produce identical bytes:
 * WebCrypto (fast, native; used wherever `crypto.subtle` exists) and @noble/ciphers
 * (pure JS fallback). Output is ciphertext ‖ tag, as both libraries produce it.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { expectBytes } from './bytes.js';
import { fail } from './errors.js';

export const AES_KEY_BYTES = 32;
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

export interface AesGcm {
  readonly backend: 'webcrypto' | 'noble';
  encrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array): Promise<Uint8Array>;
  /** Throws CryptoCoreError AUTH_FAILED when the tag does not verify. */
  decrypt(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, ad?: Uint8Array): Promise<Uint8Array>;
  /**
   * Binds one key for many operations (the chunks of a C2SP message, spec §10.2), so
   * WebCrypto imports it once instead of once per 16 KiB chunk. Same bytes as above.
   */
  withKey(key: Uint8Array): Promise<KeyedAesGcm>;
}

/** AES-256-GCM under one bound key; see {@link AesGcm.withKey}. */
export interface KeyedAesGcm {
  encrypt(nonce: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array): Promise<Uint8Array>;
  /** Throws CryptoCoreError AUTH_FAILED when the tag does not verify. */
  decrypt(nonce: Uint8Array, ciphertext: Uint8Array, ad?: Uint8Array): Promise<Uint8Array>;
  /** Forgets the key (wipes the copy the noble backend holds); later calls fail. */
  dispose(): void;
}

// The slice of WebCrypto used here, typed locally: crypto-core compiles without DOM types.
interface SubtleSlice {
  importKey(
    format: 'raw',
    key: Uint8Array,
    algorithm: 'AES-GCM',
    extractable: false,
    usages: string[],
  ): Promise<unknown>;
  encrypt(algorithm: GcmParams, key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
  decrypt(algorithm: GcmParams, key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
}
interface GcmParams {
  name: 'AES-GCM';
  iv: Uint8Array;
  additionalData: Uint8Array;
  tagLength: 128;
}

function checkArgs(key: Uint8Array, nonce: Uint8Array, data: Uint8Array, ad: Uint8Array | undefined): void {
  expectBytes(key, 'key', AES_KEY_BYTES);
  checkData(nonce, data, ad);
}

function checkData(nonce: Uint8Array, data: Uint8Array, ad: Uint8Array | undefined): void {
  expectBytes(nonce, 'nonce', GCM_NONCE_BYTES);
  expectBytes(data, 'data');
  if (ad !== undefined) expectBytes(ad, 'associated data');
}

const EMPTY = new Uint8Array(0);

export const nobleAesGcm: AesGcm = {
  backend: 'noble',
  async withKey(key) {
    const bound = expectBytes(key, 'key', AES_KEY_BYTES).slice();
    let live = true;
    // A wiped key would still be a valid (all-zero) key, hence the flag.
    const usable = (): Uint8Array => (live ? bound : fail('BAD_STATE', 'AES-GCM key was disposed'));
    return {
      encrypt: async (nonce, plaintext, ad) => nobleAesGcm.encrypt(usable(), nonce, plaintext, ad),
      decrypt: async (nonce, ciphertext, ad) => nobleAesGcm.decrypt(usable(), nonce, ciphertext, ad),
      dispose: () => {
        live = false;
        bound.fill(0);
      },
    };
  },
  async encrypt(key, nonce, plaintext, ad) {
    checkArgs(key, nonce, plaintext, ad);
    return gcm(key, nonce, ad ?? EMPTY).encrypt(plaintext);
  },
  async decrypt(key, nonce, ciphertext, ad) {
    checkArgs(key, nonce, ciphertext, ad);
    if (ciphertext.length < GCM_TAG_BYTES) fail('AUTH_FAILED', 'ciphertext shorter than its tag');
    try {
      return gcm(key, nonce, ad ?? EMPTY).decrypt(ciphertext);
    } catch {
      return fail('AUTH_FAILED', 'AES-GCM tag does not verify');
    }
  },
};

/** A backend over the given WebCrypto `SubtleCrypto` (or any object with its shape). */
export function webCryptoAesGcm(subtle: unknown): AesGcm {
  const s = subtle as SubtleSlice;
  const params = (nonce: Uint8Array, ad: Uint8Array | undefined): GcmParams => ({
    name: 'AES-GCM',
    iv: nonce,
    additionalData: ad ?? EMPTY,
    tagLength: 128,
  });
  return {
    backend: 'webcrypto',
    async withKey(key) {
      expectBytes(key, 'key', AES_KEY_BYTES);
      const k = await s.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
      let live = true;
      const check = (nonce: Uint8Array, data: Uint8Array, ad: Uint8Array | undefined): void => {
        if (!live) fail('BAD_STATE', 'AES-GCM key was disposed');
        checkData(nonce, data, ad);
      };
      return {
        async encrypt(nonce, plaintext, ad) {
          check(nonce, plaintext, ad);
          return new Uint8Array(await s.encrypt(params(nonce, ad), k, plaintext));
        },
        async decrypt(nonce, ciphertext, ad) {
          check(nonce, ciphertext, ad);
          if (ciphertext.length < GCM_TAG_BYTES) fail('AUTH_FAILED', 'ciphertext shorter than its tag');
          try {
            return new Uint8Array(await s.decrypt(params(nonce, ad), k, ciphertext));
          } catch {
            return fail('AUTH_FAILED', 'AES-GCM tag does not verify');
          }
        },
        dispose: () => {
          live = false;
        },
      };
    },
    async encrypt(key, nonce, plaintext, ad) {
      checkArgs(key, nonce, plaintext, ad);
      const k = await s.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
      return new Uint8Array(await s.encrypt(params(nonce, ad), k, plaintext));
    },
    async decrypt(key, nonce, ciphertext, ad) {
      checkArgs(key, nonce, ciphertext, ad);
      if (ciphertext.length < GCM_TAG_BYTES) fail('AUTH_FAILED', 'ciphertext shorter than its tag');
      const k = await s.importKey('raw', key, 'AES-GCM', false, ['decrypt']);
      try {
        return new Uint8Array(await s.decrypt(params(nonce, ad), k, ciphertext));
      } catch {
        return fail('AUTH_FAILED', 'AES-GCM tag does not verify');
      }
    },
  };
}

/** WebCrypto when the runtime has it (browsers, workers, Node ≥ 20), otherwise noble. */
export function defaultAesGcm(): AesGcm {
  const subtle = (globalThis as { crypto?: { subtle?: unknown } }).crypto?.subtle;
  return subtle ? webCryptoAesGcm(subtle) : nobleAesGcm;
}
