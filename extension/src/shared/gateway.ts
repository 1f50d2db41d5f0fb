// The gateway's HTTP API as the extension uses it (README "API", SPEC §2), with every
// failure turned into a GatewayError that says what went wrong in plain words.

import type { PaymentData, SessionInfo } from "./types";

export type FailureKind =
  | "network" // no HTTP answer at all (DNS, refused, TLS, timeout)
  | "tls" // a network failure Chrome named as a certificate/TLS problem
  | "timeout"
  | "not-gateway" // something answered, but not this API
  | "bad-key" // 401 on the API key
  | "forbidden" // 403: scope, Origin pinning, or another key's session
  | "session-gone" // 410, 404, or 401 on the token: a new session is needed
  | "rejected" // 400/413/415/422: the data or request was refused
  | "conflict" // 409: an Idempotency-Key still in flight
  | "rate-limited" // 429
  | "unavailable" // 503 / 5xx
  | "permission" // the extension has no host permission for the gateway
  | "unconfigured";

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
}

export class GatewayError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status: number | null = null,
    /** Seconds to wait before trying again (429 Retry-After). */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = "GatewayError";
  }

  /** Worth trying the same request again later. */
  get transient(): boolean {
    return ["network", "timeout", "rate-limited", "unavailable", "conflict"].includes(this.kind);
  }
}

export interface PublishResult {
  ok: true;
  sessionId: string;
  delivered: number;
  seq: number;
  replayed: boolean;
}

/** Looks up the network error Chrome reported for a URL (webRequest), if any. */
export type NetErrorLookup = (url: string) => string | null;

export interface GatewayClientOptions {
  baseUrl: string;
  apiKey: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
  netError?: NetErrorLookup;
  /** The extension's own Origin, named in the pinning hint of a 403. */
  extensionOrigin?: string;
}

const SLUG = /\/problems\/([a-z-]+)$/;

function slugOf(problem: Problem | null): string | null {
  const match = problem?.type ? SLUG.exec(problem.type) : null;
  return match?.[1] ?? null;
}

/** `Retry-After` as seconds (≥ 1): delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.max(1, Number(text));
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(1, Math.ceil((date - now) / 1000));
}

/** Chrome's net error code → what it means for a user. */
export function describeNetError(code: string | null, origin: string): { kind: FailureKind; message: string } {
  if (code === null) {
    return {
      kind: "network",
      message: `Could not reach ${origin}: the gateway is down, the address is wrong, or its TLS certificate is not trusted by this browser`,
    };
  }
  if (/ERR_(CERT|SSL)_|ERR_BAD_SSL|ERR_CERTIFICATE/.test(code) || code.includes("ERR_TLS")) {
    return {
      kind: "tls",
      message: `TLS error talking to ${origin} (${code}): this browser does not trust the gateway's certificate. Use a certificate from a public CA, or install the gateway's CA in the system's trust store`,
    };
  }
  if (code.includes("ERR_NAME_NOT_RESOLVED") || code.includes("ERR_NAME_RESOLUTION_FAILED")) {
    return { kind: "network", message: `Wrong gateway URL: the host name of ${origin} does not resolve (${code})` };
  }
  if (code.includes("ERR_CONNECTION_REFUSED")) {
    return {
      kind: "network",
      message: `Nothing answers at ${origin} (${code}): wrong port, or the gateway is not running`,
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

export class GatewayClient {
  readonly baseUrl: string;
  readonly origin: string;
  private readonly apiKey: string;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;
  private readonly netError: NetErrorLookup;
  private readonly extensionOrigin: string;

  constructor(options: GatewayClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.origin = new URL(this.baseUrl).origin;
    this.apiKey = options.apiKey;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.netError = options.netError ?? (() => null);
    this.extensionOrigin = options.extensionOrigin ?? "chrome-extension://<this extension's id>";
  }

  /** GET /health: resolves when the gateway answers 200 {"status": "ok"}. */
  async health(): Promise<void> {
    const url = `${this.baseUrl}/health`;
    const response = await this.send(url, { method: "GET" });
    const body = await readJson(response);
    if (response.status === 200 && isObject(body) && body["status"] === "ok") return;
    if (response.status === 503 && isObject(body) && typeof body["status"] === "string") {
      throw new GatewayError(
        "unavailable",
        "The gateway answers but is not ready (503): its broker is unreachable or it is shutting down",
        503,
      );
    }
    throw new GatewayError(
      "not-gateway",
      `Wrong gateway URL: ${url} answered HTTP ${response.status}, not a payment QR gateway's health check`,
      response.status,
    );
  }

  /** POST /api/token/generate: a new viewer session. */
  async createSession(): Promise<SessionInfo> {
    const url = `${this.baseUrl}/api/token/generate`;
    const response = await this.send(url, { method: "POST", headers: { "X-API-Key": this.apiKey } });
    const body = await readJson(response);
    if (response.status === 201 && isSession(body)) {
      return {
        token: body.token,
        url: body.url,
        wsUrl: body.wsUrl,
        sessionId: body.sessionId,
        expiresAt: body.expiresAt,
      };
    }
    throw this.failure(response, body, "creating a viewer session");
  }

  /** POST /api/payment. */
  async publish(token: string, data: PaymentData, idempotencyKey: string): Promise<PublishResult> {
    return this.post("/api/payment", { token, data }, idempotencyKey, "publishing the payment");
  }

  /** POST /api/payment/clear. */
  async clear(token: string, reason: "paid" | "cancelled", idempotencyKey: string): Promise<PublishResult> {
    return this.post("/api/payment/clear", { token, reason }, idempotencyKey, "clearing the screen");
  }

  private async post(path: string, body: unknown, idempotencyKey: string, doing: string): Promise<PublishResult> {
    const response = await this.send(`${this.baseUrl}${path}`, {
      method: "POST",
      headers: {
        "X-API-Key": this.apiKey,
        "Content-Type": "application/json",
        "Idempotency-Key": idempotencyKey,
      },
      body: JSON.stringify(body),
    });
    const json = await readJson(response);
    if (response.status === 200 && isObject(json) && json["ok"] === true) {
      return {
        ok: true,
        sessionId: String(json["sessionId"]),
        delivered: Number(json["delivered"]),
        seq: Number(json["seq"]),
        replayed: response.headers.get("Idempotent-Replayed") === "true",
      };
    }
    throw this.failure(response, json, doing);
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchImpl(url, {
        ...init,
        cache: "no-store",
        credentials: "omit",
        redirect: "error",
        referrerPolicy: "no-referrer",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      if ((error as { name?: unknown } | null)?.name === "TimeoutError") {
        throw new GatewayError("timeout", `${this.origin} did not answer within ${this.timeoutMs / 1000} s`);
      }
      // fetch says only "Failed to fetch"; Chrome's webRequest saw the real reason.
      const described = describeNetError(await this.lookupNetError(url), this.origin);
      throw new GatewayError(described.kind, described.message);
    }
  }

  private async lookupNetError(url: string): Promise<string | null> {
    // webRequest's onErrorOccurred may fire a moment after fetch rejects.
    for (let i = 0; i < 10; i++) {
      const code = this.netError(url);
      if (code !== null) return code;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return null;
  }

  private failure(response: Response, body: unknown, doing: string): GatewayError {
    const status = response.status;
    const problem = isProblem(body) ? body : null;
    const slug = slugOf(problem);
    const detail = problem?.detail ? `: ${problem.detail}` : "";
    if (!problem) {
      return new GatewayError(
        status >= 500 ? "unavailable" : "not-gateway",
        `Unexpected answer while ${doing}: HTTP ${status} without a gateway problem report. Is ${this.baseUrl} the gateway's URL?`,
        status,
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
          status,
        );
      case 403:
        if (problem.detail?.includes("Origin")) {
          return new GatewayError(
            "forbidden",
            `The API key is pinned to other origins (403). Add ${this.extensionOrigin} to its allowed_origins in the gateway's config`,
            status,
          );
        }
        if (problem.detail?.includes("scope")) {
          return new GatewayError(
            "forbidden",
            `The API key may not do this (403)${detail}. It needs the scopes sessions:create and payments:publish`,
            status,
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
          status,
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
          wait,
        );
      }
      case 400:
      case 413:
      case 415:
      case 422:
        return new GatewayError(
          "rejected",
          `The gateway refused ${doing.replace(/^\w+ing /, "")} (${status} ${problem.title ?? ""})${detail}`,
          status,
        );
      default:
        if (status >= 500) {
          return new GatewayError("unavailable", `The gateway is unavailable (${status})${detail}`, status);
        }
        if (status === 405) {
          return new GatewayError(
            "not-gateway",
            `Wrong gateway URL: ${this.baseUrl} has no payment API (${status})`,
            status,
          );
        }
        return new GatewayError("rejected", `Unexpected answer while ${doing} (${status})${detail}`, status);
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isProblem(value: unknown): value is Problem {
  return isObject(value) && typeof value["status"] === "number" && typeof value["title"] === "string";
}

function isSession(value: unknown): value is SessionInfo {
  return (
    isObject(value) &&
    ["token", "url", "wsUrl", "sessionId", "expiresAt"].every((k) => typeof value[k] === "string")
  );
}

async function readJson(response: Response): Promise<unknown> {
  const type = response.headers.get("Content-Type") ?? "";
  if (!type.includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}
