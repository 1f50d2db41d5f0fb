// MoMo's web payment page (payment.momo.vn/v2/gateway/pay?t=…, and the test host).
//
// The desktop layout shows the QR as <img class="image-qr-code" alt="paymentcode">
// (a PNG data URI), the merchant in .merchant-name, and one .box-detail per field:
// an <h4> label ("Nhà cung cấp", "Mã đơn hàng", "Mô tả", "Số tiền") and the value in
// a <p> (the amount in an <h3>, e.g. "300.000đ"). The countdown is
// <span name="expiredAt"> with two .time-box children (minutes, seconds). The
// og:description meta tag repeats the fields ("Nhà cung cấp: … Số tiền: 300,000đ").
// MoMo's mobile layout shows no QR (only an "open in the app" button): nothing is
// captured there.

import type { Capture, OrderStatus, QrSource, SiteAdapter } from "../shared/types";
import { parseVndAmount } from "../shared/amount";
import { fold, isShown, labelledValue, parseCountdown, textOf } from "./_dom";

const QR_SELECTORS = [
  "img.image-qr-code",
  'img[alt="paymentcode"]',
  ".qr-code img",
  ".qr-code canvas",
  "canvas.qr-code",
  "#qrcode canvas",
  "#qrcode img",
];
const BOX = ".box-detail";
const LABEL = "h4, .label, dt";
const VALUE = "h3, p, dd, .value";

function meta(doc: Document): string {
  const content = doc.querySelector('meta[property="og:description"]')?.getAttribute("content");
  return content?.replace(/\s+/g, " ").trim() ?? "";
}

/** "Nhà cung cấp: Shop An. Mã đơn hàng: …" → the value after `label:`, up to the next "Label:". */
function fromMeta(doc: Document, label: string): string | null {
  const text = meta(doc).normalize("NFC");
  const escaped = label.normalize("NFC").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`${escaped}\\s*:\\s*`, "iu").exec(text);
  if (!match) return null;
  const rest = text.slice(match.index + match[0].length);
  const value = rest.split(/\.\s+(?=\p{Lu}[^:.]{0,30}:)/u)[0]?.trim().replace(/\.$/, "");
  return value || null;
}

function findQr(doc: Document): QrSource | null {
  for (const selector of QR_SELECTORS) {
    for (const el of Array.from(doc.querySelectorAll(selector))) {
      if (!isShown(el)) continue;
      if (el.tagName === "IMG" && el.getAttribute("src")) return el as HTMLImageElement;
      if (el.tagName === "CANVAS" && (el as HTMLCanvasElement).width > 0) return el as HTMLCanvasElement;
    }
  }
  return null;
}

function countdown(doc: Document): number | null {
  const box = doc.querySelector('[name="expiredAt"]');
  if (box) {
    const parts = Array.from(box.querySelectorAll(".time-box"), (el) => textOf(el));
    if (parts.length >= 2 && parts.every((p) => /^\d{1,2}$/.test(p))) {
      const [m, s] = parts.slice(-2).map(Number) as [number, number];
      const h = parts.length >= 3 ? Number(parts[parts.length - 3]) : 0;
      return h * 3600 + m * 60 + s;
    }
    const seconds = parseCountdown(textOf(box));
    if (seconds !== null) return seconds;
  }
  // "Đơn hàng sẽ hết hạn sau: 09:45"
  for (const el of Array.from(doc.querySelectorAll("p, div, span"))) {
    const text = textOf(el);
    if (text.length < 80 && fold(text).includes("het han sau")) {
      const seconds = parseCountdown(text) ?? parseCountdown(textOf(el.parentElement));
      if (seconds !== null) return seconds;
    }
  }
  return null;
}

const PAID = /(thanh toan|giao dich) thanh cong|payment (successful|succeeded|completed)/;
const CANCELLED =
  /(giao dich|don hang|thanh toan) da (bi )?huy|giao dich (that bai|khong thanh cong)|(payment|transaction|order) (was )?(cancelled|canceled|failed)/;
const EXPIRED =
  /(giao dich|don hang|ma qr|ma thanh toan|phien thanh toan) da het han|het thoi gian thanh toan|(payment|order|qr code) (has )?expired/;

export const adapter: SiteAdapter = {
  id: "momo",
  name: "MoMo payment page",
  matches: ["https://payment.momo.vn/*", "https://test-payment.momo.vn/*"],

  detect(doc) {
    return Boolean(
      findQr(doc) || doc.querySelector(`${BOX}, .merchant-name, [name="expiredAt"]`) || meta(doc),
    );
  },

  extract(doc): Capture | null {
    const qr = findQr(doc);
    if (!qr) return null;
    const merchant =
      textOf(doc.querySelector(".merchant-name")) ||
      labelledValue(doc, BOX, LABEL, "Nhà cung cấp", VALUE) ||
      fromMeta(doc, "Nhà cung cấp");
    const amount =
      parseVndAmount(labelledValue(doc, BOX, LABEL, "Số tiền", VALUE)) ??
      parseVndAmount(fromMeta(doc, "Số tiền"));
    if (!merchant || amount === null) return null;
    const capture: Capture = { qr, merchant, amount };
    const orderId = labelledValue(doc, BOX, LABEL, "Mã đơn hàng", VALUE) ?? fromMeta(doc, "Mã đơn hàng");
    if (orderId) capture.orderId = orderId;
    const description = labelledValue(doc, BOX, LABEL, "Mô tả", VALUE) ?? fromMeta(doc, "Mô tả");
    if (description) capture.description = description;
    const seconds = countdown(doc);
    if (seconds !== null) capture.expiresInSeconds = seconds;
    const deeplink = doc.querySelector<HTMLAnchorElement>('a[href^="momo://"]')?.getAttribute("href");
    if (deeplink) capture.deeplink = deeplink;
    return capture;
  },

  status(doc): OrderStatus {
    const text = fold(textOf(doc.body));
    if (PAID.test(text)) return "paid";
    if (CANCELLED.test(text)) return "cancelled";
    if (EXPIRED.test(text)) return "expired";
    if (countdown(doc) === 0) return "expired";
    return "pending";
  },
};
