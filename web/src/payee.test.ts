import { describe, expect, it } from "vitest";
import { foldName, paidTo, payeeLine, sameName } from "./payee";
import type { Payee } from "./protocol";

const payee = (fields: Partial<Payee>): Payee => ({
  provider: "VIETQR",
  bankBin: null,
  bankName: null,
  account: null,
  merchantName: null,
  ...fields,
});

describe("payeeLine", () => {
  it("puts a wallet's or VNPay's label first, then the bank and the account", () => {
    expect(payeeLine(payee({ provider: "MOMO", bankBin: "970454", bankName: "BVBank", account: "••••5080" }))).toBe(
      "MoMo · BVBank ••••5080",
    );
    expect(payeeLine(payee({ provider: "ZALOPAY", bankBin: "970454", bankName: "BVBank", account: "••••1234" }))).toBe(
      "ZaloPay · BVBank ••••1234",
    );
    expect(payeeLine(payee({ provider: "VNPAY", account: "••••5678" }))).toBe("VNPAY ••••5678");
  });

  it("names a plain VietQR by its bank, or by its BIN when the gateway has no name for it", () => {
    expect(payeeLine(payee({ bankBin: "970436", bankName: "Vietcombank", account: "••••4455" }))).toBe(
      "Vietcombank ••••4455",
    );
    expect(payeeLine(payee({ bankBin: "970499", account: "••••4455" }))).toBe("970499 ••••4455");
    expect(payeeLine(payee({ provider: "MOMO", bankBin: "970454", account: "••••5080" }))).toBe("MoMo · 970454 ••••5080");
  });

  it("shows what a generic EMVCo payload has, and nothing when it has nothing", () => {
    expect(payeeLine(payee({ provider: "EMVCO", account: "••••9876" }))).toBe("••••9876");
    expect(payeeLine(payee({ provider: "EMVCO", bankName: "ACB" }))).toBe("ACB");
    expect(payeeLine(payee({ provider: "VNPAY" }))).toBe("VNPAY");
    expect(payeeLine(payee({ provider: "EMVCO", merchantName: "CUA HANG AN" }))).toBeNull();
  });
});

describe("foldName", () => {
  it("folds accents, đ/Đ, case and runs of spaces the way tag 59 is spelled", () => {
    expect(foldName("Cửa hàng An")).toBe("CUA HANG AN");
    expect(foldName("  Tiệm   bánh\tĐức  Đạt ")).toBe("TIEM BANH DUC DAT");
    expect(foldName("phở đặc biệt")).toBe("PHO DAC BIET");
    // Precomposed and decomposed spellings of one name fold alike.
    expect(foldName("Nguye\u0302\u0303n")).toBe(foldName("Nguyễn"));
  });

  it("keeps what is not case, accents or spacing: other letters, digits, punctuation", () => {
    expect(sameName("Cửa hàng An", "CUA HANG AN")).toBe(true);
    expect(sameName("cửa HÀNG  an", "CUA HANG AN")).toBe(true);
    expect(sameName("Cửa hàng An 2", "CUA HANG AN")).toBe(false);
    expect(sameName("Cửa hàng Ân", "CUA HANG AN")).toBe(true);
    expect(sameName("Cửa-hàng An", "CUA HANG AN")).toBe(false);
    expect(sameName("Đông", "DONG")).toBe(true);
    expect(sameName("Dông", "DONG")).toBe(true);
  });
});

describe("paidTo", () => {
  const merchant = "Cửa hàng An";

  it("shows the merchant when the QR agrees with it or names nobody", () => {
    expect(paidTo({ merchant, payee: null })).toEqual({ name: merchant, contradicted: false });
    expect(paidTo({ merchant, payee: payee({}) })).toEqual({ name: merchant, contradicted: false });
    expect(paidTo({ merchant, payee: payee({ merchantName: "CUA HANG  AN" }) })).toEqual({
      name: merchant,
      contradicted: false,
    });
  });

  it("shows the QR's name as the payee when it contradicts the merchant", () => {
    expect(paidTo({ merchant, payee: payee({ merchantName: "CUA HANG BINH" }) })).toEqual({
      name: "CUA HANG BINH",
      contradicted: true,
    });
    expect(paidTo({ merchant: "Tiệm Đức", payee: payee({ merchantName: "TIEM DUC" }) }).contradicted).toBe(false);
    expect(paidTo({ merchant: "Tiệm Đức", payee: payee({ merchantName: "TIEM DUNG" }) }).contradicted).toBe(true);
  });
});
