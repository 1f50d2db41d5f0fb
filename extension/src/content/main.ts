// Content script entry: picks the adapter for this page, or the generic capture (the
// page's QR codes, decoded by the service worker) where no adapter matches, and
// connects it to the service worker over a port. It runs where the manifest injects it
// (MoMo's pages), where the user granted a site ("Always capture on this site"), and in
// a tab whose action the user clicked (activeTab). When the page goes away (closed,
// navigated, reloaded), the port disconnects and the service worker clears the
// viewers' screen.

import adapters from "virtual:adapters";
import { CAPTURE_PORT, type CaptureMessage, type SiteAdapter, type WorkerMessage } from "../shared/types";
import { matchPattern } from "../shared/match";
import { CaptureRunner } from "./runner";
import { QrWatcher } from "./watcher";

/** What reads the page: an adapter's runner, or the generic QR watcher. */
interface PageReader {
  start(): void;
  stop(): void;
  readonly active: boolean;
  resend(): void;
  reset(): void;
  evaluate(forced?: boolean): unknown;
}

/** The adapter whose patterns match the URL (the one that recognises the page, if several do). */
function pickAdapter(url: string, doc: Document): SiteAdapter | null {
  const candidates = adapters.filter((a) => a.matches.some((pattern) => matchPattern(pattern, url)));
  return candidates.find((a) => a.detect(doc)) ?? candidates[0] ?? null;
}

/** Messages on the port keep the service worker alive while a checkout page is open. */
const KEEPALIVE_MS = 20_000;

function alive(): boolean {
  // After the extension is reloaded or removed, this old content script is orphaned.
  return typeof chrome !== "undefined" && Boolean(chrome.runtime?.id);
}

// The popup may inject this script into a tab where it already runs (an adapter's page,
// a granted site, an earlier click): one copy per page, and a second injection makes the
// running copy read the page again. The hook lives in the extension's isolated world;
// the page cannot see or call it.
const RUNNING = "__paymentQrGatewayContent";
type Hooks = Record<string, (() => void) | undefined>;

function start(): void {
  const hooks = globalThis as unknown as Hooks;
  const running = hooks[RUNNING];
  if (running) {
    running();
    return;
  }
  const adapter = pickAdapter(location.href, document);

  let port: chrome.runtime.Port | null = null;
  let runner: PageReader | null = null;
  let stopped = false;

  const connect = (): chrome.runtime.Port | null => {
    if (stopped) return null;
    if (!alive()) {
      runner?.stop();
      return null;
    }
    const p = chrome.runtime.connect({ name: CAPTURE_PORT });
    p.onMessage.addListener((message: WorkerMessage) => {
      if (message.type === "rescan") {
        readAgain();
        return;
      }
      if (message.type === "stop") {
        // The site is no longer granted: stop reading it. Leaving the port makes the
        // worker clear the screen; a later click may start a new copy.
        stopped = true;
        runner?.stop();
        runner = null;
        hooks[RUNNING] = undefined;
        p.disconnect();
        port = null;
        return;
      }
    });
    p.onDisconnect.addListener(() => {
      port = null;
      // The service worker stopped (it is restarted on the next message): reconnect
      // and say again what the page shows. Reading lastError marks it handled.
      void chrome.runtime.lastError;
      setTimeout(() => {
        if (!port && connect()) runner?.resend();
      }, 500);
    });
    port = p;
    return p;
  };

  const channel = {
    send(message: CaptureMessage): void {
      const p = port ?? connect();
      try {
        p?.postMessage(message);
      } catch {
        port = null;
        connect()?.postMessage(message);
      }
    },
  };

  /** The user opened the popup: say again what the page shows, even if unchanged. */
  const readAgain = (): void => {
    if (!runner) return;
    if (!port) connect();
    if (runner instanceof CaptureRunner) {
      runner.reset();
      runner.evaluate();
    } else {
      void runner.evaluate(true);
    }
  };
  hooks[RUNNING] = readAgain;

  runner = adapter ? new CaptureRunner(adapter, document, channel) : new QrWatcher(document, channel);
  connect();
  runner.start();
  setInterval(() => {
    if (!alive() || !runner?.active) return;
    try {
      port?.postMessage({ type: "keepalive" });
    } catch {
      port = null;
    }
  }, KEEPALIVE_MS);

  window.addEventListener("pageshow", (event) => {
    if (event.persisted && runner) {
      // Back from the back/forward cache: the port was closed when the page left.
      runner.reset();
      if (!port) connect();
      runner.evaluate();
    }
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start, { once: true });
} else {
  start();
}
