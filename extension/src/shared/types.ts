// The data that crosses the extension's parts, and the adapter interface a checkout
// page implements (src/adapters/<site>.ts).

/** What the gateway accepts as `data` on POST /api/payment (SPEC §3). */
export interface PaymentData {
  qrCode: string;
  merchant: string;
  amount: number;
  currency?: "VND";
  orderId?: string;
  description?: string;
  expiresAt?: string;
  deeplink?: string;
}

/** Where a page shows its QR: an image, a canvas, or the payload text itself. */
export type QrSource = HTMLImageElement | HTMLCanvasElement | string;

/** What an adapter reads off a page; the content script turns it into PaymentData. */
export interface Capture {
  qr: QrSource;
  merchant: string;
  /** Integer VND, already parsed (see parseVndAmount). */
  amount: number;
  orderId?: string;
  description?: string;
  /** Seconds left on the page's countdown, when it shows one. */
  expiresInSeconds?: number;
  deeplink?: string;
}

/**
 * What the page says about the order: still payable, or over. `paid` and
 * `cancelled`/`expired` make the extension clear the viewers' screen.
 */
export type OrderStatus = "pending" | "paid" | "cancelled" | "expired";

/**
 * One checkout page. Adding a site is one new file in src/adapters/ exporting
 * `adapter`: the build collects every adapter, and the manifest's content script
 * `matches` are the union of their `matches`.
 */
export interface SiteAdapter {
  /** Short stable id, e.g. "momo". */
  id: string;
  /** Human name, shown in the popup. */
  name: string;
  /** Chrome match patterns of the pages this adapter reads (https only). */
  matches: readonly string[];
  /** Whether this document is the checkout page (the URL already matched). */
  detect(doc: Document): boolean;
  /** The payment on screen, or null while the page shows none (loading, mobile layout…). */
  extract(doc: Document): Capture | null;
  /** Whether the order is still payable. */
  status(doc: Document): OrderStatus;
}

/** One picture on a page that may show a QR code, as a PNG, with words that tell it apart. */
export interface QrPicture {
  kind: "img" | "canvas" | "svg" | "background";
  /** `data:image/png;base64,…` of what the element shows. */
  png: string;
  /** Its alt text, aria-label, title or caption ("" when it has none). */
  label: string;
}

/** What the generic capture (any page, no adapter) found on a page. */
export interface PageScan {
  pictures: QrPicture[];
  /** Pictures the page does not let a script read (cross-origin, without CORS). */
  unreadable: number;
  /** What the page calls itself (og:site_name, title, host), for a code without tag 59. */
  pageMerchant: string | null;
}

/** Content script → service worker, over a long-lived port named "capture". */
export type CaptureMessage =
  | { type: "capture"; adapter: string; data: PaymentData }
  | { type: "status"; adapter: string; status: Exclude<OrderStatus, "pending"> }
  | { type: "problem"; adapter: string; message: string }
  | { type: "scan"; adapter: typeof GENERIC; scan: PageScan; forced: boolean };

/** The adapter id of the generic capture (decoding the QR codes of any page). */
export const GENERIC = "generic";

/**
 * Service worker → content script: read the page again now (the popup was opened), or
 * stop capturing it (the user revoked "Always capture on this site").
 */
export type WorkerMessage = { type: "rescan" } | { type: "stop" };

/** Everything that travels on the port: captures, and a keep-alive while the page is open. */
export type PortMessage = CaptureMessage | { type: "keepalive" };

export const CAPTURE_PORT = "capture";

/** One tab's state, kept by the service worker in chrome.storage.session. */
export interface TabState {
  tabId: number;
  /** The viewer session of this tab (null until the first publish, or after 410). */
  session: SessionInfo | null;
  /** Previous sessions' ids, when the gateway expired one and a new one was made. */
  renewedFrom: string | null;
  /** What should be on the viewers' screens; `gen` grows by one per change. */
  desired: Desired | null;
  gen: number;
  /** The last `gen` the gateway acknowledged. */
  ackedGen: number;
  /** What the gateway last accepted for this tab (null after a clear). */
  live: LiveInfo | null;
  /** The last clear the gateway accepted, shown in the popup. */
  cleared: { reason: "paid" | "cancelled"; seq: number | null; at: string } | null;
  phase: Phase;
  /** The last problem, in plain words (null when the last call succeeded). */
  lastError: string | null;
  lastErrorAt: string | null;
  /** Whether the checkout page is still open in the tab. */
  pageOpen: boolean;
}

export interface SessionInfo {
  token: string;
  url: string;
  wsUrl: string;
  sessionId: string;
  expiresAt: string;
}

export type Desired =
  | { kind: "publish"; data: PaymentData; hash: string }
  | { kind: "clear"; reason: "paid" | "cancelled" };

export interface LiveInfo {
  merchant: string;
  amount: number;
  orderId: string | null;
  seq: number;
  at: string;
}

/** idle: nothing on screen; working: a call is in flight or waiting to retry. */
export type Phase = "idle" | "working" | "live" | "error";

/** The options page asks the service worker to test the saved settings. */
export interface TestConnectionRequest {
  type: "test-connection";
}

export interface TestStep {
  name: string;
  ok: boolean;
  detail: string;
}

export interface TestConnectionResult {
  ok: boolean;
  steps: TestStep[];
  /** The problem in plain words, when not ok. */
  problem: string | null;
}
