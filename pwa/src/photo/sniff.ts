// The image type from the file's BYTES, never its name or the browser's guess (a name or MIME type is the sender's claim; the bytes are what the decoder sees):
// JPEG starts FF D8 FF, PNG with its 8-byte signature (PNG spec §5.2), WebP as a RIFF file of
// form type "WEBP" (RFC 9649 §2), GIF with "GIF87a" or "GIF89a".

/** What a photo message carries (spec/protocol.md §12). */
export type PhotoMime = 'image/jpeg' | 'image/png';
/** What a picked file may be: a WebP or GIF is re-encoded to one of PhotoMime (prepare.ts). */
export type InputMime = PhotoMime | 'image/webp' | 'image/gif';

const JPEG = [0xff, 0xd8, 0xff] as const;
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;
const RIFF = [0x52, 0x49, 0x46, 0x46] as const; // "RIFF", then 4 bytes of size
const WEBP = [0x57, 0x45, 0x42, 0x50] as const; // "WEBP" at offset 8
const GIF87 = [0x47, 0x49, 0x46, 0x38, 0x37, 0x61] as const;
const GIF89 = [0x47, 0x49, 0x46, 0x38, 0x39, 0x61] as const;

const startsWith = (bytes: Uint8Array, magic: readonly number[], at = 0) =>
  bytes.length >= at + magic.length && magic.every((b, i) => bytes[at + i] === b);

/** A type a photo message may carry, from the first bytes; null for anything else. */
export function sniffImageType(bytes: Uint8Array): PhotoMime | null {
  if (startsWith(bytes, JPEG)) return 'image/jpeg';
  if (startsWith(bytes, PNG)) return 'image/png';
  return null;
}

/** A type a picked file may have (16 first bytes are enough); null for anything else. */
export function sniffInputType(bytes: Uint8Array): InputMime | null {
  const sent = sniffImageType(bytes);
  if (sent) return sent;
  if (startsWith(bytes, RIFF) && startsWith(bytes, WEBP, 8)) return 'image/webp';
  if (startsWith(bytes, GIF87) || startsWith(bytes, GIF89)) return 'image/gif';
  return null;
}
