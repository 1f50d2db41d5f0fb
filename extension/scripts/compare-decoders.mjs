// Which QR decoder reads the codes checkout pages show? Renders real-format payment
// payloads (test/fixtures/vietqr-vectors.json) the hard ways a page can show them
// (small, rotated, washed out, noisy, blurred, inverted, with a logo) and runs each
// candidate library on the same pixels. The README's table comes from this output.
// Usage: node scripts/compare-decoders.mjs

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import jsQR from "jsqr";
import { prepareZXingModule, readBarcodes } from "zxing-wasm/reader";
import { addLogo, addNoise, blur, invert, placeOn, renderQr, rotate } from "./qrimage.mjs";

const require = createRequire(import.meta.url);
const vectors = JSON.parse(readFileSync(new URL("../test/fixtures/vietqr-vectors.json", import.meta.url), "utf8"));
const byName = (name) => vectors.vectors.find((v) => v.name.startsWith(name)).payload;
const BANK = byName("dynamic VietQR");
const MOMO = byName("MoMo");
const VNPAY = byName("VNPay");

await prepareZXingModule({
  overrides: { wasmBinary: readFileSync(require.resolve("zxing-wasm/reader/zxing_reader.wasm")) },
  fireImmediately: true,
});

const ZXING_OPTIONS = {
  formats: ["QRCode"],
  tryHarder: true,
  tryRotate: true,
  tryInvert: true,
  tryDownscale: true,
  maxNumberOfSymbols: 8,
};

export const CASES = [
  ["clean, 6 px/module", () => renderQr(BANK, { moduleSize: 6 })],
  ["small: 2 px/module", () => renderQr(BANK, { moduleSize: 2 })],
  ["tiny: 1.5 px/module (anti-aliased)", () => renderQr(BANK, { moduleSize: 1.5 })],
  ["tiny: 1.2 px/module", () => renderQr(MOMO, { moduleSize: 1.2 })],
  ["rotated 90°", () => rotate(renderQr(BANK, { moduleSize: 4 }), 90)],
  ["rotated 15°", () => rotate(renderQr(BANK, { moduleSize: 4 }), 15)],
  ["rotated 45°", () => rotate(renderQr(MOMO, { moduleSize: 4 }), 45)],
  ["rotated 30°, 2 px/module", () => rotate(renderQr(BANK, { moduleSize: 2 }), 30)],
  ["low contrast (#777 on #aaa)", () => renderQr(BANK, { moduleSize: 4, fg: [0x77, 0x77, 0x77], bg: [0xaa, 0xaa, 0xaa] })],
  ["very low contrast (#888 on #a0a0a0)", () => renderQr(BANK, { moduleSize: 4, fg: [0x88, 0x88, 0x88], bg: [0xa0, 0xa0, 0xa0] })],
  ["MoMo pink on white", () => renderQr(MOMO, { moduleSize: 4, fg: [0xa5, 0x00, 0x64] })],
  ["logo over 20 % of the width (EC H)", () => addLogo(renderQr(MOMO, { moduleSize: 5, ecLevel: "H" }), 0.2)],
  ["logo over 28 % of the width (EC H)", () => addLogo(renderQr(VNPAY, { moduleSize: 5, ecLevel: "H" }), 0.28)],
  ["noise ±40", () => addNoise(renderQr(BANK, { moduleSize: 4 }), 40, 7)],
  ["noise ±90", () => addNoise(renderQr(BANK, { moduleSize: 4 }), 90, 7)],
  ["blurred (box 2 px at 4 px/module)", () => blur(renderQr(BANK, { moduleSize: 4 }), 2)],
  ["inverted (light on dark)", () => invert(renderQr(BANK, { moduleSize: 4 }))],
  ["small in a big page (2 px/module in 900×700)", () => placeOn(renderQr(VNPAY, { moduleSize: 2 }), 900, 700, 610, 420)],
  ["two codes side by side", () => {
    const a = renderQr(BANK, { moduleSize: 3 });
    const b = renderQr(MOMO, { moduleSize: 3 });
    const page = placeOn(a, a.width + b.width + 40, Math.max(a.height, b.height), 0, 0);
    for (let row = 0; row < b.height; row++) {
      page.data.set(b.data.subarray(row * b.width * 4, (row + 1) * b.width * 4), (row * page.width + a.width + 40) * 4);
    }
    return page;
  }],
  ["small + rotated 20° + noise ±30", () => addNoise(rotate(renderQr(MOMO, { moduleSize: 2.5 }), 20), 30, 3)],
];

function expected(name) {
  if (name.startsWith("two codes")) return [BANK, MOMO];
  if (name.includes("MoMo") || name.startsWith("tiny: 1.2") || name.startsWith("rotated 45") || name.startsWith("logo over 20") || name.startsWith("small +")) return [MOMO];
  if (name.startsWith("logo over 28") || name.startsWith("small in")) return [VNPAY];
  return [BANK];
}

/** Nearest-neighbour enlargement, as src/shared/decode.ts does it. */
function enlarge(img, factor) {
  const width = img.width * factor;
  const height = img.height * factor;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (Math.floor(y / factor) * img.width + Math.floor(x / factor)) * 4;
      data.set(img.data.subarray(o, o + 4), (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

async function main() {
  const rows = [];
  let jsqrTotal = 0;
  let zxingTotal = 0;
  const totals = { jsqr: 0, zxing: 0, extension: 0 };
  for (const [name, make] of CASES) {
    const img = make();
    const want = expected(name);
    let t = performance.now();
    const js = jsQR(img.data, img.width, img.height, { inversionAttempts: "attemptBoth" });
    jsqrTotal += performance.now() - t;
    const jsFound = js ? [js.data] : [];
    t = performance.now();
    const zx = await readBarcodes(img, ZXING_OPTIONS);
    zxingTotal += performance.now() - t;
    const zxFound = zx.filter((r) => r.isValid).map((r) => r.text);
    // The extension's pipeline (src/shared/decode.ts): a small picture that gave nothing is tried at 2×.
    const retry = zxFound.length === 0 && Math.max(img.width, img.height) < 400;
    const extFound = retry
      ? (await readBarcodes(enlarge(img, 2), ZXING_OPTIONS)).filter((r) => r.isValid).map((r) => r.text)
      : zxFound;
    const score = (found) => want.filter((w) => found.includes(w)).length;
    const mark = (found) => (score(found) === want.length ? "yes" : score(found) > 0 ? `${score(found)} of ${want.length}` : "no");
    if (score(jsFound) === want.length) totals.jsqr++;
    if (score(zxFound) === want.length) totals.zxing++;
    if (score(extFound) === want.length) totals.extension++;
    rows.push(`| ${name} | ${img.width}×${img.height} | ${mark(jsFound)} | ${mark(zxFound)} | ${mark(extFound)} |`);
  }
  console.log("| picture | pixels | jsqr 1.4.0 | zxing-wasm 3.1.6 | zxing-wasm, small ones again at 2× (the extension) |");
  console.log("|---|---|---|---|---|");
  for (const row of rows) console.log(row);
  const of = (n) => `**${n} of ${CASES.length}**`;
  console.log(`| **decoded** | | ${of(totals.jsqr)} | ${of(totals.zxing)} | ${of(totals.extension)} |`);
  console.log(`\ntime for all: jsqr ${jsqrTotal.toFixed(0)} ms, zxing-wasm ${zxingTotal.toFixed(0)} ms`);
}

await main();
