import { describe, expect, it } from "vitest";
import { ScreenWakeLock, type SentinelLike, type WakeLockStatus } from "./wakelock";

class FakeSentinel implements SentinelLike {
  released = false;
  private listeners: (() => void)[] = [];
  addEventListener(_type: "release", listener: () => void): void {
    this.listeners.push(listener);
  }
  release(): Promise<void> {
    if (!this.released) {
      this.released = true;
      for (const listener of this.listeners) listener();
    }
    return Promise.resolve();
  }
}

/** `navigator.wakeLock` that grants (or refuses) every request, and `document`. */
class FakeBrowser {
  visibilityState = "visible";
  refuse = false;
  requests = 0;
  sentinels: FakeSentinel[] = [];
  private listeners = new Map<string, Set<() => void>>();

  readonly wakeLock = {
    request: (type: "screen"): Promise<SentinelLike> => {
      expect(type).toBe("screen");
      this.requests += 1;
      if (this.refuse || this.visibilityState !== "visible") {
        return Promise.reject(new DOMException("denied", "NotAllowedError"));
      }
      const sentinel = new FakeSentinel();
      this.sentinels.push(sentinel);
      return Promise.resolve(sentinel);
    },
  };

  addEventListener(type: string, listener: () => void): void {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)?.add(listener);
  }
  removeEventListener(type: string, listener: () => void): void {
    this.listeners.get(type)?.delete(listener);
  }
  fire(type: string): void {
    for (const listener of this.listeners.get(type) ?? []) listener();
  }
  listening(): number {
    return [...this.listeners.values()].reduce((n, set) => n + set.size, 0);
  }
  /** The tab goes to the background: the browser releases every lock. */
  hide(): void {
    this.visibilityState = "hidden";
    for (const sentinel of this.sentinels) void sentinel.release();
    this.fire("visibilitychange");
  }
  show(): void {
    this.visibilityState = "visible";
    this.fire("visibilitychange");
  }
  held(): number {
    return this.sentinels.filter((s) => !s.released).length;
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function lockOn(browser: FakeBrowser) {
  const statuses: WakeLockStatus[] = [];
  const lock = new ScreenWakeLock(browser.wakeLock, browser, (status) => statuses.push(status));
  return { lock, statuses };
}

describe("ScreenWakeLock", () => {
  it("holds the screen on while wanted and releases it when not", async () => {
    const browser = new FakeBrowser();
    const { lock, statuses } = lockOn(browser);
    expect(lock.current).toBe("off");
    lock.want(true);
    lock.want(true); // asked once, however often the page says so
    await settle();
    expect(browser.requests).toBe(1);
    expect(browser.held()).toBe(1);
    expect(lock.current).toBe("held");
    lock.want(false);
    await settle();
    expect(browser.held()).toBe(0);
    expect(statuses).toEqual(["held", "off"]);
  });

  it("asks again when the tab is visible again, after the browser released it", async () => {
    const browser = new FakeBrowser();
    const { lock } = lockOn(browser);
    lock.want(true);
    await settle();
    browser.hide();
    await settle();
    expect(lock.current).toBe("off");
    expect(browser.requests).toBe(1); // not while hidden
    browser.show();
    await settle();
    expect(browser.requests).toBe(2);
    expect(browser.held()).toBe(1);
    expect(lock.current).toBe("held");
  });

  it("does not ask while hidden, nor when the tab comes back if the lock is not wanted", async () => {
    const browser = new FakeBrowser();
    browser.visibilityState = "hidden";
    const { lock } = lockOn(browser);
    lock.want(true);
    await settle();
    expect(browser.requests).toBe(0);
    lock.want(false);
    browser.show();
    await settle();
    expect(browser.requests).toBe(0);
  });

  it("lets go of a lock that arrives after it stopped being wanted", async () => {
    const browser = new FakeBrowser();
    const { lock } = lockOn(browser);
    lock.want(true);
    lock.want(false); // before the request resolved
    await settle();
    expect(browser.sentinels).toHaveLength(1);
    expect(browser.held()).toBe(0);
    expect(lock.current).toBe("off");
  });

  it("takes a refusal quietly and asks again on the next tap or key", async () => {
    const browser = new FakeBrowser();
    browser.refuse = true;
    const { lock } = lockOn(browser);
    lock.want(true);
    await settle();
    expect(lock.current).toBe("refused");
    browser.refuse = false;
    browser.fire("pointerdown");
    await settle();
    expect(lock.current).toBe("held");
    browser.fire("keydown"); // already held: no second request
    await settle();
    expect(browser.requests).toBe(2);
  });

  it("does nothing at all where the API is missing", async () => {
    const browser = new FakeBrowser();
    const statuses: WakeLockStatus[] = [];
    const lock = new ScreenWakeLock(undefined, browser, (status) => statuses.push(status));
    lock.want(true);
    browser.show();
    await settle();
    expect(lock.current).toBe("unsupported");
    expect(statuses).toEqual([]);
    expect(browser.listening()).toBe(0);
  });

  it("survives a request that throws instead of rejecting", async () => {
    const browser = new FakeBrowser();
    const lock = new ScreenWakeLock(
      {
        request: () => {
          throw new TypeError("not in this frame");
        },
      },
      browser,
    );
    lock.want(true);
    await settle();
    expect(lock.current).toBe("refused");
  });

  it("releases the lock and its listeners when disposed", async () => {
    const browser = new FakeBrowser();
    const { lock } = lockOn(browser);
    lock.want(true);
    await settle();
    lock.dispose();
    await settle();
    expect(browser.held()).toBe(0);
    expect(browser.listening()).toBe(0);
    lock.want(true);
    browser.show();
    await settle();
    expect(browser.requests).toBe(1);
  });
});
