// Finds what may be a QR code on any page and turns each into a PNG the service worker
// decodes: <img> (data:, blob:, same-origin or CORS-readable URLs), <canvas>, inline
// <svg> and CSS background images, when shown and at least MIN_PX on each side. Only
// pixels leave the page (no URL, no HTML); what the page does not let a script read
// (a cross-origin image without CORS) is counted, not fetched around.

import type { PageScan, QrPicture } from "../shared/types";
import { isShown, textOf } from "../adapters/_dom";
import { cleanText } from "./capture";

/** Smaller than this (CSS pixels, either side) is an icon, not a code a phone can scan. */
const MIN_PX = 40;
/** A QR is square; a bank's printed VietQR adds a header and a footer. Wider or taller is a banner. */
const MAX_ASPECT = 2.5;
/** The longest side a picture is exported at: enough for any code, small enough to send. */
const MAX_EXPORT_PX = 1600;
/** Inline SVG is drawn at least this large (it has no pixels of its own). */
const MIN_SVG_PX = 400;
/** At most this many pictures per scan (a product gallery is not a checkout). */
const MAX_PICTURES = 24;
/** At most this many elements are checked for a CSS background image. */
const MAX_BACKGROUND_CHECKS = 4000;

export type Kind = QrPicture["kind"];

/** An element that may show a code, and a cheap fingerprint of what it shows now. */
export interface Spot {
  kind: Kind;
  el: Element;
  /** Changes when the picture does: the src, the size, the SVG markup, the canvas pixels. */
  signature: string;
  /** Not ready yet (an image still loading): looked at again when it is. */
  pending: boolean;
  /** For a background image: its URL. */
  url?: string;
  /** For a canvas, its PNG (the signature needs it anyway). */
  png?: string | null;
}

/** Every element of the document, open shadow roots included (web components draw codes there). */
function* elements(root: Document | ShadowRoot | Element): Generator<Element> {
  const start = "documentElement" in root ? root.documentElement : root;
  if (!start) return;
  const walker = (start.ownerDocument ?? (root as Document)).createTreeWalker(start, 1 /* SHOW_ELEMENT */);
  for (let node = walker.currentNode as Element | null; node; node = walker.nextNode() as Element | null) {
    yield node;
    const shadow = (node as HTMLElement).shadowRoot;
    if (shadow) for (const child of Array.from(shadow.children)) yield* elements(child);
  }
}

function sizedLikeACode(el: Element): boolean {
  const rect = el.getBoundingClientRect();
  if (rect.width < MIN_PX || rect.height < MIN_PX) return false;
  if (Math.max(rect.width, rect.height) / Math.min(rect.width, rect.height) > MAX_ASPECT) return false;
  const style = el.ownerDocument.defaultView?.getComputedStyle(el);
  if (style && style.opacity !== "" && Number(style.opacity) === 0) return false;
  return isShown(el);
}

function backgroundUrl(el: Element): string | null {
  const style = el.ownerDocument.defaultView?.getComputedStyle(el);
  const value = style?.backgroundImage ?? "none";
  const match = /url\(\s*(["']?)(.*?)\1\s*\)/.exec(value);
  return match?.[2] || null;
}

function canvasPng(canvas: HTMLCanvasElement): string | null {
  try {
    return canvas.width > 0 && canvas.height > 0 ? canvas.toDataURL("image/png") : null;
  } catch {
    return null; // tainted by a cross-origin image
  }
}

/** The elements that may show a QR now, in document order. */
export function findSpots(doc: Document): Spot[] {
  const spots: Spot[] = [];
  let backgroundChecks = 0;
  for (const el of elements(doc)) {
    if (spots.length >= MAX_PICTURES) break;
    const tag = el.tagName.toLowerCase();
    if (tag === "img") {
      const img = el as HTMLImageElement;
      if (!img.currentSrc && !img.getAttribute("src")) continue;
      if (!sizedLikeACode(img)) continue;
      const pending = !img.complete;
      if (!pending && img.naturalWidth === 0) continue; // broken: nothing to read
      const src = img.currentSrc || img.src;
      spots.push({ kind: "img", el, pending, signature: `img ${src} ${img.naturalWidth}x${img.naturalHeight}` });
    } else if (tag === "canvas") {
      if (!sizedLikeACode(el)) continue;
      const png = canvasPng(el as HTMLCanvasElement);
      spots.push({ kind: "canvas", el, pending: false, png, signature: `canvas ${png ?? "unreadable"}` });
    } else if (tag === "svg" && !el.parentElement?.closest("svg")) {
      if (!sizedLikeACode(el)) continue;
      spots.push({ kind: "svg", el, pending: false, signature: `svg ${el.outerHTML}` });
    } else if (backgroundChecks++ < MAX_BACKGROUND_CHECKS) {
      const url = backgroundUrl(el);
      if (!url || !sizedLikeACode(el)) continue;
      spots.push({ kind: "background", el, pending: false, url, signature: `background ${url}` });
    }
  }
  return spots;
}

/** Short words that tell codes apart in the popup: alt, aria-label, title or a caption. */
export function labelOf(el: Element): string {
  const own = el.getAttribute("alt") || el.getAttribute("aria-label") || el.getAttribute("title") || "";
  const caption = own ? "" : textOf(el.closest("figure")?.querySelector("figcaption"));
  return cleanText(own || caption, 60);
}

/** What the page calls itself, for a code without a merchant name (tag 59). */
export function pageMerchant(doc: Document): string | null {
  const meta = (selector: string): string =>
    doc.querySelector(selector)?.getAttribute("content")?.trim() ?? "";
  const name =
    meta('meta[property="og:site_name"]') ||
    meta('meta[name="application-name"]') ||
    doc.title.trim() ||
    doc.location?.hostname ||
    "";
  return cleanText(name, 120) || null;
}

function loadImage(doc: Document, src: string, crossOrigin: boolean): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = doc.createElement("img");
    if (crossOrigin) img.crossOrigin = "anonymous";
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`could not load ${src.slice(0, 40)}`));
    img.src = src;
  });
}

/** Draws a picture on white (a transparent code has no light modules otherwise) and exports a PNG. */
function toPng(doc: Document, source: CanvasImageSource, width: number, height: number): string {
  const scale = Math.min(1, MAX_EXPORT_PX / Math.max(width, height));
  const canvas = doc.createElement("canvas");
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const context = canvas.getContext("2d");
  if (!context) throw new Error("no 2D canvas");
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL("image/png"); // throws SecurityError when tainted
}

/**
 * A picture at `url`: drawn as the page shows it; when that taints the canvas (another
 * site's picture), loaded again asking for CORS, which that site may allow.
 */
async function urlPng(doc: Document, url: string, shown: HTMLImageElement | null): Promise<string | null> {
  const img = shown ?? (await loadImage(doc, url, false).catch(() => null));
  if (img && img.naturalWidth > 0) {
    try {
      return toPng(doc, img, img.naturalWidth, img.naturalHeight);
    } catch {
      // Tainted: a cross-origin picture.
    }
  }
  if (!/^https?:/.test(url)) return null;
  try {
    const cors = await loadImage(doc, url, true);
    return toPng(doc, cors, cors.naturalWidth, cors.naturalHeight);
  } catch {
    return null;
  }
}

/** Inline SVG as pixels: serialized with its size and drawn as an image (no script runs in it). */
async function svgPng(doc: Document, svg: SVGSVGElement): Promise<string | null> {
  const rect = svg.getBoundingClientRect();
  const scale = Math.max(2, MIN_SVG_PX / Math.min(rect.width, rect.height));
  const width = Math.round(rect.width * scale);
  const height = Math.round(rect.height * scale);
  const copy = svg.cloneNode(true) as SVGSVGElement;
  // Colours set by the page's stylesheet do not travel with the markup: write them in.
  const view = doc.defaultView;
  const originals = [svg, ...Array.from(svg.querySelectorAll("*"))];
  const copies = [copy, ...Array.from(copy.querySelectorAll("*"))];
  originals.forEach((el, i) => {
    const style = view?.getComputedStyle(el);
    if (!style) return;
    for (const property of ["fill", "stroke", "stroke-width", "fill-opacity", "opacity", "display", "visibility"]) {
      const value = style.getPropertyValue(property);
      if (value) copies[i]?.setAttribute(property, value);
    }
  });
  copy.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  copy.setAttribute("width", String(width));
  copy.setAttribute("height", String(height));
  if (!copy.getAttribute("viewBox")) copy.setAttribute("viewBox", `0 0 ${rect.width} ${rect.height}`);
  const markup = new XMLSerializer().serializeToString(copy);
  try {
    const img = await loadImage(doc, `data:image/svg+xml;charset=utf-8,${encodeURIComponent(markup)}`, false);
    return toPng(doc, img, width, height);
  } catch {
    return null;
  }
}

/** The PNG of one spot, or null when the page does not let it be read. */
export async function pictureOf(doc: Document, spot: Spot): Promise<string | null> {
  switch (spot.kind) {
    case "canvas":
      return spot.png ?? null;
    case "svg":
      return svgPng(doc, spot.el as SVGSVGElement);
    case "img": {
      const img = spot.el as HTMLImageElement;
      return urlPng(doc, img.currentSrc || img.src, img);
    }
    case "background":
      return spot.url ? urlPng(doc, new URL(spot.url, doc.baseURI).href, null) : null;
  }
}

/**
 * Pictures of the spots, reusing `cache` (signature → PNG or null) for what has not
 * changed since the last scan; the page's name goes along for codes without tag 59.
 */
export async function scanSpots(
  doc: Document,
  spots: readonly Spot[],
  cache: Map<string, string | null>,
): Promise<PageScan> {
  const pictures: QrPicture[] = [];
  let unreadable = 0;
  const fresh = new Map<string, string | null>();
  for (const spot of spots) {
    if (spot.pending) continue;
    const png = cache.has(spot.signature) ? cache.get(spot.signature)! : await pictureOf(doc, spot);
    fresh.set(spot.signature, png);
    if (png) pictures.push({ kind: spot.kind, png, label: labelOf(spot.el) });
    else unreadable++;
  }
  cache.clear();
  for (const [key, value] of fresh) cache.set(key, value);
  return { pictures, unreadable, pageMerchant: pageMerchant(doc) };
}
