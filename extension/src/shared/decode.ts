// Reads the QR codes in a picture with zxing-wasm (ZXing-C++ compiled to WebAssembly;
// README "Browser extension" compares it with jsqr). The service worker runs it, so the
// WebAssembly module loads from the extension's own files (`locateFile`) and never from
// a CDN, and the extension pages' CSP allows it with 'wasm-unsafe-eval' only.

import { prepareZXingModule, readBarcodes, type ReaderOptions } from "zxing-wasm/reader";

/** Pixels as ImageData holds them (RGBA, row by row); ImageData itself is one. */
export interface Pixels {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

export type DecoderSetup = { wasmBinary: ArrayBuffer | Uint8Array } | { locateFile: (file: string) => string };

const OPTIONS: ReaderOptions = {
  formats: ["QRCode"],
  tryHarder: true,
  tryRotate: true,
  tryInvert: true,
  tryDownscale: true,
  maxNumberOfSymbols: 8,
};
/** Pictures smaller than this (longest side) are tried again at twice the size. */
const SMALL_PX = 400;

let configured = false;

/** The extension writes nothing to the console; Emscripten's default output hooks would. */
const silent = (): void => undefined;

/** Where the .wasm file comes from: the extension's own URL, or its bytes (tests). */
export function configureDecoder(setup: DecoderSetup): void {
  const overrides =
    "wasmBinary" in setup
      ? { wasmBinary: setup.wasmBinary as ArrayBuffer, locateFile: (file: string) => file }
      : { locateFile: setup.locateFile };
  prepareZXingModule({ overrides: { ...overrides, print: silent, printErr: silent } });
  configured = true;
}

/** Nearest-neighbour enlargement: small, rotated codes read better with more pixels per module. */
export function enlarge(img: Pixels, factor: number): Pixels {
  const width = img.width * factor;
  const height = img.height * factor;
  const source = new Uint32Array(img.data.buffer, img.data.byteOffset, img.data.byteLength / 4);
  const data = new Uint8ClampedArray(width * height * 4);
  const target = new Uint32Array(data.buffer);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / factor) * img.width;
    for (let x = 0; x < width; x++) target[y * width + x] = source[row + Math.floor(x / factor)]!;
  }
  return { width, height, data };
}

/** The text of every QR code in the picture, in reading order, each once. */
export async function decodeQr(img: Pixels): Promise<string[]> {
  if (!configured) throw new Error("configureDecoder() first: the decoder must not fetch its .wasm from a CDN");
  const read = async (pixels: Pixels): Promise<string[]> =>
    (await readBarcodes(pixels as ImageData, OPTIONS)).filter((r) => r.isValid).map((r) => r.text);
  let texts = await read(img);
  if (texts.length === 0 && Math.max(img.width, img.height) < SMALL_PX) texts = await read(enlarge(img, 2));
  return [...new Set(texts)];
}
