// @vitest-environment node
// The built extension: the manifest's permissions stay narrow, the pages obey MV3's
// CSP (no inline script), the content script holds no secret, and the QR decoder and
// the BIN table ship inside it (nothing is fetched at run time).
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZXING_WASM_SHA256 } from "zxing-wasm/reader";
// @ts-expect-error: a plain .mjs build script
import { buildExtension } from "../scripts/build.mjs";
import adapters from "virtual:adapters";
import { ROOT } from "./helpers";

let dir: string;
let manifest: Record<string, any>;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "ext-build-"));
  manifest = await buildExtension(dir);
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const read = (name: string): string => readFileSync(path.join(dir, name), "utf8");

describe("the built extension", () => {
  it("asks for the narrowest permissions", () => {
    expect(manifest.manifest_version).toBe(3);
    // activeTab + scripting: read the tab whose action the user clicked, and nothing else.
    expect(manifest.permissions).toEqual(["storage", "activeTab", "scripting"]);
    expect(manifest.optional_permissions).toEqual(["webRequest"]);
    expect(manifest.host_permissions).toBeUndefined();
    expect(manifest.optional_host_permissions).toEqual(["https://*/*"]);
    const text = JSON.stringify(manifest);
    expect(text).not.toContain("<all_urls>");
    expect(text).not.toMatch(/"\*:\/\/|http:\/\//);
    expect(manifest.web_accessible_resources).toBeUndefined();
    expect(manifest.externally_connectable).toBeUndefined();
  });

  it("opens the popup (and so reads the tab) from a keyboard shortcut too", () => {
    expect(manifest.commands._execute_action.suggested_key.default).toBe("Alt+Shift+Q");
    expect(Object.keys(manifest.commands)).toEqual(["_execute_action"]);
  });

  it("injects the content script on the adapters' pages only", () => {
    const [script] = manifest.content_scripts;
    const wanted = [...new Set(adapters.flatMap((a) => a.matches))].sort();
    expect(script.matches).toEqual(wanted);
    expect(script.matches).toContain("https://payment.momo.vn/*");
    expect(script.all_frames).toBe(false);
    for (const pattern of script.matches) expect(pattern).toMatch(/^https:\/\/[^*/]/);
  });

  it("has every file the manifest names", () => {
    const files = new Set(readdirSync(dir, { recursive: true }).map(String));
    const named = [
      manifest.background.service_worker,
      ...manifest.content_scripts[0].js,
      manifest.action.default_popup,
      manifest.options_ui.page,
      ...Object.values(manifest.icons as Record<string, string>),
    ];
    for (const name of named) expect(files, name).toContain(name);
  });

  it("keeps a strict CSP and no inline script or handler in its pages", () => {
    const csp: string = manifest.content_security_policy.extension_pages;
    // The only relaxation: compiling the bundled QR decoder's WebAssembly.
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval';");
    expect(csp.replace("'wasm-unsafe-eval'", "")).not.toMatch(/unsafe|wasm|http/);
    for (const page of ["popup.html", "options.html"]) {
      const html = read(page);
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.length, page).toBeGreaterThan(0);
      for (const [, attrs, body] of scripts) {
        expect(attrs).toMatch(/src="[a-z]+\.js"/);
        expect(body!.trim()).toBe("");
      }
      expect(html).not.toMatch(/\son[a-z]+=/i);
      expect(html).not.toMatch(/javascript:/i);
    }
  });

  it("never logs, and the content script never touches storage or the network", () => {
    for (const file of ["background.js", "content.js", "options.js", "popup.js"]) {
      // Emscripten's default output hooks in the QR decoder, replaced by configureDecoder.
      const code = read(file).replace(/console\.(log|error)\.bind\(console\)/g, "");
      expect(code, file).not.toMatch(/console\.(log|info|debug|warn|error)/);
    }
    const content = read("content.js");
    expect(content).not.toMatch(/chrome\.storage|apiKey|X-API-Key|fetch\(|XMLHttpRequest|WebSocket/);
  });

  it("ships the QR decoder's WebAssembly, the very file zxing-wasm was built with", () => {
    const wasm = readFileSync(path.join(dir, "zxing_reader.wasm"));
    expect(createHash("sha256").update(wasm).digest("hex")).toBe(ZXING_WASM_SHA256);
    // Loaded from the extension itself: the service worker says where (locateFile).
    expect(read("background.js")).toContain("configureDecoder({ locateFile: (file) => chrome.runtime.getURL(file) })");
  });

  it("bundles the one BIN table, gateway/data/napas_bins.json, and keeps no copy of it", () => {
    const table = JSON.parse(readFileSync(path.join(ROOT, "..", "gateway", "data", "napas_bins.json"), "utf8"));
    for (const file of ["background.js", "popup.js"]) {
      expect(read(file), file).toContain('"970436": "Vietcombank"');
      expect(read(file), file).toContain(`"970454": ${JSON.stringify(table["970454"])}`);
    }
    const copies = readdirSync(ROOT, { recursive: true })
      .map(String)
      .filter((f) => !f.startsWith("node_modules") && path.basename(f) === "napas_bins.json");
    expect(copies).toEqual([]);
  });
});
