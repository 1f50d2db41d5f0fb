// Builds the loadable extension into dist/ (or --outdir DIR): bundles the service
// worker, the content script and the two pages with esbuild, copies the HTML, CSS,
// icons and the QR decoder's .wasm, and writes manifest.json with the content script's `matches` taken from the
// adapters. The output depends only on the sources (no timestamps, no hashes of the
// machine), so a test can rebuild and compare it with the committed dist/.

import { build } from "esbuild";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { esbuildAdapters, registrySource, ADAPTERS_DIR } from "./adapters.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const require = createRequire(import.meta.url);
/** The QR decoder's WebAssembly, shipped with the extension (MV3 loads no remote code). */
export const DECODER_WASM = require.resolve("zxing-wasm/reader/zxing_reader.wasm");
const SRC = path.join(ROOT, "src");

function outdirFromArgs() {
  const i = process.argv.indexOf("--outdir");
  return i > 0 ? path.resolve(process.argv[i + 1]) : path.join(ROOT, "dist");
}

const common = {
  bundle: true,
  format: "iife",
  target: "chrome116",
  platform: "browser",
  charset: "utf8",
  legalComments: "none",
  minify: false,
  sourcemap: false,
  logLevel: "warning",
  plugins: [esbuildAdapters()],
};

/** The adapters' match patterns, read by bundling the registry for Node. */
async function adapterMatches() {
  const result = await build({
    stdin: { contents: registrySource(), resolveDir: ADAPTERS_DIR, loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    write: false,
    logLevel: "warning",
  });
  const url = "data:text/javascript;base64," + Buffer.from(result.outputFiles[0].text).toString("base64");
  const { default: adapters } = await import(url);
  const patterns = new Set();
  for (const adapter of adapters) {
    for (const pattern of adapter.matches) {
      if (!/^https:\/\/[^/*]+(\.[^/*]+)*\/.*$/.test(pattern.replace(/^https:\/\/\*\./, "https://x."))) {
        throw new Error(`adapter ${adapter.id}: match pattern ${pattern} must be https:// with a host`);
      }
      patterns.add(pattern);
    }
  }
  return [...patterns].sort();
}

export async function buildExtension(outdir) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });

  await build({
    ...common,
    entryPoints: {
      background: path.join(SRC, "background/main.ts"),
      content: path.join(SRC, "content/main.ts"),
      options: path.join(SRC, "options/options.ts"),
      popup: path.join(SRC, "popup/popup.ts"),
    },
    outdir,
  });

  for (const file of ["options/options.html", "options/options.css", "popup/popup.html", "popup/popup.css"]) {
    cpSync(path.join(SRC, file), path.join(outdir, path.basename(file)));
  }
  cpSync(path.join(SRC, "icons"), path.join(outdir, "icons"), { recursive: true });
  cpSync(DECODER_WASM, path.join(outdir, path.basename(DECODER_WASM)));

  const manifest = JSON.parse(readFileSync(path.join(SRC, "manifest.json"), "utf8"));
  const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
  manifest.version = pkg.version;
  manifest.content_scripts[0].matches = await adapterMatches();
  writeFileSync(path.join(outdir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

async function main() {
  const outdir = outdirFromArgs();
  const manifest = await buildExtension(outdir);
  console.log(`built ${path.relative(process.cwd(), outdir) || "."}: ${manifest.content_scripts[0].matches.join(", ")}`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
