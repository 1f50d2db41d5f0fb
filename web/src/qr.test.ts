import jsQR from "jsqr";
import { describe, expect, it } from "vitest";
import { QUIET_ZONE, qrPath } from "./qr";

/** Paint the path's squares (our own `M x y h w v1 h-w z` runs) and decode the QR. */
function decode(text: string): string | null {
  const { size, d } = qrPath(text);
  const scale = 4;
  const width = size * scale;
  const pixels = new Uint8ClampedArray(width * width * 4).fill(255);
  for (const run of d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)) {
    const [x, y, w] = [Number(run[1]), Number(run[2]), Number(run[3])];
    for (let py = y * scale; py < (y + 1) * scale; py += 1) {
      for (let px = x * scale; px < (x + w) * scale; px += 1) {
        const i = (py * width + px) * 4;
        pixels[i] = pixels[i + 1] = pixels[i + 2] = 0;
      }
    }
  }
  return jsQR(pixels, width, width)?.data ?? null;
}

const VIETQR =
  "00020101021238570010A00000072701270006970436011300110123456780208QRIBFTTA530370454063000005802VN5910CUA HANG AN6005HANOI6304B1F0";

describe("qrPath", () => {
  it("draws a QR that decodes back to the EMVCo payload", () => {
    expect(decode(VIETQR)).toBe(VIETQR);
  });

  it("encodes text as UTF-8", () => {
    expect(decode("Cửa hàng An")).toBe("Cửa hàng An");
  });

  it("leaves a four-module quiet zone and fits a 512-char payload", () => {
    const { size, d } = qrPath("0".repeat(512));
    expect(size).toBeGreaterThan(2 * QUIET_ZONE);
    const xs = [...d.matchAll(/M(\d+) (\d+)/g)].flatMap((m) => [Number(m[1]), Number(m[2])]);
    expect(Math.min(...xs)).toBe(QUIET_ZONE);
  });
});
