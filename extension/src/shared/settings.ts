// The gateway URL and API key: chrome.storage.local only (never sync), readable by
// the extension's own pages and service worker only (the service worker sets the
// access level to TRUSTED_CONTEXTS, so content scripts cannot read them).

export interface Settings {
  gatewayUrl: string;
  apiKey: string;
}

const KEYS = ["gatewayUrl", "apiKey"] as const;

export async function loadSettings(): Promise<Settings | null> {
  const stored = await chrome.storage.local.get([...KEYS]);
  const gatewayUrl = stored["gatewayUrl"];
  const apiKey = stored["apiKey"];
  if (typeof gatewayUrl !== "string" || typeof apiKey !== "string") return null;
  if (!gatewayUrl || !apiKey) return null;
  return { gatewayUrl, apiKey };
}

export async function saveSettings(settings: Settings): Promise<void> {
  await chrome.storage.local.set({ gatewayUrl: settings.gatewayUrl, apiKey: settings.apiKey });
}

export type UrlCheck = { ok: true; url: string; origin: string } | { ok: false; problem: string };

/**
 * The gateway base URL as typed → `https://host[:port][/prefix]` without a trailing
 * slash. Only https: the API key travels in every request.
 */
export function normalizeGatewayUrl(input: string): UrlCheck {
  const text = input.trim();
  if (!text) return { ok: false, problem: "Enter the gateway URL, e.g. https://pay.example.com" };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: `"${text.slice(0, 80)}" is not a URL (e.g. https://pay.example.com)` };
  }
  if (url.protocol !== "https:") {
    return {
      ok: false,
      problem: "The gateway URL must start with https:// (the API key must not travel in clear text)",
    };
  }
  if (url.username || url.password) {
    return { ok: false, problem: "The gateway URL must not contain a user name or password" };
  }
  if (url.search || url.hash) {
    return { ok: false, problem: "The gateway URL must not contain ? or # parts" };
  }
  const path = url.pathname.replace(/\/+$/, "");
  return { ok: true, url: `${url.origin}${path}`, origin: url.origin };
}

/** The host permission pattern for a gateway origin: `https://host:port/*`. */
export function originPattern(origin: string): string {
  return `${origin}/*`;
}

/** `gw_abcdef…1234` → `gw_••••••••1234`: enough to recognise a key, never enough to use it. */
export function maskKey(key: string): string {
  if (key.length <= 8) return "•".repeat(key.length);
  const prefix = key.startsWith("gw_") ? "gw_" : "";
  return `${prefix}${"•".repeat(8)}${key.slice(-4)}`;
}

/** A plausible API key: printable ASCII, no spaces, at most 256 characters. */
export function checkApiKey(key: string): string | null {
  if (!key) return "Enter the API key";
  if (key.length > 256) return "The API key is too long (at most 256 characters)";
  if (!/^[\x21-\x7e]+$/.test(key)) return "The API key may contain only printable characters, no spaces";
  return null;
}
