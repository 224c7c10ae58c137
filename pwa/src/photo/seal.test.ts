// @vitest-environment node
// Photo sealing runs on WebCrypto, Blob and crypto-core only: Node's native ones, as a browser's.
import { decryptPhoto, encryptPhoto } from '@secure-drop/crypto-core/photo';
import { describe, expect, it } from 'vitest';
import { largeJpeg, tinyJpeg } from './exif-fixture.ts';
import type { PreparedPhoto } from './prepare.ts';
import {
  expectedCiphertextBytes,
  newPhotoKey,
  openPhoto,
  photoMetadataPlaintext,
  readPhotoMetadata,
  sealPhoto,
} from './seal.ts';

const keys = () => newPhotoKey();

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
    const ciphertext = new Uint8Array(await sealed.ciphertext.arrayBuffer());
    expect(ciphertext.length).toBe(expectedCiphertextBytes({ byteLength: photo.bytes.length }));
    expect(sealed.ciphertext.size).toBe(sealed.ciphertextLength);
    const meta = readPhotoMetadata(photoMetadataPlaintext(photo, sealed, 'blob-123', k));
    expect(meta).toMatchObject({ mime: 'image/jpeg', width: 16, height: 8, blobId: 'blob-123' });
    expect(meta.photoKey).toEqual(k);
    expect(await openPhoto(meta, ciphertext)).toEqual(photo.bytes);
    // The plaintext appears nowhere in the blob the relay stores.
    const hay = new TextDecoder('latin1').decode(ciphertext);
    expect(hay).not.toContain(new TextDecoder('latin1').decode(photo.bytes.subarray(20, 60)));

    const tampered = ciphertext.slice();
    tampered[100] = (tampered[100] as number) ^ 1;
    await expect(openPhoto(meta, tampered)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(openPhoto({ ...meta, photoKey: keys() }, ciphertext)).rejects.toThrow();
  });

  it('streams a photo of two pieces into one Blob that crypto-core one-shot opens, and opens one-shot blobs', async () => {
    const k = keys();
    // Over 1 MiB so that sealing takes two pieces; a real JPEG, as opening checks its header.
    const bytes = largeJpeg(1024 * 1024 + 12_345);
    const photo: PreparedPhoto = {
      bytes,
      mime: 'image/jpeg',
      width: 16,
      height: 8,
      thumbnail: new Uint8Array(0),
    };
    const sealed = await sealPhoto(k, photo);
    const ciphertext = new Uint8Array(await sealed.ciphertext.arrayBuffer());
    expect(ciphertext.length).toBe(expectedCiphertextBytes({ byteLength: bytes.length }));
    const meta = readPhotoMetadata(photoMetadataPlaintext(photo, sealed, 'blob-456', k));
    // (Buffer.equals: toEqual walks a megabyte element by element, for minutes under load.)
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(b);
    // crypto-core's one-shot decryption agrees with the streamed sealing…
    expect(same(await decryptPhoto(k, meta, ciphertext), bytes)).toBe(true);
    // …and photo/seal.ts's opening with crypto-core's one-shot sealing.
    const oneShot = await encryptPhoto(k, bytes);
    const oneShotMeta = { ...meta, ciphertextSha256: oneShot.ciphertextSha256 };
    expect(same(await openPhoto(oneShotMeta, oneShot.ciphertext), bytes)).toBe(true);
    // A tampered chunk past the first piece is refused before any chunk is opened, and a blob
    // one byte short too: the whole blob is checked first (spec §10.5, one-shot receiver).
    const late = oneShot.ciphertext.slice();
    late[1024 * 1024 + 77] = (late[1024 * 1024 + 77] as number) ^ 1;
    await expect(openPhoto(oneShotMeta, late)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(openPhoto(oneShotMeta, oneShot.ciphertext.subarray(1))).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
  });
});
