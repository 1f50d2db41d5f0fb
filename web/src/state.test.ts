import { describe, expect, it } from "vitest";
import { parsePayment, type Payment, type ServerMessage } from "./protocol";
import { initialState, reduce, screenOf, type ViewEvent, type ViewState } from "./state";

const T0 = Date.parse("2026-11-24T10:00:00.000Z");

function payment(seq: number, extra: Record<string, unknown> = {}): Payment {
  const parsed = parsePayment({ seq, qrCode: `QR${seq}`, merchant: "Cửa hàng An", amount: 300000, ...extra });
  if (parsed === null) throw new Error("bad test payment");
  return parsed;
}

const msg = (message: ServerMessage, receivedAt = T0): ViewEvent => ({ type: "message", message, receivedAt });
const info = (hasData = false, ts: number | null = T0): ViewEvent =>
  msg({ type: "SESSION_INFO", ts, sessionId: "s", expiresAt: T0 + 1_800_000, hasData });
const data = (p: Payment): ViewEvent => msg({ type: "PAYMENT_DATA", ts: T0, payment: p });

const run = (...events: ViewEvent[]): ViewState => events.reduce(reduce, initialState);

describe("the screens of SPEC §4 and §5", () => {
  it("starts connecting, and waits for payment data once the session is live", () => {
    expect(screenOf(initialState, T0)).toEqual({ kind: "connecting" });
    expect(screenOf(run(info()), T0)).toEqual({ kind: "waiting", cleared: null });
  });

  it("shows the payment of PAYMENT_DATA, the late-join one included", () => {
    const state = run(info(true), data(payment(4)));
    expect(screenOf(state, T0)).toMatchObject({ kind: "payment", payment: { seq: 4 }, replaced: false });
  });

  it("flags a new seq that replaces the QR, and not the same seq again", () => {
    const replaced = run(info(), data(payment(1)), data(payment(2)));
    expect(screenOf(replaced, T0)).toMatchObject({ kind: "payment", payment: { seq: 2 }, replaced: true });
    // A reconnect brings the same seq back (late join): no flash for what was on screen.
    const again = run(info(), data(payment(1)), info(true), data(payment(1)));
    expect(screenOf(again, T0)).toMatchObject({ kind: "payment", replaced: false });
  });

  it("goes back to waiting on PAYMENT_CLEARED, saying why", () => {
    const state = run(info(), data(payment(1)), msg({ type: "PAYMENT_CLEARED", ts: T0, seq: 2, reason: "paid" }));
    expect(screenOf(state, T0)).toEqual({ kind: "waiting", cleared: "paid" });
    expect(state.payment).toBeNull();
    const next = reduce(state, data(payment(3)));
    expect(screenOf(next, T0)).toMatchObject({ kind: "payment", payment: { seq: 3 } });
    expect(next.cleared).toBeNull();
  });

  it("ignores a payment or clear older than the one on screen", () => {
    const state = run(info(), data(payment(5)), data(payment(4)));
    expect(state.payment?.seq).toBe(5);
    const kept = reduce(state, msg({ type: "PAYMENT_CLEARED", ts: T0, seq: 3, reason: "paid" }));
    expect(kept.payment?.seq).toBe(5);
  });

  it("hides a QR whose expiresAt passed, by the server's clock", () => {
    const expiresAt = new Date(T0 + 60_000).toISOString();
    const state = run(info(), data(payment(1, { expiresAt })));
    expect(screenOf(state, T0 + 59_000).kind).toBe("payment");
    expect(screenOf(state, T0 + 60_000)).toMatchObject({ kind: "qrExpired" });
    // This client's clock runs 30 s behind the server's: the QR expires 30 s earlier by it.
    const behind = run(info(false, T0), msg({ type: "PAYMENT_DATA", ts: T0, payment: payment(1, { expiresAt }) }, T0 - 30_000));
    expect(screenOf(behind, T0 + 29_000).kind).toBe("payment");
    expect(screenOf(behind, T0 + 30_000).kind).toBe("qrExpired");
  });

  it("hides the QR while reconnecting and counts the attempts", () => {
    const lost = run(info(), data(payment(1)), { type: "retrying", attempt: 1, reason: "lost", retryAt: T0 + 800 });
    expect(screenOf(lost, T0)).toEqual({ kind: "reconnecting", attempt: 1 });
    expect(lost.payment).toBeNull();
    const connecting = reduce(lost, { type: "connecting", attempt: 2 });
    expect(screenOf(connecting, T0)).toEqual({ kind: "reconnecting", attempt: 2 });
  });

  it("says the session is full (4403) or rate limited (4429, with the wait)", () => {
    const full = run({ type: "retrying", attempt: 1, reason: "full", retryAt: T0 + 7000 });
    expect(screenOf(full, T0)).toEqual({ kind: "full", attempt: 1 });
    const limited = run({ type: "retrying", attempt: 2, reason: "rateLimited", retryAt: T0 + 12_500 });
    expect(screenOf(limited, T0)).toEqual({ kind: "rateLimited", retryInSeconds: 13 });
    expect(screenOf(limited, T0 + 20_000)).toEqual({ kind: "rateLimited", retryInSeconds: 0 });
  });

  it("ends on SESSION_EXPIRED and on 4401/4404/4410, and nothing after that counts", () => {
    const expired = run(info(), data(payment(1)), msg({ type: "SESSION_EXPIRED", ts: T0 }));
    expect(screenOf(expired, T0)).toEqual({ kind: "expired" });
    expect(screenOf(reduce(expired, data(payment(2))), T0)).toEqual({ kind: "expired" });
    for (const reason of ["invalid", "unknown", "expired"] as const) {
      expect(screenOf(run(info(), { type: "ended", reason }), T0)).toEqual({ kind: reason });
    }
  });

  it("learns the server's clock from each message's ts", () => {
    expect(run(info(false, T0 + 5000)).clockOffsetMs).toBe(5000);
    expect(run(info(false, T0 + 5000), msg({ type: "PONG", ts: null })).clockOffsetMs).toBe(5000);
  });
});
