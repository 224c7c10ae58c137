import QRCode from 'qrcode';
import { describe, expect, it } from 'vitest';
import { rasterize } from '../views/test/qr-pixels.ts';
import { groupChars } from './groups.ts';
import { decodeImageData } from './qr-decode.ts';
import { qrPath } from './qr-path.ts';

describe('QR drawing and decoding', () => {
  it('the SVG path of an otpauth URI decodes back to the same URI (jsQR)', async () => {
    const uri =
      'otpauth://totp/Secure%20Drop:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Secure%20Drop';
    expect(await decodeImageData(await rasterize(uri))).toBe(uri);
  });

  it('keeps the 4-module quiet zone and merges runs of dark modules', async () => {
    const { size, d } = await qrPath('hello');
    const modules = QRCode.create('hello', { errorCorrectionLevel: 'M' }).modules.size;
    expect(size).toBe(modules + 8);
    const starts = [...d.matchAll(/M(\d+) (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(Math.min(...starts.map(([x]) => x as number))).toBe(4);
    // Runs are merged: fewer rectangles than dark modules.
    const dark = [...d.matchAll(/h(\d+)v1/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(starts.length).toBeLessThan(dark);
  });

  it('finds no code in a blank image', async () => {
    const blank = { data: new Uint8ClampedArray(64 * 64 * 4).fill(255), width: 64, height: 64 };
    expect(await decodeImageData(blank)).toBeNull();
  });
});

describe('groupChars', () => {
  it('groups ignoring whitespace, last group may be short', () => {
    expect(groupChars('ABCD EFGH IJ', 4)).toEqual(['ABCD', 'EFGH', 'IJ']);
    expect(groupChars('1'.repeat(60), 5)).toHaveLength(12);
  });
});
