import { describe, expect, it } from "vitest";
import { MESSAGES, pickLanguage } from "./i18n";

describe("pickLanguage", () => {
  it("speaks Vietnamese unless the browser prefers English", () => {
    expect(pickLanguage([])).toBe("vi");
    expect(pickLanguage(["fr-FR", "de"])).toBe("vi");
    expect(pickLanguage(["vi-VN", "en-US"])).toBe("vi");
    expect(pickLanguage(["en-US", "vi"])).toBe("en");
    expect(pickLanguage(["fr", "EN-gb"])).toBe("en");
  });

  it("has every message in both languages", () => {
    expect(Object.keys(MESSAGES.en).sort()).toEqual(Object.keys(MESSAGES.vi).sort());
  });
});
