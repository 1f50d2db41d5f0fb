import { describe, expect, it } from "vitest";
import adapters from "virtual:adapters";
import { adapter as momo } from "../src/adapters/momo";
import { matchPattern } from "../src/shared/match";
import { checkout, page, pngDataUri } from "./helpers";

function setBox(doc: Document, label: string, value: string): void {
  for (const box of Array.from(doc.querySelectorAll(".box-detail"))) {
    if (box.querySelector("h4")?.textContent === label) box.querySelector("p, h3")!.textContent = value;
  }
}

describe("the MoMo adapter", () => {
  it("is in the registry and matches MoMo's payment hosts only", () => {
    expect(adapters).toContain(momo);
    const url = "https://payment.momo.vn/v2/gateway/pay?t=TU9NT3xBLTEwMjQ";
    expect(momo.matches.some((p) => matchPattern(p, url))).toBe(true);
    expect(momo.matches.some((p) => matchPattern(p, "https://test-payment.momo.vn/v2/gateway/pay?t=x"))).toBe(true);
    expect(momo.matches.some((p) => matchPattern(p, "https://payment.momo.vn.evil.example/pay"))).toBe(false);
    expect(momo.matches.some((p) => matchPattern(p, "http://payment.momo.vn/v2/gateway/pay"))).toBe(false);
  });

  it("reads the QR, merchant, amount, order, description and countdown from the checkout page", () => {
    const doc = checkout();
    expect(momo.detect(doc)).toBe(true);
    expect(momo.status(doc)).toBe("pending");
    const capture = momo.extract(doc)!;
    expect((capture.qr as HTMLImageElement).getAttribute("src")).toBe(pngDataUri("qr-a.png"));
    expect(capture).toMatchObject({
      merchant: "Cửa hàng An",
      amount: 300000,
      orderId: "A-1024",
      description: "Thanh toán đơn hàng A-1024",
      expiresInSeconds: 600,
    });
    expect(capture.deeplink).toBeUndefined();
  });

  it("follows the page: a new amount, order and countdown", () => {
    const doc = checkout();
    setBox(doc, "Số tiền", "1.250.000đ");
    setBox(doc, "Mã đơn hàng", "A-1025");
    const boxes = doc.querySelectorAll('[name="expiredAt"] .time-box');
    boxes[0]!.textContent = "04";
    boxes[1]!.textContent = "59";
    expect(momo.extract(doc)).toMatchObject({ amount: 1250000, orderId: "A-1025", expiresInSeconds: 299 });
  });

  it("shows nothing while the QR is missing (loading, or MoMo's mobile layout)", () => {
    const doc = checkout();
    doc.querySelector(".image-qr-code")!.removeAttribute("src");
    expect(momo.extract(doc)).toBeNull();
    doc.querySelector(".qr-panel")!.remove();
    expect(momo.extract(doc)).toBeNull();
    expect(momo.detect(doc)).toBe(true); // still the checkout page
  });

  it("skips a hidden QR", () => {
    const doc = checkout();
    (doc.querySelector(".qr-panel") as HTMLElement).style.display = "none";
    expect(momo.extract(doc)).toBeNull();
  });

  it("falls back to og:description for merchant, order and amount", () => {
    const doc = page(`<!doctype html><html><head>
      <meta property="og:description" content="Nhà cung cấp: Quán Bình. Mã đơn hàng: B-2048. Số tiền: 150,000đ. Mô tả: Cơm tấm">
      </head><body><img class="image-qr-code" alt="paymentcode" src="${pngDataUri("qr-b.png")}"></body></html>`);
    expect(momo.extract(doc)).toMatchObject({
      merchant: "Quán Bình",
      orderId: "B-2048",
      amount: 150000,
      description: "Cơm tấm",
    });
  });

  it("reads a QR drawn on a canvas, and a countdown written as text", () => {
    const doc = page(`<!doctype html><body>
      <span class="merchant-name">Quán Bình</span>
      <div class="box-detail"><h4>Số tiền</h4><h3>150.000₫</h3></div>
      <div class="qr-code"><canvas width="120" height="120"></canvas></div>
      <p>Đơn hàng sẽ hết hạn sau: 09:45</p></body>`);
    const capture = momo.extract(doc)!;
    expect((capture.qr as HTMLElement).tagName).toBe("CANVAS");
    expect(capture.expiresInSeconds).toBe(585);
    expect(capture.orderId).toBeUndefined();
  });

  it("needs a merchant and a parseable amount", () => {
    const doc = checkout();
    setBox(doc, "Số tiền", "miễn phí");
    doc.querySelector('meta[property="og:description"]')!.remove();
    expect(momo.extract(doc)).toBeNull();
  });

  it("takes a momo:// deeplink when the page has one", () => {
    const doc = checkout();
    const a = doc.createElement("a");
    a.href = "momo://app?action=payWithApp&t=abc";
    a.textContent = "Mở ứng dụng MoMo";
    doc.body.append(a);
    expect(momo.extract(doc)?.deeplink).toBe("momo://app?action=payWithApp&t=abc");
  });

  it.each([
    ["Giao dịch thành công", "paid"],
    ["Thanh toán thành công!", "paid"],
    ["Giao dịch đã bị hủy", "cancelled"],
    ["Đơn hàng đã hủy", "cancelled"],
    ["Giao dịch thất bại", "cancelled"],
    ["Giao dịch đã hết hạn", "expired"],
    ["Mã QR đã hết hạn, vui lòng tạo đơn hàng mới", "expired"],
  ])("knows the order is over when the page says %j", (message, status) => {
    const doc = checkout();
    doc.getElementById("checkout")!.outerHTML = `<div class="result"><h2>${message}</h2></div>`;
    expect(momo.status(doc)).toBe(status);
  });

  it("does not mistake the countdown's label for an expired order", () => {
    const doc = checkout(); // "Đơn hàng sẽ hết hạn sau:" (will expire in)
    expect(momo.status(doc)).toBe("pending");
    const boxes = doc.querySelectorAll('[name="expiredAt"] .time-box');
    boxes[0]!.textContent = "00";
    boxes[1]!.textContent = "00";
    expect(momo.status(doc)).toBe("expired");
  });
});
