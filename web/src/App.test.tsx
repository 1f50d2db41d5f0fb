import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { View } from "./App";
import { MESSAGES } from "./i18n";
import { parsePayment, type ServerMessage } from "./protocol";
import { initialState, reduce, type ViewEvent, type ViewState } from "./state";

const T0 = Date.parse("2026-11-24T10:00:00.000Z");
const msg = (message: ServerMessage): ViewEvent => ({ type: "message", message, receivedAt: T0 });
const live = msg({ type: "SESSION_INFO", ts: T0, sessionId: "s", expiresAt: T0 + 1_800_000, hasData: true });

function withPayment(fields: Record<string, unknown>): ViewState {
  const payment = parsePayment({ seq: 1, qrCode: "00020101", merchant: "Cửa hàng An", amount: 300000, ...fields });
  if (payment === null) throw new Error("bad test payment");
  return [live, msg({ type: "PAYMENT_DATA", ts: T0, payment })].reduce(reduce, initialState);
}

const render = (state: ViewState, lang: "vi" | "en" = "vi") =>
  renderToStaticMarkup(<View state={state} now={T0} t={MESSAGES[lang]} />);

describe("View", () => {
  it("shows the QR, merchant, amount in VND, order id and both countdowns", () => {
    const html = render(withPayment({ orderId: "A-1024", expiresAt: new Date(T0 + 600_000).toISOString() }));
    expect(html).toContain('data-screen="payment"');
    expect(html).toContain("<svg");
    expect(html).toContain('aria-label="Mã QR thanh toán 300.000\u00a0₫ cho Cửa hàng An"');
    expect(html).toContain('<dd class="merchant">Cửa hàng An</dd>');
    expect(html).toContain('<dd class="amount">300.000\u00a0₫</dd>');
    expect(html).toContain('<dd class="order-id">A-1024</dd>');
    expect(html).toContain('<time class="qr-countdown">10:00</time>');
    expect(html).toContain('<time class="session-countdown">30:00</time>');
  });

  it("shows a PNG QR as an image with alt text", () => {
    const html = render(withPayment({ qrCode: "data:image/png;base64,iVBORw0KGgo=" }), "en");
    expect(html).toContain('<img class="qr qr--png" src="data:image/png;base64,iVBORw0KGgo="');
    expect(html).toContain('alt="Payment QR code: 300.000\u00a0₫ to Cửa hàng An"');
  });

  it("never turns payload text into markup", () => {
    const evil = '<img src=x onerror="alert(1)">';
    const html = render(withPayment({ merchant: evil, description: evil, orderId: "A-1" }));
    expect(html).not.toContain("<img src=x");
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
  });

  it("uses no inline style attribute (the CSP allows none)", () => {
    const html = render(withPayment({ expiresAt: new Date(T0 + 1000).toISOString(), deeplink: "momo://x" }));
    expect(html).not.toMatch(/\sstyle=/);
  });

  it("has a message for every state, in Vietnamese and English", () => {
    const states: [ViewState, string, string][] = [
      [initialState, "Đang kết nối…", "Connecting…"],
      [reduce(initialState, live), "Đang chờ thông tin thanh toán…", "Waiting for payment details…"],
      [reduce(initialState, { type: "retrying", attempt: 3, reason: "lost", retryAt: T0 }), "(lần 3)", "(attempt 3)"],
      [reduce(initialState, { type: "ended", reason: "expired" }), "Phiên thanh toán đã hết hạn.", "This payment session has expired."],
      [reduce(initialState, { type: "ended", reason: "invalid" }), "Liên kết thanh toán không hợp lệ.", "This payment link is not valid."],
      [reduce(initialState, { type: "ended", reason: "unknown" }), "Không tìm thấy phiên thanh toán.", "Payment session not found."],
      [reduce(initialState, { type: "retrying", attempt: 1, reason: "full", retryAt: T0 }), "quá nhiều màn hình", "Too many screens"],
      [reduce(initialState, { type: "retrying", attempt: 1, reason: "rateLimited", retryAt: T0 + 9000 }), "sau 9 giây", "in 9 s"],
    ];
    for (const [state, vi, en] of states) {
      expect(render(state, "vi")).toContain(vi);
      expect(render(state, "en")).toContain(en);
    }
  });
});
