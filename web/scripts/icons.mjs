// Draws the installed page's icons (web/icons/icon-<size>.png, committed): a white QR
// card on the page's magenta, full bleed so that a launcher may mask it to any shape
// (the card sits inside the central 80% "safe zone" of a maskable icon).
//
//   node scripts/icons.mjs      (npm run icons)
//
// The PNGs are committed rather than drawn at build time so that the build only copies
// bytes: zlib's output may differ between Node builds, and the shipped build must be
// byte for byte what `npm run build` makes (tests/test_web_build.py).

import { writeFileSync, mkdirSync } from "node:fs";
import { deflateSync } from "node:zlib";
import qrcode from "qrcode-generator";

const SIZES = [192, 512];
const MAGENTA = [0xa5, 0x00, 0x64];
const PAPER = [0xff, 0xff, 0xff];
const INK = [0x16, 0x16, 0x16];
/** Samples per pixel side: edges of modules and rounded corners come out smooth. */
const SUPERSAMPLE = 4;

/** The modules of a version 1 QR code (21 × 21): a real code, for a real look. */
function modules() {
  const qr = qrcode(1, "L");
  qr.addData("QR", "Byte");
  qr.make();
  const count = qr.getModuleCount();
  return { count, dark: (row, col) => qr.isDark(row, col) };
}

/** Whether (x, y) in [0, 1)² lies inside the square [x0, x1]² with corner radius r. */
function inRoundedSquare(x, y, x0, x1, r) {
  if (x < x0 || x > x1 || y < x0 || y > x1) return false;
  const cx = Math.min(Math.max(x, x0 + r), x1 - r);
  const cy = Math.min(Math.max(y, x0 + r), x1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

/** The colour at (x, y) of the unit square: magenta, the card, or a dark module. */
function colourAt(x, y, qr) {
  // The card: 64% of the side, centred, inside the 80% safe zone of a maskable icon.
  const card0 = 0.18;
  const card1 = 0.82;
  if (!inRoundedSquare(x, y, card0, card1, 0.06)) return MAGENTA;
  // The code: the card less a two-module margin.
  const module = (card1 - card0) / (qr.count + 4);
  const col = Math.floor((x - card0) / module) - 2;
  const row = Math.floor((y - card0) / module) - 2;
  if (row < 0 || col < 0 || row >= qr.count || col >= qr.count) return PAPER;
  return qr.dark(row, col) ? INK : PAPER;
}

function pixels(size, qr) {
  const rgb = new Uint8Array(size * size * 3);
  const n = SUPERSAMPLE * SUPERSAMPLE;
  for (let py = 0; py < size; py += 1) {
    for (let px = 0; px < size; px += 1) {
      const sum = [0, 0, 0];
      for (let sy = 0; sy < SUPERSAMPLE; sy += 1) {
        for (let sx = 0; sx < SUPERSAMPLE; sx += 1) {
          const x = (px + (sx + 0.5) / SUPERSAMPLE) / size;
          const y = (py + (sy + 0.5) / SUPERSAMPLE) / size;
          const c = colourAt(x, y, qr);
          sum[0] += c[0];
          sum[1] += c[1];
          sum[2] += c[2];
        }
      }
      const at = (py * size + px) * 3;
      rgb[at] = Math.round(sum[0] / n);
      rgb[at + 1] = Math.round(sum[1] / n);
      rgb[at + 2] = Math.round(sum[2] / n);
    }
  }
  return rgb;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit RGB PNG, no filter, no metadata (nothing that varies between runs). */
function png(size, rgb) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const raw = Buffer.alloc(size * (size * 3 + 1));
  for (let row = 0; row < size; row += 1) {
    raw[row * (size * 3 + 1)] = 0; // filter: none
    Buffer.from(rgb.buffer, row * size * 3, size * 3).copy(raw, row * (size * 3 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const qr = modules();
const out = new URL("../icons/", import.meta.url);
mkdirSync(out, { recursive: true });
for (const size of SIZES) {
  const file = new URL(`icon-${size}.png`, out);
  writeFileSync(file, png(size, pixels(size, qr)));
  console.log(`wrote ${file.pathname}`);
}
