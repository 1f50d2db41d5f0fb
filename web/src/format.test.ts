import { describe, expect, it } from "vitest";
import { formatAmount, formatCountdown } from "./format";

const nbsp = (s: string) => s.replace(/\u00a0/g, " ");

describe("formatAmount", () => {
  it("formats VND the Vietnamese way", () => {
    expect(nbsp(formatAmount(300000))).toBe("300.000 ₫");
    expect(nbsp(formatAmount(1))).toBe("1 ₫");
    expect(nbsp(formatAmount(50000000, "VND"))).toBe("50.000.000 ₫");
  });

  it("falls back to digits and the code for a currency the browser does not know", () => {
    expect(nbsp(formatAmount(1500, "XX1"))).toBe("1.500 XX1");
  });
});

describe("formatCountdown", () => {
  it("shows minutes and seconds, hours when there are any, and never goes negative", () => {
    expect(formatCountdown(9 * 60_000 + 5_000)).toBe("09:05");
    expect(formatCountdown(3_723_000)).toBe("1:02:03");
    expect(formatCountdown(400)).toBe("00:01");
    expect(formatCountdown(-5_000)).toBe("00:00");
  });
});
