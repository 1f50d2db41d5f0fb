// Content script entry: picks the adapter for this page and connects it to the
// service worker over a port. When the page goes away (closed, navigated, reloaded),
// the port disconnects and the service worker clears the viewers' screen.

import adapters from "virtual:adapters";
import { CAPTURE_PORT, type CaptureMessage, type SiteAdapter } from "../shared/types";
import { matchPattern } from "../shared/match";
import { CaptureRunner } from "./runner";

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

function start(): void {
  const adapter = pickAdapter(location.href, document);
  if (!adapter) return;

  let port: chrome.runtime.Port | null = null;
  let runner: CaptureRunner | null = null;

  const connect = (): chrome.runtime.Port | null => {
    if (!alive()) {
      runner?.stop();
      return null;
    }
    const p = chrome.runtime.connect({ name: CAPTURE_PORT });
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

  runner = new CaptureRunner(adapter, document, channel);
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
