// The popup: this tab's viewer link (text, QR for a phone, copy button), what is on
// the screen, and the last problem in plain words. It reads the tab's state from
// chrome.storage.session (written by the service worker) and follows its changes.
// `popup.html?tab=<id>` shows another tab (used when the popup is opened as a page).

import { formatVnd } from "../shared/amount";
import type { Phase, TabState } from "../shared/types";
import { drawQr } from "./qr";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const PHASE_LABEL: Record<Phase, string> = {
  idle: "Idle",
  working: "Publishing…",
  live: "Live",
  error: "Error",
};

async function currentTabId(): Promise<number | null> {
  const param = new URLSearchParams(location.search).get("tab");
  if (param && /^\d+$/.test(param)) return Number(param);
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab?.id ?? null;
}

function time(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function render(state: TabState | null, configured: boolean): void {
  const phase = state?.phase ?? "idle";
  const pill = $("state");
  pill.dataset["phase"] = phase;
  pill.textContent = PHASE_LABEL[phase];

  $("unconfigured").hidden = configured;
  $("empty").hidden = !configured || Boolean(state?.session || state?.lastError);

  const session = state?.session ?? null;
  $("session").hidden = !session;
  if (session) {
    const link = $<HTMLAnchorElement>("viewer-link");
    if (link.href !== session.url) {
      link.href = session.url;
      link.textContent = session.url;
      drawQr($<HTMLCanvasElement>("link-qr"), session.url);
    }
    $("renewed").hidden = !state?.renewedFrom;
    $("expires").textContent = `Session ${session.sessionId.slice(0, 8)}… expires at ${time(session.expiresAt)}`;
  }

  const live = state?.live ?? null;
  $("live").hidden = !live;
  if (live) {
    $("live-merchant").textContent = live.merchant;
    $("live-amount").textContent = formatVnd(live.amount);
    $("live-order").textContent = `${live.orderId ?? "—"} (#${live.seq})`;
  }

  const cleared = state?.cleared ?? null;
  $("cleared").hidden = !cleared || Boolean(live);
  if (cleared) {
    $("cleared").textContent =
      cleared.reason === "paid" ? "Order paid: the screen was cleared." : "Order over: the screen was cleared.";
  }

  const error = state?.lastError ?? null;
  $("error").hidden = !error;
  $("error-text").textContent = error ?? "";
  $("retry").hidden = phase !== "error";
  document.body.dataset["phase"] = phase;
  document.body.dataset["ready"] = "true";
}

async function main(): Promise<void> {
  const tabId = await currentTabId();
  const key = `tab:${tabId}`;
  let state: TabState | null = null;
  let configured = false;

  const refresh = async (): Promise<void> => {
    const [session, local] = await Promise.all([
      tabId === null ? Promise.resolve({}) : chrome.storage.session.get(key),
      chrome.storage.local.get("gatewayUrl"),
    ]);
    state = ((session as Record<string, unknown>)[key] as TabState | undefined) ?? null;
    configured = typeof local["gatewayUrl"] === "string" && local["gatewayUrl"] !== "";
    render(state, configured);
  };

  chrome.storage.onChanged.addListener((changes, area) => {
    if ((area === "session" && key in changes) || (area === "local" && "gatewayUrl" in changes)) void refresh();
  });

  $("copy").addEventListener("click", () => {
    const url = state?.session?.url;
    if (!url) return;
    void navigator.clipboard.writeText(url).then(
      () => {
        $("copied").textContent = "Copied";
        $("copied").hidden = false;
        setTimeout(() => ($("copied").hidden = true), 2_000);
      },
      () => {
        $("copied").textContent = "Could not copy: select the link and copy it";
        $("copied").hidden = false;
      },
    );
  });
  $("retry").addEventListener("click", () => {
    if (tabId !== null) void chrome.runtime.sendMessage({ type: "retry", tabId });
  });
  $("options").addEventListener("click", () => void chrome.runtime.openOptionsPage());

  await refresh();
}

void main();
