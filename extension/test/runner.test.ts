import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { adapter as momo } from "../src/adapters/momo";
import { CaptureRunner } from "../src/content/runner";
import type { CaptureMessage } from "../src/shared/types";
import { checkout } from "./helpers";

function setAmount(doc: Document, text: string): void {
  doc.getElementById("amount")!.textContent = text;
}

function tick(doc: Document, mm: string, ss: string): void {
  const boxes = doc.querySelectorAll('[name="expiredAt"] .time-box');
  boxes[0]!.textContent = mm;
  boxes[1]!.textContent = ss;
}

describe("CaptureRunner", () => {
  let doc: Document;
  let sent: CaptureMessage[];
  let runner: CaptureRunner;
  let now: number;

  beforeEach(() => {
    vi.useFakeTimers();
    now = Date.UTC(2026, 10, 24, 10, 0, 0);
    doc = checkout();
    sent = [];
    runner = new CaptureRunner(momo, doc, { send: (m) => sent.push(m) }, { pollMs: 0, now: () => now });
  });

  afterEach(() => {
    runner.stop();
    vi.useRealTimers();
  });

  /** Lets MutationObserver callbacks (microtasks) run, then advances timers. */
  async function advance(ms: number): Promise<void> {
    await Promise.resolve();
    now += ms;
    await vi.advanceTimersByTimeAsync(ms);
  }

  it("publishes the page once when it starts", () => {
    runner.start();
    expect(sent).toHaveLength(1);
    const [message] = sent;
    expect(message).toMatchObject({ type: "capture", adapter: "momo" });
    if (message?.type !== "capture") throw new Error("not a capture");
    expect(message.data).toMatchObject({ merchant: "Cửa hàng An", amount: 300000, orderId: "A-1024" });
    expect(message.data.expiresAt).toBe("2026-11-24T10:10:00.000Z");
  });

  it("republishes a changed amount after the page is quiet, once", async () => {
    runner.start();
    setAmount(doc, "310.000đ");
    await advance(100);
    setAmount(doc, "320.000đ"); // still typing/animating: the debounce restarts
    await advance(100);
    expect(sent).toHaveLength(1);
    await advance(400);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ type: "capture", data: { amount: 320000 } });
  });

  it("does not republish for a ticking countdown or an unchanged page", async () => {
    runner.start();
    for (let s = 59; s > 50; s--) {
      tick(doc, "09", String(s));
      await advance(1_000);
    }
    runner.evaluate();
    expect(sent).toHaveLength(1);
  });

  it("reads the page at least every maxWait under a stream of changes", async () => {
    runner.start();
    setAmount(doc, "999.000đ");
    for (let i = 0; i < 10; i++) {
      tick(doc, "09", String(50 - i));
      await advance(200); // changes every 200 ms never leave 300 ms of quiet
    }
    expect(sent.map((m) => m.type === "capture" && m.data.amount)).toContain(999000);
  });

  it("republishes a new QR", async () => {
    runner.start();
    doc.querySelector(".image-qr-code")!.setAttribute("src", "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");
    await advance(500);
    expect(sent).toHaveLength(2);
  });

  it("says when the order is paid, once, and publishes again if a payment shows later", async () => {
    runner.start();
    doc.getElementById("checkout")!.outerHTML = "<div class='result'><h2>Giao dịch thành công</h2></div>";
    await advance(500);
    runner.evaluate();
    expect(sent.slice(1)).toEqual([{ type: "status", adapter: "momo", status: "paid" }]);
  });

  it("reports a QR it cannot use, and does not repeat the report", async () => {
    runner.start();
    const huge = `data:image/png;base64,${"A".repeat(400_000)}`;
    doc.querySelector(".image-qr-code")!.setAttribute("src", huge);
    await advance(500);
    runner.evaluate();
    expect(sent.slice(1)).toEqual([{ type: "problem", adapter: "momo", message: expect.stringMatching(/larger than/) }]);
  });

  it("sends the last message again on request (after the service worker restarted)", () => {
    runner.start();
    runner.resend();
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sent[0]);
  });

  it("re-reads a redrawn canvas on its poll", async () => {
    const polled = new CaptureRunner(momo, doc, { send: (m) => sent.push(m) }, { pollMs: 2_000, now: () => now });
    polled.start();
    const before = sent.length;
    // A change that no MutationObserver sees: patch the extracted amount via the adapter's source.
    Object.defineProperty(doc.getElementById("amount")!, "textContent", { value: "777.000đ", configurable: true });
    await advance(2_000);
    polled.stop();
    expect(sent.length).toBe(before + 1);
  });
});
