// Finds metadata blocks in a JPEG or PNG by walking its segment / chunk structure. Used to
// check that a re-encoded photo carries none (the browser's encoder writes none), and by the
// tests that prove GPS EXIF goes in and does not come out. It only reads; it never edits.
//
// JPEG (ITU T.81 Annex B): markers FF xx; APPn / COM segments carry metadata: APP1 "Exif\0\0"
// (EXIF/TIFF, GPS in IFD tag 0x8825), APP1 XMP, APP13 Photoshop/IPTC, COM comments.
// PNG (PNG spec §11.3): ancillary chunks eXIf, tEXt, zTXt, iTXt, tIME carry metadata.

export interface MetadataReport {
  /** Names of metadata blocks found, e.g. 'exif', 'gps', 'xmp', 'iptc', 'comment', 'png:tEXt'. */
  readonly found: string[];
}

const ascii = (bytes: Uint8Array, start: number, length: number) =>
  String.fromCharCode(...bytes.subarray(start, Math.min(bytes.length, start + length)));

/** True when the EXIF TIFF structure at `tiff` has a GPS IFD pointer (tag 0x8825) in IFD0. */
function exifHasGps(bytes: Uint8Array, tiff: number, end: number): boolean {
  if (tiff + 8 > end) return false;
  const order = ascii(bytes, tiff, 2);
  if (order !== 'II' && order !== 'MM') return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = order === 'II';
  const ifd = tiff + view.getUint32(tiff + 4, le);
  if (ifd + 2 > end) return false;
  const count = view.getUint16(ifd, le);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > end) return false;
    if (view.getUint16(entry, le) === 0x8825) return true;
  }
  return false;
}

function scanJpeg(bytes: Uint8Array): string[] {
  const found: string[] = [];
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) break; // not a marker: corrupt or entropy data, stop
    const marker = bytes[at + 1] as number;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break; // EOI, or SOS: image data follows
    if (marker >= 0xd0 && marker <= 0xd7) {
      at += 2;
      continue;
    }
    const length = ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number);
    const body = at + 4;
    const end = Math.min(bytes.length, at + 2 + length);
    if (marker === 0xe1 && ascii(bytes, body, 6) === 'Exif\0\0') {
      found.push('exif');
      if (exifHasGps(bytes, body + 6, end)) found.push('gps');
    } else if (marker === 0xe1 && ascii(bytes, body, 28).startsWith('http://ns.adobe.com/xap/1.0/')) {
      found.push('xmp');
    } else if (marker === 0xed) found.push('iptc');
    else if (marker === 0xfe) found.push('comment');
    else if (marker === 0xe2) found.push('icc');
    else if (marker >= 0xe3 && marker <= 0xef) found.push(`app${marker - 0xe0}`);
    at += 2 + length;
  }
  return found;
}

const PNG_METADATA = new Set(['eXIf', 'tEXt', 'zTXt', 'iTXt', 'tIME']);

function scanPng(bytes: Uint8Array): string[] {
  const found: string[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = ascii(bytes, at + 4, 4);
    if (PNG_METADATA.has(type)) found.push(`png:${type}`);
    if (type === 'IEND') break;
    at += 12 + length;
  }
  return found;
}

export function scanMetadata(bytes: Uint8Array): MetadataReport {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return { found: scanJpeg(bytes) };
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return { found: scanPng(bytes) };
  return { found: [] };
}
