// Test data only (vitest and the e2e suite): a real 16×8 JPEG made by Chromium's encoder, and
// an APP1 "Exif" segment carrying GPS coordinates, to build "a JPEG with GPS EXIF" for the
// metadata-stripping tests. The GPS values are a recognisable marker: 55°45'N 37°37'E.

/** 16×8 JPEG (two colour blocks) from OffscreenCanvas.convertToBlob in Chromium 156. */
export const TINY_JPEG_BASE64 =
  '/9j/4AAQSkZJRgABAQAAAQABAAD/4gHYSUNDX1BST0ZJTEUAAQEAAAHIAAAAAAQwAABtbnRyUkdCIFhZWiAH4AABAAEAAAAAAABhY3NwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAA9tYAAQAAAADTLQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAlkZXNjAAAA8AAAACRyWFlaAAABFAAAABRnWFlaAAABKAAAABRiWFlaAAABPAAAABR3dHB0AAABUAAAABRyVFJDAAABZAAAAChnVFJDAAABZAAAAChiVFJDAAABZAAAAChjcHJ0AAABjAAAADxtbHVjAAAAAAAAAAEAAAAMZW5VUwAAAAgAAAAcAHMAUgBHAEJYWVogAAAAAAAAb6IAADj1AAADkFhZWiAAAAAAAABimQAAt4UAABjaWFlaIAAAAAAAACSgAAAPhAAAts9YWVogAAAAAAAA9tYAAQAAAADTLXBhcmEAAAAAAAQAAAACZmYAAPKnAAANWQAAE9AAAApbAAAAAAAAAABtbHVjAAAAAAAAAAEAAAAMZW5VUwAAACAAAAAcAEcAbwBvAGcAbABlACAASQBuAGMALgAgADIAMAAxADb/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAAIABADASIAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAAAAIG/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/EABQBAQAAAAAAAAAAAAAAAAAAAAX/xAAZEQACAwEAAAAAAAAAAAAAAAAABkOCwcL/2gAMAwEAAhEDEQA/AMcoCStLXRd2gtyf/9k=';

/** Text inside the EXIF block, searched for in outputs. */
export const EXIF_MAKE = 'SecureDropSpyCam';

export function tinyJpeg(): Uint8Array {
  const text = atob(TINY_JPEG_BASE64);
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

class LeWriter {
  readonly bytes: number[] = [];
  u16(v: number) {
    this.bytes.push(v & 0xff, (v >> 8) & 0xff);
    return this;
  }
  u32(v: number) {
    this.bytes.push(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff);
    return this;
  }
  raw(values: ArrayLike<number>) {
    for (let i = 0; i < values.length; i++) this.bytes.push(values[i] as number);
    return this;
  }
}

/** An APP1 segment: "Exif\0\0" + little-endian TIFF with IFD0 {Make, GPSInfo} and a GPS IFD. */
export function exifGpsSegment(): Uint8Array {
  const make = [...new TextEncoder().encode(EXIF_MAKE), 0];
  const tiff = new LeWriter();
  // TIFF header: "II", 42, IFD0 at offset 8.
  tiff.raw([0x49, 0x49]).u16(42).u32(8);
  // IFD0: 2 entries (12 bytes each) + next-IFD offset → 2 + 24 + 4 = 30 bytes, ends at 38.
  const makeAt = 38;
  const gpsIfdAt = makeAt + make.length;
  tiff.u16(2);
  tiff.u16(0x010f).u16(2).u32(make.length).u32(makeAt); // Make, ASCII
  tiff.u16(0x8825).u16(4).u32(1).u32(gpsIfdAt); // GPSInfo IFD pointer, LONG
  tiff.u32(0);
  tiff.raw(make);
  // GPS IFD: 4 entries → 2 + 48 + 4 = 54 bytes; rationals follow.
  const latAt = gpsIfdAt + 54;
  const lonAt = latAt + 24;
  tiff.u16(4);
  tiff.u16(0x0001).u16(2).u32(2).raw([0x4e, 0, 0, 0]); // GPSLatitudeRef "N"
  tiff.u16(0x0002).u16(5).u32(3).u32(latAt); // GPSLatitude, 3 RATIONAL
  tiff.u16(0x0003).u16(2).u32(2).raw([0x45, 0, 0, 0]); // GPSLongitudeRef "E"
  tiff.u16(0x0004).u16(5).u32(3).u32(lonAt); // GPSLongitude
  tiff.u32(0);
  for (const [n, d] of [
    [55, 1],
    [45, 1],
    [2100, 100],
    [37, 1],
    [37, 1],
    [1700, 100],
  ])
    tiff.u32(n as number).u32(d as number);
  const payload = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff.bytes]; // "Exif\0\0" + TIFF
  const length = payload.length + 2;
  return Uint8Array.from([0xff, 0xe1, (length >> 8) & 0xff, length & 0xff, ...payload]);
}

/** `jpeg` with `segment` inserted right after SOI (where cameras put APP1). */
export function withSegment(jpeg: Uint8Array, segment: Uint8Array): Uint8Array {
  const out = new Uint8Array(jpeg.length + segment.length);
  out.set(jpeg.subarray(0, 2));
  out.set(segment, 2);
  out.set(jpeg.subarray(2), 2 + segment.length);
  return out;
}

/** A tiny JPEG carrying GPS EXIF. */
export function jpegWithGps(): Uint8Array {
  return withSegment(tinyJpeg(), exifGpsSegment());
}

/**
 * The 16×8 tiny JPEG grown past `minBytes` by APP5 segments of random bytes before its frame
 * header, as cameras put EXIF, colour profiles and previews there.
 */
export function largeJpeg(minBytes: number): Uint8Array {
  let jpeg = tinyJpeg();
  while (jpeg.length < minBytes) {
    const segment = new Uint8Array(65_535 + 2);
    crypto.getRandomValues(segment.subarray(4, 4 + 65_536));
    segment.set([0xff, 0xe5, 0xff, 0xff]); // APP5, the largest length
    jpeg = withSegment(jpeg, segment);
  }
  return jpeg;
}
