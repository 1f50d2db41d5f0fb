// The viewer page, built into the Python package so the gateway ships it
// (gateway/transport/pages.py serves it at /qr/<token>, its assets at /qr-assets/).
import { defineConfig } from "vitest/config";
import { installable } from "./installable.ts";

const ASSETS_DIR = "qr-assets";

export default defineConfig({
  base: "/",
  plugins: [installable({ assetsDir: ASSETS_DIR })],
  oxc: { jsx: { runtime: "automatic", importSource: "react" } },
  build: {
    outDir: "../gateway/web_dist",
    emptyOutDir: true,
    // /qr-assets/<name>-<hash>.js: a prefix of its own, clear of /qr/<token>.
    assetsDir: ASSETS_DIR,
    // Everything is a file of this origin: nothing inlined (CSP: no inline script).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: true,
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
