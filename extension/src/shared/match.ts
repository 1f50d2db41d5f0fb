// Chrome match patterns (https://developer.chrome.com/docs/extensions/develop/concepts/match-patterns),
// the subset adapters use: scheme://host/path with "*" wildcards, "*." host prefixes.

function escape(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}

export function matchPattern(pattern: string, url: string): boolean {
  const parts = /^(https?|\*):\/\/(\*|\*\.[^/*]+|[^/*]+)(\/.*)$/.exec(pattern);
  if (!parts) return false;
  const [, scheme, host, path] = parts as unknown as [string, string, string, string];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  const protocol = parsed.protocol.slice(0, -1);
  if (scheme === "*" ? !["http", "https"].includes(protocol) : protocol !== scheme) return false;
  const hostname = parsed.hostname;
  if (host !== "*") {
    if (host.startsWith("*.")) {
      const base = host.slice(2);
      if (hostname !== base && !hostname.endsWith(`.${base}`)) return false;
    } else if (hostname !== host.replace(/:\d+$/, "")) {
      return false;
    }
  }
  const pathRe = new RegExp(`^${path.split("*").map(escape).join(".*")}$`);
  return pathRe.test(parsed.pathname + parsed.search);
}
