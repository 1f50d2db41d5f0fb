import { describe, expect, it } from "vitest";
import {
  CaptureError,
  ExpiryClock,
  MAX_QR_BYTES,
  cleanText,
  dataUriBytes,
  qrCodeOf,
  toPaymentData,
} from "../src/content/capture";
import type { Capture } from "../src/shared/types";
import { checkout, pngDataUri } from "./helpers";

const PNG = pngDataUri("qr-a.png");

function capture(extra: Partial<Capture> = {}): Capture {
  return { qr: PNG, merchant: "Cửa hàng An", amount: 300000, ...extra };
}

describe("cleanText", () => {
  it("normalizes, strips invisible and control characters, collapses spaces", () => {
    expect(cleanText("  Cu\u0309a   ha\u0300ng\nAn ", 120)).toBe("Của hàng An"); // NFD → NFC
    expect(cleanText("Shop\u200b An\u202e\u0007", 120)).toBe("Shop An");
    expect(cleanText("\ue000Private", 120)).toBe("Private");
  });

  it("cuts at a character limit without splitting a character", () => {
    expect(cleanText("😀".repeat(130), 120)).toBe("😀".repeat(120));
  });
});

describe("qrCodeOf", () => {
  it("keeps a PNG data URI as it is", () => {
    const img = checkout().querySelector<HTMLImageElement>(".image-qr-code")!;
    expect(qrCodeOf(img)).toBe(PNG);
  });

  it("exports a canvas as PNG", () => {
    const canvas = checkout().createElement("canvas");
    canvas.width = 10;
    canvas.toDataURL = ((type?: string) => (type === "image/png" ? PNG : "data:,")) as typeof canvas.toDataURL;
    expect(qrCodeOf(canvas)).toBe(PNG);
  });

  it("says so when a canvas cannot be read (a cross-origin image tainted it)", () => {
    const canvas = checkout().createElement("canvas");
    canvas.toDataURL = () => {
      throw new DOMException("tainted", "SecurityError");
    };
    expect(() => qrCodeOf(canvas)).toThrow(/another site/);
  });

  it("waits for an image in another format that has not loaded", () => {
    const img = checkout().createElement("img");
    img.src = "https://payment.momo.vn/qr.jpg";
    const error = (() => {
      try {
        qrCodeOf(img);
      } catch (e) {
        return e as CaptureError;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(CaptureError);
    expect(error?.later).toBe(true);
  });

  it("passes EMVCo text through and refuses other data URIs and oversized images", () => {
    expect(qrCodeOf("000201010212…6304ABCD")).toBe("000201010212…6304ABCD");
    expect(() => qrCodeOf("data:image/svg+xml;base64,PHN2Zz4=")).toThrow(/not a PNG/);
    const huge = `data:image/png;base64,${"A".repeat(Math.ceil((MAX_QR_BYTES + 10) / 3) * 4)}`;
    expect(dataUriBytes(huge)).toBeGreaterThan(MAX_QR_BYTES);
    expect(() => qrCodeOf(huge)).toThrow(/larger than/);
  });
});

describe("ExpiryClock", () => {
  it("keeps one expiresAt while the countdown ticks, and moves it when it jumps", () => {
    const clock = new ExpiryClock();
    const t0 = Date.UTC(2026, 10, 24, 10, 0, 0);
    const first = clock.at(600, t0);
    expect(first).toBe("2026-11-24T10:10:00.000Z");
    expect(clock.at(599, t0 + 1_000)).toBe(first);
    expect(clock.at(590, t0 + 12_000)).toBe(first); // 2 s of drift: still the same order
    expect(clock.at(600, t0 + 60_000)).toBe("2026-11-24T10:11:00.000Z"); // a new order's timer
    expect(clock.at(undefined, t0)).toBeUndefined();
  });
});

describe("toPaymentData", () => {
  it("builds what the gateway accepts", () => {
    expect(
      toPaymentData(
        capture({ orderId: "A-1024", description: " Đơn  A-1024 ", deeplink: "momo://app?t=1" }),
        PNG,
        "2026-11-24T10:10:00.000Z",
      ),
    ).toEqual({
      qrCode: PNG,
      merchant: "Cửa hàng An",
      amount: 300000,
      orderId: "A-1024",
      description: "Đơn A-1024",
      expiresAt: "2026-11-24T10:10:00.000Z",
      deeplink: "momo://app?t=1",
    });
  });

  it("drops what the gateway would refuse instead of failing the publish", () => {
    const data = toPaymentData(
      capture({ orderId: "đơn #1024", deeplink: "javascript:alert(1)", description: "x".repeat(300) }),
      PNG,
      undefined,
    );
    expect(data.orderId).toBeUndefined();
    expect(data.deeplink).toBeUndefined();
    expect(data.description).toHaveLength(255);
    expect(data.merchant.length).toBeLessThanOrEqual(120);
  });

  it("refuses a capture without merchant or amount", () => {
    expect(() => toPaymentData(capture({ merchant: "\u200b " }), PNG, undefined)).toThrow(/merchant/);
    expect(() => toPaymentData(capture({ amount: 0 }), PNG, undefined)).toThrow(/amount/);
    expect(() => toPaymentData(capture({ amount: 1.5 }), PNG, undefined)).toThrow(/amount/);
  });
});
