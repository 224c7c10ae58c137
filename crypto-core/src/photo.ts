/**
 * Photo encryption (spec/protocol.md §10): a photo is zero-padded to its Padmé length
 * (§10.2) and encrypted with C2SP chunked encryption under a fresh random 32-byte photo key
 * (§10.1) and a constant context (§10.3). The key travels inside the photo message (§10.4),
 * so the blob is uploaded once and opened by every device of both accounts (§16.5); the
 * ciphertext's SHA-256 in the same message binds the blob to it. The metadata keeps the
 * exact length; the receiver checks that the padding is zero and returns only the photo's
 * own bytes, after checking the blob it downloads against the digest (DIGEST_MISMATCH).
 *
 * What this module does not know: the ratchet. The photo message is an ordinary ratchet
 * message of content type "photo" whose body is the §10.4 encoding.
 */

import { equalBytes } from '@noble/ciphers/utils.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { GCM_TAG_BYTES } from './aes-gcm.js';
import { concat, expectBytes, utf8, wipe } from './bytes.js';
import { CHUNK_BYTES, CHUNKED_HEADER_BYTES, type ChunkedOptions, encryptChunked } from './chunked.js';
import { startOpening, startSealing } from './chunked-header.js';
import { type RandomSource, systemRandom } from './deps.js';
import { fail } from './errors.js';
import { paddedPhotoLength } from './padding.js';
import {
  MAX_PHOTO_BYTES,
  PHOTO_DIGEST_BYTES,
  PHOTO_KEY_BYTES,
  type PhotoMetadata,
  type PhotoMime,
} from './photo-metadata.js';
import { draw } from './random-draw.js';

export { PHOTO_KEY_BYTES } from './photo-metadata.js';

/**
 * The C2SP context of every photo blob (spec §10.3): "SecureDrop_PhotoBlob_v3" ‖ 0x00.
 * Constant: each key is fresh per photo, and the digest in the photo message binds the blob.
 */
export const PHOTO_CONTEXT = concat(utf8('SecureDrop_PhotoBlob_v3'), Uint8Array.of(0));
/** The copy used here: an exported Uint8Array cannot be frozen, so a caller's write cannot reach it. */
const CONTEXT = PHOTO_CONTEXT.slice();

const MAX_PHOTO_CHUNKS = Math.floor(MAX_PHOTO_BYTES / CHUNK_BYTES) + 1;

/** Leading bytes every photo of a type must start with (checked before any byte is released). */
const MAGIC: Readonly<Record<PhotoMime, Uint8Array>> = {
  'image/jpeg': Uint8Array.of(0xff, 0xd8, 0xff),
  'image/png': Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
};

/**
 * A fresh photo key (spec §10.1): 32 bytes from the CSPRNG (or the injected source, for
 * vectors). One per photo, never reused: the context is constant (§10.3).
 *
 * @example
 * const photoKey = generatePhotoKey();
 */
export function generatePhotoKey(random: RandomSource = systemRandom): Uint8Array {
  return draw(random, PHOTO_KEY_BYTES);
}

/** A copy of the photo key after its length check (the C2SP input key, §10.2). */
function checkPhotoKey(photoKey: Uint8Array): Uint8Array {
  return expectBytes(photoKey, 'photo key', PHOTO_KEY_BYTES).slice();
}

/**
 * Ciphertext size of a photo of `byteLength` bytes (spec §10.2): with the padded length
 * P = min(padme(n), 25,000,000), 56 + P + 16 × (⌊P / 16384⌋ + 1).
 *
 * @example
 * photoCiphertextLength(1_000_000); // 1_016_880 (P = 1,015,808)
 */
export function photoCiphertextLength(byteLength: number): number {
  if (!Number.isInteger(byteLength) || byteLength < 1 || byteLength > MAX_PHOTO_BYTES)
    fail('BAD_LENGTH', `photo must be 1–${MAX_PHOTO_BYTES} bytes`);
  const padded = paddedPhotoLength(byteLength);
  return CHUNKED_HEADER_BYTES + padded + GCM_TAG_BYTES * (Math.floor(padded / CHUNK_BYTES) + 1);
}

/** What the sender puts into the photo's metadata once the blob is encrypted. */
export interface PhotoSealed {
  /** SHA-256 of the whole ciphertext (§10.5). */
  ciphertextSha256: Uint8Array;
  /** Photo bytes before padding: the exact length the metadata carries (§10.4). */
  byteLength: number;
  /** Ciphertext bytes (what the relay stores). */
  ciphertextLength: number;
}

/**
 * Encrypts a photo piece by piece; the concatenation of all outputs is the blob.
 *
 * @example
 * const enc: PhotoEncryptor = createPhotoEncryptor(generatePhotoKey());
 */
export interface PhotoEncryptor {
  push(photoBytes: Uint8Array): Promise<Uint8Array>;
  /** Returns the last ciphertext bytes and the digest and sizes for the metadata. */
  finish(): Promise<PhotoSealed & { tail: Uint8Array }>;
  abort(): void;
}

/**
 * Starts encrypting a photo (at most 25 MB, at least 1 byte) under `photoKey` (from
 * {@link generatePhotoKey}; the same key goes into the photo message, §10.4).
 *
 * @example
 * const photoKey = generatePhotoKey();
 * const enc = createPhotoEncryptor(photoKey);
 * for await (const piece of file.stream()) upload(await enc.push(piece));
 * const { tail, ciphertextSha256, byteLength } = await enc.finish();
 */
export function createPhotoEncryptor(photoKey: Uint8Array, options: ChunkedOptions = {}): PhotoEncryptor {
  const key = checkPhotoKey(photoKey);
  const sealer = startSealing(key, CONTEXT, { ...options, maxChunks: MAX_PHOTO_CHUNKS });
  wipe(key);
  const digest = sha256.create();
  let byteLength = 0;
  let ciphertextLength = 0;
  const hashed = (parts: Uint8Array[]): Uint8Array => {
    for (const part of parts) {
      digest.update(part);
      ciphertextLength += part.length;
    }
    return concat(...parts);
  };
  return {
    async push(photoBytes) {
      expectBytes(photoBytes, 'photo bytes');
      if (byteLength + photoBytes.length > MAX_PHOTO_BYTES) {
        sealer.abort();
        fail('BAD_LENGTH', `photo larger than ${MAX_PHOTO_BYTES} bytes`);
      }
      byteLength += photoBytes.length;
      return hashed(await sealer.pushParts(photoBytes));
    },
    async finish() {
      if (byteLength === 0) {
        sealer.abort();
        fail('BAD_LENGTH', 'photo is empty');
      }
      // spec §10.2: zero padding up to the Padmé length, then the final chunk.
      const padding = new Uint8Array(paddedPhotoLength(byteLength) - byteLength);
      const padded = padding.length > 0 ? await sealer.pushParts(padding) : [];
      const tail = hashed([...padded, ...(await sealer.finishParts())]);
      return { tail, ciphertextSha256: digest.digest(), byteLength, ciphertextLength };
    },
    abort: () => sealer.abort(),
  };
}

/**
 * Encrypts a whole photo at once.
 *
 * @example
 * const { ciphertext, ciphertextSha256, byteLength } = await encryptPhoto(photoKey, jpegBytes);
 */
export async function encryptPhoto(
  photoKey: Uint8Array,
  photoBytes: Uint8Array,
  options: ChunkedOptions = {},
): Promise<PhotoSealed & { ciphertext: Uint8Array }> {
  expectBytes(photoBytes, 'photo bytes');
  const byteLength = photoBytes.length;
  photoCiphertextLength(byteLength); // size limits
  const key = checkPhotoKey(photoKey);
  // spec §10.2: zero-padded to min(padme(n), 25,000,000) before encryption.
  const padded = new Uint8Array(paddedPhotoLength(byteLength));
  padded.set(photoBytes);
  try {
    const ciphertext = await encryptChunked(key, padded, CONTEXT, {
      ...options,
      maxChunks: MAX_PHOTO_CHUNKS,
    });
    const ciphertextSha256 = await sha256Whole(ciphertext);
    return { ciphertext, ciphertextSha256, byteLength, ciphertextLength: ciphertext.length };
  } finally {
    wipe(key, padded);
  }
}

// The slice of WebCrypto used for one-shot digests, typed locally (no DOM types here).
interface DigestSlice {
  digest(algorithm: 'SHA-256', data: Uint8Array): Promise<ArrayBuffer>;
}

/**
 * SHA-256 of a whole buffer: WebCrypto where present (native; ~6× noble here), noble
 * otherwise. Identical bytes either way. Streaming paths use noble's incremental hash,
 * since WebCrypto has none.
 */
async function sha256Whole(data: Uint8Array): Promise<Uint8Array> {
  const subtle = (globalThis as { crypto?: { subtle?: DigestSlice } }).crypto?.subtle;
  return subtle ? new Uint8Array(await subtle.digest('SHA-256', data)) : sha256(data);
}

/** The metadata fields a receiver needs to check and open a blob. */
export type PhotoExpectation = Pick<PhotoMetadata, 'mime' | 'byteLength' | 'ciphertextSha256'>;

/**
 * Decrypts a downloaded blob piece by piece; only `finish()` resolving means the photo is whole.
 *
 * @example
 * const dec: PhotoDecryptor = createPhotoDecryptor(meta.photoKey, meta);
 */
export interface PhotoDecryptor {
  /** Returns authenticated plaintext; DIGEST_MISMATCH at once if the blob is longer than announced. */
  push(ciphertext: Uint8Array): Promise<Uint8Array>;
  /** Checks the length and SHA-256 of the blob (DIGEST_MISMATCH), then the final chunk. */
  finish(): Promise<Uint8Array>;
}

function checkExpectation(meta: PhotoExpectation): { expected: number; magic: Uint8Array } {
  if (typeof meta !== 'object' || meta === null) fail('BAD_TYPE', 'photo metadata must be an object');
  // Own keys only: indexing also finds what every object inherits (toString, constructor…).
  const magic = Object.hasOwn(MAGIC, meta.mime)
    ? MAGIC[meta.mime]
    : fail('BAD_FORMAT', 'photo type must be image/jpeg or image/png');
  expectBytes(meta.ciphertextSha256, 'ciphertext digest', PHOTO_DIGEST_BYTES);
  return { expected: photoCiphertextLength(meta.byteLength), magic };
}

/**
 * Starts decrypting the blob a photo message describes. Plaintext is released chunk by
 * chunk only after each chunk's tag verifies, and the first bytes must be those of the
 * announced image type (BAD_FORMAT otherwise); the blob's length and digest are checked as
 * it arrives and at `finish`.
 *
 * @example
 * const dec = createPhotoDecryptor(meta.photoKey, meta);
 * for await (const piece of download(meta.blobId)) parts.push(await dec.push(piece));
 * parts.push(await dec.finish());
 */
export function createPhotoDecryptor(
  photoKey: Uint8Array,
  meta: PhotoExpectation,
  options: ChunkedOptions = {},
): PhotoDecryptor {
  const opened = openPhoto(photoKey, meta, options, false);
  return {
    push: async (ciphertext) => concat(...(await opened.pushParts(ciphertext))),
    finish: async () => concat(...(await opened.finishParts())),
  };
}

/** `digestChecked`: the caller already hashed the whole blob (one-shot), so don't again. */
function openPhoto(
  photoKey: Uint8Array,
  meta: PhotoExpectation,
  options: ChunkedOptions,
  digestChecked: boolean,
): { pushParts(ciphertext: Uint8Array): Promise<Uint8Array[]>; finishParts(): Promise<Uint8Array[]> } {
  const { expected, magic } = checkExpectation(meta);
  const wanted = meta.ciphertextSha256.slice();
  const key = checkPhotoKey(photoKey);
  const opener = startOpening(key, CONTEXT, { ...options, maxChunks: MAX_PHOTO_CHUNKS });
  wipe(key);
  const digest = sha256.create();
  let received = 0;
  let released = 0;
  let checkedMagic = false;
  let failed = false;

  // spec §10.2: bytes past the exact length are padding; they must be zero and are never released.
  const unpad = (parts: Uint8Array[]): Uint8Array[] => {
    const out: Uint8Array[] = [];
    for (const part of parts) {
      const keep = Math.max(0, Math.min(part.length, meta.byteLength - released));
      released += part.length;
      if (keep < part.length && part.subarray(keep).some((b) => b !== 0))
        fail('BAD_FORMAT', 'photo padding is not zero');
      out.push(keep === part.length ? part : part.subarray(0, keep));
    }
    return out;
  };
  // spec §10.5: the announced type's signature, checked before any plaintext is released.
  const release = (all: Uint8Array[]): Uint8Array[] => {
    const parts = unpad(all);
    const first = parts.find((p) => p.length > 0);
    if (!checkedMagic && first !== undefined) {
      checkedMagic = true;
      if (first.length < magic.length || !equalBytes(first.subarray(0, magic.length), magic))
        fail('BAD_FORMAT', `photo content is not ${meta.mime}`);
    }
    return parts;
  };
  const guard = async (step: () => Promise<Uint8Array[]>): Promise<Uint8Array[]> => {
    if (failed) fail('AUTH_FAILED', 'photo already failed to decrypt');
    try {
      return await step();
    } catch (e) {
      failed = true;
      throw e;
    }
  };

  return {
    pushParts: (ciphertext) =>
      guard(async () => {
        expectBytes(ciphertext, 'ciphertext');
        received += ciphertext.length;
        if (received > expected) fail('DIGEST_MISMATCH', 'blob is longer than its message says');
        if (!digestChecked) digest.update(ciphertext);
        return release(await opener.pushParts(ciphertext));
      }),
    finishParts: () =>
      guard(async () => {
        if (received !== expected || (!digestChecked && !equalBytes(digest.digest(), wanted)))
          fail('DIGEST_MISMATCH', 'blob does not match the digest in its message');
        return release(await opener.finishParts());
      }),
  };
}

/**
 * Decrypts a whole downloaded blob: length and SHA-256 are checked first (DIGEST_MISMATCH),
 * then every chunk; returns the photo bytes.
 *
 * @example
 * const jpeg = await decryptPhoto(meta.photoKey, meta, blob);
 */
export async function decryptPhoto(
  photoKey: Uint8Array,
  meta: PhotoExpectation,
  ciphertext: Uint8Array,
  options: ChunkedOptions = {},
): Promise<Uint8Array> {
  const { expected } = checkExpectation(meta);
  expectBytes(ciphertext, 'ciphertext');
  if (ciphertext.length !== expected || !equalBytes(await sha256Whole(ciphertext), meta.ciphertextSha256))
    fail('DIGEST_MISMATCH', 'blob does not match the digest in its message');
  const opened = openPhoto(photoKey, meta, options, true);
  const body = await opened.pushParts(ciphertext);
  return concat(...body, ...(await opened.finishParts()));
}
