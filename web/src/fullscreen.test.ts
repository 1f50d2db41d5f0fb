import { describe, expect, it } from "vitest";
import { canGoFullscreen, goFullscreen, type FullscreenDocument } from "./fullscreen";

function fakeDocument(fields: { enabled?: boolean; element?: unknown; request?: boolean; refuse?: boolean } = {}) {
  const calls: unknown[] = [];
  const doc: FullscreenDocument = {
    fullscreenEnabled: fields.enabled ?? true,
    fullscreenElement: fields.element ?? null,
    documentElement:
      fields.request === false
        ? {}
        : {
            requestFullscreen(options?: FullscreenOptions) {
              calls.push(options);
              return fields.refuse === true ? Promise.reject(new TypeError("no gesture")) : Promise.resolve();
            },
          },
    addEventListener: () => {},
    removeEventListener: () => {},
  };
  return { doc, calls };
}

const media = (fullscreen: boolean) => (query: string) => ({ matches: fullscreen && query === "(display-mode: fullscreen)" });

describe("the fullscreen button", () => {
  it("is offered where the page can go fullscreen and is not yet", () => {
    expect(canGoFullscreen(fakeDocument().doc, media(false))).toBe(true);
    expect(canGoFullscreen(fakeDocument().doc)).toBe(true);
  });

  it("is hidden where the Fullscreen API is missing or disabled (an iPhone, an iframe)", () => {
    expect(canGoFullscreen(fakeDocument({ enabled: false }).doc, media(false))).toBe(false);
    expect(canGoFullscreen(fakeDocument({ request: false }).doc, media(false))).toBe(false);
    const bare = { documentElement: {}, addEventListener: () => {}, removeEventListener: () => {} };
    expect(canGoFullscreen(bare, media(false))).toBe(false);
  });

  it("is hidden once fullscreen, or when launched as an installed fullscreen app", () => {
    expect(canGoFullscreen(fakeDocument({ element: {} }).doc, media(false))).toBe(false);
    expect(canGoFullscreen(fakeDocument().doc, media(true))).toBe(false);
  });

  it("asks for the whole page, navigation UI hidden, and takes a refusal quietly", async () => {
    const { doc, calls } = fakeDocument({ refuse: true });
    goFullscreen(doc);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(calls).toEqual([{ navigationUI: "hide" }]);
    expect(() => goFullscreen(fakeDocument({ request: false }).doc)).not.toThrow();
  });
});
