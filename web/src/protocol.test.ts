import { describe, expect, it } from "vitest";
import { classifyClose, isFinal, parseMessage, parsePayee, socketUrl, tokenFromPath } from "./protocol";

const frame = (type: string, payload: unknown, ts = "2026-11-24T10:00:00.000Z") =>
  JSON.stringify({ type, ts, payload });

const PAYMENT = {
  seq: 3,
  qrCode: "000201...6304ABCD",
  merchant: "Cửa hàng An",
  amount: 300000,
  currency: "VND",
  orderId: "A-1024",
  expiresAt: "2026-11-24T10:10:00.000Z",
};

describe("parseMessage", () => {
  it("reads SESSION_INFO with its times as epoch ms", () => {
    const message = parseMessage(
      frame("SESSION_INFO", { sessionId: "s1", connectedAt: "x", expiresAt: "2026-11-24T10:30:00.000Z", hasData: true }),
    );
    expect(message).toEqual({
      type: "SESSION_INFO",
      ts: Date.parse("2026-11-24T10:00:00.000Z"),
      sessionId: "s1",
      expiresAt: Date.parse("2026-11-24T10:30:00.000Z"),
      hasData: true,
    });
  });

  it("reads PAYMENT_DATA into a payment, optional fields null", () => {
    const message = parseMessage(frame("PAYMENT_DATA", { seq: 1, qrCode: "x", merchant: "M", amount: 5 }));
    expect(message).toMatchObject({
      type: "PAYMENT_DATA",
      payment: { seq: 1, qrCode: "x", merchant: "M", amount: 5, currency: "VND", orderId: null, expiresAt: null, deeplink: null },
    });
    const full = parseMessage(frame("PAYMENT_DATA", PAYMENT));
    expect(full).toMatchObject({ payment: { orderId: "A-1024", expiresAt: Date.parse(PAYMENT.expiresAt) } });
  });

  it("drops a payment that lacks what the screen needs or has the wrong types", () => {
    for (const bad of [
      { ...PAYMENT, seq: 0 },
      { ...PAYMENT, seq: "1" },
      { ...PAYMENT, amount: "300000" },
      { ...PAYMENT, amount: 1.5 },
      { ...PAYMENT, qrCode: 7 },
      { ...PAYMENT, merchant: "" },
      { seq: 1 },
    ]) {
      expect(parseMessage(frame("PAYMENT_DATA", bad))).toBeNull();
    }
  });

  it("keeps only momo:// and https:// deeplinks", () => {
    const link = (deeplink: string) => {
      const message = parseMessage(frame("PAYMENT_DATA", { ...PAYMENT, deeplink }));
      return message?.type === "PAYMENT_DATA" ? message.payment.deeplink : undefined;
    };
    expect(link("momo://app?x=1")).toBe("momo://app?x=1");
    expect(link("https://pay.example/x")).toBe("https://pay.example/x");
    expect(link("javascript:alert(1)")).toBeNull();
    expect(link("http://pay.example/x")).toBeNull();
  });

  it("reads PAYMENT_CLEARED; an unknown reason counts as cancelled", () => {
    expect(parseMessage(frame("PAYMENT_CLEARED", { seq: 2, reason: "paid" }))).toMatchObject({ seq: 2, reason: "paid" });
    expect(parseMessage(frame("PAYMENT_CLEARED", { seq: 2, reason: "??" }))).toMatchObject({ reason: "cancelled" });
    expect(parseMessage(frame("PAYMENT_CLEARED", { reason: "paid" }))).toBeNull();
  });

  it("knows SESSION_EXPIRED, PONG and ERROR", () => {
    expect(parseMessage(frame("SESSION_EXPIRED", { sessionId: "s", expiredAt: "x" }))?.type).toBe("SESSION_EXPIRED");
    expect(parseMessage(frame("PONG", {}))?.type).toBe("PONG");
    expect(parseMessage(frame("ERROR", { code: "x", message: "y" }))?.type).toBe("ERROR");
  });

  it("drops non-JSON, non-objects, unknown types and binary frames", () => {
    expect(parseMessage("{not json")).toBeNull();
    expect(parseMessage("[1,2]")).toBeNull();
    expect(parseMessage('"PONG"')).toBeNull();
    expect(parseMessage(frame("HELLO", {}))).toBeNull();
    expect(parseMessage(new ArrayBuffer(4))).toBeNull();
  });

  it("gives a null ts when the server time is missing or unparseable", () => {
    expect(parseMessage(JSON.stringify({ type: "PONG", payload: {} }))).toEqual({ type: "PONG", ts: null });
    expect(parseMessage(frame("PONG", {}, "yesterday"))).toEqual({ type: "PONG", ts: null });
  });
});

describe("parsePayee", () => {
  const VCB = { provider: "VIETQR", bankBin: "970436", bankName: "Vietcombank", account: "••••4455", merchantName: "CUA HANG AN" };

  it("reads the payee of SPEC §11.3 into the payment; none for a payment without one", () => {
    const message = parseMessage(frame("PAYMENT_DATA", { ...PAYMENT, payee: VCB }));
    expect(message).toMatchObject({ type: "PAYMENT_DATA", payment: { payee: VCB } });
    expect(parseMessage(frame("PAYMENT_DATA", PAYMENT))).toMatchObject({ payment: { payee: null } });
    expect(parsePayee({ provider: "VNPAY", bankBin: null, bankName: null, account: null, merchantName: null })).toEqual({
      provider: "VNPAY",
      bankBin: null,
      bankName: null,
      account: null,
      merchantName: null,
    });
  });

  it("never shows more than an account's last 4 characters", () => {
    expect(parsePayee({ ...VCB, account: "0011012345678" })?.account).toBe("••••5678");
    expect(parsePayee({ ...VCB, account: "••••4455" })?.account).toBe("••••4455");
    expect(parsePayee({ ...VCB, account: "***12" })?.account).toBe("••••12");
    expect(parsePayee({ ...VCB, account: "" })?.account).toBeNull();
  });

  it("drops what is not a payee; an unknown provider shows what it has, as EMVCo", () => {
    for (const bad of [null, "VIETQR", [VCB], 7]) expect(parsePayee(bad)).toBeNull();
    expect(parsePayee({ ...VCB, provider: "PAYPAL" })?.provider).toBe("EMVCO");
    expect(parsePayee({ provider: "MOMO", bankName: 5, merchantName: " " })).toEqual({
      provider: "MOMO",
      bankBin: null,
      bankName: null,
      account: null,
      merchantName: null,
    });
  });
});

describe("close codes", () => {
  it("stops on 4401, 4404 and 4410 only", () => {
    expect([4401, 4404, 4410].map(classifyClose)).toEqual(["invalid", "unknown", "expired"]);
    for (const code of [4401, 4404, 4410]) expect(isFinal(classifyClose(code))).toBe(true);
    for (const code of [1000, 1001, 1006, 1009, 1011, 4403, 4408, 4429]) expect(isFinal(classifyClose(code))).toBe(false);
  });

  it("tells a full session (4403) and a rate limit (4429) from a lost link", () => {
    expect(classifyClose(4403)).toBe("full");
    expect(classifyClose(4429)).toBe("rateLimited");
    expect(classifyClose(1001)).toBe("lost");
    expect(classifyClose(4408)).toBe("lost");
  });
});

describe("tokenFromPath and socketUrl", () => {
  it("takes the token from /qr/<token>", () => {
    expect(tokenFromPath("/qr/eyJ.a.b")).toBe("eyJ.a.b");
    expect(tokenFromPath("/qr/")).toBe("");
    expect(tokenFromPath("/elsewhere")).toBe("");
    expect(tokenFromPath("/qr/a%2Fb")).toBe("a/b");
    expect(tokenFromPath("/qr/%E0%A4%A")).toBe("%E0%A4%A");
  });

  it("connects to the page's own origin unless configured, the token URL-encoded", () => {
    const https = { protocol: "https:", host: "pay.example:3001" };
    expect(socketUrl("a.b.c", "", https)).toBe("wss://pay.example:3001/?token=a.b.c");
    expect(socketUrl("a/b&c", "", https)).toBe("wss://pay.example:3001/?token=a%2Fb%26c");
    expect(socketUrl("t", "", { protocol: "http:", host: "localhost" })).toBe("ws://localhost/?token=t");
    expect(socketUrl("t", "wss://ws.pay.example/gw", https)).toBe("wss://ws.pay.example/gw/?token=t");
    expect(socketUrl("t", "javascript:alert(1)", https)).toBe("wss://pay.example:3001/?token=t");
  });
});
