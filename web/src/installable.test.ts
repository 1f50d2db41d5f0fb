import { describe, expect, it } from "vitest";
import { ICON_SIZES, webAppManifest } from "../installable.ts";

describe("the web app manifest", () => {
  const manifest = webAppManifest(ICON_SIZES.map((size) => ({ size, href: `/qr-assets/icon-${size}-x.png` })));

  it("is one app for every token: it starts at /qr/ and every /qr/<token> is in its scope", () => {
    expect(manifest).toMatchObject({ id: "/qr/", start_url: "/qr/", scope: "/qr/", display: "fullscreen" });
    expect(JSON.stringify(manifest)).not.toMatch(/token|eyJ/);
  });

  it("names the app and lists 192 and 512 pixel PNG icons", () => {
    expect(manifest).toMatchObject({ name: expect.any(String), short_name: expect.any(String) });
    expect(manifest.icons).toEqual([
      { src: "/qr-assets/icon-192-x.png", sizes: "192x192", type: "image/png", purpose: "any" },
      { src: "/qr-assets/icon-512-x.png", sizes: "512x512", type: "image/png", purpose: "any" },
    ]);
  });
});
