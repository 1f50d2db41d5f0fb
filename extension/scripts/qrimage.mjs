// QR codes as pictures, the way checkout pages show them: made with a QR encoder
// (`qrcode`), then rendered at a given module size (fractions give anti-aliased edges,
// as a scaled <img> has), rotated, washed out, noisy, blurred, inverted or with a logo
// in the middle. Shared by the decoder comparison (scripts/compare-decoders.mjs), the
// decoding tests (test/decode.test.ts) and the fixture generator. Images are plain
// RGBA objects `{ width, height, data: Uint8ClampedArray }`, which is what ImageData is.

import QRCode from "qrcode";
import { PNG } from "pngjs";

/** @typedef {{ width: number, height: number, data: Uint8ClampedArray }} Rgba */

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so every run draws the same noise. */
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The QR symbol of `text`: its size in modules and whether a module is dark. */
export function qrModules(text, ecLevel = "M") {
  const { modules } = QRCode.create(text, { errorCorrectionLevel: ecLevel });
  return { size: modules.size, dark: (row, col) => Boolean(modules.get(row, col)) };
}

/**
 * `text` as a QR picture: `moduleSize` pixels per module (may be fractional: each pixel
 * then takes the share of dark area it covers, sampled 4 × 4), `margin` modules of
 * quiet zone, `fg`/`bg` as [r, g, b].
 * @returns {Rgba}
 */
export function renderQr(text, { moduleSize = 4, margin = 4, ecLevel = "M", fg = [0, 0, 0], bg = [255, 255, 255] } = {}) {
  const { size, dark } = qrModules(text, ecLevel);
  const total = size + 2 * margin;
  const width = Math.round(total * moduleSize);
  const data = new Uint8ClampedArray(width * width * 4);
  const SUB = 4;
  for (let y = 0; y < width; y++) {
    for (let x = 0; x < width; x++) {
      let hits = 0;
      for (let sy = 0; sy < SUB; sy++) {
        for (let sx = 0; sx < SUB; sx++) {
          const my = Math.floor((y + (sy + 0.5) / SUB) / moduleSize) - margin;
          const mx = Math.floor((x + (sx + 0.5) / SUB) / moduleSize) - margin;
          if (my >= 0 && mx >= 0 && my < size && mx < size && dark(my, mx)) hits++;
        }
      }
      const share = hits / (SUB * SUB);
      const o = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) data[o + c] = Math.round(bg[c] * (1 - share) + fg[c] * share);
      data[o + 3] = 255;
    }
  }
  return { width, height: width, data };
}

function sample(img, x, y, c, fill) {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return fill[c] ?? 255;
  return img.data[(y * img.width + x) * 4 + c];
}

/** Rotated by `degrees` around its centre onto a larger canvas of `fill` (bilinear). */
export function rotate(img, degrees, fill = [255, 255, 255]) {
  const rad = (degrees * Math.PI) / 180;
  const cos = Math.cos(rad);
  const sin = Math.sin(rad);
  const width = Math.ceil(Math.abs(img.width * cos) + Math.abs(img.height * sin));
  const height = Math.ceil(Math.abs(img.width * sin) + Math.abs(img.height * cos));
  const data = new Uint8ClampedArray(width * height * 4);
  const cx = img.width / 2;
  const cy = img.height / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = x + 0.5 - width / 2;
      const dy = y + 0.5 - height / 2;
      const sx = cos * dx + sin * dy + cx - 0.5;
      const sy = -sin * dx + cos * dy + cy - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const o = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) {
        const top = sample(img, x0, y0, c, fill) * (1 - fx) + sample(img, x0 + 1, y0, c, fill) * fx;
        const bottom = sample(img, x0, y0 + 1, c, fill) * (1 - fx) + sample(img, x0 + 1, y0 + 1, c, fill) * fx;
        data[o + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
      data[o + 3] = 255;
    }
  }
  return { width, height, data };
}

/** Every pixel moved by up to ±`amplitude` grey levels (the same draw for r, g and b). */
export function addNoise(img, amplitude, seed = 1) {
  const random = seeded(seed);
  const data = new Uint8ClampedArray(img.data);
  for (let i = 0; i < data.length; i += 4) {
    const delta = (random() * 2 - 1) * amplitude;
    for (let c = 0; c < 3; c++) data[i + c] = data[i + c] + delta;
  }
  return { width: img.width, height: img.height, data };
}

/** A box blur of `radius` pixels (a soft, out-of-focus picture). */
export function blur(img, radius) {
  const { width, height } = img;
  const data = new Uint8ClampedArray(img.data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sums = [0, 0, 0];
      let n = 0;
      for (let dy = -radius; dy <= radius; dy++) {
        for (let dx = -radius; dx <= radius; dx++) {
          const xx = Math.min(width - 1, Math.max(0, x + dx));
          const yy = Math.min(height - 1, Math.max(0, y + dy));
          const o = (yy * width + xx) * 4;
          sums[0] += img.data[o];
          sums[1] += img.data[o + 1];
          sums[2] += img.data[o + 2];
          n++;
        }
      }
      const o = (y * width + x) * 4;
      data[o] = sums[0] / n;
      data[o + 1] = sums[1] / n;
      data[o + 2] = sums[2] / n;
      data[o + 3] = 255;
    }
  }
  return { width, height, data };
}

/** Light modules on a dark ground. */
export function invert(img) {
  const data = new Uint8ClampedArray(img.data);
  for (let i = 0; i < data.length; i += 4) {
    for (let c = 0; c < 3; c++) data[i + c] = 255 - data[i + c];
  }
  return { width: img.width, height: img.height, data };
}

/**
 * A logo over the centre, as wallets print theirs: a `color` square covering
 * `fraction` of the width, on a white border of a tenth of its size.
 */
export function addLogo(img, fraction, color = [165, 0, 100]) {
  const data = new Uint8ClampedArray(img.data);
  const side = Math.round(img.width * fraction);
  const pad = Math.max(1, Math.round(side / 10));
  const x0 = Math.round((img.width - side) / 2);
  const y0 = Math.round((img.height - side) / 2);
  for (let y = y0 - pad; y < y0 + side + pad; y++) {
    for (let x = x0 - pad; x < x0 + side + pad; x++) {
      const inner = x >= x0 && x < x0 + side && y >= y0 && y < y0 + side;
      const o = (y * img.width + x) * 4;
      const rgb = inner ? color : [255, 255, 255];
      data[o] = rgb[0];
      data[o + 1] = rgb[1];
      data[o + 2] = rgb[2];
    }
  }
  return { width: img.width, height: img.height, data };
}

/** The picture placed at (`x`, `y`) on a `width` × `height` ground of `fill` (a page around a code). */
export function placeOn(img, width, height, x, y, fill = [255, 255, 255]) {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i += 4) {
    data[i] = fill[0];
    data[i + 1] = fill[1];
    data[i + 2] = fill[2];
    data[i + 3] = 255;
  }
  for (let row = 0; row < img.height; row++) {
    const target = ((y + row) * width + x) * 4;
    data.set(img.data.subarray(row * img.width * 4, (row + 1) * img.width * 4), target);
  }
  return { width, height, data };
}

/** PNG file bytes of an RGBA picture. */
export function toPng(img) {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return PNG.sync.write(png);
}
