import { describe, expect, it } from "vitest";
import { formatVnd, parseVndAmount } from "../src/shared/amount";

describe("parseVndAmount", () => {
  it.each([
    ["300.000đ", 300000],
    ["300.000 đ", 300000],
    ["300.000\u00a0₫", 300000],
    ["1.250.000đ", 1250000],
    ["50.000.000 VND", 50000000],
    ["300,000đ", 300000],
    ["100,000 VNĐ", 100000],
    ["300.000,00 đ", 300000],
    ["2.000 đồng", 2000],
    ["đ 300.000", 300000],
    ["₫1.000", 1000],
    ["Số tiền: 300.000đ", 300000],
    ["💰 Số tiền 45.000đ (đã gồm VAT)", 45000],
    ["300000", 300000],
    ["300.000", 300000],
    ["  12.000  ", 12000],
    ["300.\u200b000đ", 300000], // a zero-width space inside the number
    ["1000đ", 1000],
    ["300,00đ", 300], // a decimal comma with zero minor units
    ["300,000.00 VND", 300000],
    ["1\u202f250\u202f000 ₫", 1250000],
  ])("%j → %d", (text, amount) => {
    expect(parseVndAmount(text)).toBe(amount);
  });

  it.each([
    [""],
    [null],
    [undefined],
    ["đ"],
    ["miễn phí"],
    ["0đ"],
    ["1.250,50đ"], // đồng has no minor unit
    ["12.34đ"],
    ["300.00"], // not groups of three, and "." is no decimal mark here
    ["1.250.00đ"],
    ["1.25.000đ"],
    ["1.250,000đ"], // mixed grouping
    ["3000.000đ"],
    ["Mã đơn hàng 12345"], // a number without a currency sign in other text
    ["99999999999999999999đ"], // beyond a safe integer
  ])("%j → null", (text) => {
    expect(parseVndAmount(text)).toBeNull();
  });

  it("takes the number next to the currency sign, not other numbers", () => {
    expect(parseVndAmount("Đơn 1024: 300.000đ")).toBe(300000);
    expect(parseVndAmount("2 món, tổng 150.000đ")).toBe(150000);
  });

  it("formats like the viewer page", () => {
    expect(formatVnd(300000).replace(/\s/g, " ")).toBe("300.000 ₫");
  });
});
