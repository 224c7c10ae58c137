// Re-encodes an image in the browser (SECURITY.md "What it can never see": no metadata leaves the device): decode to pixels, draw onto a canvas at
// most MAX_DIMENSION on its long side, encode again. Only pixels survive, so EXIF (GPS,
// camera, time), XMP, IPTC, comments and PNG text chunks are gone. EXIF orientation is
// applied while decoding (imageOrientation 'from-image'), so the result looks the same.
// Needs createImageBitmap and a canvas: real browsers only (tested in Chromium, e2e/).
import type { PhotoMime } from './sniff.ts';

/** Longest side after downscaling: plenty for a phone screen, far below camera originals. */
export const MAX_DIMENSION = 2560;
/** Longest side of the inline thumbnail. */
const THUMBNAIL_DIMENSION = 160;
/** crypto-core MAX_THUMBNAIL_BYTES: the thumbnail travels inside the encrypted message. */
const MAX_THUMBNAIL_BYTES = 16_384;
const JPEG_QUALITY = 0.88;

export interface Encoded {
  readonly bytes: Uint8Array;
  readonly mime: PhotoMime;
  readonly width: number;
  readonly height: number;
}

export function fitWithin(width: number, height: number, max: number): { width: number; height: number } {
  const scale = Math.min(1, max / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * JPEG has no transparency, and an encoder turns transparent pixels black: a picture with some
 * (a WebP sent as JPEG) is put on white instead, as a viewer would show it.
 */
function underJpeg(
  ctx: OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D,
  mime: PhotoMime,
  width: number,
  height: number,
): void {
  if (mime !== 'image/jpeg') return;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
}

async function encodeCanvas(
  source: ImageBitmap,
  width: number,
  height: number,
  mime: PhotoMime,
  quality: number,
): Promise<Blob> {
  if (typeof OffscreenCanvas !== 'undefined') {
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2d canvas');
    ctx.imageSmoothingQuality = 'high';
    underJpeg(ctx, mime, width, height);
    ctx.drawImage(source, 0, 0, width, height);
    return canvas.convertToBlob({ type: mime, quality });
  }
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2d canvas');
  ctx.imageSmoothingQuality = 'high';
  underJpeg(ctx, mime, width, height);
  ctx.drawImage(source, 0, 0, width, height);
  return new Promise((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('encoding failed'))), mime, quality),
  );
}

/** Decodes `input` (any type the browser decodes) and encodes it as `mime`, downscaled to fit `maxDimension`. */
export async function reencode(input: Blob, mime: PhotoMime, maxDimension = MAX_DIMENSION): Promise<Encoded> {
  const bitmap = await createImageBitmap(input, { imageOrientation: 'from-image' });
  try {
    const { width, height } = fitWithin(bitmap.width, bitmap.height, maxDimension);
    const blob = await encodeCanvas(bitmap, width, height, mime, JPEG_QUALITY);
    return { bytes: new Uint8Array(await blob.arrayBuffer()), mime, width, height };
  } finally {
    bitmap.close();
  }
}

/** A small JPEG preview that fits the message's thumbnail field; empty if it cannot fit. */
export async function thumbnail(input: Blob): Promise<Uint8Array> {
  const bitmap = await createImageBitmap(input, { imageOrientation: 'from-image' });
  try {
    for (const [side, quality] of [
      [THUMBNAIL_DIMENSION, 0.7],
      [THUMBNAIL_DIMENSION, 0.5],
      [96, 0.5],
    ] as const) {
      const { width, height } = fitWithin(bitmap.width, bitmap.height, side);
      const blob = await encodeCanvas(bitmap, width, height, 'image/jpeg', quality);
      if (blob.size <= MAX_THUMBNAIL_BYTES) return new Uint8Array(await blob.arrayBuffer());
    }
    return new Uint8Array(0);
  } finally {
    bitmap.close();
  }
}
