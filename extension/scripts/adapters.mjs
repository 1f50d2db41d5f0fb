// The adapter registry: every src/adapters/*.ts that does not start with "_" (and is
// not a .d.ts or a test) is an adapter module exporting `adapter`. Shared by the
// build (an esbuild plugin) and the unit tests (a Vite plugin), so adding a site is
// one new file.

import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const ADAPTERS_DIR = fileURLToPath(new URL("../src/adapters/", import.meta.url));
export const VIRTUAL_ID = "virtual:adapters";

export function adapterFiles(dir = ADAPTERS_DIR) {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".ts") && !name.startsWith("_"))
    .filter((name) => !name.endsWith(".d.ts") && !name.endsWith(".test.ts"))
    .sort()
    .map((name) => path.join(dir, name));
}

/** Source of the virtual module: `export default [adapter0, adapter1, …]`. */
export function registrySource(dir = ADAPTERS_DIR) {
  const files = adapterFiles(dir);
  const imports = files.map((file, i) => `import { adapter as a${i} } from ${JSON.stringify(file)};`);
  return `${imports.join("\n")}\nexport default [${files.map((_, i) => `a${i}`).join(", ")}];\n`;
}

/** esbuild plugin resolving `virtual:adapters`. */
export function esbuildAdapters(dir = ADAPTERS_DIR) {
  return {
    name: "adapters",
    setup(build) {
      build.onResolve({ filter: /^virtual:adapters$/ }, () => ({ path: VIRTUAL_ID, namespace: "adapters" }));
      build.onLoad({ filter: /.*/, namespace: "adapters" }, () => ({
        contents: registrySource(dir),
        loader: "ts",
        resolveDir: dir,
        watchDirs: [dir],
      }));
    },
  };
}

/** Vite/Vitest plugin resolving `virtual:adapters`. */
export function viteAdapters(dir = ADAPTERS_DIR) {
  const resolved = "\0" + VIRTUAL_ID;
  return {
    name: "adapters",
    resolveId(id) {
      return id === VIRTUAL_ID ? resolved : null;
    },
    load(id) {
      return id === resolved ? registrySource(dir) : null;
    },
  };
}
