import { describe, expect, it } from "vitest";
import { checkApiKey, maskKey, normalizeGatewayUrl, originPattern } from "../src/shared/settings";
import { matchPattern } from "../src/shared/match";
import { nextDelay, DEFAULT_BACKOFF } from "../src/shared/backoff";
import { canonicalJson, sha256Hex } from "../src/shared/hash";

describe("settings", () => {
  it.each([
    ["https://pay.example.com", "https://pay.example.com", "https://pay.example.com"],
    ["  https://pay.example.com/ ", "https://pay.example.com", "https://pay.example.com"],
    ["https://localhost:3001", "https://localhost:3001", "https://localhost:3001"],
    ["https://example.com/gateway/", "https://example.com/gateway", "https://example.com"],
    ["https://PAY.example.com:443", "https://pay.example.com", "https://pay.example.com"],
  ])("accepts %j", (input, url, origin) => {
    expect(normalizeGatewayUrl(input)).toEqual({ ok: true, url, origin });
  });

  it.each([
    ["", /Enter the gateway URL/],
    ["pay.example.com", /not a URL/],
    ["http://pay.example.com", /https:\/\//],
    ["ws://pay.example.com", /https:\/\//],
    ["https://user:pw@pay.example.com", /user name/],
    ["https://pay.example.com/?x=1", /\? or #/],
  ])("refuses %j", (input, problem) => {
    const check = normalizeGatewayUrl(input);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.problem).toMatch(problem);
  });

  it("asks for the gateway's origin only", () => {
    expect(originPattern("https://localhost:3001")).toBe("https://localhost:3001/*");
  });

  it("masks a key", () => {
    expect(maskKey("gw_test_owner_key_0123456789abcdef")).toBe("gw_••••••••cdef");
    expect(maskKey("short")).toBe("•••••");
    expect(maskKey("gw_test_owner_key_0123456789abcdef")).not.toContain("owner");
  });

  it("checks a key's shape", () => {
    expect(checkApiKey("gw_abc")).toBeNull();
    expect(checkApiKey("")).toMatch(/Enter/);
    expect(checkApiKey("gw abc")).toMatch(/printable/);
    expect(checkApiKey("x".repeat(300))).toMatch(/too long/);
  });
});

describe("match patterns", () => {
  it.each([
    ["https://payment.momo.vn/*", "https://payment.momo.vn/v2/gateway/pay?t=1", true],
    ["https://payment.momo.vn/*", "https://payment.momo.vn:443/x", true],
    ["https://payment.momo.vn/*", "https://evil.example/?https://payment.momo.vn/", false],
    ["https://payment.momo.vn/v2/*", "https://payment.momo.vn/v3/x", false],
    ["https://*.momo.vn/*", "https://test-payment.momo.vn/x", true],
    ["https://*.momo.vn/*", "https://momo.vn/x", true],
    ["https://*.momo.vn/*", "https://momo.vn.evil.example/x", false],
    ["not a pattern", "https://payment.momo.vn/", false],
  ])("%s ~ %s → %s", (pattern, url, expected) => {
    expect(matchPattern(pattern, url)).toBe(expected);
  });
});

describe("backoff", () => {
  it("grows, is capped, honours Retry-After and gives up", () => {
    const fixed = () => 1; // the top of each jitter range
    expect([1, 2, 3, 4, 5].map((n) => nextDelay(n, null, DEFAULT_BACKOFF, fixed))).toEqual([500, 1000, 2000, 4000, 8000]);
    expect(nextDelay(5, null, { ...DEFAULT_BACKOFF, maxMs: 3000, maxAttempts: 9 }, fixed)).toBe(3000);
    expect(nextDelay(DEFAULT_BACKOFF.maxAttempts, null)).toBeNull();
    expect(nextDelay(1, 7)).toBe(7000);
    expect(nextDelay(1, 3600)).toBeNull(); // an hour: show the error instead of waiting
  });
});

describe("hash", () => {
  it("hashes canonical JSON", async () => {
    expect(canonicalJson({ b: 1, a: [true, null, "x"], c: undefined })).toBe('{"a":[true,null,"x"],"b":1}');
    expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
