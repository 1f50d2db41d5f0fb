import { defineConfig } from "vitest/config";
// @ts-expect-error: a plain .mjs helper shared with the build
import { viteAdapters } from "./scripts/adapters.mjs";

export default defineConfig({
  plugins: [viteAdapters()],
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.ts"],
  },
});
