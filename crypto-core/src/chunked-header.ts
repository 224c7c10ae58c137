/**
 * The header layer of C2SP chunked encryption (spec/protocol.md §10.2): key derivation
 * (HKDF-Expand-SHA-512), salt ‖ commitment, and the commitment check before any chunk —
 * over the chunk layer of chunked-raw.ts. Internal: it hands results back as lists of
 * parts so that the public wrappers (chunked.ts, photo.ts) copy each byte once.
 */
import { equalBytes } from '@noble/ciphers/utils.js';
import { AES_KEY_BYTES, type AesGcm, defaultAesGcm, GCM_NONCE_BYTES } from './aes-gcm.js';
import { concat, expectBytes, expectInt, utf8, wipe } from './bytes.js';
import { MAX_CHUNKS_C2SP, RawChunkDecryptor, RawChunkEncryptor } from './chunked-raw.js';
import { type RandomSource, systemRandom } from './deps.js';
import { fail } from './errors.js';
import { hkdfExpandSha512 } from './kdf.js';

/** Bytes of the random salt that starts every ciphertext. */
export const SALT_BYTES = 24;
/** Bytes of the key commitment that follows the salt. */
export const COMMITMENT_BYTES = 32;
/** Bytes before the first sealed chunk: salt ‖ commitment. */
export const CHUNKED_HEADER_BYTES = SALT_BYTES + COMMITMENT_BYTES;
/** Longest context accepted; C2SP sets none, this bounds a caller's mistake. */
export const MAX_CONTEXT_BYTES = 4096;

// C2SP "Key derivation": info = prefix ‖ AEAD name (IANA registry) ‖ 0x00 ‖ salt ‖ context.
const INFO_PREFIX = utf8('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00');
const DERIVED_BYTES = AES_KEY_BYTES + GCM_NONCE_BYTES + COMMITMENT_BYTES;

/**
 * Options shared by every chunked-encryption entry point.
 *
 * @example
 * await encryptChunked(key, data, ctx, { aead: nobleAesGcm, random: fixedSaltForVectors });
 */
export interface ChunkedOptions {
  /** The AES-256-GCM backend; default WebCrypto where present, else noble. */
  aead?: AesGcm;
  /** Source of the 24-byte salt (encryption only); default the system CSPRNG. */
  random?: RandomSource;
  /** Refuse messages of more chunks than this (default and maximum 2^38, per C2SP). */
  maxChunks?: number;
}

/** The per-message values C2SP derives from input key, salt and context. */
export interface ChunkedKeys {
  key: Uint8Array;
  baseNonce: Uint8Array;
  commitment: Uint8Array;
}

function checkInputs(inputKey: Uint8Array, context: Uint8Array): void {
  expectBytes(inputKey, 'input key', AES_KEY_BYTES);
  expectBytes(context, 'context');
  if (context.length > MAX_CONTEXT_BYTES)
    fail('BAD_LENGTH', `context longer than ${MAX_CONTEXT_BYTES} bytes`);
}

function maxChunksOf(options: ChunkedOptions): number {
  return options.maxChunks === undefined
    ? MAX_CHUNKS_C2SP
    : expectInt(options.maxChunks, 'maxChunks', 1, MAX_CHUNKS_C2SP);
}

/**
 * key ‖ base nonce ‖ commitment = HKDF-Expand-SHA-512(input key, info, 76)
 * (C2SP "Key derivation").
 *
 * @example
 * const { key, baseNonce, commitment } = deriveChunkedKeys(inputKey, salt, context);
 */
export function deriveChunkedKeys(inputKey: Uint8Array, salt: Uint8Array, context: Uint8Array): ChunkedKeys {
  checkInputs(inputKey, context);
  expectBytes(salt, 'salt', SALT_BYTES);
  const out = hkdfExpandSha512(inputKey, concat(INFO_PREFIX, salt, context), DERIVED_BYTES);
  const keys = {
    key: out.slice(0, AES_KEY_BYTES),
    baseNonce: out.slice(AES_KEY_BYTES, AES_KEY_BYTES + GCM_NONCE_BYTES),
    commitment: out.slice(AES_KEY_BYTES + GCM_NONCE_BYTES),
  };
  wipe(out);
  return keys;
}

/** Encryption of one message, output as parts; the header is the first part produced. */
export interface Sealer {
  pushParts(plaintext: Uint8Array): Promise<Uint8Array[]>;
  finishParts(): Promise<Uint8Array[]>;
  abort(): void;
}

/** Decryption of one message, output as verified plaintext parts. */
export interface Opener {
  pushParts(ciphertext: Uint8Array): Promise<Uint8Array[]>;
  finishParts(): Promise<Uint8Array[]>;
}

export function startSealing(
  inputKey: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): Sealer {
  checkInputs(inputKey, context);
  const maxChunks = maxChunksOf(options);
  const salt = expectBytes((options.random ?? systemRandom)(SALT_BYTES), 'random salt', SALT_BYTES);
  const { key, baseNonce, commitment } = deriveChunkedKeys(inputKey, salt, context);
  const raw = new RawChunkEncryptor(options.aead ?? defaultAesGcm(), key, baseNonce, maxChunks);
  wipe(key, baseNonce);
  let header: Uint8Array | undefined = concat(salt, commitment);
  const withHeader = (parts: Uint8Array[]): Uint8Array[] => {
    if (header === undefined) return parts;
    const first = header;
    header = undefined;
    return [first, ...parts];
  };
  return {
    pushParts: async (plaintext) => withHeader(await raw.push(plaintext)),
    finishParts: async () => withHeader([await raw.finish()]),
    abort: () => raw.abort(),
  };
}

export function startOpening(
  inputKey: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): Opener {
  checkInputs(inputKey, context);
  const maxChunks = maxChunksOf(options);
  const aead = options.aead ?? defaultAesGcm();
  const input = inputKey.slice();
  const ctx = context.slice();
  let header: Uint8Array = new Uint8Array(0);
  let raw: RawChunkDecryptor | undefined;
  let failed = false;

  const guard = async (step: () => Promise<Uint8Array[]>): Promise<Uint8Array[]> => {
    if (failed) fail('AUTH_FAILED', 'chunked ciphertext already failed to decrypt');
    try {
      return await step();
    } catch (e) {
      failed = true;
      wipe(input);
      throw e;
    }
  };

  // C2SP: "implementations MUST check the commitment matches the derived value before continuing".
  const openHeader = (): RawChunkDecryptor => {
    const { key, baseNonce, commitment } = deriveChunkedKeys(input, header.subarray(0, SALT_BYTES), ctx);
    const ok = equalBytes(commitment, header.subarray(SALT_BYTES));
    wipe(input, commitment);
    if (!ok) {
      wipe(key, baseNonce);
      fail('AUTH_FAILED', 'chunked ciphertext: key commitment does not match (wrong key or context)');
    }
    const opened = new RawChunkDecryptor(aead, key, baseNonce, maxChunks);
    wipe(key, baseNonce);
    return opened;
  };

  return {
    pushParts: (ciphertext) =>
      guard(async () => {
        expectBytes(ciphertext, 'ciphertext');
        if (raw) return raw.push(ciphertext);
        const need = CHUNKED_HEADER_BYTES - header.length;
        header = concat(header, ciphertext.subarray(0, need));
        if (header.length < CHUNKED_HEADER_BYTES) return [];
        raw = openHeader();
        return raw.push(ciphertext.subarray(need));
      }),
    finishParts: () =>
      guard(async () => {
        if (!raw) fail('TRUNCATED', 'chunked ciphertext shorter than its 56-byte header');
        return [await raw.finish()];
      }),
  };
}
