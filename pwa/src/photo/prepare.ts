// The sending half of the photo pipeline before encryption: check the type from the bytes,
// re-encode (strips every metadata block, applies orientation), downscale, make a thumbnail,
// and verify that the result really carries no metadata block. A photo message carries JPEG or
// PNG (spec/protocol.md §12): a WebP is sent as JPEG (photos, mostly), a GIF as PNG (its first
// frame; its colours and transparency kept).
import { MAX_PHOTO_BYTES } from '@secure-drop/crypto-core/photo-metadata';
import { fileSize, MAX_INPUT_PIXELS } from './dimensions.ts';
import { scanMetadata } from './metadata-scan.ts';
import { MAX_DIMENSION, reencode, thumbnail } from './reencode.ts';
import { PhotoRejected } from './rejected.ts';
import { type InputMime, type PhotoMime, sniffInputType } from './sniff.ts';

/** The type a picked file is sent as. */
const SENT_AS: Readonly<Record<InputMime, PhotoMime>> = {
  'image/jpeg': 'image/jpeg',
  'image/png': 'image/png',
  'image/webp': 'image/jpeg',
  'image/gif': 'image/png',
};

/** Largest file accepted as input (before re-encoding shrinks it). */
export const MAX_INPUT_BYTES = 50 * 1024 * 1024;

export interface PreparedPhoto {
  readonly bytes: Uint8Array;
  readonly mime: PhotoMime;
  readonly width: number;
  readonly height: number;
  readonly thumbnail: Uint8Array;
}

export async function preparePhoto(file: Blob, maxDimension = MAX_DIMENSION): Promise<PreparedPhoto> {
  if (file.size > MAX_INPUT_BYTES) throw new PhotoRejected('too_large');
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const mime = sniffInputType(head);
  if (!mime) throw new PhotoRejected('unsupported_image');
  // The pixels are counted from the header before anything is decoded (dimensions.ts).
  const size = await fileSize(file);
  if (!size) throw new PhotoRejected('unsupported_image');
  if (size.width * size.height > MAX_INPUT_PIXELS) throw new PhotoRejected('too_large');
  // Decode from the bytes with their sniffed type, whatever the file claimed to be.
  const typed = new Blob([file], { type: mime });
  let encoded: Awaited<ReturnType<typeof reencode>>;
  try {
    encoded = await reencode(typed, SENT_AS[mime], maxDimension);
  } catch {
    throw new PhotoRejected('unsupported_image'); // the bytes do not decode as an image
  }
  // crypto-core's limit on the photo a message may describe (spec/protocol.md §12).
  if (encoded.bytes.length > MAX_PHOTO_BYTES) throw new PhotoRejected('too_large');
  // Defence in depth: the encoder writes no metadata; refuse to send if it ever did.
  const leftover = scanMetadata(encoded.bytes).found.filter((f) => f !== 'icc');
  if (leftover.length) throw new PhotoRejected('unsupported_image');
  return { ...encoded, thumbnail: await thumbnail(typed) };
}
