// The action badge per tab: nothing when idle, LIVE when viewers show the payment,
// "…" while a call is in flight or waiting to be retried, ERR after a failure.

import type { Phase, TabState } from "../shared/types";
import { formatVnd } from "../shared/amount";

export const BADGES: Record<Phase, { text: string; color: string }> = {
  idle: { text: "", color: "#5f6368" },
  working: { text: "…", color: "#b06000" },
  live: { text: "LIVE", color: "#137333" },
  error: { text: "ERR", color: "#c5221f" },
};

export function badgeTitle(state: TabState): string {
  const name = "Payment QR gateway";
  switch (state.phase) {
    case "live":
      return state.live
        ? `${name}: live (${state.live.merchant}, ${formatVnd(state.live.amount)})`
        : `${name}: live`;
    case "working":
      return state.lastError ? `${name}: ${state.lastError}` : `${name}: publishing…`;
    case "error":
      return `${name}: ${state.lastError ?? "error"}`;
    default:
      return state.cleared ? `${name}: screen cleared (${state.cleared.reason})` : name;
  }
}

export function showBadge(state: TabState): void {
  const badge = BADGES[state.phase];
  const tabId = state.tabId;
  // The tab may be gone already; a failed badge update matters to no one.
  const ignore = (): undefined => undefined;
  chrome.action.setBadgeText({ tabId, text: badge.text }).catch(ignore);
  chrome.action.setBadgeBackgroundColor({ tabId, color: badge.color }).catch(ignore);
  chrome.action.setTitle({ tabId, title: badgeTitle(state) }).catch(ignore);
}
