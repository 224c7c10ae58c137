/**
 * Photo encryption and the photo message (spec/protocol.md §10, version 3): round trips in
 * any split, the digest and length check (DIGEST_MISMATCH), the random photo key and the
 * constant context, the image-type check, and strict decoding of the metadata (a version 2
 * photo message is UNSUPPORTED_VERSION).
 */

import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nobleAesGcm } from '../src/aes-gcm.js';
import { concat } from '../src/bytes.js';
import { CHUNK_BYTES, CHUNKED_HEADER_BYTES, encryptChunked } from '../src/chunked.js';
import { paddedPhotoLength } from '../src/padding.js';
import {
  createPhotoDecryptor,
  createPhotoEncryptor,
  decryptPhoto,
  encryptPhoto,
  generatePhotoKey,
  PHOTO_CONTEXT,
  photoCiphertextLength,
} from '../src/photo.js';
import {
  decodePhotoMetadata,
  encodePhotoMetadata,
  MAX_PHOTO_BLOB_BYTES,
  MAX_PHOTO_BYTES,
  type PhotoMetadata,
} from '../src/photo-metadata.js';

const photoKey = new Uint8Array(32).map((_, i) => 100 + i);
const jpeg = (n: number) =>
  new Uint8Array(n).map((_, i) => (i < 3 ? [0xff, 0xd8, 0xff][i] : (i * 31) & 0xff) as number);
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function cut(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length] as number;
    pieces.push(data.subarray(at, at + n));
    at += n;
  }
  return pieces;
}

async function sealed(n: number) {
  const photo = jpeg(n);
  const out = await encryptPhoto(photoKey, photo);
  return {
    photo,
    ...out,
    meta: { mime: 'image/jpeg' as const, byteLength: n, ciphertextSha256: out.ciphertextSha256 },
  };
}

describe('photo encryption', () => {
  it('round-trips through any split pattern, streaming equal to one-shot', async () => {
    const len = fc.oneof(
      fc.constantFrom(3, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1),
      fc.integer({ min: 3, max: 50_000 }),
    );
    const sizes = fc.array(fc.integer({ min: 1, max: 40_000 }), { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(len, sizes, sizes, async (n, encSplit, decSplit) => {
        const salt = (k: number) => new Uint8Array(k).fill(5);
        const photo = jpeg(n);
        const one = await encryptPhoto(photoKey, photo, { random: salt });
        expect(one.ciphertext.length).toBe(photoCiphertextLength(n));
        expect(one.ciphertextLength).toBe(one.ciphertext.length);
        const enc = createPhotoEncryptor(photoKey, { random: salt });
        const parts: Uint8Array[] = [];
        for (const p of cut(photo, encSplit)) parts.push(await enc.push(p));
        const fin = await enc.finish();
        expect(concat(...parts, fin.tail)).toEqual(one.ciphertext);
        expect(fin.ciphertextSha256).toEqual(one.ciphertextSha256);
        const meta = { mime: 'image/jpeg' as const, byteLength: n, ciphertextSha256: one.ciphertextSha256 };
        const dec = createPhotoDecryptor(photoKey, meta, { aead: nobleAesGcm });
        const out: Uint8Array[] = [];
        for (const p of cut(one.ciphertext, decSplit)) out.push(await dec.push(p));
        out.push(await dec.finish());
        expect(concat(...out)).toEqual(photo);
        expect(await decryptPhoto(photoKey, meta, one.ciphertext)).toEqual(photo);
      }),
      { numRuns: 25 },
    );
  });

  it('rejects a tampered, swapped, shortened or lengthened blob as DIGEST_MISMATCH', async () => {
    const a = await sealed(20_000);
    const b = await sealed(20_000);
    const flipped = a.ciphertext.slice();
    flipped[100] = (flipped[100] as number) ^ 1;
    for (const blob of [
      flipped,
      b.ciphertext,
      a.ciphertext.subarray(1),
      concat(a.ciphertext, Uint8Array.of(0)),
    ])
      await expect(decryptPhoto(photoKey, a.meta, blob)).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
      });
    // Streaming: a longer blob fails as soon as it exceeds the announced length.
    const dec = createPhotoDecryptor(photoKey, a.meta);
    await dec.push(a.ciphertext);
    await expect(dec.push(Uint8Array.of(0))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(dec.finish()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    // Streaming: a blob sealed under the same key (a re-encryption) decrypts, but the
    // digest check at finish refuses it.
    const sameKey = createPhotoDecryptor(photoKey, a.meta);
    await sameKey.push(b.ciphertext);
    await expect(sameKey.finish()).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    // Streaming: another message's blob fails at the key commitment, before releasing anything.
    const otherKey = photoKey.map((x) => x ^ 0xff);
    const other = await encryptPhoto(otherKey, a.photo);
    const swapped = createPhotoDecryptor(photoKey, a.meta);
    await expect(swapped.push(other.ciphertext)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('opens only under its own photo key; keys are fresh 32-byte CSPRNG draws (§10.1, §10.3)', async () => {
    const a = await sealed(5000);
    const otherKey = photoKey.slice();
    otherKey[0] = (otherKey[0] as number) ^ 1;
    await expect(decryptPhoto(otherKey, a.meta, a.ciphertext)).rejects.toMatchObject({
      code: 'AUTH_FAILED',
    });
    const keys = new Set(Array.from({ length: 64 }, () => Buffer.from(generatePhotoKey()).toString('hex')));
    expect(keys.size).toBe(64);
    expect(generatePhotoKey()).toHaveLength(32);
    expect(new TextDecoder().decode(PHOTO_CONTEXT)).toBe('SecureDrop_PhotoBlob_v3\0');
  });

  it('one-shot: a digest mismatch wins over every other failure of the same call', async () => {
    // The digest is the first check on the blob: no key or chunk error can mask it.
    const a = await sealed(40_000);
    const tampered = a.ciphertext.slice();
    tampered[CHUNKED_HEADER_BYTES + 5] = (tampered[CHUNKED_HEADER_BYTES + 5] as number) ^ 1; // a chunk, not the header
    const wrongKey = photoKey.map((x) => x ^ 1);
    for (const key of [photoKey, wrongKey])
      await expect(decryptPhoto(key, a.meta, tampered)).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
      });
  });

  it('refuses content that is not the announced image type', async () => {
    const png = new Uint8Array(100).map((_, i) => PNG_MAGIC[i] ?? i);
    const out = await encryptPhoto(photoKey, png);
    const asJpeg = { mime: 'image/jpeg' as const, byteLength: 100, ciphertextSha256: out.ciphertextSha256 };
    await expect(decryptPhoto(photoKey, asJpeg, out.ciphertext)).rejects.toMatchObject({
      code: 'BAD_FORMAT',
    });
    expect(await decryptPhoto(photoKey, { ...asJpeg, mime: 'image/png' }, out.ciphertext)).toEqual(png);
  });

  it('enforces the size limits', async () => {
    const enc = createPhotoEncryptor(photoKey);
    await expect(enc.finish()).rejects.toMatchObject({ code: 'BAD_LENGTH' });
    const big = createPhotoEncryptor(photoKey);
    await expect(big.push(new Uint8Array(MAX_PHOTO_BYTES + 1))).rejects.toMatchObject({ code: 'BAD_LENGTH' });
    expect(() => photoCiphertextLength(MAX_PHOTO_BYTES + 1)).toThrow(
      expect.objectContaining({ code: 'BAD_LENGTH' }),
    );
    expect(photoCiphertextLength(MAX_PHOTO_BYTES)).toBe(MAX_PHOTO_BLOB_BYTES);
    expect(MAX_PHOTO_BLOB_BYTES).toBeLessThanOrEqual(25 * 1024 * 1024); // the relay's default upload limit
  });

  it('pads to the Padmé length (§10.2): close sizes share a blob length, the exact length comes back', async () => {
    // padme(1,000,000) = 1,015,808: every size in (999,424, 1,015,808] gives one blob length.
    expect(paddedPhotoLength(1_000_000)).toBe(1_015_808);
    expect(paddedPhotoLength(MAX_PHOTO_BYTES)).toBe(MAX_PHOTO_BYTES); // capped, never above the limit
    const a = await sealed(999_500);
    const b = await sealed(1_015_808);
    expect(a.ciphertext.length).toBe(b.ciphertext.length);
    expect(a.ciphertextLength).toBe(photoCiphertextLength(999_500));
    expect(await decryptPhoto(photoKey, a.meta, a.ciphertext)).toEqual(a.photo);
    // Streaming agrees, and never releases a padding byte.
    const enc = createPhotoEncryptor(photoKey, { random: () => a.ciphertext.slice(0, 24) });
    const streamed = concat(await enc.push(a.photo), (await enc.finish()).tail);
    expect(streamed).toEqual(a.ciphertext);
    const dec = createPhotoDecryptor(photoKey, a.meta);
    const parts = [];
    for (const piece of cut(a.ciphertext, [70_000])) parts.push(await dec.push(piece));
    parts.push(await dec.finish());
    expect(concat(...parts)).toEqual(a.photo);
  });

  it('a blob whose padding is not zero is BAD_FORMAT, one-shot and streaming (§10.2)', async () => {
    const photo = jpeg(200);
    const padded = new Uint8Array(paddedPhotoLength(200)); // 208
    padded.set(photo);
    padded[205] = 1;
    const ciphertext = await encryptChunked(photoKey, padded, PHOTO_CONTEXT);
    const meta = { mime: 'image/jpeg' as const, byteLength: 200, ciphertextSha256: sha256(ciphertext) };
    await expect(decryptPhoto(photoKey, meta, ciphertext)).rejects.toMatchObject({
      code: 'BAD_FORMAT',
    });
    const dec = createPhotoDecryptor(photoKey, meta);
    await expect(
      (async () => {
        await dec.push(ciphertext);
        return dec.finish();
      })(),
    ).rejects.toMatchObject({ code: 'BAD_FORMAT' });
    // The same bytes announced with their padded length are a valid 208-byte photo.
    expect(await decryptPhoto(photoKey, { ...meta, byteLength: 208 }, ciphertext)).toEqual(padded);
  });
});

const metadata: fc.Arbitrary<PhotoMetadata> = fc.record({
  photoKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  mime: fc.constantFrom('image/jpeg' as const, 'image/png' as const),
  byteLength: fc.integer({ min: 1, max: MAX_PHOTO_BYTES }),
  width: fc.integer({ min: 1, max: 16_384 }),
  height: fc.integer({ min: 1, max: 16_384 }),
  ciphertextSha256: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  blobId: fc.stringMatching(/^[\x21-\x7e]{1,128}$/),
  thumbnail: fc.uint8Array({ maxLength: 300 }),
});

/** A valid metadata record for a small PNG, for tests that change one field of it. */
const smallPng = (): PhotoMetadata => ({
  photoKey: new Uint8Array(32).fill(3),
  mime: 'image/png',
  byteLength: 10,
  width: 2,
  height: 3,
  ciphertextSha256: new Uint8Array(32),
  blobId: 'blob-1',
  thumbnail: new Uint8Array(0),
});

describe('photo metadata encoding', () => {
  it('round-trips and rejects every truncation and any trailing byte', () => {
    fc.assert(
      fc.property(metadata, fc.nat(), (m, cutAt) => {
        const bytes = encodePhotoMetadata(m);
        expect(decodePhotoMetadata(bytes)).toEqual(m);
        expect(() => decodePhotoMetadata(bytes.subarray(0, cutAt % bytes.length))).toThrow(
          expect.objectContaining({ code: expect.stringMatching(/BAD_FORMAT|UNSUPPORTED_VERSION/) }),
        );
        expect(() => decodePhotoMetadata(concat(bytes, Uint8Array.of(0)))).toThrow(
          expect.objectContaining({ code: 'BAD_FORMAT' }),
        );
      }),
      { numRuns: 100 },
    );
  });

  it('rejects unknown versions, types and out-of-range fields', () => {
    const m = smallPng();
    const good = encodePhotoMetadata(m);
    const edit = (i: number, v: number) => {
      const b = good.slice();
      b[i] = v;
      return b;
    };
    for (const version of [1, 2, 4])
      expect(() => decodePhotoMetadata(edit(0, version))).toThrow(
        expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }),
      );
    // The photo key sits right after the version byte (§10.4): every later offset moves by 32.
    expect(good.subarray(1, 33)).toEqual(m.photoKey);
    expect(() => decodePhotoMetadata(edit(33, 3))).toThrow(expect.objectContaining({ code: 'BAD_FORMAT' }));
    expect(() => decodePhotoMetadata(edit(39, 0))).toThrow(expect.objectContaining({ code: 'BAD_FORMAT' })); // width 0
    expect(() => decodePhotoMetadata(edit(34, 0x7f))).toThrow(
      expect.objectContaining({ code: 'BAD_FORMAT' }),
    ); // size
    expect(() => decodePhotoMetadata(edit(75, 0x20))).toThrow(
      expect.objectContaining({ code: 'BAD_FORMAT' }),
    ); // space in id
    expect(() => encodePhotoMetadata({ ...m, blobId: 'a b' })).toThrow(
      expect.objectContaining({ code: 'BAD_FORMAT' }),
    );
    expect(() => encodePhotoMetadata({ ...m, width: 0 })).toThrow(
      expect.objectContaining({ code: 'BAD_LENGTH' }),
    );
    expect(() => encodePhotoMetadata({ ...m, thumbnail: new Uint8Array(16_385) })).toThrow(
      expect.objectContaining({ code: 'BAD_LENGTH' }),
    );
  });

  it('a type named like an Object property (toString, constructor, __proto__) is BAD_FORMAT, not looked up', async () => {
    const m = smallPng();
    for (const mime of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const odd = { ...m, mime } as unknown as PhotoMetadata;
      expect(() => encodePhotoMetadata(odd), mime).toThrow(expect.objectContaining({ code: 'BAD_FORMAT' }));
      expect(() => createPhotoDecryptor(m.photoKey, odd), mime).toThrow(
        expect.objectContaining({ code: 'BAD_FORMAT' }),
      );
      await expect(decryptPhoto(m.photoKey, odd, new Uint8Array(64)), mime).rejects.toMatchObject({
        code: 'BAD_FORMAT',
      });
    }
  });
});
