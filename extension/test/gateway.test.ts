import { describe, expect, it } from "vitest";
import { GatewayClient, GatewayError, describeNetError, parseRetryAfter } from "../src/shared/gateway";

const BASE = "https://pay.example.com";
const KEY = "gw_secret_key_0123456789";

function problem(status: number, slug: string, detail: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ type: `https://gateway.invalid/problems/${slug}`, title: "T", status, detail }), {
    status,
    headers: { "Content-Type": "application/problem+json", ...headers },
  });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

interface Sent {
  url: string;
  init: RequestInit;
}

function client(answer: Response | (() => Promise<Response>), netError: string | null = null) {
  const sent: Sent[] = [];
  const c = new GatewayClient({
    baseUrl: `${BASE}/`,
    apiKey: KEY,
    extensionOrigin: "chrome-extension://abc",
    netError: () => netError,
    fetch: async (input, init) => {
      sent.push({ url: String(input), init: init ?? {} });
      return typeof answer === "function" ? answer() : answer.clone();
    },
  });
  return { c, sent };
}

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error("expected a GatewayError");
}

const SESSION = { token: "t", url: `${BASE}/qr/t`, wsUrl: "wss://pay.example.com/?token=t", sessionId: "s", expiresAt: "2026-11-24T10:30:00.000Z" };

describe("GatewayClient", () => {
  it("creates a session with X-API-Key, no cookies, no referrer", async () => {
    const { c, sent } = client(json(201, SESSION));
    await expect(c.createSession()).resolves.toEqual(SESSION);
    const [{ url, init }] = sent as [Sent];
    expect(url).toBe(`${BASE}/api/token/generate`);
    expect(init.method).toBe("POST");
    expect(new Headers(init.headers).get("X-API-Key")).toBe(KEY);
    expect(init.credentials).toBe("omit");
    expect(init.referrerPolicy).toBe("no-referrer");
    expect(init.redirect).toBe("error");
  });

  it("publishes JSON with an Idempotency-Key and reports a replay", async () => {
    const { c, sent } = client(json(200, { ok: true, sessionId: "s", delivered: 2, seq: 5 }, { "Idempotent-Replayed": "true" }));
    const result = await c.publish("tok", { qrCode: "q", merchant: "m", amount: 1000 }, "pub-1-abc");
    expect(result).toEqual({ ok: true, sessionId: "s", delivered: 2, seq: 5, replayed: true });
    const headers = new Headers(sent[0]!.init.headers);
    expect(headers.get("Idempotency-Key")).toBe("pub-1-abc");
    expect(headers.get("Content-Type")).toBe("application/json");
    expect(JSON.parse(String(sent[0]!.init.body))).toEqual({ token: "tok", data: { qrCode: "q", merchant: "m", amount: 1000 } });
  });

  it("clears with a reason", async () => {
    const { c, sent } = client(json(200, { ok: true, sessionId: "s", delivered: 1, seq: 6 }));
    await c.clear("tok", "paid", "clear-2-paid");
    expect(sent[0]!.url).toBe(`${BASE}/api/payment/clear`);
    expect(JSON.parse(String(sent[0]!.init.body))).toEqual({ token: "tok", reason: "paid" });
  });

  it.each([
    [problem(401, "unauthorized", "missing or unknown API key"), "bad-key", /Bad API key/],
    [problem(403, "forbidden", "the API key is not accepted from this Origin"), "forbidden", /chrome-extension:\/\/abc to its allowed_origins/],
    [problem(403, "forbidden", "the API key lacks the scope sessions:create"), "forbidden", /lacks the scope sessions:create/],
    [problem(410, "session-expired", "Session expired"), "session-gone", /expired \(410\)/],
    [problem(404, "session-not-found", "Session not found"), "session-gone", /does not know this viewer session/],
    [problem(401, "invalid-token", "bad signature"), "session-gone", /no longer valid/],
    [problem(404, "not-found", "Not Found"), "not-gateway", /Wrong gateway URL/],
    [problem(422, "validation-failed", "data.amount: must be ≥ 1"), "rejected", /refused a viewer session \(422.*data\.amount/],
    [problem(503, "broker-unavailable", "Service Unavailable"), "unavailable", /unavailable \(503\)/],
    [problem(409, "idempotency-conflict", "in progress"), "conflict", /409/],
    [new Response("<html>nginx</html>", { status: 502, headers: { "Content-Type": "text/html" } }), "unavailable", /Unexpected answer/],
  ])("maps %#: an error answer to a kind and plain words", async (answer, kind, words) => {
    const { c } = client(answer);
    const error = await failure(c.createSession());
    expect(error.kind).toBe(kind);
    expect(error.message).toMatch(words);
    expect(error.message).not.toContain(KEY);
  });

  it("reads 429's Retry-After and the rule", async () => {
    const { c } = client(
      problem(429, "rate-limited", "rate limit", { "Retry-After": "42", "RateLimit-Policy": '"payment_per_token";q=30;w=60' }),
    );
    const error = await failure(c.publish("t", { qrCode: "q", merchant: "m", amount: 1 }, "k"));
    expect(error).toMatchObject({ kind: "rate-limited", retryAfter: 42, transient: true });
    expect(error.message).toBe("Rate limited by the gateway (payment_per_token): try again in 42 s");
  });

  it("checks /health", async () => {
    await expect(client(json(200, { status: "ok" })).c.health()).resolves.toBeUndefined();
    const down = await failure(client(json(503, { status: "unavailable", broker: "redis" })).c.health());
    expect(down.kind).toBe("unavailable");
    const other = await failure(client(new Response("hello", { status: 200 })).c.health());
    expect(other).toMatchObject({ kind: "not-gateway" });
    expect(other.message).toContain(`${BASE}/health answered HTTP 200`);
  });

  it("names the network error Chrome saw", async () => {
    const rejecting = () => Promise.reject(new TypeError("Failed to fetch"));
    const tls = await failure(client(rejecting, "net::ERR_CERT_AUTHORITY_INVALID").c.health());
    expect(tls.kind).toBe("tls");
    expect(tls.message).toContain("TLS error");
    const refused = await failure(client(rejecting, "net::ERR_CONNECTION_REFUSED").c.health());
    expect(refused.message).toContain("Nothing answers at https://pay.example.com");
    expect(refused.transient).toBe(true);
  });

  it("times out", async () => {
    const c = new GatewayClient({
      baseUrl: BASE,
      apiKey: KEY,
      timeoutMs: 20,
      fetch: (_input, init) =>
        new Promise((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))),
    });
    const error = await failure(c.health());
    expect(error.kind).toBe("timeout");
  });
});

describe("helpers", () => {
  it("parses Retry-After as seconds or a date", () => {
    expect(parseRetryAfter("3")).toBe(3);
    expect(parseRetryAfter("0")).toBe(1);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("soon")).toBeNull();
    const now = Date.UTC(2026, 0, 1, 0, 0, 0);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30);
  });

  it.each([
    ["net::ERR_CERT_COMMON_NAME_INVALID", "tls"],
    ["net::ERR_SSL_PROTOCOL_ERROR", "tls"],
    ["net::ERR_NAME_NOT_RESOLVED", "network"],
    ["net::ERR_CONNECTION_TIMED_OUT", "timeout"],
    [null, "network"],
  ])("describes %s", (code, kind) => {
    expect(describeNetError(code, BASE).kind).toBe(kind);
  });
});
