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

const VCB = { provider: "VIETQR", bankBin: "970436", bankName: "Vietcombank", account: "••••4455" };

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
      [reduce(initialState, { type: "ended", reason: "noLink" }), "Mở liên kết thanh toán", "payment link on this screen"],
    ];
    for (const [state, vi, en] of states) {
      expect(render(state, "vi")).toContain(vi);
      expect(render(state, "en")).toContain(en);
    }
  });

  it("shows who the QR pays under the amount", () => {
    const html = render(withPayment({ payee: { ...VCB, merchantName: "CUA HANG AN" } }));
    expect(html).toMatch(/<dd class="amount">[^<]*<\/dd><dt>Tài khoản nhận<\/dt><dd class="payee">Vietcombank ••••4455<\/dd>/);
    expect(html).toContain('<dd class="merchant">Cửa hàng An</dd>');
    expect(html).not.toContain("payee-mismatch");
    const momo = { provider: "MOMO", bankBin: "970454", bankName: "BVBank", account: "••••5080", merchantName: null };
    expect(render(withPayment({ payee: momo }), "en")).toContain('<dt>Account</dt><dd class="payee">MoMo · BVBank ••••5080</dd>');
  });

  it("shows no payee line for a PNG QR", () => {
    const html = render(withPayment({ qrCode: "data:image/png;base64,iVBORw0KGgo=" }));
    expect(html).not.toContain('class="payee"');
    expect(html).not.toContain("Tài khoản nhận");
  });

  it("shows the QR's name as the payee, and says so, when it contradicts the merchant", () => {
    const html = render(withPayment({ payee: { ...VCB, merchantName: "CUA HANG BINH" } }));
    expect(html).toContain('<dt>Người nhận</dt><dd class="payee-name">CUA HANG BINH</dd>');
    expect(html).not.toContain('class="merchant"');
    expect(html).toContain('aria-label="Mã QR thanh toán 300.000\u00a0₫ cho CUA HANG BINH"');
    expect(html).toContain(
      '<p class="payee-mismatch" role="alert">Tên trong mã QR khác với tên cửa hàng “Cửa hàng An”: tiền sẽ chuyển cho người nhận ghi ở trên.</p>',
    );
    const en = render(withPayment({ payee: { ...VCB, merchantName: "CUA HANG BINH" } }), "en");
    expect(en).toContain('<dt>Pay to</dt><dd class="payee-name">CUA HANG BINH</dd>');
    expect(en).toContain("differs from the shop&#x27;s name “Cửa hàng An”");
  });

  it("treats names that differ only in case, accents, đ or spacing as the same payee", () => {
    const html = render(withPayment({ merchant: "Tiệm  Đức", payee: { ...VCB, merchantName: "TIEM DUC" } }));
    expect(html).toContain('<dd class="merchant">Tiệm  Đức</dd>');
    expect(html).not.toContain("payee-mismatch");
  });

  it("offers the fullscreen button only when given its action, and exposes the wake lock", () => {
    const offered = renderToStaticMarkup(
      <View state={reduce(initialState, live)} now={T0} t={MESSAGES.vi} wakeLock="held" onFullscreen={() => {}} />,
    );
    expect(offered).toContain('data-wake-lock="held"');
    expect(offered).toMatch(/<button type="button" class="fullscreen">.*Toàn màn hình<\/button>/);
    const plain = render(reduce(initialState, live), "en");
    expect(plain).not.toContain("<button");
    expect(plain).toContain('data-wake-lock="unsupported"');
  });
});
