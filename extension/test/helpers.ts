import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { JSDOM } from "jsdom";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const FIXTURES = path.join(ROOT, "test", "fixtures");

export function fixture(name: string): string {
  return readFileSync(path.join(FIXTURES, name), "utf8");
}

export function pngDataUri(name: string): string {
  return `data:image/png;base64,${readFileSync(path.join(FIXTURES, name)).toString("base64")}`;
}

/** A document from HTML, as at MoMo's address; scripts do not run. */
export function page(html: string, url = "https://payment.momo.vn/v2/gateway/pay?t=abc"): Document {
  return new JSDOM(html, { url, pretendToBeVisual: true }).window.document;
}

/** The fixture checkout page (order A-1024, 300.000đ, a real QR PNG). */
export function checkout(): Document {
  return page(fixture("momo-checkout.html"));
}
