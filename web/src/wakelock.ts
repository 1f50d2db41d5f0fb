// Keeping a customer display on: a screen wake lock while the page shows a QR or waits
// for one (Screen Wake Lock API). The browser drops the lock whenever the tab is
// hidden, so it is asked for again when the tab is visible again; where the API is
// missing or the browser says no, the page carries on without it.

/** What the page holds: the lock, nothing (not wanted), a refusal, or no API at all. */
export type WakeLockStatus = "held" | "off" | "refused" | "unsupported";

/** The parts of `WakeLockSentinel` used here (tests pass a fake). */
export interface SentinelLike {
  readonly released: boolean;
  release(): Promise<void>;
  addEventListener(type: "release", listener: () => void): void;
}

/** `navigator.wakeLock`. */
export interface WakeLockLike {
  request(type: "screen"): Promise<SentinelLike>;
}

/** The parts of `document` used here. */
export interface DocumentLike {
  readonly visibilityState: string;
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/**
 * Holds a screen wake lock while `want(true)`. Asks again when the tab becomes visible
 * and, after a refusal, on the next tap or key (a browser may want a user gesture).
 */
export class ScreenWakeLock {
  private wanted = false;
  private sentinel: SentinelLike | null = null;
  private pending = false;
  private disposed = false;
  private status: WakeLockStatus;
  private readonly retry = () => this.acquire();

  constructor(
    private readonly api: WakeLockLike | undefined,
    private readonly doc: DocumentLike,
    private readonly onStatus: (status: WakeLockStatus) => void = () => {},
  ) {
    this.status = api === undefined ? "unsupported" : "off";
    if (api === undefined) return;
    doc.addEventListener("visibilitychange", this.retry);
    doc.addEventListener("pointerdown", this.retry);
    doc.addEventListener("keydown", this.retry);
  }

  get current(): WakeLockStatus {
    return this.status;
  }

  /** Whether the screen should stay on now. */
  want(wanted: boolean): void {
    if (this.disposed || this.api === undefined) return;
    this.wanted = wanted;
    if (wanted) this.acquire();
    else this.drop();
  }

  /** Release the lock and stop listening. */
  dispose(): void {
    if (this.disposed) return;
    this.want(false);
    this.disposed = true;
    this.doc.removeEventListener("visibilitychange", this.retry);
    this.doc.removeEventListener("pointerdown", this.retry);
    this.doc.removeEventListener("keydown", this.retry);
  }

  private acquire(): void {
    const { api } = this;
    if (api === undefined || this.disposed || !this.wanted) return;
    if (this.sentinel !== null || this.pending) return;
    // A hidden document is refused anyway; visibilitychange brings the page back here.
    if (this.doc.visibilityState !== "visible") return;
    this.pending = true;
    let request: Promise<SentinelLike>;
    try {
      request = api.request("screen");
    } catch {
      request = Promise.reject(new Error("wake lock request threw"));
    }
    request.then(
      (sentinel) => {
        this.pending = false;
        if (this.disposed || !this.wanted) {
          sentinel.release().catch(() => {});
          return;
        }
        this.sentinel = sentinel;
        // The browser releases it when the tab is hidden (or the battery runs low).
        sentinel.addEventListener("release", () => {
          if (this.sentinel !== sentinel) return;
          this.sentinel = null;
          this.setStatus("off");
        });
        this.setStatus("held");
      },
      () => {
        // NotAllowedError: a policy, a battery saver, no user gesture yet. Not an error
        // of the page: the next visibilitychange, tap or key asks again.
        this.pending = false;
        if (!this.disposed && this.wanted) this.setStatus("refused");
      },
    );
  }

  private drop(): void {
    const sentinel = this.sentinel;
    this.sentinel = null;
    if (sentinel !== null) sentinel.release().catch(() => {});
    this.setStatus("off");
  }

  private setStatus(status: WakeLockStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.onStatus(status);
  }
}
