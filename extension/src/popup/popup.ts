// The popup: this tab's viewer link (text, QR for a phone, copy button), what is on
// the screen, the payment codes the page shows (pick one, type a static code's amount),
// "Always capture on this site" and the sites granted, and the last problem in plain
// words. Opening it (the action's click or shortcut, which grants activeTab) asks the
// service worker to read the page. It reads the tab's state from chrome.storage.session
// (written by the service worker) and follows its changes. `popup.html?tab=<id>` shows
// another tab (used when the popup is opened as a page).

import { formatVnd } from "../shared/amount";
import type { Phase, TabState } from "../shared/types";
import { payeeText } from "../shared/vietqr";
import type { FoundCode, ScanState } from "../background/generic";
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

type Answer = { ok: boolean; problem: string | null };

/** The tab's generic capture (codes found, what is asked), as the service worker keeps it. */
let scanState: ScanState | null = null;

function codeItem(code: FoundCode, index: number, shown: boolean): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset["payload"] = code.payload;
  li.dataset["shown"] = String(shown);
  if (code.problem) li.dataset["problem"] = code.problem;
  const label = document.createElement("label");
  const radio = document.createElement("input");
  radio.type = "radio";
  radio.name = "code";
  radio.value = String(index);
  radio.disabled = Boolean(code.problem);
  const text = document.createElement("span");
  const main = document.createElement("span");
  main.className = "code-main";
  main.textContent = `${code.amount !== null ? formatVnd(code.amount) : "No amount"} — ${payeeText(code.payee)}`;
  const sub = document.createElement("span");
  sub.className = "code-sub";
  const notes = [code.label, code.purpose, code.problem, shown ? "on the screen now" : ""];
  sub.textContent = notes.filter(Boolean).join(" · ");
  text.append(main, sub);
  label.append(radio, text);
  li.append(label);
  return li;
}

let shownCodesKey = "";

function renderCapture(scan: ScanState | null): void {
  const section = $("capture");
  section.hidden = !scan;
  if (!scan) return;
  section.dataset["status"] = scan.status;
  section.dataset["need"] = scan.need ?? "";
  const usable = scan.codes.filter((c) => !c.problem);
  const status = $("scan-status");
  const count = usable.length;
  if (scan.status === "scanning") status.textContent = "Looking for payment QR codes…";
  else if (scan.need === "pick") status.textContent = `${count} payment codes on this page: choose the one the customer pays.`;
  else if (scan.need === "amount") status.textContent = "This code has no amount (a static QR): type the amount to collect.";
  else if (scan.shown) status.textContent = "The customer's screen shows the code marked below.";
  else status.textContent = "";

  // The list shows every code found; the radios, the amount and the button only when
  // there is a choice to make (several codes, or a static code's amount).
  const choosing = scan.need !== null || usable.length > 1;
  const form = $<HTMLFormElement>("choose");
  form.hidden = scan.codes.length === 0;
  form.dataset["choosing"] = String(choosing);
  $("amount-row").hidden = $("publish").hidden = !choosing;
  $("choose-legend").textContent = !choosing ? "" : usable.length > 1 ? "Choose a code:" : "The code:";
  const key = JSON.stringify([scan.codes.map((c) => c.payload), scan.shown]);
  if (key !== shownCodesKey) {
    // Rebuilt only when the codes change, so a pick and a typed amount survive other updates.
    shownCodesKey = key;
    $("codes").replaceChildren(...scan.codes.map((code, i) => codeItem(code, i, code.payload === scan.shown)));
    const preselected = scan.codes.findIndex((c) => c.payload === scan.shown);
    const only = usable.length === 1 ? scan.codes.indexOf(usable[0]!) : -1;
    const index = preselected >= 0 ? preselected : only;
    if (index >= 0) selectCode(scan.codes, index);
    $("choose-error").hidden = true;
  }

  const problem = $("scan-problem");
  problem.hidden = !scan.problem || scan.status === "scanning";
  problem.textContent = scan.problem ?? "";
  $("notes").replaceChildren(
    ...scan.notes.map((note) => {
      const li = document.createElement("li");
      li.textContent = note;
      return li;
    }),
  );
}

/** Checks a code's radio and puts its amount in the field (empty, to be typed, for a static code). */
function selectCode(codes: readonly FoundCode[], index: number): void {
  const radio = document.querySelector<HTMLInputElement>(`input[name="code"][value="${index}"]`);
  if (radio) radio.checked = true;
  const code = codes[index];
  const amount = $<HTMLInputElement>("amount");
  amount.value = code?.amount != null ? String(code.amount) : "";
}

function renderSites(scan: ScanState | null, sites: readonly string[]): void {
  const origin = scan?.origin ?? null;
  const httpsPage = origin !== null && origin.startsWith("https://");
  $("site").hidden = !httpsPage;
  if (httpsPage) {
    const on = sites.includes(origin);
    $("always").hidden = on;
    $("always").textContent = `Always capture on ${new URL(origin).host}`;
    $("site-on").hidden = !on;
    $("site-on").textContent = `Pages of ${origin} are captured as they load.`;
  }
  $("sites").hidden = sites.length === 0;
  $("site-list").replaceChildren(
    ...sites.map((site) => {
      const li = document.createElement("li");
      li.dataset["origin"] = site;
      const name = document.createElement("span");
      name.textContent = site;
      const stop = document.createElement("button");
      stop.type = "button";
      stop.className = "stop";
      stop.textContent = "Stop";
      stop.addEventListener("click", () => {
        void chrome.runtime.sendMessage({ type: "remove-site", origin: site });
      });
      li.append(name, stop);
      return li;
    }),
  );
}

function render(state: TabState | null, configured: boolean): void {
  const phase = state?.phase ?? "idle";
  const pill = $("state");
  pill.dataset["phase"] = phase;
  pill.textContent = PHASE_LABEL[phase];

  $("unconfigured").hidden = configured;
  $("empty").hidden = !configured || Boolean(state?.session || state?.lastError || scanState);

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
    const code = scanState?.codes.find((c) => c.payload === scanState?.shown);
    $("live-payee-label").hidden = $("live-payee").hidden = !code;
    $("live-payee").textContent = code ? payeeText(code.payee) : "";
  }

  const cleared = state?.cleared ?? null;
  $("cleared").hidden = !cleared || Boolean(live);
  if (cleared) {
    $("cleared").textContent =
      cleared.reason === "paid" ? "Order paid: the screen was cleared." : "Order over: the screen was cleared.";
  }

  // A problem of the page is said once, in the capture section.
  const error = state?.lastError ?? null;
  $("error").hidden = !error || error === scanState?.problem;
  $("error-text").textContent = error ?? "";
  $("retry").hidden = phase !== "error";
  document.body.dataset["phase"] = phase;
  document.body.dataset["ready"] = "true";
}

async function main(): Promise<void> {
  const tabId = await currentTabId();
  const key = `tab:${tabId}`;
  const scanKey = `scan:${tabId}`;
  let state: TabState | null = null;
  let configured = false;

  const refresh = async (): Promise<void> => {
    const [session, local] = await Promise.all([
      tabId === null ? Promise.resolve({}) : chrome.storage.session.get([key, scanKey]),
      chrome.storage.local.get(["gatewayUrl", "sites"]),
    ]);
    state = ((session as Record<string, unknown>)[key] as TabState | undefined) ?? null;
    scanState = ((session as Record<string, unknown>)[scanKey] as ScanState | undefined) ?? null;
    configured = typeof local["gatewayUrl"] === "string" && local["gatewayUrl"] !== "";
    const sites = Array.isArray(local["sites"]) ? (local["sites"] as string[]) : [];
    render(state, configured);
    renderCapture(scanState);
    renderSites(scanState, sites);
  };

  chrome.storage.onChanged.addListener((changes, area) => {
    const mine = area === "session" && (key in changes || scanKey in changes);
    if (mine || (area === "local" && ("gatewayUrl" in changes || "sites" in changes))) void refresh();
  });

  $("codes").addEventListener("change", (event) => {
    const radio = event.target as HTMLInputElement;
    if (radio.name === "code" && scanState) selectCode(scanState.codes, Number(radio.value));
    $("choose-error").hidden = true;
  });
  $<HTMLFormElement>("choose").addEventListener("submit", (event) => {
    event.preventDefault();
    const picked = document.querySelector<HTMLInputElement>('input[name="code"]:checked');
    const code = picked ? scanState?.codes[Number(picked.value)] : undefined;
    const error = $("choose-error");
    if (!code || tabId === null) {
      error.textContent = "Choose a code first.";
      error.hidden = false;
      return;
    }
    const amount = $<HTMLInputElement>("amount").value;
    void (chrome.runtime.sendMessage({ type: "choose", tabId, payload: code.payload, amount }) as Promise<Answer>).then(
      (answer) => {
        error.hidden = answer.ok;
        error.textContent = answer.problem ?? "";
      },
    );
  });
  $("always").addEventListener("click", () => {
    const origin = scanState?.origin;
    if (!origin) return;
    const error = $("site-error");
    // Asked here, in the click: Chrome shows its prompt only for a user's gesture.
    void chrome.permissions.request({ origins: [`${origin}/*`] }).then(async (granted) => {
      const answer: Answer = granted
        ? await (chrome.runtime.sendMessage({ type: "add-site", origin, tabId }) as Promise<Answer>)
        : { ok: false, problem: `Chrome did not allow reading ${origin}: nothing changed.` };
      error.hidden = answer.ok;
      error.textContent = answer.problem ?? "";
    });
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
  // Read the page now: the answer arrives in chrome.storage.session (scan:<tab>).
  if (tabId !== null) void chrome.runtime.sendMessage({ type: "scan-tab", tabId }).catch(() => undefined);
}

void main();
