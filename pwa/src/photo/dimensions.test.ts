// Pixel dimensions from headers (dimensions.ts): what a picture declares before any decoding.
import { crc32 } from 'node:zlib';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { fileSize, headerSize, isAsAnnounced, MAX_INPUT_PIXELS } from './dimensions.ts';
import { exifGpsSegment, largeJpeg, tinyJpeg, withSegment } from './exif-fixture.ts';
import { preparePhoto } from './prepare.ts';
import { PhotoRejected } from './rejected.ts';

const u32be = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const u16le = (v: number) => [v & 255, (v >>> 8) & 255];
const u24le = (v: number) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255];
/** A file of `bytes` (Blob takes only ArrayBuffer-backed views). */
const blob = (bytes: Uint8Array) => new Blob([bytes as Uint8Array<ArrayBuffer>]);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));

/** A PNG's signature and IHDR (with its CRC), declaring `width`×`height`: what a decoder reads first. */
function pngHeader(width: number, height: number): Uint8Array {
  const ihdr = [...ascii('IHDR'), ...u32be(width), ...u32be(height), 8, 6, 0, 0, 0];
  return Uint8Array.from([
    0x89,
    0x50,
    0x4e,
    0x47,
    0x0d,
    0x0a,
    0x1a,
    0x0a,
    ...u32be(13),
    ...ihdr,
    ...u32be(crc32(Uint8Array.from(ihdr))),
  ]);
}

/** A GIF89a's header and logical screen descriptor declaring `width`×`height`. */
const gifHeader = (width: number, height: number) =>
  Uint8Array.from([...ascii('GIF89a'), ...u16le(width), ...u16le(height), 0, 0, 0]);

/** An extended WebP (VP8X) declaring a canvas of `width`×`height` (RFC 9649 §2.7). */
const webpHeader = (width: number, height: number) =>
  Uint8Array.from([
    ...ascii('RIFF'),
    ...u32be(0).reverse(),
    ...ascii('WEBP'),
    ...ascii('VP8X'),
    10,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...u24le(width - 1),
    ...u24le(height - 1),
  ]);

describe('headerSize', () => {
  it('reads JPEG, PNG, GIF and WebP dimensions from the header alone', () => {
    expect(headerSize(tinyJpeg())).toEqual({ width: 16, height: 8, type: 'jpg' });
    const png = PNG.sync.write(new PNG({ width: 3, height: 5 }));
    expect(headerSize(png)).toEqual({ width: 3, height: 5, type: 'png' });
    // A header declares what it likes: 60,000 × 60,000 in 33 bytes.
    expect(headerSize(pngHeader(60_000, 60_000))).toEqual({ width: 60_000, height: 60_000, type: 'png' });
    expect(headerSize(gifHeader(65_535, 40_000))).toEqual({ width: 65_535, height: 40_000, type: 'gif' });
    expect(headerSize(webpHeader(16_000, 9_000))).toMatchObject({
      width: 16_000,
      height: 9_000,
      type: 'webp',
    });
  });

  it('finds a JPEG frame header after its metadata segments', () => {
    expect(headerSize(withSegment(tinyJpeg(), exifGpsSegment()))).toMatchObject({ width: 16, height: 8 });
  });

  it('is null for truncated, corrupt or unknown bytes', () => {
    expect(headerSize(tinyJpeg().subarray(0, 30))).toBeNull();
    expect(headerSize(pngHeader(10, 10).subarray(0, 12))).toBeNull();
    expect(headerSize(new Uint8Array(0))).toBeNull();
    expect(headerSize(Uint8Array.from(ascii('hello, world')))).toBeNull();
    expect(headerSize(pngHeader(0, 10))).toBeNull();
  });
});

describe('fileSize', () => {
  it('reads the whole file when the JPEG frame header is past the first MiB', async () => {
    const jpeg = largeJpeg(1024 * 1024 + 1);
    expect(jpeg.length).toBeGreaterThan(1024 * 1024);
    expect(await fileSize(blob(jpeg))).toMatchObject({ width: 16, height: 8, type: 'jpg' });
  });
});

describe('isAsAnnounced', () => {
  it('holds only for the announced type and exact dimensions', () => {
    const jpeg = tinyJpeg();
    expect(isAsAnnounced({ mime: 'image/jpeg', width: 16, height: 8 }, jpeg)).toBe(true);
    expect(isAsAnnounced({ mime: 'image/jpeg', width: 8, height: 16 }, jpeg)).toBe(false);
    expect(isAsAnnounced({ mime: 'image/jpeg', width: 16, height: 9 }, jpeg)).toBe(false);
    expect(isAsAnnounced({ mime: 'image/png', width: 16, height: 8 }, jpeg)).toBe(false);
    const png = pngHeader(4000, 3000);
    expect(isAsAnnounced({ mime: 'image/png', width: 4000, height: 3000 }, png)).toBe(true);
    expect(isAsAnnounced({ mime: 'image/png', width: 40, height: 30 }, png)).toBe(false);
    expect(isAsAnnounced({ mime: 'image/png', width: 16, height: 8 }, jpeg.subarray(0, 30))).toBe(false);
  });
});

describe('preparePhoto (the pixels counted before decoding)', () => {
  it('refuses a picture whose header declares more than MAX_INPUT_PIXELS, before it is decoded', async () => {
    // Decoding is left to the browser, which would allocate 4 bytes per declared pixel: 14 GB for
    // this 33-byte PNG. Node has no decoder, so reaching one would fail as unsupported_image.
    for (const bomb of [pngHeader(60_000, 60_000), gifHeader(65_535, 65_535), webpHeader(16_384, 16_384)])
      await expect(preparePhoto(blob(bomb))).rejects.toEqual(new PhotoRejected('too_large'));
    const justOver = pngHeader(12_000, Math.floor(MAX_INPUT_PIXELS / 12_000) + 1);
    await expect(preparePhoto(blob(justOver))).rejects.toEqual(new PhotoRejected('too_large'));
  });

  it('refuses a picture whose header cannot be read', async () => {
    await expect(preparePhoto(blob(pngHeader(10, 10).subarray(0, 20)))).rejects.toEqual(
      new PhotoRejected('unsupported_image'),
    );
  });
});
