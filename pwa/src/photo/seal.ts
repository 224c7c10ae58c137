// Photo encryption glue over crypto-core (spec/protocol.md §10): the blob is C2SP-chunked
// under a key derived from the carrying message's key and bound to its header; the metadata
// (type, size, digest, relay blob id, thumbnail) is the plaintext of that message.
import { decryptPhoto, encryptPhoto, photoCiphertextLength } from '@secure-drop/crypto-core/photo';
import {
  decodePhotoMetadata,
  encodePhotoMetadata,
  type PhotoMetadata,
} from '@secure-drop/crypto-core/photo-metadata';
import type { PreparedPhoto } from './prepare.ts';

export interface PhotoMessageKeys {
  readonly messageKey: Uint8Array;
  readonly header: Uint8Array;
}

export async function sealPhoto(keys: PhotoMessageKeys, photo: PreparedPhoto) {
  return encryptPhoto(keys.messageKey, keys.header, photo.bytes);
}

export function photoMetadataPlaintext(
  photo: PreparedPhoto,
  sealed: { ciphertextSha256: Uint8Array; byteLength: number },
  blobId: string,
): Uint8Array {
  return encodePhotoMetadata({
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

/** Checks length and digest, then decrypts (crypto-core throws DIGEST_MISMATCH / AUTH_FAILED). */
export function openPhoto(
  keys: PhotoMessageKeys,
  meta: PhotoMetadata,
  ciphertext: Uint8Array,
): Promise<Uint8Array> {
  return decryptPhoto(keys.messageKey, keys.header, meta, ciphertext);
}
