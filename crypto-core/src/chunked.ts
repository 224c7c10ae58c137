/**
 * C2SP chunked encryption, instantiated as Cobblestone-256: AES-256-GCM with HKDF-Expand
 * over SHA-512 (c2sp.org/chunked-encryption; spec/protocol.md §10.2). Ciphertext =
 * salt (24) ‖ commitment (32) ‖ sealed chunks. Streaming in both directions: an encryptor
 * and a decryptor that take bytes piece by piece, plus async-iterable and one-shot forms.
 *
 * What this module does not know: photos, messages or where the input key comes from.
 */

import { equalBytes } from '@noble/ciphers/utils.js';
import { AES_KEY_BYTES, type AesGcm, defaultAesGcm, GCM_NONCE_BYTES } from './aes-gcm.js';
import { concat, expectBytes, expectInt, utf8, wipe } from './bytes.js';
import { MAX_CHUNKS_C2SP, RawChunkDecryptor, RawChunkEncryptor } from './chunked-raw.js';
import { type RandomSource, systemRandom } from './deps.js';
import { fail } from './errors.js';
import { hkdfExpandSha512 } from './kdf.js';

export { CHUNK_BYTES, SEALED_CHUNK_BYTES } from './chunked-raw.js';

/** Bytes of the random salt that starts every ciphertext. */
export const SALT_BYTES = 24;
/** Bytes of the key commitment that follows the salt. */
export const COMMITMENT_BYTES = 32;
/** Bytes before the first sealed chunk: salt ‖ commitment. */
export const HEADER_BYTES = SALT_BYTES + COMMITMENT_BYTES;
/** Longest context accepted; C2SP sets none, this bounds a caller's mistake. */
export const MAX_CONTEXT_BYTES = 4096;

// C2SP "Key derivation": info = prefix ‖ AEAD name (IANA registry) ‖ 0x00 ‖ salt ‖ context.
const INFO_PREFIX = utf8('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00');
const DERIVED_BYTES = AES_KEY_BYTES + GCM_NONCE_BYTES + COMMITMENT_BYTES;

/**
 * Options shared by every chunked-encryption entry point.
 *
 * @example
 * await encryptChunked(key, data, ctx, { aes: nobleAesGcm, random: fixedSaltForVectors });
 */
export interface ChunkedOptions {
  /** The AES-256-GCM backend; default WebCrypto where present, else noble. */
  aes?: AesGcm;
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

/**
 * Encrypts a message piece by piece; the concatenation of all outputs is the ciphertext.
 * Do not modify a buffer passed to `push` until its promise settles.
 *
 * @example
 * const enc: ChunkedEncryptor = createChunkedEncryptor(key, ctx);
 */
export interface ChunkedEncryptor {
  /** Encrypts what fills whole 16 KiB chunks; returns their ciphertext (the header first time). */
  push(plaintext: Uint8Array): Promise<Uint8Array>;
  /** Encrypts the final short chunk and returns the rest of the ciphertext. */
  finish(): Promise<Uint8Array>;
  /** Drops the keys and buffered plaintext without producing more output. */
  abort(): void;
}

/**
 * Decrypts a ciphertext piece by piece, releasing only authenticated plaintext. The message
 * is complete only when `finish` resolves.
 *
 * @example
 * const dec: ChunkedDecryptor = createChunkedDecryptor(key, ctx);
 */
export interface ChunkedDecryptor {
  /** Consumes ciphertext; returns the plaintext of every chunk that is now verified. */
  push(ciphertext: Uint8Array): Promise<Uint8Array>;
  /** Verifies the final chunk (TRUNCATED if missing) and returns its plaintext. */
  finish(): Promise<Uint8Array>;
}

function maxChunksOf(options: ChunkedOptions): number {
  return options.maxChunks === undefined
    ? MAX_CHUNKS_C2SP
    : expectInt(options.maxChunks, 'maxChunks', 1, MAX_CHUNKS_C2SP);
}

/**
 * Starts encrypting one message under `inputKey` (32 uniformly random bytes) and
 * `context` (application data bound into the key derivation; may be empty).
 *
 * @example
 * const enc = createChunkedEncryptor(inputKey, context);
 * const parts = [await enc.push(part1), await enc.push(part2), await enc.finish()];
 */
export function createChunkedEncryptor(
  inputKey: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): ChunkedEncryptor {
  checkInputs(inputKey, context);
  const maxChunks = maxChunksOf(options);
  const salt = expectBytes((options.random ?? systemRandom)(SALT_BYTES), 'random salt', SALT_BYTES);
  const { key, baseNonce, commitment } = deriveChunkedKeys(inputKey, salt, context);
  const raw = new RawChunkEncryptor(options.aes ?? defaultAesGcm(), key, baseNonce, maxChunks);
  wipe(key, baseNonce);
  let header: Uint8Array | undefined = concat(salt, commitment);
  const withHeader = (body: Uint8Array): Uint8Array => {
    if (header === undefined) return body;
    const out = concat(header, body);
    header = undefined;
    return out;
  };
  return {
    push: async (plaintext) => withHeader(await raw.push(plaintext)),
    finish: async () => withHeader(await raw.finish()),
    abort: () => raw.abort(),
  };
}

/**
 * Starts decrypting one message. The header is checked (commitment compared in constant
 * time) before any chunk is opened: a wrong key or context is AUTH_FAILED, a ciphertext
 * shorter than its header TRUNCATED, a tampered chunk AUTH_FAILED. A failed decryptor
 * keeps failing.
 *
 * @example
 * const dec = createChunkedDecryptor(inputKey, context);
 * for await (const piece of download) show(await dec.push(piece));
 * show(await dec.finish());
 */
export function createChunkedDecryptor(
  inputKey: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): ChunkedDecryptor {
  checkInputs(inputKey, context);
  const maxChunks = maxChunksOf(options);
  const aes = options.aes ?? defaultAesGcm();
  const input = inputKey.slice();
  const ctx = context.slice();
  let header: Uint8Array = new Uint8Array(0);
  let raw: RawChunkDecryptor | undefined;
  let failed = false;

  const guard = async (step: () => Promise<Uint8Array>): Promise<Uint8Array> => {
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
    const opened = new RawChunkDecryptor(aes, key, baseNonce, maxChunks);
    wipe(key, baseNonce);
    return opened;
  };

  return {
    push: (ciphertext) =>
      guard(async () => {
        expectBytes(ciphertext, 'ciphertext');
        if (raw) return raw.push(ciphertext);
        const need = HEADER_BYTES - header.length;
        header = concat(header, ciphertext.subarray(0, need));
        if (header.length < HEADER_BYTES) return new Uint8Array(0);
        raw = openHeader();
        return raw.push(ciphertext.subarray(need));
      }),
    finish: () =>
      guard(async () => {
        if (!raw) fail('TRUNCATED', 'chunked ciphertext shorter than its 56-byte header');
        return raw.finish();
      }),
  };
}

/**
 * Encrypts a whole message at once.
 *
 * @example
 * const ciphertext = await encryptChunked(inputKey, plaintext, context);
 */
export async function encryptChunked(
  inputKey: Uint8Array,
  plaintext: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): Promise<Uint8Array> {
  expectBytes(plaintext, 'plaintext');
  const enc = createChunkedEncryptor(inputKey, context, options);
  const body = await enc.push(plaintext);
  return concat(body, await enc.finish());
}

/**
 * Decrypts a whole message at once; throws instead of returning any unauthenticated byte.
 *
 * @example
 * const plaintext = await decryptChunked(inputKey, ciphertext, context);
 */
export async function decryptChunked(
  inputKey: Uint8Array,
  ciphertext: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): Promise<Uint8Array> {
  expectBytes(ciphertext, 'ciphertext');
  const dec = createChunkedDecryptor(inputKey, context, options);
  const body = await dec.push(ciphertext);
  return concat(body, await dec.finish());
}

/** Any source of byte pieces: an array, a generator, a ReadableStream in modern runtimes. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Encrypts a stream of plaintext pieces, yielding ciphertext pieces (empty ones skipped).
 *
 * @example
 * for await (const piece of encryptChunkedStream(file.stream(), inputKey, context)) upload(piece);
 */
export async function* encryptChunkedStream(
  source: ByteSource,
  inputKey: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const enc = createChunkedEncryptor(inputKey, context, options);
  let finished = false;
  try {
    for await (const piece of source) {
      const out = await enc.push(piece);
      if (out.length > 0) yield out;
    }
    finished = true;
    yield await enc.finish();
  } finally {
    if (!finished) enc.abort();
  }
}

/**
 * Decrypts a stream of ciphertext pieces, yielding authenticated plaintext pieces; throws
 * (after possibly yielding a verified prefix) if the ciphertext is tampered or truncated.
 *
 * @example
 * for await (const piece of decryptChunkedStream(response.body, inputKey, context)) write(piece);
 */
export async function* decryptChunkedStream(
  source: ByteSource,
  inputKey: Uint8Array,
  context: Uint8Array,
  options: ChunkedOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const dec = createChunkedDecryptor(inputKey, context, options);
  for await (const piece of source) {
    const out = await dec.push(piece);
    if (out.length > 0) yield out;
  }
  const last = await dec.finish();
  if (last.length > 0) yield last;
}
