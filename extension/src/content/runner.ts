// Watches a checkout page with its adapter and tells the service worker what it
// shows: the payment (debounced, and only when it changed) or that the order is over.
// The content script holds no secret and makes no network request.

import type { CaptureMessage, OrderStatus, SiteAdapter } from "../shared/types";
import { canonicalJson } from "../shared/hash";
import { CaptureError, ExpiryClock, qrCodeOf, toPaymentData } from "./capture";

export interface Channel {
  send(message: CaptureMessage): void;
}

export interface RunnerOptions {
  /** Quiet time after the last DOM change before the page is read again. */
  debounceMs?: number;
  /** Longest wait under a stream of changes (a ticking countdown never goes quiet). */
  maxWaitMs?: number;
  /** Safety-net re-read: a redrawn <canvas> changes no DOM. 0 = off. */
  pollMs?: number;
  now?: () => number;
}

export class CaptureRunner {
  private lastSent: string | null = null;
  private lastMessage: CaptureMessage | null = null;
  private lastStatus: OrderStatus | null = null;
  private readonly clock = new ExpiryClock();
  private observer: MutationObserver | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private firstChangeAt: number | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;
  private readonly debounceMs: number;
  private readonly maxWaitMs: number;
  private readonly pollMs: number;
  private readonly now: () => number;

  constructor(
    private readonly adapter: SiteAdapter,
    private readonly doc: Document,
    private readonly channel: Channel,
    options: RunnerOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? 300;
    this.maxWaitMs = options.maxWaitMs ?? 1_500;
    this.pollMs = options.pollMs ?? 2_000;
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.observer = new (this.doc.defaultView ?? globalThis).MutationObserver(() => this.schedule());
    this.observer.observe(this.doc.documentElement, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
      attributeFilter: ["src", "class", "style", "hidden", "width", "height", "content"],
    });
    if (this.pollMs > 0) this.poll = setInterval(() => this.evaluate(), this.pollMs);
    this.evaluate();
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = null;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.poll !== null) clearInterval(this.poll);
    this.timer = this.poll = null;
  }

  /** Whether the page has shown anything worth telling (a payment, a problem, an outcome). */
  get active(): boolean {
    return this.lastMessage !== null;
  }

  /** The last message again (after the service worker restarted and the port was remade). */
  resend(): void {
    if (this.lastMessage) this.channel.send(this.lastMessage);
  }

  /** Forget what was sent (e.g. the page came back from the back/forward cache). */
  reset(): void {
    this.lastSent = null;
    this.lastStatus = null;
    this.lastMessage = null;
  }

  schedule(): void {
    const now = this.now();
    this.firstChangeAt ??= now;
    if (this.timer !== null) clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstChangeAt + this.maxWaitMs - now));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.firstChangeAt = null;
      this.evaluate();
    }, wait);
  }

  /** Reads the page once and sends what changed. */
  evaluate(): void {
    const status = this.adapter.status(this.doc);
    if (status !== "pending") {
      if (status !== this.lastStatus) {
        this.lastStatus = status;
        this.lastSent = null; // the same payment shown again later is a new publish
        this.emit({ type: "status", adapter: this.adapter.id, status });
      }
      return;
    }
    this.lastStatus = status;
    const capture = this.adapter.extract(this.doc);
    if (!capture) return;
    let message: CaptureMessage;
    try {
      const qrCode = qrCodeOf(capture.qr);
      const data = toPaymentData(capture, qrCode, this.clock.at(capture.expiresInSeconds, this.now()));
      message = { type: "capture", adapter: this.adapter.id, data };
    } catch (error) {
      if (!(error instanceof CaptureError)) throw error;
      if (error.later) return; // read again on the next change or poll
      message = { type: "problem", adapter: this.adapter.id, message: error.message };
    }
    const fingerprint = canonicalJson(message);
    if (fingerprint === this.lastSent) return;
    this.lastSent = fingerprint;
    this.emit(message);
  }

  private emit(message: CaptureMessage): void {
    this.lastMessage = message;
    this.channel.send(message);
  }
}
