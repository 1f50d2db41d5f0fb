// @vitest-environment node
// The VietQR parser, table-driven over real-format payloads. The same table
// (fixtures/vietqr-vectors.json, built with the gateway's Python CRC) is checked against
// the gateway's parser by tests/test_extension_unit.py, so both sides read a code alike.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  EmvError,
  bankName,
  crc16,
  maskAccount,
  parsePaymentQr,
  parseTlv,
  payeeOf,
  payeeText,
  wholeVnd,
} from "../src/shared/vietqr";
import { FIXTURES, ROOT } from "./helpers";

interface Vector {
  name: string;
  payload: string;
  valid: boolean;
  expected?: Record<string, string | null>;
}

const VECTORS: Vector[] = JSON.parse(readFileSync(path.join(FIXTURES, "vietqr-vectors.json"), "utf8")).vectors;
const payload = (prefix: string): string => VECTORS.find((v) => v.name.startsWith(prefix))!.payload;

describe("crc16", () => {
  it("is CRC-16/CCITT-FALSE over UTF-8", () => {
    expect(crc16("123456789")).toBe("29B1");
    expect(crc16("")).toBe("FFFF");
    // Over the bytes: "ử" is 3 bytes of UTF-8 (the "Vietnamese letters" vector checks it against Python's).
    expect(crc16("Cửa")).not.toBe(crc16("Cua"));
  });
});

describe("parsePaymentQr reads each real-format code", () => {
  const valid = VECTORS.filter((v) => v.valid);
  it.each(valid.map((v) => [v.name, v] as const))("%s", (_name, vector) => {
    const qr = parsePaymentQr(vector.payload);
    expect({
      provider: qr.provider,
      bankBin: qr.bankBin,
      account: qr.account,
      amount: qr.amount,
      currency: qr.currency,
      merchantName: qr.merchantName,
      billNumber: qr.billNumber,
      purpose: qr.purpose,
    }).toEqual(vector.expected);
    expect(qr.payload).toBe(vector.payload);
  });

  it("covers static and dynamic VietQR, MoMo, ZaloPay, VNPay-QR and nested template 62", () => {
    const providers = new Set(valid.map((v) => v.expected!["provider"]));
    expect([...providers].sort()).toEqual(["EMVCO", "MOMO", "VIETQR", "VNPAY", "ZALOPAY"]);
    expect(parsePaymentQr(payload("dynamic VietQR")).billNumber).toBe("HD2048");
    expect(parsePaymentQr(payload("static VietQR")).amount).toBeNull();
  });
});

describe("parsePaymentQr refuses a code it cannot trust", () => {
  const invalid = VECTORS.filter((v) => !v.valid);
  it.each(invalid.map((v) => [v.name, v] as const))("%s", (_name, vector) => {
    expect(() => parsePaymentQr(vector.payload)).toThrow(EmvError);
  });

  it("says which way: a wrong CRC, not EMVCo at all, or malformed", () => {
    const kind = (text: string): string => {
      try {
        parsePaymentQr(text);
        return "valid";
      } catch (error) {
        return (error as EmvError).kind;
      }
    };
    expect(kind(payload("a wrong CRC"))).toBe("crc");
    expect(kind(payload("a link"))).toBe("not-emvco");
    expect(kind(payload("tag 62 not TLV"))).toBe("malformed");
    expect(kind(payload("a truncated top-level field"))).toBe("malformed");
    expect(kind(payload("longer than 512"))).toBe("malformed");
  });

  it("accepts the CRC in lower case, as the gateway does", () => {
    const good = payload("dynamic VietQR");
    expect(parsePaymentQr(good.slice(0, -4) + good.slice(-4).toLowerCase()).provider).toBe("VIETQR");
  });
});

describe("parseTlv", () => {
  it("counts characters, not bytes or UTF-16 units", () => {
    expect([...parseTlv("0102Ấn0201😀", "t")]).toEqual([
      ["01", "Ấn"],
      ["02", "😀"],
    ]);
  });

  it("names the template and the problem", () => {
    expect(() => parseTlv("0105abc", "template 62")).toThrow(/template 62: field 01 runs past its end/);
    expect(() => parseTlv("01", "template 38")).toThrow(/template 38 is malformed at position 0/);
  });
});

describe("payee", () => {
  it("is SPEC §11.3's object: the bank's name from the shared BIN table, the account's last 4", () => {
    expect(payeeOf(parsePaymentQr(payload("MoMo")))).toEqual({
      provider: "MOMO",
      bankBin: "970454",
      bankName: "BVBank",
      account: "••••5080",
      merchantName: "QUAN BINH",
    });
    const vnpay = payeeOf(parsePaymentQr(payload("VNPay")));
    expect(vnpay).toEqual({
      provider: "VNPAY",
      bankBin: null,
      bankName: null,
      account: "••••5678",
      merchantName: "SIEU THI MINH",
    });
    expect(payeeText(vnpay)).toBe("VNPay-QR · ••••5678 · SIEU THI MINH");
    expect(payeeText(payeeOf(parsePaymentQr(payload("dynamic VietQR"))))).toBe(
      "VietQR · Vietcombank ••••4455 · CUA HANG AN",
    );
  });

  it("reads bank names from gateway/data/napas_bins.json itself", () => {
    const table = JSON.parse(readFileSync(path.join(ROOT, "..", "gateway", "data", "napas_bins.json"), "utf8"));
    for (const [bin, name] of Object.entries(table)) {
      if (!bin.startsWith("_")) expect(bankName(bin)).toBe(name);
    }
    expect(bankName("123456")).toBeNull();
    expect(bankName(null)).toBeNull();
  });

  it("masks all but the last four characters", () => {
    expect(maskAccount("0011004455")).toBe("••••4455");
    expect(maskAccount("12")).toBe("••••12");
    expect(maskAccount(null)).toBeNull();
    expect(maskAccount("")).toBeNull();
  });
});

describe("wholeVnd", () => {
  it.each([
    ["150000", 150000],
    ["150000.00", 150000],
    ["150000.", 150000],
    ["150000.5", null],
    ["0", null],
    ["99999999999999999999", null],
  ])("%s → %s", (text, value) => {
    expect(wholeVnd(text)).toBe(value);
  });
});
