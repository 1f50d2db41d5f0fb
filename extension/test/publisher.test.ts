import { describe, expect, it } from "vitest";
import { Publisher } from "../src/background/publisher";
import { GatewayError, type GatewayClient } from "../src/shared/gateway";
import type { PaymentData, SessionInfo, TabState } from "../src/shared/types";

const A: PaymentData = { qrCode: "data:image/png;base64,AAAA", merchant: "Cửa hàng An", amount: 300000, orderId: "A-1024" };
const B: PaymentData = { ...A, amount: 450000, orderId: "A-1025" };

type Call =
  | { op: "session" }
  | { op: "publish"; token: string; key: string; data: PaymentData }
  | { op: "clear"; token: string; key: string; reason: string };

/** A gateway double: records calls; `fail` queues errors for the next calls. */
class FakeGateway {
  calls: Call[] = [];
  fail: (GatewayError | null)[] = [];
  sessions = 0;
  seq = 0;

  client(): GatewayClient {
    const next = (): void => {
      const error = this.fail.shift();
      if (error) throw error;
    };
    return {
      createSession: async (): Promise<SessionInfo> => {
        this.calls.push({ op: "session" });
        next();
        this.sessions += 1;
        this.seq = 0;
        const n = this.sessions;
        return { token: `tok${n}`, url: `https://gw/qr/tok${n}`, wsUrl: `wss://gw/?token=tok${n}`, sessionId: `s${n}`, expiresAt: "2026-11-24T10:30:00.000Z" };
      },
      publish: async (token: string, data: PaymentData, key: string) => {
        this.calls.push({ op: "publish", token, key, data });
        next();
        return { ok: true as const, sessionId: "s", delivered: 1, seq: ++this.seq, replayed: false };
      },
      clear: async (token: string, reason: string, key: string) => {
        this.calls.push({ op: "clear", token, key, reason });
        next();
        return { ok: true as const, sessionId: "s", delivered: 1, seq: ++this.seq, replayed: false };
      },
    } as unknown as GatewayClient;
  }
}

function setup(options: { client?: () => Promise<GatewayClient>; sleep?: (ms: number) => Promise<void> } = {}) {
  const gateway = new FakeGateway();
  const saved = new Map<number, TabState>();
  const shown: string[] = [];
  const slept: number[] = [];
  const publisher = new Publisher({
    store: {
      save: async (s) => void saved.set(s.tabId, structuredClone(s)),
      remove: async (id) => void saved.delete(id),
    },
    client: options.client ?? (async () => gateway.client()),
    show: (s) => shown.push(`${s.tabId}:${s.phase}`),
    sleep: options.sleep ?? (async (ms) => void slept.push(ms)),
    random: () => 0.5,
  });
  const publishes = () => gateway.calls.filter((c): c is Extract<Call, { op: "publish" }> => c.op === "publish");
  return { gateway, saved, shown, slept, publisher, publishes };
}

describe("Publisher", () => {
  it("makes one session per tab and publishes each tab's payment into its own", async () => {
    const { gateway, publisher, publishes } = setup();
    await publisher.capture(1, A);
    await publisher.capture(2, B);
    await Promise.all([publisher.settled(1), publisher.settled(2)]);
    expect(gateway.sessions).toBe(2);
    expect(publishes().map((c) => [c.token, c.data.orderId])).toEqual([
      ["tok1", "A-1024"],
      ["tok2", "A-1025"],
    ]);
    expect(publisher.get(1)).toMatchObject({ phase: "live", session: { sessionId: "s1" }, live: { amount: 300000, seq: 1 } });
    expect(publisher.get(2)?.session?.sessionId).toBe("s2");
  });

  it("publishes a new order into the same session and ignores repeats", async () => {
    const { gateway, publisher, publishes } = setup();
    await publisher.capture(1, A);
    await publisher.settled(1);
    await publisher.capture(1, A); // said again (a reconnect): nothing to do
    await publisher.capture(1, B);
    await publisher.settled(1);
    expect(gateway.sessions).toBe(1);
    expect(publishes().map((c) => c.data.orderId)).toEqual(["A-1024", "A-1025"]);
    expect(publisher.get(1)?.live).toMatchObject({ orderId: "A-1025", seq: 2 });
  });

  it("uses one Idempotency-Key per change, reused by retries, new for the same data shown again", async () => {
    const { gateway, publisher, publishes } = setup();
    await publisher.capture(1, A);
    await publisher.settled(1);
    gateway.fail = [new GatewayError("unavailable", "down", 503)];
    await publisher.capture(1, B);
    await publisher.settled(1);
    await publisher.capture(1, A);
    await publisher.settled(1);
    const keys = publishes().map((c) => c.key);
    expect(keys).toHaveLength(4);
    expect(keys[1]).toBe(keys[2]); // the retry of B
    expect(new Set(keys).size).toBe(3); // A, B, A-again all differ
    for (const key of keys) expect(key).toMatch(/^pub-\d+-[0-9a-f]{40}$/);
  });

  it("waits Retry-After on 429, backs off on transient errors, then gives up with the error shown", async () => {
    const { gateway, publisher, slept } = setup();
    gateway.fail = [
      new GatewayError("rate-limited", "Rate limited by the gateway (payment_per_token): try again in 7 s", 429, 7),
      new GatewayError("network", "Nothing answers"),
      new GatewayError("network", "Nothing answers"),
    ];
    await publisher.capture(1, A);
    await publisher.settled(1);
    expect(slept).toEqual([7000, 375, 750]); // exact Retry-After, then 0.5 s·2ⁿ with jitter
    expect(publisher.get(1)?.phase).toBe("live");

    gateway.fail = Array.from({ length: 10 }, () => new GatewayError("unavailable", "The gateway is unavailable (503)", 503));
    await publisher.capture(1, B);
    await publisher.settled(1);
    expect(publisher.get(1)).toMatchObject({ phase: "error", lastError: "The gateway is unavailable (503)" });
  });

  it("does not retry a refused payload, and shows why", async () => {
    const { gateway, publisher, publishes } = setup();
    gateway.fail = [null, new GatewayError("rejected", "The gateway refused the payment (422 Validation failed): data.amount", 422)];
    await publisher.capture(1, A);
    await publisher.settled(1);
    expect(publishes()).toHaveLength(1);
    expect(publisher.get(1)).toMatchObject({ phase: "error", lastError: expect.stringContaining("422") });
  });

  it("makes a new session when the old one expired (410), and says so", async () => {
    const { gateway, publisher, publishes } = setup();
    await publisher.capture(1, A);
    await publisher.settled(1);
    gateway.fail = [new GatewayError("session-gone", "The viewer session expired (410)", 410)];
    await publisher.capture(1, B);
    await publisher.settled(1);
    expect(publishes().map((c) => c.token)).toEqual(["tok1", "tok1", "tok2"]);
    expect(publisher.get(1)).toMatchObject({ session: { sessionId: "s2" }, renewedFrom: "s1", phase: "live" });
  });

  it("replaces a session that ran out while the page still shows the payment", async () => {
    let now = Date.parse("2026-11-24T10:00:00.000Z");
    const gateway = new FakeGateway();
    const publisher = new Publisher({
      store: { save: async () => undefined, remove: async () => undefined },
      client: async () => gateway.client(),
      show: () => undefined,
      now: () => now,
    });
    await publisher.capture(1, A);
    await publisher.settled(1);
    await publisher.renewIfExpired(1); // not yet (expires 10:30)
    await publisher.settled(1);
    expect(gateway.sessions).toBe(1);
    now = Date.parse("2026-11-24T10:30:01.000Z");
    await publisher.renewIfExpired(1);
    await publisher.settled(1);
    expect(gateway.sessions).toBe(2);
    expect(publisher.get(1)).toMatchObject({ session: { sessionId: "s2" }, renewedFrom: "s1", phase: "live" });
    const publishes = gateway.calls.filter((c) => c.op === "publish");
    expect(publishes.map((c) => c.op === "publish" && c.token)).toEqual(["tok1", "tok2"]);
  });

  it("moves every open tab to a new session when the settings change", async () => {
    const { gateway, publisher } = setup();
    await publisher.capture(1, A);
    await publisher.capture(2, B);
    await Promise.all([publisher.settled(1), publisher.settled(2)]);
    await publisher.pageLeft(2); // tab 2's page is gone: nothing to publish there
    await publisher.settled(2);
    await publisher.settingsChanged();
    await Promise.all([publisher.settled(1), publisher.settled(2)]);
    expect(publisher.get(1)).toMatchObject({ session: { sessionId: "s3" }, renewedFrom: "s1", phase: "live" });
    expect(publisher.get(2)).toMatchObject({ session: null, renewedFrom: "s2" });
    expect(gateway.sessions).toBe(3);
  });

  it("clears with the page's reason, only when something is on screen", async () => {
    const { gateway, publisher } = setup();
    await publisher.orderOver(1, "paid"); // nothing published yet
    await publisher.settled(1);
    expect(gateway.calls).toEqual([]);

    await publisher.capture(1, A);
    await publisher.settled(1);
    await publisher.orderOver(1, "paid");
    await publisher.settled(1);
    await publisher.orderOver(1, "paid"); // repeated: nothing more
    await publisher.settled(1);
    const clears = gateway.calls.filter((c) => c.op === "clear");
    expect(clears).toEqual([{ op: "clear", token: "tok1", key: expect.stringMatching(/^clear-\d+-paid$/), reason: "paid" }]);
    expect(publisher.get(1)).toMatchObject({ phase: "idle", live: null, cleared: { reason: "paid", seq: 2 } });
  });

  it("clears as cancelled when the page is left or the tab closed, then forgets the tab", async () => {
    const { gateway, publisher, saved } = setup();
    await publisher.capture(1, A);
    await publisher.capture(2, B);
    await Promise.all([publisher.settled(1), publisher.settled(2)]);
    await publisher.pageLeft(1);
    await publisher.settled(1);
    await publisher.tabClosed(2);
    expect(gateway.calls.filter((c) => c.op === "clear").map((c) => c.op === "clear" && [c.token, c.reason])).toEqual([
      ["tok1", "cancelled"],
      ["tok2", "cancelled"],
    ]);
    expect(publisher.get(1)?.pageOpen).toBe(false);
    expect(publisher.get(2)).toBeUndefined();
    expect(saved.has(2)).toBe(false);
  });

  it("treats an expired session as already cleared", async () => {
    const { gateway, publisher } = setup();
    await publisher.capture(1, A);
    await publisher.settled(1);
    gateway.fail = [new GatewayError("session-gone", "The viewer session expired (410)", 410)];
    await publisher.orderOver(1, "cancelled");
    await publisher.settled(1);
    expect(publisher.get(1)).toMatchObject({ phase: "idle", lastError: null });
  });

  it("shows the setup problem without calling the gateway", async () => {
    const problem = new GatewayError("permission", "The extension may not connect to https://gw yet");
    const { gateway, publisher } = setup({ client: async () => Promise.reject(problem) });
    await publisher.capture(1, A);
    await publisher.settled(1);
    expect(gateway.calls).toEqual([]);
    expect(publisher.get(1)).toMatchObject({ phase: "error", lastError: problem.message });
  });

  it("resumes unfinished work after the service worker restarted, with the same key", async () => {
    // The worker stops while it waits to retry a failed publish.
    const first = setup({ sleep: () => new Promise(() => undefined) });
    first.gateway.fail = [null, new GatewayError("unavailable", "down", 503)];
    await first.publisher.capture(1, A);
    await new Promise((r) => setTimeout(r, 0));
    const stored = first.saved.get(1)!;
    expect(stored.phase).toBe("working");

    const second = setup();
    second.publisher.restore([stored]);
    second.publisher.resume();
    await second.publisher.settled(1);
    expect(first.publishes()).toHaveLength(1);
    expect(second.publishes()[0]?.key).toBe(first.publishes()[0]?.key);
    expect(second.publishes()[0]?.token).toBe("tok1");
    expect(second.publisher.get(1)?.phase).toBe("live");
  });
});
