"use strict";
(() => {
  // src/shared/gateway.ts
  var GatewayError = class extends Error {
    constructor(kind, message, status = null, retryAfter = null) {
      super(message);
      this.kind = kind;
      this.status = status;
      this.retryAfter = retryAfter;
      this.name = "GatewayError";
    }
    kind;
    status;
    retryAfter;
    /** Worth trying the same request again later. */
    get transient() {
      return ["network", "timeout", "rate-limited", "unavailable", "conflict"].includes(this.kind);
    }
  };
  var SLUG = /\/problems\/([a-z-]+)$/;
  function slugOf(problem) {
    const match = problem?.type ? SLUG.exec(problem.type) : null;
    return match?.[1] ?? null;
  }
  function parseRetryAfter(value, now = Date.now()) {
    if (value === null) return null;
    const text = value.trim();
    if (/^\d+$/.test(text)) return Math.max(1, Number(text));
    const date = Date.parse(text);
    if (Number.isNaN(date)) return null;
    return Math.max(1, Math.ceil((date - now) / 1e3));
  }
  function describeNetError(code, origin) {
    if (code === null) {
      return {
        kind: "network",
        message: `Could not reach ${origin}: the gateway is down, the address is wrong, or its TLS certificate is not trusted by this browser`
      };
    }
    if (/ERR_(CERT|SSL)_|ERR_BAD_SSL|ERR_CERTIFICATE/.test(code) || code.includes("ERR_TLS")) {
      return {
        kind: "tls",
        message: `TLS error talking to ${origin} (${code}): this browser does not trust the gateway's certificate. Use a certificate from a public CA, or install the gateway's CA in the system's trust store`
      };
    }
    if (code.includes("ERR_NAME_NOT_RESOLVED") || code.includes("ERR_NAME_RESOLUTION_FAILED")) {
      return { kind: "network", message: `Wrong gateway URL: the host name of ${origin} does not resolve (${code})` };
    }
    if (code.includes("ERR_CONNECTION_REFUSED")) {
      return {
        kind: "network",
        message: `Nothing answers at ${origin} (${code}): wrong port, or the gateway is not running`
      };
    }
    if (code.includes("ERR_UNSAFE_PORT")) {
      return { kind: "network", message: `Chrome refuses to connect to the port of ${origin} (${code})` };
    }
    if (code.includes("TIMED_OUT") || code.includes("ERR_ADDRESS_UNREACHABLE")) {
      return { kind: "timeout", message: `${origin} did not answer in time (${code})` };
    }
    if (code.includes("ERR_INTERNET_DISCONNECTED")) {
      return { kind: "network", message: `This computer is offline (${code})` };
    }
    return { kind: "network", message: `Network error talking to ${origin} (${code})` };
  }
  var GatewayClient = class {
    baseUrl;
    origin;
    apiKey;
    fetchImpl;
    timeoutMs;
    netError;
    extensionOrigin;
    constructor(options) {
      this.baseUrl = options.baseUrl.replace(/\/+$/, "");
      this.origin = new URL(this.baseUrl).origin;
      this.apiKey = options.apiKey;
      this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
      this.timeoutMs = options.timeoutMs ?? 15e3;
      this.netError = options.netError ?? (() => null);
      this.extensionOrigin = options.extensionOrigin ?? "chrome-extension://<this extension's id>";
    }
    /** GET /health: resolves when the gateway answers 200 {"status": "ok"}. */
    async health() {
      const url = `${this.baseUrl}/health`;
      const response = await this.send(url, { method: "GET" });
      const body = await readJson(response);
      if (response.status === 200 && isObject(body) && body["status"] === "ok") return;
      if (response.status === 503 && isObject(body) && typeof body["status"] === "string") {
        throw new GatewayError(
          "unavailable",
          "The gateway answers but is not ready (503): its broker is unreachable or it is shutting down",
          503
        );
      }
      throw new GatewayError(
        "not-gateway",
        `Wrong gateway URL: ${url} answered HTTP ${response.status}, not a payment QR gateway's health check`,
        response.status
      );
    }
    /** POST /api/token/generate: a new viewer session. */
    async createSession() {
      const url = `${this.baseUrl}/api/token/generate`;
      const response = await this.send(url, { method: "POST", headers: { "X-API-Key": this.apiKey } });
      const body = await readJson(response);
      if (response.status === 201 && isSession(body)) {
        return {
          token: body.token,
          url: body.url,
          wsUrl: body.wsUrl,
          sessionId: body.sessionId,
          expiresAt: body.expiresAt
        };
      }
      throw this.failure(response, body, "creating a viewer session");
    }
    /** POST /api/payment. */
    async publish(token, data, idempotencyKey) {
      return this.post("/api/payment", { token, data }, idempotencyKey, "publishing the payment");
    }
    /** POST /api/payment/clear. */
    async clear(token, reason, idempotencyKey) {
      return this.post("/api/payment/clear", { token, reason }, idempotencyKey, "clearing the screen");
    }
    async post(path, body, idempotencyKey, doing) {
      const response = await this.send(`${this.baseUrl}${path}`, {
        method: "POST",
        headers: {
          "X-API-Key": this.apiKey,
          "Content-Type": "application/json",
          "Idempotency-Key": idempotencyKey
        },
        body: JSON.stringify(body)
      });
      const json = await readJson(response);
      if (response.status === 200 && isObject(json) && json["ok"] === true) {
        return {
          ok: true,
          sessionId: String(json["sessionId"]),
          delivered: Number(json["delivered"]),
          seq: Number(json["seq"]),
          replayed: response.headers.get("Idempotent-Replayed") === "true"
        };
      }
      throw this.failure(response, json, doing);
    }
    async send(url, init) {
      try {
        return await this.fetchImpl(url, {
          ...init,
          cache: "no-store",
          credentials: "omit",
          redirect: "error",
          referrerPolicy: "no-referrer",
          signal: AbortSignal.timeout(this.timeoutMs)
        });
      } catch (error) {
        if (error?.name === "TimeoutError") {
          throw new GatewayError("timeout", `${this.origin} did not answer within ${this.timeoutMs / 1e3} s`);
        }
        const described = describeNetError(await this.lookupNetError(url), this.origin);
        throw new GatewayError(described.kind, described.message);
      }
    }
    async lookupNetError(url) {
      for (let i = 0; i < 10; i++) {
        const code = this.netError(url);
        if (code !== null) return code;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return null;
    }
    failure(response, body, doing) {
      const status = response.status;
      const problem = isProblem(body) ? body : null;
      const slug = slugOf(problem);
      const detail = problem?.detail ? `: ${problem.detail}` : "";
      if (!problem) {
        return new GatewayError(
          status >= 500 ? "unavailable" : "not-gateway",
          `Unexpected answer while ${doing}: HTTP ${status} without a gateway problem report. Is ${this.baseUrl} the gateway's URL?`,
          status
        );
      }
      switch (status) {
        case 401:
          if (slug === "invalid-token") {
            return new GatewayError("session-gone", `The viewer session is no longer valid (401)${detail}`, status);
          }
          return new GatewayError(
            "bad-key",
            "Bad API key: the gateway does not know this key (401). Check it in the options",
            status
          );
        case 403:
          if (problem.detail?.includes("Origin")) {
            return new GatewayError(
              "forbidden",
              `The API key is pinned to other origins (403). Add ${this.extensionOrigin} to its allowed_origins in the gateway's config`,
              status
            );
          }
          if (problem.detail?.includes("scope")) {
            return new GatewayError(
              "forbidden",
              `The API key may not do this (403)${detail}. It needs the scopes sessions:create and payments:publish`,
              status
            );
          }
          return new GatewayError("forbidden", `Forbidden (403) while ${doing}${detail}`, status);
        case 404:
        case 410:
          if (status === 404 && slug !== "session-not-found") {
            return new GatewayError("not-gateway", `Wrong gateway URL: ${this.baseUrl} has no payment API (404)`, status);
          }
          return new GatewayError(
            "session-gone",
            status === 410 ? "The viewer session expired (410)" : "The gateway does not know this viewer session (404)",
            status
          );
        case 409:
          return new GatewayError("conflict", `The gateway is still handling the same request (409)`, status);
        case 429: {
          const wait = parseRetryAfter(response.headers.get("Retry-After")) ?? 1;
          const rule = /"([a-z_]+)"/.exec(response.headers.get("RateLimit-Policy") ?? "")?.[1];
          return new GatewayError(
            "rate-limited",
            `Rate limited by the gateway${rule ? ` (${rule})` : ""}: try again in ${wait} s`,
            status,
            wait
          );
        }
        case 400:
        case 413:
        case 415:
        case 422:
          return new GatewayError(
            "rejected",
            `The gateway refused ${doing.replace(/^\w+ing /, "")} (${status} ${problem.title ?? ""})${detail}`,
            status
          );
        default:
          if (status >= 500) {
            return new GatewayError("unavailable", `The gateway is unavailable (${status})${detail}`, status);
          }
          if (status === 405) {
            return new GatewayError(
              "not-gateway",
              `Wrong gateway URL: ${this.baseUrl} has no payment API (${status})`,
              status
            );
          }
          return new GatewayError("rejected", `Unexpected answer while ${doing} (${status})${detail}`, status);
      }
    }
  };
  function isObject(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value);
  }
  function isProblem(value) {
    return isObject(value) && typeof value["status"] === "number" && typeof value["title"] === "string";
  }
  function isSession(value) {
    return isObject(value) && ["token", "url", "wsUrl", "sessionId", "expiresAt"].every((k) => typeof value[k] === "string");
  }
  async function readJson(response) {
    const type = response.headers.get("Content-Type") ?? "";
    if (!type.includes("json")) return null;
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

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
  function originPattern(origin) {
    return `${origin}/*`;
  }

  // src/shared/types.ts
  var CAPTURE_PORT = "capture";

  // src/shared/amount.ts
  var CURRENCY = String.raw`(?:đồng|vnđ|vnd|đ|₫)`;
  var NUMBER = String.raw`(?<![\d.,])(\d(?:[\d.,\u00a0\u202f]*\d)?)(?![\d])`;
  var TAGGED = new RegExp(
    String.raw`${NUMBER}\s*${CURRENCY}(?![\p{L}\p{N}])|(?<![\p{L}])${CURRENCY}\s*${NUMBER}`,
    "iu"
  );
  var BARE = new RegExp(String.raw`^${NUMBER}$`, "u");
  function formatVnd(amount) {
    return new Intl.NumberFormat("vi-VN", { style: "currency", currency: "VND" }).format(amount);
  }

  // src/background/badge.ts
  var BADGES = {
    idle: { text: "", color: "#5f6368" },
    working: { text: "…", color: "#b06000" },
    live: { text: "LIVE", color: "#137333" },
    error: { text: "ERR", color: "#c5221f" }
  };
  function badgeTitle(state) {
    const name = "Payment QR gateway";
    switch (state.phase) {
      case "live":
        return state.live ? `${name}: live (${state.live.merchant}, ${formatVnd(state.live.amount)})` : `${name}: live`;
      case "working":
        return state.lastError ? `${name}: ${state.lastError}` : `${name}: publishing…`;
      case "error":
        return `${name}: ${state.lastError ?? "error"}`;
      default:
        return state.cleared ? `${name}: screen cleared (${state.cleared.reason})` : name;
    }
  }
  function showBadge(state) {
    const badge = BADGES[state.phase];
    const tabId = state.tabId;
    const ignore = () => void 0;
    chrome.action.setBadgeText({ tabId, text: badge.text }).catch(ignore);
    chrome.action.setBadgeBackgroundColor({ tabId, color: badge.color }).catch(ignore);
    chrome.action.setTitle({ tabId, title: badgeTitle(state) }).catch(ignore);
  }

  // src/shared/backoff.ts
  var DEFAULT_BACKOFF = {
    baseMs: 500,
    maxMs: 2e4,
    maxAttempts: 6,
    maxRetryAfterMs: 12e4
  };
  function nextDelay(attempt, retryAfterSeconds, policy = DEFAULT_BACKOFF, random = Math.random) {
    if (retryAfterSeconds !== null) {
      const ms = retryAfterSeconds * 1e3;
      return ms <= policy.maxRetryAfterMs ? ms : null;
    }
    if (attempt >= policy.maxAttempts) return null;
    const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + random() * (ceiling / 2));
  }

  // src/shared/hash.ts
  function canonicalJson(value) {
    if (value === null || typeof value !== "object") return JSON.stringify(value);
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    const entries = Object.entries(value).filter(([, v]) => v !== void 0).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  async function sha256Hex(text) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // src/background/publisher.ts
  var MAX_RATE_LIMITED = 20;
  function newTabState(tabId) {
    return {
      tabId,
      session: null,
      renewedFrom: null,
      desired: null,
      gen: 0,
      ackedGen: 0,
      live: null,
      cleared: null,
      phase: "idle",
      lastError: null,
      lastErrorAt: null,
      pageOpen: true
    };
  }
  function sameDesired(a, b) {
    if (!a || a.kind !== b.kind) return false;
    return a.kind === "publish" ? a.hash === b.hash : a.reason === b.reason;
  }
  var Publisher = class {
    constructor(deps) {
      this.deps = deps;
      this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
      this.now = deps.now ?? Date.now;
      this.policy = deps.policy ?? DEFAULT_BACKOFF;
      this.random = deps.random ?? Math.random;
    }
    deps;
    tabs = /* @__PURE__ */ new Map();
    running = /* @__PURE__ */ new Map();
    closed = /* @__PURE__ */ new Set();
    sleep;
    now;
    policy;
    random;
    /** Takes over the states kept by a previous run of the service worker. */
    restore(states) {
      for (const state of states) this.tabs.set(state.tabId, state);
    }
    get(tabId) {
      return this.tabs.get(tabId);
    }
    all() {
      return [...this.tabs.values()];
    }
    /** The page shows this payment. */
    async capture(tabId, data) {
      const hash = await sha256Hex(canonicalJson(data));
      await this.want(tabId, { kind: "publish", data, hash });
    }
    /** The page says the order is over. */
    async orderOver(tabId, status) {
      await this.want(tabId, { kind: "clear", reason: status === "paid" ? "paid" : "cancelled" });
    }
    /** The page could not be read (shown in the popup; nothing is sent). */
    async pageProblem(tabId, message) {
      const state = this.state(tabId);
      await this.update(state, { phase: "error", lastError: message, lastErrorAt: this.iso() });
    }
    async pageOpened(tabId) {
      const state = this.state(tabId);
      if (!state.pageOpen) await this.update(state, { pageOpen: true });
    }
    /** The checkout page left the tab (closed, navigated away, reloaded and not back). */
    async pageLeft(tabId) {
      const state = this.tabs.get(tabId);
      if (!state) return;
      await this.update(state, { pageOpen: false });
      await this.want(tabId, { kind: "clear", reason: "cancelled" });
    }
    /** The tab was closed: clear its screen, then forget it. */
    async tabClosed(tabId) {
      if (!this.tabs.has(tabId)) return;
      this.closed.add(tabId);
      await this.pageLeft(tabId);
      await this.settled(tabId);
      if (this.closed.delete(tabId)) {
        this.tabs.delete(tabId);
        await this.deps.store.remove(tabId);
      }
    }
    /**
     * The tab's session ran out while its page still shows a payment: make a new
     * session now (the popup shows its link) rather than at the page's next change.
     */
    async renewIfExpired(tabId) {
      const state = this.tabs.get(tabId);
      if (!state?.session || !state.live || state.desired?.kind !== "publish") return;
      if (Date.parse(state.session.expiresAt) > this.now() || state.ackedGen < state.gen) return;
      await this.update(state, {
        session: null,
        renewedFrom: state.session.sessionId,
        gen: state.gen + 1
        // the same data, published anew into the new session
      });
      await this.kick(tabId);
    }
    /**
     * The gateway URL or API key changed: the tabs' sessions belong to the old ones.
     * Each tab gets a new session, and what its page shows is published there.
     */
    async settingsChanged() {
      for (const state of this.tabs.values()) {
        if (!state.session) continue;
        const republish = state.desired?.kind === "publish" && state.pageOpen;
        await this.update(state, {
          session: null,
          renewedFrom: state.session.sessionId,
          live: null,
          ...republish ? { gen: state.gen + 1 } : {}
        });
        if (republish) await this.kick(state.tabId);
      }
    }
    /** Try again now (the popup's Retry button). */
    retry(tabId) {
      const state = this.tabs.get(tabId);
      if (state && state.ackedGen < state.gen) return this.kick(tabId);
      return Promise.resolve();
    }
    /** Resolves when the tab's loop (if any) has finished. */
    async settled(tabId) {
      await this.running.get(tabId);
    }
    /** Restarts the loops that a stopped service worker left unfinished. */
    resume() {
      for (const state of this.tabs.values()) {
        if (state.ackedGen < state.gen && state.phase === "working") void this.kick(state.tabId);
      }
    }
    state(tabId) {
      let state = this.tabs.get(tabId);
      if (!state) {
        state = newTabState(tabId);
        this.tabs.set(tabId, state);
      }
      return state;
    }
    async want(tabId, desired) {
      const state = this.state(tabId);
      if (sameDesired(state.desired, desired)) {
        if (state.ackedGen < state.gen) await this.kick(tabId);
        return;
      }
      await this.update(state, { desired, gen: state.gen + 1 });
      await this.kick(tabId);
    }
    kick(tabId) {
      const running = this.running.get(tabId);
      if (running) return Promise.resolve();
      const loop = this.loop(tabId).finally(() => {
        this.running.delete(tabId);
        if (this.closed.has(tabId)) {
          this.closed.delete(tabId);
          this.tabs.delete(tabId);
          void this.deps.store.remove(tabId);
        }
      });
      this.running.set(tabId, loop);
      return Promise.resolve();
    }
    async loop(tabId) {
      let failures = 0;
      let rateLimited = 0;
      let renewals = 0;
      for (; ; ) {
        const state = this.tabs.get(tabId);
        if (!state || !state.desired || state.ackedGen >= state.gen) return;
        const { desired, gen } = state;
        if (state.phase !== "working") await this.update(state, { phase: "working" });
        try {
          await this.apply(state, desired, gen);
          failures = rateLimited = 0;
        } catch (caught) {
          const error = caught instanceof GatewayError ? caught : new GatewayError("network", `Unexpected error: ${String(caught)}`);
          if (error.kind === "session-gone") {
            if (desired.kind === "clear") {
              await this.update(state, { ackedGen: gen, live: null, phase: "idle", lastError: null });
              continue;
            }
            if (++renewals > 2) {
              await this.fail(state, error.message);
              return;
            }
            await this.update(state, { session: null, renewedFrom: state.session?.sessionId ?? state.renewedFrom });
            continue;
          }
          if (!error.transient) {
            await this.fail(state, error.message);
            return;
          }
          const rate = error.kind === "rate-limited";
          const delay = rate && ++rateLimited > MAX_RATE_LIMITED ? null : nextDelay(rate ? 1 : ++failures, rate ? error.retryAfter : null, this.policy, this.random);
          if (delay === null) {
            await this.fail(state, error.message);
            return;
          }
          const retrying = rate ? `${error.message}. The extension will retry then.` : `${error.message}. Retrying in ${Math.ceil(delay / 1e3)} s.`;
          await this.update(state, { lastError: retrying, lastErrorAt: this.iso() });
          await this.sleep(delay);
        }
      }
    }
    /** One call to the gateway for `desired`; records the result in the state. */
    async apply(state, desired, gen) {
      if (desired.kind === "clear") {
        if (!state.session || !state.live) {
          await this.update(state, { ackedGen: gen, phase: "idle", lastError: null });
          return;
        }
        const client2 = await this.deps.client();
        const result2 = await client2.clear(state.session.token, desired.reason, `clear-${gen}-${desired.reason}`);
        await this.update(state, {
          ackedGen: gen,
          live: null,
          cleared: { reason: desired.reason, seq: result2.seq, at: this.iso() },
          phase: "idle",
          lastError: null,
          lastErrorAt: null
        });
        return;
      }
      const client = await this.deps.client();
      if (!state.session) {
        const session = await client.createSession();
        await this.update(state, { session });
      }
      const token = state.session.token;
      const result = await client.publish(token, desired.data, `pub-${gen}-${desired.hash.slice(0, 40)}`);
      await this.update(state, {
        ackedGen: gen,
        live: {
          merchant: desired.data.merchant,
          amount: desired.data.amount,
          orderId: desired.data.orderId ?? null,
          seq: result.seq,
          at: this.iso()
        },
        cleared: null,
        phase: "live",
        lastError: null,
        lastErrorAt: null
      });
    }
    async fail(state, message) {
      await this.update(state, { phase: "error", lastError: message, lastErrorAt: this.iso() });
    }
    async update(state, changes) {
      Object.assign(state, changes);
      this.deps.show(state);
      await this.deps.store.save(state);
    }
    iso() {
      return new Date(this.now()).toISOString();
    }
  };

  // src/background/store.ts
  var PREFIX = "tab:";
  function tabKey(tabId) {
    return `${PREFIX}${tabId}`;
  }
  async function loadTabStates() {
    const all = await chrome.storage.session.get(null);
    return Object.entries(all).filter(([key]) => key.startsWith(PREFIX)).map(([, value]) => value);
  }
  async function saveTabState(state) {
    await chrome.storage.session.set({ [tabKey(state.tabId)]: state });
  }
  async function removeTabState(tabId) {
    await chrome.storage.session.remove(tabKey(tabId));
  }

  // src/background/main.ts
  void chrome.storage.local.setAccessLevel?.({ accessLevel: "TRUSTED_CONTEXTS" }).catch(() => void 0);
  var EXTENSION_ORIGIN = chrome.runtime.getURL("").replace(/\/$/, "");
  var netErrors = /* @__PURE__ */ new Map();
  var listening = false;
  function listenForNetErrors() {
    if (listening || !chrome.webRequest?.onErrorOccurred) return;
    listening = true;
    chrome.webRequest.onErrorOccurred.addListener(
      (details) => {
        if (details.initiator !== EXTENSION_ORIGIN) return;
        netErrors.set(details.url, details.error);
        if (netErrors.size > 50) netErrors.delete(netErrors.keys().next().value);
      },
      { urls: ["https://*/*"] }
    );
  }
  listenForNetErrors();
  chrome.permissions.onAdded.addListener(listenForNetErrors);
  function takeNetError(url) {
    const code = netErrors.get(url) ?? null;
    netErrors.delete(url);
    return code;
  }
  async function gatewayClient() {
    const settings = await loadSettings();
    if (!settings) {
      throw new GatewayError(
        "unconfigured",
        "The extension is not set up: open its options and enter the gateway URL and API key"
      );
    }
    const origin = new URL(settings.gatewayUrl).origin;
    const granted = await chrome.permissions.contains({ origins: [originPattern(origin)] });
    if (!granted) {
      throw new GatewayError(
        "permission",
        `The extension may not connect to ${origin} yet: open its options and press Save to allow it`
      );
    }
    return new GatewayClient({
      baseUrl: settings.gatewayUrl,
      apiKey: settings.apiKey,
      netError: takeNetError,
      extensionOrigin: EXTENSION_ORIGIN
    });
  }
  var LEAVE_GRACE_MS = 1500;
  var RECONNECT_GRACE_MS = 5e3;
  var ports = /* @__PURE__ */ new Map();
  var leaving = /* @__PURE__ */ new Map();
  function expectReturn(tabId, ms) {
    if (ports.has(tabId)) return;
    const previous = leaving.get(tabId);
    if (previous !== void 0) clearTimeout(previous);
    leaving.set(
      tabId,
      setTimeout(() => {
        leaving.delete(tabId);
        if (!ports.has(tabId)) inOrder(tabId, () => publisher.pageLeft(tabId));
      }, ms)
    );
  }
  var publisher = new Publisher({
    store: { save: saveTabState, remove: removeTabState },
    client: gatewayClient,
    show: (state) => showBadge(state)
  });
  var ready = loadTabStates().then(async (states) => {
    const exists = (tabId) => chrome.tabs.get(tabId).then(
      () => true,
      () => false
    );
    const open = await Promise.all(states.map((s) => exists(s.tabId)));
    publisher.restore(states);
    publisher.resume();
    states.forEach((s, i) => {
      if (!open[i]) void publisher.tabClosed(s.tabId);
      else if (s.live && s.pageOpen) expectReturn(s.tabId, RECONNECT_GRACE_MS);
    });
  });
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "local" && ("gatewayUrl" in changes || "apiKey" in changes)) {
      void ready.then(() => publisher.settingsChanged());
    }
  });
  var queues = /* @__PURE__ */ new Map();
  function inOrder(tabId, work) {
    const previous = queues.get(tabId) ?? ready;
    const next = previous.then(work).catch(() => void 0);
    queues.set(tabId, next);
    void next.then(() => {
      if (queues.get(tabId) === next) queues.delete(tabId);
    });
  }
  chrome.runtime.onConnect.addListener((port) => {
    const tabId = port.sender?.tab?.id;
    if (port.name !== CAPTURE_PORT || tabId === void 0 || port.sender?.frameId !== 0) {
      port.disconnect();
      return;
    }
    ports.set(tabId, port);
    const timer = leaving.get(tabId);
    if (timer !== void 0) clearTimeout(timer);
    leaving.delete(tabId);
    port.onMessage.addListener((message) => inOrder(tabId, () => handle(tabId, message)));
    port.onDisconnect.addListener(() => {
      if (ports.get(tabId) !== port) return;
      ports.delete(tabId);
      expectReturn(tabId, LEAVE_GRACE_MS);
    });
  });
  async function handle(tabId, message) {
    switch (message.type) {
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
    if (timer !== void 0) clearTimeout(timer);
    leaving.delete(tabId);
    ports.delete(tabId);
    inOrder(tabId, () => publisher.tabClosed(tabId));
  });
  async function testConnection() {
    const steps = [];
    let client;
    try {
      client = await gatewayClient();
    } catch (error) {
      return { ok: false, steps, problem: error.message };
    }
    try {
      await client.health();
      steps.push({ name: "GET /health", ok: true, detail: "the gateway is up" });
    } catch (error) {
      const message = error.message;
      steps.push({ name: "GET /health", ok: false, detail: message });
      return { ok: false, steps, problem: message };
    }
    try {
      const session = await client.createSession();
      steps.push({
        name: "POST /api/token/generate",
        ok: true,
        detail: `the API key works: a test session was created (expires ${session.expiresAt})`
      });
    } catch (error) {
      const message = error.message;
      steps.push({ name: "POST /api/token/generate", ok: false, detail: message });
      return { ok: false, steps, problem: message };
    }
    return { ok: true, steps, problem: null };
  }
  chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
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
    return false;
  });
})();
