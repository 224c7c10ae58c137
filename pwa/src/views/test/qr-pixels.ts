// Test helper: real QR pixels without a canvas (happy-dom has no 2D canvas). The pixels come
// from the same SVG path the app draws, so decoding them checks what users would scan.
import type { Pixels } from '../../components/qr-decode.ts';
import { decodeImageData } from '../../components/qr-decode.ts';
import { qrPath } from '../../components/qr-path.ts';

/** Rasterizes the SVG path qrPath() produced (its "M x y h n v1 h-n z" runs) into RGBA pixels. */
export async function rasterize(text: string, scale = 4): Promise<Pixels> {
  const { size, d } = await qrPath(text);
  const width = size * scale;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  for (const m of d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)) {
    const [x, y, run] = [Number(m[1]), Number(m[2]), Number(m[3])];
    for (let py = y * scale; py < (y + 1) * scale; py++) {
      for (let px = x * scale; px < (x + run) * scale; px++) {
        const i = (py * width + px) * 4;
        data[i] = data[i + 1] = data[i + 2] = 0;
      }
    }
  }
  return { data, width, height: width };
}

/** Packs pixels into a Blob: u32 width, u32 height, then RGBA — a minimal raw image format. */
export function rawImageBlob(p: Pixels): Blob {
  const header = new Uint32Array([p.width, p.height]);
  return new Blob([header, p.data as Uint8ClampedArray<ArrayBuffer>]);
}

/** Reads rawImageBlob() back and decodes it with the app's decoder (jsQR). */
export async function decodeRawImage(blob: Blob): Promise<string | null> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const [width, height] = new Uint32Array(bytes.buffer.slice(0, 8));
  return decodeImageData({
    data: new Uint8ClampedArray(bytes.buffer.slice(8)),
    width: width ?? 0,
    height: height ?? 0,
  });
}
