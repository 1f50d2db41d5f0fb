// The viewer as an installable web app: a web app manifest and its icons, emitted as
// content-hashed files beside the page's scripts (/qr-assets/, the only files the
// gateway serves besides the page) and linked from index.html. No service worker: a
// page whose URL holds a session token is never cached (its HTML is `no-store`).
//
// The manifest is shared by every token, so it cannot start the app on one: its
// `start_url` and `id` are `/qr/`, the page without a token (it asks for a payment
// link), and its `scope` is `/qr/`, so every `/qr/<token>` link opens inside the
// installed app.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Plugin } from "vite";

export const ICON_SIZES = [192, 512] as const;
/** The page's magenta and its background wash (src/styles.css). */
const THEME_COLOR = "#a50064";
const BACKGROUND_COLOR = "#f4f1f3";

interface Emitted {
  fileName: string;
  source: string | Uint8Array;
}

/** `<dir>/<name>-<8 characters of SHA-256>.<ext>`: a new content gets a new name. */
function hashedName(dir: string, name: string, ext: string, source: string | Uint8Array): string {
  const hash = createHash("sha256").update(source).digest("base64url").slice(0, 8);
  return `${dir}/${name}-${hash}.${ext}`;
}

export function webAppManifest(icons: readonly { size: number; href: string }[]): Record<string, unknown> {
  return {
    id: "/qr/",
    name: "Thanh toán QR",
    short_name: "Thanh toán",
    description: "Màn hình cho khách: mã QR thanh toán của đơn hàng tại quầy.",
    lang: "vi",
    dir: "ltr",
    start_url: "/qr/",
    scope: "/qr/",
    display: "fullscreen",
    background_color: BACKGROUND_COLOR,
    theme_color: THEME_COLOR,
    icons: icons.map(({ size, href }) => ({
      src: href,
      sizes: `${size}x${size}`,
      type: "image/png",
      purpose: "any",
    })),
  };
}

export function installable({ assetsDir }: { assetsDir: string }): Plugin {
  const icons = ICON_SIZES.map((size) => {
    const source = readFileSync(new URL(`./icons/icon-${size}.png`, import.meta.url));
    return { size, source, fileName: hashedName(assetsDir, `icon-${size}`, "png", source) };
  });
  const manifest = `${JSON.stringify(webAppManifest(icons.map(({ size, fileName }) => ({ size, href: `/${fileName}` }))), null, 2)}\n`;
  const files: Emitted[] = [...icons, { fileName: hashedName(assetsDir, "manifest", "webmanifest", manifest), source: manifest }];
  const [manifestFile] = files.slice(-1);
  const [small] = icons;
  return {
    name: "viewer-installable",
    apply: "build",
    generateBundle() {
      for (const { fileName, source } of files) this.emitFile({ type: "asset", fileName, source });
    },
    transformIndexHtml() {
      if (manifestFile === undefined || small === undefined) return [];
      return [
        { tag: "link", attrs: { rel: "manifest", href: `/${manifestFile.fileName}` }, injectTo: "head" },
        { tag: "link", attrs: { rel: "icon", type: "image/png", sizes: "192x192", href: `/${small.fileName}` }, injectTo: "head" },
        { tag: "link", attrs: { rel: "apple-touch-icon", href: `/${small.fileName}` }, injectTo: "head" },
      ];
    },
  };
}
