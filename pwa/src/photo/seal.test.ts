import { describe, expect, it } from 'vitest';
import { tinyJpeg } from './exif-fixture.ts';
import type { PreparedPhoto } from './prepare.ts';
import {
  expectedCiphertextBytes,
  openPhoto,
  photoMetadataPlaintext,
  readPhotoMetadata,
  sealPhoto,
} from './seal.ts';

const keys = () => ({
  messageKey: crypto.getRandomValues(new Uint8Array(32)),
  header: crypto.getRandomValues(new Uint8Array(56)),
});

describe('photo sealing over crypto-core', () => {
  it('round-trips through the metadata message and checks the digest', async () => {
    const k = keys();
    const photo: PreparedPhoto = {
      bytes: tinyJpeg(),
      mime: 'image/jpeg',
      width: 16,
      height: 8,
      thumbnail: new Uint8Array(0),
    };
    const sealed = await sealPhoto(k, photo);
    expect(sealed.ciphertext.length).toBe(expectedCiphertextBytes({ byteLength: photo.bytes.length }));
    const meta = readPhotoMetadata(photoMetadataPlaintext(photo, sealed, 'blob-123'));
    expect(meta).toMatchObject({ mime: 'image/jpeg', width: 16, height: 8, blobId: 'blob-123' });
    expect(await openPhoto(k, meta, sealed.ciphertext)).toEqual(photo.bytes);
    // The plaintext appears nowhere in the blob the relay stores.
    const hay = new TextDecoder('latin1').decode(sealed.ciphertext);
    expect(hay).not.toContain(new TextDecoder('latin1').decode(photo.bytes.subarray(20, 60)));

    const tampered = sealed.ciphertext.slice();
    tampered[100] = (tampered[100] as number) ^ 1;
    await expect(openPhoto(k, meta, tampered)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(openPhoto(keys(), meta, sealed.ciphertext)).rejects.toThrow();
  });
});
