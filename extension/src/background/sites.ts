// "Always capture on this site": the origins the user granted from the popup. Each has
// a host permission Chrome asked the user for (optional_host_permissions, one origin at
// a time) and a content script registered for it, so its pages are captured as they
// load. The list is kept in chrome.storage.local ("sites"); the permission is the truth:
// an origin the user revoked in Chrome's own settings is dropped here too.

const KEY = "sites";

export function sitePattern(origin: string): string {
  return `${origin}/*`;
}

function scriptId(origin: string): string {
  return `site ${origin}`; // registered script ids must not start with "_"
}

/** The https origin of a page's URL, or null (only https pages can be always-on). */
export function siteOrigin(url: string | null | undefined): string | null {
  try {
    const parsed = new URL(url ?? "");
    return parsed.protocol === "https:" ? parsed.origin : null;
  } catch {
    return null;
  }
}

export async function storedSites(): Promise<string[]> {
  const stored = await chrome.storage.local.get(KEY);
  const sites = stored[KEY];
  return Array.isArray(sites) ? sites.filter((s): s is string => typeof s === "string") : [];
}

async function store(sites: string[]): Promise<void> {
  await chrome.storage.local.set({ [KEY]: [...new Set(sites)].sort() });
}

async function registered(origin: string): Promise<boolean> {
  const scripts = await chrome.scripting.getRegisteredContentScripts({ ids: [scriptId(origin)] });
  return scripts.length > 0;
}

async function register(origin: string): Promise<void> {
  if (await registered(origin)) return;
  await chrome.scripting.registerContentScripts([
    {
      id: scriptId(origin),
      matches: [sitePattern(origin)],
      js: ["content.js"],
      runAt: "document_idle",
      allFrames: false,
      persistAcrossSessions: true,
    },
  ]);
}

async function unregister(origin: string): Promise<void> {
  if (await registered(origin)) await chrome.scripting.unregisterContentScripts({ ids: [scriptId(origin)] });
}

/** After the popup obtained Chrome's grant: capture `origin`'s pages from now on. */
export async function addSite(origin: string): Promise<{ ok: boolean; problem: string | null }> {
  if (siteOrigin(origin) !== origin) {
    return { ok: false, problem: "Only https:// sites can be captured automatically." };
  }
  if (!(await chrome.permissions.contains({ origins: [sitePattern(origin)] }))) {
    return { ok: false, problem: `Chrome did not allow the extension to read ${origin}: nothing changed.` };
  }
  await register(origin);
  await store([...(await storedSites()), origin]);
  return { ok: true, problem: null };
}

/**
 * Stops capturing `origin` and gives its permission back to Chrome, unless it is the
 * gateway's own origin (the extension needs that one to publish).
 */
export async function removeSite(origin: string, gatewayOrigin: string | null): Promise<void> {
  await unregister(origin);
  await store((await storedSites()).filter((s) => s !== origin));
  if (origin !== gatewayOrigin) await chrome.permissions.remove({ origins: [sitePattern(origin)] }).catch(() => false);
}

/**
 * Keeps the list, the registered scripts and Chrome's grants in agreement (at start,
 * and when the user revokes a site in Chrome's settings); returns the origins dropped.
 */
export async function reconcileSites(): Promise<string[]> {
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const origin of await storedSites()) {
    if (await chrome.permissions.contains({ origins: [sitePattern(origin)] })) {
      await register(origin);
      kept.push(origin);
    } else {
      await unregister(origin);
      dropped.push(origin);
    }
  }
  await store(kept);
  return dropped;
}
