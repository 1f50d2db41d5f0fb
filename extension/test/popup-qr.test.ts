// @vitest-environment node
// The popup's QR of the viewer link decodes back to the link.
import jsQR from "jsqr";
import { describe, expect, it } from "vitest";
import { drawQr } from "../src/popup/qr";

/** Just enough of a canvas for drawQr: fillRect into an RGBA bitmap. */
function fakeCanvas() {
  const canvas = {
    width: 0,
    height: 0,
    dataset: {} as Record<string, string>,
    pixels: new Uint8ClampedArray(0),
    getContext() {
      canvas.pixels = new Uint8ClampedArray(canvas.width * canvas.height * 4);
      let color = 0;
      return {
        set fillStyle(value: string) {
          color = value === "#000" ? 0 : 255;
        },
        fillRect(x: number, y: number, w: number, h: number) {
          for (let row = y; row < y + h; row++) {
            for (let col = x; col < x + w; col++) {
              const o = (row * canvas.width + col) * 4;
              canvas.pixels.set([color, color, color, 255], o);
            }
          }
        },
      };
    },
  };
  return canvas;
}

describe("drawQr", () => {
  it("draws a QR a phone can scan back into the viewer link", () => {
    const url =
      "https://pay.example.com/qr/eyJhbGciOiJIUzI1NiIsImtpZCI6ImRlZmF1bHQiLCJ0eXAiOiJndy12aWV3K2p3dCJ9." +
      "eyJpc3MiOiJodHRwczovL3BheS5leGFtcGxlLmNvbSIsImF1ZCI6Imd3LXZpZXdlciIsInN1YiI6IjFlYjQ0YzU0In0.c2lnbmF0dXJl";
    const canvas = fakeCanvas();
    drawQr(canvas as unknown as HTMLCanvasElement, url);
    expect(canvas.width).toBeGreaterThanOrEqual(200);
    const decoded = jsQR(canvas.pixels, canvas.width, canvas.height);
    expect(decoded?.data).toBe(url);
    expect(canvas.dataset["text"]).toBe(url);
  });
});
