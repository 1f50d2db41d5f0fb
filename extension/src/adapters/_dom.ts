// Small DOM helpers shared by adapters (files starting with "_" are not adapters).

/** The element's visible-ish text, whitespace collapsed. */
export function textOf(el: Element | null | undefined): string {
  if (!el) return "";
  const raw = (el as HTMLElement).innerText ?? el.textContent ?? "";
  return raw.replace(/\s+/g, " ").trim();
}

/** Whether the element is rendered (not display:none / hidden / zero-sized in a real browser). */
export function isShown(el: Element | null | undefined): boolean {
  if (!el) return false;
  const html = el as HTMLElement;
  if (html.hidden || html.closest("[hidden]")) return false;
  const view = el.ownerDocument.defaultView;
  for (let node: Element | null = el; node; node = node.parentElement) {
    const style = view?.getComputedStyle(node);
    if (style && (style.display === "none" || style.visibility === "hidden")) return false;
  }
  return true;
}

/**
 * The value next to a label, for pages built as `<box><label/><value/></box>`:
 * the first element under `root` matching `boxSelector` whose label element (matched
 * by `labelSelector`) contains `label` (case- and accent-insensitive), then the text
 * of its `valueSelector`.
 */
export function labelledValue(
  root: ParentNode,
  boxSelector: string,
  labelSelector: string,
  label: string,
  valueSelector: string,
): string | null {
  const wanted = fold(label);
  for (const box of Array.from(root.querySelectorAll(boxSelector))) {
    const labelEl = box.querySelector(labelSelector);
    if (!labelEl || !fold(textOf(labelEl)).includes(wanted)) continue;
    const value = box.querySelector(valueSelector);
    const text = textOf(value);
    if (text) return text;
  }
  return null;
}

/** Lower case, without diacritics (đ → d), for label matching. */
export function fold(text: string): string {
  return text
    .normalize("NFD")
    .replace(/\p{M}/gu, "")
    .replace(/đ/g, "d")
    .replace(/Đ/g, "D")
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim();
}

/** "09:45" / "9 : 45" / "1:02:03" → seconds; null when not a countdown. */
export function parseCountdown(text: string): number | null {
  const match = /(?:(\d{1,2})\s*:\s*)?(\d{1,2})\s*:\s*(\d{2})(?!\d)/.exec(text);
  if (!match) return null;
  const [, h, m, s] = match;
  const seconds = Number(h ?? 0) * 3600 + Number(m) * 60 + Number(s);
  return Number(s) < 60 ? seconds : null;
}
