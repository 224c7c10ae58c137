// Photo encryption glue over crypto-core (spec/protocol.md §10, photo message v3): the blob is
// C2SP-chunked under a RANDOM 32-byte photo key, so it is uploaded once and the same photo
// message — key, digest, relay blob id, type, size, thumbnail — goes in every device's copy
// (spec §16 "photos upload once"); the digest in the message binds the blob.
//
// Sealing goes through crypto-core's streaming photo encryptor a piece at a time and hands
// each piece of ciphertext to a Blob as it is made: no padded copy of the photo and no
// contiguous ciphertext beside it, so a 25 MB photo is not held twice (pwa/BENCHMARKS.md).
import {
  createPhotoEncryptor,
  decryptPhoto,
  generatePhotoKey,
  photoCiphertextLength,
} from '@secure-drop/crypto-core/photo';
import {
  decodePhotoMetadata,
  encodePhotoMetadata,
  type PhotoMetadata,
} from '@secure-drop/crypto-core/photo-metadata';
import { isAsAnnounced } from './dimensions.ts';
import type { PreparedPhoto } from './prepare.ts';
import { PhotoRejected } from './rejected.ts';

/** spec §10.1 v3: photoKey = 32 random bytes from a CSPRNG, fresh per photo. */
export const newPhotoKey = (): Uint8Array => generatePhotoKey();

/** A sealed photo: the blob the relay stores, and what its metadata must say about it. */
export interface SealedPhoto {
  /** The ciphertext (spec §10.2), as a Blob: what an upload reads, piece by piece if it likes. */
  readonly ciphertext: Blob;
  /** SHA-256 of the whole ciphertext (spec §10.5). */
  readonly ciphertextSha256: Uint8Array;
  /** Photo bytes before padding (spec §10.4). */
  readonly byteLength: number;
  /** Ciphertext bytes. */
  readonly ciphertextLength: number;
}

/**
 * Bytes handed to the encryptor at a time: 64 chunks of 16 KiB, enough for WebCrypto to pipeline
 * (crypto-core chunked-raw.ts seals a push's chunks concurrently), small beside a photo.
 */
const PIECE_BYTES = 1024 * 1024;

const asBlobPart = (bytes: Uint8Array) => bytes as Uint8Array<ArrayBuffer>;

export async function sealPhoto(photoKey: Uint8Array, photo: PreparedPhoto): Promise<SealedPhoto> {
  const enc = createPhotoEncryptor(photoKey);
  const pieces: Blob[] = [];
  try {
    for (let at = 0; at < photo.bytes.length; at += PIECE_BYTES)
      pieces.push(new Blob([asBlobPart(await enc.push(photo.bytes.subarray(at, at + PIECE_BYTES)))]));
  } catch (err) {
    enc.abort();
    throw err;
  }
  const { tail, ciphertextSha256, byteLength, ciphertextLength } = await enc.finish();
  pieces.push(new Blob([asBlobPart(tail)]));
  return {
    ciphertext: new Blob(pieces, { type: 'application/octet-stream' }),
    ciphertextSha256,
    byteLength,
    ciphertextLength,
  };
}

export function photoMetadataPlaintext(
  photo: PreparedPhoto,
  sealed: { ciphertextSha256: Uint8Array; byteLength: number },
  blobId: string,
  photoKey: Uint8Array,
): Uint8Array {
  return encodePhotoMetadata({
    photoKey,
    mime: photo.mime,
    byteLength: sealed.byteLength,
    width: photo.width,
    height: photo.height,
    ciphertextSha256: sealed.ciphertextSha256,
    blobId,
    thumbnail: photo.thumbnail,
  });
}

export const readPhotoMetadata = (plaintext: Uint8Array): PhotoMetadata => decodePhotoMetadata(plaintext);

export const expectedCiphertextBytes = (meta: Pick<PhotoMetadata, 'byteLength'>) =>
  photoCiphertextLength(meta.byteLength);

/**
 * Checks length and digest, then decrypts (crypto-core throws DIGEST_MISMATCH / AUTH_FAILED), then
 * checks that the picture is the one announced: its type and its header's width and height
 * (spec §10.5), else `photo_mismatch`. The sender is an authenticated contact, but a picture that
 * declares other dimensions than its message is not shown.
 * One-shot: the download holds the whole blob already, and streaming it through
 * createPhotoDecryptor measured 0.84× the peak memory at about 3× the time (a second,
 * pure-JS hash of the blob) — pwa/BENCHMARKS.md.
 */
export async function openPhoto(meta: PhotoMetadata, ciphertext: Uint8Array): Promise<Uint8Array> {
  const bytes = await decryptPhoto(meta.photoKey, meta, ciphertext);
  if (!isAsAnnounced(meta, bytes)) throw new PhotoRejected('photo_mismatch');
  return bytes;
}
