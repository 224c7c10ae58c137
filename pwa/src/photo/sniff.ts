// The image type from the file's BYTES, never its name or the browser's guess (a name or MIME type is the sender's claim; the bytes are what the decoder sees):
// JPEG starts FF D8 FF, PNG with its 8-byte signature (PNG spec §5.2).

export type PhotoMime = 'image/jpeg' | 'image/png';

const JPEG = [0xff, 0xd8, 0xff] as const;
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;

const startsWith = (bytes: Uint8Array, magic: readonly number[]) =>
  bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);

export function sniffImageType(bytes: Uint8Array): PhotoMime | null {
  if (startsWith(bytes, JPEG)) return 'image/jpeg';
  if (startsWith(bytes, PNG)) return 'image/png';
  return null;
}
