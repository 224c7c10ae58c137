// The photo pipeline in real Chromium (happy-dom has no canvas): a JPEG carrying GPS EXIF
// goes in, a re-encoded JPEG with no EXIF/GPS/XMP and no trace of the EXIF text comes out;
// large images are downscaled to 2560 px; the result seals and opens through crypto-core.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as Fixture from '../src/photo/exif-fixture.ts';
import type * as Scan from '../src/photo/metadata-scan.ts';
import type * as Prepare from '../src/photo/prepare.ts';
import type * as Seal from '../src/photo/seal.ts';
import { launchChromium } from './browser.ts';
import { type Served, startDevServer } from './servers.ts';

let browser: Browser;
let served: Served;
let page: Page;

beforeAll(async () => {
  served = await startDevServer();
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(served.url);
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
});

interface Modules {
  fx: typeof Fixture;
  scan: typeof Scan;
  prep: typeof Prepare;
  seal: typeof Seal;
}

/** Runs `fn` in the page with the app's photo modules loaded through the dev server. */
function inPage<T, A>(fn: (m: Modules, arg: A) => Promise<T>, arg: A): Promise<T> {
  // Sent as text: the test runner rewrites import() in functions it compiles, and these
  // imports must run in the page, through the dev server.
  const script = `(async () => {
    const load = (p) => import(p);
    const m = {
      fx: await load('/src/photo/exif-fixture.ts'),
      scan: await load('/src/photo/metadata-scan.ts'),
      prep: await load('/src/photo/prepare.ts'),
      seal: await load('/src/photo/seal.ts'),
    };
    return (${fn.toString()})(m, ${JSON.stringify(arg)});
  })()`;
  return page.evaluate(script) as Promise<T>;
}

describe('photo pipeline in Chromium', () => {
  it('strips GPS EXIF from a JPEG: in with it, out without it', async () => {
    const r = await inPage(async ({ fx, scan, prep }) => {
      const input = fx.jpegWithGps();
      const out = await prep.preparePhoto(
        new File([input as Uint8Array<ArrayBuffer>], 'IMG_0001.JPG', { type: 'image/jpeg' }),
      );
      const text = (b: Uint8Array) => new TextDecoder('latin1').decode(b);
      return {
        before: scan.scanMetadata(input).found,
        beforeHasMake: text(input).includes(fx.EXIF_MAKE),
        after: scan.scanMetadata(out.bytes).found,
        afterHasMake: text(out.bytes).includes(fx.EXIF_MAKE),
        afterHasExifTag: text(out.bytes).includes('Exif\0\0'),
        mime: out.mime,
        size: [out.width, out.height],
        head: [...out.bytes.subarray(0, 3)],
        thumbnail: out.thumbnail.length,
      };
    }, null);
    expect(r.before).toEqual(expect.arrayContaining(['exif', 'gps']));
    expect(r.beforeHasMake).toBe(true);
    expect(r.after).not.toContain('exif');
    expect(r.after).not.toContain('gps');
    expect(r.after).not.toContain('xmp');
    expect(r.afterHasMake).toBe(false);
    expect(r.afterHasExifTag).toBe(false);
    expect(r.mime).toBe('image/jpeg');
    expect(r.size).toEqual([16, 8]);
    expect(r.head).toEqual([0xff, 0xd8, 0xff]);
    expect(r.thumbnail).toBeGreaterThan(0);
  });

  it('downscales a 4000×3000 photo to 2560×1920 and keeps PNG as PNG', async () => {
    const r = await inPage(async ({ prep }) => {
      const c = new OffscreenCanvas(4000, 3000);
      const g = c.getContext('2d') as OffscreenCanvasRenderingContext2D;
      g.fillStyle = '#4080c0';
      g.fillRect(0, 0, 4000, 3000);
      const big = await prep.preparePhoto(await c.convertToBlob({ type: 'image/jpeg', quality: 0.9 }));
      const p = new OffscreenCanvas(300, 200);
      (p.getContext('2d') as OffscreenCanvasRenderingContext2D).fillRect(0, 0, 10, 10);
      const png = await prep.preparePhoto(await p.convertToBlob({ type: 'image/png' }));
      return { big: [big.width, big.height, big.mime], png: [png.width, png.height, png.mime, png.bytes[1]] };
    }, null);
    expect(r.big).toEqual([2560, 1920, 'image/jpeg']);
    expect(r.png).toEqual([300, 200, 'image/png', 0x50]);
  });

  it('sends a WebP as JPEG (transparency on white) and a GIF as PNG', async () => {
    const r = await inPage(async ({ prep }) => {
      const c = new OffscreenCanvas(64, 48);
      const g = c.getContext('2d') as OffscreenCanvasRenderingContext2D;
      g.fillStyle = '#c04080';
      g.fillRect(0, 0, 32, 48); // the right half stays transparent
      const webp = await c.convertToBlob({ type: 'image/webp', quality: 0.9 });
      const fromWebp = await prep.preparePhoto(new File([webp], 'sticker.webp', { type: 'image/webp' }));
      const decoded = await createImageBitmap(new Blob([fromWebp.bytes as Uint8Array<ArrayBuffer>]));
      const back = new OffscreenCanvas(64, 48);
      const bg = back.getContext('2d') as OffscreenCanvasRenderingContext2D;
      bg.drawImage(decoded, 0, 0);
      const right = [...bg.getImageData(60, 24, 1, 1).data];
      // A 1×1 GIF89a, white (the smallest well-formed one).
      const gif = Uint8Array.from(
        atob('R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=='),
        (ch) => ch.charCodeAt(0),
      );
      const fromGif = await prep.preparePhoto(new Blob([gif]));
      return {
        webp: [fromWebp.mime, fromWebp.width, fromWebp.height, ...fromWebp.bytes.subarray(0, 3)],
        right,
        gif: [fromGif.mime, fromGif.width, fromGif.height, fromGif.bytes[1]],
      };
    }, null);
    expect(r.webp).toEqual(['image/jpeg', 64, 48, 0xff, 0xd8, 0xff]);
    // Transparent pixels came out white, not black (JPEG has no transparency).
    expect(r.right.slice(0, 3).every((v) => v > 240)).toBe(true);
    expect(r.gif).toEqual(['image/png', 1, 1, 0x50]);
  });

  it('refuses bytes that are not an image even when named .jpg, and a JPEG header over garbage', async () => {
    const r = await inPage(async ({ prep }) => {
      const attempt = async (bytes: Uint8Array) => {
        try {
          await prep.preparePhoto(
            new File([bytes as Uint8Array<ArrayBuffer>], 'photo.jpg', { type: 'image/jpeg' }),
          );
          return 'accepted';
        } catch (e) {
          return (e as { reason?: string }).reason ?? 'error';
        }
      };
      return [
        await attempt(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>')),
        await attempt(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8, 9])),
      ];
    }, null);
    expect(r).toEqual(['unsupported_image', 'unsupported_image']);
  });

  it('seals the stripped photo through crypto-core and opens it again', async () => {
    const ok = await inPage(async ({ fx, prep, seal }) => {
      const out = await prep.preparePhoto(new Blob([fx.jpegWithGps() as Uint8Array<ArrayBuffer>]));
      const key = seal.newPhotoKey();
      const sealed = await seal.sealPhoto(key, out);
      const meta = seal.readPhotoMetadata(seal.photoMetadataPlaintext(out, sealed, 'blob-1', key));
      const back = await seal.openPhoto(meta, new Uint8Array(await sealed.ciphertext.arrayBuffer()));
      return back.length === out.bytes.length && back.every((b, i) => b === out.bytes[i]);
    }, null);
    expect(ok).toBe(true);
  });
});
