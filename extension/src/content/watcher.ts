// The generic capture's side in the page: on any page without an adapter, watches for
// QR-like pictures and sends them (as PNGs) to the service worker, which decodes them.
// Same rhythm as the MoMo runner: a change is read after 300 ms of quiet (at most
// 1.5 s under a stream of changes), a poll catches a redrawn <canvas>, and only a page
// that shows something new is sent again.

import { GENERIC, type CaptureMessage, type PageScan } from "../shared/types";
import type { Channel, RunnerOptions } from "./runner";
import { findSpots, scanSpots, type Spot } from "./qrscan";

/** How the page is read (the real DOM readers; tests give their own). */
export interface PageRead {
  find(doc: Document): Spot[];
  scan(doc: Document, spots: readonly Spot[], cache: Map<string, string | null>): Promise<PageScan>;
}

const DOM_READ: PageRead = { find: findSpots, scan: scanSpots };

export class QrWatcher {
  private lastKey: string | null = null;
  /** A page read while a picture was still loading, put off once (see once()). */
  private waitedFor: string | null = null;
  private forceLater = false;
  private lastMessage: CaptureMessage | null = null;
  private readonly pictures = new Map<string, string | null>();
  private observer: MutationObserver | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private firstChangeAt: number | null = null;
  private poll: ReturnType<typeof setInterval> | null = null;
  private running: Promise<void> | null = null;
  private again: boolean | null = null;
  private readonly debounceMs: number;
  private readonly maxWaitMs: number;
  private readonly pollMs: number;
  private readonly now: () => number;
  private readonly onLoad = (event: Event): void => {
    if ((event.target as Element | null)?.tagName === "IMG") this.schedule();
  };

  constructor(
    private readonly doc: Document,
    private readonly channel: Channel,
    options: RunnerOptions = {},
    private readonly read: PageRead = DOM_READ,
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
      attributes: true,
      attributeFilter: ["src", "srcset", "class", "style", "hidden", "width", "height", "d", "content"],
    });
    // An <img> that finishes loading changes no attribute.
    this.doc.addEventListener("load", this.onLoad, true);
    if (this.pollMs > 0) this.poll = setInterval(() => void this.evaluate(), this.pollMs);
    void this.evaluate();
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = null;
    this.doc.removeEventListener("load", this.onLoad, true);
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.poll !== null) clearInterval(this.poll);
    this.timer = this.poll = null;
  }

  get active(): boolean {
    return this.lastMessage !== null;
  }

  resend(): void {
    if (this.lastMessage) this.channel.send(this.lastMessage);
  }

  reset(): void {
    this.lastKey = null;
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
      void this.evaluate();
    }, wait);
  }

  /**
   * Reads the page and sends its pictures when they changed, or always when `forced`
   * (the user opened the popup). One read at a time; a call during one runs after it.
   */
  async evaluate(forced = false): Promise<void> {
    if (this.running) {
      this.again = (this.again ?? false) || forced;
      return this.running;
    }
    this.running = (async () => {
      let force = forced;
      for (;;) {
        await this.once(force);
        if (this.again === null) break;
        force = this.again;
        this.again = null;
      }
    })().finally(() => (this.running = null));
    return this.running;
  }

  private async once(forcedNow: boolean): Promise<void> {
    const spots = this.read.find(this.doc);
    const key = spots.map((s) => `${s.pending ? "pending " : ""}${s.signature}`).join("\n");
    const forced = forcedNow || this.forceLater;
    if (!forced && key === this.lastKey) return;
    // A picture still loading (a new order's code) is waited for, once: its load event or
    // the next poll reads the page again. Reading now would report a page without its
    // code and clear the customer's screen for a moment. A picture that never loads (a
    // lazy one below the fold) does not hold the page back longer than that.
    if (spots.some((s) => s.pending) && key !== this.waitedFor) {
      this.waitedFor = key;
      this.forceLater = forced;
      return;
    }
    this.forceLater = false;
    const scan = await this.read.scan(this.doc, spots, this.pictures);
    this.lastKey = key;
    // Nothing at all on a page that never showed anything: no need to wake the worker.
    if (!forced && !this.lastMessage && scan.pictures.length === 0 && scan.unreadable === 0) return;
    const message: CaptureMessage = { type: "scan", adapter: GENERIC, scan, forced };
    this.lastMessage = message;
    this.channel.send(message);
  }
}
