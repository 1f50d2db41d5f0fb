"use strict";
(() => {
  // src/shared/settings.ts
  var KEYS = ["gatewayUrl", "apiKey"];
  async function loadSettings() {
    const stored = await chrome.storage.local.get([...KEYS]);
    const gatewayUrl = stored["gatewayUrl"];
    const apiKey = stored["apiKey"];
    if (typeof gatewayUrl !== "string" || typeof apiKey !== "string") return null;
    if (!gatewayUrl || !apiKey) return null;
    return { gatewayUrl, apiKey };
  }
  async function saveSettings(settings) {
    await chrome.storage.local.set({ gatewayUrl: settings.gatewayUrl, apiKey: settings.apiKey });
  }
  function normalizeGatewayUrl(input) {
    const text = input.trim();
    if (!text) return { ok: false, problem: "Enter the gateway URL, e.g. https://pay.example.com" };
    let url;
    try {
      url = new URL(text);
    } catch {
      return { ok: false, problem: `"${text.slice(0, 80)}" is not a URL (e.g. https://pay.example.com)` };
    }
    if (url.protocol !== "https:") {
      return {
        ok: false,
        problem: "The gateway URL must start with https:// (the API key must not travel in clear text)"
      };
    }
    if (url.username || url.password) {
      return { ok: false, problem: "The gateway URL must not contain a user name or password" };
    }
    if (url.search || url.hash) {
      return { ok: false, problem: "The gateway URL must not contain ? or # parts" };
    }
    const path = url.pathname.replace(/\/+$/, "");
    return { ok: true, url: `${url.origin}${path}`, origin: url.origin };
  }
  function originPattern(origin) {
    return `${origin}/*`;
  }
  function maskKey(key) {
    if (key.length <= 8) return "•".repeat(key.length);
    const prefix = key.startsWith("gw_") ? "gw_" : "";
    return `${prefix}${"•".repeat(8)}${key.slice(-4)}`;
  }
  function checkApiKey(key) {
    if (!key) return "Enter the API key";
    if (key.length > 256) return "The API key is too long (at most 256 characters)";
    if (!/^[\x21-\x7e]+$/.test(key)) return "The API key may contain only printable characters, no spaces";
    return null;
  }

  // src/options/options.ts
  var form = document.getElementById("settings");
  var urlInput = document.getElementById("gateway-url");
  var keyInput = document.getElementById("api-key");
  var keyHint = document.getElementById("key-hint");
  var saveButton = document.getElementById("save");
  var testButton = document.getElementById("test");
  var result = document.getElementById("result");
  var summary = document.getElementById("result-summary");
  var stepsList = document.getElementById("result-steps");
  var originSnippet = document.getElementById("origin-snippet");
  var extensionOrigin = chrome.runtime.getURL("").replace(/\/$/, "");
  originSnippet.textContent = `allowed_origins = ["${extensionOrigin}"]`;
  var saved = null;
  function show(kind, text, steps = []) {
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
      })
    );
  }
  function renderSaved() {
    if (saved) {
      urlInput.value = saved.gatewayUrl;
      keyInput.value = "";
      keyInput.placeholder = `Saved: ${maskKey(saved.apiKey)} (type a new key to replace it)`;
      keyHint.textContent = "A key is saved. It is kept in this browser only (never synced) and readable only by the extension itself.";
    }
  }
  function dirty() {
    if (!saved) return true;
    const url = normalizeGatewayUrl(urlInput.value);
    return keyInput.value.trim() !== "" || !url.ok || url.url !== saved.gatewayUrl;
  }
  function saveFromForm() {
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
      permissions: ["webRequest"]
    });
    show("info", `Asking Chrome for access to ${url.origin}…`);
    return request.then(
      async (granted) => {
        if (!granted) {
          show(
            "bad",
            `Chrome did not allow access to ${url.origin}: without it the extension cannot reach the gateway. Press Save again and choose Allow.`
          );
          return false;
        }
        const previous = saved ? new URL(saved.gatewayUrl).origin : null;
        await saveSettings({ gatewayUrl: url.url, apiKey });
        if (previous && previous !== url.origin) {
          await chrome.permissions.remove({ origins: [originPattern(previous)] }).catch(() => false);
        }
        saved = { gatewayUrl: url.url, apiKey };
        renderSaved();
        show("ok", `Saved. The extension may now connect to ${url.origin}.`);
        return true;
      },
      (error) => {
        show("bad", `Chrome refused the permission request: ${error.message}`);
        return false;
      }
    );
  }
  async function busy(work) {
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
    const saving = dirty() ? saveFromForm() : Promise.resolve(true);
    void busy(async () => {
      if (!await saving) return;
      show("info", "Testing the connection…");
      const answer = await chrome.runtime.sendMessage({ type: "test-connection" });
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
})();
