// @vitest-environment node
// The built extension: the manifest's permissions stay narrow, the pages obey MV3's
// CSP (no inline script), and the content script holds no secret.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs build script
import { buildExtension } from "../scripts/build.mjs";
import adapters from "virtual:adapters";

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
    expect(manifest.permissions).toEqual(["storage"]);
    expect(manifest.optional_permissions).toEqual(["webRequest"]);
    expect(manifest.host_permissions).toBeUndefined();
    expect(manifest.optional_host_permissions).toEqual(["https://*/*"]);
    const text = JSON.stringify(manifest);
    expect(text).not.toContain("<all_urls>");
    expect(text).not.toMatch(/"\*:\/\/|http:\/\//);
    expect(manifest.web_accessible_resources).toBeUndefined();
    expect(manifest.externally_connectable).toBeUndefined();
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
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe|wasm|http/);
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
      expect(read(file), file).not.toMatch(/console\.(log|info|debug|warn|error)/);
    }
    const content = read("content.js");
    expect(content).not.toMatch(/chrome\.storage|apiKey|X-API-Key|fetch\(|XMLHttpRequest|WebSocket/);
  });
});
