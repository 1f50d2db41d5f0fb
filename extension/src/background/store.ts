// Tab states in chrome.storage.session: they survive the service worker being
// stopped and restarted, never reach the disk, and are gone when the browser closes
// (as are the tabs). Only the extension's own pages and worker can read them.

import type { TabState } from "../shared/types";
import type { ScanState } from "./generic";

const PREFIX = "tab:";

export function tabKey(tabId: number): string {
  return `${PREFIX}${tabId}`;
}

export async function loadTabStates(): Promise<TabState[]> {
  const all = await chrome.storage.session.get(null);
  return Object.entries(all)
    .filter(([key]) => key.startsWith(PREFIX))
    .map(([, value]) => value as TabState);
}

export async function saveTabState(state: TabState): Promise<void> {
  await chrome.storage.session.set({ [tabKey(state.tabId)]: state });
}

export async function removeTabState(tabId: number): Promise<void> {
  await chrome.storage.session.remove(tabKey(tabId));
}

// Each tab's generic capture (the codes its page shows, the user's pick), for the popup.
const SCAN_PREFIX = "scan:";

export function scanKey(tabId: number): string {
  return `${SCAN_PREFIX}${tabId}`;
}

export async function loadScanState(tabId: number): Promise<ScanState | null> {
  const stored = await chrome.storage.session.get(scanKey(tabId));
  return (stored[scanKey(tabId)] as ScanState | undefined) ?? null;
}

export async function saveScanState(state: ScanState): Promise<void> {
  await chrome.storage.session.set({ [scanKey(state.tabId)]: state });
}

export async function removeScanState(tabId: number): Promise<void> {
  await chrome.storage.session.remove(scanKey(tabId));
}
