// The options page: gateway URL and API key (chrome.storage.local, never synced;
// the key is never shown again once saved, only masked), the runtime host permission
// for the gateway's origin, and "Test connection".

import {
  checkApiKey,
  loadSettings,
  maskKey,
  normalizeGatewayUrl,
  originPattern,
  saveSettings,
  type Settings,
} from "../shared/settings";
import type { TestConnectionResult } from "../shared/types";

const form = document.getElementById("settings") as HTMLFormElement;
const urlInput = document.getElementById("gateway-url") as HTMLInputElement;
const keyInput = document.getElementById("api-key") as HTMLInputElement;
const keyHint = document.getElementById("key-hint") as HTMLParagraphElement;
const saveButton = document.getElementById("save") as HTMLButtonElement;
const testButton = document.getElementById("test") as HTMLButtonElement;
const result = document.getElementById("result") as HTMLElement;
const summary = document.getElementById("result-summary") as HTMLParagraphElement;
const stepsList = document.getElementById("result-steps") as HTMLOListElement;
const originSnippet = document.getElementById("origin-snippet") as HTMLElement;

const extensionOrigin = chrome.runtime.getURL("").replace(/\/$/, "");
originSnippet.textContent = `allowed_origins = ["${extensionOrigin}"]`;

let saved: Settings | null = null;

function show(kind: "ok" | "bad" | "info", text: string, steps: TestConnectionResult["steps"] = []): void {
  result.hidden = false;
  result.className = `result ${kind === "info" ? "" : kind}`;
  result.dataset["state"] = kind;
  summary.textContent = text;
  stepsList.replaceChildren(
    ...steps.map((step) => {
      const li = document.createElement("li");
      li.className = step.ok ? "ok" : "bad";
      const code = document.createElement("code");
      code.textContent = step.name;
      li.append(code, ` — ${step.detail}`);
      return li;
    }),
  );
}

function renderSaved(): void {
  if (saved) {
    urlInput.value = saved.gatewayUrl;
    keyInput.value = "";
    keyInput.placeholder = `Saved: ${maskKey(saved.apiKey)} (type a new key to replace it)`;
    keyHint.textContent =
      "A key is saved. It is kept in this browser only (never synced) and readable only by the extension itself.";
  }
}

function dirty(): boolean {
  if (!saved) return true;
  const url = normalizeGatewayUrl(urlInput.value);
  return keyInput.value.trim() !== "" || !url.ok || url.url !== saved.gatewayUrl;
}

/**
 * Checks the form, asks Chrome for access to the gateway's origin, and saves.
 * chrome.permissions.request needs the user's click: it is called before any await.
 */
function saveFromForm(): Promise<boolean> {
  const url = normalizeGatewayUrl(urlInput.value);
  if (!url.ok) {
    show("bad", url.problem);
    urlInput.focus();
    return Promise.resolve(false);
  }
  const apiKey = keyInput.value.trim() || saved?.apiKey || "";
  const keyProblem = checkApiKey(apiKey);
  if (keyProblem) {
    show("bad", keyProblem);
    keyInput.focus();
    return Promise.resolve(false);
  }
  const request = chrome.permissions.request({
    origins: [originPattern(url.origin)],
    permissions: ["webRequest"],
  });
  show("info", `Asking Chrome for access to ${url.origin}…`);
  return request.then(
    async (granted) => {
      if (!granted) {
        show(
          "bad",
          `Chrome did not allow access to ${url.origin}: without it the extension cannot reach the gateway. Press Save again and choose Allow.`,
        );
        return false;
      }
      const previous = saved ? new URL(saved.gatewayUrl).origin : null;
      await saveSettings({ gatewayUrl: url.url, apiKey });
      if (previous && previous !== url.origin) {
        // The old gateway no longer needs to be reachable.
        await chrome.permissions.remove({ origins: [originPattern(previous)] }).catch(() => false);
      }
      saved = { gatewayUrl: url.url, apiKey };
      renderSaved();
      show("ok", `Saved. The extension may now connect to ${url.origin}.`);
      return true;
    },
    (error: unknown) => {
      show("bad", `Chrome refused the permission request: ${(error as Error).message}`);
      return false;
    },
  );
}

async function busy<T>(work: () => Promise<T>): Promise<T> {
  saveButton.disabled = testButton.disabled = true;
  try {
    return await work();
  } finally {
    saveButton.disabled = testButton.disabled = false;
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  void busy(saveFromForm);
});

testButton.addEventListener("click", () => {
  // Unsaved changes are saved first (in this click, so Chrome may ask for access).
  const saving = dirty() ? saveFromForm() : Promise.resolve(true);
  void busy(async () => {
    if (!(await saving)) return;
    show("info", "Testing the connection…");
    const answer = (await chrome.runtime.sendMessage({ type: "test-connection" })) as TestConnectionResult;
    if (answer.ok) {
      show("ok", "Connected: the gateway is up and accepts the API key.", answer.steps);
    } else {
      show("bad", answer.problem ?? "The test failed.", answer.steps);
    }
  });
});

void loadSettings().then((settings) => {
  saved = settings;
  renderSaved();
  document.body.dataset["ready"] = "true";
});
