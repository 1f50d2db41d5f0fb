// @vitest-environment node
// Decoding QR pictures with the extension's decoder (zxing-wasm, as the service worker
// runs it): codes made here by a QR encoder from real-format payloads, rendered at
// several sizes, rotated, washed out, noisy and with a logo; and pictures that are no
// code at all.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { configureDecoder, decodeQr, enlarge } from "../src/shared/decode";
import { addLogo, addNoise, invert, placeOn, renderQr, rotate, seeded, type Rgba } from "../scripts/qrimage.mjs";
import { FIXTURES } from "./helpers";

const require = createRequire(import.meta.url);
const VECTORS: { name: string; payload: string }[] = JSON.parse(
  readFileSync(path.join(FIXTURES, "vietqr-vectors.json"), "utf8"),
).vectors;
const payload = (prefix: string): string => VECTORS.find((v) => v.name.startsWith(prefix))!.payload;
const BANK = payload("dynamic VietQR");
const MOMO = payload("MoMo");
const VNPAY = payload("VNPay");

beforeAll(() => {
  configureDecoder({ wasmBinary: readFileSync(require.resolve("zxing-wasm/reader/zxing_reader.wasm")) });
});

describe("decodeQr", () => {
  it.each([1.5, 2, 3, 4, 8])("reads a VietQR at %s px per module", async (moduleSize) => {
    expect(await decodeQr(renderQr(BANK, { moduleSize }))).toEqual([BANK]);
  });

  it.each([20, 40, 90])("reads a code under ±%s grey levels of noise", async (amplitude) => {
    expect(await decodeQr(addNoise(renderQr(MOMO, { moduleSize: 3 }), amplitude, amplitude))).toEqual([MOMO]);
  });

  it.each([10, 45, 90, 180])("reads a code rotated by %s°", async (degrees) => {
    expect(await decodeQr(rotate(renderQr(VNPAY, { moduleSize: 4 }), degrees))).toEqual([VNPAY]);
  });

  it("reads a small rotated code by trying it again at twice the size", async () => {
    const small = rotate(renderQr(BANK, { moduleSize: 2 }), 30);
    expect(await decodeQr(small)).toEqual([BANK]);
  });

  it("reads low contrast, brand colours, light-on-dark and a logo over the centre", async () => {
    expect(await decodeQr(renderQr(BANK, { moduleSize: 4, fg: [0x88, 0x88, 0x88], bg: [0xa0, 0xa0, 0xa0] }))).toEqual([BANK]);
    expect(await decodeQr(renderQr(MOMO, { moduleSize: 4, fg: [0xa5, 0x00, 0x64] }))).toEqual([MOMO]);
    expect(await decodeQr(invert(renderQr(BANK, { moduleSize: 4 })))).toEqual([BANK]);
    expect(await decodeQr(addLogo(renderQr(MOMO, { moduleSize: 5, ecLevel: "H" }), 0.25))).toEqual([MOMO]);
  });

  it("reads a small code in a large picture, and two codes in one picture", async () => {
    expect(await decodeQr(placeOn(renderQr(VNPAY, { moduleSize: 2 }), 900, 700, 600, 400))).toEqual([VNPAY]);
    const a = renderQr(BANK, { moduleSize: 3 });
    const b = renderQr(MOMO, { moduleSize: 3 });
    const both = placeOn(a, a.width + b.width + 30, Math.max(a.height, b.height), 0, 0);
    for (let row = 0; row < b.height; row++) {
      both.data.set(b.data.subarray(row * b.width * 4, (row + 1) * b.width * 4), (row * both.width + a.width + 30) * 4);
    }
    expect((await decodeQr(both)).sort()).toEqual([BANK, MOMO].sort());
  });

  it("finds nothing in a picture that is not a code", async () => {
    const random = seeded(42);
    const photo: Rgba = { width: 200, height: 150, data: new Uint8ClampedArray(200 * 150 * 4) };
    for (let i = 0; i < photo.data.length; i++) photo.data[i] = i % 4 === 3 ? 255 : random() * 255;
    expect(await decodeQr(photo)).toEqual([]);
    expect(await decodeQr(renderQr(BANK, { moduleSize: 0.8 }))).toEqual([]); // too small for any reader
  });
});

describe("enlarge", () => {
  it("repeats each pixel factor × factor times", () => {
    const img: Rgba = { width: 2, height: 1, data: new Uint8ClampedArray([1, 2, 3, 4, 5, 6, 7, 8]) };
    const big = enlarge(img, 2);
    expect([big.width, big.height]).toEqual([4, 2]);
    expect(Array.from(big.data.subarray(0, 16))).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 7, 8]);
  });
});
