// Draws the extension's icons (src/icons/<size>.png): a magenta rounded square with
// a white QR finder pattern and a "live" dot. Run once; the PNGs are committed.
// Usage: node scripts/make-icons.mjs

import { PNG } from "pngjs";
import { mkdirSync, writeFileSync } from "node:fs";

const MAGENTA = [165, 0, 100, 255];
const WHITE = [255, 255, 255, 255];
const CLEAR = [0, 0, 0, 0];

function pixel(x, y) {
  // Unit square coordinates in [0, 1).
  const r = 0.18; // corner radius
  const cx = Math.min(Math.max(x, r), 1 - r);
  const cy = Math.min(Math.max(y, r), 1 - r);
  if ((x - cx) ** 2 + (y - cy) ** 2 > r * r) return CLEAR;
  // Finder pattern: ring from 0.2 to 0.62, centre block 0.31–0.51.
  const inBox = (a, b, lo, hi) => a >= lo && a < hi && b >= lo && b < hi;
  if (inBox(x, y, 0.2, 0.62) && !inBox(x, y, 0.27, 0.55)) return WHITE;
  if (inBox(x, y, 0.34, 0.48)) return WHITE;
  // "Live" dot at the bottom right.
  if ((x - 0.74) ** 2 + (y - 0.74) ** 2 < 0.1 ** 2) return WHITE;
  return MAGENTA;
}

mkdirSync(new URL("../src/icons/", import.meta.url), { recursive: true });
for (const size of [16, 32, 48, 128]) {
  const png = new PNG({ width: size, height: size });
  const samples = 4; // supersampling for smooth edges
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const acc = [0, 0, 0, 0];
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const c = pixel((x + (sx + 0.5) / samples) / size, (y + (sy + 0.5) / samples) / size);
          for (let i = 0; i < 4; i++) acc[i] += c[i] * (i === 3 ? 1 : c[3] / 255);
        }
      }
      const n = samples * samples;
      const alpha = acc[3] / n;
      const o = (y * size + x) * 4;
      for (let i = 0; i < 3; i++) png.data[o + i] = alpha ? Math.round(acc[i] / n / (alpha / 255)) : 0;
      png.data[o + 3] = Math.round(alpha);
    }
  }
  writeFileSync(new URL(`../src/icons/${size}.png`, import.meta.url), PNG.sync.write(png));
}
console.log("icons written to src/icons/");
