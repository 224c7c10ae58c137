// The sending half of the photo pipeline before encryption: check the type from the bytes,
// re-encode (strips every metadata block, applies orientation), downscale, make a thumbnail,
// and verify that the result really carries no metadata block.
import { MAX_PHOTO_BYTES } from '@secure-drop/crypto-core/photo-metadata';
import { scanMetadata } from './metadata-scan.ts';
import { MAX_DIMENSION, reencode, thumbnail } from './reencode.ts';
import { type PhotoMime, sniffImageType } from './sniff.ts';

/** Largest file accepted as input (before re-encoding shrinks it). */
export const MAX_INPUT_BYTES = 50 * 1024 * 1024;

export type PhotoRejection = 'unsupported_image' | 'too_large';

export class PhotoRejected extends Error {
  constructor(readonly reason: PhotoRejection) {
    super(reason);
    this.name = 'PhotoRejected';
  }
}

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
  const mime = sniffImageType(head);
  if (!mime) throw new PhotoRejected('unsupported_image');
  // Decode from the bytes with their sniffed type, whatever the file claimed to be.
  const typed = new Blob([file], { type: mime });
  let encoded: Awaited<ReturnType<typeof reencode>>;
  try {
    encoded = await reencode(typed, mime, maxDimension);
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
