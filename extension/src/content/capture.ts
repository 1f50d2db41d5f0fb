// From what an adapter read to the `data` the gateway accepts (SPEC §3): QR as a PNG
// data URI, text cleaned to the gateway's character rules, the countdown turned into
// a stable `expiresAt`.

import type { Capture, PaymentData, QrSource } from "../shared/types";

export const MAX_QR_BYTES = 262_144; // payload.max_qr_bytes default
const PNG_PREFIX = "data:image/png;base64,";
const ORDER_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
/** A countdown that moved by at most this much since the last reading keeps its expiresAt. */
const EXPIRY_SLACK_MS = 5_000;

export class CaptureError extends Error {
  /** `later`: the page is not ready yet (an image still loading); read it again later. */
  constructor(
    message: string,
    readonly later = false,
  ) {
    super(message);
    this.name = "CaptureError";
  }
}

/** NFC, no control/format/private/unassigned characters, spaces collapsed, at most `max` characters. */
export function cleanText(text: string, max: number): string {
  const cleaned = text
    .normalize("NFC")
    .replace(/[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  const chars = Array.from(cleaned);
  return chars.length <= max ? cleaned : chars.slice(0, max).join("").trim();
}

/** Decoded size of a base64 data URI's payload. */
export function dataUriBytes(uri: string): number {
  const b64 = uri.slice(uri.indexOf(",") + 1);
  const padding = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
  return Math.floor((b64.length * 3) / 4) - padding;
}

/**
 * The QR as the gateway takes it: a `data:image/png;base64,…` URI (an <img> showing
 * another format or URL, and a <canvas>, are exported as PNG), or the EMVCo text an
 * adapter found.
 */
export function qrCodeOf(qr: QrSource): string {
  let uri: string;
  if (typeof qr === "string") {
    uri = qr.trim();
    if (!uri.startsWith("data:")) return uri; // EMVCo payload text
  } else if (qr.tagName === "CANVAS") {
    uri = exportCanvas(qr as HTMLCanvasElement);
  } else {
    const img = qr as HTMLImageElement;
    const src = img.getAttribute("src") ?? "";
    if (src.startsWith(PNG_PREFIX)) {
      uri = src;
    } else {
      if (!img.complete || img.naturalWidth === 0) throw new CaptureError("The QR image has not loaded yet", true);
      const canvas = img.ownerDocument.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const context = canvas.getContext("2d");
      if (!context) throw new CaptureError("Could not draw the QR image to export it as PNG");
      context.drawImage(img, 0, 0);
      uri = exportCanvas(canvas);
    }
  }
  if (!uri.startsWith(PNG_PREFIX)) throw new CaptureError("The QR image is not a PNG and could not be converted");
  if (dataUriBytes(uri) > MAX_QR_BYTES) {
    throw new CaptureError(`The QR image is larger than ${MAX_QR_BYTES} bytes, the gateway's limit`);
  }
  return uri;
}

function exportCanvas(canvas: HTMLCanvasElement): string {
  try {
    return canvas.toDataURL("image/png");
  } catch {
    // A canvas holding a cross-origin image is "tainted" and cannot be read.
    throw new CaptureError("The QR image comes from another site and cannot be read by the extension");
  }
}

/**
 * Turns countdown readings into one `expiresAt` per order: a countdown that ticks
 * along keeps the first estimate (so each tick is not a new publish); one that jumps
 * (a new order, a reset timer) gets a new one.
 */
export class ExpiryClock {
  private last: number | null = null;

  at(secondsLeft: number | undefined, now: number): string | undefined {
    if (secondsLeft === undefined) {
      this.last = null;
      return undefined;
    }
    const estimate = now + secondsLeft * 1000;
    if (this.last === null || Math.abs(estimate - this.last) > EXPIRY_SLACK_MS) {
      this.last = Math.round(estimate / 1000) * 1000;
    }
    return new Date(this.last).toISOString();
  }
}

/** The `data` for POST /api/payment, or a CaptureError saying what is wrong. */
export function toPaymentData(capture: Capture, qrCode: string, expiresAt: string | undefined): PaymentData {
  const merchant = cleanText(capture.merchant, 120);
  if (!merchant) throw new CaptureError("The page shows no merchant name");
  if (!Number.isSafeInteger(capture.amount) || capture.amount < 1) {
    throw new CaptureError("The page shows no valid amount");
  }
  const data: PaymentData = { qrCode, merchant, amount: capture.amount };
  const orderId = capture.orderId?.trim();
  if (orderId && ORDER_ID.test(orderId)) data.orderId = orderId;
  const description = capture.description ? cleanText(capture.description, 255) : "";
  if (description) data.description = description;
  if (expiresAt) data.expiresAt = expiresAt;
  const deeplink = capture.deeplink?.trim();
  if (deeplink && deeplink.startsWith("momo://") && deeplink.length <= 2048) data.deeplink = deeplink;
  return data;
}
