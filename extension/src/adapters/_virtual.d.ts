// The type of `virtual:adapters`, a module the build makes (scripts/adapters.mjs) from
// every src/adapters/*.ts that does not start with "_" and exports `adapter`.
import type { SiteAdapter } from "../shared/types";

declare const adapters: readonly SiteAdapter[];
export default adapters;
