// The service worker: the only part that holds the API key and talks to the gateway.
// Content scripts send what a checkout page shows over a port (an adapter's reading, or
// the pictures the generic capture found, which are decoded here); the Publisher keeps
// one viewer session per tab in step with it; the action badge shows each tab's state.

import { configureDecoder, decodeQr } from "../shared/decode";
import { GatewayClient, GatewayError } from "../shared/gateway";
import { sha256Hex } from "../shared/hash";
import { loadSettings, originPattern } from "../shared/settings";
import {
  CAPTURE_PORT,
  type PortMessage,
  type TabState,
  type TestConnectionResult,
  type TestStep,
  type WorkerMessage,
} from "../shared/types";
import { showBadge } from "./badge";
import { GenericCapture } from "./generic";
import { Publisher } from "./publisher";
import { addSite, reconcileSites, removeSite, siteOrigin } from "./sites";
import { loadScanState, loadTabStates, removeScanState, removeTabState, saveScanState, saveTabState } from "./store";

// --- settings and the network -------------------------------------------------------

// Content scripts can read chrome.storage.local by default; the API key lives there,
// so only the extension's own pages and this worker may.
void chrome.storage.local.setAccessLevel?.({ accessLevel: "TRUSTED_CONTEXTS" }).catch(() => undefined);

const EXTENSION_ORIGIN = chrome.runtime.getURL("").replace(/\/$/, "");

/** Chrome's net error for our own requests (fetch only says "Failed to fetch"). */
const netErrors = new Map<string, string>();
let listening = false;

function listenForNetErrors(): void {
  if (listening || !chrome.webRequest?.onErrorOccurred) return;
  listening = true;
  chrome.webRequest.onErrorOccurred.addListener(
    (details) => {
      if (details.initiator !== EXTENSION_ORIGIN) return;
      netErrors.set(details.url, details.error);
      if (netErrors.size > 50) netErrors.delete(netErrors.keys().next().value as string);
    },
    { urls: ["https://*/*"] },
  );
}
listenForNetErrors();
chrome.permissions.onAdded.addListener(listenForNetErrors);

function takeNetError(url: string): string | null {
  const code = netErrors.get(url) ?? null;
  netErrors.delete(url);
  return code;
}

async function gatewayClient(): Promise<GatewayClient> {
  const settings = await loadSettings();
  if (!settings) {
    throw new GatewayError(
      "unconfigured",
      "The extension is not set up: open its options and enter the gateway URL and API key",
    );
  }
  const origin = new URL(settings.gatewayUrl).origin;
  const granted = await chrome.permissions.contains({ origins: [originPattern(origin)] });
  if (!granted) {
    throw new GatewayError(
      "permission",
      `The extension may not connect to ${origin} yet: open its options and press Save to allow it`,
    );
  }
  return new GatewayClient({
    baseUrl: settings.gatewayUrl,
    apiKey: settings.apiKey,
    netError: takeNetError,
    extensionOrigin: EXTENSION_ORIGIN,
  });
}

// --- the publisher -------------------------------------------------------------------

/** A page's port closing means the page left, unless it comes back (a reload) this soon. */
const LEAVE_GRACE_MS = 1_500;
/** After a restart of this worker, how long an open checkout page has to reconnect. */
const RECONNECT_GRACE_MS = 5_000;
const ports = new Map<number, chrome.runtime.Port>();
/** Tabs whose page is read by an adapter (MoMo's page), not by the generic capture. */
const adapterTabs = new Set<number>();
/** The origin of each tab's page, as its port says (for "Always capture on this site"). */
const portOrigins = new Map<number, string | null>();
const leaving = new Map<number, ReturnType<typeof setTimeout>>();

/** The tab's page counts as gone unless it connects within `ms`. */
function expectReturn(tabId: number, ms: number): void {
  if (ports.has(tabId)) return;
  const previous = leaving.get(tabId);
  if (previous !== undefined) clearTimeout(previous);
  leaving.set(
    tabId,
    setTimeout(() => {
      leaving.delete(tabId);
      if (ports.has(tabId)) return;
      inOrder(tabId, () => publisher.pageLeft(tabId));
      inOrder(tabId, () => generic.pageLeft(tabId));
    }, ms),
  );
}

const publisher = new Publisher({
  store: { save: saveTabState, remove: removeTabState },
  client: gatewayClient,
  show: (state: TabState) => showBadge(state),
});

// --- the generic capture: decoding the pictures a page shows ------------------------------

// The decoder's WebAssembly ships with the extension (never fetched from elsewhere).
configureDecoder({ locateFile: (file) => chrome.runtime.getURL(file) });

/**
 * Decoded texts of recent pictures, by the SHA-256 of their PNG: a page re-sent
 * unchanged (the popup opened again) is not decoded again.
 */
const decodedCache = new Map<string, string[]>();

async function decodePng(png: string): Promise<string[]> {
  const key = await sha256Hex(png);
  const cached = decodedCache.get(key);
  if (cached) return cached;
  const bitmap = await createImageBitmap(await (await fetch(png)).blob());
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d");
  if (!context) return [];
  context.drawImage(bitmap, 0, 0);
  const texts = await decodeQr(context.getImageData(0, 0, bitmap.width, bitmap.height));
  decodedCache.set(key, texts);
  if (decodedCache.size > 32) decodedCache.delete(decodedCache.keys().next().value as string);
  return texts;
}

const generic = new GenericCapture({
  publisher,
  decode: decodePng,
  load: loadScanState,
  save: saveScanState,
});

void reconcileSites().catch(() => undefined);
// A site revoked in Chrome's own settings stops being read, as one revoked in the popup.
chrome.permissions.onRemoved.addListener(() => {
  void reconcileSites().then((dropped) => dropped.forEach(stopCapturing), () => undefined);
});

const ready = loadTabStates().then(async (states) => {
  // Tabs closed while the worker was stopped are cleared and forgotten.
  const exists = (tabId: number): Promise<boolean> =>
    chrome.tabs.get(tabId).then(
      () => true,
      () => false,
    );
  const open = await Promise.all(states.map((s) => exists(s.tabId)));
  publisher.restore(states);
  publisher.resume();
  states.forEach((s, i) => {
    if (!open[i]) void publisher.tabClosed(s.tabId);
    // A page that still has a payment on screen reconnects at once; one that does
    // not has left (it navigated away while the worker was stopped).
    else if (s.live && s.pageOpen) expectReturn(s.tabId, RECONNECT_GRACE_MS);
  });
});

chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "local" && ("gatewayUrl" in changes || "apiKey" in changes)) {
    void ready.then(() => publisher.settingsChanged());
  }
});

// --- content scripts -------------------------------------------------------------------

/** Runs one tab's events in the order they came (a capture, then "paid", stay in order). */
const queues = new Map<number, Promise<void>>();
function inOrder(tabId: number, work: () => Promise<void>): void {
  const previous = queues.get(tabId) ?? ready;
  const next = previous.then(work).catch(() => undefined);
  queues.set(tabId, next);
  void next.then(() => {
    if (queues.get(tabId) === next) queues.delete(tabId);
  });
}

chrome.runtime.onConnect.addListener((port) => {
  const tabId = port.sender?.tab?.id;
  if (port.name !== CAPTURE_PORT || tabId === undefined || port.sender?.frameId !== 0) {
    port.disconnect();
    return;
  }
  ports.set(tabId, port);
  adapterTabs.delete(tabId);
  portOrigins.set(tabId, port.sender?.origin ?? siteOrigin(port.sender?.url));
  const timer = leaving.get(tabId);
  if (timer !== undefined) clearTimeout(timer);
  leaving.delete(tabId);

  port.onMessage.addListener((message: PortMessage) => inOrder(tabId, () => handle(tabId, message)));
  port.onDisconnect.addListener(() => {
    if (ports.get(tabId) !== port) return;
    ports.delete(tabId);
    expectReturn(tabId, LEAVE_GRACE_MS);
  });
});

async function handle(tabId: number, message: PortMessage): Promise<void> {
  if (message.type === "capture" || message.type === "status" || message.type === "problem") adapterTabs.add(tabId);
  switch (message.type) {
    case "scan":
      await generic.scanned(tabId, portOrigins.get(tabId) ?? null, message.scan);
      return;
    case "capture":
      await publisher.pageOpened(tabId);
      await publisher.capture(tabId, message.data);
      return;
    case "status":
      await publisher.orderOver(tabId, message.status);
      return;
    case "problem":
      await publisher.pageProblem(tabId, `Could not read the checkout page: ${message.message}`);
      return;
    case "keepalive":
      await publisher.renewIfExpired(tabId);
      return;
  }
}

chrome.tabs.onRemoved.addListener((tabId) => {
  const timer = leaving.get(tabId);
  if (timer !== undefined) clearTimeout(timer);
  leaving.delete(tabId);
  ports.delete(tabId);
  adapterTabs.delete(tabId);
  portOrigins.delete(tabId);
  inOrder(tabId, () => publisher.tabClosed(tabId));
  inOrder(tabId, () => removeScanState(tabId));
});

// --- the popup's requests: read this tab, pick a code, always-on sites -----------------------

type Answer = { ok: boolean; problem: string | null };

/**
 * Reads the tab's page now: asks its content script to read again, or injects one. The
 * popup was opened from the action (or its shortcut), which grants activeTab on it.
 */
async function scanTab(tabId: number): Promise<Answer> {
  const port = ports.get(tabId);
  if (port) {
    if (!adapterTabs.has(tabId)) await generic.scanning(tabId);
    port.postMessage({ type: "rescan" } satisfies WorkerMessage);
    return { ok: true, problem: null };
  }
  try {
    await generic.scanning(tabId);
    await chrome.scripting.executeScript({ target: { tabId }, files: ["content.js"] });
    return { ok: true, problem: null };
  } catch {
    const problem =
      "The extension cannot read this tab. Click its icon (or press its shortcut) on the checkout page itself; " +
      "Chrome's own pages and the Web Store cannot be read.";
    await generic.unreadable(tabId, problem);
    return { ok: false, problem };
  }
}

/** Tells the content scripts of `origin`'s open pages to stop (their screens are cleared as they leave). */
function stopCapturing(origin: string): void {
  for (const [tabId, port] of ports) {
    if (portOrigins.get(tabId) !== origin || adapterTabs.has(tabId)) continue;
    port.postMessage({ type: "stop" } satisfies WorkerMessage);
  }
}

async function gatewayOrigin(): Promise<string | null> {
  const settings = await loadSettings();
  return settings ? new URL(settings.gatewayUrl).origin : null;
}

// --- the options page and the popup ---------------------------------------------------------

async function testConnection(): Promise<TestConnectionResult> {
  const steps: TestStep[] = [];
  let client: GatewayClient;
  try {
    client = await gatewayClient();
  } catch (error) {
    return { ok: false, steps, problem: (error as Error).message };
  }
  try {
    await client.health();
    steps.push({ name: "GET /health", ok: true, detail: "the gateway is up" });
  } catch (error) {
    const message = (error as Error).message;
    steps.push({ name: "GET /health", ok: false, detail: message });
    return { ok: false, steps, problem: message };
  }
  try {
    const session = await client.createSession();
    steps.push({
      name: "POST /api/token/generate",
      ok: true,
      detail: `the API key works: a test session was created (expires ${session.expiresAt})`,
    });
  } catch (error) {
    const message = (error as Error).message;
    steps.push({ name: "POST /api/token/generate", ok: false, detail: message });
    return { ok: false, steps, problem: message };
  }
  return { ok: true, steps, problem: null };
}

type Request =
  | { type: "test-connection" }
  | { type: "retry"; tabId: number }
  | { type: "scan-tab"; tabId: number }
  | { type: "choose"; tabId: number; payload: string; amount: string }
  | { type: "add-site"; origin: string; tabId: number | null }
  | { type: "remove-site"; origin: string };

/** Runs `work` in the tab's queue (after what its page sent) and answers the popup with its result. */
function answer(tabId: number, work: () => Promise<Answer>, sendResponse: (a: Answer) => void): true {
  inOrder(tabId, async () => {
    try {
      sendResponse(await work());
    } catch (error) {
      sendResponse({ ok: false, problem: (error as Error).message });
    }
  });
  return true;
}

chrome.runtime.onMessage.addListener((message: Request, sender, sendResponse) => {
  // Only the extension's own pages (options, popup) may ask; content scripts use the port.
  if (sender.id !== chrome.runtime.id || sender.tab?.url?.startsWith("http")) return false;
  if (sender.url && !sender.url.startsWith(EXTENSION_ORIGIN)) return false;
  if (message.type === "test-connection") {
    void testConnection().then(sendResponse);
    return true;
  }
  if (message.type === "retry") {
    void ready.then(() => publisher.retry(message.tabId)).then(() => sendResponse({ ok: true }));
    return true;
  }
  if (message.type === "scan-tab") return answer(message.tabId, () => scanTab(message.tabId), sendResponse);
  if (message.type === "choose") {
    const { tabId, payload, amount } = message;
    return answer(tabId, () => generic.choose(tabId, payload, amount), sendResponse);
  }
  if (message.type === "add-site") {
    const { origin, tabId } = message;
    void (async (): Promise<Answer> => {
      const added = await addSite(origin);
      // Capture the page open in the popup's tab at once, not at its next load.
      if (added.ok && tabId !== null && !ports.has(tabId)) await scanTab(tabId);
      return added;
    })().then(sendResponse, (error: Error) => sendResponse({ ok: false, problem: error.message }));
    return true;
  }
  if (message.type === "remove-site") {
    void (async (): Promise<Answer> => {
      await removeSite(message.origin, await gatewayOrigin());
      stopCapturing(message.origin);
      return { ok: true, problem: null };
    })().then(sendResponse, (error: Error) => sendResponse({ ok: false, problem: error.message }));
    return true;
  }
  return false;
});
