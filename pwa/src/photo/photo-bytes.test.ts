// The byte-level half of the photo pipeline (the decode/re-encode half needs a real canvas
// and is tested in Chromium: e2e/photo.e2e.ts).
import { describe, expect, it } from 'vitest';
import { EXIF_MAKE, exifGpsSegment, jpegWithGps, tinyJpeg, withSegment } from './exif-fixture.ts';
import { scanMetadata } from './metadata-scan.ts';
import { preparePhoto } from './prepare.ts';
import { fitWithin } from './reencode.ts';
import { PhotoRejected } from './rejected.ts';
import { sniffImageType, sniffInputType } from './sniff.ts';

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function pngChunk(type: string, data: number[]): number[] {
  const len = data.length;
  // The CRC is not checked by the scanner; zero is fine for this structural test.
  return [
    (len >>> 24) & 255,
    (len >>> 16) & 255,
    (len >>> 8) & 255,
    len & 255,
    ...[...type].map((c) => c.charCodeAt(0)),
    ...data,
    0,
    0,
    0,
    0,
  ];
}

describe('sniffInputType', () => {
  it('also takes WebP and GIF, which are sent re-encoded, by their bytes only', () => {
    const ascii = (s: string) => new TextEncoder().encode(s);
    expect(sniffInputType(tinyJpeg())).toBe('image/jpeg');
    expect(sniffInputType(Uint8Array.from(PNG_SIG))).toBe('image/png');
    expect(sniffInputType(ascii('RIFF\x10\0\0\0WEBPVP8 '))).toBe('image/webp');
    expect(sniffInputType(ascii('GIF87a'))).toBe('image/gif');
    expect(sniffInputType(ascii('GIF89a'))).toBe('image/gif');
    // RIFF of another form (a WAV), a short RIFF, a GIF-like text, SVG.
    expect(sniffInputType(ascii('RIFF\x10\0\0\0WAVEfmt '))).toBeNull();
    expect(sniffInputType(ascii('RIFF\x10\0\0\0WEB'))).toBeNull();
    expect(sniffInputType(ascii('GIF8'))).toBeNull();
    expect(sniffInputType(ascii('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
  });
});

describe('sniffImageType', () => {
  it('recognises JPEG and PNG from their first bytes only', () => {
    expect(sniffImageType(tinyJpeg())).toBe('image/jpeg');
    expect(sniffImageType(Uint8Array.from(PNG_SIG))).toBe('image/png');
  });

  it('refuses other content whatever it is called, including truncated signatures', () => {
    expect(sniffImageType(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
    expect(sniffImageType(new TextEncoder().encode('GIF89a'))).toBeNull();
    expect(sniffImageType(new TextEncoder().encode('RIFF\0\0\0\0WEBPVP8 '))).toBeNull();
    expect(sniffImageType(Uint8Array.from([0xff, 0xd8]))).toBeNull();
    expect(sniffImageType(Uint8Array.from(PNG_SIG.slice(0, 7)))).toBeNull();
    expect(sniffImageType(new Uint8Array(0))).toBeNull();
  });
});

describe('scanMetadata', () => {
  it('finds EXIF with GPS in a JPEG that carries it', () => {
    const bytes = jpegWithGps();
    expect(scanMetadata(bytes).found).toEqual(expect.arrayContaining(['exif', 'gps']));
    expect(new TextDecoder('latin1').decode(bytes)).toContain(EXIF_MAKE);
  });

  it('finds nothing but the colour profile in the plain encoder output', () => {
    expect(scanMetadata(tinyJpeg()).found).toEqual(['icc']);
  });

  it('tells EXIF without GPS apart, and finds comments and XMP', () => {
    const seg = exifGpsSegment();
    // Rename the GPS pointer tag (0x8825 → 0x8826) to make it EXIF without GPS.
    const i = seg.findIndex((b, k) => b === 0x25 && seg[k + 1] === 0x88);
    const noGps = seg.slice();
    noGps[i] = 0x26;
    expect(scanMetadata(withSegment(tinyJpeg(), noGps)).found).toEqual(['exif', 'icc']);
    const comment = Uint8Array.from([0xff, 0xfe, 0, 7, 0x68, 0x65, 0x6c, 0x6c, 0x6f]);
    expect(scanMetadata(withSegment(tinyJpeg(), comment)).found).toContain('comment');
    const xmpText = new TextEncoder().encode('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>');
    const xmp = Uint8Array.from([0xff, 0xe1, 0, xmpText.length + 2, ...xmpText]);
    expect(scanMetadata(withSegment(tinyJpeg(), xmp)).found).toContain('xmp');
  });

  it('finds PNG text and eXIf chunks', () => {
    const png = Uint8Array.from([
      ...PNG_SIG,
      ...pngChunk('IHDR', new Array(13).fill(0)),
      ...pngChunk('tEXt', [...new TextEncoder().encode('GPS\0here')]),
      ...pngChunk('eXIf', [0x49, 0x49]),
      ...pngChunk('IEND', []),
    ]);
    expect(scanMetadata(png).found).toEqual(['png:tEXt', 'png:eXIf']);
  });
});

describe('preparePhoto (byte checks before decoding)', () => {
  it('rejects a file whose bytes are not JPEG or PNG, whatever its name and type say', async () => {
    const fake = new File([new TextEncoder().encode('<html>not an image</html>')], 'holiday.jpg', {
      type: 'image/jpeg',
    });
    await expect(preparePhoto(fake)).rejects.toEqual(new PhotoRejected('unsupported_image'));
  });
});

describe('fitWithin', () => {
  it('keeps the aspect ratio and never upscales', () => {
    expect(fitWithin(4000, 3000, 2560)).toEqual({ width: 2560, height: 1920 });
    expect(fitWithin(3000, 4000, 2560)).toEqual({ width: 1920, height: 2560 });
    expect(fitWithin(800, 600, 2560)).toEqual({ width: 800, height: 600 });
    expect(fitWithin(10000, 1, 2560)).toEqual({ width: 2560, height: 1 });
  });
});
