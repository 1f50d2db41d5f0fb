import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  BACKOFF_CAP_MS,
  Connection,
  RATE_LIMITED_MIN_MS,
  backoffDelay,
  heartbeatInterval,
  type SocketLike,
} from "./connection";
import type { ViewEvent } from "./state";

class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  sent: string[] = [];
  closed = false;
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.closed = true;
  }
  // What the server does:
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(type: string, payload: unknown = {}): void {
    this.onmessage?.({ data: JSON.stringify({ type, ts: new Date().toISOString(), payload }) });
  }
  serverClose(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

const IDLE_MS = 60_000;
let sockets: FakeSocket[];
let events: ViewEvent[];
let connection: Connection | undefined;

function start(random = () => 1): Connection {
  const started = new Connection({
    url: "wss://gw.example/?token=t",
    idleTimeoutMs: IDLE_MS,
    onEvent: (event) => events.push(event),
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    random,
  });
  connection = started;
  started.start();
  return started;
}

const last = () => sockets[sockets.length - 1]!;
const lastEvent = () => events[events.length - 1];
function live(socket = last()): FakeSocket {
  socket.open();
  socket.receive("SESSION_INFO", { sessionId: "s", connectedAt: "x", expiresAt: "y", hasData: false });
  return socket;
}

beforeEach(() => {
  vi.useFakeTimers();
  sockets = [];
  events = [];
});
afterEach(() => {
  connection?.stop();
  connection = undefined;
  vi.useRealTimers();
});

describe("backoffDelay", () => {
  it("doubles from 0.5–1 s up to a 15–30 s cap, waiting a random half", () => {
    expect(backoffDelay(1, "lost", () => 0)).toBe(500);
    expect(backoffDelay(1, "lost", () => 1)).toBe(1000);
    expect(backoffDelay(3, "lost", () => 1)).toBe(4000);
    expect(backoffDelay(30, "lost", () => 1)).toBe(BACKOFF_CAP_MS);
    expect(backoffDelay(1000, "lost", () => 0)).toBe(BACKOFF_CAP_MS / 2);
  });

  it("backs off at least 10 s after a rate limit and 5 s for a full session", () => {
    expect(backoffDelay(1, "rateLimited", () => 0)).toBe(RATE_LIMITED_MIN_MS / 2);
    expect(backoffDelay(1, "full", () => 0)).toBe(5000);
  });
});

describe("Connection", () => {
  it("opens one socket to the URL and reports connecting, then the messages", () => {
    start();
    expect(sockets.map((s) => s.url)).toEqual(["wss://gw.example/?token=t"]);
    expect(events).toEqual([{ type: "connecting", attempt: 0 }]);
    live();
    expect(lastEvent()).toMatchObject({ type: "message", message: { type: "SESSION_INFO" } });
  });

  it("reconnects after a lost link with growing, jittered delays and resets after SESSION_INFO", () => {
    start(() => 1);
    live().serverClose(1001);
    expect(lastEvent()).toMatchObject({ type: "retrying", attempt: 1, reason: "lost" });
    vi.advanceTimersByTime(999);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(2);
    expect(lastEvent()).toEqual({ type: "connecting", attempt: 1 });
    last().serverClose(1006); // the server is still down
    expect(lastEvent()).toMatchObject({ type: "retrying", attempt: 2 });
    vi.advanceTimersByTime(2000);
    expect(sockets).toHaveLength(3);
    live(); // back: the next loss starts over at attempt 1
    last().serverClose(1001);
    expect(lastEvent()).toMatchObject({ type: "retrying", attempt: 1 });
  });

  it.each([
    [4401, "invalid"],
    [4404, "unknown"],
    [4410, "expired"],
  ])("stops retrying on close %i (%s)", (code, reason) => {
    start();
    live().serverClose(code);
    expect(lastEvent()).toEqual({ type: "ended", reason });
    vi.advanceTimersByTime(10 * 60_000);
    expect(sockets).toHaveLength(1);
  });

  it("treats SESSION_EXPIRED as final whatever close follows", () => {
    start();
    const socket = live();
    socket.receive("SESSION_EXPIRED", { sessionId: "s", expiredAt: "x" });
    socket.serverClose(1006);
    expect(lastEvent()).toEqual({ type: "ended", reason: "expired" });
    vi.advanceTimersByTime(10 * 60_000);
    expect(sockets).toHaveLength(1);
  });

  it("backs off on 4429 and keeps trying a full session (4403)", () => {
    start(() => 0);
    last().serverClose(4429);
    expect(lastEvent()).toMatchObject({ type: "retrying", reason: "rateLimited" });
    vi.advanceTimersByTime(RATE_LIMITED_MIN_MS / 2 - 1);
    expect(sockets).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(2);
    last().serverClose(4403);
    expect(lastEvent()).toMatchObject({ type: "retrying", reason: "full", attempt: 2 });
    vi.advanceTimersByTime(5000);
    expect(sockets).toHaveLength(3);
  });

  it("sends PING every quarter of the idle timeout while the link answers", () => {
    start();
    const socket = live();
    const interval = heartbeatInterval(IDLE_MS);
    expect(interval).toBe(15_000);
    for (let i = 1; i <= 4; i += 1) {
      vi.advanceTimersByTime(interval);
      expect(socket.sent).toEqual(Array(i).fill('{"type":"PING"}'));
      socket.receive("PONG");
    }
    expect(sockets).toHaveLength(1);
  });

  it("notices a dead link within the idle timeout and reconnects without waiting for onclose", () => {
    start(() => 0);
    const socket = live();
    vi.advanceTimersByTime(IDLE_MS - 1); // no PONG, no frame at all
    expect(socket.closed).toBe(true);
    expect(events.some((e) => e.type === "retrying")).toBe(true);
    vi.advanceTimersByTime(1000);
    expect(sockets).toHaveLength(2);
  });

  it("gives up on a socket that never opens, like a dead one", () => {
    start();
    vi.advanceTimersByTime(IDLE_MS);
    expect(sockets[0]!.closed).toBe(true);
    expect(events.some((e) => e.type === "retrying")).toBe(true);
  });

  it("ignores the old socket's events after dropping it", () => {
    start();
    const old = live();
    old.serverClose(1001);
    const before = events.length;
    old.receive("PAYMENT_DATA", { seq: 1, qrCode: "x", merchant: "m", amount: 1 });
    expect(events).toHaveLength(before);
  });

  it("retries at once when asked while waiting (say the network came back)", () => {
    start();
    live().serverClose(1006);
    connection?.retryNow();
    expect(sockets).toHaveLength(2);
    connection?.retryNow(); // not waiting any more: nothing happens
    expect(sockets).toHaveLength(2);
  });

  it("ends as invalid when the browser refuses the URL", () => {
    connection = new Connection({
      url: "bad",
      idleTimeoutMs: IDLE_MS,
      onEvent: (event) => events.push(event),
      createSocket: () => {
        throw new SyntaxError("bad url");
      },
    });
    connection.start();
    expect(lastEvent()).toEqual({ type: "ended", reason: "invalid" });
  });
});
