// Reads a QR code from a camera frame or an image. Uses the browser's BarcodeDetector where
// it exists (Chromium on Android/macOS/ChromeOS); otherwise jsQR, a pure-JS decoder loaded only
// when first needed (no WebAssembly, so no 'wasm-unsafe-eval' in the CSP).

import { checkedImport } from '../integrity/checked-import.ts';

interface DetectedBarcode {
  rawValue: string;
}
interface BarcodeDetectorLike {
  detect(source: ImageBitmapSource): Promise<DetectedBarcode[]>;
}
interface BarcodeDetectorCtor {
  new (options: { formats: string[] }): BarcodeDetectorLike;
  getSupportedFormats(): Promise<string[]>;
}

let detector: Promise<BarcodeDetectorLike | null> | undefined;

function nativeDetector(): Promise<BarcodeDetectorLike | null> {
  detector ??= (async () => {
    const Ctor = (globalThis as { BarcodeDetector?: BarcodeDetectorCtor }).BarcodeDetector;
    if (!Ctor) return null;
    try {
      const formats = await Ctor.getSupportedFormats();
      return formats.includes('qr_code') ? new Ctor({ formats: ['qr_code'] }) : null;
    } catch {
      return null;
    }
  })();
  return detector;
}

/** RGBA pixels, as in ImageData. */
export interface Pixels {
  readonly data: Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
}

/** Decodes QR pixels with jsQR (lazy chunk). Returns null when no code is found. */
export async function decodeImageData(image: Pixels): Promise<string | null> {
  const { default: jsQR } = await checkedImport(() => import('jsqr'));
  const found = jsQR(image.data, image.width, image.height, { inversionAttempts: 'attemptBoth' });
  return found ? found.data : null;
}

type Drawable = HTMLVideoElement | ImageBitmap | HTMLCanvasElement;

function pixelsOf(source: Drawable): ImageData | null {
  const width = source instanceof HTMLVideoElement ? source.videoWidth : source.width;
  const height = source instanceof HTMLVideoElement ? source.videoHeight : source.height;
  if (!width || !height) return null;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) return null;
  ctx.drawImage(source, 0, 0);
  return ctx.getImageData(0, 0, width, height);
}

/** The text of the first QR code visible in `source`, or null. */
export async function decodeQr(source: Drawable): Promise<string | null> {
  const native = await nativeDetector();
  if (native) {
    try {
      const codes = await native.detect(source);
      if (codes[0]) return codes[0].rawValue;
    } catch {
      // Fall through to jsQR: some platforms expose the API but fail on certain sources.
    }
  }
  const pixels = pixelsOf(source);
  return pixels ? decodeImageData(pixels) : null;
}

/** Decodes a QR code from an image file (a photo or screenshot of the contact's screen). */
export async function decodeQrFile(file: Blob): Promise<string | null> {
  const bitmap = await createImageBitmap(file);
  try {
    return await decodeQr(bitmap);
  } finally {
    bitmap.close();
  }
}
