#!/usr/bin/env node
// Renders the PWA icons (public/icons/*.png) from the same geometry as public/icons/icon.svg:
// a padlock on the theme colour. Run `npm run icons -w pwa` after changing the design; the
// PNGs are committed so a build needs no image tooling. PNG encoding is pngjs's.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'icons');
const THEME = [0x1f, 0x3a, 0x5f];
const WHITE = [0xff, 0xff, 0xff];

const inRoundRect = (x, y, x0, y0, w, h, r) => {
  const cx = Math.min(Math.max(x, x0 + r), x0 + w - r);
  const cy = Math.min(Math.max(y, y0 + r), y0 + h - r);
  return x >= x0 && x <= x0 + w && y >= y0 && y <= y0 + h && (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
};

// Colour of a point in the 512-unit design space, or null outside the icon.
function shade(x, y, maskable) {
  // Maskable icons are full-bleed; the lock shrinks into the 80 % safe zone.
  if (!maskable && !inRoundRect(x, y, 0, 0, 512, 512, 96)) return null;
  const s = maskable ? 0.78 : 1;
  const u = (x - 256) / s + 256;
  const v = (y - 256) / s + 256;
  const keyhole = (u - 256) ** 2 + (v - 304) ** 2 <= 24 * 24 || inRoundRect(u, v, 244, 304, 24, 56, 8);
  if (inRoundRect(u, v, 136, 232, 240, 176, 24)) return keyhole ? THEME : WHITE;
  // Shackle: a ring of radius 80 ± 18 above y = 184, and two straight legs down to the body.
  const d = Math.hypot(u - 256, v - 184);
  const ring = v <= 184 && d >= 62 && d <= 98;
  const legs = v > 184 && v <= 232 && (Math.abs(u - 176) <= 18 || Math.abs(u - 336) <= 18);
  return ring || legs ? WHITE : THEME;
}

function render(size, maskable) {
  const png = new PNG({ width: size, height: size });
  const n = 4; // 4×4 supersampling for smooth edges
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const c = shade(
            ((px + (sx + 0.5) / n) * 512) / size,
            ((py + (sy + 0.5) / n) * 512) / size,
            maskable,
          );
          if (!c) continue;
          r += c[0];
          g += c[1];
          b += c[2];
          a += 1;
        }
      }
      const i = (py * size + px) * 4;
      png.data[i] = a ? Math.round(r / a) : 0;
      png.data[i + 1] = a ? Math.round(g / a) : 0;
      png.data[i + 2] = a ? Math.round(b / a) : 0;
      png.data[i + 3] = Math.round((a / (n * n)) * 255);
    }
  }
  return PNG.sync.write(png);
}

for (const [name, size, maskable] of [
  ['icon-192.png', 192, false],
  ['icon-512.png', 512, false],
  ['maskable-512.png', 512, true],
]) {
  writeFileSync(join(out, name), render(size, maskable));
  console.log(`wrote public/icons/${name}`);
}
