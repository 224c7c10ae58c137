/**
 * The plaintext of a photo message (spec/protocol.md §10.4): what the receiver needs to
 * fetch, check, open and show a photo — the photo's random key, its type, size,
 * dimensions, the SHA-256 of its ciphertext, the relay's blob id and an optional small
 * thumbnail. It travels inside a ratchet message of content type "photo" (or inside a
 * sync copy, §16.4), so it is encrypted and authenticated there.
 */
import { ByteReader, ByteWriter, expectBytes, expectInt, fromUtf8, utf8 } from './bytes.js';
import { fail } from './errors.js';

/**
 * Version byte of the photo message encoding: 3 since the photo key is random and travels
 * in the message (spec §10.1), so one blob serves every device of both accounts (§16).
 * Versions 1 and 2 (key derived from the message key) are UNSUPPORTED_VERSION.
 */
export const PHOTO_METADATA_VERSION = 3;
/** Bytes of a photo key (spec §10.1). */
export const PHOTO_KEY_BYTES = 32;
/**
 * Largest photo (plaintext bytes): 25 MB. Its blob is then at most 25,024,472 bytes
 * ({@link MAX_PHOTO_BLOB_BYTES}), under the relay's default upload limit of 25 MiB.
 */
export const MAX_PHOTO_BYTES = 25_000_000;
/** The blob of the largest photo: 56 + 25,000,000 + 16 × 1,526 (spec §10.2, §12). */
export const MAX_PHOTO_BLOB_BYTES = 25_024_472;
/** Largest width or height in pixels. */
export const MAX_PHOTO_DIMENSION = 16_384;
/** Longest relay blob id, in bytes of printable ASCII. */
export const MAX_BLOB_ID_BYTES = 128;
/** Largest inline thumbnail (always image/jpeg). */
export const MAX_THUMBNAIL_BYTES = 16_384;
/** Bytes of the ciphertext digest. */
export const PHOTO_DIGEST_BYTES = 32;

/** The image types a photo may have, with their wire codes. */
export type PhotoMime = 'image/jpeg' | 'image/png';
const MIME_TO_CODE: Readonly<Record<PhotoMime, number>> = { 'image/jpeg': 1, 'image/png': 2 };
const CODE_TO_MIME: Readonly<Record<number, PhotoMime>> = { 1: 'image/jpeg', 2: 'image/png' };

/**
 * A decoded photo message (spec §10.4).
 *
 * @example
 * const meta: PhotoMetadata = decodePhotoMetadata(decrypted.plaintext);
 */
export interface PhotoMetadata {
  /** The photo's random 32-byte key (spec §10.1): the C2SP input key of its blob. */
  photoKey: Uint8Array;
  mime: PhotoMime;
  /** Exact photo size in bytes before padding (spec §10.2), 1 … MAX_PHOTO_BYTES. */
  byteLength: number;
  width: number;
  height: number;
  /** SHA-256 of the whole chunked ciphertext as uploaded (§10.5). */
  ciphertextSha256: Uint8Array;
  /** The relay's id for the uploaded blob: 1–128 printable ASCII characters. */
  blobId: string;
  /** An optional JPEG preview, at most 16 KiB; empty when absent. */
  thumbnail: Uint8Array;
}

function checkMime(mime: unknown): PhotoMime {
  // Own keys only: `in` also finds what every object inherits (toString, constructor…).
  if (typeof mime !== 'string' || !Object.hasOwn(MIME_TO_CODE, mime))
    fail('BAD_FORMAT', 'photo type must be image/jpeg or image/png');
  return mime as PhotoMime;
}

function checkBlobId(blobId: unknown): string {
  if (typeof blobId !== 'string') fail('BAD_TYPE', 'blob id must be a string');
  if (blobId.length < 1 || blobId.length > MAX_BLOB_ID_BYTES)
    fail('BAD_LENGTH', `blob id must be 1–${MAX_BLOB_ID_BYTES} characters`);
  if (!/^[\x21-\x7e]+$/.test(blobId)) fail('BAD_FORMAT', 'blob id must be printable ASCII');
  return blobId;
}

/**
 * Encodes a photo message (spec §10.4):
 * `u8 version ‖ 32 photoKey ‖ u8 mime ‖ u32 byteLength ‖ u16 width ‖ u16 height ‖ 32 digest ‖
 * u8 len ‖ blobId ‖ u16 len ‖ thumbnail`.
 *
 * @example
 * const plaintext = encodePhotoMetadata({ mime: 'image/jpeg', byteLength, width, height, ciphertextSha256, blobId, thumbnail: new Uint8Array(0) });
 */
export function encodePhotoMetadata(meta: PhotoMetadata): Uint8Array {
  if (typeof meta !== 'object' || meta === null) fail('BAD_TYPE', 'photo metadata must be an object');
  const blobId = utf8(checkBlobId(meta.blobId));
  expectBytes(meta.thumbnail, 'thumbnail');
  if (meta.thumbnail.length > MAX_THUMBNAIL_BYTES)
    fail('BAD_LENGTH', `thumbnail larger than ${MAX_THUMBNAIL_BYTES} bytes`);
  return new ByteWriter()
    .u8(PHOTO_METADATA_VERSION)
    .fixed(meta.photoKey, PHOTO_KEY_BYTES, 'photo key')
    .u8(MIME_TO_CODE[checkMime(meta.mime)])
    .u32(expectInt(meta.byteLength, 'byteLength', 1, MAX_PHOTO_BYTES))
    .u16(expectInt(meta.width, 'width', 1, MAX_PHOTO_DIMENSION))
    .u16(expectInt(meta.height, 'height', 1, MAX_PHOTO_DIMENSION))
    .fixed(meta.ciphertextSha256, PHOTO_DIGEST_BYTES, 'ciphertext digest')
    .u8(blobId.length)
    .fixed(blobId, blobId.length, 'blob id')
    .bytes16(meta.thumbnail, 'thumbnail')
    .finish();
}

/**
 * Decodes a photo message strictly: unknown version UNSUPPORTED_VERSION; unknown type,
 * out-of-range field, truncation or trailing bytes BAD_FORMAT.
 *
 * @example
 * const meta = decodePhotoMetadata(plaintextOfPhotoMessage);
 */
export function decodePhotoMetadata(bytes: Uint8Array): PhotoMetadata {
  const r = new ByteReader(expectBytes(bytes, 'photo metadata'), 'photo metadata');
  const version = r.u8('version');
  if (version !== PHOTO_METADATA_VERSION) fail('UNSUPPORTED_VERSION', `photo metadata version ${version}`);
  const photoKey = r.fixed(PHOTO_KEY_BYTES, 'photo key');
  const mime = CODE_TO_MIME[r.u8('mime')] ?? fail('BAD_FORMAT', 'photo metadata: unknown image type');
  const inRange = (n: number, field: string, max: number): number =>
    n >= 1 && n <= max ? n : fail('BAD_FORMAT', `photo metadata: ${field} out of range`);
  const byteLength = inRange(r.u32('byteLength'), 'byteLength', MAX_PHOTO_BYTES);
  const width = inRange(r.u16('width'), 'width', MAX_PHOTO_DIMENSION);
  const height = inRange(r.u16('height'), 'height', MAX_PHOTO_DIMENSION);
  const ciphertextSha256 = r.fixed(PHOTO_DIGEST_BYTES, 'digest');
  const blobIdBytes = r.fixed(r.u8('blob id length'), 'blob id');
  const thumbnail = r.bytes16('thumbnail', MAX_THUMBNAIL_BYTES);
  r.end();
  let blobId: string;
  try {
    blobId = checkBlobId(fromUtf8(blobIdBytes));
  } catch {
    return fail('BAD_FORMAT', 'photo metadata: bad blob id');
  }
  return { photoKey, mime, byteLength, width, height, ciphertextSha256, blobId, thumbnail };
}
